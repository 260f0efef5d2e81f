/* codec.c - the decoders the webhook checks share: hex digits, base64. */
#include "server/auth/codec.h"

#include <stdlib.h>

#include "validators/errors.h"

int tg_codec_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

int tg_codec_b64_decode(const char *s, size_t len, int url, unsigned char **out,
                        size_t *out_len)
{
    unsigned char *buf;
    unsigned acc = 0;
    size_t i, n = 0;
    int bits = 0;

    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return TG_EINVAL;
    buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        return TG_ENOMEM;
    for (i = 0; i < len; i++) {
        int v = b64val(s[i], url);
        if (v < 0) {
            free(buf);
            return TG_EINVAL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}
