/* thread.h - naming the server's own threads. */
#ifndef TG_THREAD_H
#define TG_THREAD_H

/* Names the calling thread (at most 15 bytes are kept), so that `top -H`,
 * /proc/PID/task/TID/comm and perf tell the store's writer from an HTTP
 * worker. Best effort: a failure changes nothing else. */
void tg_thread_name(const char *name);

#endif
