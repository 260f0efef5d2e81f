/*
 * dc_test.groovy - runs integrations/jira-datacenter/TicketgateValidator.groovy
 * as ScriptRunner would (bindings issue, transientVars, log) with stubs of
 * the Jira classes it touches (dc-stubs/, on the class path), in one JVM:
 * the request it builds, what it throws and comments for each answer of a
 * recording HTTP server, and end to end against the real ticketgate, where
 * the validator and the Data Center webhook must decide one issue alike.
 * usage: groovy -cp dc-stubs dc_test.groovy TICKETGATE_BINARY SOURCE_DIR
 * Run by ctest as jira_datacenter.
 */
import com.atlassian.jira.component.ComponentAccessor
import com.atlassian.jira.issue.Issue
import com.atlassian.jira.issue.customfields.option.Option
import com.atlassian.jira.user.ApplicationUser
import com.opensymphony.workflow.InvalidInputException
import com.sun.net.httpserver.HttpServer
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec
import java.sql.Timestamp
import java.util.concurrent.TimeUnit

// No idle keep-alive connection holds up the server's shutdown at the end.
System.setProperty("http.keepAlive", "false")
// Dates are kept and shown in the server's zone; one with an offset.
TimeZone.setDefault(TimeZone.getTimeZone("Europe/Berlin"))

binary = args.length > 0 ? args[0] : null
src = new File(args.length > 1 ? args[1] : ".").canonicalFile
script = new File(src, "integrations/jira-datacenter/TicketgateValidator.groovy")
SECRET = "jira-webhook-secret-for-tests"
failures = []
passed = 0

def check(String what, boolean ok, Object detail = "") {
    if (ok) passed++
    else failures << "${what}: ${detail}"
}

// ---- the Jira side --------------------------------------------------------

class U implements ApplicationUser {
    String key, username, emailAddress, displayName
    boolean active = true
}
class O implements Option {
    String value
    Long optionId
}
class I implements Issue {
    Long id; String key; Object issueType, projectObject, status, reporter, assignee
    String summary; Date created
    Map<String, Object> values = [:]
    Object getCustomFieldValue(Object cf) { values[cf.id] }
}

BOB = new U(key: "JIRAUSER10101", username: "bsmith", emailAddress: "bob@example.com", displayName: "Bob Smith")
CAROL = new U(key: "JIRAUSER10102", username: "carol.diaz", emailAddress: "carol@example.com", displayName: "Carol Diaz")
DAVE = new U(key: "JIRAUSER10204", username: "dave.okafor", emailAddress: "dave@example.com", displayName: "Dave Okafor")

def cf(String id, String type) {
    [id: id, customFieldType: [key: "com.atlassian.jira.plugin.system.customfieldtypes:" + type]]
}
FIELDS = [cf("customfield_10050", "textarea"), cf("customfield_10051", "userpicker"),
          cf("customfield_10052", "datepicker"), cf("customfield_10053", "select"),
          cf("customfield_10054", "select"), cf("customfield_10055", "multiselect"),
          cf("customfield_10056", "select"), cf("customfield_10057", "userpicker"),
          cf("customfield_10059", "userpicker"), cf("customfield_10061", "datetime"),
          cf("customfield_10062", "cascadingselect"), cf("customfield_10063", "float")]

// The day `offset` days after today's date in UTC, at midnight in the
// server's zone: how Jira keeps a Date Picker value. UTC's date, not the
// server's: a plain date ends at 23:59:59 UTC (TICKET.md), so between
// midnight in Berlin and midnight UTC, 179 days after Berlin's today was
// 180 after UTC's, and the test's "179 days allowed" failed at 23:10 UTC.
Timestamp dayStart(int offset) {
    def utc = Calendar.getInstance(TimeZone.getTimeZone("UTC"))
    utc.add(Calendar.DATE, offset)
    def c = Calendar.getInstance()
    c.clear()
    c.set(utc.get(Calendar.YEAR), utc.get(Calendar.MONTH), utc.get(Calendar.DAY_OF_MONTH), 0, 0, 0)
    new Timestamp(c.timeInMillis)
}
String dayText(int offset) { dayStart(offset).format("yyyy-MM-dd", TimeZone.getDefault()) }

