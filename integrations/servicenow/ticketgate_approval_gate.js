/*
 * ticketgate approval gate - ServiceNow business rule.
 *
 *   Table:     Approval [sysapproval_approver]
 *   When:      before, Update          Order: 100      Advanced: true
 *   Condition: current.state.changesTo('approved') &&
 *              current.sysapproval.sys_class_name == 'sc_req_item'
 *
 * Posts the approval and its requested item to ticketgate
 * (POST /v1/webhooks/servicenow, contract/ADAPTERS.md) with a Bearer JWT
 * signed by sn_auth.GlideJWTAPI, and on "deny" refuses the approval: the
 * message is shown to the approver and the update is aborted.
 *
 * System properties (docs/INTEGRATIONS.md):
 *   x_ticketgate.endpoint        https://ticketgate.example.com/v1/webhooks/servicenow
 *   x_ticketgate.jwt_provider    sys_id of the JWT provider (jwt_provider)
 *   x_ticketgate.issuer          the JWT iss; ticketgate's sources.servicenow.jwt.issuer
 *   x_ticketgate.audience        the JWT aud (default "ticketgate")
 *   x_ticketgate.timeout_ms      HTTP timeout (default 8000)
 *   x_ticketgate.fail_mode       closed (default) | open: what to do when
 *                                ticketgate cannot answer (timeout, 5xx)
 */
(function executeRule(current, previous /* null when async */) {
    var FAIL_MODE = String(gs.getProperty('x_ticketgate.fail_mode', 'closed')).toLowerCase();
    var ENDPOINT = gs.getProperty('x_ticketgate.endpoint', '');
    var PROVIDER = gs.getProperty('x_ticketgate.jwt_provider', '');
    // glide.servlet.uri ends in "/", which an issuer configured as
    // https://acme.service-now.com would not match.
    var ISSUER = String(gs.getProperty('x_ticketgate.issuer',
        gs.getProperty('glide.servlet.uri', ''))).replace(/\/+$/, '');
    var AUDIENCE = gs.getProperty('x_ticketgate.audience', 'ticketgate');
    var TIMEOUT_MS = parseInt(gs.getProperty('x_ticketgate.timeout_ms', '8000'), 10) || 8000;
    var QUESTION_REFERENCE = '8';

    var ritm = current.sysapproval.getRefRecord();
    if (!ritm || !ritm.isValidRecord() || ritm.getTableName() != 'sc_req_item')
        return;

    // The approval cannot be decided: fail open lets it through with a
    // note, fail closed (the default) holds it until ticketgate answers.
    function unavailable(why) {
        gs.error('ticketgate: ' + why + ' (approval ' + current.getUniqueValue() + ')');
        if (FAIL_MODE == 'open') {
            ritm.work_notes = 'ticketgate could not evaluate this approval (' + why +
                '); approved without an access-governance check (fail_mode open).';
            ritm.update();
            return;
        }
        gs.addErrorMessage('The access-governance check (ticketgate) is unavailable: ' + why +
            '. The approval was not recorded; try again shortly.');
        current.setAbortAction(true);
    }

    function user(ref) {
        if (ref.nil())
            return null;
        var u = ref.getRefRecord();
        if (!u || !u.isValidRecord())
            return { sys_id: String(ref) };
        return {
            sys_id: u.getUniqueValue(),
            user_name: u.getValue('user_name'),
            email: u.getValue('email'),
            name: u.getValue('name')
        };
    }

    // Every catalog variable of the item: reference variables as
    // {value, display_value} (ticketgate matches identities on either),
    // the others as their stored value (dates in UTC "yyyy-MM-dd HH:mm:ss").
    function variables() {
        var out = {};
        var els = ritm.variables.getElements();
        for (var i = 0; i < els.size(); i++) {
            var q = els.get(i).getQuestion();
            var name = q.getName();
            if (!name)
                continue;
            if (String(q.getType()) == QUESTION_REFERENCE)
                out[name] = { value: String(q.getValue()), display_value: String(q.getDisplayValue()) };
            else
                out[name] = String(q.getValue());
        }
        return out;
    }

    if (!ENDPOINT || !PROVIDER) {
        unavailable('x_ticketgate.endpoint or x_ticketgate.jwt_provider is not set');
        return;
    }

    var doc = {
        approval: {
            sys_id: current.getUniqueValue(),
            state: String(current.state),
            previous_state: previous ? String(previous.state) : '',
            approver: user(current.approver)
        },
        ritm: {
            sys_id: ritm.getUniqueValue(),
            number: ritm.getValue('number'),
            opened_at: ritm.getValue('opened_at'),
            cat_item: { sys_id: ritm.getValue('cat_item'), name: ritm.cat_item.getDisplayValue() },
            opened_by: user(ritm.opened_by),
            requested_for: user(ritm.requested_for),
            variables: variables()
        }
    };
    // The delivery id: the approval, its update count and a digest of what
    // is sent. A retried post of the same content is the same delivery,
    // answered from ticketgate's record. After a deny the update is
    // aborted, so sys_mod_count stays; once the request is corrected, the
    // next approval sends other content and so a new id, where the update
    // count alone would repeat the id with another body (409 replay).
    doc.event_id = current.getUniqueValue() + ':' + current.getValue('sys_mod_count') +
        ':' + new GlideDigest().getSHA256Hex(JSON.stringify(doc)).substring(0, 16).toLowerCase();

    var token;
    try {
        var now = Math.floor(new GlideDateTime().getNumericValue() / 1000);
        var claims = {
            iss: ISSUER,
            aud: AUDIENCE,
            iat: now,
            exp: now + 120,
            jti: gs.generateGUID()
        };
        token = new sn_auth.GlideJWTAPI().generateJWT(PROVIDER,
            JSON.stringify({ typ: 'JWT', alg: 'RS256' }), JSON.stringify(claims));
    } catch (e) {
        unavailable('the JWT could not be signed: ' + e);
        return;
    }

    var status = 0, text = '';
    try {
        var rm = new sn_ws.RESTMessageV2();
        rm.setEndpoint(ENDPOINT);
        rm.setHttpMethod('post');
        rm.setRequestHeader('Content-Type', 'application/json');
        rm.setRequestHeader('Accept', 'application/json');
        rm.setRequestHeader('Authorization', 'Bearer ' + token);
        rm.setHttpTimeout(TIMEOUT_MS);
        rm.setRequestBody(JSON.stringify(doc));
        var resp = rm.execute();
        status = resp.getStatusCode();
        text = resp.getBody();
    } catch (e) {
        unavailable('the request failed: ' + e);
        return;
    }

    // 0 is a timeout or a connection error; 5xx (503 store_unavailable)
    // is ticketgate unable to decide: both follow fail_mode.
    if (status == 0 || status >= 500) {
        unavailable('HTTP ' + status);
        return;
    }
    var answer = null;
    try {
        answer = JSON.parse(text);
    } catch (e) {
        answer = null;
    }
    if (status != 200 || !answer) {
        // 401/409/422 are configuration or payload faults that a retry will
        // not cure: the approval is held whatever fail_mode says.
        var msg = answer && answer.message ? answer.message : ('HTTP ' + status);
        gs.addErrorMessage('ticketgate refused the request: ' + msg);
        current.setAbortAction(true);
        return;
    }
    if (answer.decision == 'deny') {
        gs.addErrorMessage(answer.message);
        current.setAbortAction(true);
        return;
    }
    if (answer.decision == 'annotate' && answer.message) {
        ritm.work_notes = 'ticketgate (' + answer.decision_id + '):\n' + answer.message;
        ritm.update();
    }
})(current, previous);
