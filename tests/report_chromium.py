#!/usr/bin/env python3
"""report_chromium.py - the HTML report rendered by headless Chromium.

usage: report_chromium.py REPORT.html OUT_DIR

Checks, in Debian's chromium (scripts/install-deps.sh installs it):
- no console message at all (a CSP violation, a resource the page tried to
  load from outside, a parse error): Chromium logs them as ":CONSOLE" lines
  with --enable-logging=stderr; a deliberately broken page is rendered
  first to prove that such lines are seen;
- every chart present with data: svg#chart-lag and svg#chart-denies each
  with at least one bar whose data-value is above zero, and the ten
  headline cards;
- nothing external: no <script>, no src/href to http(s).
Saves OUT_DIR/report.png (a full-page screenshot) as the test's artefact.
Exits 77 (ctest: skipped) with one line when chromium is absent.
"""

import html.parser
import os
import shutil
import subprocess
import sys
import tempfile


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(browser, args, url):
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--disable-gpu", "--no-sandbox",
               "--no-first-run", "--user-data-dir=" + profile,
               "--enable-logging=stderr", "--v=0"] + args + [url]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l]
    return p.returncode, p.stdout, console


class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack = []
        self.bars = {}
        self.cards = 0
        self.external = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self.stack.append(a.get("id", ""))
        if tag == "rect" and "bar" in (a.get("class") or "").split():
            chart = self.stack[-1] if self.stack else ""
            self.bars.setdefault(chart, []).append(float(a.get("data-value", "0")))
        if tag == "div" and "card" in (a.get("class") or "").split():
            self.cards += 1
        if tag == "script":
            self.scripts += 1
        for k in ("src", "href"):
            v = a.get(k) or ""
            if v.startswith(("http:", "https:", "//")):
                self.external.append(v)

    def handle_endtag(self, tag):
        if tag == "svg" and self.stack:
            self.stack.pop()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    report, out_dir = sys.argv[1], sys.argv[2]
    browser = chromium()
    if not browser:
        print("SKIP: chromium is not installed (scripts/install-deps.sh "
              "installs Debian's chromium)")
        return 77
    failures = []

    # The console capture works: a page that breaks its CSP is reported.
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as f:
        f.write("<!DOCTYPE html><html><head><meta http-equiv="
                "\"Content-Security-Policy\" content=\"default-src 'none'\">"
                "</head><body><img src=\"http://127.0.0.1:9/x.png\"></body>"
                "</html>")
        bad = f.name
    try:
        _, _, console = run(browser, ["--dump-dom"], "file://" + bad)
    finally:
        os.unlink(bad)
    if not console:
        failures.append("chromium printed no console line for a page that "
                        "breaks its CSP: console errors cannot be seen")

    url = "file://" + os.path.abspath(report)
    rc, dom_text, console = run(browser, ["--dump-dom"], url)
    if rc != 0:
        failures.append("chromium --dump-dom exited %d" % rc)
    for line in console:
        failures.append("console: " + line)
    dom = Dom()
    dom.feed(dom_text)
    for chart in ("chart-lag", "chart-denies"):
        values = dom.bars.get(chart, [])
        if not any(v > 0 for v in values):
            failures.append("%s has no bar with data (%r)" % (chart, values))
    if dom.cards != 10:
        failures.append("%d headline cards, expected 10" % dom.cards)
    if dom.scripts:
        failures.append("%d <script> elements" % dom.scripts)
    if dom.external:
        failures.append("external references: %r" % dom.external)

    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, "report.png")
    if os.path.exists(png):
        os.unlink(png)
    rc, _, console = run(browser, ["--hide-scrollbars",
                                   "--window-size=1280,2400",
                                   "--screenshot=" + png], url)
    for line in console:
        failures.append("console (screenshot): " + line)
    try:
        with open(png, "rb") as f:
            head = f.read(8)
        if head != b"\x89PNG\r\n\x1a\n" or os.path.getsize(png) < 10000:
            failures.append("%s is not a screenshot" % png)
    except OSError as e:
        failures.append("no screenshot: %s" % e)

    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("ok: %s renders without console messages; charts %s; "
              "screenshot %s" % (report, sorted(dom.bars), png))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
