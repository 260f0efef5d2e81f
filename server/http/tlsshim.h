/* tlsshim.h - makes Debian's CivetWeb 1.15 able to load OpenSSL 3. */
#ifndef TG_TLSSHIM_H
#define TG_TLSSHIM_H

#include <stddef.h>

/*
 * Loads the two shim libraries built beside the ticketgate binary
 * (libtg-ssl-shim.so, libtg-crypto-shim.so; see server/tls/) with
 * RTLD_GLOBAL, so that CivetWeb's later dlopen("libssl.so") and
 * dlopen("libcrypto.so") find them by SONAME. Call before
 * mg_init_library(MG_FEATURES_SSL). Looks in the binary's directory, then
 * in ../lib/ticketgate/ beside it. Idempotent. Returns 0, or TG_EIO with a
 * sentence in err (cap bytes) when a shim cannot be loaded.
 */
int tg_tlsshim_load(char *err, size_t cap);

#endif
