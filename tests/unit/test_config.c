/* test_config.c - the YAML config loader (daemon/config.h): defaults, the
 * shipped files, every error kind with its exact FILE:LINE:COL message,
 * refused store flags, and the bounds of every integer key. */
#include "config.h"

#include "log.h"

// clang-format off
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
// clang-format on

#ifndef LT_SOURCE_DIR
#define LT_SOURCE_DIR "."
#endif

#define REQ "data_dir: d\ningest:\n  endpoint: tcp://127.0.0.1:7450\n"

/* Parse text as file "t.yaml"; on failure put the formatted diag in out. */
static int parse(const char *text, lt_config **ret, char *out, size_t size)
{
    lt_diag d;
    int r;

    lt_diag_clear(&d);
    out[0] = '\0';
    r = lt_config_parse("t.yaml", text, strlen(text), ret, &d);
    if (r < 0)
        lt_diag_format(&d, out, size);
    return r;
}

/* Expect text to be refused with exactly the message want. */
static void expect_error(const char *text, const char *want)
{
    lt_config *cfg = NULL;
    char got[1024];
    int r = parse(text, &cfg, got, sizeof(got));

    if (r != LT_ERR_CONFIG || strcmp(got, want) != 0)
        fail_msg("input:\n%s\nwant: %s\ngot (%d): %s", text, want, r, got);
    assert_null(cfg);
}

static void two_key_file_gets_every_default(void **state)
{
    lt_config *cfg = NULL;
    char err[1024];

    (void)state;
    assert_int_equal(parse(REQ, &cfg, err, sizeof(err)), 0);
    assert_non_null(cfg);
    assert_string_equal(cfg->data_dir, "d");
    assert_string_equal(cfg->ingest_endpoint, "tcp://127.0.0.1:7450");
    assert_string_equal(cfg->path, "t.yaml");
    assert_int_equal(cfg->max_message_bytes, 262144);
    assert_int_equal(cfg->heartbeat_ivl_ms, 5000);
    assert_int_equal(cfg->heartbeat_timeout_ms, 15000);
    assert_int_equal(cfg->sndhwm, 100000);
    assert_int_equal(cfg->rcvhwm, 100000);
    assert_int_equal(cfg->shutdown_linger_ms, 0);
    assert_int_equal(cfg->batch_max_events, 1024);
    assert_int_equal(cfg->batch_max_bytes, 8388608);
    assert_int_equal(cfg->batch_max_wait_us, 0);
    assert_int_equal(cfg->map_size_mb, 1024);
    assert_int_equal(cfg->max_readers, 126);
    assert_int_equal(cfg->store_flags, 0);
    assert_int_equal(cfg->journal_mb, 16);
    assert_int_equal(cfg->journal_commit_ms, 50);
    assert_int_equal(cfg->clock_skew_s, 300);
    assert_int_equal(cfg->max_field_bytes, 200);
    assert_int_equal(cfg->max_text_bytes, 4096);
    assert_int_equal(cfg->max_attachments, 64);
    assert_int_equal(cfg->max_data_entries, 128);
    assert_int_equal(cfg->log_level, LT_LOG_INFO);
    lt_config_free(&cfg);
    assert_null(cfg);
}

/* Load a file from config/ and compare it with the two-key defaults. */
static lt_config *load_shipped(const char *name)
{
    char path[512], err[1024];
    lt_config *cfg = NULL;
    lt_diag d;
    int r;

    snprintf(path, sizeof(path), "%s/config/%s", LT_SOURCE_DIR, name);
    lt_diag_clear(&d);
    r = lt_config_load(path, &cfg, &d);
    if (r != 0) {
        lt_diag_format(&d, err, sizeof(err));
        fail_msg("%s: %d %s", path, r, err);
    }
    return cfg;
}

static void shipped_config_loads_with_the_documented_defaults(void **state)
{
    lt_config *cfg = load_shipped("lienthong.yaml"), *def = NULL;
    char err[1024];

    (void)state;
    assert_int_equal(parse(REQ, &def, err, sizeof(err)), 0);
    assert_string_equal(cfg->data_dir, "data");
    assert_string_equal(cfg->ingest_endpoint, "tcp://127.0.0.1:7450");
    /* every tunable is written out with its default: the numbers must agree */
    for (size_t off = offsetof(lt_config, max_message_bytes);
         off <= offsetof(lt_config, max_data_entries); off += sizeof(int64_t)) {
        if (off == offsetof(lt_config, store_flags))
            continue;
        assert_int_equal(*(int64_t *)(void *)((char *)cfg + off),
                         *(int64_t *)(void *)((char *)def + off));
    }
    assert_int_equal(cfg->store_flags, 0);
    assert_int_equal(cfg->log_level, LT_LOG_INFO);
    lt_config_free(&cfg);
    lt_config_free(&def);
}

static void minimal_config_loads(void **state)
{
    lt_config *cfg = load_shipped("minimal.yaml");

    (void)state;
    assert_string_equal(cfg->data_dir, "data");
    assert_string_equal(cfg->ingest_endpoint, "ipc:///tmp/lienthong-ingest.sock");
    assert_int_equal(cfg->batch_max_events, 1024);
    lt_config_free(&cfg);
}

static void every_key_can_be_set(void **state)
{
    lt_config *cfg = NULL;
    char err[1024];

    (void)state;
    assert_int_equal(parse("data_dir: /var/lib/lienthong\n"
                           "ingest: {endpoint: 'ipc:///run/x.sock', max_message_bytes: 2048,"
                           " heartbeat_ivl_ms: 0, heartbeat_timeout_ms: 1, sndhwm: 2,"
                           " rcvhwm: 3, shutdown_linger_ms: 4}\n"
                           "batch: {max_events: 5, max_bytes: 65536, max_wait_us: 6}\n"
                           "store: {map_size_mb: 7, max_readers: 8, flags: [nordahead]}\n"
                           "validation: {clock_skew_s: 9, max_field_bytes: 16,"
                           " max_text_bytes: 64, max_attachments: 10, max_data_entries: 11}\n"
                           "log: {level: debug}\n",
                           &cfg, err, sizeof(err)),
                     0);
    assert_string_equal(cfg->data_dir, "/var/lib/lienthong");
    assert_string_equal(cfg->ingest_endpoint, "ipc:///run/x.sock");
    assert_int_equal(cfg->max_message_bytes, 2048);
    assert_int_equal(cfg->heartbeat_ivl_ms, 0);
    assert_int_equal(cfg->heartbeat_timeout_ms, 1);
    assert_int_equal(cfg->sndhwm, 2);
    assert_int_equal(cfg->rcvhwm, 3);
    assert_int_equal(cfg->shutdown_linger_ms, 4);
    assert_int_equal(cfg->batch_max_events, 5);
    assert_int_equal(cfg->batch_max_bytes, 65536);
    assert_int_equal(cfg->batch_max_wait_us, 6);
    assert_int_equal(cfg->map_size_mb, 7);
    assert_int_equal(cfg->max_readers, 8);
    assert_int_equal(cfg->store_flags, LT_CONFIG_STORE_NORDAHEAD);
    assert_int_equal(cfg->clock_skew_s, 9);
    assert_int_equal(cfg->max_field_bytes, 16);
    assert_int_equal(cfg->max_text_bytes, 64);
    assert_int_equal(cfg->max_attachments, 10);
    assert_int_equal(cfg->max_data_entries, 11);
    assert_int_equal(cfg->log_level, LT_LOG_DEBUG);
    lt_config_free(&cfg);
}

static void accepted_store_flags_and_log_levels(void **state)
{
    static const struct {
        const char *yaml;
        unsigned flags;
        int level;
    } cases[] = {
        { REQ "store: {flags: []}\n", 0, LT_LOG_INFO },
        { REQ "store: {flags: [writemap]}\n", LT_CONFIG_STORE_WRITEMAP, LT_LOG_INFO },
        { REQ "store:\n  flags:\n    - nordahead\n    - writemap\n",
          LT_CONFIG_STORE_NORDAHEAD | LT_CONFIG_STORE_WRITEMAP, LT_LOG_INFO },
        { REQ "log: {level: error}\n", 0, LT_LOG_ERR },
        { REQ "log: {level: warning}\n", 0, LT_LOG_WARN },
        { REQ "log: {level: \"info\"}\n", 0, LT_LOG_INFO },
    };
    char err[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lt_config *cfg = NULL;
        if (parse(cases[i].yaml, &cfg, err, sizeof(err)) != 0)
            fail_msg("case %zu: %s", i, err);
        assert_int_equal(cfg->store_flags, cases[i].flags);
        assert_int_equal(cfg->log_level, cases[i].level);
        lt_config_free(&cfg);
    }
}

