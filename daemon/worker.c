/* worker.c - one job at a time on a helper thread; see worker.h. */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct lt_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lt_worker_fn fn; /* under mu: the posted job, NULL when done */
    void *arg;
    bool stop; /* under mu */
};

static void *run(void *arg)
{
    lt_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->fn && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->fn)
            break; /* stopping, nothing posted */
        lt_worker_fn fn = w->fn;
        void *a = w->arg;
        pthread_mutex_unlock(&w->mu);
        fn(a);
        pthread_mutex_lock(&w->mu);
        w->fn = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int lt_worker_start(lt_worker **ret)
{
    lt_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int r = pthread_create(&w->thread, NULL, run, w);
    if (r != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return -r;
    }
    *ret = w;
    return 0;
}

void lt_worker_post(lt_worker *w, lt_worker_fn fn, void *arg)
{
    pthread_mutex_lock(&w->mu);
    while (w->fn) /* a misuse, but never two jobs at once */
        pthread_cond_wait(&w->cv, &w->mu);
    w->fn = fn;
    w->arg = arg;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void lt_worker_wait(lt_worker *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->fn)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void lt_worker_stop(lt_worker **p)
{
    lt_worker *w = p ? *p : NULL;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    *p = NULL;
}
