/*
 * ticketgate approval gate - ServiceNow business rule.
 *
 *   Table:     Approval [sysapproval_approver]
 *   When:      before, Update          Order: 100      Advanced: true
 *   Condition: current.state.changesTo('approved')
 *
 * Posts the approval and its requested item to ticketgate
 * (POST /v1/webhooks/servicenow, contract ADAPTERS.md) with a Bearer JWT
 * signed by sn_auth.GlideJWTAPI. On "deny" the approval is refused: the
 * reasons are shown to the approver and the update is aborted. On
 * "annotate" the notes go on the requested item as a work note.
 *
 * Only approvals of the catalog items named in CATALOG_ITEMS below are sent;
 * any other approval (a laptop, a change) never reaches ticketgate, so a
 * ticketgate outage holds only the approvals it is meant to judge.
 *
 * Everything the rule does runs in one try: when anything fails (a read, the
 * signing, the call, the answer) x_ticketgate.fail_mode decides: "closed"
 * (the default) holds the approval with a message naming ticketgate, "open"
 * lets it through with a warning in the log and a work note on the item.
 *
 * System properties (docs/INTEGRATIONS.md):
 *   x_ticketgate.endpoint        https://ticketgate.example.com/v1/webhooks/servicenow
 *   x_ticketgate.jwt_provider    sys_id of the JWT provider (jwt_provider)
 *   x_ticketgate.issuer          the JWT iss; ticketgate's sources.servicenow.jwt.issuer
 *   x_ticketgate.audience        the JWT aud (default "ticketgate")
 *   x_ticketgate.timeout_ms      HTTP timeout (default 8000)
 *   x_ticketgate.fail_mode       closed (default) | open
 */
