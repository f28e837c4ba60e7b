/* syncer.c - fdatasync on a helper thread; see syncer.h. */
#include "syncer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct lt_syncer {
    int fd;     /* the file flushed */
    int notify; /* eventfd, written after each flush */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t requested; /* under mu */
    uint64_t synced;    /* under mu */
    int err;            /* under mu: the first failure, sticky */
    bool stop;          /* under mu */
};

static void *run(void *arg)
{
    lt_syncer *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->synced == s->requested && s->err == 0 && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->synced == s->requested || s->err)
            break; /* stopping with nothing to flush, or failed */
        /* every write before request `want` happened before it was counted */
        uint64_t want = s->requested;
        pthread_mutex_unlock(&s->mu);
        int r = fdatasync(s->fd) < 0 ? -errno : 0;
        pthread_mutex_lock(&s->mu);
        if (r == 0)
            s->synced = want;
        else
            s->err = r;
        uint64_t one = 1;
        while (write(s->notify, &one, sizeof(one)) < 0 && errno == EINTR) {
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int lt_syncer_start(int fd, lt_syncer **ret)
{
    lt_syncer *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = fd;
    s->notify = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->notify < 0) {
        int e = -errno;
        free(s);
        return e;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int r = pthread_create(&s->thread, NULL, run, s);
    if (r != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        close(s->notify);
        free(s);
        return -r;
    }
    *ret = s;
    return 0;
}

uint64_t lt_syncer_request(lt_syncer *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t t = ++s->requested;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return t;
}

uint64_t lt_syncer_requested(const lt_syncer *s)
{
    return s->requested; /* written only by the caller's own thread */
}

int lt_syncer_fd(const lt_syncer *s)
{
    return s->notify;
}

int lt_syncer_done(lt_syncer *s, uint64_t *ret_synced)
{
    uint64_t n;
    while (read(s->notify, &n, sizeof(n)) == (ssize_t)sizeof(n)) {
    }
    pthread_mutex_lock(&s->mu);
    *ret_synced = s->synced;
    int r = s->err;
    pthread_mutex_unlock(&s->mu);
    return r;
}

void lt_syncer_stop(lt_syncer **p)
{
    lt_syncer *s = p ? *p : NULL;
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    close(s->notify);
    free(s);
    *p = NULL;
}