I accessIssue(String key, String justification) {
    def i = new I(id: 20000L + (key.replaceAll(/\D/, "") as Long), key: key,
                  issueType: [id: "10400", name: "Access Request"],
                  projectObject: [id: 10200L, key: "ACC", name: "Access"],
                  status: [id: "10501", name: "Waiting for approval"], summary: "Ledger read access",
                  reporter: BOB, created: new Date(0))
    i.values = [customfield_10050: justification, customfield_10051: CAROL,
                customfield_10052: dayStart(0),
                customfield_10053: new O(value: "payments-db", optionId: 1L),
                customfield_10054: new O(value: "prod", optionId: 2L),
                customfield_10055: [new O(value: "role:ledger_reader", optionId: 3L)],
                customfield_10056: new O(value: "read", optionId: 4L),
                customfield_10059: DAVE]
    i
}

comments = []
logged = []
ComponentAccessor.customFieldManager = [getCustomFieldObjects: { iss -> FIELDS }] as Expando
def wf = new Expando()
wf.descriptor = new Expando(getAction: { id -> [unconditionalResult: [step: id == 11 ? 2 : 9]] },
                            getStep: { n -> [id: n] })
wf.getLinkedStatusObject = { step -> [name: step.id == 2 ? "Approved" : "Elsewhere"] }
ComponentAccessor.workflowManager = new Expando(getWorkflow: { iss -> wf })
ComponentAccessor.jiraAuthenticationContext = new Expando(loggedInUser: DAVE)
ComponentAccessor.commentManager = new Expando(
    create: { iss, author, body, group, role, created, props, dispatch ->
        comments << [issue: iss.key, author: author, body: body, props: props, dispatch: dispatch]
        return [id: comments.size()]
    })
log = new Expando(warn: { m -> logged << "WARN " + m }, info: { m -> logged << "INFO " + m },
                      error: { m -> logged << "ERROR " + m })

// Runs the validator as ScriptRunner does; its result or what it threw.
compiled = new GroovyShell(this.class.classLoader).parse(script)
def run(I issue, Map settings) {
    ["ticketgate.url", "ticketgate.hmac.secret", "ticketgate.fail.mode", "ticketgate.timeout.ms"].each {
        System.clearProperty(it)
    }
    settings.each { k, v -> System.setProperty(k, v as String) }
    comments.clear()
    def s = compiled.class.newInstance()
    s.binding = new Binding([issue: issue, transientVars: [actionId: 11], log: log])
    try {
        return [result: s.run()]
    } catch (InvalidInputException e) {
        return [thrown: e]
    }
}

// ---- a recording ticketgate ----------------------------------------------

requests = []
canned = [status: 200, body: "{}"]
def http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0)
http.createContext("/") { ex ->
    requests << [method: ex.requestMethod, path: ex.requestURI.toString(),
                 sig: ex.requestHeaders.getFirst("X-Hub-Signature"),
                 type: ex.requestHeaders.getFirst("Content-Type"), body: ex.requestBody.getText("UTF-8")]
    if (canned.delayMs) Thread.sleep(canned.delayMs)
    byte[] out = canned.body.getBytes("UTF-8")
    try {
        ex.sendResponseHeaders(canned.status, out.length ?: -1)
        if (out.length) ex.responseBody.write(out)
    } catch (IOException e) {
        // the validator gave up waiting (the timeout cases)
    }
    ex.close()
}
// A sleeping answer (the timeout cases) must not hold up the next request.
http.executor = java.util.concurrent.Executors.newCachedThreadPool()
http.start()
fake = "http://127.0.0.1:${http.address.port}"
def answer(int status, Object body) {
    canned = [status: status, body: body instanceof String ? body : JsonOutput.toJson(body)]
    requests.clear()
}

String hmac(String body) {
    def mac = Mac.getInstance("HmacSHA256")
    mac.init(new SecretKeySpec(SECRET.getBytes("UTF-8"), "HmacSHA256"))
    "sha256=" + mac.doFinal(body.getBytes("UTF-8")).encodeHex()
}

def JUST = "Reconcile the March settlement batches against ledger exports for audit finding FIN-221."
def cfg = ["ticketgate.url": fake + "/", "ticketgate.hmac.secret": SECRET]

