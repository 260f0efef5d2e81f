// forge-api-stub.js - stands in for @forge/api under Node: records every
// requestJira and fetch call, and answers them with the handlers a test
// sets in __stub.state (jira: call -> {status, body}; fetch: call -> a
// response made with __stub.response).
'use strict';

const calls = [];
const state = { jira: null, fetch: null };

// As @forge/api's route: a path whose interpolated values are encoded.
class Route {
  constructor(value) {
    this.value = value;
  }
  toString() {
    return this.value;
  }
}
function route(strings, ...values) {
  let s = strings[0];
  values.forEach((v, i) => {
    s += encodeURIComponent(String(v)) + strings[i + 1];
  });
  return new Route(s);
}

function response(status, body) {
  const text = body === undefined || body === null ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return {
    status,
    ok: status >= 200 && status < 300,
    json: async () => JSON.parse(text),
    text: async () => text,
  };
}

function requester(as) {
  return {
    requestJira: async (path, opts = {}) => {
      if (!(path instanceof Route)) throw new Error('requestJira needs a route`...` path');
      const call = {
        kind: 'requestJira',
        as,
        method: opts.method || 'GET',
        path: path.value,
        body: opts.body === undefined ? undefined : JSON.parse(opts.body),
      };
      calls.push(call);
      const r = await state.jira(call);
      return response(r.status, r.body);
    },
  };
}

async function fetch(url, opts = {}) {
  const call = { kind: 'fetch', url, method: opts.method, headers: opts.headers || {}, body: opts.body };
  calls.push(call);
  return state.fetch(call);
}

const api = {
  asApp: () => requester('app'),
  asUser: () => requester('user'),
  fetch,
};

module.exports = { __esModule: true, default: api, route, fetch, __stub: { calls, state, response } };
