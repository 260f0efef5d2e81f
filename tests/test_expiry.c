/* test_expiry.c - the expiry validator, its limits and boundaries. */
#include "tests/vfixture.h"

static int run_expiry(const struct tg_ticket *t, const struct tg_policy *p,
                      const struct tg_directory *d, int64_t now,
                      struct tg_findings *out)
{
    return tg_expiry_check(t, p, d, now, out);
}

/* now = 2026-12-01T00:00:00Z; read 180 days ends 2027-05-30T00:00:00Z,
 * write 90 days 2027-03-01T00:00:00Z, admin 30 days 2026-12-31T00:00:00Z. */
static void test_expiry_table(void **state)
{
    static const struct vf_case cases[] = {
        {"within", NULL, ""},
        {"absent", "{\"expires_at\":null}", "EXPIRY_MISSING"},
        {"empty", "{\"expires_at\":\"\"}", "EXPIRY_MISSING"},
        {"never", "{\"expires_at\":\"Never\"}", "EXPIRY_MISSING"},
        {"permanent", "{\"expires_at\":\" PERMANENT \"}", "EXPIRY_MISSING"},
        {"none", "{\"expires_at\":\"none\"}", "EXPIRY_MISSING"},
        {"n/a", "{\"expires_at\":\"N/A\"}", "EXPIRY_MISSING"},
        {"words", "{\"expires_at\":\"next month\"}", "EXPIRY_INVALID"},
        {"month 13", "{\"expires_at\":\"2026-13-45\"}", "EXPIRY_INVALID"},
        {"Feb 29 non-leap", "{\"expires_at\":\"2027-02-29\"}",
         "EXPIRY_INVALID"},
        {"d/m/y", "{\"expires_at\":\"31/12/2026\"}", "EXPIRY_INVALID"},
        {"trailing junk", "{\"expires_at\":\"2026-12-31T00:00:00Zjunk\"}",
         "EXPIRY_INVALID"},
        {"hour 24", "{\"expires_at\":\"2026-12-31T24:00:00Z\"}",
         "EXPIRY_INVALID"},
        {"at now is past", "{\"expires_at\":\"2026-12-01T00:00:00Z\"}",
         "EXPIRY_PAST"},
        {"a fraction after now is not past",
         "{\"expires_at\":\"2026-12-01T00:00:00.900Z\"}", ""},
        {"a fraction over the limit is over",
         "{\"expires_at\":\"2027-05-30T00:00:00.001Z\"}", "EXPIRY_TOO_LONG"},
        {"yesterday's date is past", "{\"expires_at\":\"2026-11-30\"}",
         "EXPIRY_PAST"},
        {"today's date runs to its end", "{\"expires_at\":\"2026-12-01\"}",
         ""},
        {"read exactly at 180 days",
         "{\"expires_at\":\"2027-05-30T00:00:00Z\"}", ""},
        {"read one second over",
         "{\"expires_at\":\"2027-05-30T00:00:01Z\"}", "EXPIRY_TOO_LONG"},
        {"read date on the limit day is over (ends 23:59:59)",
         "{\"expires_at\":\"2027-05-30\"}", "EXPIRY_TOO_LONG"},
        {"read date the day before", "{\"expires_at\":\"2027-05-29\"}", ""},
        {"offset counts", "{\"expires_at\":\"2027-05-30T02:00:00+02:00\"}",
         ""},
        {"offset counts over",
         "{\"expires_at\":\"2027-05-30T02:00:00-02:00\"}", "EXPIRY_TOO_LONG"},
        {"jira offset and millis",
         "{\"expires_at\":\"2027-05-30T02:00:00.000+0200\"}", ""},
        {"servicenow format", "{\"expires_at\":\"2027-01-31 23:59:59\"}", ""},
        {"no zone is not a TICKET.md format",
         "{\"expires_at\":\"2026-12-31T00:00:00\"}", "EXPIRY_INVALID"},
        {"no seconds is not RFC 3339",
         "{\"expires_at\":\"2026-12-31T00:00Z\"}", "EXPIRY_INVALID"},
        {"admin 30 days exactly",
         "{\"scope\":{\"privilege\":\"admin\"},"
         "\"expires_at\":\"2026-12-31T00:00:00Z\"}",
         ""},
        {"admin 30 days over",
         "{\"scope\":{\"privilege\":\"admin\"},"
         "\"expires_at\":\"2026-12-31T00:00:01Z\"}",
         "EXPIRY_TOO_LONG"},
        {"unknown privilege is admin",
         "{\"scope\":{\"privilege\":\"superuser\"},"
         "\"expires_at\":\"2027-01-30T00:00:00Z\"}",
         "EXPIRY_TOO_LONG"},
        {"missing privilege is admin",
         "{\"scope\":{\"privilege\":null},"
         "\"expires_at\":\"2027-01-30T00:00:00Z\"}",
         "EXPIRY_TOO_LONG"},
        {"privilege any case", "{\"scope\":{\"privilege\":\"READ\"},"
                               "\"expires_at\":\"2027-05-01T00:00:00Z\"}",
         ""},
        {"write 90 days exactly",
         "{\"scope\":{\"privilege\":\"write\"},"
         "\"expires_at\":\"2027-03-01T00:00:00Z\"}",
         ""},
        {"service read capped at 90",
         "{\"beneficiary\":{\"id\":\"x\",\"type\":\"service\"},"
         "\"expires_at\":\"2027-03-01T00:00:01Z\"}",
         "EXPIRY_TOO_LONG"},
        {"service from the directory",
         "{\"beneficiary\":\"svc-payments-etl\","
         "\"expires_at\":\"2027-03-01T00:00:01Z\"}",
         "EXPIRY_TOO_LONG"},
        {"service account is service",
         "{\"beneficiary\":{\"id\":\"x\",\"type\":\" Service Account \"},"
         "\"expires_at\":\"2027-03-01T00:00:01Z\"}",
         "EXPIRY_TOO_LONG"},
        {"workload is service",
         "{\"beneficiary\":{\"id\":\"x\",\"type\":\"workload\"},"
         "\"expires_at\":\"2027-03-01T00:00:01Z\"}",
         "EXPIRY_TOO_LONG"},
        /* A word that names no type leaves it to the directory. */
        {"unknown type word: the directory's service",
         "{\"beneficiary\":{\"id\":\"svc-payments-etl\","
         "\"type\":\"automation\"},\"expires_at\":\"2027-03-01T00:00:01Z\"}",
         "EXPIRY_TOO_LONG"},
        {"unknown type word, unknown id: human",
         "{\"beneficiary\":{\"id\":\"x\",\"type\":\"automation\"},"
         "\"expires_at\":\"2027-03-01T00:00:01Z\"}",
         ""},
        {"person is human",
         "{\"beneficiary\":{\"id\":\"svc-payments-etl\",\"type\":\"Person\"},"
         "\"expires_at\":\"2027-03-01T00:00:01Z\"}",
         ""},
        {"service at 90 exactly",
         "{\"beneficiary\":{\"id\":\"x\",\"type\":\"Service\"},"
         "\"expires_at\":\"2027-03-01T00:00:00Z\"}",
         ""},
        {"emergency 24 hours exactly",
         "{\"emergency\":true,\"expires_at\":\"2026-12-02T00:00:00Z\"}", ""},
        {"emergency over 24 hours",
         "{\"emergency\":true,\"expires_at\":\"2026-12-02T00:00:01Z\"}",
         "EXPIRY_TOO_LONG"},
        {"emergency date-only is over",
         "{\"emergency\":true,\"expires_at\":\"2026-12-02\"}",
         "EXPIRY_TOO_LONG"},
    };
    (void)state;
    vf_run(cases, sizeof(cases) / sizeof(cases[0]), run_expiry, NULL);
}

