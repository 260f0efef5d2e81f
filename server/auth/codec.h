/* codec.h - the decoders the webhook checks share: hex digits, base64. */
#ifndef TG_CODEC_H
#define TG_CODEC_H

#include <stddef.h>

/* The value 0-15 of one hex digit (either case), or -1. */
int tg_codec_hexval(char c);

/*
 * Decodes the len bytes at s as base64 (url: the URL-safe alphabet),
 * trailing '=' optional. *out is NUL-terminated for JSON parsing; caller
 * frees. Returns 0, TG_EINVAL or TG_ENOMEM.
 */
int tg_codec_b64_decode(const char *s, size_t len, int url, unsigned char **out,
                        size_t *out_len);

#endif