/* Every kind of error, with the exact message an operator reads. */
static void each_error_has_its_exact_message(void **state)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        /* the document */
        { "", "t.yaml:1:1: the configuration is empty; it needs at least data_dir and ingest: "
              "{endpoint: ...}" },
        { "# only a comment\n\n",
          "t.yaml:3:1: the configuration is empty; it needs at least data_dir and ingest: "
          "{endpoint: ...}" },
        { "hello\n", "t.yaml:1:1: the document must be a mapping of keys (data_dir, ingest, ...), "
                     "not a scalar" },
        { "- data_dir\n", "t.yaml:1:1: the document must be a mapping of keys (data_dir, "
                          "ingest, ...), not a list" },
        { REQ "---\ndata_dir: e\n",
          "t.yaml:4:1: only one YAML document is allowed; a second one starts here" },
        /* YAML syntax */
        { "data_dir: d\ningest: b: c\n",
          "t.yaml:2:10: YAML syntax error: mapping values are not allowed in this context" },
        { "data_dir: d\ningest:\n  endpoint: [\n",
          "t.yaml:4:1: YAML syntax error: did not find expected node content while parsing a "
          "flow node" },
        { "data_dir: \"d\n",
          "t.yaml:2:1: YAML syntax error: found unexpected end of stream (while scanning a "
          "quoted scalar started at line 1, column 11)" },
        { "data_dir: d\xff\n", "t.yaml:1:12: YAML syntax error: invalid leading UTF-8 octet" },
        { "data_dir: &x d\n",
          "t.yaml:1:11: YAML anchors and aliases are not supported; write the value out" },
        { "a: &x 1\nb: *x\n",
          "t.yaml:1:4: YAML anchors and aliases are not supported; write the value out" },
        /* keys */
        { REQ "foo: 1\n", "t.yaml:4:1: unknown key \"foo\" at top level (expected one of: "
                          "data_dir, ingest, batch, store, validation, log, agencies, routes, "
                          "streams, control)" },
        { "data_dir: d\ningest:\n  endpont: tcp://x:1\n",
          "t.yaml:3:3: unknown key \"endpont\" in ingest (expected one of: endpoint, "
          "max_message_bytes, heartbeat_ivl_ms, heartbeat_timeout_ms, sndhwm, rcvhwm, "
          "shutdown_linger_ms)" },
        { REQ "batch: {max_event: 1}\n", "t.yaml:4:9: unknown key \"max_event\" in batch "
                                         "(expected one of: max_events, max_bytes, max_wait_us)" },
        { REQ "log: {lvl: info}\n",
          "t.yaml:4:7: unknown key \"lvl\" in log (expected one of: level)" },
        { REQ "ingest.endpoint: x\n",
          "t.yaml:4:1: unknown key \"ingest.endpoint\" at top level (expected one of: "
          "data_dir, ingest, batch, store, validation, log, agencies, routes, streams, control)" },
        { "? [a]\n: b\n", "t.yaml:1:3: keys must be plain names, not a list" },
        { "data_dir: d\ningest:\n  endpoint: tcp://a:1\n  endpoint: tcp://b:1\n",
          "t.yaml:4:3: duplicate key \"endpoint\" in ingest (first at line 3, column 3)" },
        { REQ "data_dir: e\n",
          "t.yaml:4:1: duplicate key \"data_dir\" in top level (first at line 1, column 1)" },
        { REQ "batch: {max_events: 1}\nbatch: {max_events: 2}\n",
          "t.yaml:5:1: duplicate key \"batch\" in top level (first at line 4, column 1)" },
        /* required keys */
        { "data_dir: d\n",
          "t.yaml:1:1: missing required section \"ingest\" (a mapping with at least: endpoint)" },
        { "ingest: {endpoint: 'tcp://x:1'}\n", "t.yaml:1:1: missing required key \"data_dir\"" },
        { "# config\ndata_dir: d\ningest:\n  sndhwm: 5\n",
          "t.yaml:4:3: missing required key \"endpoint\" in ingest" },
        { "data_dir: d\ningest: {}\n", "t.yaml:2:9: missing required key \"endpoint\" in ingest" },
        /* types */
        { "data_dir: [a]\ningest: {endpoint: 'tcp://x:1'}\n",
          "t.yaml:1:11: data_dir must be a string, not a list" },
        { "data_dir: {a: b}\n", "t.yaml:1:11: data_dir must be a string, not a mapping" },
        { "data_dir: d\ningest: tcp://x:1\n",
          "t.yaml:2:9: ingest must be a mapping, not a scalar" },
        { "data_dir: d\ningest:\n", "t.yaml:2:8: ingest must be a mapping, not empty" },
        { REQ "store: [flags]\n", "t.yaml:4:8: store must be a mapping, not a list" },
        { REQ "batch: {max_events: [1]}\n",
          "t.yaml:4:21: batch.max_events must be an integer, not a list" },
        { REQ "batch: {max_events: \"10\"}\n",
          "t.yaml:4:21: batch.max_events must be an integer, not a quoted string (write "
          "max_events: 10)" },
        { REQ "store: {flags: nordahead}\n",
          "t.yaml:4:16: store.flags must be a list of flags, e.g. [nordahead], not a scalar" },
        { REQ "store: {flags: [[nordahead]]}\n",
          "t.yaml:4:17: store.flags: each flag must be a name, not a list" },
        { REQ "log: {level: [info]}\n", "t.yaml:4:14: log.level must be a string, not a list" },
        /* integers */
        { REQ "batch: {max_events: 1.5}\n",
          "t.yaml:4:21: batch.max_events: \"1.5\" is not a decimal integer" },
        { REQ "batch: {max_events: 12abc}\n",
          "t.yaml:4:21: batch.max_events: \"12abc\" is not a decimal integer" },
        { REQ "batch: {max_events: 0x10}\n",
          "t.yaml:4:21: batch.max_events: \"0x10\" is not a decimal integer" },
        { REQ "batch: {max_events: 1e3}\n",
          "t.yaml:4:21: batch.max_events: \"1e3\" is not a decimal integer" },
        { REQ "batch: {max_events: +5}\n",
          "t.yaml:4:21: batch.max_events: \"+5\" is not a decimal integer" },
        { REQ "batch: {max_events: 1_000}\n",
          "t.yaml:4:21: batch.max_events: \"1_000\" is not a decimal integer" },
        { REQ "batch: {max_events: 010}\n", "t.yaml:4:21: batch.max_events: \"010\" is not a "
                                            "decimal integer (leading zeros are not allowed)" },
        { REQ "batch: {max_events:  }\n",
          "t.yaml:4:22: batch.max_events must be an integer, not empty" },
        { REQ "batch: {max_events: 99999999999999999999}\n",
          "t.yaml:4:21: batch.max_events: 99999999999999999999 is out of range (1..65536)" },
        { REQ "batch: {max_events: -1}\n",
          "t.yaml:4:21: batch.max_events must not be negative (range 1..65536)" },
        { REQ "batch: {max_events: -99999999999999999999}\n",
          "t.yaml:4:21: batch.max_events must not be negative (range 1..65536)" },
        { REQ "batch: {max_events: 0}\n",
          "t.yaml:4:21: batch.max_events: 0 is out of range (1..65536)" },
        /* strings */
        { "data_dir: ''\ningest: {endpoint: 'tcp://x:1'}\n",
          "t.yaml:1:11: data_dir must not be empty" },
        { "data_dir:\ningest: {endpoint: 'tcp://x:1'}\n",
          "t.yaml:1:10: data_dir must not be empty" },
        { "data_dir: \"a\\0b\"\n", "t.yaml:1:11: data_dir contains a NUL character" },
        { "data_dir: d\ningest: {endpoint: 'http://x'}\n",
          "t.yaml:2:20: ingest.endpoint \"http://x\" must start with tcp:// or ipc://" },
        { "data_dir: d\ningest: {endpoint: 'inproc://x'}\n",
          "t.yaml:2:20: ingest.endpoint \"inproc://x\" must start with tcp:// or ipc://" },
        { REQ "log: {level: verbose}\n",
          "t.yaml:4:14: log.level: \"verbose\" is not one of debug, info, warning, error" },
        { REQ "log: {level: INFO}\n",
          "t.yaml:4:14: log.level: \"INFO\" is not one of debug, info, warning, error" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].yaml, cases[i].want);
}

