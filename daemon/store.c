/* store.c - the LMDB event store: log, dedupe, dossier index and state. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "config.h"

/* Names of the key-value databases of lt_store_db, in enum order. */
static const char *const kv_names[LT_STORE_DB_COUNT] = { "outbox", "delivery", "dead", "cursors",
                                                         "links" };

struct lt_store {
    MDB_env *env;
    MDB_dbi meta, log, dedupe, dossier_idx, dossier_state;
    MDB_dbi kv[LT_STORE_DB_COUNT];
    bool kv_present[LT_STORE_DB_COUNT]; /* false in a read-only open of a version 1 store */
    uint64_t schema_version, upgraded_from;
    char id[33];
    uint64_t last_seq; /* writer's view: highest committed sequence */
    char *dir;
};

/* Counter deltas applied at commit, saved and restored by savepoints. */
typedef struct txn_deltas {
    uint64_t next_seq;
    int64_t d_status, d_result;
    int64_t d_by_status[11];
} txn_deltas;

struct lt_store_txn {
    lt_store *s;
    MDB_txn *txn;                         /* the current (innermost) transaction */
    MDB_txn *parent[LT_STORE_SAVEPOINTS]; /* outer transactions of open savepoints */
    txn_deltas saved[LT_STORE_SAVEPOINTS];
    int depth; /* open savepoints */
    bool write, careful;
    txn_deltas d;
    /* lt_store_claim_event: the dedupe entry already put for seq claim_seq */
    bool claimed;
    uint64_t claim_seq;
    char claim_key[512];
    size_t claim_len;
};

/* Translate an LMDB return code into the project's error scheme. */
static int map_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return LT_ERR_NOT_FOUND;
    case MDB_MAP_FULL:
        return LT_ERR_STORE_FULL;
    case MDB_PANIC:
        return LT_ERR_PANIC;
    case MDB_BAD_VALSIZE:
        return -E2BIG;
    default:
        return rc > 0 ? -rc : LT_ERR_STORE; /* positive rc is an errno */
    }
}

/* Encode v big-endian so that byte order equals numeric order. */
static void be64(uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint64_t unbe64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

/* Read a decimal meta value; 0 when absent. */
static int meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *ret)
{
    MDB_val k = { strlen(key), (void *)key }, v;
    char buf[32];
    int rc = mdb_get(txn, dbi, &k, &v);

    *ret = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return map_err(rc);
    if (v.mv_size == 0 || v.mv_size >= sizeof(buf))
        return LT_ERR_STORE;
    memcpy(buf, v.mv_data, v.mv_size);
    buf[v.mv_size] = '\0';
    *ret = strtoull(buf, NULL, 10);
    return 0;
}

/* Write a decimal meta value (readable with mdb_dump -p). */
static int meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val)
{
    char buf[32];
    MDB_val k = { strlen(key), (void *)key };
    MDB_val v = { (size_t)snprintf(buf, sizeof(buf), "%" PRIu64, val), buf };

    return map_err(mdb_put(txn, dbi, &k, &v, 0));
}

/* Read the store's id from meta into s->id ("" when it has none yet). */
static int store_id_read(lt_store *s, MDB_txn *txn)
{
    MDB_val k = { 8, "store_id" }, v;
    int rc = mdb_get(txn, s->meta, &k, &v);

    s->id[0] = '\0';
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return map_err(rc);
    if (v.mv_size == 0 || v.mv_size >= sizeof(s->id))
        return LT_ERR_STORE;
    memcpy(s->id, v.mv_data, v.mv_size);
    s->id[v.mv_size] = '\0';
    return 0;
}

/* Give a store without one a random id: part of every idempotency key, so a
 * new store's sequence numbers never collide with an old one's at an agency. */
