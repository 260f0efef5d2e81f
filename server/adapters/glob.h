/* glob.h - case-insensitive glob matching for gates. */
#ifndef TG_GLOB_H
#define TG_GLOB_H

/* fnmatch(3) of s against pat ignoring ASCII case, without the GNU-only
 * FNM_CASEFOLD. Returns 1 on a match, 0 when not, TG_ENOMEM (so that a lack
 * of memory is never taken for "no gate", which would be a skip). */
int tg_glob_ci(const char *pat, const char *s);

#endif