/* Clocks for the message tests, relative to VF_NOW (2026-12-01 00:00Z). */
#define AT_2359_59 (VF_NOW + 86399)
#define AT_2359_58 (VF_NOW + 86398)
#define AT_1000 (VF_NOW + 36000)
#define AT_1959_59 (VF_NOW + 71999)
#define AT_1959_58 (VF_NOW + 71998)

/* An expiry message never asks for a time a date picker cannot hold: it
 * names the last allowed day, the latest D with D 23:59:59 UTC within the
 * limit (issue 9). */
static void test_expiry_messages(void **state)
{
    static const struct vf_msg_case cases[] = {
        {"too long: the last allowed day",
         "{\"expires_at\":\"2028-01-01\"}", NULL, 0, "EXPIRY_TOO_LONG",
         "The end date (2028-01-01) is too far away; read access may be "
         "granted for at most 180 days: set it to 2027-05-29 or an earlier "
         "day."},
        {"limit exactly at 23:59:59: that day",
         "{\"expires_at\":\"2028-01-01\"}", NULL, AT_2359_59,
         "EXPIRY_TOO_LONG",
         "The end date (2028-01-01) is too far away; read access may be "
         "granted for at most 180 days: set it to 2027-05-30 or an earlier "
         "day."},
        {"limit one second before 23:59:59: the day before",
         "{\"expires_at\":\"2028-01-01\"}", NULL, AT_2359_58,
         "EXPIRY_TOO_LONG",
         "The end date (2028-01-01) is too far away; read access may be "
         "granted for at most 180 days: set it to 2027-05-29 or an earlier "
         "day."},
        {"the day named at 23:59:59 is allowed",
         "{\"expires_at\":\"2027-05-30\"}", NULL, AT_2359_59, NULL, NULL},
        {"the day named one second earlier is allowed",
         "{\"expires_at\":\"2027-05-29\"}", NULL, AT_2359_58, NULL, NULL},
        {"the day after it is not",
         "{\"expires_at\":\"2027-05-30\"}", NULL, AT_2359_58,
         "EXPIRY_TOO_LONG",
         "The end date (2027-05-30) is too far away; read access may be "
         "granted for at most 180 days: set it to 2027-05-29 or an earlier "
         "day."},
        {"service limit",
         "{\"beneficiary\":\"svc-payments-etl\","
         "\"expires_at\":\"2027-03-01T00:00:01Z\"}",
         NULL, 0, "EXPIRY_TOO_LONG",
         "The end date (2027-03-01T00:00:01Z) is too far away; read access "
         "for a service identity may be granted for at most 90 days: set it "
         "to 2027-02-28 or an earlier day."},
        {"emergency: today",
         "{\"emergency\":true,\"expires_at\":\"2026-12-02\"}", NULL,
         AT_1000, "EXPIRY_TOO_LONG",
         "The end date (2026-12-02) is too far away; emergency access may be "
         "granted for at most 24 hours: set it to 2026-12-01 or an earlier "
         "day."},
        {"past: a span of days from today",
         "{\"expires_at\":\"2026-11-30\"}", NULL, 0, "EXPIRY_PAST",
         "The end date (2026-11-30) is already past; set an end date from "
         "2026-12-01 to 2027-05-29."},
        {"past at 23:59:59: today is over, the span starts tomorrow",
         "{\"expires_at\":\"2026-12-01\"}", NULL, AT_2359_59,
         "EXPIRY_PAST",
         "The end date (2026-12-01) is already past; set an end date from "
         "2026-12-02 to 2027-05-30."},
        {"past, emergency: one day only",
         "{\"emergency\":true,\"expires_at\":\"2026-11-30\"}", NULL, 0,
         "EXPIRY_PAST",
         "The end date (2026-11-30) is already past; set the end date to "
         "2026-12-01."},
        {"missing", "{\"expires_at\":null}", NULL, 0, "EXPIRY_MISSING",
         "No end date is set; access must end: set an end date from "
         "2026-12-01 to 2027-05-29."},
        {"a no-end word", "{\"expires_at\":\"Never\"}", NULL, 0,
         "EXPIRY_MISSING",
         "No end date is set (\"Never\"); access must end: set an end date "
         "from 2026-12-01 to 2027-05-29."},
    };
    (void)state;
    vf_run_messages(cases, sizeof(cases) / sizeof(cases[0]), run_expiry,
                    NULL);
}