static int store_id_init(lt_store *s, MDB_txn *txn)
{
    uint8_t rnd[8];
    MDB_val k = { 8, "store_id" }, v;
    int r;

    if ((r = store_id_read(s, txn)) < 0)
        return MDB_CORRUPTED;
    if (s->id[0])
        return 0;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return errno ? errno : EIO;
    for (int i = 0; i < 8; i++)
        snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
    v.mv_size = 16;
    v.mv_data = s->id;
    return mdb_put(txn, s->meta, &k, &v, 0);
}

/* Open the named databases; create them and the schema record in write mode. */
static int open_dbis(lt_store *s, bool write, lt_diag *reterr)
{
    MDB_txn *txn = NULL;
    unsigned c = write ? MDB_CREATE : 0;
    uint64_t version, last = 0;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;

    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
    if (rc)
        goto out;
    if ((rc = mdb_dbi_open(txn, "meta", c, &s->meta)) ||
        (rc = mdb_dbi_open(txn, "log", c, &s->log)) ||
        (rc = mdb_dbi_open(txn, "dedupe", c, &s->dedupe)) ||
        (rc = mdb_dbi_open(txn, "dossier_idx", c | MDB_DUPSORT | MDB_DUPFIXED, &s->dossier_idx)) ||
        (rc = mdb_dbi_open(txn, "dossier_state", c, &s->dossier_state)))
        goto out;
    for (int i = 0; i < LT_STORE_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, kv_names[i], c, &s->kv[i]);
        if (rc == MDB_NOTFOUND && !write)
            continue; /* a version 1 store read by a newer lienthongctl */
        if (rc)
            goto out;
        s->kv_present[i] = true;
    }
    if ((rc = mdb_cursor_open(txn, s->log, &cur)))
        goto out;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8)
        last = unbe64(k.mv_data);
    else if (rc != MDB_NOTFOUND)
        goto out;
    mdb_cursor_close(cur);
    cur = NULL;
    if (meta_get(txn, s->meta, "schema_version", &version) < 0) {
        rc = MDB_CORRUPTED;
        goto out;
    }
    if (version == 0 && last == 0 && write)
        version = LT_STORE_SCHEMA_VERSION; /* a new store */
    if (version < 1 || version > LT_STORE_SCHEMA_VERSION) {
        mdb_txn_abort(txn);
        return lt_diag_set(reterr, LT_ERR_SCHEMA, 0, "",
                           "%s: store schema version %" PRIu64
                           " is not supported (this build reads versions 1 to %d)",
                           s->dir, version, LT_STORE_SCHEMA_VERSION);
    }
    if (version < LT_STORE_SCHEMA_VERSION && write)
        s->upgraded_from = version; /* 1 -> 2: the delivery databases were created above */
    if (write && (rc = store_id_init(s, txn)))
        goto out;
    if (write && meta_put(txn, s->meta, "schema_version", LT_STORE_SCHEMA_VERSION) < 0) {
        rc = MDB_CORRUPTED;
        goto out;
    }
    s->schema_version = write ? LT_STORE_SCHEMA_VERSION : version;
    if (!write && store_id_read(s, txn) < 0) {
        rc = MDB_CORRUPTED;
        goto out;
    }
    s->last_seq = last;
    rc = mdb_txn_commit(txn); /* also for read-only: keeps the dbi handles */
    txn = NULL;
out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND && !write)
        return lt_diag_set(reterr, -ENOENT, 0, "", "%s: no lienthong store here yet", s->dir);
    if (rc)
        return lt_diag_set(reterr, map_err(rc), 0, "", "%s: %s", s->dir, mdb_strerror(rc));
    return 0;
}

