// index.js - the Forge workflow validator: read the issue as the transition
// screen leaves it, ask ticketgate, block on deny, comment on annotate.
'use strict';

const forge = require('@forge/api');
const R = require('./request');

// @forge/api's default export is the api object; route and fetch are also
// named exports (the bundler may hand us either shape).
const api = forge.default || forge;
const route = forge.route || api.route;
const egress = forge.fetch || api.fetch || globalThis.fetch;

// Users looked up per invocation at most: a validator must answer quickly.
const MAX_USER_LOOKUPS = 20;

function settings() {
  const env = process.env;
  const ms = parseInt(env.TICKETGATE_TIMEOUT_MS || '', 10);
  return {
    base: (env.TICKETGATE_URL || '').trim().replace(/\/+$/, ''),
    secret: env.TICKETGATE_HMAC_SECRET || '',
    // Anything but "open" is closed: a typo must not open the gate.
    failMode: (env.TICKETGATE_FAIL_MODE || '').trim().toLowerCase() === 'open' ? 'open' : 'closed',
    // Forge ends a function after 25 s; the Jira reads need a share of it.
    timeoutMs: ms > 0 ? Math.min(ms, 20000) : 8000,
  };
}

async function getJira(path) {
  const res = await api.asApp().requestJira(path, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`Jira answered ${res.status}`);
  return res.json();
}

// The documented event carries status ids; ticketgate's gates name statuses.
async function statusName(ref) {
  if (!ref) return undefined;
  if (ref.name) return ref.name;
  if (!ref.id) return undefined;
  const s = await getJira(route`/rest/api/3/status/${ref.id}`);
  return s.name;
}

// accountId -> the user as /rest/api/3/user returns it; ids Jira does not
// resolve are left out (the caller keeps the bare reference).
async function lookUpUsers(ids) {
  const users = {};
  await Promise.all(
    ids.slice(0, MAX_USER_LOOKUPS).map(async (id) => {
      try {
        users[id] = await getJira(route`/rest/api/3/user?accountId=${id}`);
      } catch (e) {
        console.warn(`ticketgate: user ${id} not read: ${e.message}`);
      }
    })
  );
  return users;
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Adds a comment; a comment that cannot be added is logged, never fatal
// (the decision is already made and recorded by ticketgate).
async function addComment(key, doc) {
  try {
    const res = await api.asApp().requestJira(route`/rest/api/3/issue/${key}/comment`, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(doc),
    });
    if (!res.ok) console.error(`ticketgate: the comment on ${key} was refused: HTTP ${res.status}`);
  } catch (e) {
    console.error(`ticketgate: the comment on ${key} failed: ${e.message}`);
  }
}

// No decision could be had: fail_mode says whether the transition goes on.
// Let through, it leaves a comment saying it was not checked.
async function undecided(cfg, key, why) {
  console.error(`ticketgate: ${key || 'an issue'}: ${why} (fail mode ${cfg.failMode})`);
  if (cfg.failMode === 'open') {
    if (key) await addComment(key, R.uncheckedComment(why));
    return { result: true };
  }
  return { result: false, errorMessage: R.UNAVAILABLE };
}

async function validate(event, context) {
  const cfg = settings();
  if (!cfg.base || !cfg.secret) {
    console.error('ticketgate: TICKETGATE_URL or TICKETGATE_HMAC_SECRET is not set');
    return {
      result: false,
      errorMessage: 'The access-governance check (ticketgate) is not configured; ask a Jira ' +
        'administrator to set TICKETGATE_URL and TICKETGATE_HMAC_SECRET.',
    };
  }
  const key = event && event.issue && event.issue.key;

  let req;
  try {
    if (!key) throw new Error('the event names no issue');
    const tr = event.transition || {};
    // Documented under transition; also read at the top level.
    const modified = tr.modifiedFields || event.modifiedFields || null;
    // The validator event documents no acting user. An id the event or the
    // invocation context does carry is used; none is required: without a
    // user ticketgate judges the approver fields alone.
    const actorId = event.atlassianId ||
      (context && context.principal && context.principal.accountId) || null;
    const ids = R.bareUserIds(modified);
    if (actorId && !ids.includes(actorId)) ids.push(actorId);
    const [issue, from, to, users] = await Promise.all([
      getJira(route`/rest/api/3/issue/${key}?fields=*all,-comment,-worklog,-attachment`),
      statusName(tr.from),
      statusName(tr.to),
      lookUpUsers(ids),
    ]);
    const seen = R.overlayModifiedFields(issue, R.withUsers(modified, users));
    const user = actorId ? users[actorId] || { accountId: actorId } : null;
    req = R.buildValidatorRequest(seen, from, to, user, cfg.secret);
  } catch (e) {
    return undecided(cfg, key, `the issue could not be read: ${e.message}`);
  }

  let status = 0;
  let answer = null;
  try {
    const res = await withTimeout(
      egress(`${cfg.base}/v1/webhooks/jira`, { method: 'POST', headers: req.headers, body: req.body }),
      cfg.timeoutMs
    );
    status = res.status;
    const raw = await withTimeout(res.text(), cfg.timeoutMs);
    try {
      answer = raw ? JSON.parse(raw) : null;
    } catch (e) {
      answer = null;
    }
  } catch (e) {
    return undecided(cfg, key, `the request failed: ${e.message}`);
  }
  if (status >= 500 || (status === 200 && !(answer && typeof answer.decision === 'string'))) {
    return undecided(cfg, key, `ticketgate answered HTTP ${status}`);
  }

  const v = R.verdict(status, answer, cfg.failMode);
  if (status === 200 && answer.decision === 'annotate') {
    await addComment(key, R.annotateComment(answer));
  }
  return v;
}

module.exports = { validate };
