// test_business_rule.js - the ServiceNow business rule run under the Glide stub: requests, decisions, fail_mode.
'use strict';
// usage: node tests/integrations/servicenow/test_business_rule.js
const test = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const stub = require('./glide_stub.js');

const allow = () => ({ status: 200, body: JSON.stringify({ decision: 'allow', decision_id: 'd-000000000001-aaaaaa', message: '', findings: [] }) });

function world(opts) {
    const w = stub.makeWorld();
    stub.addExampleVariables(w, opts);
    w.http = allow;
    return w;
}

const called = (w, name) => w.calls.some((c) => c[0] === name);
const body = (w) => JSON.parse(w.requests[0].body);

test('allow: one request, the approval goes through untouched', () => {
    const w = stub.runRule(world());
    assert.strictEqual(w.requests.length, 1);
    assert.strictEqual(w.aborted, false);
    assert.deepStrictEqual(w.errorMessages, []);
    assert.deepStrictEqual(w.journal, []);
});

test('the request: URL, method, headers, signed JWT, body shape of ADAPTERS.md', () => {
    const w = world();
    w.nowMs = Date.UTC(2026, 11, 1, 0, 0, 0);
    stub.runRule(w);
    const r = w.requests[0];
    assert.strictEqual(r.endpoint, 'https://ticketgate.example.test/v1/webhooks/servicenow');
    assert.strictEqual(r.method.toUpperCase(), 'POST');
    assert.strictEqual(r.timeoutMs, 8000);
    assert.deepStrictEqual(Object.keys(r.headers).sort(), ['Accept', 'Authorization', 'Content-Type']);
    assert.strictEqual(r.headers['Content-Type'], 'application/json');
    assert.strictEqual(r.headers.Accept, 'application/json');
    const m = /^Bearer (.+)$/.exec(r.headers.Authorization);
    assert.ok(m, 'a Bearer token');
    const jwt = stub.verifyJwt(m[1]);
    assert.deepStrictEqual(jwt.header, { typ: 'JWT', alg: 'RS256' });
    // The issuer defaults to glide.servlet.uri without its trailing "/".
    assert.strictEqual(jwt.claims.iss, 'https://acme.service-now.com');
    assert.strictEqual(jwt.claims.aud, 'ticketgate');
    assert.strictEqual(jwt.claims.iat, w.nowMs / 1000);
    assert.strictEqual(jwt.claims.exp, jwt.claims.iat + 120);
    assert.match(jwt.claims.jti, /^[0-9a-f]{32}$/);

    const d = body(w);
    assert.deepStrictEqual(Object.keys(d).sort(), ['approval', 'event_id', 'ritm']);
    assert.deepStrictEqual(d.approval, {
        sys_id: w.approval, state: 'approved', previous_state: 'requested',
        approver: { sys_id: w.users.dave, user_name: 'dave.okafor', email: 'dave@example.com', name: 'Dave Okafor' },
        acted_by: { sys_id: w.users.dave, user_name: 'dave.okafor', email: 'dave@example.com', name: 'Dave Okafor' },
    });
    assert.deepStrictEqual(Object.keys(d.ritm).sort(),
        ['cat_item', 'number', 'opened_at', 'opened_by', 'requested_for', 'sys_id', 'variables']);
    assert.strictEqual(d.ritm.number, 'RITM0012345');
    assert.strictEqual(d.ritm.sys_id, w.ritm);
    assert.deepStrictEqual(d.ritm.cat_item, { sys_id: w.items.db, name: 'Database access' });
    assert.deepStrictEqual(d.ritm.opened_by,
        { sys_id: w.users.bob, user_name: 'bob.smith', email: 'bob@example.com', name: 'Bob Smith' });
    assert.deepStrictEqual(d.ritm.requested_for, d.ritm.opened_by);
    assert.deepStrictEqual(d.ritm.variables, {
        business_justification: 'Migrating the refunds schema to v7 requires read access to the refunds database during the change window CHG0031337.',
        resource_owner: { value: w.users.carol, display_value: 'Carol Diaz', sys_id: w.users.carol,
                          user_name: 'carol.diaz', email: 'carol@example.com', name: 'Carol Diaz' },
        target_system: 'payments-db',
        environment: { value: 'prod', display_value: 'Production' },
        entitlement: 'role:ledger_reader',
        access_level: { value: 'read', display_value: 'Read only' },
        access_expiry: { value: '2027-01-31 09:00:00', display_value: '2027-01-31 01:00:00' },
        emergency_access: 'false',
    });
    // event_id: approval, update count, 16 hex of the SHA-256 of the rest.
    const rest = Object.assign({}, d);
    delete rest.event_id;
    const digest = crypto.createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
    assert.strictEqual(d.event_id, w.approval + ':4:' + digest);
});

