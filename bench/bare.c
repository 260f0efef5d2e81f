/* bare.c - the benchmark's baseline: CivetWeb answering without any work. */

/*
 * A handler that only reads the body and answers a fixed JSON document, so
 * that http_bench.sh can tell the cost of ticketgate's work from the cost of
 * CivetWeb itself (same library, same request, and the connection options
 * ticketgate's server/http/http.c gives CivetWeb: one thread per open connection,
 * keep-alive with a 5 s idle timeout, TCP_NODELAY).
 *
 * Built by bench/http_bench.sh: cc -O2 bench/bare.c -lcivetweb
 * Usage: bare PORT [THREADS [KEEPALIVE_MS]]   (runs until SIGTERM or SIGINT)
 *   THREADS: CivetWeb threads (default 128, ticketgate's server.connections)
 *   KEEPALIVE_MS: idle timeout; 0 turns keep-alive off (default 5000)
 */
#include <civetweb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int handle(struct mg_connection *conn, void *cbdata)
{
    static const char doc[] = "{\"decision\":\"allow\"}";
    char buf[16384], clen[24];
    int n;

    (void)cbdata;
    /* Read the whole body as ticketgate does, then drop it. */
    while ((n = mg_read(conn, buf, sizeof(buf))) > 0)
        ;
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", "application/json", -1);
    snprintf(clen, sizeof(clen), "%zu", sizeof(doc) - 1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_send(conn);
    mg_write(conn, doc, sizeof(doc) - 1);
    return 200;
}

int main(int argc, char **argv)
{
    char ports[64];
    const char *ka = argc > 3 ? argv[3] : "5000";
    const char *opts[] = {"listening_ports", ports,
                          "num_threads", argc > 2 ? argv[2] : "128",
                          "enable_keep_alive", strcmp(ka, "0") ? "yes" : "no",
                          "keep_alive_timeout_ms", ka,
                          "tcp_nodelay", "1",
                          NULL};
    struct mg_context *ctx;

    if (argc < 2) {
        fprintf(stderr, "usage: bare PORT [THREADS [KEEPALIVE_MS]]\n");
        return 2;
    }
    if (snprintf(ports, sizeof(ports), "127.0.0.1:%s", argv[1]) >=
        (int)sizeof(ports))
        return 2;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    mg_init_library(0);
    ctx = mg_start(NULL, NULL, opts);
    if (!ctx) {
        fprintf(stderr, "bare: cannot listen on %s\n", ports);
        return 1;
    }
    mg_set_request_handler(ctx, "/", handle, NULL);
    while (!stop)
        pause();
    mg_stop(ctx);
    mg_exit_library();
    return 0;
}