int lt_store_open(const lt_store_opts *o, lt_store **ret, int *ret_stale, lt_diag *reterr)
{
    lt_store *s;
    unsigned flags = MDB_NOTLS;
    int rc, dead = 0;

    s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(o->dir))) {
        free(s);
        return lt_diag_set(reterr, -ENOMEM, 0, "", "out of memory");
    }
    if (!o->read_only && mkdir(o->dir, 0750) < 0 && errno != EEXIST) {
        rc = lt_diag_set(reterr, -errno, 0, "", "%s: cannot create: %s", o->dir, strerror(errno));
        goto fail;
    }
    if (o->read_only)
        flags |= MDB_RDONLY;
    if (o->flags & LT_CONFIG_STORE_NORDAHEAD)
        flags |= MDB_NORDAHEAD;
    if (o->flags & LT_CONFIG_STORE_WRITEMAP)
        flags |= MDB_WRITEMAP;
    if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 16)) ||
        (o->map_size && (rc = mdb_env_set_mapsize(s->env, o->map_size))) ||
        (o->max_readers && (rc = mdb_env_set_maxreaders(s->env, o->max_readers))) ||
        (rc = mdb_env_open(s->env, o->dir, flags, 0640))) {
        if (rc == ENOENT && o->read_only)
            rc = lt_diag_set(reterr, -ENOENT, 0, "", "%s: no lienthong store here yet", o->dir);
        else
            rc = lt_diag_set(reterr, map_err(rc), 0, "", "%s: cannot open store: %s", o->dir,
                             mdb_strerror(rc));
        goto fail;
    }
    if ((rc = mdb_reader_check(s->env, &dead))) {
        rc = lt_diag_set(reterr, map_err(rc), 0, "", "%s: reader check: %s", o->dir,
                         mdb_strerror(rc));
        goto fail;
    }
    if ((rc = open_dbis(s, !o->read_only, reterr)) < 0)
        goto fail;
    if (ret_stale)
        *ret_stale = dead;
    *ret = s;
    return 0;
fail:
    lt_store_close(&s);
    return rc;
}

void lt_store_close(lt_store **p)
{
    if (!p || !*p)
        return;
    if ((*p)->env)
        mdb_env_close((*p)->env);
    free((*p)->dir);
    free(*p);
    *p = NULL;
}

uint64_t lt_store_last_seq(const lt_store *s)
{
    return s->last_seq;
}

unsigned lt_store_fill(lt_store *s, uint64_t *ret_used, uint64_t *ret_size)
{
    MDB_envinfo info;
    MDB_stat ms;

    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &ms);
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize, size = info.me_mapsize;
    if (ret_used)
        *ret_used = used;
    if (ret_size)
        *ret_size = size;
    return size ? (unsigned)(used * 1000 / size) : 0;
}

int lt_store_txn_begin(lt_store *s, bool write, bool careful, lt_store_txn **ret)
{
    lt_store_txn *t = calloc(1, sizeof(*t));
    int rc;

    if (!t)
        return -ENOMEM;
    t->s = s;
    t->write = write;
    t->careful = write && careful;
    t->d.next_seq = s->last_seq + 1;
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc) {
        free(t);
        return map_err(rc);
    }
    *ret = t;
    return 0;
}

/* Add d to the decimal counter at key. */
static int counter_add(lt_store_txn *t, const char *key, int64_t d)
{
    uint64_t v;
    int r;

    if (d == 0)
        return 0;
    if ((r = meta_get(t->txn, t->s->meta, key, &v)) < 0)
        return r;
    return meta_put(t->txn, t->s->meta, key, (uint64_t)((int64_t)v + d));
}

/* Fold the batch's counter deltas into meta before commit. */
static int flush_counters(lt_store_txn *t)
{
    char key[32];
    int r = 0;

    if ((r = counter_add(t, "count.status", t->d.d_status)) < 0 ||
        (r = counter_add(t, "count.result", t->d.d_result)) < 0)
        return r;
    for (int i = 1; i <= 10 && r == 0; i++) {
        snprintf(key, sizeof(key), "dossiers.status.%d", i);
        r = counter_add(t, key, t->d.d_by_status[i]);
    }
    return r;
}

