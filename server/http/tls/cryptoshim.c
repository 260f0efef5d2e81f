/* cryptoshim.c - libcrypto under the name Debian's CivetWeb 1.15 loads it
 * by ("libcrypto.so", which only exists where libssl-dev is installed).
 * Its SONAME is "libcrypto.so" and it depends on libcrypto.so.3; it defines
 * nothing itself. See sslshim.c and server/tlsshim.c. */
#include <openssl/crypto.h>

/* ISO C wants at least one declaration in a translation unit. */
int tg_cryptoshim_present(void);
int tg_cryptoshim_present(void)
{
    return 1;
}
