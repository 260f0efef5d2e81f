/* ocstore.c - decisions with judged tickets and event entries written through the store API. */
#include "tests/support/ocstore.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "server/config/config.h"
#include "server/core/facts.h"
#include "server/store/store.h"
#include "validators/timeparse.h"

struct tg_evidence *tg_ocs_open(const char *path)
{
    struct tg_config c;
    struct tg_evidence *e = NULL;

    memset(&c, 0, sizeof c);
    c.store.path = (char *)path;
    c.store.sync = TG_SYNC_NORMAL;
    c.store.busy_timeout_ms = 2000;
    assert_int_equal(tg_evidence_open(&c, &e), 0);
    return e;
}

const char *tg_ocs_time(int64_t t, char *buf)
{
    assert_int_equal(tg_time_format(t, buf, 32), 0);
    return buf;
}

static json_t *ident(const char *given, const char *resolved)
{
    return json_pack("{s:s, s:s?}", "given", given, "resolved", resolved);
}

void tg_ocs_decision(struct tg_evidence *e, const struct tg_ocs_decision *d)
{
    static unsigned long n;
    char id[64], tb[32];
    json_t *doc, *judged, *ticket, *aps, *apl, *findings, *facts;
    char *dj, *jj, *fj;
    struct tg_evidence_record r;

    snprintf(id, sizeof id, "d-%012lu-abc", ++n);
    findings = d->findings_json ? json_loads(d->findings_json, 0, NULL)
                                : json_array();
    assert_non_null(findings);
    doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:s}",
                    "decision", d->verdict, "decision_id", id, "ticket",
                    d->ticket, "source", "generic", "evaluated_at",
                    tg_ocs_time(d->time, tb), "policy", "sha256:test",
                    "dry_run", 0, "findings", findings, "message", "");
    assert_non_null(doc);
    aps = json_array();
    apl = json_array();
    for (size_t i = 0; i < 4 && d->approvers[i].who; i++) {
        const struct tg_ocs_approver *a = &d->approvers[i];
        json_t *x = ident(a->who, a->unresolved ? NULL : a->who);
        if (a->at != TG_OCS_NOTIME)
            json_object_set_new(x, "at",
                                json_string(tg_ocs_time(a->at, tb)));
        json_object_set_new(x, "authority",
                            json_pack("{s:s}", "basis", "approver"));
        json_array_append_new(aps, x);
        json_array_append_new(apl, json_string(a->who));
    }
    ticket = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:{s:s?, s:s?, "
                       "s:s?, s:s}, s:b, s:s}",
                       "id", d->ticket, "source", "generic", "kind",
                       "access_request", "beneficiary", "id", d->beneficiary,
                       "type", "human", "approvers", apl, "scope", "system",
                       d->system, "environment", d->environment,
                       "entitlement", d->entitlement, "privilege", "read",
                       "emergency", d->emergency, "justification",
                       "Reconcile the nightly settlement batches (PAY-2291).");
    assert_non_null(ticket);
    if (d->expires)
        json_object_set_new(ticket, "expires_at", json_string(d->expires));
    if (d->ticket_requester)
        json_object_set_new(ticket, "requester",
                            json_string(d->ticket_requester));
    if (d->created != TG_OCS_NOTIME)
        json_object_set_new(ticket, "created_at",
                            json_string(tg_ocs_time(d->created, tb)));
    judged = json_pack("{s:o, s:{s:o, s:o, s:o}}", "ticket", ticket,
                       "identities", "requester",
                       ident(d->requester_given ? d->requester_given
                                                : "req@example.com",
                             NULL),
                       "beneficiary",
                       ident(d->beneficiary_given ? d->beneficiary_given
                                                  : d->beneficiary,
                             d->beneficiary_resolved),
                       "approvers", aps);
    assert_non_null(judged);
    /* and its facts document, as tg_decide makes it */
    facts = tg_facts_build(doc, judged);
    dj = json_dumps(doc, JSON_COMPACT);
    jj = json_dumps(judged, JSON_COMPACT);
    fj = facts ? json_dumps(facts, JSON_COMPACT) : NULL;
    assert_non_null(dj);
    assert_non_null(jj);
    assert_non_null(fj);
    memset(&r, 0, sizeof r);
    r.decision_id = id;
    r.ticket = d->ticket;
    r.source = "generic";
    memcpy(r.body_sha256, id, 16);
    r.policy_digest = "sha256:test";
    r.time = d->time;
    r.decision_json = dj;
    r.decision_len = strlen(dj);
    r.judged_json = jj;
    r.judged_len = strlen(jj);
    r.facts_json = fj;
    r.facts_len = strlen(fj);
    assert_int_equal(tg_evidence_append(e, &r), 0);
    free(dj);
    free(jj);
    free(fj);
    json_decref(facts);
    json_decref(doc);
    json_decref(judged);
}

void tg_ocs_event(struct tg_evidence *e, const struct tg_ocs_event *v)
{
    char tb[32], *j;
    json_t *doc;
    struct tg_evidence_entry en;

    doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", v->type, "time",
                    tg_ocs_time(v->time, tb), "identity", v->identity,
                    "source_id", v->source_id, "form", "canonical");
    assert_non_null(doc);
    if (!v->unmapped) {
        json_object_set_new(doc, "system", json_string(v->system));
        json_object_set_new(doc, "entitlement", json_string(v->entitlement));
    } else {
        json_object_set_new(doc, "unmapped_reason",
                            json_string("no mapping for the group"));
    }
    json_object_set_new(doc, "mapped", json_boolean(!v->unmapped));
    if (v->environment)
        json_object_set_new(doc, "environment", json_string(v->environment));
    if (v->ticket)
        json_object_set_new(doc, "ticket", json_string(v->ticket));
    j = json_dumps(doc, JSON_COMPACT);
    assert_non_null(j);
    memset(&en, 0, sizeof en);
    en.kind = "event";
    en.key = v->source_id;
    en.ticket = v->ticket;
    en.source = "canonical";
    en.time = v->time;
    en.json = j;
    en.len = strlen(j);
    assert_int_equal(tg_evidence_append_entry(e, &en), 0);
    free(j);
    json_decref(doc);
}

int tg_ocs_sql(const char *path, const char *sql, const char *id)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    n = sqlite3_step(st);
    if (n == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    else if (n == SQLITE_DONE)
        n = sqlite3_changes(db);
    else
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}
