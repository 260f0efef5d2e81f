// request.js - what the Forge validator sends to ticketgate and makes of the
// answer: pure functions, so that tests run them without the Forge runtime.
'use strict';

const crypto = require('crypto');

// The issue as Jira will hold it after the transition: the fetched issue's
// fields with the transition screen's modifiedFields laid over them (an
// approver entered on the screen counts; a field cleared there, sent as
// null, is cleared). Neither argument is changed.
function overlayModifiedFields(issue, modifiedFields) {
  const out = Object.assign({}, issue);
  out.fields = Object.assign({}, (issue && issue.fields) || {});
  if (modifiedFields && typeof modifiedFields === 'object') {
    for (const [id, value] of Object.entries(modifiedFields)) {
      out.fields[id] = value === undefined ? null : value;
    }
  }
  return out;
}

// modifiedFields names a user by { accountId } alone; the account ids of
// such bare references (single and multi-user pickers), each once.
function bareUserIds(modifiedFields) {
  const ids = new Set();
  const visit = (v) => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (v && typeof v === 'object' && typeof v.accountId === 'string' && !v.displayName) {
      ids.add(v.accountId);
    }
  };
  Object.values(modifiedFields || {}).forEach(visit);
  return [...ids];
}

// modifiedFields with each bare { accountId } replaced by the user Jira
// returned for it (users: accountId -> user), so ticketgate can name the
// person by display name; an id Jira did not resolve stays bare.
function withUsers(modifiedFields, users) {
  const swap = (v) => {
    if (Array.isArray(v)) return v.map(swap);
    if (v && typeof v === 'object' && typeof v.accountId === 'string' && !v.displayName &&
        users[v.accountId]) {
      return users[v.accountId];
    }
    return v;
  };
  const out = {};
  for (const [id, value] of Object.entries(modifiedFields || {})) out[id] = swap(value);
  return out;
}

// The validator-call form of POST /v1/webhooks/jira (contract ADAPTERS.md):
// {issue, transition: {from, to}, user?}, the status names as strings. The
// user is left out when the event named no one (ticketgate then judges the
// approver fields alone). The body is signed exactly as sent.
function buildValidatorRequest(issue, fromName, toName, user, secret) {
  const doc = { issue, transition: { from: fromName, to: toName } };
  if (user) doc.user = user;
  const body = JSON.stringify(doc);
  const mac = crypto.createHmac('sha256', secret).update(body, 'utf8').digest('hex');
  return {
    body,
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'X-Hub-Signature': `sha256=${mac}`,
    },
  };
}

const UNAVAILABLE = 'The access-governance check (ticketgate) is unavailable; try again shortly.';

// The reasons of a decision, one per finding (the message's "- " lines when
// an answer carries no findings).
function reasonsOf(answer) {
  if (!answer) return [];
  if (Array.isArray(answer.findings) && answer.findings.length) {
    return answer.findings
      .map((f) => (f && typeof f.message === 'string' ? f.message : ''))
      .filter((m) => m);
  }
  return String(answer.message || '')
    .split('\n')
    .filter((l) => l.startsWith('- '))
    .map((l) => l.slice(2))
    .filter((m) => m);
}

// The first line of ticketgate's message ("Access governance blocked this
// transition:"), or the given default.
function leadOf(answer, dflt) {
  const first = String((answer && answer.message) || '').split('\n')[0];
  return first && !first.startsWith('- ') ? first : dflt;
}

// What the validator returns for a ticketgate answer: only deny blocks.
// A deny shows ticketgate's message as it is: plain text, the lead line and
// then one reason a line ("- ..."), which Jira shows as plain text.
function verdict(status, answer, failMode) {
  if (status === 200 && answer && typeof answer.decision === 'string') {
    if (answer.decision !== 'deny') return { result: true };
    let text = answer.message;
    if (!text) {
      const lines = reasonsOf(answer).map((r) => `- ${r}`);
      text = ['Access governance blocked this transition:'].concat(lines).join('\n');
    }
    return { result: false, errorMessage: text };
  }
  // No answer, or ticketgate could not decide (5xx): the configured mode.
  if (status === 0 || status >= 500) {
    if (failMode === 'open') return { result: true };
    return { result: false, errorMessage: UNAVAILABLE };
  }
  // 4xx is a configuration or payload fault a retry will not cure.
  const why = answer && answer.message ? answer.message : `HTTP ${status}`;
  return { result: false, errorMessage: `ticketgate refused the request: ${why}` };
}

// ---- the comment an annotate (or an unchecked transition) leaves ----------

const text = (t, marks) => (marks ? { type: 'text', text: t, marks } : { type: 'text', text: t });
const para = (...nodes) => ({ type: 'paragraph', content: nodes });
const bullets = (items) => ({
  type: 'bulletList',
  content: items.map((t) => ({ type: 'listItem', content: [para(text(t))] })),
});

// JSM shows a comment to the customer unless this property marks it
// internal; on other projects the property is kept and means nothing.
const INTERNAL = [{ key: 'sd.public.comment', value: { internal: true } }];

// The POST /rest/api/3/issue/{key}/comment body for an annotate: the lead
// line, the reasons as a bullet list, and the decision id, in Atlassian
// Document Format (ADF text nodes must not be empty: none is added empty).
function annotateComment(answer) {
  const content = [para(text(leadOf(answer, 'Access governance notes on this transition:')))];
  const reasons = reasonsOf(answer);
  if (reasons.length) content.push(bullets(reasons));
  if (answer && answer.decision_id) {
    content.push(para(text('ticketgate decision '), text(String(answer.decision_id), [{ type: 'code' }])));
  }
  return { body: { type: 'doc', version: 1, content }, properties: INTERNAL };
}

// The comment left when fail_mode open let a transition through unchecked.
function uncheckedComment(why) {
  return {
    body: {
      type: 'doc',
      version: 1,
      content: [
        para(text('ticketgate was unavailable, and this transition was let through without the ' +
                  'access-governance check (fail mode open).')),
        bullets([why || 'no answer']),
      ],
    },
    properties: INTERNAL,
  };
}

module.exports = {
  overlayModifiedFields,
  bareUserIds,
  withUsers,
  buildValidatorRequest,
  reasonsOf,
  verdict,
  annotateComment,
  uncheckedComment,
  UNAVAILABLE,
};