test('event_id: the same content is the same delivery, corrected content a new one', () => {
    const a = body(stub.runRule(world()));
    const b = body(stub.runRule(world()));
    assert.strictEqual(a.event_id, b.event_id);
    const c = body(stub.runRule(world({ privilege: 'write', privilegeDisplay: 'Read and write' })));
    assert.notStrictEqual(c.event_id, a.event_id);
    assert.strictEqual(c.event_id.split(':')[1], '4'); // the aborted update kept sys_mod_count
});

test('acted_by is the session user (a delegate), approver the assigned one', () => {
    const w = world();
    w.sessionUser = w.users.lara;
    stub.runRule(w);
    const d = body(w);
    assert.strictEqual(d.approval.approver.user_name, 'dave.okafor');
    assert.deepStrictEqual(d.approval.acted_by,
        { sys_id: w.users.lara, user_name: 'lara.novak', email: 'lara@example.com', name: 'Lara Novak' });
    assert.ok(called(w, 'gs.getUser'));
});

test('value and display_value of a date and a choice, value first', () => {
    const w = stub.runRule(world());
    const v = body(w).ritm.variables;
    assert.deepStrictEqual(Object.keys(v.access_expiry), ['value', 'display_value']);
    assert.strictEqual(v.access_expiry.value, '2027-01-31 09:00:00');
    assert.strictEqual(v.access_expiry.display_value, '2027-01-31 01:00:00');
    assert.deepStrictEqual(Object.keys(v.access_level), ['value', 'display_value']);
    assert.strictEqual(v.access_level.value, 'read');
    assert.strictEqual(v.access_level.display_value, 'Read only');
    // The display value came from GlideElementVariable.getDisplayValue().
    assert.ok(w.calls.some((c) => c[0] === 'GlideElementVariable.getDisplayValue'));
});

test('reference-like variables: type 31 and 21 (sys_user) resolve to users, others stay references', () => {
    const w = world();
    stub.addVariable(w, 'beneficiary_user', 31, w.users.ken, 'Ken Adams');
    stub.addVariable(w, 'approvers_list', 21, w.users.dave + ',' + w.users.lara, 'Dave Okafor, Lara Novak',
        { list_table: 'sys_user' });
    stub.addVariable(w, 'backup_owner', 21, w.users.erin, 'Erin Yu', { list_table: 'sys_user' });
    stub.addVariable(w, 'servers', 21, 'aaa,bbb', 'db01, db02', { list_table: 'cmdb_ci_server' });
    stub.addVariable(w, 'location', 8, 'loc1', 'Amsterdam', { reference: 'cmn_location' });
    stub.addVariable(w, 'unknown_user', 8, 'ffffffffffffffffffffffffffffffff', '', { reference: 'sys_user' });
    stub.runRule(w);
    const v = body(w).ritm.variables;
    assert.deepStrictEqual(v.beneficiary_user, { value: w.users.ken, display_value: 'Ken Adams', sys_id: w.users.ken,
        user_name: 'ken.adams', email: 'ken@example.com', name: 'Ken Adams' });
    assert.strictEqual(v.approvers_list.value, w.users.dave + ',' + w.users.lara);
    assert.strictEqual(v.approvers_list.display_value, 'Dave Okafor, Lara Novak');
    assert.deepStrictEqual(v.approvers_list.users.map((u) => u.user_name), ['dave.okafor', 'lara.novak']);
    assert.strictEqual(v.backup_owner.user_name, 'erin.yu');
    assert.strictEqual(v.backup_owner.value, w.users.erin);
    assert.deepStrictEqual(v.servers, { value: 'aaa,bbb', display_value: 'db01, db02' });
    assert.deepStrictEqual(v.location, { value: 'loc1', display_value: 'Amsterdam' });
    // A sys_id naming no user is kept (reported unknown), never dropped.
    assert.strictEqual(v.unknown_user.sys_id, 'ffffffffffffffffffffffffffffffff');
    assert.strictEqual(v.unknown_user.value, 'ffffffffffffffffffffffffffffffff');
});

