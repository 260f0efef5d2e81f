#!/usr/bin/python3
"""itsm_stub.py - a recording HTTP stub of Jira (REST v3 and v2) and
ServiceNow (Table API) for the act-back tests.

    itsm_stub.py [--port N] [--jira-auth VALUE] [--sn-auth VALUE]

Listens on 127.0.0.1 (port 0 by default: the kernel picks one) and prints
"port N" on stdout once it accepts connections. Every request under /rest/
or /api/ is checked exactly -- method, path, query, the Authorization
header (the value given with --jira-auth / --sn-auth), Accept and
Content-Type, the body's exact shape (an ADF document for v3 comments) --
and recorded; one that does not check out is answered 400 and listed under
"errors". The test drives the stub through /_stub/ (no auth):

    POST /_stub/issue   {"key", "status", "workflow": {status: [to, ...]}}
    POST /_stub/record  {"table", "sys_id", ...fields, "readonly"?: [field]}
                        (fields a PATCH leaves as they were, answering 200)
    POST /_stub/auth    {"jira"?: VALUE, "servicenow"?: VALUE}  (expected
                        Authorization from now on)
    POST /_stub/rules   [{"method", "path", "status", "headers"?, "body"?,
                          "times"?: 1, "store"?: false, "delay"?: 0}, ...]
        the next matching request(s) get status (and headers, body); with
        "store": true the request is carried out all the same (a comment
        stored although the answer is a 500); "delay": seconds to wait
        before answering (a hung ITSM).
    GET  /_stub/state   {"requests": [...], "errors": [...], "issues": {...},
                         "records": {...}}
"""
import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATE = {"requests": [], "errors": [], "issues": {}, "records": {}, "rules": []}
AUTH = {"jira": None, "servicenow": None}
SD_INTERNAL = [{"key": "sd.public.comment", "value": {"internal": True}}]
SYS_ID = re.compile(r"^[0-9a-f]{32}$")


class Bad(Exception):
    """The request does not check out: answered 400, listed in errors."""


def adf_text_node(n):
    if not (isinstance(n, dict) and set(n) == {"type", "text"} and n["type"] == "text"
            and isinstance(n["text"], str) and n["text"]):
        raise Bad("ADF: not a text node: %r" % (n,))


def adf_paragraph(n):
    if not (isinstance(n, dict) and set(n) == {"type", "content"}
            and n["type"] == "paragraph" and isinstance(n["content"], list) and n["content"]):
        raise Bad("ADF: not a paragraph: %r" % (n,))
    for t in n["content"]:
        adf_text_node(t)


def adf_doc(d):
    """The ADF subset ticketgate writes: paragraphs of text and bulletLists
    of listItems holding one paragraph each."""
    if not (isinstance(d, dict) and set(d) == {"type", "version", "content"}
            and d["type"] == "doc" and d["version"] == 1 and isinstance(d["content"], list)
            and d["content"]):
        raise Bad("ADF: not a doc version 1: %r" % (d,))
    for n in d["content"]:
        if isinstance(n, dict) and n.get("type") == "bulletList":
            if set(n) != {"type", "content"} or not isinstance(n["content"], list) or not n["content"]:
                raise Bad("ADF: bad bulletList")
            for li in n["content"]:
                if not (isinstance(li, dict) and set(li) == {"type", "content"}
                        and li["type"] == "listItem" and isinstance(li["content"], list)
                        and len(li["content"]) == 1):
                    raise Bad("ADF: bad listItem: %r" % (li,))
                adf_paragraph(li["content"][0])
        else:
            adf_paragraph(n)


