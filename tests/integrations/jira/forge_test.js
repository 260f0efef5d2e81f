// forge_test.js - runs the Forge validator (integrations/jira-forge) under
// Node with @forge/api stubbed: what it reads from Jira, the request it
// sends, what it returns and comments; then against a real ticketgate.
// usage: node forge_test.js [TICKETGATE_BINARY SOURCE_DIR] (without them
// the end-to-end cases are skipped). Run by ctest as jira_forge.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const Module = require('module');
const tgserver = require(path.join(__dirname, '..', '..', 'support', 'tgserver.js'));

const SRC = path.resolve(__dirname, '..', '..', '..');
const STUB = path.join(__dirname, 'forge-api-stub.js');
// '@forge/api' is the stub wherever it is required from, even when an
// npm install left the real package in integrations/jira-forge.
const resolve = Module._resolveFilename;
Module._resolveFilename = function (req, ...rest) {
  return req === '@forge/api' ? STUB : resolve.call(this, req, ...rest);
};
const { __stub: stub } = require(STUB);
const { validate } = require(path.join(SRC, 'integrations/jira-forge/src/index.js'));

const BINARY = process.argv[2];
const SECRET = 'jira-webhook-secret-for-tests';
const BOB = { accountId: '5b10a2844c20165700ede21g', displayName: 'Bob Smith', active: true, accountType: 'atlassian' };
const CAROL = { accountId: '557058:f58131cb-b67d-43c7-b30d-6b58d40bd077', displayName: 'Carol Diaz', active: true, accountType: 'atlassian' };
const DAVE = { accountId: '5b109f2e9729b51b54dc274d', displayName: 'Dave Okafor', active: true, accountType: 'atlassian' };
const STATUSES = { 10044: 'Waiting for approval', 10045: 'Approved' };

function day(offset) {
  return new Date(Date.now() + offset * 86400e3).toISOString().slice(0, 10);
}

// An access request as GET /rest/api/3/issue returns it (example config's
// field ids): no approver and no end date yet.
function restIssue(key, justification) {
  return {
    id: '10' + key.replace(/\D/g, ''),
    key,
    fields: {
      issuetype: { id: '10110', name: 'Access Request' },
      project: { id: '10020', key: 'ACC', name: 'Access' },
      status: { id: '10044', name: 'Waiting for approval' },
      summary: 'Ledger read access',
      reporter: BOB,
      customfield_10050: justification,
      customfield_10051: CAROL,
      customfield_10052: null,
      customfield_10053: { value: 'payments-db', id: '1' },
      customfield_10054: { value: 'prod', id: '2' },
      customfield_10055: [{ value: 'role:ledger_reader', id: '3' }],
      customfield_10056: { value: 'read', id: '4' },
      customfield_10057: null,
      customfield_10058: null,
      customfield_10059: null,
      customfield_10060: null,
      customfield_10027: null,
    },
  };
}

// A fake Jira site: issues by key, statuses, users; comments are accepted.
function site(issues, users = [BOB, CAROL, DAVE]) {
  const byId = Object.fromEntries(users.map((u) => [u.accountId, u]));
  return async (call) => {
    let m;
    if (call.method === 'GET' && (m = call.path.match(/^\/rest\/api\/3\/issue\/([^/?]+)\?fields=/))) {
      const issue = issues[decodeURIComponent(m[1])];
      return issue ? { status: 200, body: issue } : { status: 404, body: { errorMessages: ['no issue'] } };
    }
    if (call.method === 'GET' && (m = call.path.match(/^\/rest\/api\/3\/status\/(\d+)$/))) {
      return STATUSES[m[1]] ? { status: 200, body: { id: m[1], name: STATUSES[m[1]] } } : { status: 404 };
    }
    if (call.method === 'GET' && (m = call.path.match(/^\/rest\/api\/3\/user\?accountId=(.+)$/))) {
      const u = byId[decodeURIComponent(m[1])];
      return u ? { status: 200, body: u } : { status: 404, body: { errorMessages: ['no user'] } };
    }
    if (call.method === 'POST' && /^\/rest\/api\/3\/issue\/[^/]+\/comment$/.test(call.path)) {
      return { status: 201, body: { id: '10000' } };
    }
    return { status: 400, body: { errorMessages: [`unexpected ${call.method} ${call.path}`] } };
  };
}

