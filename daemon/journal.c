/* journal.c - the ingest journal's file; see journal.h. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC      0x314A544CU /* "LTJ1" read as a little-endian u32 */
#define SENDER_MAX 0xFFFFU

struct lt_journal {
    char *path;
    int fd;
    uint64_t size;    /* the file's size: room for records */
    uint64_t tail;    /* where the next sync writes */
    uint64_t records; /* synced since the last reset */
    uint64_t added;   /* records in buf */
    uint8_t *buf;     /* records added and not synced yet */
    size_t len, cap;
    uint8_t *image; /* the file as read at open, until the first reset */
    size_t image_len;
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

static uint32_t crc_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) { /* zlib takes a uInt length */
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

size_t lt_journal_record_size(size_t sender_len, size_t event_len)
{
    return LT_JOURNAL_HEADER + sender_len + event_len;
}

/* Read the record at p (avail bytes on). Returns NULL when it is whole and
 * sound, else why not. */
static const char *parse(const uint8_t *p, size_t avail, lt_journal_record *rec, size_t *total)
{
    if (avail < LT_JOURNAL_HEADER || get32(p) != MAGIC)
        return "no record";
    size_t slen = (size_t)p[24] | (size_t)p[25] << 8;
    uint64_t elen = get32(p + 28);
    if (p[26] != 0 || p[27] != 0 || elen > avail - LT_JOURNAL_HEADER ||
        slen > avail - LT_JOURNAL_HEADER - elen)
        return "torn record";
    *total = lt_journal_record_size(slen, (size_t)elen);
    if (crc_of(p + 8, *total - 8) != get32(p + 4))
        return "torn record";
    *rec = (lt_journal_record){
        .seq = get64(p + 8),
        .accepted_at_ms = (int64_t)get64(p + 16),
        .sender = (const char *)p + LT_JOURNAL_HEADER,
        .sender_len = slen,
        .event = p + LT_JOURNAL_HEADER + slen,
        .event_len = (size_t)elen,
    };
    return NULL;
}

int lt_journal_scan(const uint8_t *buf, size_t len, uint64_t after, lt_journal_fn fn, void *arg,
                    lt_journal_scan_info *info)
{
    lt_journal_scan_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    info->why = "end of file";
    size_t pos = 0, total = 0;
    uint64_t next = after + 1;
    while (pos < len) {
        lt_journal_record rec;
        const char *why = parse(buf + pos, len - pos, &rec, &total);
        if (why) {
            info->why = why;
            break;
        }
        rec.offset = pos;
        if (rec.seq < next) { /* a record LMDB already holds */
            info->skipped++;
        } else if (rec.seq == next) {
            int r = fn(arg, &rec);
            if (r != 0) {
                info->end = pos;
                info->why = "stopped by the caller";
                return r;
            }
            info->applied++;
            next++;
        } else {
            info->why = "seq gap";
            break;
        }
        pos += total;
    }
    info->end = pos;
    return 0;
}

uint64_t lt_journal_first_seq(const char *path)
{
    uint8_t head[LT_JOURNAL_HEADER], *buf = NULL;
    uint64_t seq = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) && get32(head) == MAGIC) {
        size_t total =
            lt_journal_record_size((size_t)head[24] | (size_t)head[25] << 8, get32(head + 28));
        lt_journal_record rec;
        size_t got = 0;
        if (total <= ((size_t)1 << 30) && (buf = malloc(total)) &&
            pread(fd, buf, total, 0) == (ssize_t)total && !parse(buf, total, &rec, &got))
            seq = rec.seq;
    }
    free(buf);
    close(fd);
    return seq;
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

int lt_journal_open(const char *path, uint64_t size, lt_journal **ret, lt_diag *reterr)
{
    lt_journal *j = calloc(1, sizeof(*j));
    int r;
    if (!j || !(j->path = strdup(path))) {
        free(j);
        return fail(reterr, -ENOMEM, path, "open");
    }
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
        return lt_journal_scan(j->image, j->image_len, after, fn, arg, info);
    /* while serving: what was synced since the last reset */
    uint8_t *buf = malloc(j->tail ? (size_t)j->tail : 1);
    if (!buf)
        return -ENOMEM;
    int r = read_all(j->fd, buf, (size_t)j->tail);
    if (r == 0)
        r = lt_journal_scan(buf, (size_t)j->tail, after, fn, arg, info);
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
    uint8_t *p = j->buf + j->len;
    put32(p, MAGIC);
    put64(p + 8, seq);
    put64(p + 16, (uint64_t)accepted_at_ms);
    p[24] = (uint8_t)slen;
    p[25] = (uint8_t)(slen >> 8);
    p[26] = p[27] = 0;
    put32(p + 28, (uint32_t)event_len);
    memcpy(p + LT_JOURNAL_HEADER, sender, slen);
    if (event_len)
        memcpy(p + LT_JOURNAL_HEADER + slen, event, event_len);
    put32(p + 4, crc_of(p + 8, total - 8));
    j->len += total;
    j->added++;
    return 0;
}

int lt_journal_sync(lt_journal *j)
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
    if (j->len && fdatasync(j->fd) < 0)
        return -errno;
    j->records += j->added;
    j->tail += j->len;
    j->len = 0;
    j->added = 0;
    return 0;
}

void lt_journal_discard(lt_journal *j)
{
    j->len = 0;
    j->added = 0;
}

void lt_journal_reset(lt_journal *j)
{
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
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    free(j->buf);
    free(j->image);
    free(j);
    *p = NULL;
}