int lt_store_txn_commit(lt_store_txn **p)
{
    lt_store_txn *t = *p;
    int r = 0, rc;

    *p = NULL;
    while (t->depth > 0) { /* open savepoints are kept: fold them in first */
        if ((rc = mdb_txn_commit(t->txn))) {
            while (t->depth > 1)
                mdb_txn_abort(t->parent[--t->depth]);
            mdb_txn_abort(t->parent[0]);
            free(t);
            return map_err(rc);
        }
        t->txn = t->parent[--t->depth];
    }
    if (t->write && (r = flush_counters(t)) < 0) {
        mdb_txn_abort(t->txn);
        free(t);
        return r;
    }
    rc = mdb_txn_commit(t->txn);
    if (rc == 0 && t->write)
        t->s->last_seq = t->d.next_seq - 1;
    free(t);
    return map_err(rc);
}

void lt_store_txn_abort(lt_store_txn **p)
{
    if (!p || !*p)
        return;
    while ((*p)->depth > 0) {
        mdb_txn_abort((*p)->txn);
        (*p)->txn = (*p)->parent[--(*p)->depth];
    }
    mdb_txn_abort((*p)->txn);
    free(*p);
    *p = NULL;
}

uint64_t lt_store_next_seq(const lt_store_txn *t)
{
    return t->d.next_seq;
}

/* Build the dedupe key "sender\0event_id" into buf. Returns its length or -E2BIG. */
static int dedupe_key(const char *sender, const char *event_id, char *buf, size_t size)
{
    size_t a = strlen(sender), b = strlen(event_id);

    if (a + 1 + b > size)
        return -E2BIG;
    memcpy(buf, sender, a + 1);
    memcpy(buf + a + 1, event_id, b);
    return (int)(a + 1 + b);
}

int lt_store_find_event(lt_store_txn *t, const char *sender, const char *event_id,
                        uint64_t *ret_seq)
{
    char kb[512];
    int n = dedupe_key(sender, event_id, kb, sizeof(kb));
    MDB_val k, v;
    int rc;

    if (n < 0)
        return LT_ERR_NOT_FOUND; /* too long to have been stored */
    k.mv_size = (size_t)n;
    k.mv_data = kb;
    rc = mdb_get(t->txn, t->s->dedupe, &k, &v);
    if (rc)
        return map_err(rc);
    if (v.mv_size != 8)
        return LT_ERR_STORE;
    *ret_seq = unbe64(v.mv_data);
    return 0;
}

int lt_store_claim_event(lt_store_txn *t, const char *sender, const char *event_id,
                         uint64_t *ret_seq)
{
    int n = dedupe_key(sender, event_id, t->claim_key, sizeof(t->claim_key));
    if (n < 0)
        return n; /* too long for a key: the append would fail the same way */
    uint8_t seqb[8];
    MDB_val k = { (size_t)n, t->claim_key }, v = { 8, seqb };
    be64(t->d.next_seq, seqb);
    int rc = mdb_put(t->txn, t->s->dedupe, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) { /* v is the stored entry */
        if (v.mv_size != 8)
            return LT_ERR_STORE;
        *ret_seq = unbe64(v.mv_data);
        return 1;
    }
    if (rc)
        return map_err(rc);
    t->claimed = true;
    t->claim_seq = t->d.next_seq;
    t->claim_len = (size_t)n;
    return 0;
}

int lt_store_unclaim_event(lt_store_txn *t)
{
    if (!t->claimed)
        return 0;
    t->claimed = false;
    MDB_val k = { t->claim_len, t->claim_key };
    return map_err(mdb_del(t->txn, t->s->dedupe, &k, NULL));
}