static void durability_weakening_flags_are_refused(void **state)
{
    static const char *const refused[] = { "nosync", "nometasync", "mapasync" };
    char yaml[256], want[512];

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        snprintf(yaml, sizeof(yaml), REQ "store:\n  flags: [writemap, %s]\n", refused[i]);
        snprintf(want, sizeof(want),
                 "t.yaml:5:21: store.flags: \"%s\" is refused: it would let an acknowledged "
                 "event be lost on power failure",
                 refused[i]);
        expect_error(yaml, want);
    }
    expect_error(REQ "store:\n  flags: [MDB_NOSYNC]\n",
                 "t.yaml:5:11: store.flags: unknown flag \"MDB_NOSYNC\" (expected one of: "
                 "nordahead, writemap)");
}

/* Every integer key: min and max load, min-1 and max+1 are refused with the range. */
static void integer_bounds_are_inclusive(void **state)
{
    static const struct {
        const char *section, *key;
        long long min, max;
        size_t off;
    } keys[] = {
        { "ingest", "max_message_bytes", 1024, 67108864, offsetof(lt_config, max_message_bytes) },
        { "ingest", "heartbeat_ivl_ms", 0, 600000, offsetof(lt_config, heartbeat_ivl_ms) },
        { "ingest", "heartbeat_timeout_ms", 0, 3600000, offsetof(lt_config, heartbeat_timeout_ms) },
        { "ingest", "sndhwm", 0, 10000000, offsetof(lt_config, sndhwm) },
        { "ingest", "rcvhwm", 0, 10000000, offsetof(lt_config, rcvhwm) },
        { "ingest", "shutdown_linger_ms", 0, 60000, offsetof(lt_config, shutdown_linger_ms) },
        { "batch", "max_events", 1, 65536, offsetof(lt_config, batch_max_events) },
        { "batch", "max_bytes", 65536, 1073741824, offsetof(lt_config, batch_max_bytes) },
        { "batch", "max_wait_us", 0, 1000000, offsetof(lt_config, batch_max_wait_us) },
        { "store", "map_size_mb", 1, 1048576, offsetof(lt_config, map_size_mb) },
        { "store", "max_readers", 1, 4096, offsetof(lt_config, max_readers) },
        { "store", "journal_mb", 0, 4096, offsetof(lt_config, journal_mb) },
        { "store", "journal_commit_ms", 1, 60000, offsetof(lt_config, journal_commit_ms) },
        { "validation", "clock_skew_s", 0, 86400, offsetof(lt_config, clock_skew_s) },
        { "validation", "max_field_bytes", 16, 250, offsetof(lt_config, max_field_bytes) },
        { "validation", "max_text_bytes", 64, 1048576, offsetof(lt_config, max_text_bytes) },
        { "validation", "max_attachments", 0, 1024, offsetof(lt_config, max_attachments) },
        { "validation", "max_data_entries", 0, 4096, offsetof(lt_config, max_data_entries) },
    };
    char err[1024], yaml[512], want[512];
    /* the value starts after "data_dir: d\n" + "<section>:\n  <key>: " on line 2 or 4 */

    (void)state;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const long long ok[2] = { keys[i].min, keys[i].max };
        const int is_ingest = strcmp(keys[i].section, "ingest") == 0;
        const int col = (int)strlen(keys[i].key) + 5;

        for (size_t j = 0; j < 2; j++) {
            lt_config *cfg = NULL;
            if (is_ingest)
                snprintf(yaml, sizeof(yaml), REQ "  %s: %lld\n", keys[i].key, ok[j]);
            else
                snprintf(yaml, sizeof(yaml), REQ "%s:\n  %s: %lld\n", keys[i].section, keys[i].key,
                         ok[j]);
            if (parse(yaml, &cfg, err, sizeof(err)) != 0)
                fail_msg("%s.%s = %lld: %s", keys[i].section, keys[i].key, ok[j], err);
            assert_int_equal(*(int64_t *)(void *)((char *)cfg + keys[i].off), ok[j]);
            lt_config_free(&cfg);
        }
        if (is_ingest)
            snprintf(yaml, sizeof(yaml), REQ "  %s: %lld\n", keys[i].key, keys[i].max + 1);
        else
            snprintf(yaml, sizeof(yaml), REQ "%s:\n  %s: %lld\n", keys[i].section, keys[i].key,
                     keys[i].max + 1);
        snprintf(want, sizeof(want), "t.yaml:%d:%d: %s.%s: %lld is out of range (%lld..%lld)",
                 is_ingest ? 4 : 5, col, keys[i].section, keys[i].key, keys[i].max + 1, keys[i].min,
                 keys[i].max);
        expect_error(yaml, want);
        if (keys[i].min == 0)
            continue;
        if (is_ingest)
            snprintf(yaml, sizeof(yaml), REQ "  %s: %lld\n", keys[i].key, keys[i].min - 1);
        else
            snprintf(yaml, sizeof(yaml), REQ "%s:\n  %s: %lld\n", keys[i].section, keys[i].key,
                     keys[i].min - 1);
        snprintf(want, sizeof(want), "t.yaml:%d:%d: %s.%s: %lld is out of range (%lld..%lld)",
                 is_ingest ? 4 : 5, col, keys[i].section, keys[i].key, keys[i].min - 1, keys[i].min,
                 keys[i].max);
        expect_error(yaml, want);
    }
}

static void unreadable_file_returns_errno_with_file_in_diag(void **state)
{
    lt_config *cfg = NULL;
    lt_diag d;
    char out[1024];

    (void)state;
    lt_diag_clear(&d);
    assert_int_equal(lt_config_load("/nonexistent/lienthong.yaml", &cfg, &d), -ENOENT);
    assert_null(cfg);
    lt_diag_format(&d, out, sizeof(out));
    assert_string_equal(out, "/nonexistent/lienthong.yaml: cannot read: No such file or directory");
    assert_int_equal(lt_config_load(LT_SOURCE_DIR "/config", &cfg, &d), -EISDIR);
    assert_string_equal(d.file, LT_SOURCE_DIR "/config");
    assert_int_equal(lt_config_load("/nonexistent", &cfg, NULL), -ENOENT);
}

static void file_over_one_mib_is_refused(void **state)
{
    char path[] = "/tmp/lt-test-config-XXXXXX", out[1024], want[1024];
    static char block[65536];
    lt_config *cfg = NULL;
    lt_diag d;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    memset(block, '#', sizeof(block));
    for (int i = 0; i < 16; i++)
        assert_int_equal(write(fd, block, sizeof(block)), (int)sizeof(block));
    assert_int_equal(write(fd, "\n", 1), 1);
    close(fd);
    assert_int_equal(lt_config_load(path, &cfg, &d), -EFBIG);
    unlink(path);
    assert_null(cfg);
    lt_diag_format(&d, out, sizeof(out));
    snprintf(want, sizeof(want),
             "%s: the file is larger than 1048576 bytes; this is not a lienthong config", path);
    assert_string_equal(out, want);
}

static void load_reports_errors_under_the_file_name(void **state)
{
    char path[] = "/tmp/lt-test-config-XXXXXX", want[1024], out[1024];
    static const char text[] = "data_dir: d\ningest:\n  endpoint: tcp://x:1\n  sndhwm: -5\n";
    lt_config *cfg = NULL;
    lt_diag d;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), (int)(sizeof(text) - 1));
    close(fd);
    assert_int_equal(lt_config_load(path, &cfg, &d), LT_ERR_CONFIG);
    unlink(path);
    lt_diag_format(&d, out, sizeof(out));
    snprintf(want, sizeof(want), "%s:4:11: ingest.sndhwm must not be negative (range 0..10000000)",
             path);
    assert_string_equal(out, want);
    assert_string_equal(d.field, "ingest.sndhwm");
    assert_null(cfg);
}