def adf_plain(d):
    out = []
    for n in d["content"]:
        if n["type"] == "bulletList":
            for li in n["content"]:
                out.append("- " + "".join(t["text"] for t in li["content"][0]["content"]))
        else:
            out.append("".join(t["text"] for t in n["content"]))
    return "\n".join(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes: with Nagle on, the body
    # waits for the client's delayed ACK of the headers (40 ms a request on
    # a kept-alive connection: 22 requests/s, not 900).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self, status, body=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding"):
            raise Bad("chunked body")
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")

    # ---------------------------------------------------------------- control
    def control(self, method, path, raw):
        with LOCK:
            if method == "GET" and path == "/_stub/state":
                return self.answer(200, {k: STATE[k] for k in ("requests", "errors", "issues", "records")})
            doc = json.loads(raw or b"null")
            if method == "POST" and path == "/_stub/issue":
                STATE["issues"][doc["key"]] = {"status": doc["status"], "workflow": doc.get("workflow", {}),
                                               "comments": [], "labels": []}
                return self.answer(204)
            if method == "POST" and path == "/_stub/record":
                STATE["records"]["%s/%s" % (doc.pop("table"), doc["sys_id"])] = doc
                return self.answer(204)
            if method == "POST" and path == "/_stub/auth":
                AUTH.update(doc)
                return self.answer(204)
            if method == "POST" and path == "/_stub/rules":
                for r in doc:
                    r.setdefault("times", 1)
                STATE["rules"].extend(doc)
                return self.answer(204)
        return self.answer(404, {"error": "no such control"})

    # ------------------------------------------------------------------- ITSM
    def handle_any(self, method):
        u = urlsplit(self.path)
        path, query = u.path, parse_qs(u.query, keep_blank_values=True)
        raw = self.read_body()
        if path.startswith("/_stub/"):
            return self.control(method, path, raw)
        rec = {"t": time.time(), "method": method, "path": path, "query": u.query,
               "auth": self.headers.get("Authorization"), "body": None}
        with LOCK:
            STATE["requests"].append(rec)
        try:
            system = "jira" if path.startswith("/rest/") else "servicenow" if path.startswith("/api/") else None
            if system is None:
                raise Bad("not a Jira or ServiceNow path: %s" % path)
            if AUTH[system] is not None and self.headers.get("Authorization") != AUTH[system]:
                raise Bad("Authorization %r, want %r" % (self.headers.get("Authorization"), AUTH[system]))
            if self.headers.get("Accept") != "application/json":
                raise Bad("Accept %r" % self.headers.get("Accept"))
            body = None
            if method in ("POST", "PUT", "PATCH"):
                if self.headers.get("Content-Type") != "application/json":
                    raise Bad("Content-Type %r" % self.headers.get("Content-Type"))
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise Bad("body is not JSON")
            elif raw or self.headers.get("Content-Type"):
                raise Bad("%s with a body or a Content-Type" % method)
            rec["body"] = body
            rule = self.rule(method, path)
            if rule and rule.get("delay"):
                time.sleep(rule["delay"])
            if rule and not rule.get("store"):
                rec["answer"] = rule["status"]
                self.answer(rule["status"], rule.get("body", {"errorMessages": ["scripted"]}),
                            rule.get("headers"))
                rec["end"] = time.time()
                return None
            with LOCK:
                status, out = (self.jira if system == "jira" else self.servicenow)(method, path, query, body)
            if rule:
                status, out = rule["status"], rule.get("body", {"errorMessages": ["scripted"]})
            rec["answer"] = status
            self.answer(status, out, rule.get("headers") if rule else None)
            rec["end"] = time.time()
            return None
        except Bad as e:
            with LOCK:
                STATE["errors"].append("%s %s: %s" % (method, self.path, e))
            rec["answer"] = 400
            return self.answer(400, {"errorMessages": [str(e)]})

    def rule(self, method, path):
        with LOCK:
            for r in STATE["rules"]:
                if r["times"] > 0 and r["method"] == method and r["path"] == path:
                    r["times"] -= 1
                    return dict(r)
        return None

    def jira(self, method, path, query, body):
        m = re.fullmatch(r"/rest/api/([23])/issue/([A-Z][A-Z0-9_]*-[0-9]+)(/comment|/transitions)?", path)
        if not m:
            raise Bad("no such Jira endpoint")
        ver, key, sub = m.group(1), m.group(2), m.group(3)
        issue = STATE["issues"].get(key)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        if sub == "/comment" and method == "GET":
            if set(query) != {"startAt", "maxResults"}:
                raise Bad("comment query %r" % query)
            start, n = int(query["startAt"][0]), int(query["maxResults"][0])
            page = issue["comments"][start:start + n]
            return 200, {"startAt": start, "maxResults": n, "total": len(issue["comments"]), "comments": page}
        if sub == "/comment" and method == "POST":
            if query:
                raise Bad("comment POST with a query")
            if not isinstance(body, dict) or not set(body) <= {"body", "properties"} or "body" not in body:
                raise Bad("comment keys %r" % (list(body) if isinstance(body, dict) else body,))
            if "properties" in body and body["properties"] != SD_INTERNAL:
                raise Bad("comment properties %r" % (body["properties"],))
            if ver == "3":
                adf_doc(body["body"])
                text = adf_plain(body["body"])
            else:
                if not isinstance(body["body"], str) or not body["body"]:
                    raise Bad("v2 comment body is not text")
                text = body["body"]
            c = {"id": str(10000 + len(issue["comments"])), "body": body["body"],
                 "internal": "properties" in body, "text": text}
            issue["comments"].append(c)
            return 201, c
        if sub == "/transitions" and method == "GET":
            if query:
                raise Bad("transitions query %r" % query)
            tos = issue["workflow"].get(issue["status"], [])
            return 200, {"expand": "transitions", "transitions": [
                {"id": str(11 + i), "name": "Back to " + to, "to": {"name": to, "id": str(100 + i)}}
                for i, to in enumerate(tos)]}
        if sub == "/transitions" and method == "POST":
            if query or not (isinstance(body, dict) and set(body) == {"transition"}
                             and isinstance(body["transition"], dict) and set(body["transition"]) == {"id"}
                             and isinstance(body["transition"]["id"], str)):
                raise Bad("transition body %r" % (body,))
            tos = issue["workflow"].get(issue["status"], [])
            i = int(body["transition"]["id"]) - 11
            if not 0 <= i < len(tos):
                return 400, {"errorMessages": ["Transition id '%s' is not valid for this issue." % body["transition"]["id"]]}
            issue["status"] = tos[i]
            return 204, None
        if sub is None and method == "GET":
            if query != {"fields": ["status"]}:
                raise Bad("issue query %r" % query)
            return 200, {"key": key, "fields": {"status": {"name": issue["status"]}}}
        if sub is None and method == "PUT":
            if query or not (isinstance(body, dict) and set(body) == {"update"}
                             and isinstance(body["update"], dict) and set(body["update"]) == {"labels"}
                             and isinstance(body["update"]["labels"], list) and len(body["update"]["labels"]) == 1
                             and isinstance(body["update"]["labels"][0], dict)
                             and set(body["update"]["labels"][0]) == {"add"}
                             and isinstance(body["update"]["labels"][0]["add"], str)):
                raise Bad("edit body %r" % (body,))
            label = body["update"]["labels"][0]["add"]
            if label not in issue["labels"]:
                issue["labels"].append(label)
            return 204, None
        raise Bad("no such Jira endpoint")

    def servicenow(self, method, path, query, body):
        m = re.fullmatch(r"/api/now/table/(sysapproval_approver|sc_req_item)/([^/]+)", path)
        if not m:
            raise Bad("no such ServiceNow endpoint")
        table, sys_id = m.group(1), m.group(2)
        if not SYS_ID.match(sys_id):
            raise Bad("not a sys_id: %s" % sys_id)
        if method == "GET":
            # The work notes journal as its display value: every entry,
            # newest first, under a "date - user (Work notes)" line.
            if table != "sc_req_item" or query != {"sysparm_fields": ["work_notes"],
                                                   "sysparm_display_value": ["true"]}:
                raise Bad("ServiceNow GET %s %r" % (table, query))
        elif method != "PATCH" or query:
            raise Bad("no such ServiceNow endpoint")
        rec = STATE["records"].get(table + "/" + sys_id)
        if rec is None:
            return 404, {"error": {"message": "No Record found", "detail": "Record doesn't exist or ACL restricts the record retrieval"}, "status": "failure"}
        if method == "GET":
            return 200, {"result": {"work_notes": "".join(
                "2026-12-04 08:00:00 - Ticketgate Integration (Work notes)\n%s\n\n" % n
                for n in reversed(rec.get("work_notes", [])))}}
        if table == "sysapproval_approver":
            if not (isinstance(body, dict) and set(body) == {"state", "comments"} and body["state"] == "rejected"
                    and isinstance(body["comments"], str) and body["comments"]):
                raise Bad("approval body %r" % (body,))
            # A field the account may not write (a field ACL, "readonly" in
            # the seeded record) is left as it was, and the answer is still
            # 200 with the record as stored: ServiceNow's own behaviour.
            if "state" not in rec.get("readonly", []):
                rec["state"] = "rejected"
            rec.setdefault("comments", []).append(body["comments"])
        else:
            if not (isinstance(body, dict) and set(body) == {"work_notes"} and isinstance(body["work_notes"], str)
                    and body["work_notes"]):
                raise Bad("work note body %r" % (body,))
            rec.setdefault("work_notes", []).append(body["work_notes"])
        # The record as stored; journal fields read back empty (their
        # entries live in sys_journal_field), as in the Table API's example.
        return 200, {"result": {k: ("" if k in ("comments", "work_notes") else v)
                                for k, v in dict(rec, sys_id=sys_id).items() if k != "readonly"}}


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that went away (a stop cutting a hung transfer, kill -9)
        # is part of the tests, not a stub failure worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--jira-auth")
    ap.add_argument("--sn-auth")
    a = ap.parse_args()
    AUTH["jira"], AUTH["servicenow"] = a.jira_auth, a.sn_auth
    srv = Server(("127.0.0.1", a.port), Handler)
    print("port %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
