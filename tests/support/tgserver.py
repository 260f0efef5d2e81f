"""tgserver.py - start the real server for a Python test: port 0, the port
read from its "listen" log line, exit 1 (a failure, never a skip) when it
does not become healthy."""
import re
import sys
import time
import urllib.request

_LISTEN = re.compile(r'"event":"listen","msg":"listening on port (\d+)(?: \(TLS\))?"')


def use_port_zero(cfg):
    """Rewrites the example's listen line in cfg to 127.0.0.1:0 (the kernel
    picks a free port at bind: no race with another test for it)."""
    text = open(cfg).read()
    new = text.replace('listen: "127.0.0.1:8080"', 'listen: "127.0.0.1:0"')
    if new == text:
        fail(None, None, "%s: no 'listen: \"127.0.0.1:8080\"' line" % cfg)
    open(cfg, "w").write(new)


def fail(proc, log_path, why):
    """Prints why and the server log, stops the server, exits 1."""
    print("FAIL: %s" % why, file=sys.stderr)
    if log_path:
        try:
            print("---- server log ----\n%s---- end ----" % open(log_path).read(),
                  file=sys.stderr)
        except OSError:
            pass
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    sys.exit(1)


def wait_ready(proc, log_path, timeout=15.0):
    """Waits for the server's "listen" log line, then for GET /healthz 200.
    Returns the base URL; exits 1 when it never gets there."""
    t0 = time.monotonic()
    base = None
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            fail(proc, log_path, "the server exited (code %d) while starting"
                 % proc.returncode)
        if base is None:
            with open(log_path, errors="replace") as f:
                m = _LISTEN.search(f.read())
            if m:
                base = "http://127.0.0.1:%s" % m.group(1)
        if base is not None:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return base
            except Exception:
                pass
        time.sleep(0.05)
    fail(proc, log_path, "the server never became healthy within %.0f s" % timeout)
