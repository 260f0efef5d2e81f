/* tlsshim.c - loads the OpenSSL 3 shims for Debian's CivetWeb (tls/). */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "validators/errors.h"
#include "server/http/tlsshim.h"

static const char *const shims[] = {"libtg-crypto-shim.so",
                                    "libtg-ssl-shim.so"};

/* Opens name from the binary's directory or ../lib/ticketgate/. */
static void *open_beside_binary(const char *name)
{
    static const char *const rel[] = {"", "../lib/ticketgate/"};
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    slash[1] = '\0';
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        void *h;
        int w = snprintf(path, sizeof(path), "%s%s%s", exe, rel[i], name);
        if (w < 0 || (size_t)w >= sizeof(path))
            continue;
        h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        if (h)
            return h;
    }
    return NULL;
}

int tg_tlsshim_load(char *err, size_t cap)
{
    /* The handles stay open for the life of the process: CivetWeb keeps
     * using the libraries they stand for. */
    for (size_t i = 0; i < sizeof(shims) / sizeof(shims[0]); i++) {
        if (!open_beside_binary(shims[i])) {
            snprintf(err, cap, "%s was not found beside the ticketgate "
                               "binary; TLS needs it (see README, TLS)",
                     shims[i]);
            return TG_EIO;
        }
    }
    return TG_OK;
}