int lt_store_get_state(lt_store_txn *t, const char *dossier_code, lt_dossier_state **ret)
{
    MDB_val k = { strlen(dossier_code), (void *)dossier_code }, v;
    lt_dossier_state *st;
    int rc;

    if (k.mv_size == 0 || k.mv_size > (size_t)mdb_env_get_maxkeysize(t->s->env))
        return LT_ERR_NOT_FOUND;
    rc = mdb_get(t->txn, t->s->dossier_state, &k, &v);
    if (rc)
        return map_err(rc);
    st = lienthong__v1__dossier_state__unpack(NULL, v.mv_size, v.mv_data);
    if (!st)
        return LT_ERR_STORE;
    *ret = st;
    return 0;
}

/* Append v as a varint to out; returns bytes written (at most 10). */
static size_t put_varint(uint64_t v, uint8_t *out)
{
    size_t n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            out[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

/* The StoredEvent value: packed from se, or, when raw is given, spliced from
 * the Event bytes as received (fields 1 sender, 2 accepted_at_ms, 3 event):
 * the same message without encoding the event a second time. */
static int put_log_value(lt_store_txn *t, MDB_txn *txn, const lt_stored_event *se,
                         const uint8_t *raw, size_t raw_len, MDB_val *k)
{
    MDB_val v;
    int rc;
    if (!raw) {
        v.mv_size = lienthong__v1__stored_event__get_packed_size(se);
        if ((rc = mdb_put(txn, t->s->log, k, &v, MDB_APPEND | MDB_RESERVE)))
            return rc;
        lienthong__v1__stored_event__pack(se, v.mv_data);
        return 0;
    }
    uint8_t head[64];
    size_t slen = strlen(se->sender), n = 0;
    if (slen > 1024)
        return MDB_BAD_VALSIZE;
    uint8_t pre[24];
    size_t pn = 0;
    pre[pn++] = 0x0a; /* field 1, length-delimited */
    pn += put_varint(slen, pre + pn);
    n = 0;
    head[n++] = 0x10; /* field 2, varint */
    n += put_varint((uint64_t)se->accepted_at_ms, head + n);
    head[n++] = 0x1a; /* field 3, length-delimited */
    n += put_varint(raw_len, head + n);
    v.mv_size = pn + slen + n + raw_len;
    if ((rc = mdb_put(txn, t->s->log, k, &v, MDB_APPEND | MDB_RESERVE)))
        return rc;
    uint8_t *o = v.mv_data;
    memcpy(o, pre, pn);
    memcpy(o + pn, se->sender, slen);
    memcpy(o + pn + slen, head, n);
    memcpy(o + pn + slen + n, raw, raw_len);
    return 0;
}

/* The four puts of one append, on txn. */
static int append_puts(lt_store_txn *t, MDB_txn *txn, const lt_stored_event *se, const uint8_t *raw,
                       size_t raw_len, const lt_dossier_state *state, MDB_val *dk)
{
    lt_store *s = t->s;
    uint8_t seqb[8];
    MDB_val k = { 8, seqb }, v, ck = { strlen(se->event->dossier_code), se->event->dossier_code };
    int rc;

    be64(t->d.next_seq, seqb);
    if ((rc = put_log_value(t, txn, se, raw, raw_len, &k)))
        return rc;
    v.mv_size = 8;
    v.mv_data = seqb;
    if (t->claimed && t->claim_seq == t->d.next_seq)
        t->claimed = false; /* lt_store_claim_event put it */
    else if ((rc = mdb_put(txn, s->dedupe, dk, &v, MDB_NOOVERWRITE)))
        return rc;
    if ((rc = mdb_put(txn, s->dossier_idx, &ck, &v, MDB_APPENDDUP)))
        return rc;
    v.mv_size = lienthong__v1__dossier_state__get_packed_size(state);
    if ((rc = mdb_put(txn, s->dossier_state, &ck, &v, MDB_RESERVE)))
        return rc;
    lienthong__v1__dossier_state__pack(state, v.mv_data);
    return 0;
}

int lt_store_append(lt_store_txn *t, const char *sender, int64_t accepted_at_ms, const lt_event *ev,
                    const lt_dossier_state *prev, const lt_dossier_state *state, uint64_t *ret_seq)
{
    return lt_store_append_raw(t, sender, accepted_at_ms, ev, NULL, 0, prev, state, ret_seq);
}

int lt_store_append_raw(lt_store_txn *t, const char *sender, int64_t accepted_at_ms,
                        const lt_event *ev, const uint8_t *raw, size_t raw_len,
                        const lt_dossier_state *prev, const lt_dossier_state *state,
                        uint64_t *ret_seq)
{
    lt_stored_event se = LIENTHONG__V1__STORED_EVENT__INIT;
    size_t maxkey = (size_t)mdb_env_get_maxkeysize(t->s->env);
    char kb[1024];
    int n = dedupe_key(sender, ev->event_id, kb, maxkey < sizeof(kb) ? maxkey : sizeof(kb));
    MDB_val dk;
    MDB_txn *txn = t->txn;
    int rc;

    size_t dlen = strlen(ev->dossier_code);

    /* Both checks come before the first put: a put that fails half way
     * leaves the log entry behind and breaks every later append in t. */
    if (dlen == 0)
        return -EINVAL;
    if (n < 0 || dlen > maxkey)
        return -E2BIG;
    dk.mv_size = (size_t)n;
    dk.mv_data = kb;
    se.sender = (char *)sender;
    se.has_accepted_at_ms = true;
    se.accepted_at_ms = accepted_at_ms;
    se.event = (lt_event *)ev;
    bool nest = t->careful && t->depth == 0; /* a savepoint already nests */
    if (nest && (rc = mdb_txn_begin(t->s->env, t->txn, 0, &txn)))
        return map_err(rc);
    rc = append_puts(t, txn, &se, raw, raw_len, state, &dk);
    if (nest) {
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc)
        return map_err(rc);
    *ret_seq = t->d.next_seq++;
    if (ev->body_case == LIENTHONG__V1__EVENT__BODY_RESULT)
        t->d.d_result++;
    else
        t->d.d_status++;
    if (prev && prev->status >= 1 && prev->status <= 10)
        t->d.d_by_status[prev->status]--;
    if (state->status >= 1 && state->status <= 10)
        t->d.d_by_status[state->status]++;
    return 0;
}

/* Unpack a log value; LT_ERR_STORE when it does not decode. */
static int unpack_event(const MDB_val *v, lt_stored_event **ret)
{
    *ret = lienthong__v1__stored_event__unpack(NULL, v->mv_size, v->mv_data);
    return *ret ? 0 : LT_ERR_STORE;
}

int lt_store_get_event(lt_store_txn *t, uint64_t seq, lt_stored_event **ret)
{
    uint8_t seqb[8];
    MDB_val k = { 8, seqb }, v;
    int rc;

    be64(seq, seqb);
    if ((rc = mdb_get(t->txn, t->s->log, &k, &v)))
        return map_err(rc);
    return unpack_event(&v, ret);
}

int lt_store_walk_log(lt_store_txn *t, uint64_t from, uint64_t limit, lt_store_event_fn fn,
                      void *arg)
{
    MDB_cursor *cur;
    uint8_t seqb[8];
    MDB_val k = { 8, seqb }, v;
    uint64_t n = 0;
    int rc, r = 0;

    if ((rc = mdb_cursor_open(t->txn, t->s->log, &cur)))
        return map_err(rc);
    be64(from, seqb);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        lt_stored_event *se;
        if (limit && n++ >= limit)
            break;
        if ((r = unpack_event(&v, &se)) < 0)
            break;
        r = fn(unbe64(k.mv_data), se, arg);
        lienthong__v1__stored_event__free_unpacked(se, NULL);
    }
    mdb_cursor_close(cur);
    if (r)
        return r;
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : map_err(rc);
}

int lt_store_walk_dossier(lt_store_txn *t, const char *dossier_code, lt_store_event_fn fn,
                          void *arg)
{
    MDB_cursor *cur;
    MDB_val k = { strlen(dossier_code), (void *)dossier_code }, v;
    int rc, r = 0;

    if (k.mv_size == 0 || k.mv_size > (size_t)mdb_env_get_maxkeysize(t->s->env))
        return LT_ERR_NOT_FOUND;
    if ((rc = mdb_cursor_open(t->txn, t->s->dossier_idx, &cur)))
        return map_err(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0 && r == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        lt_stored_event *se;
        uint64_t seq = unbe64(v.mv_data);
        if ((r = lt_store_get_event(t, seq, &se)) < 0)
            break;
        r = fn(seq, se, arg);
        lienthong__v1__stored_event__free_unpacked(se, NULL);
    }
    mdb_cursor_close(cur);
    if (r)
        return r;
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : map_err(rc);
}

int lt_store_walk_states(lt_store_txn *t, lt_store_state_fn fn, void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, r = 0;

    if ((rc = mdb_cursor_open(t->txn, t->s->dossier_state, &cur)))
        return map_err(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        lt_dossier_state *st = lienthong__v1__dossier_state__unpack(NULL, v.mv_size, v.mv_data);
        if (!st) {
            r = LT_ERR_STORE;
            break;
        }
        r = fn(k.mv_data, k.mv_size, st, arg);
        lienthong__v1__dossier_state__free_unpacked(st, NULL);
    }
    mdb_cursor_close(cur);
    if (r)
        return r;
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : map_err(rc);
}

int lt_store_stats_get(lt_store *s, lt_store_stats *st)
{
    MDB_envinfo info;
    MDB_stat ms;
    MDB_txn *txn;
    char key[32], path[4096];
    struct stat sb;
    int rc;

    memset(st, 0, sizeof(*st));
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)))
        return map_err(rc);
    if ((rc = mdb_stat(txn, s->log, &ms)))
        goto out;
    st->events = ms.ms_entries;
    if ((rc = mdb_stat(txn, s->dossier_state, &ms)))
        goto out;
    st->dossiers = ms.ms_entries;
    if (meta_get(txn, s->meta, "count.status", &st->status_events) < 0 ||
        meta_get(txn, s->meta, "count.result", &st->result_events) < 0) {
        rc = MDB_CORRUPTED;
        goto out;
    }
    for (int i = 1; i <= 10; i++) {
        snprintf(key, sizeof(key), "dossiers.status.%d", i);
        if (meta_get(txn, s->meta, key, &st->by_status[i]) < 0) {
            rc = MDB_CORRUPTED;
            goto out;
        }
    }
    {
        MDB_cursor *cur;
        MDB_val k, v;
        if ((rc = mdb_cursor_open(txn, s->log, &cur)))
            goto out;
        if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            st->last_seq = unbe64(k.mv_data);
        mdb_cursor_close(cur);
    }
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &ms);
    st->map_size = info.me_mapsize;
    st->map_used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    st->readers_used = info.me_numreaders;
    st->max_readers = info.me_maxreaders;
    snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
    if (stat(path, &sb) == 0)
        st->file_size = (uint64_t)sb.st_size;