// The documented validator event (Forge manifest reference).
function event(key, modifiedFields) {
  const tr = { from: { id: '10044' }, to: { id: '10045' } };
  if (modifiedFields !== undefined) tr.modifiedFields = modifiedFields;
  return { issue: { key }, configuration: {}, transition: tr };
}

function reset(env) {
  stub.calls.length = 0;
  process.env.TICKETGATE_URL = 'https://tg.test/';
  process.env.TICKETGATE_HMAC_SECRET = SECRET;
  delete process.env.TICKETGATE_FAIL_MODE;
  delete process.env.TICKETGATE_TIMEOUT_MS;
  Object.assign(process.env, env || {});
}

const fetches = () => stub.calls.filter((c) => c.kind === 'fetch');
const comments = () => stub.calls.filter((c) => c.kind === 'requestJira' && c.method === 'POST');

// A canned ticketgate: answers every POST with (status, body).
function answering(status, body) {
  return async () => stub.response(status, body);
}

const JUST = 'Reconcile the March settlement batches against ledger exports for audit finding FIN-221.';

// ---- with a stubbed ticketgate ---------------------------------------------

test('the screen\'s modifiedFields are laid over the fetched issue, and the request is signed', async () => {
  reset();
  stub.state.jira = site({ 'ACC-1': restIssue('ACC-1', JUST) });
  stub.state.fetch = answering(200, { decision: 'allow', decision_id: 'd-1', message: '', findings: [] });
  const end = day(30);
  const v = await validate(event('ACC-1', {
    customfield_10059: { accountId: DAVE.accountId }, // approver entered on the screen
    customfield_10052: end, // Date Picker, REST form
    customfield_10053: { value: 'vault', id: '9' },
    customfield_10051: null, // owner cleared on the screen
    customfield_10055: [{ value: 'role:a' }, { value: 'role:b' }],
  }), {});
  assert.deepEqual(v, { result: true });

  const reads = stub.calls.filter((c) => c.kind === 'requestJira');
  assert.ok(reads.every((c) => c.as === 'app'));
  assert.ok(reads.some((c) => c.path === '/rest/api/3/issue/ACC-1?fields=*all,-comment,-worklog,-attachment'));
  const [f] = fetches();
  assert.equal(f.url, 'https://tg.test/v1/webhooks/jira');
  assert.equal(f.method, 'POST');
  assert.equal(f.headers['Content-Type'], 'application/json');
  const mac = crypto.createHmac('sha256', SECRET).update(f.body, 'utf8').digest('hex');
  assert.equal(f.headers['X-Hub-Signature'], `sha256=${mac}`);

  const body = JSON.parse(f.body);
  assert.deepEqual(Object.keys(body).sort(), ['issue', 'transition']); // no user: the event names none
  assert.deepEqual(body.transition, { from: 'Waiting for approval', to: 'Approved' });
  const fl = body.issue.fields;
  assert.deepEqual(fl.customfield_10059, DAVE); // the bare accountId, read as the user it is
  assert.equal(fl.customfield_10052, end);
  assert.deepEqual(fl.customfield_10053, { value: 'vault', id: '9' });
  assert.equal(fl.customfield_10051, null);
  assert.deepEqual(fl.customfield_10055, [{ value: 'role:a' }, { value: 'role:b' }]);
  assert.deepEqual(fl.reporter, BOB); // untouched fields as fetched
  assert.equal(fl.customfield_10050, JUST);
  assert.equal(body.issue.key, 'ACC-1');
  assert.equal(comments().length, 0);
});

