// glide_stub.js - a small recording stand-in for the ServiceNow server APIs the business rule uses.
'use strict';
// Runs integrations/servicenow/ticketgate_approval_gate.js as ServiceNow would
// (current, previous and the Glide globals in scope) against an in-memory
// instance: GlideRecord over a few tables, GlideElement, the catalog variables
// (sc_item_option_mtom -> sc_item_option -> item_option_new and
// GlideElementVariable.getDisplayValue), gs, GlideUser, GlideDateTime,
// GlideDigest, sn_auth.GlideJWTAPI (RS256 with a PEM key) and
// sn_ws.RESTMessageV2 / RESTResponseV2. Every call is recorded in
// world.calls; world.faults names the calls that throw, so each step of the
// rule can be made to fail in turn.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { execFileSync } = require('node:child_process');

const SOURCE = path.resolve(__dirname, '..', '..', '..');
const RULE = path.join(SOURCE, 'integrations', 'servicenow', 'ticketgate_approval_gate.js');
const TEST_KEY = path.join(SOURCE, 'example', 'keys', 'servicenow-private-TEST-ONLY.pem');
const TEST_PUB = path.join(SOURCE, 'example', 'keys', 'servicenow-public.pem');

// Which table a reference field points to (for GlideElement.getRefRecord).
const REFS = {
    sc_req_item: { cat_item: 'sc_cat_item', opened_by: 'sys_user', requested_for: 'sys_user' },
    sysapproval_approver: { approver: 'sys_user', sysapproval: 'task' },
    sc_item_option_mtom: { request_item: 'sc_req_item', sc_item_option: 'sc_item_option' },
    sc_item_option: { item_option_new: 'item_option_new' },
};

const sid = (tag) => crypto.createHash('md5').update(String(tag)).digest('hex');

function b64u(buf) {
    return Buffer.from(buf).toString('base64url');
}

// A fresh instance: users, catalog items, one requested item with its
// approval. Tests change it before running the rule.
function makeWorld() {
    const w = {
        tables: { sys_user: {}, sc_cat_item: {}, sc_req_item: {}, sysapproval_approver: {},
                  sc_item_option_mtom: {}, sc_item_option: {}, item_option_new: {}, change_request: {} },
        props: {
            'x_ticketgate.endpoint': 'https://ticketgate.example.test/v1/webhooks/servicenow',
            'x_ticketgate.jwt_provider': 'jwtprov0000000000000000000000001',
            'glide.servlet.uri': 'https://acme.service-now.com/',
        },
        privateKey: fs.readFileSync(TEST_KEY, 'utf8'),
        faults: new Set(),
        http: () => ({ status: 200, body: JSON.stringify({ decision: 'allow', decision_id: 'd-1', message: '' }) }),
        nowMs: null,
        calls: [], logs: [], errorMessages: [], journal: [], requests: [], responses: [],
        aborted: false,
        catalogItems: null, // replaces the rule's CATALOG_ITEMS when set
    };
    const user = (tag, user_name, email, name) => {
        const id = tag.length === 32 ? tag : sid(tag);
        w.tables.sys_user[id] = { sys_id: id, user_name, email, name };
        return id;
    };
    w.users = {
        bob: user('6816f79cc0a8016401c5a33be04be441', 'bob.smith', 'bob@example.com', 'Bob Smith'),
        carol: user('carol', 'carol.diaz', 'carol@example.com', 'Carol Diaz'),
        dave: user('dave', 'dave.okafor', 'dave@example.com', 'Dave Okafor'),
        erin: user('erin', 'erin.yu', 'erin@example.com', 'Erin Yu'),
        ken: user('ken', 'ken.adams', 'ken@example.com', 'Ken Adams'),
        lara: user('lara', 'lara.novak', 'lara@example.com', 'Lara Novak'),
    };
    w.items = {
        db: sid('cat-db'), laptop: sid('cat-laptop'), vault: sid('cat-vault'),
    };
    w.tables.sc_cat_item[w.items.db] = { sys_id: w.items.db, name: 'Database access' };
    w.tables.sc_cat_item[w.items.laptop] = { sys_id: w.items.laptop, name: 'Laptop refresh' };
    w.tables.sc_cat_item[w.items.vault] = { sys_id: w.items.vault, name: 'Vault access' };
    w.ritm = sid('ritm');
    w.tables.sc_req_item[w.ritm] = {
        sys_id: w.ritm, number: 'RITM0012345', cat_item: w.items.db, opened_at: '2026-11-30 08:00:00',
        opened_by: w.users.bob, requested_for: w.users.bob,
    };
    w.approval = sid('approval');
    w.tables.sysapproval_approver[w.approval] = {
        sys_id: w.approval, state: 'approved', approver: w.users.dave, sysapproval: w.ritm,
        source_table: 'sc_req_item', document_id: w.ritm, sys_mod_count: '4',
    };
    w.previousState = 'requested';
    w.sessionUser = w.users.dave;
    return w;
}

