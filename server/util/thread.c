/* thread.c - naming the server's own threads. */

#include "server/util/thread.h"

#include <sys/prctl.h>

void tg_thread_name(const char *name)
{
    /* prctl (Linux, as the server is): pthread_setname_np is declared
     * only with _GNU_SOURCE, which the build does not define */
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
}