test('modifiedFields at the top level count too; an unknown user stays a bare id', async () => {
  reset();
  stub.state.jira = site({ 'ACC-2': restIssue('ACC-2', JUST) });
  stub.state.fetch = answering(200, { decision: 'allow', decision_id: 'd-2', message: '', findings: [] });
  const ev = event('ACC-2');
  ev.modifiedFields = { customfield_10027: null, customfield_10059: [{ accountId: 'gone-1' }, { accountId: DAVE.accountId }] };
  await validate(ev, {});
  const fl = JSON.parse(fetches()[0].body).issue.fields;
  assert.deepEqual(fl.customfield_10059, [{ accountId: 'gone-1' }, DAVE]);
});

test('the acting user is sent when the event or the context carries one', async () => {
  reset();
  stub.state.jira = site({ 'ACC-3': restIssue('ACC-3', JUST) });
  stub.state.fetch = answering(200, { decision: 'allow', decision_id: 'd-3', message: '', findings: [] });
  const ev = event('ACC-3', {});
  ev.atlassianId = DAVE.accountId;
  await validate(ev, {});
  assert.deepEqual(JSON.parse(fetches()[0].body).user, DAVE);

  reset();
  await validate(event('ACC-3'), { principal: { accountId: 'not-in-jira' } });
  assert.deepEqual(JSON.parse(fetches()[0].body).user, { accountId: 'not-in-jira' });
});

test('deny blocks, with ticketgate\'s reasons one a line, and comments nothing', async () => {
  reset();
  stub.state.jira = site({ 'ACC-4': restIssue('ACC-4', JUST) });
  const message = 'Access governance blocked this transition:\n' +
    '- The approver (Bob Smith (5b10a2844c20165700ede21g)) is also the requester; a second person must approve.\n' +
    '- No end date: give the last day the access is needed.';
  stub.state.fetch = answering(200, {
    decision: 'deny', decision_id: 'd-4', message,
    findings: [{ code: 'SOD_SELF_APPROVAL', message: 'x' }, { code: 'EXPIRY_MISSING', message: 'y' }],
  });
  const v = await validate(event('ACC-4', { customfield_10059: { accountId: BOB.accountId } }), {});
  assert.equal(v.result, false);
  assert.equal(v.errorMessage, message);
  assert.equal(comments().length, 0);

  // An answer without a message still reads as a list of its findings.
  reset();
  stub.state.fetch = answering(200, { decision: 'deny', decision_id: 'd-5', findings: [{ message: 'one' }, { message: 'two' }] });
  const w = await validate(event('ACC-4'), {});
  assert.deepEqual(w, { result: false, errorMessage: 'Access governance blocked this transition:\n- one\n- two' });
});

test('annotate lets the transition through and comments its notes in ADF', async () => {
  reset();
  stub.state.jira = site({ 'ACC-6': restIssue('ACC-6', JUST) });
  stub.state.fetch = answering(200, {
    decision: 'annotate', decision_id: 'd-000000000006-abcdef',
    message: 'Access governance notes on this transition:\n- first note\n- second note',
    findings: [{ code: 'A', action: 'warn', message: 'first note' }, { code: 'B', action: 'warn', message: 'second note' }],
  });
  const v = await validate(event('ACC-6', {}), {});
  assert.deepEqual(v, { result: true });
  const c = comments();
  assert.equal(c.length, 1);
  assert.equal(c[0].as, 'app');
  assert.equal(c[0].path, '/rest/api/3/issue/ACC-6/comment');
  const li = (t) => ({ type: 'listItem', content: [{ type: 'paragraph', content: [{ type: 'text', text: t }] }] });
  assert.deepEqual(c[0].body, {
    body: {
      type: 'doc',
      version: 1,
      content: [
        { type: 'paragraph', content: [{ type: 'text', text: 'Access governance notes on this transition:' }] },
        { type: 'bulletList', content: [li('first note'), li('second note')] },
        { type: 'paragraph', content: [
          { type: 'text', text: 'ticketgate decision ' },
          { type: 'text', text: 'd-000000000006-abcdef', marks: [{ type: 'code' }] },
        ] },
      ],
    },
    properties: [{ key: 'sd.public.comment', value: { internal: true } }],
  });
});

