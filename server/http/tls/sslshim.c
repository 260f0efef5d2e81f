/* sslshim.c - libssl under the name Debian's CivetWeb 1.15 loads it by.
 *
 * CivetWeb 1.15 as packaged by Debian loads OpenSSL at run time with
 * dlopen("libssl.so") and looks up SSL_get_peer_certificate, a name
 * OpenSSL 3 keeps only as a macro for SSL_get1_peer_certificate (same
 * contract: the caller owns a reference). This library's SONAME is
 * "libssl.so" and it depends on the real libssl.so.3, so once ticketgate
 * has loaded it, CivetWeb's dlopen finds it by SONAME, and its symbol
 * lookups reach libssl.so.3 through the dependency, plus the one name
 * defined here. See server/tlsshim.c. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *s);

X509 *SSL_get_peer_certificate(const SSL *s)
{
    return SSL_get1_peer_certificate(s);
}
