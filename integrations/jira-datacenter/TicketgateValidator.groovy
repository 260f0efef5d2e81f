/*
 * TicketgateValidator.groovy - ticketgate access gate for Jira Data Center:
 * a ScriptRunner "Custom script validator" on the workflow transitions that
 * grant access (e.g. "Waiting for approval" -> "Approved").
 *
 * It posts the validator-call form of POST /v1/webhooks/jira
 * (contract/ADAPTERS.md) - {issue, transition: {from, to}, user} - signed
 * with X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>. On deny it
 * throws InvalidInputException: Jira blocks the transition and lists the
 * reasons, one error line each. On annotate it comments the notes on the
 * issue (internal on Jira Service Management) and lets the transition go.
 * Set-up: docs/INTEGRATIONS.md.
 *
 * Settings (JVM system properties or environment variables of Jira):
 *   ticketgate.url          / TICKETGATE_URL          https://ticketgate.example.com
 *   ticketgate.hmac.secret  / TICKETGATE_HMAC_SECRET  sources.jira.hmac_secret
 *   ticketgate.fail.mode    / TICKETGATE_FAIL_MODE    closed (default) | open
 *   ticketgate.timeout.ms   / TICKETGATE_TIMEOUT_MS   8000
 */
import com.atlassian.jira.component.ComponentAccessor
import com.atlassian.jira.issue.Issue
import com.atlassian.jira.issue.customfields.option.Option
import com.atlassian.jira.user.ApplicationUser
import com.atlassian.jira.util.json.JSONObject
import com.opensymphony.workflow.InvalidInputException
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec
import java.nio.charset.StandardCharsets
import java.sql.Timestamp
import java.text.SimpleDateFormat

String setting(String prop, String env, String dflt) {
    def v = System.getProperty(prop) ?: System.getenv(env)
    return v ?: dflt
}

// A user as Jira Data Center's REST API shows it: ticketgate matches key,
// name and emailAddress against its directory, in that order.
Map userJson(ApplicationUser u) {
    if (u == null) return null
    return [key: u.key, name: u.username, emailAddress: u.emailAddress,
            displayName: u.displayName, active: u.active]
}

// The custom field types whose value is a day, not an instant.
DATE_ONLY_TYPES = ["com.atlassian.jira.plugin.system.customfieldtypes:datepicker"] as Set

// Jira's REST forms, which its webhook sends too: a Date Picker is the day
// "2027-01-31" (Jira keeps it as midnight in the server's zone), a Date Time
// Picker and the system dates "2027-01-31T09:00:00.000+0100", an instant
// with its zone. ticketgate reads a day as its last second, so a day sent
// as its midnight would expire a day early.
String dateJson(Date d, boolean dateOnly) {
    def f = new SimpleDateFormat(dateOnly ? "yyyy-MM-dd" : "yyyy-MM-dd'T'HH:mm:ss.SSSZ")
    f.timeZone = TimeZone.getDefault()
    return f.format(d)
}

// A custom field value in the shape the REST API gives it, which is what
// ticketgate's field mapping reads: options as {value}, users as user
// objects, lists as arrays, dates as above.
def valueJson(Object v, boolean dateOnly) {
    if (v == null) return null
    if (v instanceof Option) return [value: v.value, id: String.valueOf(v.optionId)]
    if (v instanceof ApplicationUser) return userJson(v)
    if (v instanceof Timestamp || v instanceof Date) return dateJson((Date) v, dateOnly)
    if (v instanceof Map) {
        // cascading select: {null: parent, "1": child}
        def parent = v.get(null)
        return parent instanceof Option ? [value: parent.value] : v.collectEntries { k, x -> [String.valueOf(k), valueJson(x, dateOnly)] }
    }
    if (v instanceof Collection) return v.collect { valueJson(it, dateOnly) }
    if (v instanceof Number || v instanceof Boolean) return v
    return v.toString()
}

Map issueJson(Issue issue) {
    def fields = [
        issuetype: [id: issue.issueType?.id, name: issue.issueType?.name],
        project  : [id: String.valueOf(issue.projectObject?.id), key: issue.projectObject?.key,
                    name: issue.projectObject?.name],
        status   : [id: issue.status?.id, name: issue.status?.name],
        summary  : issue.summary,
        reporter : userJson(issue.reporter),
        assignee : userJson(issue.assignee),
        created  : issue.created ? dateJson(issue.created, false) : null,
    ]
    def cfm = ComponentAccessor.customFieldManager
    cfm.getCustomFieldObjects(issue).each { cf ->
        // The transition screen's input is already on this issue object.
        def dateOnly = DATE_ONLY_TYPES.contains(cf.customFieldType?.key)
        fields[cf.id] = valueJson(issue.getCustomFieldValue(cf), dateOnly)
    }
    return [id: String.valueOf(issue.id), key: issue.key, fields: fields]
}

String hmacHex(String secret, byte[] body) {
    def mac = Mac.getInstance("HmacSHA256")
    mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"))
    return mac.doFinal(body).encodeHex().toString()
}

// The reasons of a decision: one per finding, else the message's "- " lines.
List reasonsOf(Map answer) {
    def found = (answer.findings instanceof List) ? answer.findings.findResults {
        (it instanceof Map && it.message) ? it.message as String : null
    } : []
    if (found) return found
    return ((answer.message ?: "") as String).readLines().findResults {
        it.startsWith("- ") && it.length() > 2 ? it.substring(2) : null
    }
}