test('deny: the approval is aborted, the reasons shown as an escaped HTML list with the decision id', () => {
    const w = world();
    w.http = () => ({ status: 200, body: JSON.stringify({
        decision: 'deny', decision_id: 'd-000000000042-6f1c2a',
        message: 'Access governance blocked this transition:\n- The owner <script>alert(1)</script> is unknown.\n- Tom & Jerry\'s "access" is too long.',
        findings: [] }) });
    stub.runRule(w);
    assert.strictEqual(w.aborted, true);
    assert.strictEqual(w.errorMessages.length, 1);
    const m = w.errorMessages[0];
    assert.ok(!m.includes('<script>'), m);
    assert.strictEqual(m,
        '<div>Access governance blocked this transition:</div>' +
        '<ul><li>The owner &lt;script&gt;alert(1)&lt;/script&gt; is unknown.</li>' +
        '<li>Tom &amp; Jerry&#39;s &quot;access&quot; is too long.</li></ul>' +
        '<div>ticketgate decision d-000000000042-6f1c2a</div>');
    assert.deepStrictEqual(w.journal, []);
});

test('annotate: the notes go on the requested item as a work note', () => {
    const w = world();
    w.http = () => ({ status: 200, body: JSON.stringify({
        decision: 'annotate', decision_id: 'd-000000000043-bbbbbb',
        message: 'Access governance noted:\n- The justification was used before (RITM0011111).', findings: [] }) });
    stub.runRule(w);
    assert.strictEqual(w.aborted, false);
    assert.deepStrictEqual(w.errorMessages, []);
    assert.strictEqual(w.journal.length, 1);
    assert.strictEqual(w.journal[0].table, 'sc_req_item');
    assert.strictEqual(w.journal[0].sys_id, w.ritm);
    assert.strictEqual(w.journal[0].field, 'work_notes');
    assert.match(w.journal[0].text, /d-000000000043-bbbbbb/);
    assert.match(w.journal[0].text, /- The justification was used before \(RITM0011111\)\./);
});

test('annotate without a message: the findings are the note', () => {
    const w = world();
    w.http = () => ({ status: 200, body: JSON.stringify({ decision: 'annotate', decision_id: 'd-2', message: '',
        findings: [{ code: 'X', message: 'first' }, { code: 'Y', message: 'second' }] }) });
    stub.runRule(w);
    assert.match(w.journal[0].text, /- first\n- second$/);
});

test('skip: allowed, and the log says the lists disagree', () => {
    const w = world();
    w.http = () => ({ status: 200, body: JSON.stringify({ decision: 'skip', decision_id: '', message: '' }) });
    stub.runRule(w);
    assert.strictEqual(w.aborted, false);
    assert.ok(w.logs.some(([l, m]) => l === 'warn' && /CATALOG_ITEMS/.test(m)));
});

test('a catalog item not configured: no request at all, whatever fail_mode', () => {
    for (const mode of ['closed', 'open']) {
        const w = world();
        w.props['x_ticketgate.fail_mode'] = mode;
        w.tables.sc_req_item[w.ritm].cat_item = w.items.laptop;
        w.http = () => { throw new Error('must not be called'); };
        stub.runRule(w);
        assert.strictEqual(w.requests.length, 0);
        assert.ok(!called(w, 'RESTMessageV2'));
        assert.ok(!called(w, 'GlideJWTAPI.generateJWT'));
        assert.ok(!called(w, 'gs.getUser'));
        assert.ok(!called(w, 'query'), 'no variable read');
        assert.strictEqual(w.aborted, false);
        assert.deepStrictEqual(w.errorMessages, []);
        assert.deepStrictEqual(w.journal, []);
    }
});

test('an approval of something other than a requested item: nothing', () => {
    const w = world();
    const chg = stub.sid('chg');
    w.tables.change_request[chg] = { sys_id: chg };
    Object.assign(w.tables.sysapproval_approver[w.approval], { sysapproval: chg, source_table: 'change_request', document_id: chg });
    stub.runRule(w);
    assert.strictEqual(w.requests.length, 0);
    assert.strictEqual(w.aborted, false);
});

test('an approval naming its item only in document_id is still gated', () => {
    const w = world();
    w.tables.sysapproval_approver[w.approval].sysapproval = '';
    stub.runRule(w);
    assert.strictEqual(w.requests.length, 1);
});

