/* peers.h - the systems lienthongd is compared with, started on loopback in a
 * temp dir and driven by C clients of the same shape as bench_lt_client:
 *
 * - Redis: redis-server with appendonly yes, appendfsync always, no RDB
 *   saves. An XADD is acknowledged after the AOF write and fsync of the
 *   event-loop pass that carried it: an ack means fsynced.
 * - NATS JetStream: nats-server -js, file storage, one stream. NATS 2.9
 *   acknowledges a publish once the message is written to the file, before
 *   any fsync (it syncs every 2 minutes by default): an ack does not mean
 *   fsynced.
 *
 * Both clients send the same ~1 KB Submission bytes as lienthong's, event k's
 * local index in its first 8 bytes (the payload is opaque to both).
 */
#ifndef LT_BENCH_PEERS_H
#define LT_BENCH_PEERS_H

#include "bench.h"

typedef struct bench_server {
    const char *name; /* "redis" or "nats" */
    pid_t pid;
    int port;
    char dir[600], log[700], url[64];
} bench_server;

/* Start redis-server in dir (created) on a free port; returns once PING answers. */
void bench_redis_start(const char *dir, bench_server *s);

/* Start nats-server -js in dir (created) on a free port and create the stream
 * LT (subject lt.events, file storage); returns once the stream exists. */
void bench_nats_start(const char *dir, bench_server *s);

/* SIGTERM and wait (10 s, then SIGKILL). Accepts a server never started. */
void bench_server_stop(bench_server *s);

/* Client threads for bench_run.client_main; r->sys is the bench_server. */
void *bench_redis_client(void *client);
void *bench_nats_client(void *client);

/* Call once at exit after the last NATS client. */
void bench_nats_shutdown(void);

#endif
