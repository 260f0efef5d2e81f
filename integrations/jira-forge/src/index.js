// index.js - the Forge workflow validator: fetch the issue, ask ticketgate,
// block the transition on deny.
'use strict';

const forge = require('@forge/api');
const { buildValidatorRequest, verdict } = require('./request');

// @forge/api's default export is the api object; route and fetch are also
// named exports (the bundler may hand us either shape).
const api = forge.default || forge;
const route = forge.route || api.route;
const egress = forge.fetch || api.fetch;

const TIMEOUT_MS = 8000;

async function getJira(path) {
  const res = await api.asApp().requestJira(path, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`Jira answered ${res.status}`);
  return res.json();
}

// The validator event carries status ids; ticketgate's gates name statuses.
async function statusName(ref) {
  if (!ref) return undefined;
  if (ref.name) return ref.name;
  const s = await getJira(route`/rest/api/3/status/${ref.id}`);
  return s.name;
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function validate(event, context) {
  const failMode = (process.env.TICKETGATE_FAIL_MODE || 'closed').toLowerCase();
  const base = (process.env.TICKETGATE_URL || '').replace(/\/+$/, '');
  const secret = process.env.TICKETGATE_HMAC_SECRET || '';
  if (!base || !secret) {
    return verdict(0, null, 'closed');
  }

  let req;
  try {
    const key = event.issue.key;
    const issue = await getJira(route`/rest/api/3/issue/${key}?fields=*all`);
    const from = await statusName(event.transition && event.transition.from);
    const to = await statusName(event.transition && event.transition.to);
    // The user making the transition, when the event or context names one.
    const accountId = event.atlassianId || (context && context.principal && context.principal.accountId);
    let user;
    if (accountId) {
      try {
        user = await getJira(route`/rest/api/3/user?accountId=${accountId}`);
      } catch (e) {
        user = { accountId };
      }
    }
    req = buildValidatorRequest(issue, from, to, user, secret);
  } catch (e) {
    console.error(`ticketgate: could not read the issue: ${e.message}`);
    return verdict(0, null, failMode);
  }

  let status = 0;
  let answer = null;
  try {
    const res = await withTimeout(
      egress(`${base}/v1/webhooks/jira`, { method: 'POST', headers: req.headers, body: req.body }),
      TIMEOUT_MS
    );
    status = res.status;
    try {
      answer = await res.json();
    } catch (e) {
      answer = null;
    }
  } catch (e) {
    console.error(`ticketgate: request failed: ${e.message}`);
  }
  return verdict(status, answer, failMode);
}

module.exports = { validate };