out:
    mdb_txn_abort(txn);
    return map_err(rc);
}

const char *lt_store_id(const lt_store *s)
{
    return s->id;
}

uint64_t lt_store_upgraded_from(const lt_store *s)
{
    return s->upgraded_from;
}

bool lt_store_txn_careful(const lt_store_txn *t)
{
    return t->careful;
}

int lt_store_savepoint(lt_store_txn *t)
{
    MDB_txn *child;
    int rc;

    if (!t->write || t->depth == LT_STORE_SAVEPOINTS)
        return -EINVAL;
    if ((rc = mdb_txn_begin(t->s->env, t->txn, 0, &child)))
        return map_err(rc);
    t->parent[t->depth] = t->txn;
    t->saved[t->depth] = t->d;
    t->depth++;
    t->txn = child;
    return 0;
}

int lt_store_release(lt_store_txn *t)
{
    int rc;

    if (t->depth == 0)
        return -EINVAL;
    rc = mdb_txn_commit(t->txn);
    t->txn = t->parent[--t->depth];
    if (rc) {
        t->d = t->saved[t->depth];
        return map_err(rc);
    }
    return 0;
}

void lt_store_rollback(lt_store_txn *t)
{
    if (t->depth == 0)
        return;
    mdb_txn_abort(t->txn);
    t->txn = t->parent[--t->depth];
    t->d = t->saved[t->depth];
}