// Adds a catalog variable to the requested item: its question
// (item_option_new), the stored answer (sc_item_option) and the link
// (sc_item_option_mtom); `display` is what getDisplayValue() gives.
function addVariable(w, name, type, value, display, extra) {
    const q = sid('q-' + name), a = sid('a-' + name + w.ritm), m = sid('m-' + name + w.ritm);
    w.tables.item_option_new[q] = Object.assign({ sys_id: q, name, type: String(type) }, extra || {});
    w.tables.sc_item_option[a] = { sys_id: a, item_option_new: q, value: value, _display: display };
    w.tables.sc_item_option_mtom[m] = { sys_id: m, request_item: w.ritm, sc_item_option: a };
}

// The catalog variables of the example ticket (ADAPTERS.md), with the
// shapes ServiceNow stores and shows.
function addExampleVariables(w, opts) {
    const o = Object.assign({
        expiry: '2027-01-31 09:00:00', expiryDisplay: '2027-01-31 01:00:00',
        privilege: 'read', privilegeDisplay: 'Read only',
    }, opts || {});
    addVariable(w, 'business_justification', 2,
        'Migrating the refunds schema to v7 requires read access to the refunds database during the change window CHG0031337.',
        null);
    addVariable(w, 'resource_owner', 8, w.users.carol, 'Carol Diaz', { reference: 'sys_user' });
    addVariable(w, 'target_system', 6, 'payments-db', null);
    addVariable(w, 'environment', 5, 'prod', 'Production');
    addVariable(w, 'entitlement', 6, 'role:ledger_reader', null);
    addVariable(w, 'access_level', 5, o.privilege, o.privilegeDisplay);
    addVariable(w, 'access_expiry', 10, o.expiry, o.expiryDisplay);
    addVariable(w, 'emergency_access', 7, 'false', null);
}

