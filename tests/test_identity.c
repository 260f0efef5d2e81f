/* test_identity.c - how messages name people: tg_ident_label (issue 9). */
#include "validators/identity.h"
#include "tests/vfixture.h"

/* 1 when s is valid UTF-8 (the label is cut on character boundaries). */
static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3
                 : (*p >> 3) == 30 ? 4 : 0;
        if (n == 0)
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * n, unit, n);
    s[n * times] = '\0';
    return s;
}

static void test_label_table(void **state)
{
    static const struct {
        const char *what, *id, *payload_name, *want;
    } rows[] = {
        {"directory name", "dave", NULL, "Dave Okafor (dave)"},
        {"directory name, any alias", " 5b109f2e9729b51b54dc274d ", NULL,
         "Dave Okafor (5b109f\xe2\x80\xa6)"},
        {"payload name first", "dave", "D. Okafor", "D. Okafor (dave)"},
        {"payload name equal to the id: the directory's", "dave", "DAVE",
         "Dave Okafor (dave)"},
        {"blank payload name: the directory's", "dave", " \t ",
         "Dave Okafor (dave)"},
        {"no name known", "zoe@example.com", NULL, "zoe@example.com"},
        {"directory person without a name", "heidi", NULL, "heidi"},
        {"a group has no directory name", "payments-approvers", NULL,
         "payments-approvers"},
        {"the string is the name", "Dave Okafor", NULL, "Dave Okafor"},
        {"white space in a name is one space", "zoe", "Zoe\n\t Park \r\n",
         "Zoe Park (zoe)"},
        {"a Jira accountId", "5c5f8812a4b9e3001a2b3c4d", "Dave Okafor",
         "Dave Okafor (5c5f88\xe2\x80\xa6)"},
        {"an accountId with a prefix",
         "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", "Zoe Park",
         "Zoe Park (557058:f58131\xe2\x80\xa6)"},
        {"a JSM customer id", "qm:a5f7c7ea-1b2c-4d3e-8f90-0a1b2c3d4e5f",
         "Zoe Park", "Zoe Park (qm:a5f7c7\xe2\x80\xa6)"},
        {"a ServiceNow sys_id", "62826bf03710200044e0bfc8bcbe5df1",
         "Zoe Park", "Zoe Park (62826b\xe2\x80\xa6)"},
        {"a user name is kept whole", "christopher.johnson.contractor",
         "Chris Johnson", "Chris Johnson (christopher.johnson.contractor)"},
        {"a word-like id is kept whole", "svc-payments-etl-production",
         "Payments ETL", "Payments ETL (svc-payments-etl-production)"},
        {"a short hex id is kept whole", "6816f79cc0a8016401c",
         "Zoe Park", "Zoe Park (6816f79cc0a8016401c)"},
        {"a long opaque id with a long prefix is cut after six",
         "1234567890123:abcdef1234567890", "Zoe Park",
         "Zoe Park (123456\xe2\x80\xa6)"},
    };
    struct tg_directory d;
    char buf[TG_IDENT_LABEL_MAX];
    (void)state;
    vf_directory(&d);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_ticket t;
        const char *got;
        tg_ticket_init(&t);
        if (rows[i].payload_name)
            assert_int_equal(
                tg_ticket_add_name(&t, rows[i].id, rows[i].payload_name), 0);
        got = tg_ident_label(&t, &d, rows[i].id, buf, sizeof(buf));
        if (strcmp(got, rows[i].want) != 0)
            fail_msg("%s: want [%s] got [%s]", rows[i].what, rows[i].want,
                     got);
        tg_ticket_cleanup(&t);
    }
    tg_directory_cleanup(&d);
}

static void test_label_edges(void **state)
{
    struct tg_directory d;
    struct tg_ticket t;
    char buf[TG_IDENT_LABEL_MAX], small[TG_IDENT_LABEL_MAX - 1];
    char *name, *mail, *want;
    const char *got;
    (void)state;
    vf_directory(&d);
    tg_ticket_init(&t);

    /* absent stays absent; blank is given back as it is */
    assert_null(tg_ident_label(&t, &d, NULL, buf, sizeof(buf)));
    got = tg_ident_label(&t, &d, "  ", buf, sizeof(buf));
    assert_string_equal(got, "  ");
    /* no ticket: the directory alone */
    assert_string_equal(tg_ident_label(NULL, &d, "carol", buf, sizeof(buf)),
                        "Carol Diaz (carol)");
    /* a buffer that may be too small: the string, never a cut label */
    got = tg_ident_label(NULL, &d, "carol", small, sizeof(small));
    assert_string_equal(got, "carol");

    /* A huge name is cut so that the id and its bracket survive. */
    name = repeat("Name ", 400);
    assert_int_equal(tg_ticket_add_name(&t, "zoe@example.com", name), 0);
    got = tg_ident_label(&t, &d, "zoe@example.com", buf, sizeof(buf));
    assert_true(strlen(got) <= 120);
    assert_non_null(strstr(got, "... (zoe@example.com)"));
    assert_int_equal(strncmp(got, "Name Name", 9), 0);
    free(name);

    /* A name of two-byte characters is cut on a character boundary. */
    name = repeat("\xc3\xa9", 200);
    assert_int_equal(tg_ticket_add_name(&t, "zed", name), 0);
    got = tg_ident_label(&t, &d, "zed", buf, sizeof(buf));
    assert_true(strlen(got) <= 120);
    assert_true(valid_utf8(got));
    assert_non_null(strstr(got, "... (zed)"));
    free(name);

    /* An id that is no opaque token is kept to 60 bytes. */
    mail = repeat("m", 100);
    assert_int_equal(tg_ticket_add_name(&t, mail, "Mo Long"), 0);
    got = tg_ident_label(&t, &d, mail, buf, sizeof(buf));
    want = malloc(200);
    snprintf(want, 200, "Mo Long (%.60s...)", mail);
    assert_string_equal(got, want);
    free(want);
    free(mail);

    /* A name exactly filling the room is kept whole: 120 bytes in all. */
    name = repeat("n", 120 - strlen(" (ivy)"));
    assert_int_equal(tg_ticket_add_name(&t, "ivy", name), 0);
    got = tg_ident_label(&t, &d, "ivy", buf, sizeof(buf));
    assert_int_equal(strlen(got), 120);
    assert_null(strstr(got, "..."));
    free(name);
    name = repeat("n", 121 - strlen(" (ivo)"));
    assert_int_equal(tg_ticket_add_name(&t, "ivo", name), 0);
    got = tg_ident_label(&t, &d, "ivo", buf, sizeof(buf));
    assert_true(strlen(got) <= 120);
    assert_non_null(strstr(got, "... (ivo)"));
    free(name);

    tg_ticket_cleanup(&t);
    tg_directory_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_table),
        cmocka_unit_test(test_label_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
