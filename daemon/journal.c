/* journal.c - the ingest journal's file; see journal.h. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "syncer.h"

#define MAGIC      0x324A544CU /* "LTJ2" read as a little-endian u32 */
#define SENDER_MAX 0xFFFFU

struct lt_journal {
    char *path;
    uint32_t seed;  /* crc32 of the store's id: records of another store do not check */
    uint64_t round; /* this round's tag, drawn at its first record; 0 before */
    int fd;
    uint64_t size;    /* the file's size: room for records */
    uint64_t tail;    /* where the next write goes */
    uint64_t records; /* written since the last reset */
    uint64_t added;   /* records in buf */
    uint8_t *buf;     /* records added and not written yet */
    size_t len, cap;
    uint8_t *image; /* the file as read at open, until the first reset */
    size_t image_len;
    lt_syncer *syncer; /* flushes written records on its own thread */
    bool unflushed;    /* written since the last flush or flush request */
};

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t crc_more(uint32_t c, const uint8_t *p, size_t n)
{
    while (n > 0) { /* zlib takes a uInt length */
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = (uint32_t)crc32(c, p, k);
        p += k;
        n -= k;
    }
    return c;
}

static uint32_t seed_of(const char *tag)
{
    return crc_more((uint32_t)crc32(0L, Z_NULL, 0), (const uint8_t *)(tag ? tag : ""),
                    tag ? strlen(tag) : 0);
}

size_t lt_journal_record_size(size_t sender_len, size_t event_len)
{
    return LT_JOURNAL_HEADER + sender_len + event_len;
}

/* Header offsets (journal.h) */
enum { O_MAGIC = 0, O_CRC = 4, O_ROUND = 8, O_SEQ = 16, O_TIME = 24, O_SLEN = 32, O_ELEN = 36 };

/* Read the record at p (avail bytes on). Returns NULL when it is whole and
 * sound, else why not. */
static const char *parse(const uint8_t *p, size_t avail, uint32_t seed, lt_journal_record *rec,
                         size_t *total)
{
    if (avail < LT_JOURNAL_HEADER || get32(p + O_MAGIC) != MAGIC)
        return "no record";
    size_t slen = (size_t)p[O_SLEN] | (size_t)p[O_SLEN + 1] << 8;
    uint64_t elen = get32(p + O_ELEN);
    if (p[O_SLEN + 2] != 0 || p[O_SLEN + 3] != 0 || elen > avail - LT_JOURNAL_HEADER ||
        slen > avail - LT_JOURNAL_HEADER - elen)
        return "torn record";
    *total = lt_journal_record_size(slen, (size_t)elen);
    if (crc_more(seed, p + O_ROUND, *total - O_ROUND) != get32(p + O_CRC))
        return "torn record";
    *rec = (lt_journal_record){
        .round = get64(p + O_ROUND),
        .seq = get64(p + O_SEQ),
        .accepted_at_ms = (int64_t)get64(p + O_TIME),
        .sender = (const char *)p + LT_JOURNAL_HEADER,
        .sender_len = slen,
        .event = p + LT_JOURNAL_HEADER + slen,
        .event_len = (size_t)elen,
    };
    return NULL;
}

/* A round's tag: random, so that a record left from an earlier round never
 * passes for the next one of this round. */
static uint64_t new_round(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20);
    }
    return v ? v : 1;
}

static int scan_seeded(const uint8_t *buf, size_t len, uint32_t seed, uint64_t after,
                       lt_journal_fn fn, void *arg, lt_journal_scan_info *info)
{
    lt_journal_scan_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    info->why = "end of file";
    size_t pos = 0, total = 0;
    uint64_t next = after + 1, round = 0;
    while (pos < len) {
        lt_journal_record rec;
        const char *why = parse(buf + pos, len - pos, seed, &rec, &total);
        if (why) {
            info->why = why;
            break;
        }
        info->seq = rec.seq;
        if (pos == 0 && rec.seq <= after) { /* the last round was committed */
            info->why = "already in the store";
            break;
        }
        if (pos > 0 && rec.round != round) { /* left from an earlier round */
            info->why = "end of round";
            break;
        }
        if (rec.seq != next) {
            info->why = "seq gap";
            break;
        }
        round = rec.round;
        rec.offset = pos;
        int r = fn(arg, &rec);
        if (r != 0) {
            info->end = pos;
            info->why = "stopped by the caller";
            return r;
        }
        info->applied++;
        info->seq = 0;
        next++;
        pos += total;
    }
    info->end = pos;
    return 0;
}

