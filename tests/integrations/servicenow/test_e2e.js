// test_e2e.js - the business rule under the Glide stub posting to a real ticketgate server, signed RS256.
'use strict';
// usage: node tests/integrations/servicenow/test_e2e.js BUILD/ticketgate
// Starts `ticketgate serve` on a loopback port (0: the port it logs) with a
// copy of example/ (its
// servicenow gate, directory and RS256 public key); the stub's
// RESTMessageV2.execute() really POSTs there, and the JWT is signed with
// example/keys/servicenow-private-TEST-ONLY.pem. So what the rule sends is
// proven to be authenticated, mapped and decided by the real adapter.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const stub = require('./glide_stub.js');
const tgserver = require('../../support/tgserver.js');

const binary = process.argv[2];
if (!binary || !fs.existsSync(binary)) {
    console.error('usage: test_e2e.js PATH/TO/ticketgate (the built binary)');
    process.exit(2);
}

// "yyyy-MM-dd HH:mm:ss" in UTC, ServiceNow's stored form, days from now.
function snTime(days, hh) {
    const d = new Date(Date.now() + days * 86400e3);
    const p = (n) => String(n).padStart(2, '0');
    return d.getUTCFullYear() + '-' + p(d.getUTCMonth() + 1) + '-' + p(d.getUTCDate()) + ' ' + hh;
}

let server, base, tmp, logPath;
let seq = 0;

test.before(async () => {
    const srv = await tgserver.start(binary, stub.SOURCE, 'tg-snrule-');
    server = srv.proc;
    base = srv.base;
    logPath = srv.logPath;
    tmp = srv.dir;
});

test.after(() => {
    if (server && server.exitCode === null)
        server.kill('SIGTERM');
    if (tmp)
        fs.rmSync(tmp, { recursive: true, force: true });
});

// A requested item of the example's "Database access" item: Bob asks for
// read on payments-db, Carol owns it, Dave (payments-approvers, up to
// write) is the assigned approver. Each call gets its own RITM number and
// justification so that no case reuses another's.
function world(opts) {
    const o = Object.assign({ privilege: 'read', privilegeDisplay: 'Read only',
                              expiry: snTime(30, '09:00:00'), expiryDisplay: null }, opts || {});
    const w = stub.makeWorld();
    seq++;
    w.tables.sc_req_item[w.ritm].number = 'RITM09' + String(process.pid % 1000).padStart(3, '0') +
        String(seq).padStart(2, '0');
    w.approval = stub.sid('approval-' + process.pid + '-' + seq);
    w.tables.sysapproval_approver[w.approval] = {
        sys_id: w.approval, state: 'approved', approver: w.users.dave, sysapproval: w.ritm,
        source_table: 'sc_req_item', document_id: w.ritm, sys_mod_count: '4',
    };
    stub.addVariable(w, 'business_justification', 2, o.justification ||
        'Reconcile settlement batch ' + (1000 + seq) + ' against ledger exports for audit finding FIN-' +
        (400 + seq) + ' before quarter close.', null);
    stub.addVariable(w, 'resource_owner', 8, w.users.carol, 'Carol Diaz', { reference: 'sys_user' });
    stub.addVariable(w, 'target_system', 6, 'payments-db', null);
    stub.addVariable(w, 'environment', 5, 'prod', 'Production');
    stub.addVariable(w, 'entitlement', 6, 'role:ledger_reader', null);
    stub.addVariable(w, 'access_level', 5, o.privilege, o.privilegeDisplay);
    // A viewer eight hours west of UTC sees the stored time earlier.
    stub.addVariable(w, 'access_expiry', 10, o.expiry,
        o.expiryDisplay === null ? o.expiry.replace('09:00:00', '01:00:00') : o.expiryDisplay);
    stub.addVariable(w, 'emergency_access', 7, 'false', null);
    w.props['x_ticketgate.endpoint'] = base + '/v1/webhooks/servicenow';
    w.props['x_ticketgate.timeout_ms'] = '8000';
    w.http = stub.realHttp;
    return w;
}

function decisionOf(w, i) {
    const r = w.responses[i === undefined ? w.responses.length - 1 : i];
    assert.strictEqual(r.status, 200, 'ticketgate answered ' + r.status + ' ' + (r.body || r.error) +
        '\n' + fs.readFileSync(logPath, 'utf8').split('\n').slice(-5).join('\n'));
    return JSON.parse(r.body);
}

const codes = (d) => d.findings.map((f) => f.code).sort();

test('allow: the rule\'s request is authenticated, mapped and allowed', () => {
    const w = stub.runRule(world());
    assert.strictEqual(w.requests.length, 1);
    const d = decisionOf(w);
    assert.strictEqual(d.decision, 'allow', JSON.stringify(d));
    assert.strictEqual(d.source, 'servicenow');
    assert.strictEqual(d.ticket, w.tables.sc_req_item[w.ritm].number);
    assert.strictEqual(w.aborted, false);
    assert.deepStrictEqual(w.errorMessages, []);
});