/* ---- key-value databases (outbox, delivery, dead, cursors, links) ---- */

/* The dbi for db, or LT_ERR_NOT_FOUND when this (read-only, old) store lacks it. */
static int kv_dbi(lt_store_txn *t, lt_store_db db, MDB_dbi *ret)
{
    if ((int)db < 0 || db >= LT_STORE_DB_COUNT)
        return -EINVAL;
    if (!t->s->kv_present[db])
        return LT_ERR_NOT_FOUND;
    *ret = t->s->kv[db];
    return 0;
}

static int kv_key_ok(lt_store_txn *t, size_t klen)
{
    return klen > 0 && klen <= (size_t)mdb_env_get_maxkeysize(t->s->env) ? 0 : -E2BIG;
}

int lt_store_kv_get(lt_store_txn *t, lt_store_db db, const void *key, size_t klen, void **ret,
                    size_t *ret_len)
{
    MDB_dbi dbi;
    MDB_val k = { klen, (void *)key }, v;
    int r, rc;

    if ((r = kv_dbi(t, db, &dbi)) < 0 || (r = kv_key_ok(t, klen)) < 0)
        return r;
    if ((rc = mdb_get(t->txn, dbi, &k, &v)))
        return map_err(rc);
    if (ret) {
        void *copy = malloc(v.mv_size ? v.mv_size : 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, v.mv_data, v.mv_size);
        *ret = copy;
    }
    if (ret_len)
        *ret_len = v.mv_size;
    return 0;
}