int lt_journal_scan(const uint8_t *buf, size_t len, const char *tag, uint64_t after,
                    lt_journal_fn fn, void *arg, lt_journal_scan_info *info)
{
    return scan_seeded(buf, len, seed_of(tag), after, fn, arg, info);
}

uint64_t lt_journal_first_seq(const char *path, const char *tag)
{
    uint8_t head[LT_JOURNAL_HEADER], *buf = NULL;
    uint64_t seq = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) && get32(head) == MAGIC) {
        size_t total = lt_journal_record_size((size_t)head[O_SLEN] | (size_t)head[O_SLEN + 1] << 8,
                                              get32(head + O_ELEN));
        lt_journal_record rec;
        size_t got = 0;
        if (total <= ((size_t)1 << 30) && (buf = malloc(total)) &&
            pread(fd, buf, total, 0) == (ssize_t)total &&
            !parse(buf, total, seed_of(tag), &rec, &got))
            seq = rec.seq;
    }
    free(buf);
    close(fd);
    return seq;
}

char *lt_journal_path_in(const char *data_dir, char *buf, size_t size)
{
    snprintf(buf, size, "%s/journal", data_dir);
    return buf;
}

uint64_t lt_journal_unstored(const char *data_dir, const char *tag, uint64_t last_seq)
{
    char path[4096];
    uint64_t first = lt_journal_first_seq(lt_journal_path_in(data_dir, path, sizeof(path)), tag);
    return first > last_seq ? first : 0;
}

static int fail(lt_diag *d, int err, const char *path, const char *what)
{
    lt_diag_set(d, err, 0, "", "%s: %s: %s", path, what, strerror(-err));
    return err;
}

/* fsync the directory holding path, so a new file's entry survives a crash. */
static int sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int read_all(int fd, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (size_t)n;
    }
    return 0;
}

int lt_journal_open(const char *path, uint64_t size, const char *tag, lt_journal **ret,
                    lt_diag *reterr)
{
    lt_journal *j = calloc(1, sizeof(*j));
    int r;
    if (!j || !(j->path = strdup(path))) {
        free(j);
        return fail(reterr, -ENOMEM, path, "open");
    }
    j->seed = seed_of(tag);
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    struct stat st;
    if (j->fd < 0 || fstat(j->fd, &st) < 0) {
        r = fail(reterr, -errno, path, "open");
        goto out;
    }
    j->size = (uint64_t)st.st_size;
    if (j->size > 0) {
        j->image_len = (size_t)j->size;
        if (!(j->image = malloc(j->image_len))) {
            r = fail(reterr, -ENOMEM, path, "read");
            goto out;
        }
        if ((r = read_all(j->fd, j->image, j->image_len)) < 0) {
            fail(reterr, r, path, "read");
            goto out;
        }
    }
    if (j->size < size) {
        /* allocate the blocks once, so a sync rarely has to grow the file */
        if ((r = posix_fallocate(j->fd, 0, (off_t)size)) != 0) {
            r = fail(reterr, -r, path, "allocate (store.journal_mb)");
            goto out;
        }
        if (fsync(j->fd) < 0 || (r = sync_dir(path)) < 0) {
            r = fail(reterr, r < 0 ? r : -errno, path, "sync");
            goto out;
        }
        j->size = size;
    }
    if ((r = lt_syncer_start(j->fd, &j->syncer)) < 0) {
        fail(reterr, r, path, "start the sync thread for");
        goto out;
    }
    *ret = j;
    return 0;
out:
    lt_journal_close(&j);
    return r;
}

int lt_journal_replay(lt_journal *j, uint64_t after, lt_journal_fn fn, void *arg,
                      lt_journal_scan_info *info)
{
    if (j->image) /* at start: the whole file as found */
        return scan_seeded(j->image, j->image_len, j->seed, after, fn, arg, info);
    /* while serving: what was written since the last reset */
    uint8_t *buf = malloc(j->tail ? (size_t)j->tail : 1);
    if (!buf)
        return -ENOMEM;
    int r = read_all(j->fd, buf, (size_t)j->tail);
    if (r == 0)
        r = scan_seeded(buf, (size_t)j->tail, j->seed, after, fn, arg, info);
    free(buf);
    return r;
}

