/* loop.h - the daemon's one loop: every socket, one write transaction per
 * pass, replies only after its commit.
 *
 * Each pass: zmq_poll over the ingest socket, the signalfd, the agency links,
 * the stream and control sockets, with a timeout from the next due delivery;
 * then drain the ingest socket into a batch (under a backlog the next batch
 * is decoded on the ingest's admit thread meanwhile), read agency replies
 * and expire attempts, read subscriber and control requests; then write everything
 * staged (events with their outbox rows, delivery outcomes, results, cursor
 * moves, operator commands) in one LMDB transaction and commit it durably;
 * only then reply, send new deliveries and stream records. A pass holding
 * only new events (at most 128 of them while no delivery, stream or command
 * work made passes commit lately) is instead written to the journal
 * (journal.h) and acknowledged after its fdatasync: on the journal's sync
 * thread (syncer.h) while the loop goes on receiving and staging the next
 * pass, or on the loop's thread when nothing else waits. The transaction
 * stays open for the next passes and is committed once 1 ms passed with no
 * event in and no reply waiting for a flush, within store.journal_commit_ms
 * (5 ms once it holds a routed event), when the journal is full, or with
 * any other work. Deliveries of journaled events start after that commit.
 * A full map is retried event by event, then with fewer events; any other
 * commit or flush failure replies nothing and returns an error (the daemon
 * exits 3, a restart recovers). sd_notify READY, WATCHDOG (only while passes
 * complete), STATUS.
 */
#ifndef LT_LOOP_H
#define LT_LOOP_H

#include "config.h"
#include "control.h"
#include "delivery.h"
#include "ingest.h"
#include "journal.h"
#include "store.h"
#include "stream.h"

typedef struct lt_loop_parts {
    const lt_config *cfg;
    lt_store *store;
    lt_ingest *ingest;
    lt_delivery_engine *delivery;
    lt_stream *stream;
    lt_control *control;
    lt_journal *journal; /* NULL: every pass commits (store.journal_mb: 0) */
} lt_loop_parts;

/* Serve until SIGTERM or SIGINT arrives on sigfd. The batch in hand is
 * committed and answered before returning. Returns 0 on a clean stop, or a
 * negative error when the store failed (nothing of that pass was answered). */
int lt_loop_run(const lt_loop_parts *p, int sigfd);

#endif
