/* cfgref.h - a loaded configuration shared by reference count. */
#ifndef TG_CFGREF_H
#define TG_CFGREF_H

#include "server/config/config.h"

/*
 * A configuration in force. Requests take a reference for their whole life,
 * so a SIGHUP reload can put a new one in force at any moment: the old one
 * is freed when its last request drops it. Thread-safe.
 */
struct tg_cfgref;

/* Wraps c (ownership passes to the holder, also on failure) with one
 * reference. Returns NULL on ENOMEM. */
struct tg_cfgref *tg_cfgref_new(struct tg_config *c);
/* Takes one more reference; returns r. */
struct tg_cfgref *tg_cfgref_get(struct tg_cfgref *r);
/* Drops one reference; the last frees the configuration. NULL is a no-op. */
void tg_cfgref_put(struct tg_cfgref *r);
/* The configuration, valid while the caller holds a reference. */
const struct tg_config *tg_cfgref_config(const struct tg_cfgref *r);

#endif