// Jira lists each generic error of the exception on its own line of the
// transition's error box (and in the REST answer's errorMessages), and
// shows the text as text, escaped: so the lead line and one error per
// reason, no markup.
InvalidInputException denial(Map answer) {
    def lines = ((answer.message ?: "") as String).readLines()
    def lead = lines && !lines[0].startsWith("- ") ? lines[0] : "Access governance blocked this transition:"
    def e = new InvalidInputException(lead)
    reasonsOf(answer).each { e.addError(it.replaceAll(/\s*[\r\n]+\s*/, " ")) }
    return e
}

// Wiki markup keeps these characters as they are when escaped.
String wikiText(String s) {
    return s.replaceAll(/\s*[\r\n]+\s*/, " ").replaceAll(/([\\{}\[\]|*_^~+\-?!#])/, '\\\\$1')
}

// Adds a comment, internal on Jira Service Management (sd.public.comment);
// one that cannot be added is logged, never fatal.
void addComment(Issue issue, ApplicationUser author, String body) {
    try {
        def props = ["sd.public.comment": new JSONObject([internal: true])]
        ComponentAccessor.commentManager.create(issue, author, body, null, null, new Date(), props, true)
    } catch (Exception e) {
        log.error("ticketgate: the comment on ${issue.key} failed: ${e}")
    }
}

String annotateComment(Map answer) {
    def lines = ((answer.message ?: "") as String).readLines()
    def lead = lines && !lines[0].startsWith("- ") ? lines[0] : "Access governance notes on this transition:"
    def out = [wikiText(lead)]
    reasonsOf(answer).each { out << "* " + wikiText(it) }
    if (answer.decision_id) out << "" << "ticketgate decision {{" + wikiText(answer.decision_id as String) + "}}"
    return out.join("\n")
}

// ---- the validator ----

def base = setting("ticketgate.url", "TICKETGATE_URL", "").replaceAll('/+$', '')
def secret = setting("ticketgate.hmac.secret", "TICKETGATE_HMAC_SECRET", "")
// Anything but "open" is closed: a typo must not open the gate.
def failMode = setting("ticketgate.fail.mode", "TICKETGATE_FAIL_MODE", "closed").trim().toLowerCase() == "open" ? "open" : "closed"
def timeoutSetting = setting("ticketgate.timeout.ms", "TICKETGATE_TIMEOUT_MS", "8000").trim()
def timeoutMs = timeoutSetting.isInteger() && (timeoutSetting as Integer) > 0 ? timeoutSetting as Integer : 8000
def actor = ComponentAccessor.jiraAuthenticationContext.loggedInUser

// No decision could be had: fail_mode says whether the transition goes on;
// let through, it leaves a comment saying it was not checked.
def unavailable = { String why ->
    log.warn("ticketgate: ${why} (${issue.key}, fail mode ${failMode})")
    if (failMode != "open") {
        throw new InvalidInputException(
            "The access-governance check (ticketgate) is unavailable: ${why}. Try again shortly.")
    }
    addComment(issue, actor, "ticketgate was unavailable, and this transition was let through without " +
               "the access-governance check (fail mode open): " + wikiText(why))
}

if (!base || !secret) {
    // Not configured is never open: the gate would be off without a trace.
    throw new InvalidInputException("The access-governance check (ticketgate) is not configured: " +
                                    "ask a Jira administrator to set ticketgate.url and ticketgate.hmac.secret.")
}

byte[] body
try {
    // The destination of this transition: the step its unconditional result
    // leads to. In a validator the issue still has its source status.
    def workflow = ComponentAccessor.workflowManager.getWorkflow(issue)
    def action = workflow.descriptor.getAction(transientVars["actionId"] as Integer)
    def step = workflow.descriptor.getStep(action.unconditionalResult.step)
    def toStatus = workflow.getLinkedStatusObject(step)?.name
    def fromStatus = issue.status?.name

    body = JsonOutput.toJson([
        issue     : issueJson(issue),
        transition: [from: fromStatus, to: toStatus],
        user      : userJson(actor),
    ]).getBytes(StandardCharsets.UTF_8)
} catch (InvalidInputException e) {
    throw e
} catch (Exception e) {
    unavailable("the issue could not be read: ${e}")
    return true
}

int status = 0
String text = null
try {
    def conn = (HttpURLConnection) new URL("${base}/v1/webhooks/jira").openConnection()
    conn.requestMethod = "POST"
    conn.connectTimeout = timeoutMs
    conn.readTimeout = timeoutMs
    conn.doOutput = true
    conn.setRequestProperty("Content-Type", "application/json")
    conn.setRequestProperty("Accept", "application/json")
    conn.setRequestProperty("X-Hub-Signature", "sha256=" + hmacHex(secret, body))
    conn.outputStream.withStream { it.write(body) }
    status = conn.responseCode
    def stream = status >= 400 ? conn.errorStream : conn.inputStream
    text = stream?.getText("UTF-8")
} catch (IOException e) {
    unavailable("the request failed: ${e.message}")
    return true
}

def answer = null
try {
    answer = text ? new JsonSlurper().parseText(text) : null
} catch (Exception e) {
    answer = null
}
// 5xx (503 store_unavailable), or a 200 that is no decision (a proxy's
// page): ticketgate could not decide, fail_mode.
if (status >= 500 || (status == 200 && !(answer instanceof Map && answer.decision instanceof String))) {
    unavailable("ticketgate answered HTTP ${status}")
    return true
}
if (status != 200) {
    // 401/409/422: a configuration or payload fault that a retry will not
    // cure; the transition is held whatever fail_mode says.
    def why = (answer instanceof Map && answer.message) ? answer.message : "HTTP ${status}"
    throw new InvalidInputException("ticketgate refused the request: ${why}")
}
if (answer.decision == "deny") {
    log.info("ticketgate: ${issue.key} denied (${answer.decision_id})")
    throw denial(answer)
}
if (answer.decision == "annotate") {
    addComment(issue, actor, annotateComment(answer))
}
return true
