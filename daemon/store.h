/* store.h - the durable event store on LMDB.
 *
 * Layout (see daemon/STORE.md): an append-only `log` keyed by a monotonic
 * sequence number, a `dedupe` index on (sender, event_id), a `dossier_idx`
 * giving each dossier's sequence numbers in order, a `dossier_state` record
 * per dossier and a `meta` record set holding the schema version and counters.
 *
 * Invariants: one writer at a time (the ingest loop); readers anywhere, also
 * in other processes (lienthongctl) while the daemon runs. Sequence numbers
 * start at 1 and are assigned only inside a transaction that commits, so the
 * committed log has no holes. Commits are durable (fsync) before
 * lt_store_txn_commit() returns: the store refuses to run without sync.
 *
 * Values returned from a transaction are copies (unpacked protobufs) owned by
 * the caller; nothing returned points into the map.
 */
#ifndef LT_STORE_H
#define LT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "lienthong/v1/lienthong.pb-c.h"

typedef Lienthong__V1__Event lt_event;
typedef Lienthong__V1__StoredEvent lt_stored_event;
typedef Lienthong__V1__DossierState lt_dossier_state;

/* 1: log, dedupe, dossier index and state. 2: adds the delivery databases
 * (outbox, delivery, dead, cursors, links) and a store id; a version 1 store
 * is upgraded in place when the daemon opens it. */
#define LT_STORE_SCHEMA_VERSION 2

/* The key-value databases that modules above the store lay out themselves
 * (daemon/outbox.c, daemon/stream.c); layouts in daemon/STORE.md. */
typedef enum lt_store_db {
    LT_STORE_DB_OUTBOX,   /* pending deliveries: agency \0 BE64(seq) -> dossier code */
    LT_STORE_DB_DELIVERY, /* every delivery: BE64(seq) agency -> Delivery */
    LT_STORE_DB_DEAD,     /* dead letters: agency \0 dossier \0 BE64(seq) -> "" */
    LT_STORE_DB_CURSORS,  /* stream consumers: name -> Cursor */
    LT_STORE_DB_LINKS,    /* agency -> LinkState (paused) */
    LT_STORE_DB_COUNT
} lt_store_db;

typedef struct lt_store lt_store;
typedef struct lt_store_txn lt_store_txn;

typedef struct lt_store_opts {
    const char *dir;      /* existing or creatable directory */
    uint64_t map_size;    /* bytes; 0 keeps the size recorded in the file */
    unsigned max_readers; /* 0 for LMDB's default */
    bool read_only;       /* open for reading only (CLI); never creates */
    unsigned flags;       /* LT_CONFIG_STORE_* (config.h) */
} lt_store_opts;

typedef struct lt_store_stats {
    uint64_t last_seq;      /* highest committed sequence number, 0 if empty */
    uint64_t events;        /* entries in the log */
    uint64_t status_events; /* events carrying a dossier status */
    uint64_t result_events; /* events carrying a result */
    uint64_t dossiers;      /* distinct dossier codes */
    uint64_t by_status[11]; /* dossiers whose current status is i (1..10) */
    uint64_t map_size;      /* bytes reserved for the map */
    uint64_t map_used;      /* bytes of the map in use (last page * page size) */
    uint64_t file_size;     /* bytes of data.mdb on disk */
    unsigned readers_used;  /* reader slots in use */
    unsigned max_readers;
} lt_store_stats;

/* Open (and in write mode create) the store in opts->dir. Checks the schema
 * version (LT_ERR_SCHEMA with the found version in reterr when unsupported),
 * clears stale reader slots left by dead processes.
 * [out] ret: caller closes with lt_store_close().
 * [out] ret_stale: number of stale readers cleared (may be NULL).
 * Returns 0, -errno, LT_ERR_SCHEMA or LT_ERR_STORE. */
int lt_store_open(const lt_store_opts *opts, lt_store **ret, int *ret_stale, lt_diag *reterr);

/* Close and null the caller's pointer. No transaction may be open. Accepts NULL. */
void lt_store_close(lt_store **p);

/* Highest committed sequence number (0 when empty). Writer's view. */
uint64_t lt_store_last_seq(const lt_store *s);