static void long_and_binary_keys_are_quoted_safely(void **state)
{
    char yaml[512], got[1024];
    lt_config *cfg = NULL;

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s: 1\n",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(parse(yaml, &cfg, got, sizeof(got)), LT_ERR_CONFIG);
    assert_non_null(strstr(got, "aaa...\" at top level"));
    expect_error("\"a\\tb\\\"c\": 1\n",
                 "t.yaml:1:1: unknown key \"a?b?c\" at top level (expected one of: data_dir, "
                 "ingest, batch, store, validation, log, agencies, routes, streams, control)");
}

static void deep_nesting_is_refused_not_recursed(void **state)
{
    char yaml[256];

    (void)state;
    memset(yaml, '[', 100);
    memset(yaml + 100, ']', 100);
    yaml[200] = '\0';
    expect_error(yaml, "t.yaml:1:33: values are nested more than 32 levels deep");
}

static void parse_accepts_null_text_and_free_accepts_null(void **state)
{
    lt_config *cfg = NULL;
    lt_diag d;

    (void)state;
    lt_config_free(NULL);
    lt_config_free(&cfg);
    assert_int_equal(lt_config_parse(NULL, NULL, 0, &cfg, &d), LT_ERR_CONFIG);
    assert_string_equal(d.file, "<config>");
    assert_int_equal(lt_config_parse("x", REQ, strlen(REQ), &cfg, NULL), 0);
    lt_config_free(&cfg);
    assert_null(cfg);
    /* len bounds the text: the second document after len is not seen */
    assert_int_equal(lt_config_parse("x", REQ "---\n", strlen(REQ), &cfg, NULL), 0);
    lt_config_free(&cfg);
}

/* ---- agencies, routes, streams, control (issue 3) ---- */

#define AG                                                                                         \
    REQ "agencies:\n"                                                                              \
        "  tax: {endpoint: 'tcp://h:1'}\n"                                                         \
        "  land: {endpoint: 'tcp://h:2'}\n"                                                        \
        "  portal: {endpoint: 'tcp://h:3'}\n"

/* Parse text that must load; fail naming the error otherwise. */
static lt_config *parse_ok(const char *text)
{
    lt_config *cfg = NULL;
    char err[1024];

    if (parse(text, &cfg, err, sizeof(err)) != 0)
        fail_msg("input:\n%s\nerror: %s", text, err);
    return cfg;
}

static void agency_with_only_an_endpoint_gets_every_default(void **state)
{
    lt_config *cfg = parse_ok(REQ "agencies:\n  land:\n    endpoint: tcp://h:2\n");
    const lt_config_agency *a = &cfg->agencies[0];

    (void)state;
    assert_int_equal(cfg->n_agencies, 1);
    assert_string_equal(a->name, "land");
    assert_string_equal(a->adapter, "land"); /* the name, since it is an adapter */
    assert_string_equal(a->transport, "zmq");
    assert_string_equal(a->endpoint, "tcp://h:2");
    assert_null(a->senders);
    assert_int_equal(a->n_senders, 0);
    assert_int_equal(a->window, 8);
    assert_int_equal(a->timeout_ms, 10000);
    assert_int_equal(a->backoff_initial_ms, 2000);
    assert_int_equal(a->backoff_max_ms, 3600000);
    assert_int_equal(a->max_attempts, 0);
    assert_int_equal(a->max_age_s, 259200);
    assert_int_equal(a->down_after, 3);
    assert_int_equal(a->line, 5);
    assert_int_equal(cfg->n_routes, 0);
    lt_config_free(&cfg);
}

static void no_links_sections_means_no_agencies_streams_or_routes(void **state)
{
    lt_config *cfg = parse_ok(REQ);

    (void)state;
    assert_null(cfg->agencies);
    assert_int_equal(cfg->n_agencies, 0);
    assert_null(cfg->routes);
    assert_int_equal(cfg->n_routes, 0);
    assert_null(cfg->streams_endpoint);
    assert_null(cfg->streams_pub_endpoint);
    assert_int_equal(cfg->streams_max_credit, 10000);
    assert_string_equal(cfg->control_endpoint, "ipc://d/control.sock");
    lt_config_free(&cfg);
    cfg = parse_ok(REQ "agencies: {}\nroutes: []\n");
    assert_int_equal(cfg->n_agencies, 0);
    assert_int_equal(cfg->n_routes, 0);
    lt_config_free(&cfg);
}

static void control_endpoint_defaults_to_a_socket_in_data_dir(void **state)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        { "data_dir: data\ningest: {endpoint: 'tcp://h:1'}\n", "ipc://data/control.sock" },
        { "data_dir: ./var/lt\ningest: {endpoint: 'tcp://h:1'}\n", "ipc://./var/lt/control.sock" },
        { "data_dir: /var/lib/lienthong\ningest: {endpoint: 'tcp://h:1'}\n",
          "ipc:///var/lib/lienthong/control.sock" },
        { "data_dir: /var/lib/lienthong/\ningest: {endpoint: 'tcp://h:1'}\n",
          "ipc:///var/lib/lienthong/control.sock" },
        { "data_dir: d\ningest: {endpoint: 'tcp://h:1'}\ncontrol: {endpoint: 'tcp://h:2'}\n",
          "tcp://h:2" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lt_config *cfg = parse_ok(cases[i].yaml);
        assert_string_equal(cfg->control_endpoint, cases[i].want);
        lt_config_free(&cfg);
    }
}

static void every_agency_stream_and_route_key_can_be_set(void **state)
{
    lt_config *cfg = parse_ok(
        "data_dir: d\ningest: {endpoint: 'tcp://h:1'}\n"
        "agencies:\n"
        "  tnmt_hcm:\n"
        "    adapter: land\n    transport: zmq\n    endpoint: ipc:///run/land.sock\n"
        "    senders: [vpdkdd-hcm, vpdkdd-q1]\n    window: 1024\n    timeout_ms: 100\n"
        "    backoff_initial_ms: 100\n    backoff_max_ms: 1000\n    max_attempts: 1000000\n"
        "    max_age_s: 60\n    down_after: 1000\n"
        "routes:\n"
        "  - name: all-fields\n    kinds: [result, status]\n"
        "    procedures: ['1.004227', '1.0042*']\n    senders: ['motcua-*']\n"
        "    agency_codes: ['H26.*']\n    result_kinds: [tax_notice, certificate]\n"
        "    to: [tnmt_hcm]\n"
        "streams: {endpoint: 'tcp://h:2', pub_endpoint: 'tcp://h:3', max_credit: 1000000}\n"
        "control: {endpoint: 'ipc:///run/ctl.sock'}\n");
    const lt_config_agency *a = &cfg->agencies[0];
    const lt_config_route *r = &cfg->routes[0];

    (void)state;
    assert_string_equal(a->name, "tnmt_hcm");
    assert_string_equal(a->adapter, "land");
    assert_string_equal(a->endpoint, "ipc:///run/land.sock");
    assert_int_equal(a->n_senders, 2);
    assert_string_equal(a->senders[0], "vpdkdd-hcm");
    assert_string_equal(a->senders[1], "vpdkdd-q1");
    assert_int_equal(a->window, 1024);
    assert_int_equal(a->timeout_ms, 100);
    assert_int_equal(a->backoff_initial_ms, 100);
    assert_int_equal(a->backoff_max_ms, 1000);
    assert_int_equal(a->max_attempts, 1000000);
    assert_int_equal(a->max_age_s, 60);
    assert_int_equal(a->down_after, 1000);
    assert_string_equal(r->name, "all-fields");
    assert_int_equal(r->kinds, LT_ROUTE_STATUS | LT_ROUTE_RESULT);
    assert_int_equal(r->n_procedures, 2);
    assert_string_equal(r->procedures[1], "1.0042*");
    assert_int_equal(r->n_senders, 1);
    assert_string_equal(r->senders[0], "motcua-*");
    assert_int_equal(r->n_agency_codes, 1);
    assert_string_equal(r->agency_codes[0], "H26.*");
    assert_int_equal(r->n_result_kinds, 2);
    assert_string_equal(r->result_kinds[1], "certificate");
    assert_int_equal(r->n_to, 1);
    assert_int_equal(r->to_mask, 1);
    assert_int_equal(r->line, 17);
    assert_string_equal(cfg->streams_endpoint, "tcp://h:2");
    assert_string_equal(cfg->streams_pub_endpoint, "tcp://h:3");
    assert_int_equal(cfg->streams_max_credit, 1000000);
    assert_string_equal(cfg->control_endpoint, "ipc:///run/ctl.sock");
    lt_config_free(&cfg);
}