/* With a 4-hour emergency limit, from 20:00 no date is short enough: only
 * then does the message give an end time. */
static void test_expiry_messages_short_emergency(void **state)
{
    static const struct vf_msg_case cases[] = {
        {"no date fits: an end time",
         "{\"emergency\":true,\"expires_at\":\"2026-12-01\"}", NULL,
         AT_1000, "EXPIRY_TOO_LONG",
         "The end date (2026-12-01) is too far away; emergency access may be "
         "granted for at most 4 hours: no date is that close, so give an end "
         "time no later than 2026-12-01 14:00 UTC."},
        {"limit at 23:59:59: today fits",
         "{\"emergency\":true,\"expires_at\":\"2026-12-02\"}", NULL,
         AT_1959_59, "EXPIRY_TOO_LONG",
         "The end date (2026-12-02) is too far away; emergency access may be "
         "granted for at most 4 hours: set it to 2026-12-01 or an earlier "
         "day."},
        {"and today's date is then allowed",
         "{\"emergency\":true,\"expires_at\":\"2026-12-01\"}", NULL,
         AT_1959_59, NULL, NULL},
        {"one second earlier it is not, and the time is cut to the minute",
         "{\"emergency\":true,\"expires_at\":\"2026-12-01\"}", NULL,
         AT_1959_58, "EXPIRY_TOO_LONG",
         "The end date (2026-12-01) is too far away; emergency access may be "
         "granted for at most 4 hours: no date is that close, so give an end "
         "time no later than 2026-12-01 23:59 UTC."},
        {"missing, no date fits",
         "{\"emergency\":true,\"expires_at\":null}", NULL, AT_1000,
         "EXPIRY_MISSING",
         "No end date is set; access must end: no date is that close, so "
         "give an end time after now and no later than 2026-12-01 14:00 "
         "UTC."},
        {"past, no date fits",
         "{\"emergency\":true,\"expires_at\":\"2026-11-30\"}", NULL,
         AT_1000, "EXPIRY_PAST",
         "The end date (2026-11-30) is already past; no date is that close, "
         "so give an end time after now and no later than 2026-12-01 14:00 "
         "UTC."},
    };
    struct tg_policy p;
    (void)state;
    vf_policy(&p);
    p.emergency_max_hours = 4;
    vf_run_messages(cases, sizeof(cases) / sizeof(cases[0]), run_expiry, &p);
    tg_policy_cleanup(&p);
}