test('a comment Jira refuses does not block an annotate', async () => {
  reset();
  const jira = site({ 'ACC-7': restIssue('ACC-7', JUST) });
  stub.state.jira = async (call) => (call.method === 'POST' ? { status: 403, body: {} } : jira(call));
  stub.state.fetch = answering(200, { decision: 'annotate', decision_id: 'd-7', message: 'n:\n- a', findings: [{ message: 'a' }] });
  assert.deepEqual(await validate(event('ACC-7', {}), {}), { result: true });
  assert.equal(comments().length, 1);
});

test('allow: the transition goes on, nothing is commented', async () => {
  reset();
  stub.state.jira = site({ 'ACC-8': restIssue('ACC-8', JUST) });
  stub.state.fetch = answering(200, { decision: 'allow', decision_id: 'd-8', message: '', findings: [] });
  assert.deepEqual(await validate(event('ACC-8', {}), {}), { result: true });
  assert.equal(comments().length, 0);
  assert.equal(fetches().length, 1);
});

test('ticketgate unreachable, 5xx or silent: fail mode closed blocks, open lets through with a comment', async () => {
  const cases = [
    ['unreachable', async () => { throw new Error('connect ECONNREFUSED'); }, /ECONNREFUSED/],
    ['503', answering(503, { error: 'store_unavailable', message: 'x' }), /HTTP 503/],
    ['502 html', answering(502, '<html>bad gateway</html>'), /HTTP 502/],
    ['200 not a decision', answering(200, '<html>portal</html>'), /HTTP 200/],
    ['timeout', () => new Promise(() => {}), /no answer within 50 ms/],
  ];
  for (const [name, fetch, why] of cases) {
    for (const mode of [undefined, 'closed', 'CLOSED', 'bogus']) {
      reset({ TICKETGATE_TIMEOUT_MS: '50' });
      if (mode) process.env.TICKETGATE_FAIL_MODE = mode;
      stub.state.jira = site({ 'ACC-9': restIssue('ACC-9', JUST) });
      stub.state.fetch = fetch;
      const v = await validate(event('ACC-9', {}), {});
      assert.equal(v.result, false, `${name} ${mode}`);
      assert.match(v.errorMessage, /ticketgate\) is unavailable/);
      assert.equal(comments().length, 0, name);
    }
    reset({ TICKETGATE_TIMEOUT_MS: '50', TICKETGATE_FAIL_MODE: 'open' });
    stub.state.jira = site({ 'ACC-9': restIssue('ACC-9', JUST) });
    stub.state.fetch = fetch;
    assert.deepEqual(await validate(event('ACC-9', {}), {}), { result: true }, name);
    const c = comments();
    assert.equal(c.length, 1, name);
    assert.equal(c[0].path, '/rest/api/3/issue/ACC-9/comment');
    assert.match(JSON.stringify(c[0].body), /without the access-governance check/);
    assert.match(c[0].body.body.content[1].content[0].content[0].content[0].text, why);
  }
});

test('4xx blocks whatever the fail mode, with ticketgate\'s message', async () => {
  for (const mode of ['open', 'closed']) {
    reset({ TICKETGATE_FAIL_MODE: mode });
    stub.state.jira = site({ 'ACC-10': restIssue('ACC-10', JUST) });
    stub.state.fetch = answering(401, { error: 'unauthenticated', message: 'The request is not signed as this source requires.' });
    const v = await validate(event('ACC-10', {}), {});
    assert.deepEqual(v, { result: false, errorMessage: 'ticketgate refused the request: The request is not signed as this source requires.' });
    assert.equal(comments().length, 0);
  }
});