/* Routes keep file order, may come before agencies, and to_mask has bit i for agencies[i]. */
static void routes_keep_file_order_and_map_to_agency_bits(void **state)
{
    lt_config *cfg = parse_ok(REQ "routes:\n"
                                  "  - {name: b, to: [portal, land]}\n"
                                  "  - {name: a, kinds: [status], to: [tax]}\n"
                                  "  - {name: c, kinds: [result], to: [portal, tax, land]}\n"
                                  "agencies:\n"
                                  "  tax: {endpoint: 'tcp://h:1'}\n"
                                  "  land: {endpoint: 'tcp://h:2'}\n"
                                  "  portal: {endpoint: 'tcp://h:3'}\n");

    (void)state;
    assert_int_equal(cfg->n_routes, 3);
    assert_string_equal(cfg->routes[0].name, "b");
    assert_string_equal(cfg->routes[1].name, "a");
    assert_string_equal(cfg->routes[2].name, "c");
    assert_int_equal(cfg->routes[0].to_mask, 0x6);
    assert_int_equal(cfg->routes[1].to_mask, 0x1);
    assert_int_equal(cfg->routes[2].to_mask, 0x7);
    assert_int_equal(cfg->routes[0].kinds, LT_ROUTE_STATUS | LT_ROUTE_RESULT);
    assert_int_equal(cfg->routes[1].kinds, LT_ROUTE_STATUS);
    assert_int_equal(cfg->routes[2].kinds, LT_ROUTE_RESULT);
    assert_string_equal(cfg->routes[0].to[0], "portal");
    assert_int_equal(cfg->routes[0].n_procedures, 0);
    assert_null(cfg->routes[0].procedures);
    assert_int_equal(cfg->routes[0].line, 5);
    lt_config_free(&cfg);
}

/* 32 agencies fill the 32-bit target set; a 33rd is refused. */
static void at_most_32_agencies(void **state)
{
    char yaml[4096], want[256];
    size_t n = (size_t)snprintf(yaml, sizeof(yaml), REQ "agencies:\n");
    lt_config *cfg;

    (void)state;
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
                              "  a%d: {adapter: portal, endpoint: 'tcp://h:%d'}\n", i, i + 1);
    snprintf(yaml + n, sizeof(yaml) - n, "routes:\n  - {name: last, to: [a31, a0]}\n");
    cfg = parse_ok(yaml);
    assert_int_equal(cfg->n_agencies, 32);
    assert_int_equal(cfg->routes[0].to_mask, 0x80000001u);
    lt_config_free(&cfg);
    snprintf(yaml + n, sizeof(yaml) - n, "  a32: {adapter: portal, endpoint: 'tcp://h:1'}\n");
    snprintf(want, sizeof(want),
             "t.yaml:37:3: more than 32 agencies (a route's targets are a 32-bit set)");
    expect_error(yaml, want);
}

/* Every agency integer key: min and max load, min-1 and max+1 are refused with the range. */
static void agency_integer_bounds_are_inclusive(void **state)
{
    static const struct {
        const char *key;
        long long min, max;
        size_t off;
    } keys[] = {
        { "window", 1, 1024, offsetof(lt_config_agency, window) },
        { "timeout_ms", 100, 600000, offsetof(lt_config_agency, timeout_ms) },
        { "backoff_initial_ms", 100, 3600000, offsetof(lt_config_agency, backoff_initial_ms) },
        { "backoff_max_ms", 1000, 86400000, offsetof(lt_config_agency, backoff_max_ms) },
        { "max_attempts", 0, 1000000, offsetof(lt_config_agency, max_attempts) },
        { "max_age_s", 60, 31536000, offsetof(lt_config_agency, max_age_s) },
        { "down_after", 1, 1000, offsetof(lt_config_agency, down_after) },
    };
    char yaml[512], want[512];

    (void)state;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const long long ok[2] = { keys[i].min, keys[i].max },
                        bad[2] = { keys[i].min - 1, keys[i].max + 1 };
        /* backoff_initial_ms <= backoff_max_ms: move the other one out of the way */
        const char *extra =
            strcmp(keys[i].key, "backoff_initial_ms") == 0 ? "    backoff_max_ms: 86400000\n"
            : strcmp(keys[i].key, "backoff_max_ms") == 0   ? "    backoff_initial_ms: 100\n"
                                                           : "";
        for (size_t j = 0; j < 2; j++) {
            lt_config *cfg;
            snprintf(yaml, sizeof(yaml),
                     REQ "agencies:\n  tax:\n    endpoint: tcp://h:1\n%s    %s: %lld\n", extra,
                     keys[i].key, ok[j]);
            cfg = parse_ok(yaml);
            assert_int_equal(*(int64_t *)(void *)((char *)&cfg->agencies[0] + keys[i].off), ok[j]);
            lt_config_free(&cfg);
        }
        for (size_t j = 0; j < 2; j++) {
            if (bad[j] < 0)
                continue;
            snprintf(yaml, sizeof(yaml),
                     REQ "agencies:\n  tax:\n    endpoint: tcp://h:1\n    %s: %lld\n", keys[i].key,
                     bad[j]);
            snprintf(want, sizeof(want),
                     "t.yaml:7:%d: agencies.tax.%s: %lld is out of range (%lld..%lld)",
                     (int)strlen(keys[i].key) + 7, keys[i].key, bad[j], keys[i].min, keys[i].max);
            expect_error(yaml, want);
        }
    }
}