test('deny: a too short justification is refused, shown as a list, and the approval aborted', () => {
    const w = stub.runRule(world({ justification: 'need it' }));
    const d = decisionOf(w);
    assert.strictEqual(d.decision, 'deny');
    assert.ok(codes(d).includes('JUSTIFICATION_TOO_SHORT'), codes(d).join());
    assert.strictEqual(w.aborted, true);
    assert.strictEqual(w.errorMessages.length, 1);
    assert.match(w.errorMessages[0], /<ul><li>.*<\/li><\/ul>/);
    assert.ok(w.errorMessages[0].includes('ticketgate decision ' + d.decision_id));
});

test('a retry of the same content is answered from the record; corrected content is a new delivery', () => {
    const a = world({ justification: 'need it' });
    stub.runRule(a);
    const first = decisionOf(a);
    // The same approval again (the deny aborted the update: same sys_mod_count).
    const b = world({ justification: 'need it' });
    b.approval = a.approval;
    b.tables.sysapproval_approver[b.approval] = a.tables.sysapproval_approver[a.approval];
    b.tables.sc_req_item[b.ritm].number = a.tables.sc_req_item[a.ritm].number;
    stub.runRule(b);
    const again = decisionOf(b);
    assert.strictEqual(again.decision_id, first.decision_id);
    assert.strictEqual(JSON.parse(b.requests[0].body).event_id, JSON.parse(a.requests[0].body).event_id);
    // Corrected: a new event id under the same update count, a new decision (not 409).
    const c = world();
    c.approval = a.approval;
    c.tables.sysapproval_approver[c.approval] = a.tables.sysapproval_approver[a.approval];
    c.tables.sc_req_item[c.ritm].number = a.tables.sc_req_item[a.ritm].number;
    stub.runRule(c);
    const fixed = decisionOf(c);
    assert.strictEqual(fixed.decision, 'allow', JSON.stringify(fixed));
    assert.notStrictEqual(fixed.decision_id, first.decision_id);
    assert.strictEqual(c.aborted, false);
});

// ---- the contract of issue 9 (ADAPTERS.md): value first, acted_by judged ----

test('value first: a date shown in the viewer\'s format is read from its stored value', () => {
    // A viewer with a dd.MM.yyyy preference sees another text; the stored
    // UTC value decides.
    const expiry = snTime(20, '09:00:00');
    const shown = expiry.slice(8, 10) + '.' + expiry.slice(5, 7) + '.' + expiry.slice(0, 4) + ' 10:00:00';
    const w = stub.runRule(world({ expiry, expiryDisplay: shown }));
    const d = decisionOf(w);
    assert.strictEqual(d.decision, 'allow', JSON.stringify(d.findings));
});

test('value first: a privilege is its choice value, not its label', () => {
    // admin is beyond Dave's authority (payments-approvers: up to write),
    // whatever the label says.
    const w = stub.runRule(world({ privilege: 'admin', privilegeDisplay: 'Read only (standard)',
                                   expiry: snTime(10, '09:00:00') }));
    const d = decisionOf(w);
    assert.strictEqual(d.decision, 'deny');
    assert.ok(codes(d).includes('AUTHORITY_TIER'), codes(d).join());
    assert.strictEqual(w.aborted, true);
});

test('acted_by: the requester approving as a delegate of the assigned approver is refused', () => {
    const w = world();
    w.sessionUser = w.users.bob; // Bob acts on Dave's approval
    stub.runRule(w);
    const sent = JSON.parse(w.requests[0].body);
    assert.strictEqual(sent.approval.approver.user_name, 'dave.okafor');
    assert.strictEqual(sent.approval.acted_by.user_name, 'bob.smith');
    const d = decisionOf(w);
    assert.strictEqual(d.decision, 'deny', JSON.stringify(d));
    assert.ok(codes(d).includes('SOD_SELF_APPROVAL'), codes(d).join());
    assert.strictEqual(w.aborted, true);
});

test('a catalog item the gate does not name never reaches ticketgate', () => {
    const w = world();
    w.tables.sc_req_item[w.ritm].cat_item = w.items.laptop;
    stub.runRule(w);
    assert.strictEqual(w.requests.length, 0);
    assert.strictEqual(w.aborted, false);
});

test('ticketgate down, fail_mode closed: held; open: let through with a note', async () => {
    // Port 1 (tcpmux) on loopback: privileged, so no test or user process
    // listens there; connecting is refused at once.
    const port = 1;
    for (const mode of ['closed', 'open']) {
        const w = world();
        w.props['x_ticketgate.endpoint'] = 'http://127.0.0.1:' + port + '/v1/webhooks/servicenow';
        w.props['x_ticketgate.fail_mode'] = mode;
        stub.runRule(w);
        assert.strictEqual(w.responses[0].status, 0);
        assert.strictEqual(w.aborted, mode === 'closed');
        assert.strictEqual(w.journal.length, mode === 'open' ? 1 : 0);
    }
});

test('the server stops cleanly and reported no sanitizer error', async () => {
    const exited = new Promise((resolve) => server.once('exit', (code, sig) => resolve([code, sig])));
    server.kill('SIGTERM');
    const [code] = await exited;
    const log = fs.readFileSync(logPath, 'utf8');
    assert.ok(!/AddressSanitizer|LeakSanitizer|runtime error:/.test(log), log.slice(-2000));
    assert.strictEqual(code, 0, log.slice(-2000));
});