function makeGlobals(w) {
    const rec = (...a) => { w.calls.push(a); };
    const fault = (point) => {
        if (w.faults.has(point)) {
            rec('throw', point);
            throw new Error('injected fault at ' + point + ' <b>&</b>');
        }
    };
    const str = (v) => (v === null || v === undefined ? '' : String(v));

    function variableElement(row) {
        const answer = row;
        return {
            getDisplayValue() {
                rec('GlideElementVariable.getDisplayValue', answer.sys_id);
                fault('variable.getDisplayValue');
                return answer._display === null || answer._display === undefined ? str(answer.value) : answer._display;
            },
            getValue() { return str(answer.value); },
            toString() { return str(answer.value); },
        };
    }

    // ritm.variables: each variable of that item by name.
    function variablesOf(ritmId) {
        const byName = {};
        for (const m of Object.values(w.tables.sc_item_option_mtom)) {
            if (m.request_item !== ritmId)
                continue;
            const a = w.tables.sc_item_option[m.sc_item_option];
            const q = a && w.tables.item_option_new[a.item_option_new];
            if (q && q.name)
                byName[q.name] = variableElement(a);
        }
        return new Proxy(byName, {
            get(t, p) {
                rec('variables', ritmId, String(p));
                fault('variables.' + String(p));
                if (p === 'getElements')
                    return () => Object.values(t);
                return t[p];
            },
        });
    }

    function GlideRecord(table) {
        rec('GlideRecord', table);
        fault('GlideRecord:' + table);
        const s = { row: null, rows: [], i: -1, q: [], pending: [] };
        const rows = () => w.tables[table] || {};
        const api = {
            get(a, b) {
                rec('get', table, a, b);
                fault('get:' + table);
                if (b === undefined)
                    s.row = rows()[a] || null;
                else
                    s.row = Object.values(rows()).find((r) => str(r[a]) === str(b)) || null;
                return !!s.row;
            },
            addQuery(f, v) { rec('addQuery', table, f, v); s.q.push([f, str(v)]); },
            query() {
                rec('query', table);
                fault('query:' + table);
                s.rows = Object.values(rows()).filter((r) => s.q.every(([f, v]) => str(r[f]) === v));
                s.i = -1;
            },
            next() { s.i++; s.row = s.rows[s.i] || null; return !!s.row; },
            getValue(f) {
                rec('getValue', table, f);
                fault('getValue:' + table + '.' + f);
                const v = s.row ? s.row[f] : undefined;
                return v === undefined || v === null || v === '' ? null : String(v);
            },
            getUniqueValue() { return s.row ? s.row.sys_id : null; },
            getDisplayValue(f) { return s.row ? str(s.row[f]) : ''; },
            isValidRecord() { return !!s.row; },
            getTableName() { return table; },
            update() {
                rec('update', table, s.row && s.row.sys_id);
                fault('update:' + table);
                for (const p of s.pending)
                    w.journal.push(Object.assign({ table, sys_id: s.row.sys_id }, p));
                s.pending = [];
                return s.row && s.row.sys_id;
            },
            setAbortAction(b) { rec('setAbortAction', b); if (table === 'sysapproval_approver') w.aborted = !!b; },
            _row: () => s.row,
        };
        const element = (f) => {
            const v = () => (s.row ? s.row[f] : undefined);
            return {
                toString: () => str(v()),
                getDisplayValue: () => str(v()),
                nil: () => v() === undefined || v() === null || v() === '',
                getRefRecord: () => { const g = GlideRecord((REFS[table] || {})[f] || 'task'); g.get(str(v())); return g; },
                changesTo: (x) => str(v()) === x,
            };
        };
        return new Proxy(api, {
            get(t, p) {
                if (typeof p !== 'string' || p in t)
                    return t[p];
                if (p === 'variables')
                    return variablesOf(s.row && s.row.sys_id);
                return element(p);
            },
            set(t, p, v) {
                rec('set', table, p, String(v));
                if (p === 'work_notes' || p === 'comments')
                    s.pending.push({ field: p, text: String(v) });
                else if (s.row)
                    s.row[p] = String(v);
                return true;
            },
        });
    }

    function gsUser() {
        const u = w.tables.sys_user[w.sessionUser] || { sys_id: w.sessionUser };
        return {
            getID() { rec('GlideUser.getID'); fault('GlideUser.getID'); return u.sys_id; },
            getName() { rec('GlideUser.getName'); return u.user_name; },
            getEmail() { rec('GlideUser.getEmail'); return u.email; },
            getDisplayName() { rec('GlideUser.getDisplayName'); return u.name; },
        };
    }

    const gs = {
        getProperty(name, dflt) {
            rec('gs.getProperty', name);
            fault('gs.getProperty:' + name);
            return Object.prototype.hasOwnProperty.call(w.props, name) ? w.props[name] : dflt;
        },
        getUser() { rec('gs.getUser'); fault('gs.getUser'); return gsUser(); },
        getUserID() { rec('gs.getUserID'); return w.sessionUser; },
        addErrorMessage(m) { rec('gs.addErrorMessage', String(m)); w.errorMessages.push(String(m)); },
        addInfoMessage(m) { rec('gs.addInfoMessage', String(m)); },
        generateGUID() { rec('gs.generateGUID'); return crypto.randomUUID().replace(/-/g, ''); },
        error(m) { w.logs.push(['error', String(m)]); },
        warn(m) { w.logs.push(['warn', String(m)]); },
        info(m) { w.logs.push(['info', String(m)]); },
        log(m) { w.logs.push(['log', String(m)]); },
    };

    function GlideDateTime() {
        return { getNumericValue: () => (w.nowMs === null ? Date.now() : w.nowMs) };
    }

    function GlideDigest() {
        return {
            // ServiceNow answers in upper case; the rule lowers it.
            getSHA256Hex: (s) => crypto.createHash('sha256').update(String(s), 'utf8').digest('hex').toUpperCase(),
        };
    }

    function GlideJWTAPI() {
        rec('GlideJWTAPI');
        return {
            generateJWT(provider, header, payload) {
                rec('GlideJWTAPI.generateJWT', provider, header, payload);
                fault('generateJWT');
                if (provider !== w.props['x_ticketgate.jwt_provider'])
                    throw new Error('no JWT provider ' + provider);
                const input = b64u(header) + '.' + b64u(payload);
                const sig = crypto.sign('sha256', Buffer.from(input), w.privateKey);
                return input + '.' + b64u(sig);
            },
        };
    }

    function RESTResponseV2(r) {
        return {
            getStatusCode() { rec('RESTResponseV2.getStatusCode'); return r.status; },
            getBody() { rec('RESTResponseV2.getBody'); return r.body === undefined ? '' : r.body; },
            haveError() { return !!r.error || r.status === 0 || r.status >= 400; },
            getErrorMessage() { return r.error || ''; },
            getErrorCode() { return r.error ? 1 : 0; },
        };
    }

    function RESTMessageV2() {
        rec('RESTMessageV2');
        fault('RESTMessageV2');
        const req = { endpoint: null, method: null, headers: {}, body: null, timeoutMs: null };
        return {
            setEndpoint(u) { rec('setEndpoint', u); req.endpoint = String(u); },
            setHttpMethod(m) { rec('setHttpMethod', m); req.method = String(m); },
            setRequestHeader(k, v) { rec('setRequestHeader', k, v); fault('setRequestHeader'); req.headers[k] = String(v); },
            setHttpTimeout(ms) { rec('setHttpTimeout', ms); req.timeoutMs = ms; },
            setRequestBody(b) { rec('setRequestBody', b); fault('setRequestBody'); req.body = String(b); },
            execute() {
                rec('execute');
                fault('execute');
                w.requests.push(req);
                const r = w.http(req);
                w.responses.push(r);
                return RESTResponseV2(r);
            },
        };
    }

    const current = GlideRecord('sysapproval_approver');
    current.get(w.approval);
    const prevRow = Object.assign({}, w.tables.sysapproval_approver[w.approval], { state: w.previousState });
    const previous = {
        getValue: (f) => (prevRow[f] === undefined || prevRow[f] === '' ? null : String(prevRow[f])),
    };
    w.calls.length = 0; // the setup above is not the rule's doing
    return {
        gs, GlideRecord, GlideDateTime, GlideDigest,
        sn_auth: { GlideJWTAPI }, sn_ws: { RESTMessageV2 },
        current, previous,
    };
}