test('an issue Jira will not return applies the fail mode; no settings block', async () => {
  reset();
  stub.state.jira = site({});
  stub.state.fetch = answering(200, { decision: 'allow' });
  const v = await validate(event('ACC-404', {}), {});
  assert.equal(v.result, false);
  assert.equal(fetches().length, 0);

  reset({ TICKETGATE_HMAC_SECRET: '' });
  const w = await validate(event('ACC-404', {}), {});
  assert.equal(w.result, false);
  assert.match(w.errorMessage, /not configured/);
  assert.equal(stub.calls.length, 0);
});

// ---- against the real ticketgate -------------------------------------------

// The real server on a port of its own choosing (tests/support/tgserver.js).
const startServer = () => tgserver.start(BINARY, SRC, 'tg-forge-');

test('end to end: the request the function builds is accepted and decided by ticketgate', { skip: !BINARY && 'no ticketgate binary given' }, async (t) => {
  const srv = await startServer();
  t.after(() => {
    srv.stop();
  });
  // The stubbed egress goes to the real server; each answer is kept.
  stub.state.fetch = async (call) => {
    const res = await fetch(call.url.replace('https://tg.test', srv.base), {
      method: call.method, headers: call.headers, body: call.body,
    });
    call.status = res.status;
    call.answer = await res.text();
    return stub.response(res.status, call.answer);
  };
  const issues = {};
  for (const k of ['ACC-101', 'ACC-102', 'ACC-103']) issues[k] = restIssue(k, JUST);
  issues['ACC-104'] = restIssue('ACC-104', 'Quarterly review of the chargeback queue needs ledger read rights.');
  stub.state.jira = site(issues);
  const screen = { customfield_10059: { accountId: DAVE.accountId }, customfield_10052: day(30) };

  // The approver and end date exist only on the transition screen: allow.
  reset();
  assert.deepEqual(await validate(event('ACC-101', screen), {}), { result: true });
  let [f] = fetches();
  assert.equal(f.status, 200);
  let answer = JSON.parse(f.answer);
  assert.equal(answer.decision, 'allow', f.answer);
  assert.equal(answer.ticket, 'ACC-101');
  assert.deepEqual(answer.transition, { from: 'Waiting for approval', to: 'Approved' });
  assert.equal(comments().length, 0);

  // The same issue without the screen's input: denied, reasons one a line.
  reset();
  const v = await validate(event('ACC-104'), {});
  [f] = fetches();
  answer = JSON.parse(f.answer);
  assert.equal(answer.decision, 'deny', f.answer);
  assert.equal(v.result, false);
  assert.equal(v.errorMessage, answer.message);
  const lines = v.errorMessage.split('\n');
  assert.equal(lines[0], 'Access governance blocked this transition:');
  assert.deepEqual(lines.slice(1), answer.findings.map((x) => `- ${x.message}`));
  const codes = answer.findings.map((x) => x.code);
  assert.ok(codes.includes('EXPIRY_MISSING'), codes.join());
  assert.equal(comments().length, 0);

  // A third ticket with the same justification: annotate, one comment.
  reset();
  assert.deepEqual(await validate(event('ACC-102', screen), {}), { result: true });
  reset();
  assert.deepEqual(await validate(event('ACC-103', screen), {}), { result: true });
  [f] = fetches();
  answer = JSON.parse(f.answer);
  assert.equal(answer.decision, 'annotate', f.answer);
  assert.deepEqual(answer.findings.map((x) => x.code), ['JUSTIFICATION_COPY_FORWARD']);
  const c = comments();
  assert.equal(c.length, 1);
  assert.equal(c[0].path, '/rest/api/3/issue/ACC-103/comment');
  const doc = c[0].body.body;
  assert.equal(doc.content[0].content[0].text, answer.message.split('\n')[0]);
  assert.deepEqual(doc.content[1].content.map((li) => li.content[0].content[0].text),
    answer.findings.map((x) => x.message));
  assert.equal(doc.content[2].content[1].text, answer.decision_id);
});