/* Every check of the new sections, with the exact message an operator reads. */
static void each_links_error_has_its_exact_message(void **state)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        /* agencies */
        { REQ "agencies: [tax]\n",
          "t.yaml:4:11: agencies must be a mapping of agency names to links, not a list" },
        { REQ "agencies:\n  Tax: {endpoint: 'tcp://h:1'}\n",
          "t.yaml:5:3: agency name \"Tax\" must be 1 to 32 characters of a-z, 0-9, _ and -" },
        { REQ "agencies:\n  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: {endpoint: 'tcp://h:1'}\n",
          "t.yaml:5:3: agency name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" must be 1 to 32 "
          "characters of a-z, 0-9, _ and -" },
        { REQ "agencies:\n  \"\": {endpoint: 'tcp://h:1'}\n",
          "t.yaml:5:3: agency name \"\" must be 1 to 32 characters of a-z, 0-9, _ and -" },
        { REQ "agencies:\n  [a]: {}\n", "t.yaml:5:3: keys must be plain names, not a list" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1'}\n  tax: {endpoint: 'tcp://h:2'}\n",
          "t.yaml:6:3: duplicate key \"tax\" in agencies (first at line 5, column 3)" },
        { REQ "agencies:\n  tax:\n",
          "t.yaml:5:7: agencies.tax must be a mapping (adapter, endpoint, ...), not empty" },
        { REQ "agencies:\n  tax: x\n",
          "t.yaml:5:8: agencies.tax must be a mapping (adapter, endpoint, ...), not a scalar" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', windw: 3}\n",
          "t.yaml:5:32: unknown key \"windw\" in agencies.tax (expected one of: adapter, "
          "transport, endpoint, senders, window, timeout_ms, backoff_initial_ms, backoff_max_ms, "
          "max_attempts, max_age_s, down_after, url, username, password, password_file, madonvi, "
          "service, login_path, sync_path, progress_path, ca_file, client_cert, client_key, "
          "session_codes, procedure_map, unit_map, connect_timeout_ms, request_timeout_ms, "
          "rate_per_s)" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', adapter: customs}\n",
          "t.yaml:5:41: agencies.tax: unknown adapter \"customs\" (known: tax, land, portal)" },
        { REQ "agencies:\n  customs: {endpoint: 'tcp://h:1'}\n",
          "t.yaml:5:12: missing required key \"adapter\" in agencies.customs (the name is not an "
          "adapter; known: tax, land, portal)" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', transport: smtp}\n",
          "t.yaml:5:43: agencies.tax: unknown transport \"smtp\" (known: zmq, http)" },
        /* transport http */
        { REQ "agencies:\n  portal: {transport: http}\n",
          "t.yaml:5:11: missing required key \"url\" in agencies.portal (the http transport "
          "posts to it)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'ftp://x'}\n",
          "t.yaml:5:34: agencies.portal.url \"ftp://x\" must be an http:// or https:// URL "
          "without spaces" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', endpoint: 'tcp://h:1'}\n",
          "t.yaml:5:57: agencies.portal: endpoint is for transport zmq; the http transport uses "
          "url" },
        { REQ "agencies:\n  portal: {endpoint: 'tcp://h:1', url: 'https://p'}\n",
          "t.yaml:5:40: agencies.portal: url is for transport http; the zmq transport uses "
          "endpoint" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', username: u}\n",
          "t.yaml:5:11: agencies.portal: the portal over http needs username, password (or "
          "password_file) and madonvi" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', username: u, password: p, "
              "password_file: /f, madonvi: '000.00.00.H29'}\n",
          "t.yaml:5:88: agencies.portal: password and password_file are both set (keep one: a "
          "file is safer)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', client_cert: /c}\n",
          "t.yaml:5:60: agencies.portal: client_cert and client_key go together (one is "
          "missing)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', sync_path: sync}\n",
          "t.yaml:5:58: agencies.portal.sync_path \"sync\" must start with / and have no spaces" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', procedure_map: [a]}\n",
          "t.yaml:5:62: agencies.portal.procedure_map must be a mapping of local code to national "
          "code, not a list" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', procedure_map: {a: {name: "
              "n}}}\n",
          "t.yaml:5:66: agencies.portal.procedure_map.a: missing required key \"code\" (the "
          "national MaTTHC)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', procedure_map: {a: {code: "
              "'1', colour: red}}}\n",
          "t.yaml:5:78: unknown key \"colour\" in agencies.portal.procedure_map.a (expected one "
          "of: code, name, field_code, field_name)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', procedure_map: {a: {code: "
              "[b]}}}\n",
          "t.yaml:5:73: agencies.portal.procedure_map.a.code must be a string, not a list" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', procedure_map: {a: {code: "
              "'1', code: '2'}}}\n",
          "t.yaml:5:78: duplicate key \"code\" in agencies.portal.procedure_map.a (first at line "
          "5, column 67)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', procedure_map: {a: {code: "
              "'1', field_code: 'G 09'}}}\n",
          "t.yaml:5:90: agencies.portal.procedure_map.a.field_code: \"G 09\" is not a name or "
          "pattern (1 to 250 printable ASCII characters, no spaces)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', procedure_map: {a: {code: "
              "'1', name: ''}}}\n",
          "t.yaml:5:84: agencies.portal.procedure_map.a.name: \"\" is not a name (1 to 250 bytes "
          "of text, no control characters)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', procedure_map: {a: [b]}}\n",
          "t.yaml:5:66: agencies.portal.procedure_map: each entry must be code: code or code: "
          "{code: ...}, not a list" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', unit_map: {a: b, a: c}}\n",
          "t.yaml:5:64: duplicate key \"a\" in agencies.portal.unit_map (first at line 5, column "
          "58)" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', unit_map: {a: [b]}}\n",
          "t.yaml:5:61: agencies.portal.unit_map: each entry must be code: code, not a list" },
        { REQ "agencies:\n  portal: {transport: http, url: 'https://p', rate_per_s: 100001}\n",
          "t.yaml:5:59: agencies.portal.rate_per_s: 100001 is out of range (0..100000)" },
        { REQ "agencies:\n  tax: {transport: zmq}\n",
          "t.yaml:5:8: missing required key \"endpoint\" in agencies.tax (the zmq transport "
          "connects to the agency's gateway)" },
        { REQ "agencies:\n  tax:\n    endpoint: 'http://h:1'\n",
          "t.yaml:6:15: agencies.tax.endpoint \"http://h:1\" must start with tcp:// or ipc://" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', window: '8'}\n",
          "t.yaml:5:40: agencies.tax.window must be an integer, not a quoted string (write "
          "window: 8)" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', backoff_initial_ms: 5000, "
              "backoff_max_ms: 4000}\n",
          "t.yaml:5:52: agencies.tax: backoff_initial_ms (5000) is greater than backoff_max_ms "
          "(4000)" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', backoff_max_ms: 1000}\n",
          "t.yaml:5:48: agencies.tax: backoff_initial_ms (2000) is greater than backoff_max_ms "
          "(1000)" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', senders: [a, b]}\n"
              "  land: {endpoint: 'tcp://h:2', senders: [c, b]}\n",
          "t.yaml:6:46: agencies.land.senders: \"b\" is already a sender of agency \"tax\"" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', senders: [a, a]}\n",
          "t.yaml:5:45: agencies.tax.senders: \"a\" is listed twice" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', senders: thue}\n",
          "t.yaml:5:41: agencies.tax.senders must be a list, not a scalar (write senders: "
          "[thue])" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', senders: {a: b}}\n",
          "t.yaml:5:41: agencies.tax.senders must be a list, not a mapping" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', senders: ['a b']}\n",
          "t.yaml:5:42: agencies.tax.senders: \"a b\" is not a name or pattern (1 to 250 "
          "printable ASCII characters, no spaces)" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', senders: ['']}\n",
          "t.yaml:5:42: agencies.tax.senders: \"\" is not a name or pattern (1 to 250 "
          "printable ASCII characters, no spaces)" },
        { REQ "agencies:\n  tax: {endpoint: 'tcp://h:1', senders: [[a]]}\n",
          "t.yaml:5:42: agencies.tax.senders: each item must be a string, not a list" },
        /* routes */
        { AG "routes:\n  name: r\n",
          "t.yaml:9:3: routes must be a list of rules (- name: ..., to: [...]), not a mapping" },
        { AG "routes:\n  - r\n",
          "t.yaml:9:5: routes[0] must be a mapping (name: ..., to: [...]), not a scalar" },
        { AG "routes:\n  - name: land-dossiers\n    to: [land, lnd]\n",
          "t.yaml:10:16: route \"land-dossiers\": unknown agency \"lnd\" in to (configured: tax, "
          "land, portal)" },
        { REQ "routes:\n  - name: r\n    to: [lnd]\n",
          "t.yaml:6:10: route \"r\": unknown agency \"lnd\" in to (configured: none)" },
        { AG "routes:\n  - name: r\n    to: [tax, tax]\n",
          "t.yaml:10:15: route \"r\": agency \"tax\" is listed twice in to" },
        { AG "routes:\n  - name: r\n    to: [land]\n  - name: r\n    to: [tax]\n",
          "t.yaml:11:11: duplicate route name \"r\" (first at line 9)" },
        { AG "routes:\n  - name: r\n    to: []\n",
          "t.yaml:10:9: routes[0].to must not be an empty list (it is required: name at least "
          "one)" },
        { AG "routes:\n  - name: r\n", "t.yaml:9:5: missing required key \"to\" in routes[0]" },
        { AG "routes:\n  - to: [tax]\n", "t.yaml:9:5: missing required key \"name\" in routes[0]" },
        { AG "routes:\n  - {name: a, to: [tax]}\n  - {nam: b, to: [tax]}\n",
          "t.yaml:10:6: unknown key \"nam\" in routes[1] (expected one of: name, kinds, "
          "procedures, senders, agency_codes, result_kinds, to)" },
        { AG "routes:\n  - name: 'a b'\n    to: [tax]\n",
          "t.yaml:9:11: routes[0].name: \"a b\" is not a name or pattern (1 to 250 printable "
          "ASCII characters, no spaces)" },
        { AG "routes:\n  - name: r\n    kinds: [statuses]\n    to: [tax]\n",
          "t.yaml:10:13: routes[0].kinds: unknown kind \"statuses\" (expected one of: status, "
          "result)" },
        { AG "routes:\n  - name: r\n    kinds: []\n    to: [tax]\n",
          "t.yaml:10:12: routes[0].kinds must not be an empty list (leave the key out to match "
          "any)" },
        { AG "routes:\n  - name: r\n    kinds: status\n    to: [tax]\n",
          "t.yaml:10:12: routes[0].kinds must be a list of kinds, e.g. [status], not a scalar" },
        { AG "routes:\n  - name: r\n    kinds: [status]\n    result_kinds: [tax_notice]\n"
             "    to: [tax]\n",
          "t.yaml:11:19: route \"r\": result_kinds is set but kinds does not include result" },
        { AG "routes:\n  - name: r\n    procedures: []\n    to: [tax]\n",
          "t.yaml:10:17: routes[0].procedures must not be an empty list (leave the key out to "
          "match any)" },
        { AG "routes:\n  - name: r\n    senders: []\n    to: [tax]\n",
          "t.yaml:10:14: routes[0].senders must not be an empty list (leave the key out to "
          "match any)" },
        { AG "routes:\n  - name: r\n    agency_codes: []\n    to: [tax]\n",
          "t.yaml:10:19: routes[0].agency_codes must not be an empty list (leave the key out to "
          "match any)" },
        { AG "routes:\n  - name: r\n    result_kinds: []\n    to: [tax]\n",
          "t.yaml:10:19: routes[0].result_kinds must not be an empty list (leave the key out to "
          "match any)" },
        { AG "routes:\n  - name: r\n    procedures: 1.004227\n    to: [tax]\n",
          "t.yaml:10:17: routes[0].procedures must be a list, not a scalar (write procedures: "
          "[1.004227])" },
        /* streams and control */
        { AG "streams: {endpont: x}\n",
          "t.yaml:8:11: unknown key \"endpont\" in streams (expected one of: endpoint, "
          "pub_endpoint, max_credit)" },
        { AG "streams: {max_credit: 0}\n",
          "t.yaml:8:23: streams.max_credit: 0 is out of range (1..1000000)" },
        { AG "streams: {max_credit: 1000001}\n",
          "t.yaml:8:23: streams.max_credit: 1000001 is out of range (1..1000000)" },
        { AG "streams: {endpoint: 'tcp://127.0.0.1:7450'}\n",
          "t.yaml:8:21: streams.endpoint \"tcp://127.0.0.1:7450\" is also ingest.endpoint; each "
          "socket needs its own endpoint" },
        { AG "streams: {endpoint: 'tcp://h:9', pub_endpoint: 'tcp://h:9'}\n",
          "t.yaml:8:48: streams.pub_endpoint \"tcp://h:9\" is also streams.endpoint; each socket "
          "needs its own endpoint" },
        { AG "control: {endpoint: 'udp://x'}\n",
          "t.yaml:8:21: control.endpoint \"udp://x\" must start with tcp:// or ipc://" },
        { AG "control: {endpoint: 'tcp://127.0.0.1:7450'}\n",
          "t.yaml:8:21: control.endpoint \"tcp://127.0.0.1:7450\" is also ingest.endpoint; each "
          "socket needs its own endpoint" },
        { "data_dir: d\ningest: {endpoint: 'ipc://d/control.sock'}\n",
          "t.yaml:1:11: control.endpoint \"ipc://d/control.sock\" is also ingest.endpoint; each "
          "socket needs its own endpoint" },
        { AG "control: {}\ncontrol: {}\n",
          "t.yaml:9:1: duplicate key \"control\" in top level (first at line 8, column 1)" },
        { AG "control: ipc://x\n", "t.yaml:8:10: control must be a mapping, not a scalar" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].yaml, cases[i].want);
}

