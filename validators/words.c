/* words.c - splitting free text into the words of REASONS.md. */
#include "validators/words.h"

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c >= 0x80;
}

int tg_words_next(const char *s, size_t len, size_t *pos, size_t *start,
                  size_t *wlen)
{
    size_t i = *pos;
    while (i < len && !is_word_byte((unsigned char)s[i]))
        i++;
    if (i >= len) {
        *pos = len;
        return 0;
    }
    *start = i;
    while (i < len && is_word_byte((unsigned char)s[i]))
        i++;
    *wlen = i - *start;
    *pos = i;
    return 1;
}

size_t tg_words_chars(const char *w, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)w[i] & 0xC0) != 0x80)
            n++;
    return n;
}

void tg_words_lower(const char *w, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (w[i] >= 'A' && w[i] <= 'Z') ? (char)(w[i] - 'A' + 'a')
                                               : w[i];
    out[len] = '\0';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

void tg_words_trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}
