/* load.c - bench-load: fill a lienthong store fast, for the cost-growth bench.
 *
 * Writes N events of the benchmark's kind (7 per dossier, ~1 KB, the same
 * bytes bench-ingest sends) straight into DIR/data through the daemon's own
 * write path (lt_apply_event: dedupe, state transition, log append, routing)
 * in transactions of K events, each committed durably. The daemon is then
 * started on the directory. Event ids use their own nonce, so a bench run on
 * the loaded store never collides with them.
 * --random-ids: event ids as bench_random_ids makes them (bench.h).
 * Not a test. Usage: bench-load --dir DIR --events N [--map-mb M] [--txn K]
 *                               [--random-ids] */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apply.h"
#include "bench.h"
#include "codec.h"
#include "config.h"
#include "store.h"
#include "timefmt.h"

/* Open the store in dir/data as the daemon would with a config of the two
 * required keys and store.map_size_mb. */
static void open_store(const char *dir, long long map_mb, lt_config **ret_cfg, lt_store **ret)
{
    char text[2048], msg[1024];
    lt_diag d;
    lt_diag_clear(&d);
    snprintf(text, sizeof(text),
             "data_dir: %s/data\ningest:\n  endpoint: \"ipc://%s/ingest.sock\"\n"
             "store:\n  map_size_mb: %lld\n",
             dir, dir, map_mb);
    if (lt_config_parse("bench-load", text, strlen(text), ret_cfg, &d) < 0) {
        lt_diag_format(&d, msg, sizeof(msg));
        bench_die("config", msg);
    }
    const lt_config *cfg = *ret_cfg;
    if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST)
        bench_die(cfg->data_dir, strerror(errno));
    lt_store_opts so = { .dir = cfg->data_dir,
                         .map_size = (uint64_t)cfg->map_size_mb << 20,
                         .max_readers = (unsigned)cfg->max_readers,
                         .flags = cfg->store_flags };
    int r = lt_store_open(&so, ret, NULL, &d);
    if (r < 0) {
        lt_diag_format(&d, msg, sizeof(msg));
        bench_die("store open", msg[0] ? msg : lt_strerror(r));
    }
}

int main(int argc, char **argv)
{
    bench_prog = "bench-load";
    const char *dir = NULL;
    uint64_t events = 0, per_txn = 20000;
    long long map_mb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--dir") && v)
            dir = v, i++;
        else if (!strcmp(a, "--events"))
            events = (uint64_t)bench_num(a, v, 0, 10000000000ll), i++;
        else if (!strcmp(a, "--map-mb"))
            map_mb = bench_num(a, v, 1, 1048576), i++;
        else if (!strcmp(a, "--txn"))
            per_txn = (uint64_t)bench_num(a, v, 1, 1000000), i++;
        else if (!strcmp(a, "--random-ids"))
            bench_random_ids = true;
        else {
            fprintf(stderr, "usage: bench-load --dir DIR --events N [--map-mb M] [--txn K] "
                            "[--random-ids]\n");
            return 2;
        }
    }
    if (!dir)
        bench_die("--dir is required", NULL);
    if (!map_mb) /* ~1.3 KB of map per event, and room for the bench on top */
        map_mb = (long long)(events * 1600 / 1048576) + 2048;
    bench_init_times();
    lt_config *cfg = NULL;
    lt_store *store = NULL;
    open_store(dir, map_mb, &cfg, &store);

    /* the 7 steps, decoded once; event_id and dossier_code re-pointed per event */
    lt_submission *sub[BENCH_STEPS];
    for (int s = 0; s < BENCH_STEPS; s++) {
        bench_tmpl t;
        bench_build_tmpl(&t, "bulkload", 0, s);
        if (lt_codec_decode_submission(t.buf, t.len, &sub[s], NULL) < 0)
            bench_die("decoding a template", NULL);
        free(t.buf);
    }
    char ev_id[96], dossier[96];
    uint64_t t0 = bench_now_ns(), last = t0, done = 0;
    while (done < events) {
        lt_store_txn *t = NULL;
        int r = lt_store_txn_begin(store, true, false, &t);
        int64_t now_ms = lt_time_now_ms();
        for (uint64_t k = 0; r == 0 && k < per_txn && done < events; k++, done++) {
            int step = (int)(done % BENCH_STEPS);
            lt_event *ev = sub[step]->event;
            char *keep_id = ev->event_id, *keep_dossier = ev->dossier_code;
            bench_event_id(ev_id, sizeof(ev_id), "bulkload", 0, step, done);
            snprintf(dossier, sizeof(dossier), "HCM-bulkload-c000-%010" PRIu64, done / BENCH_STEPS);
            ev->event_id = ev_id;
            ev->dossier_code = dossier;
            lt_apply_result res;
            r = lt_apply_event(t, cfg, sub[step]->sender, ev, now_ms, &res);
            ev->event_id = keep_id;
            ev->dossier_code = keep_dossier;
            if (r == 0 && res.outcome != LIENTHONG__V1__REPLY__OUTCOME__ACCEPTED)
                bench_die("event not accepted", res.message);
        }
        if (r != 0) {
            lt_store_txn_abort(&t);
            bench_die("append", r > 0 ? "map full: raise --map-mb" : lt_strerror(r));
        }
        r = lt_store_txn_commit(&t);
        if (r < 0)
            bench_die("commit", lt_strerror(r));
        uint64_t now = bench_now_ns();
        if (now - last >= 5000000000ull) {
            fprintf(stderr, "  bench-load: %" PRIu64 "/%" PRIu64 " events, %.0f/s\n", done, events,
                    (double)done / ((double)(now - t0) / 1e9));
            last = now;
        }
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    lt_store_stats st;
    if (lt_store_stats_get(store, &st) == 0)
        printf("bench-load: %" PRIu64 " events in %.1f s (%.0f/s); store holds %" PRIu64
               " events, %" PRIu64 " dossiers, map used %.1f MB, %.0f bytes/event\n",
               events, secs, secs > 0 ? (double)events / secs : 0, st.events, st.dossiers,
               (double)st.map_used / 1048576,
               st.events ? (double)st.map_used / (double)st.events : 0);
    for (int s = 0; s < BENCH_STEPS; s++)
        lienthong__v1__submission__free_unpacked(sub[s], NULL);
    lt_store_close(&store);
    lt_config_free(&cfg);
    return 0;
}
