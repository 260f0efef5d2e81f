/* sort.h - a stable merge sort with the comparison inlined, for the outcomes' large arrays. */
#ifndef TG_OUTCOMES_SORT_H
#define TG_OUTCOMES_SORT_H

#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

/* Elements sorted by insertion before the merges begin. */
#define TG_OC_SORT_RUN 16

/*
 * TG_OC_SORT(name, type, less) defines
 *     static int name(type *v, size_t n)
 * which sorts v[0..n) stably by less(const type *a, const type *b) (a
 * strictly before b), and returns 0 or TG_ENOMEM (v untouched then).
 *
 * Why not qsort: linking and the figures sort arrays of a million
 * windows, accesses, approvals and lags after the parse, on one thread
 * while the other core idles; glibc's merge sort calls the comparison
 * through a pointer and copies elements byte-generically, and was 1.6 s
 * of a 1M + 1M report's wall. A stable sort gives exactly glibc's order
 * (its qsort is the same stable merge sort for arrays that fit in memory),
 * so the report's text does not change.
 */
#define TG_OC_SORT(name, type, less)                                           \
    static int name(type *v, size_t n)                                         \
    {                                                                          \
        type *tmp = NULL, *a = v, *b;                                          \
        size_t w, i;                                                           \
                                                                               \
        if (n > TG_OC_SORT_RUN && !(tmp = malloc(n * sizeof *tmp)))            \
            return TG_ENOMEM;                                                  \
        for (i = 0; i < n; i += TG_OC_SORT_RUN) {                              \
            size_t end = n - i < TG_OC_SORT_RUN ? n : i + TG_OC_SORT_RUN;      \
            for (size_t j = i + 1; j < end; j++) {                             \
                type x = v[j];                                                 \
                size_t k = j;                                                  \
                for (; k > i && less(&x, &v[k - 1]); k--)                      \
                    v[k] = v[k - 1];                                           \
                v[k] = x;                                                      \
            }                                                                  \
        }                                                                      \
        if (!tmp)                                                              \
            return 0;                                                          \
        b = tmp;                                                               \
        for (w = TG_OC_SORT_RUN; w < n; w *= 2) {                              \
            type *t;                                                           \
            for (i = 0; i < n; i += 2 * w) {                                   \
                size_t m = n - i < w ? n : i + w;                              \
                size_t e = n - m < w ? n : m + w;                              \
                size_t p = i, q = m, o = i;                                    \
                /* the left run's element first on ties: stable */             \
                while (p < m && q < e)                                         \
                    b[o++] = less(&a[q], &a[p]) ? a[q++] : a[p++];             \
                while (p < m)                                                  \
                    b[o++] = a[p++];                                           \
                while (q < e)                                                  \
                    b[o++] = a[q++];                                           \
            }                                                                  \
            t = a;                                                             \
            a = b;                                                             \
            b = t;                                                             \
        }                                                                      \
        if (a != v)                                                            \
            memcpy(v, a, n * sizeof *v);                                       \
        free(tmp);                                                             \
        return 0;                                                              \
    }

#endif