test('CATALOG_ITEMS: names case-insensitive, or a sys_id', () => {
    let w = world();
    w.catalogItems = ['DATABASE ACCESS'];
    stub.runRule(w);
    assert.strictEqual(w.requests.length, 1);
    w = world();
    w.catalogItems = [w.items.db];
    stub.runRule(w);
    assert.strictEqual(w.requests.length, 1);
    w = world();
    w.catalogItems = [];
    stub.runRule(w);
    assert.strictEqual(w.requests.length, 0);
    w = world();
    w.catalogItems = ['Database'];
    stub.runRule(w);
    assert.strictEqual(w.requests.length, 0, 'a part of a name is not the name');
});

// Each step of the rule failing in turn: the fault and the http answer.
const STEPS = {
    'variable read (the answers query)': (w) => w.faults.add('query:sc_item_option_mtom'),
    'variable read (a display value)': (w) => w.faults.add('variable.getDisplayValue'),
    'variable read (the question)': (w) => w.faults.add('get:item_option_new'),
    'user read (gs.getUser)': (w) => w.faults.add('gs.getUser'),
    'user read (a sys_user record)': (w) => w.faults.add('get:sys_user'),
    'the requested item read': (w) => w.faults.add('getValue:sc_req_item.number'),
    'JWT signing': (w) => w.faults.add('generateJWT'),
    'JWT provider missing': (w) => { w.props['x_ticketgate.jwt_provider'] = ''; },
    'request build (RESTMessageV2)': (w) => w.faults.add('RESTMessageV2'),
    'request build (a header)': (w) => w.faults.add('setRequestHeader'),
    'request build (the body)': (w) => w.faults.add('setRequestBody'),
    'execute': (w) => w.faults.add('execute'),
    'bad JSON answer': (w) => { w.http = () => ({ status: 200, body: '<html>gateway</html>' }); },
    'an answer without a decision': (w) => { w.http = () => ({ status: 200, body: '{"ok":true}' }); },
    '5xx': (w) => { w.http = () => ({ status: 503, body: '{"error":"store_unavailable","message":"later"}' }); },
    'timeout': (w) => { w.http = () => ({ status: 0, error: 'Request timed out' }); },
};

for (const [name, arrange] of Object.entries(STEPS)) {
    test('fail_mode closed, ' + name + ': held with a message naming ticketgate', () => {
        const w = world();
        arrange(w);
        stub.runRule(w);
        if (w.faults.size)
            assert.ok(w.calls.some((c) => c[0] === 'throw'), 'the fault fired');
        assert.strictEqual(w.aborted, true);
        assert.strictEqual(w.errorMessages.length, 1);
        assert.match(w.errorMessages[0], /ticketgate/);
        assert.ok(!/<b>/.test(w.errorMessages[0]), 'exception text is escaped');
        assert.deepStrictEqual(w.journal, []);
    });
    test('fail_mode open, ' + name + ': let through, logged, noted on the item', () => {
        const w = world();
        w.props['x_ticketgate.fail_mode'] = 'open';
        arrange(w);
        stub.runRule(w);
        if (w.faults.size)
            assert.ok(w.calls.some((c) => c[0] === 'throw'), 'the fault fired');
        assert.strictEqual(w.aborted, false);
        assert.deepStrictEqual(w.errorMessages, []);
        assert.ok(w.logs.some(([l, m]) => l === 'warn' && /ticketgate/.test(m) && /fail_mode open/.test(m)));
        assert.strictEqual(w.journal.length, 1);
        assert.match(w.journal[0].text, /without an access-governance check/);
    });
}

test('fail_mode unreadable: closed', () => {
    const w = world();
    w.faults.add('gs.getProperty:x_ticketgate.fail_mode');
    w.faults.add('execute');
    stub.runRule(w);
    assert.strictEqual(w.aborted, true);
});

test('4xx: held whatever fail_mode, with ticketgate\'s message', () => {
    for (const mode of ['closed', 'open']) {
        const w = world();
        w.props['x_ticketgate.fail_mode'] = mode;
        w.http = () => ({ status: 401, body: '{"error":"unauthenticated","message":"The token is not valid for this source."}' });
        stub.runRule(w);
        assert.strictEqual(w.aborted, true);
        assert.strictEqual(w.errorMessages.length, 1);
        assert.match(w.errorMessages[0], /ticketgate refused the request \(HTTP 401: The token is not valid for this source\.\)/);
    }
    const w = world();
    w.http = () => ({ status: 422, body: '<html>' });
    stub.runRule(w);
    assert.strictEqual(w.aborted, true);
    assert.match(w.errorMessages[0], /HTTP 422\)/);
});