/* How much of the map is in use (last page × page size), in tenths of a
 * percent (0..1000), and [out] ret_used, ret_size in bytes (may be NULL).
 * Cheap: no transaction, no I/O. */
unsigned lt_store_fill(lt_store *s, uint64_t *ret_used, uint64_t *ret_size);

/* Fill *ret with counts and sizes (reads in its own read transaction). */
int lt_store_stats_get(lt_store *s, lt_store_stats *ret);

/* Begin a transaction. A write transaction is exclusive; commit or abort it.
 * careful: each append runs in a nested transaction, so one that does not fit
 * (LT_ERR_STORE_FULL) is undone alone and the batch goes on. Without it an
 * append that hits a full map poisons the transaction: abort and retry the
 * batch with careful set. Ignored for read transactions.
 * [out] ret: caller ends it with lt_store_txn_commit() or lt_store_txn_abort(). */
int lt_store_txn_begin(lt_store *s, bool write, bool careful, lt_store_txn **ret);

/* Commit durably (write) or end (read); frees the txn and nulls *p.
 * A failed write commit returns LT_ERR_STORE/LT_ERR_PANIC/LT_ERR_STORE_FULL:
 * nothing of the batch is stored and, apart from STORE_FULL, the caller must
 * treat the store as unusable (exit and let a restart recover). */
int lt_store_txn_commit(lt_store_txn **p);

/* Abort; frees the txn and nulls *p. Accepts NULL and *p == NULL. */
void lt_store_txn_abort(lt_store_txn **p);

/* For a plain (not careful) write transaction: look up (sender, event_id)
 * and, when absent, put its dedupe entry at once, with the seq the next
 * append in t will take: one B-tree descent instead of a lookup and a put.
 * The next lt_store_append in t must be this event's (it does not put the
 * entry again), or lt_store_unclaim_event must undo the claim.
 * Returns 0 (claimed), 1 with *ret_seq when the event is already stored,
 * -E2BIG when the key is too long for the store, or LT_ERR_STORE_FULL /
 * another error, after which LMDB refuses every further write in t (abort
 * it). */
int lt_store_claim_event(lt_store_txn *t, const char *sender, const char *event_id,
                         uint64_t *ret_seq);

/* Remove the entry put by the last lt_store_claim_event (the event was
 * rejected after all). Returns 0 or an error as lt_store_claim_event. */
int lt_store_unclaim_event(lt_store_txn *t);

/* Look up (sender, event_id) in the dedupe index.
 * Returns 0 and *ret_seq when present, LT_ERR_NOT_FOUND when not. */
int lt_store_find_event(lt_store_txn *t, const char *sender, const char *event_id,
                        uint64_t *ret_seq);

/* Read a dossier's state. [out] ret: caller frees with
 * lienthong__v1__dossier_state__free_unpacked(*ret, NULL).
 * Returns 0, LT_ERR_NOT_FOUND or LT_ERR_STORE. */
int lt_store_get_state(lt_store_txn *t, const char *dossier_code, lt_dossier_state **ret);

/* Sequence number the next successful lt_store_append() in t will assign. */
uint64_t lt_store_next_seq(const lt_store_txn *t);

/* Append one validated event: log entry, dedupe key, dossier index entry and
 * the dossier's new state. Borrows every argument. prev is the dossier's state
 * before the event (NULL for a new dossier), used for the status counters.
 * [out] ret_seq: the event's sequence number (== lt_store_next_seq() before).
 * Returns 0; LT_ERR_STORE_FULL (see careful above); -E2BIG when a key is
 * longer than LMDB can hold and -EINVAL for an empty dossier code, both
 * checked before anything is written; LT_ERR_PANIC or LT_ERR_STORE. */
int lt_store_append(lt_store_txn *t, const char *sender, int64_t accepted_at_ms, const lt_event *ev,
                    const lt_dossier_state *prev, const lt_dossier_state *state, uint64_t *ret_seq);

/* The same, storing raw (raw_len bytes: ev exactly as received, already
 * decoded into ev and free of unknown fields) instead of encoding ev again.
 * raw NULL: like lt_store_append(). */