int lt_store_kv_put(lt_store_txn *t, lt_store_db db, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    MDB_dbi dbi;
    MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
    int r;

    if (!t->write)
        return -EROFS;
    if ((r = kv_dbi(t, db, &dbi)) < 0 || (r = kv_key_ok(t, klen)) < 0)
        return r;
    return map_err(mdb_put(t->txn, dbi, &k, &v, 0));
}

int lt_store_kv_del(lt_store_txn *t, lt_store_db db, const void *key, size_t klen)
{
    MDB_dbi dbi;
    MDB_val k = { klen, (void *)key };
    int r;

    if (!t->write)
        return -EROFS;
    if ((r = kv_dbi(t, db, &dbi)) < 0 || (r = kv_key_ok(t, klen)) < 0)
        return r;
    return map_err(mdb_del(t->txn, dbi, &k, NULL));
}

int lt_store_kv_walk(lt_store_txn *t, lt_store_db db, const void *prefix, size_t plen,
                     const void *start, size_t slen, lt_store_kv_fn fn, void *arg)
{
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, v;
    int r, rc;

    if ((r = kv_dbi(t, db, &dbi)) < 0)
        return r == LT_ERR_NOT_FOUND ? 0 : r;
    if ((rc = mdb_cursor_open(t->txn, dbi, &cur)))
        return map_err(rc);
    if (!start || slen < plen || memcmp(start, prefix, plen) != 0) {
        start = prefix;
        slen = plen;
    }
    k.mv_size = slen;
    k.mv_data = (void *)start;
    r = 0;
    rc = slen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0 && r == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
    }
    mdb_cursor_close(cur);
    if (r)
        return r;
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : map_err(rc);
}