const char *lt_journal_path(const lt_journal *j)
{
    return j->path;
}

uint64_t lt_journal_room(const lt_journal *j)
{
    uint64_t used = j->tail + j->len;
    return used < j->size ? j->size - used : 0;
}

uint64_t lt_journal_used(const lt_journal *j)
{
    return j->tail + j->len;
}

uint64_t lt_journal_records(const lt_journal *j)
{
    return j->records;
}

int lt_journal_add(lt_journal *j, uint64_t seq, int64_t accepted_at_ms, const char *sender,
                   const uint8_t *event, size_t event_len)
{
    size_t slen = strlen(sender);
    if (slen > SENDER_MAX || event_len > UINT32_MAX)
        return -E2BIG;
    size_t total = lt_journal_record_size(slen, event_len);
    if (total > lt_journal_room(j))
        return -ENOSPC;
    if (j->len + total > j->cap) {
        size_t cap = j->cap ? j->cap : 65536;
        while (cap < j->len + total)
            cap *= 2;
        uint8_t *nb = realloc(j->buf, cap);
        if (!nb)
            return -ENOMEM;
        j->buf = nb;
        j->cap = cap;
    }
    if (!j->round)
        j->round = new_round();
    uint8_t *p = j->buf + j->len;
    put32(p + O_MAGIC, MAGIC);
    put64(p + O_ROUND, j->round);
    put64(p + O_SEQ, seq);
    put64(p + O_TIME, (uint64_t)accepted_at_ms);
    p[O_SLEN] = (uint8_t)slen;
    p[O_SLEN + 1] = (uint8_t)(slen >> 8);
    p[O_SLEN + 2] = p[O_SLEN + 3] = 0;
    put32(p + O_ELEN, (uint32_t)event_len);
    memcpy(p + LT_JOURNAL_HEADER, sender, slen);
    if (event_len)
        memcpy(p + LT_JOURNAL_HEADER + slen, event, event_len);
    put32(p + O_CRC, crc_more(j->seed, p + O_ROUND, total - O_ROUND));
    j->len += total;
    j->added++;
    return 0;
}

int lt_journal_write(lt_journal *j)
{
    size_t done = 0;
    while (done < j->len) {
        ssize_t n = pwrite(j->fd, j->buf + done, j->len - done, (off_t)(j->tail + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (size_t)n;
    }
    j->records += j->added;
    j->tail += j->len;
    j->unflushed |= j->len > 0;
    j->len = 0;
    j->added = 0;
    return 0;
}

int lt_journal_sync(lt_journal *j)
{
    int r = lt_journal_write(j);
    if (r == 0 && j->unflushed) {
        if (fdatasync(j->fd) < 0)
            return -errno;
        j->unflushed = false;
    }
    return r;
}

uint64_t lt_journal_sync_request(lt_journal *j)
{
    j->unflushed = false;
    return lt_syncer_request(j->syncer);
}

uint64_t lt_journal_sync_requested(const lt_journal *j)
{
    return lt_syncer_requested(j->syncer);
}

int lt_journal_sync_fd(const lt_journal *j)
{
    return lt_syncer_fd(j->syncer);
}

int lt_journal_synced(lt_journal *j, uint64_t *ret_synced)
{
    return lt_syncer_done(j->syncer, ret_synced);
}

void lt_journal_discard(lt_journal *j)
{
    j->len = 0;
    j->added = 0;
}

void lt_journal_reset(lt_journal *j)
{
    j->round = 0; /* the next round draws a new tag */
    j->tail = 0;
    j->len = 0;
    j->added = 0;
    j->records = 0;
    free(j->image);
    j->image = NULL;
    j->image_len = 0;
}

void lt_journal_close(lt_journal **p)
{
    lt_journal *j = p ? *p : NULL;
    if (!j)
        return;
    lt_syncer_stop(&j->syncer); /* before the fd it flushes is closed */
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    free(j->buf);
    free(j->image);
    free(j);
    *p = NULL;
}