/* The day a TOO_LONG message names, at any clock and for every limit, is
 * allowed, and the day after it is not. */
static void test_expiry_named_day_is_the_last(void **state)
{
    static const char *const patches[] = {
        "{\"scope\":{\"privilege\":\"read\"}}",
        "{\"scope\":{\"privilege\":\"admin\"}}",
        "{\"beneficiary\":{\"id\":\"x\",\"type\":\"service\"}}",
        "{\"emergency\":true}",
    };
    static const unsigned hours[] = {24, 4, 36};
    struct tg_directory d;
    struct tg_policy p;
    (void)state;
    vf_directory(&d);
    vf_policy(&p);
    for (size_t h = 0; h < sizeof(hours) / sizeof(hours[0]); h++) {
        p.emergency_max_hours = hours[h];
        for (size_t k = 0; k < sizeof(patches) / sizeof(patches[0]); k++) {
            for (int64_t now = VF_NOW - 2; now < VF_NOW + 2 * 86400;
                 now += 1799) {
                struct tg_ticket t;
                struct tg_findings f;
                const char *m;
                char day[11], next[11], full[32];
                int64_t at;
                tg_findings_init(&f);
                assert_int_equal(vf_ticket(&t, patches[k]), 0);
                free(t.expires_at);
                t.expires_at = strdup("2099-01-01");
                assert_int_equal(tg_expiry_check(&t, &p, &d, now, &f), 0);
                assert_int_equal(f.n, 1);
                m = strstr(f.v[0].message, "set it to ");
                if (!m) { /* no date fits: only an end time */
                    assert_non_null(strstr(f.v[0].message, "no date is"));
                    tg_findings_cleanup(&f);
                    /* then even today's date is too late */
                    assert_int_equal(tg_time_format(now, full, sizeof(full)),
                                     0);
                    snprintf(t.expires_at, 11, "%.10s", full);
                    assert_int_equal(tg_expiry_check(&t, &p, &d, now, &f), 0);
                    assert_int_equal(f.n, 1);
                    tg_findings_cleanup(&f);
                    tg_ticket_cleanup(&t);
                    continue;
                }
                snprintf(day, sizeof(day), "%.10s", m + strlen("set it to "));
                tg_findings_cleanup(&f);
                snprintf(t.expires_at, 11, "%s", day);
                assert_int_equal(tg_expiry_check(&t, &p, &d, now, &f), 0);
                if (f.n)
                    fail_msg("%s at %lld: the named day %s is refused: %s",
                             patches[k], (long long)now, day,
                             f.v[0].message);
                assert_int_equal(tg_time_parse(day, 10, &at), 0);
                assert_int_equal(tg_time_format(at + 1, full, sizeof(full)),
                                 0);
                snprintf(next, sizeof(next), "%.10s", full);
                snprintf(t.expires_at, 11, "%s", next);
                assert_int_equal(tg_expiry_check(&t, &p, &d, now, &f), 0);
                if (f.n != 1 || f.v[0].code != TG_EXPIRY_TOO_LONG)
                    fail_msg("%s at %lld: the day after %s is allowed",
                             patches[k], (long long)now, day);
                tg_findings_cleanup(&f);
                tg_ticket_cleanup(&t);
            }
        }
    }
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

static void test_expiry_days(void **state)
{
    struct tg_expiry_days days;
    (void)state;
    assert_int_equal(tg_expiry_days(VF_NOW, 86400, &days), 0);
    assert_string_equal(days.first, "2026-12-01");
    assert_string_equal(days.last, "2026-12-01");
    assert_string_equal(days.exact, "2026-12-02 00:00 UTC");
    assert_int_equal(days.fits, 1);
    assert_int_equal(tg_expiry_days(VF_NOW, 86398, &days), 0);
    assert_int_equal(days.fits, 0);
    assert_string_equal(days.last, days.first);
    assert_int_equal(tg_expiry_days(VF_NOW, 86399, &days), 0);
    assert_int_equal(days.fits, 1);
    /* out of range: no dates at all */
    assert_int_equal(tg_expiry_days(VF_NOW, -1, &days), TG_EINVAL);
    assert_int_equal(tg_expiry_days(INT64_MAX - 5, 10, &days), TG_EINVAL);
    assert_int_equal(tg_expiry_days(253402300000LL, 86400 * 30, &days),
                     TG_EINVAL);
}

static void test_time_parse(void **state)
{
    static const struct {
        const char *in;
        int ok;
        int64_t want;
    } rows[] = {
        {"1970-01-01T00:00:00Z", 1, 0},
        {"2026-12-01T00:00:00Z", 1, VF_NOW},
        {"2026-12-01t00:00:00z", 1, VF_NOW},
        {"2026-12-01T01:00:00+01:00", 1, VF_NOW},
        {"2026-12-01T01:00:00.000+0100", 1, VF_NOW},
        /* A fraction rounds up to the next whole second. */
        {"2026-12-01T01:00:00.123456+0100", 1, VF_NOW + 1},
        {"2026-11-30T23:59:59,5Z", 1, VF_NOW},
        {"2026-11-30", 1, VF_NOW - 1},
        {"2026-11-30 23:59:59", 1, VF_NOW - 1},
        {"2024-02-29", 1, 1709251199},
        {"2026-11-30 23:59:59+00:00", 1, VF_NOW - 1},
        /* RFC 3339 gives seconds and a zone; TICKET.md has no local time. */
        {"2026-12-01T00:00", 0, 0},
        {"2026-12-01T00:00Z", 0, 0},
        {"2026-12-01T00:00:00", 0, 0},
        {"2026-12-01T00:00:00.5", 0, 0},
        {"2026-11-30 23:59", 0, 0},
        {"2026-12-01T", 0, 0},
        {"2026-1-01", 0, 0},
        {"2026-12-01T00:00:00+2", 0, 0},
        {"", 0, 0},
        {"20261201", 0, 0},
    };
    char buf[32];
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t t = -1;
        int rc = tg_time_parse(rows[i].in, strlen(rows[i].in), &t);
        if (rows[i].ok) {
            assert_int_equal(rc, TG_OK);
            assert_int_equal(t, rows[i].want);
        } else {
            assert_int_equal(rc, TG_EINVAL);
        }
    }
    assert_int_equal(tg_time_format(VF_NOW, buf, sizeof(buf)), TG_OK);
    assert_string_equal(buf, "2026-12-01T00:00:00Z");
    assert_int_equal(tg_time_format(-1, buf, sizeof(buf)), TG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_table),
        cmocka_unit_test(test_expiry_messages),
        cmocka_unit_test(test_expiry_messages_short_emergency),
        cmocka_unit_test(test_expiry_named_day_is_the_last),
        cmocka_unit_test(test_expiry_days),
        cmocka_unit_test(test_time_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