static void ipc_paths_longer_than_a_socket_address_are_refused(void **state)
{
    char yaml[512], want[512], path[120];
    lt_config *cfg;

    (void)state;
    memset(path, 'a', 107);
    path[0] = '/';
    path[107] = '\0';
    snprintf(yaml, sizeof(yaml), "data_dir: d\ningest: {endpoint: 'ipc://%s'}\n", path);
    cfg = parse_ok(yaml);
    lt_config_free(&cfg);
    snprintf(yaml, sizeof(yaml), "data_dir: d\ningest: {endpoint: 'ipc://%sa'}\n", path);
    /* the value is quoted as its first 76 bytes and "..." */
    snprintf(want, sizeof(want),
             "t.yaml:2:20: ingest.endpoint \"ipc://%.70s...\" is too long: an ipc:// path holds "
             "at most 107 bytes",
             path);
    expect_error(yaml, want);
    /* ipc://DATA_DIR/control.sock must fit too: 94 bytes of data_dir is the most */
    memset(path, 'a', 95);
    path[95] = '\0';
    snprintf(yaml, sizeof(yaml), "data_dir: %.94s\ningest: {endpoint: 'tcp://h:1'}\n", path);
    cfg = parse_ok(yaml);
    assert_int_equal(strlen(cfg->control_endpoint), 6 + 107);
    lt_config_free(&cfg);
    snprintf(yaml, sizeof(yaml), "data_dir: %s\ningest: {endpoint: 'tcp://h:1'}\n", path);
    snprintf(want, sizeof(want),
             "t.yaml:1:11: data_dir is too long for the default control endpoint "
             "ipc://DATA_DIR/control.sock (an ipc:// path holds at most 107 bytes); set "
             "control.endpoint");
    expect_error(yaml, want);
    snprintf(yaml, sizeof(yaml),
             "data_dir: %s\ningest: {endpoint: 'tcp://h:1'}\ncontrol: {endpoint: 'tcp://h:2'}\n",
             path);
    cfg = parse_ok(yaml);
    lt_config_free(&cfg);
}

/* The shipped config routes the land-transfer flow as config/README.md describes it. */
static void shipped_config_routes_the_land_transfer_flow(void **state)
{
    lt_config *cfg = load_shipped("lienthong.yaml");
    static const struct {
        const char *name;
        unsigned kinds;
        uint32_t to_mask; /* tax 1, land 2, portal 4 */
    } want[] = {
        { "land-transfer-from-desk", LT_ROUTE_STATUS, 0x6 },
        { "land-office-to-tax", LT_ROUTE_STATUS, 0x5 },
        { "tax-notice", LT_ROUTE_RESULT, 0x6 },
        { "portal-every-result", LT_ROUTE_RESULT, 0x4 },
        { "portal-every-status", LT_ROUTE_STATUS, 0x4 },
    };

    (void)state;
    assert_int_equal(cfg->n_agencies, 3);
    assert_string_equal(cfg->agencies[0].name, "tax");
    assert_string_equal(cfg->agencies[0].endpoint, "tcp://127.0.0.1:7461");
    assert_int_equal(cfg->agencies[0].n_senders, 2);
    assert_string_equal(cfg->agencies[0].senders[0], "thue-hcm");
    assert_string_equal(cfg->agencies[0].senders[1], "tax-sim");
    assert_string_equal(cfg->agencies[1].name, "land");
    assert_string_equal(cfg->agencies[1].endpoint, "tcp://127.0.0.1:7462");
    assert_int_equal(cfg->agencies[1].n_senders, 1);
    assert_string_equal(cfg->agencies[1].senders[0], "vpdkdd-hcm");
    assert_string_equal(cfg->agencies[2].name, "portal");
    assert_string_equal(cfg->agencies[2].endpoint, "tcp://127.0.0.1:7463");
    /* the tax link writes out every default: it must equal the land link's implicit ones */
    for (size_t off = offsetof(lt_config_agency, window);
         off <= offsetof(lt_config_agency, down_after); off += sizeof(int64_t))
        assert_int_equal(*(int64_t *)(void *)((char *)&cfg->agencies[0] + off),
                         *(int64_t *)(void *)((char *)&cfg->agencies[1] + off));
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(cfg->agencies[i].adapter, cfg->agencies[i].name);
        assert_string_equal(cfg->agencies[i].transport, "zmq");
    }
    assert_int_equal(cfg->n_routes, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(cfg->routes[i].name, want[i].name);
        assert_int_equal(cfg->routes[i].kinds, want[i].kinds);
        assert_int_equal(cfg->routes[i].to_mask, want[i].to_mask);
    }
    assert_string_equal(cfg->routes[0].procedures[0], "1.004227");
    assert_string_equal(cfg->routes[0].senders[0], "motcua-*");
    assert_string_equal(cfg->routes[1].senders[0], "vpdkdd-*");
    assert_string_equal(cfg->routes[2].result_kinds[0], "tax_notice");
    assert_int_equal(cfg->routes[3].n_result_kinds, 0);
    assert_string_equal(cfg->routes[4].procedures[0], "*");
    assert_string_equal(cfg->streams_endpoint, "tcp://127.0.0.1:7451");
    assert_null(cfg->streams_pub_endpoint);
    assert_int_equal(cfg->streams_max_credit, 10000);
    assert_string_equal(cfg->control_endpoint, "ipc://data/control.sock");
    lt_config_free(&cfg);
}