int lt_store_append_raw(lt_store_txn *t, const char *sender, int64_t accepted_at_ms,
                        const lt_event *ev, const uint8_t *raw, size_t raw_len,
                        const lt_dossier_state *prev, const lt_dossier_state *state,
                        uint64_t *ret_seq);

/* Read one log entry. [out] ret: caller frees with
 * lienthong__v1__stored_event__free_unpacked(*ret, NULL). */
int lt_store_get_event(lt_store_txn *t, uint64_t seq, lt_stored_event **ret);

/* Call fn for each log entry with seq >= from, in order, at most limit
 * entries (0 = no limit). fn borrows ev for the call; a non-zero return from
 * fn stops the walk and is returned. */
typedef int (*lt_store_event_fn)(uint64_t seq, const lt_stored_event *ev, void *arg);
int lt_store_walk_log(lt_store_txn *t, uint64_t from, uint64_t limit, lt_store_event_fn fn,
                      void *arg);

/* Call fn for each event of a dossier, oldest first (one range scan). */
int lt_store_walk_dossier(lt_store_txn *t, const char *dossier_code, lt_store_event_fn fn,
                          void *arg);

/* Call fn for each dossier's state, in dossier code order. fn borrows code
 * (code_len bytes, not NUL-terminated) and st for the call; a non-zero return
 * stops the walk and is returned. LT_ERR_STORE for a state that does not
 * decode. */
typedef int (*lt_store_state_fn)(const char *code, size_t code_len, const lt_dossier_state *st,
                                 void *arg);
int lt_store_walk_states(lt_store_txn *t, lt_store_state_fn fn, void *arg);

/* The store's random id (16 hex digits), fixed at creation; "" for a
 * version 1 store opened read-only. Valid while the store is open. */
const char *lt_store_id(const lt_store *s);

/* The schema version this open upgraded from (0 when none). */
uint64_t lt_store_upgraded_from(const lt_store *s);

/* True for a write transaction begun with careful set. */
bool lt_store_txn_careful(const lt_store_txn *t);

/* Savepoints: writes after lt_store_savepoint() can be undone alone with
 * lt_store_rollback() (an LMDB nested transaction), or kept with
 * lt_store_release(). They nest up to LT_STORE_SAVEPOINTS deep (a delivery
 * outcome's savepoint holds the result event's); write transactions only. A caller in
 * careful mode wraps each event's writes (append, outbox) in one, so an
 * event that does not fit is dropped whole and the batch goes on.
 * Returns 0, -EINVAL (too deep, none open, or read-only), LT_ERR_STORE_FULL,
 * LT_ERR_STORE. */
#define LT_STORE_SAVEPOINTS 4
int lt_store_savepoint(lt_store_txn *t);
int lt_store_release(lt_store_txn *t);
void lt_store_rollback(lt_store_txn *t);

/* Key-value access to db. Keys are at most 511 bytes (-E2BIG beyond).
 * lt_store_kv_get: [out] ret (may be NULL): a malloc'd copy, caller frees;
 * [out] ret_len (may be NULL). Returns 0 or LT_ERR_NOT_FOUND.
 * lt_store_kv_put/del: write transactions only (-EROFS); del returns
 * LT_ERR_NOT_FOUND when the key is absent. */
int lt_store_kv_get(lt_store_txn *t, lt_store_db db, const void *key, size_t klen, void **ret,
                    size_t *ret_len);
int lt_store_kv_put(lt_store_txn *t, lt_store_db db, const void *key, size_t klen, const void *val,
                    size_t vlen);
int lt_store_kv_del(lt_store_txn *t, lt_store_db db, const void *key, size_t klen);

/* Call fn for each key of db starting with prefix, in key order, beginning at
 * start (a key with that prefix; NULL for the first). fn borrows key and
 * value for the call and must not write to db; a non-zero return stops the
 * walk and is returned. A database this store lacks walks empty. */
typedef int (*lt_store_kv_fn)(const void *key, size_t klen, const void *val, size_t vlen,
                              void *arg);
int lt_store_kv_walk(lt_store_txn *t, lt_store_db db, const void *prefix, size_t plen,
                     const void *start, size_t slen, lt_store_kv_fn fn, void *arg);

#endif