(function executeRule(current, previous /* null when async */) {
    // ---- configuration -------------------------------------------------
    // The catalog items whose approvals ticketgate judges: the item's Name
    // (case-insensitive) or its sys_id. Name the same items as the
    // servicenow gate's `projects` in ticketgate.yaml. Empty: nothing is
    // sent.
    var CATALOG_ITEMS = ['Access', 'Database access', 'Vault access'];

    // Catalog variable types (item_option_new.type) whose value is a record
    // sys_id, or a comma-separated list of them.
    var TYPE_REFERENCE = '8';
    var TYPE_LIST_COLLECTOR = '21';
    var TYPE_REQUESTED_FOR = '31';

    // Read first and alone: the catch below needs it whatever failed.
    var FAIL_MODE = 'closed';
    try {
        if (String(gs.getProperty('x_ticketgate.fail_mode', 'closed')).toLowerCase() == 'open')
            FAIL_MODE = 'open';
    } catch (e) {
        FAIL_MODE = 'closed';
    }

    var gatedItem = null; // the RITM, once it is known to be gated
    var step = 'reading the approval';

    function escapeHtml(s) {
        return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
            .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
    }

    // gs.addErrorMessage renders HTML: every text is escaped, lines starting
    // "- " (one reason each, API.md) become one list.
    function messageHtml(text, decisionId) {
        var lines = String(text).split(/\r?\n/), html = '', inList = false;
        for (var i = 0; i < lines.length; i++) {
            var line = lines[i];
            if (line.indexOf('- ') === 0) {
                if (!inList)
                    html += '<ul>';
                inList = true;
                html += '<li>' + escapeHtml(line.substring(2)) + '</li>';
                continue;
            }
            if (inList)
                html += '</ul>';
            inList = false;
            if (line.replace(/\s+/g, '') !== '')
                html += '<div>' + escapeHtml(line) + '</div>';
        }
        if (inList)
            html += '</ul>';
        if (decisionId)
            html += '<div>ticketgate decision ' + escapeHtml(decisionId) + '</div>';
        return html;
    }

    // The approval cannot be decided. closed (the default) holds it; open
    // lets it through and says so in the log and on the item.
    function unavailable(why) {
        var approval = '';
        try {
            approval = current.getUniqueValue();
        } catch (e) {
            approval = '?';
        }
        if (FAIL_MODE == 'open') {
            gs.warn('ticketgate: ' + why + ' (approval ' + approval +
                '); approved without an access-governance check (fail_mode open)');
            if (gatedItem) {
                try {
                    gatedItem.work_notes = 'ticketgate could not evaluate this approval (' + why +
                        '); approved without an access-governance check (fail_mode open).';
                    gatedItem.update();
                } catch (e) {
                    gs.warn('ticketgate: the work note could not be written: ' + e);
                }
            }
            return;
        }
        gs.error('ticketgate: ' + why + ' (approval ' + approval + '); the approval is held (fail_mode closed)');
        gs.addErrorMessage(messageHtml('The access-governance check (ticketgate) could not decide: ' + why +
            '. The approval was not recorded; try again shortly.', ''));
        current.setAbortAction(true);
    }

    // The requested item the approval is for, or null for any other
    // approval. Older approvals name it in sysapproval, newer ones in
    // document_id with source_table.
    function requestedItem() {
        var id = current.getValue('sysapproval');
        if (!id && current.getValue('source_table') == 'sc_req_item')
            id = current.getValue('document_id');
        if (!id)
            return null;
        var ritm = new GlideRecord('sc_req_item');
        return ritm.get(id) ? ritm : null;
    }

    // The catalog item's stored name (not its display value, which is
    // translated into the viewer's language) and sys_id.
    function catalogItem(ritm) {
        var out = { sys_id: ritm.getValue('cat_item') || '', name: '' };
        if (out.sys_id) {
            var item = new GlideRecord('sc_cat_item');
            if (item.get(out.sys_id))
                out.name = item.getValue('name') || '';
        }
        return out;
    }

    function gated(item) {
        for (var i = 0; i < CATALOG_ITEMS.length; i++) {
            var want = String(CATALOG_ITEMS[i]);
            if (want && (want === item.sys_id ||
                         (item.name && want.toLowerCase() === item.name.toLowerCase())))
                return true;
        }
        return false;
    }

    function userObject(u) {
        return {
            sys_id: u.getUniqueValue(),
            user_name: u.getValue('user_name') || '',
            email: u.getValue('email') || '',
            name: u.getValue('name') || ''
        };
    }

    // A sys_user sys_id as {sys_id, user_name, email, name}; a sys_id that
    // names no user stays {sys_id} (reported unknown, never dropped).
    function userById(id) {
        if (!id)
            return null;
        var u = new GlideRecord('sys_user');
        return u.get(id) ? userObject(u) : { sys_id: String(id) };
    }

    // The person whose session saves the approval: the assigned approver,
    // or a delegate acting for them (ADAPTERS.md approval.acted_by).
    function sessionUser() {
        var u = gs.getUser();
        return {
            sys_id: String(u.getID()),
            user_name: String(u.getName() || ''),
            email: String(u.getEmail() || ''),
            name: String(u.getDisplayName() || '')
        };
    }

    // A variable naming users: one user as {value, display_value} plus the
    // user's identifiers; several as {value, display_value, users}.
    function userVariable(value, display) {
        var ids = String(value).split(','), users = [];
        for (var i = 0; i < ids.length; i++) {
            var id = ids[i].replace(/^\s+|\s+$/g, '');
            if (id)
                users.push(userById(id));
        }
        if (users.length != 1)
            return { value: value, display_value: display, users: users };
        var one = { value: value, display_value: display };
        for (var k in users[0])
            one[k] = users[0][k];
        return one;
    }

    // Every catalog variable of the item, by the answers ServiceNow stores
    // for it (sc_item_option_mtom -> sc_item_option -> item_option_new):
    // `value` the stored value (a date in UTC "yyyy-MM-dd HH:mm:ss", a
    // choice's value, a reference's sys_id), `display_value` what the form
    // shows (GlideElementVariable.getDisplayValue()). Both are sent where
    // they differ, value first (ADAPTERS.md); a variable naming users
    // (Reference to sys_user, Requested For, List Collector of sys_user) is
    // resolved to them.
    function variables(ritm) {
        var out = {};
        var link = new GlideRecord('sc_item_option_mtom');
        link.addQuery('request_item', ritm.getUniqueValue());
        link.query();
        while (link.next()) {
            var answer = new GlideRecord('sc_item_option');
            if (!answer.get(link.getValue('sc_item_option')))
                continue;
            var question = new GlideRecord('item_option_new');
            if (!question.get(answer.getValue('item_option_new')))
                continue;
            var name = question.getValue('name');
            if (!name)
                continue;
            var type = String(question.getValue('type'));
            var value = answer.getValue('value') || '';
            var element = ritm.variables[name];
            var display = element ? String(element.getDisplayValue() || '') : value;
            var table = type == TYPE_REQUESTED_FOR ? 'sys_user'
                : type == TYPE_REFERENCE ? question.getValue('reference')
                : type == TYPE_LIST_COLLECTOR ? question.getValue('list_table') : '';
            if (value !== '' && table == 'sys_user')
                out[name] = userVariable(value, display);
            else if (type == TYPE_REFERENCE || (value !== display && display !== ''))
                out[name] = { value: value, display_value: display };
            else
                out[name] = value;
        }
        return out;
    }

    try {
        var ritm = requestedItem();
        if (!ritm)
            return;
        var item = catalogItem(ritm);
        if (!gated(item))
            return; // not an item ticketgate judges: no request at all
        gatedItem = ritm;

        step = 'reading the configuration';
        var endpoint = String(gs.getProperty('x_ticketgate.endpoint', '') || '');
        var provider = String(gs.getProperty('x_ticketgate.jwt_provider', '') || '');
        // glide.servlet.uri ends in "/", which an issuer configured as
        // https://acme.service-now.com would not match.
        var issuer = String(gs.getProperty('x_ticketgate.issuer',
            gs.getProperty('glide.servlet.uri', '')) || '').replace(/\/+$/, '');
        var audience = String(gs.getProperty('x_ticketgate.audience', 'ticketgate') || 'ticketgate');
        var timeoutMs = parseInt(gs.getProperty('x_ticketgate.timeout_ms', '8000'), 10) || 8000;
        if (!endpoint || !provider)
            throw new Error('x_ticketgate.endpoint or x_ticketgate.jwt_provider is not set');

        step = 'reading the users';
        var approval = {
            sys_id: current.getUniqueValue(),
            state: current.getValue('state'),
            previous_state: previous ? previous.getValue('state') : '',
            approver: userById(current.getValue('approver')),
            acted_by: sessionUser()
        };

        step = 'reading the catalog variables';
        var vars = variables(ritm);

        step = 'reading the requested item';
        var doc = {
            approval: approval,
            ritm: {
                sys_id: ritm.getUniqueValue(),
                number: ritm.getValue('number'),
                opened_at: ritm.getValue('opened_at'),
                cat_item: item,
                opened_by: userById(ritm.getValue('opened_by')),
                requested_for: userById(ritm.getValue('requested_for')),
                variables: vars
            }
        };
        // The delivery id: the approval, its update count and a digest of
        // what is sent. A retried post of the same content is the same
        // delivery, answered from ticketgate's record. After a deny the
        // update is aborted, so sys_mod_count stays; once the request is
        // corrected, the next approval sends other content and so a new id,
        // where the update count alone would repeat the id with another
        // body (409 replay).
        doc.event_id = current.getUniqueValue() + ':' + current.getValue('sys_mod_count') +
            ':' + new GlideDigest().getSHA256Hex(JSON.stringify(doc)).substring(0, 16).toLowerCase();

        step = 'signing the request';
        var now = Math.floor(new GlideDateTime().getNumericValue() / 1000);
        var claims = { iss: issuer, aud: audience, iat: now, exp: now + 120, jti: gs.generateGUID() };
        var token = new sn_auth.GlideJWTAPI().generateJWT(provider,
            JSON.stringify({ typ: 'JWT', alg: 'RS256' }), JSON.stringify(claims));
        if (!token)
            throw new Error('the JWT provider returned no token');

        step = 'building the request';
        var rm = new sn_ws.RESTMessageV2();
        rm.setEndpoint(endpoint);
        rm.setHttpMethod('post');
        rm.setRequestHeader('Content-Type', 'application/json');
        rm.setRequestHeader('Accept', 'application/json');
        rm.setRequestHeader('Authorization', 'Bearer ' + token);
        rm.setHttpTimeout(timeoutMs);
        rm.setRequestBody(JSON.stringify(doc));

        step = 'calling ticketgate';
        var resp = rm.execute();
        var status = parseInt(resp.getStatusCode(), 10) || 0;

        step = 'reading the answer';
        // 0 is a timeout or a connection error; 5xx (503 store_unavailable)
        // is ticketgate unable to decide: both follow fail_mode.
        if (status === 0) {
            unavailable('no answer from ticketgate' +
                (resp.haveError() ? ' (' + resp.getErrorMessage() + ')' : ''));
            return;
        }
        if (status >= 500) {
            unavailable('ticketgate answered HTTP ' + status);
            return;
        }
        var text = String(resp.getBody() || '');
        if (status != 200) {
            // 401/409/413/415/422 are configuration or payload faults that a
            // retry will not cure: the approval is held whatever fail_mode
            // says.
            var reason = 'HTTP ' + status;
            try {
                var err = JSON.parse(text);
                if (err && err.message)
                    reason += ': ' + err.message;
            } catch (e) {
                // not JSON (a proxy's page): the status says enough
            }
            gs.error('ticketgate refused the request (' + reason + ') for ' + ritm.getValue('number'));
            gs.addErrorMessage(messageHtml('ticketgate refused the request (' + reason +
                '). The approval was not recorded; ask your ServiceNow administrator.', ''));
            current.setAbortAction(true);
            return;
        }
        var answer = JSON.parse(text); // not JSON: thrown, fail_mode applies
        if (!answer || typeof answer.decision != 'string')
            throw new Error('the answer has no decision');

        step = 'acting on the decision';
        var notes = answer.message || '';
        if (!notes && answer.findings) {
            for (var f = 0; f < answer.findings.length; f++)
                notes += (notes ? '\n' : '') + '- ' + answer.findings[f].message;
        }
        if (answer.decision == 'deny') {
            gs.addErrorMessage(messageHtml(notes || 'Access governance (ticketgate) refused this approval.',
                answer.decision_id));
            current.setAbortAction(true);
            return;
        }
        if (answer.decision == 'annotate') {
            ritm.work_notes = 'ticketgate ' + answer.decision_id + ' (approved with notes):\n' + notes;
            ritm.update();
            return;
        }
        if (answer.decision == 'skip') {
            // The list above names an item that no gate of ticketgate.yaml
            // does: allowed, not recorded.
            gs.warn('ticketgate: no gate matched ' + ritm.getValue('number') + ' (' + item.name +
                '); CATALOG_ITEMS and the servicenow gate\'s projects disagree');
            return;
        }
        if (answer.decision != 'allow')
            throw new Error('unknown decision "' + answer.decision + '"');
    } catch (e) {
        unavailable(step + ' failed: ' + e);
    }
})(current, previous);