// The rule's source, with CATALOG_ITEMS replaced as an administrator
// would edit it.
function ruleSource(catalogItems) {
    let src = fs.readFileSync(RULE, 'utf8');
    if (catalogItems) {
        const re = /var CATALOG_ITEMS = \[[^\]]*\];/;
        if (!re.test(src))
            throw new Error('CATALOG_ITEMS not found in the rule');
        src = src.replace(re, 'var CATALOG_ITEMS = ' + JSON.stringify(catalogItems) + ';');
    }
    return src;
}

// Runs the rule once as a before-update business rule does; the world
// records what it did.
function runRule(w) {
    const ctx = vm.createContext(makeGlobals(w));
    vm.runInContext(ruleSource(w.catalogItems), ctx, { filename: RULE });
    return w;
}

// An HTTP answer made synchronously, as RESTMessageV2.execute() is: a
// child node performs the request and prints {status, body} or
// {status: 0, error}.
const CHILD = `
const u = new URL(process.env.TG_URL);
const req = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const mod = require(u.protocol === 'https:' ? 'https' : 'http');
const r = mod.request(u, { method: req.method.toUpperCase(), headers: req.headers,
                           timeout: req.timeoutMs || 8000 }, (res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode,
                                                            body: Buffer.concat(chunks).toString('utf8') })));
});
r.on('timeout', () => { r.destroy(new Error('Request timed out')); });
r.on('error', (e) => process.stdout.write(JSON.stringify({ status: 0, error: String(e.message) })));
r.end(req.body);
`;

function realHttp(req) {
    const out = execFileSync(process.execPath, ['-e', CHILD], {
        input: JSON.stringify(req), env: Object.assign({}, process.env, { TG_URL: req.endpoint }),
        timeout: (req.timeoutMs || 8000) + 5000,
    });
    return JSON.parse(out.toString('utf8'));
}

// The JWT's parts, after checking its RS256 signature with the example's
// public key.
function verifyJwt(token) {
    const [h, p, s] = token.split('.');
    const ok = crypto.verify('sha256', Buffer.from(h + '.' + p), fs.readFileSync(TEST_PUB, 'utf8'),
        Buffer.from(s, 'base64url'));
    if (!ok)
        throw new Error('JWT signature does not verify');
    return { header: JSON.parse(Buffer.from(h, 'base64url')), claims: JSON.parse(Buffer.from(p, 'base64url')) };
}

module.exports = {
    SOURCE, RULE, makeWorld, addVariable, addExampleVariables, runRule, realHttp, verifyJwt, sid,
};
