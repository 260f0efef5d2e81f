/* test_expiry.c - the expiry validator, its limits and boundaries. */
/* deps: canonical */
#include "vfixture.h"

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
        cmocka_unit_test(test_time_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
