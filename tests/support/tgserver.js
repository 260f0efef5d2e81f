// tgserver.js - starts `ticketgate serve` on a copy of example/ for the
// Node tests, on port 0: the kernel picks a free port at bind and the test
// reads the one the server logs (no bind-close-rebind race under ctest -j),
// as tests/support/tgserver.py does for the Python tests.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const LISTEN = /"event":"listen","msg":"listening on port (\d+)(?: \(TLS\))?"/;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Copies SOURCE/example (without its data/) into a new temporary directory,
// binds the API to 127.0.0.1:0, starts the binary and waits until the port
// it logged answers /healthz. Returns { dir, proc, base, port, logPath,
// stop() }; throws with the server's log when it does not come up.
async function start(binary, source, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix || 'tg-node-'));
  fs.cpSync(path.join(source, 'example'), path.join(dir, 'example'), {
    recursive: true,
    filter: (p) => path.basename(p) !== 'data',
  });
  const cfg = path.join(dir, 'example', 'ticketgate.yaml');
  const text = fs.readFileSync(cfg, 'utf8');
  if (!text.includes('listen: "127.0.0.1:8080"'))
    throw new Error(`${cfg}: no 'listen: "127.0.0.1:8080"' line`);
  fs.writeFileSync(cfg, text.replace('listen: "127.0.0.1:8080"', 'listen: "127.0.0.1:0"'));
  const logPath = path.join(dir, 'server.log');
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(binary, ['serve', '-c', cfg], { stdio: ['ignore', log, log] });
  let exited = null;
  proc.on('error', (e) => { exited = e.message; });
  proc.on('exit', (code) => { exited = exited || `exit ${code}`; });
  const stop = () => {
    if (proc.exitCode === null && !proc.killed)
      proc.kill('SIGTERM');
    try { fs.closeSync(log); } catch (e) { /* closed already */ }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const fail = (why) => {
    const out = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '';
    stop();
    throw new Error(`ticketgate did not start (${why}): ${out.slice(-2000)}`);
  };
  let port = 0;
  for (let i = 0; !port; i++) {
    const m = LISTEN.exec(fs.readFileSync(logPath, 'utf8'));
    if (m)
      port = Number(m[1]);
    else if (exited || i >= 200)
      fail(exited || 'no port logged in 10 s');
    else
      await sleep(50);
  }
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok)
        break;
    } catch (e) { /* not answering yet */ }
    if (exited || i >= 200)
      fail(exited || 'no answer on /healthz');
    await sleep(50);
  }
  return { dir, proc, base, port, logPath, stop };
}

module.exports = { start };
