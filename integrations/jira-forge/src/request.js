// request.js - the request the validator sends to ticketgate: pure, so that
// tests can build it without the Forge runtime.
'use strict';

const crypto = require('crypto');

// The validator-call form of POST /v1/webhooks/jira (contract/ADAPTERS.md):
// the issue as the REST API returns it, the transition's status names and
// the user who makes it. The body is signed exactly as sent.
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

// What the validator returns for a ticketgate answer: only deny blocks.
function verdict(status, answer, failMode) {
  if (status === 200 && answer && typeof answer.decision === 'string') {
    return {
      result: answer.decision !== 'deny',
      errorMessage: answer.message || 'ticketgate denied this transition.',
    };
  }
  // No answer, or ticketgate could not decide (5xx): the configured mode.
  if (status === 0 || status >= 500) {
    if (failMode === 'open') return { result: true };
    return {
      result: false,
      errorMessage: 'The access-governance check (ticketgate) is unavailable; try again shortly.',
    };
  }
  // 4xx is a configuration or payload fault a retry will not cure.
  const why = answer && answer.message ? answer.message : `HTTP ${status}`;
  return { result: false, errorMessage: `ticketgate refused the request: ${why}` };
}

module.exports = { buildValidatorRequest, verdict };
