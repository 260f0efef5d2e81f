/* test_digest.c - SHA-256 and HMAC-SHA256 against published vectors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/util/digest.h"

static void hex(const unsigned char *d, char out[2 * TG_DIGEST_LEN + 1])
{
    for (size_t i = 0; i < TG_DIGEST_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* FIPS 180-2 appendix B.1 and the empty string. */
static void test_sha256(void **state)
{
    unsigned char d[TG_DIGEST_LEN];
    char h[2 * TG_DIGEST_LEN + 1];

    (void)state;
    assert_int_equal(tg_digest_sha256_of("abc", 3, d), 0);
    hex(d, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223"
                           "b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(tg_digest_sha256_of("", 0, d), 0);
    hex(d, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb924"
                           "27ae41e4649b934ca495991b7852b855");
}

static void assert_hmac(const char *key, size_t key_len,
                        const void *const *parts, const size_t *lens,
                        size_t n, const char *want)
{
    unsigned char d[TG_DIGEST_LEN];
    char h[2 * TG_DIGEST_LEN + 1];

    assert_int_equal(tg_digest_hmac_sha256(key, key_len, parts, lens, n, d),
                     0);
    hex(d, h);
    assert_string_equal(h, want);
}

/* RFC 4231 test cases 2 and 6 (a key longer than the block), the message
 * given whole and in parts; and the empty key, which is still a key. */
static void test_hmac(void **state)
{
    static const struct {
        const char *key;
        size_t key_len;
        const char *msg;
        const char *want;
    } cases[] = {
        {"Jefe", 4, "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
         "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
         "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
         "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
         "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
         "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
         "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
         "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
         "\xaa\xaa\xaa\xaa\xaa\xaa\xaa",
         131, "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        /* python3 -c 'import hmac; print(hmac.new(b"", b"abc",
         * "sha256").hexdigest())' */
        {"", 0, "abc",
         "fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].msg), cut = n / 3;
        const void *whole[1] = {cases[i].msg};
        const size_t whole_len[1] = {n};
        const void *parts[3] = {cases[i].msg, "", cases[i].msg + cut};
        const size_t part_len[3] = {cut, 0, n - cut};

        assert_hmac(cases[i].key, cases[i].key_len, whole, whole_len, 1,
                    cases[i].want);
        assert_hmac(cases[i].key, cases[i].key_len, parts, part_len, 3,
                    cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hmac),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
