/*
 * TicketgateValidator.groovy - ticketgate access gate for Jira Data Center:
 * a ScriptRunner "Custom script validator" on the workflow transitions that
 * grant access (e.g. "Waiting for approval" -> "Approved").
 *
 * It posts the validator-call form of POST /v1/webhooks/jira
 * (contract/ADAPTERS.md) - {issue, transition: {from, to}, user} - signed
 * with X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>, and throws
 * InvalidInputException(message) on deny so Jira blocks the transition and
 * shows the reasons. Set-up: docs/INTEGRATIONS.md.
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

// Jira's REST date-time form, "2026-06-12T00:00:00.000+0200".
String dateJson(Date d) {
    def f = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss.SSSZ")
    f.timeZone = TimeZone.getDefault()
    return f.format(d)
}

// A custom field value in the shape the REST API gives it, which is what
// ticketgate's field mapping reads: options as {value}, users as user
// objects, lists as arrays, dates as strings.
def valueJson(Object v) {
    if (v == null) return null
    if (v instanceof Option) return [value: v.value, id: String.valueOf(v.optionId)]
    if (v instanceof ApplicationUser) return userJson(v)
    if (v instanceof Timestamp || v instanceof Date) return dateJson((Date) v)
    if (v instanceof Map) {
        // cascading select: {null: parent, "1": child}
        def parent = v.get(null)
        return parent instanceof Option ? [value: parent.value] : v.collectEntries { k, x -> [String.valueOf(k), valueJson(x)] }
    }
    if (v instanceof Collection) return v.collect { valueJson(it) }
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
        created  : issue.created ? dateJson(issue.created) : null,
    ]
    def cfm = ComponentAccessor.customFieldManager
    cfm.getCustomFieldObjects(issue).each { cf ->
        // The transition screen's input is already on this issue object.
        fields[cf.id] = valueJson(issue.getCustomFieldValue(cf))
    }
    return [id: String.valueOf(issue.id), key: issue.key, fields: fields]
}

String hmacHex(String secret, byte[] body) {
    def mac = Mac.getInstance("HmacSHA256")
    mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"))
    return mac.doFinal(body).encodeHex().toString()
}

// ---- the validator ----

def base = setting("ticketgate.url", "TICKETGATE_URL", "").replaceAll('/+$', '')
def secret = setting("ticketgate.hmac.secret", "TICKETGATE_HMAC_SECRET", "")
def failMode = setting("ticketgate.fail.mode", "TICKETGATE_FAIL_MODE", "closed").toLowerCase()
def timeoutMs = setting("ticketgate.timeout.ms", "TICKETGATE_TIMEOUT_MS", "8000") as Integer

def unavailable = { String why ->
    log.warn("ticketgate: ${why} (${issue.key})")
    if (failMode != "open") {
        throw new InvalidInputException(
            "The access-governance check (ticketgate) is unavailable: ${why}. Try again shortly.")
    }
}

if (!base || !secret) {
    unavailable("ticketgate.url or ticketgate.hmac.secret is not set")
    return true
}

// The destination of this transition: the step its unconditional result
// leads to. In a validator the issue still has its source status.
def workflow = ComponentAccessor.workflowManager.getWorkflow(issue)
def action = workflow.descriptor.getAction(transientVars["actionId"] as Integer)
def step = workflow.descriptor.getStep(action.unconditionalResult.step)
def toStatus = workflow.getLinkedStatusObject(step)?.name
def fromStatus = issue.status?.name
def actor = ComponentAccessor.jiraAuthenticationContext.loggedInUser

def body = JsonOutput.toJson([
    issue     : issueJson(issue),
    transition: [from: fromStatus, to: toStatus],
    user      : userJson(actor),
]).getBytes(StandardCharsets.UTF_8)

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

// 5xx: ticketgate could not decide (503 store_unavailable): fail_mode.
if (status >= 500) {
    unavailable("HTTP ${status}")
    return true
}
def answer = null
try {
    answer = text ? new JsonSlurper().parseText(text) : null
} catch (Exception e) {
    answer = null
}
if (status != 200 || !(answer instanceof Map)) {
    // 401/409/422: a configuration or payload fault that a retry will not
    // cure; the transition is held whatever fail_mode says.
    def why = (answer instanceof Map && answer.message) ? answer.message : "HTTP ${status}"
    throw new InvalidInputException("ticketgate refused the request: ${why}")
}
if (answer.decision == "deny") {
    throw new InvalidInputException(answer.message as String)
}
return true