static void http_portal_agency_keys_load_with_defaults_and_maps(void **state)
{
    (void)state;
    static const char yaml[] =
        REQ "agencies:\n"
            "  portal:\n"
            "    transport: http\n"
            "    url: 'https://dvc.example.vn/api'\n"
            "    username: hcm\n"
            "    password_file: /etc/lienthong/portal.pass\n"
            "    madonvi: '000.00.00.H29'\n"
            "    service: lienthong\n"
            "    ca_file: /etc/ssl/portal-ca.pem\n"
            "    client_cert: /etc/lienthong/c.pem\n"
            "    client_key: /etc/lienthong/c.key\n"
            "    session_codes: ['-1', '99']\n"
            "    procedure_map:\n"
            "      'DD-CN': {code: '1.004227', name: 'Chuyển nhượng quyền sử dụng đất',\n"
            "                field_code: G09-TN05, field_name: 'Đất đai'}\n"
            "      'DKKD-01': '2.001234'\n"
            "      'DD-TC': {code: '1.004228', field_code: G09-TN05}\n"
            "    unit_map: {'vpdkdd-hcm': '000.30.30.H29'}\n"
            "    connect_timeout_ms: 100\n"
            "    request_timeout_ms: 600000\n"
            "    rate_per_s: 20\n"
            "  tax: {endpoint: 'tcp://h:1'}\n";
    lt_config *cfg = NULL;
    lt_diag d;
    assert_int_equal(lt_config_parse("t.yaml", yaml, strlen(yaml), &cfg, &d), 0);
    const lt_config_agency *a = &cfg->agencies[0];
    assert_string_equal(a->transport, "http");
    assert_string_equal(a->url, "https://dvc.example.vn/api");
    assert_string_equal(a->madonvi, "000.00.00.H29");
    assert_string_equal(a->login_path, "/login");
    assert_string_equal(a->sync_path, "/DongBoHoSoMC");
    assert_string_equal(a->progress_path, "/CapNhatTienDoHoSoMC");
    assert_int_equal(a->n_session_codes, 2);
    assert_int_equal(a->n_procedure_map, 3);
    assert_string_equal(lt_config_map_get(a->procedure_map, a->n_procedure_map, "DKKD-01"),
                        "2.001234");
    assert_null(lt_config_map_get(a->procedure_map, a->n_procedure_map, "1.004227"));
    /* the long form: code and details; the short form: the code alone */
    const char *info[3];
    assert_string_equal(lt_config_procedure_get(a, "DD-CN", info), "1.004227");
    assert_string_equal(info[0], "Chuyển nhượng quyền sử dụng đất");
    assert_string_equal(info[1], "G09-TN05");
    assert_string_equal(info[2], "Đất đai");
    assert_string_equal(lt_config_procedure_get(a, "DKKD-01", info), "2.001234");
    assert_null(info[0]);
    assert_null(info[1]);
    assert_null(info[2]);
    assert_string_equal(lt_config_procedure_get(a, "DD-TC", info), "1.004228");
    assert_null(info[0]);
    assert_string_equal(info[1], "G09-TN05");
    assert_null(info[2]);
    assert_null(lt_config_procedure_get(a, "9.999999", info));
    /* an agency without a map passes codes through, with no details */
    assert_string_equal(lt_config_procedure_get(&cfg->agencies[1], "1.004227", info), "1.004227");
    assert_null(info[0]);
    assert_string_equal(lt_config_map_get(a->unit_map, a->n_unit_map, "vpdkdd-hcm"),
                        "000.30.30.H29");
    assert_int_equal(a->connect_timeout_ms, 100);
    assert_int_equal(a->request_timeout_ms, 600000);
    assert_int_equal(a->rate_per_s, 20);
    /* a zmq agency gets the http defaults and no paths */
    assert_null(cfg->agencies[1].url);
    assert_null(cfg->agencies[1].sync_path);
    assert_int_equal(cfg->agencies[1].connect_timeout_ms, 5000);
    assert_int_equal(cfg->agencies[1].request_timeout_ms, 8000);
    assert_int_equal(cfg->agencies[1].rate_per_s, 0);
    lt_config_free(&cfg);
}

static void production_example_loads_with_absolute_paths(void **state)
{
    lt_config *cfg = load_shipped("production.yaml");

    (void)state;
    assert_string_equal(cfg->data_dir, "/var/lib/lienthong");
    assert_string_equal(cfg->control_endpoint, "ipc:///var/lib/lienthong/control.sock");
    assert_int_equal(cfg->n_agencies, 3);
    assert_int_equal(cfg->n_routes, 5);
    for (size_t i = 0; i < cfg->n_routes; i++)
        assert_int_not_equal(cfg->routes[i].to_mask, 0);
    /* tax over zmq, land and the portal over http with the portal's maps */
    assert_string_equal(cfg->agencies[0].transport, "zmq");
    assert_string_equal(cfg->agencies[1].transport, "http");
    assert_null(cfg->agencies[1].endpoint);
    const lt_config_agency *p = &cfg->agencies[2];
    assert_string_equal(p->adapter, "portal");
    assert_string_equal(p->transport, "http");
    assert_non_null(p->password_file);
    assert_null(p->password);
    assert_string_equal(p->sync_path, "/DongBoHoSoMC");
    assert_true(p->timeout_ms > 3 * p->request_timeout_ms);
    assert_string_equal(lt_config_map_get(p->procedure_map, p->n_procedure_map, "DD-CN-01"),
                        "1.004227");
    const char *info[3];
    assert_string_equal(lt_config_procedure_get(p, "1.004227", info), "1.004227");
    assert_string_equal(info[0], "Chuyển nhượng quyền sử dụng đất");
    assert_string_equal(info[1], "G09-TN05");
    assert_string_equal(info[2], "Đất đai");
    assert_string_equal(lt_config_procedure_get(p, "HT-KS-01", info), "1.001193");
    assert_null(info[0]);
    assert_string_equal(lt_config_map_get(p->unit_map, p->n_unit_map, "VPDKDD-Q1"),
                        "000.30.30.H29");
    lt_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_key_file_gets_every_default),
        cmocka_unit_test(shipped_config_loads_with_the_documented_defaults),
        cmocka_unit_test(minimal_config_loads),
        cmocka_unit_test(every_key_can_be_set),
        cmocka_unit_test(accepted_store_flags_and_log_levels),
        cmocka_unit_test(each_error_has_its_exact_message),
        cmocka_unit_test(durability_weakening_flags_are_refused),
        cmocka_unit_test(integer_bounds_are_inclusive),
        cmocka_unit_test(unreadable_file_returns_errno_with_file_in_diag),
        cmocka_unit_test(file_over_one_mib_is_refused),
        cmocka_unit_test(load_reports_errors_under_the_file_name),
        cmocka_unit_test(long_and_binary_keys_are_quoted_safely),
        cmocka_unit_test(deep_nesting_is_refused_not_recursed),
        cmocka_unit_test(parse_accepts_null_text_and_free_accepts_null),
        cmocka_unit_test(agency_with_only_an_endpoint_gets_every_default),
        cmocka_unit_test(no_links_sections_means_no_agencies_streams_or_routes),
        cmocka_unit_test(control_endpoint_defaults_to_a_socket_in_data_dir),
        cmocka_unit_test(every_agency_stream_and_route_key_can_be_set),
        cmocka_unit_test(routes_keep_file_order_and_map_to_agency_bits),
        cmocka_unit_test(at_most_32_agencies),
        cmocka_unit_test(agency_integer_bounds_are_inclusive),
        cmocka_unit_test(each_links_error_has_its_exact_message),
        cmocka_unit_test(ipc_paths_longer_than_a_socket_address_are_refused),
        cmocka_unit_test(shipped_config_routes_the_land_transfer_flow),
        cmocka_unit_test(production_example_loads_with_absolute_paths),
        cmocka_unit_test(http_portal_agency_keys_load_with_defaults_and_maps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