try {
    // The request: REST shapes, a Date Picker as its day, a Date Time Picker
    // with its zone, signed over the exact body.
    def iss = accessIssue("ACC-1", JUST)
    def jan = Calendar.getInstance(); jan.set(2027, 0, 31, 9, 0, 0); jan.set(Calendar.MILLISECOND, 0)
    iss.values.customfield_10061 = new Timestamp(jan.timeInMillis)
    iss.values.customfield_10062 = [(null): new O(value: "EMEA", optionId: 7L), "1": new O(value: "Berlin", optionId: 8L)]
    iss.values.customfield_10063 = 42.5
    answer(200, [decision: "allow", decision_id: "d-1", message: "", findings: []])
    def r = run(iss, cfg)
    check("allow returns true", r.result == true, r)
    check("one request", requests.size() == 1, requests)
    def q = requests[0]
    check("path", q.path == "/v1/webhooks/jira", q.path)
    check("content type", q.type == "application/json", q.type)
    check("signature", q.sig == hmac(q.body), q.sig)
    def b = new JsonSlurper().parseText(q.body)
    def f = b.issue.fields
    check("date picker as its day", f.customfield_10052 == dayText(0), f.customfield_10052)
    check("date time picker with its zone", f.customfield_10061 == "2027-01-31T09:00:00.000+0100", f.customfield_10061)
    check("created with its zone", f.created == "1970-01-01T01:00:00.000+0100", f.created)
    check("option", f.customfield_10053 == [value: "payments-db", id: "1"], f.customfield_10053)
    check("multi-select", f.customfield_10055 == [[value: "role:ledger_reader", id: "3"]], f.customfield_10055)
    check("cascading select", f.customfield_10062 == [value: "EMEA"], f.customfield_10062)
    check("number", f.customfield_10063 == 42.5, f.customfield_10063)
    check("empty field", f.containsKey("customfield_10057") && f.customfield_10057 == null, f)
    check("user", f.customfield_10051 == [key: "JIRAUSER10102", name: "carol.diaz", emailAddress: "carol@example.com",
                                           displayName: "Carol Diaz", active: true], f.customfield_10051)
    check("issue key and project", b.issue.key == "ACC-1" && f.project.key == "ACC" && f.issuetype.name == "Access Request", b.issue)
    check("transition names", b.transition == [from: "Waiting for approval", to: "Approved"], b.transition)
    check("user is who is logged in", b.user?.name == "dave.okafor", b.user)
    check("allow comments nothing", comments.isEmpty(), comments)

    // deny: blocked, the lead line and one error line per reason.
    answer(200, [decision: "deny", decision_id: "d-2",
                 message: "Access governance blocked this transition:\n- first <b>reason</b>\n- second reason",
                 findings: [[code: "A", message: "first <b>reason</b>"], [code: "B", message: "second\nreason"]]])
    r = run(accessIssue("ACC-2", JUST), cfg)
    check("deny throws", r.thrown != null, r)
    check("deny lists the reasons", r.thrown?.genericErrors == ["Access governance blocked this transition:",
                                                                "first <b>reason</b>", "second reason"], r.thrown?.genericErrors)
    check("deny comments nothing", comments.isEmpty(), comments)
    // ... from the message's lines when there are no findings
    answer(200, [decision: "deny", decision_id: "d-3", message: "Blocked:\n- one\n- two"])
    r = run(accessIssue("ACC-3", JUST), cfg)
    check("deny from message lines", r.thrown?.genericErrors == ["Blocked:", "one", "two"], r.thrown?.genericErrors)

    // annotate: goes on, one internal comment listing the notes.
    answer(200, [decision: "annotate", decision_id: "d-000000000004-0a0b0c",
                 message: "Access governance notes on this transition:\n- Reused on ACC-7 [twice] *bold*",
                 findings: [[code: "JUSTIFICATION_COPY_FORWARD", action: "warn", message: "Reused on ACC-7 [twice] *bold*"]]])
    r = run(accessIssue("ACC-4", JUST), cfg)
    check("annotate returns true", r.result == true, r)
    check("annotate comments once", comments.size() == 1, comments)
    def c = comments ? comments[0] : [:]
    check("annotate comment body", c.body == "Access governance notes on this transition:\n" +
          "* Reused on ACC\\-7 \\[twice\\] \\*bold\\*\n\nticketgate decision {{d\\-000000000004\\-0a0b0c}}", c.body)
    check("annotate comment internal", c.props?."sd.public.comment"?.map == [internal: true], c.props)
    check("annotate comment author", c.author?.username == "dave.okafor", c.author)

    // No decision: fail mode closed holds, open lets through with a comment.
    def undecided = [
        "503"       : { -> answer(503, [error: "store_unavailable", message: "x"]) },
        "200 no decision": { -> answer(200, "<html>portal</html>") },
        "timeout"   : { -> answer(200, [decision: "allow"]); canned.delayMs = 1000 },
    ]
    undecided.each { name, setup ->
        ["closed", "CLOSED", "bogus", null].each { mode ->
            setup()
            def s = cfg + ["ticketgate.timeout.ms": "300"]
            if (mode) s["ticketgate.fail.mode"] = mode
            r = run(accessIssue("ACC-5", JUST), s)
            check("${name} ${mode} holds", r.thrown?.message?.contains("(ticketgate) is unavailable"), r)
            check("${name} ${mode} no comment", comments.isEmpty(), comments)
        }
        setup()
        r = run(accessIssue("ACC-5", JUST), cfg + ["ticketgate.timeout.ms": "300", "ticketgate.fail.mode": "open"])
        check("${name} open goes on", r.result == true, r)
        check("${name} open comments", comments.size() == 1 && comments[0].body.contains("without the access-governance check"), comments)
    }
    canned.delayMs = 0
    def closedPort = { -> def s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1")); def p = s.localPort; s.close(); p }()
    r = run(accessIssue("ACC-6", JUST), ["ticketgate.url": "http://127.0.0.1:${closedPort}", "ticketgate.hmac.secret": SECRET])
    check("unreachable holds", r.thrown?.message?.contains("unavailable: the request failed"), r)
    r = run(accessIssue("ACC-6", JUST), ["ticketgate.url": "http://127.0.0.1:${closedPort}", "ticketgate.hmac.secret": SECRET,
                                         "ticketgate.fail.mode": "open"])
    check("unreachable open goes on", r.result == true && comments.size() == 1, r)

    // 4xx holds whatever the mode; no settings hold.
    ["open", "closed"].each { mode ->
        answer(401, [error: "unauthenticated", message: "The signature does not match."])
        r = run(accessIssue("ACC-7", JUST), cfg + ["ticketgate.fail.mode": mode])
        check("401 ${mode} holds", r.thrown?.message == "ticketgate refused the request: The signature does not match.", r)
        check("401 ${mode} no comment", comments.isEmpty(), comments)
    }
    requests.clear()
    r = run(accessIssue("ACC-8", JUST), ["ticketgate.url": fake, "ticketgate.fail.mode": "open"])
    check("unconfigured holds", r.thrown?.message?.contains("not configured"), r)
    check("unconfigured sends nothing", requests.isEmpty(), requests)

    // ---- end to end ----
    if (!binary) {
        println "# no ticketgate binary given: end-to-end cases skipped"
    } else {
        def dir = File.createTempDir("tg-dc-", "")
        def proc = null
        try {
            def from = new File(src, "example")
            from.eachFileRecurse { fl ->
                def rel = from.toPath().relativize(fl.toPath()).toString()
                if (rel == "data" || rel.startsWith("data/")) return
                def to = new File(dir, "example/" + rel)
                if (fl.directory) to.mkdirs()
                else { to.parentFile.mkdirs(); to.bytes = fl.bytes }
            }
            def conf = new File(dir, "example/ticketgate.yaml")
            def port = closedPort
            def text = conf.getText("UTF-8")
            check("example listen line", text.contains('listen: "127.0.0.1:8080"'), "")
            conf.write(text.replace('listen: "127.0.0.1:8080"', "listen: \"127.0.0.1:${port}\""), "UTF-8")
            def logFile = new File(dir, "server.log")
            proc = new ProcessBuilder(binary, "serve", "-c", conf.path).redirectErrorStream(true)
                .redirectOutput(logFile).start()
            def base = "http://127.0.0.1:${port}"
            def up = false
            for (int i = 0; i < 200 && !up && proc.alive; i++) {
                try { up = new URL(base + "/healthz").openConnection().responseCode == 200 }
                catch (IOException e) { Thread.sleep(50) }
            }
            check("ticketgate started", up, up ? "" : (logFile.exists() ? logFile.text : "no log"))
            def post = { String body ->
                def conn = (HttpURLConnection) new URL(base + "/v1/webhooks/jira").openConnection()
                conn.requestMethod = "POST"; conn.doOutput = true
                conn.setRequestProperty("Content-Type", "application/json")
                conn.setRequestProperty("X-Hub-Signature", hmac(body))
                conn.outputStream.withStream { it.write(body.getBytes("UTF-8")) }
                def st = conn.responseCode
                [status: st, body: new JsonSlurper().parseText((st >= 400 ? conn.errorStream : conn.inputStream).getText("UTF-8"))]
            }
            def e2e = cfg + ["ticketgate.url": base]
            // The webhook Jira DC sends after the same transition, its fields
            // as its REST API gives them (a Date Picker as the day).
            def webhook = { I i, String day ->
                def u = { U x -> [name: x.username, key: x.key, emailAddress: x.emailAddress, displayName: x.displayName, active: true] }
                JsonOutput.toJson([timestamp: 1764340811000, webhookEvent: "jira:issue_updated",
                    user: u(DAVE),
                    issue: [id: String.valueOf(i.id), key: i.key, fields: [
                        issuetype: [id: "10400", name: "Access Request"], project: [id: "10200", key: "ACC", name: "Access"],
                        reporter: u(BOB), customfield_10050: i.values.customfield_10050, customfield_10051: u(CAROL),
                        customfield_10052: day, customfield_10053: [value: "payments-db"], customfield_10054: [value: "prod"],
                        customfield_10055: [[value: "role:ledger_reader"]], customfield_10056: [value: "read"],
                        customfield_10059: u(i.values.customfield_10059)]],
                    changelog: [id: "1", items: [[field: "status", fieldtype: "jira", from: "10501",
                        fromString: "Waiting for approval", to: "10502", toString: "Approved"]]]])
            }
            def codes = { Map d -> (d.findings ?: []).collect { it.code }.findAll { it != "JUSTIFICATION_COPY_FORWARD" }.sort() }

            // One issue, the validator before the transition and the webhook
            // after it: the same decision with the same reasons, word for
            // word (a date is quoted in them as sent). Access ending today
            // is allowed (a day sent as its midnight was already past); 180
            // days ahead is a day too long for read access while 179 is not,
            // whatever the hour, in both forms.
            def n = 200
            [[0, DAVE], [179, DAVE], [180, DAVE], [0, BOB]].each { offset, approver ->
                def just = "Ledger export checks for remediation item FIN-${n} of the payments audit."
                def iv = accessIssue("ACC-${n}", just)
                iv.values.customfield_10052 = dayStart(offset)
                iv.values.customfield_10059 = approver
                def iw = accessIssue("ACC-${n + 1}", just + " Webhook.")
                iw.values.customfield_10059 = approver
                n += 2
                r = run(iv, e2e)
                def w = post(webhook(iw, dayText(offset)))
                def what = "${offset} days, approver ${approver.username}"
                check("webhook decides ${what}", w.status == 200 && w.body.decision in ["allow", "deny"], w)
                if (w.body.decision == "deny") {
                    check("validator denies ${what}", r.thrown != null, r)
                    check("same lead ${what}", r.thrown?.genericErrors?.getAt(0) == w.body.message.readLines()[0], r.thrown?.genericErrors)
                    check("same reasons ${what}", r.thrown?.genericErrors?.drop(1) == w.body.findings.collect { it.message },
                          [r.thrown?.genericErrors, w.body.findings])
                } else {
                    check("validator allows ${what}", r.result == true && comments.isEmpty(), [r, comments])
                }
                if (offset == 0) check("today is not past ${what}", !codes(w.body).contains("EXPIRY_PAST"), w.body)
                if (offset == 179) check("179 days allowed", w.body.decision == "allow", w.body)
                if (offset == 180) check("180 days too long", codes(w.body) == ["EXPIRY_TOO_LONG"], w.body)
                if (approver == BOB) check("self-approval denied", codes(w.body).contains("SOD_SELF_APPROVAL"), w.body)
            }
        } finally {
            if (proc) { proc.destroy(); proc.waitFor(20, TimeUnit.SECONDS) }
            dir.deleteDir()
        }
    }
} finally {
    http.stop(0)
    http.executor.shutdownNow()
}

failures.each { println "FAIL ${it}" }
println "${passed} passed, ${failures.size()} failed"
System.exit(failures ? 1 : 0)
