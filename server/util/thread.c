/* thread.c - naming the server's own threads. */

#include "server/util/thread.h"

#include <sys/prctl.h>

void tg_thread_name(const char *name)
{
    /* prctl, not pthread_setname_np: the build is POSIX, not GNU */
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
}
