/* test_justification.c - the justification validator and its word rule. */
#include "tests/vfixture.h"

static int run_just(const struct tg_ticket *t, const struct tg_policy *p,
                    const struct tg_directory *d, int64_t now,
                    struct tg_findings *out)
{
    (void)d;
    (void)now;
    return tg_justification_check(t, p, -1, out);
}

static void test_justification_table(void **state)
{
    static const struct vf_case cases[] = {
        {"specific", NULL, ""},
        {"absent", "{\"justification\":null}", "JUSTIFICATION_MISSING"},
        {"empty", "{\"justification\":\"\"}", "JUSTIFICATION_MISSING"},
        {"blank", "{\"justification\":\" \\t\\n \"}",
         "JUSTIFICATION_MISSING"},
        {"punctuation only is 0 words", "{\"justification\":\"...!?\"}",
         "JUSTIFICATION_TOO_SHORT"},
        {"5 words", "{\"justification\":\"rotate keys vault prod edge\"}",
         "JUSTIFICATION_TOO_SHORT"},
        {"6 words", "{\"justification\":\"rotate keys vault prod edge now\"}",
         ""},
        {"hyphens split words",
         "{\"justification\":\"PAY-2291 CVE-2026-1234\"}",
         "JUSTIFICATION_TOO_SHORT"},
        {"generic", "{\"justification\":\"I need access to this for my work "
                    "please\"}",
         "JUSTIFICATION_GENERIC"},
        {"generic any case", "{\"justification\":\"SAME AS BEFORE, PLEASE "
                             "GRANT ACCESS FOR ONGOING SUPPORT DUTIES\"}",
         "JUSTIFICATION_GENERIC"},
        {"2 specific", "{\"justification\":\"need access to payments ledger "
                       "for my work\"}",
         "JUSTIFICATION_GENERIC"},
        {"3 specific", "{\"justification\":\"need access to payments ledger "
                       "reconciliation for my work\"}",
         ""},
        {"repeated specific counts once",
         "{\"justification\":\"payments payments PAYMENTS ledger for my "
         "work\"}",
         "JUSTIFICATION_GENERIC"},
        {"2-char words are not specific",
         "{\"justification\":\"db qa ui ux ci cd for my work please\"}",
         "JUSTIFICATION_GENERIC"},
        {"non-ASCII are letters",
         "{\"justification\":\"R\\u00e9conciliation mensuelle des "
         "\\u00e9critures du grand livre\"}",
         ""},
        {"3 characters not 3 bytes",
         "{\"justification\":\"\\u00e9\\u00e9 \\u00e0\\u00e0 \\u00fc\\u00fc "
         "for my work please\"}",
         "JUSTIFICATION_GENERIC"},
        {"digits are words", "{\"justification\":\"ticket 4410 needs 2291 "
                             "and 7781 today\"}",
         ""},
    };
    (void)state;
    vf_run(cases, sizeof(cases) / sizeof(cases[0]), run_just, NULL);
}

static void test_justification_copy_forward(void **state)
{
    static const struct {
        long uses;
        size_t want;
    } rows[] = {{-1, 0}, {0, 0}, {1, 0}, {2, 1}, {7, 1}};
    struct tg_policy p;
    struct tg_ticket t;
    (void)state;
    vf_policy(&p);
    assert_int_equal(vf_ticket(&t, NULL), 0);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_findings f;
        tg_findings_init(&f);
        assert_int_equal(tg_justification_check(&t, &p, rows[i].uses, &f), 0);
        assert_int_equal(f.n, rows[i].want);
        if (f.n) {
            assert_int_equal(f.v[0].code, TG_JUSTIFICATION_COPY_FORWARD);
            assert_int_equal(f.v[0].action, TG_ACTION_WARN);
        }
        tg_findings_cleanup(&f);
    }
    tg_ticket_cleanup(&t);
    tg_policy_cleanup(&p);
}

static void test_justification_huge_is_bounded(void **state)
{
    /* A megabyte of one repeated word: linear work, message cut short. */
    size_t n = 1 << 20;
    char *s = malloc(n + 1);
    struct tg_policy p;
    struct tg_ticket t;
    struct tg_findings f;
    (void)state;
    for (size_t i = 0; i < n; i++)
        s[i] = (i % 4 == 3) ? ' ' : 'a';
    s[n] = '\0';
    vf_policy(&p);
    tg_ticket_init(&t);
    t.justification = s;
    tg_findings_init(&f);
    assert_int_equal(tg_justification_check(&t, &p, -1, &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].code, TG_JUSTIFICATION_GENERIC);
    assert_true(strlen(f.v[0].message) < 400);
    tg_findings_cleanup(&f);
    tg_ticket_cleanup(&t);
    tg_policy_cleanup(&p);
}

/* The message names the text and counts the words, in a sentence that
 * reads right for one word too. */
static void test_justification_too_short_message(void **state)
{
    struct tg_policy p;
    struct tg_ticket t;
    struct tg_findings f;
    (void)state;
    vf_policy(&p);
    tg_ticket_init(&t);
    t.justification = strdup("fix");
    tg_findings_init(&f);
    assert_int_equal(tg_justification_check(&t, &p, -1, &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].code, TG_JUSTIFICATION_TOO_SHORT);
    assert_string_equal(f.v[0].message,
                        "The justification (\"fix\") has only 1 of the 6 "
                        "words needed; explain why this access is needed.");
    tg_findings_cleanup(&f);
    tg_ticket_cleanup(&t);
    tg_policy_cleanup(&p);
}

/* A message is one line: a newline or tab quoted from the ticket becomes a
 * space (schemas/decision.schema.json; ITSMs render the list of them). */
static void test_justification_message_one_line(void **state)
{
    static const struct vf_msg_case cases[] = {
        {"newline and tab", "{\"justification\":\"fix\\nit\\tnow\\r\"}",
         NULL, 0, "JUSTIFICATION_TOO_SHORT",
         "The justification (\"fix it now \") has only 3 of the 6 words "
         "needed; explain why this access is needed."},
    };
    (void)state;
    vf_run_messages(cases, sizeof(cases) / sizeof(cases[0]), run_just, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_justification_table),
        cmocka_unit_test(test_justification_message_one_line),
        cmocka_unit_test(test_justification_copy_forward),
        cmocka_unit_test(test_justification_huge_is_bounded),
        cmocka_unit_test(test_justification_too_short_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
