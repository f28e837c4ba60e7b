/* sim_opts.c - the command line of lienthong-agency-sim. See sim_opts.h. */
#include "sim_opts.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sim_agency_names[3] = { "tax", "land", "portal" };

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: " PROG " --agency tax|land|portal --endpoint EP [options]\n"
        "\n"
        "A simulated agency gateway on lienthong's ZeroMQ link (a ROUTER at EP\n"
        "answering LinkRequest frames with LinkReply frames).\n"
        "\n"
        "  --agency NAME          tax, land or portal (required)\n"
        "  --endpoint EP          ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:7101 (required)\n"
        "  --latency-ms N         delay before each reply (default 0)\n"
        "  --error-rate P         share of requests answered RETRY_LATER, 0..1 (default 0)\n"
        "  --permanent-rate P     share answered PERMANENT_FAILURE, 0..1 (default 0)\n"
        "  --retry-after-s N      retry_after_s hint sent with RETRY_LATER (default none)\n"
        "  --down-ms A:B          silent from A to B ms after start: requests dropped,\n"
        "                         no replies (repeatable, up to %d windows)\n"
        "  --seed N               seed of the outcome draws (default fixed)\n"
        "  --log FILE             append one line per request received\n"
        "  --quiet                nothing on stderr but errors\n"
        "tax only:\n"
        "  --ingest EP            the daemon's ingest endpoint: obligation notices are\n"
        "                         published there as result events\n"
        "  --sender NAME          Submission sender of the notices (default tax-sim)\n"
        "  --result-delay-ms N    delay before a notice is published (default 2000)\n"
        "  --resend-ms N          resend interval until ACCEPTED/DUPLICATE (default 1000)\n"
        "  --result-in-reply      put the notice in the OK LinkReply instead of publishing\n"
        "  --help                 this text\n",
        MAX_DOWN);
}

static int bad(const char *opt, const char *v, const char *what)
{
    fprintf(stderr, PROG ": %s: '%s' %s (try --help)\n", opt, v, what);
    return -1;
}

/* A whole number in [min, max], fully parsed. */
static int parse_int(const char *opt, const char *v, int64_t min, int64_t max, int64_t *ret)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < min || n > max) {
        char what[96];
        snprintf(what, sizeof(what), "is not a whole number in %" PRId64 "..%" PRId64, min, max);
        return bad(opt, v, what);
    }
    *ret = n;
    return 0;
}

static int parse_rate(const char *opt, const char *v, double *ret)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end != '\0' || !(d >= 0.0 && d <= 1.0))
        return bad(opt, v, "is not a share between 0 and 1");
    *ret = d;
    return 0;
}

/* "A:B", 0 <= A < B, milliseconds after start. */
static int parse_window(const char *v, sim_window *w)
{
    char *end, *end2;
    errno = 0;
    long long a = strtoll(v, &end, 10);
    if (errno || end == v || *end != ':' || a < 0)
        return bad("--down-ms", v, "is not FROM:TO in milliseconds");
    long long b = strtoll(end + 1, &end2, 10);
    if (errno || end2 == end + 1 || *end2 != '\0' || b <= a)
        return bad("--down-ms", v, "is not FROM:TO in milliseconds with FROM < TO");
    w->from_ms = a;
    w->to_ms = b;
    return 0;
}

enum {
    O_AGENCY = 256,
    O_ENDPOINT,
    O_INGEST,
    O_SENDER,
    O_LOG,
    O_LATENCY,
    O_RESULT_DELAY,
    O_RESEND,
    O_RETRY_AFTER,
    O_ERROR_RATE,
    O_PERMANENT_RATE,
    O_DOWN,
    O_SEED,
    O_RESULT_IN_REPLY,
    O_QUIET,
    O_HELP,
};

static const struct option long_opts[] = {
    { "agency", required_argument, NULL, O_AGENCY },
    { "endpoint", required_argument, NULL, O_ENDPOINT },
    { "ingest", required_argument, NULL, O_INGEST },
    { "sender", required_argument, NULL, O_SENDER },
    { "log", required_argument, NULL, O_LOG },
    { "latency-ms", required_argument, NULL, O_LATENCY },
    { "result-delay-ms", required_argument, NULL, O_RESULT_DELAY },
    { "resend-ms", required_argument, NULL, O_RESEND },
    { "retry-after-s", required_argument, NULL, O_RETRY_AFTER },
    { "error-rate", required_argument, NULL, O_ERROR_RATE },
    { "permanent-rate", required_argument, NULL, O_PERMANENT_RATE },
    { "down-ms", required_argument, NULL, O_DOWN },
    { "seed", required_argument, NULL, O_SEED },
    { "result-in-reply", no_argument, NULL, O_RESULT_IN_REPLY },
    { "quiet", no_argument, NULL, O_QUIET },
    { "help", no_argument, NULL, O_HELP },
    { NULL, 0, NULL, 0 },
};

/* One option. Returns 0, 1 when --help was printed, -1 on a bad value. */
static int parse_one(int c, const char *v, sim_opts *o)
{
    int64_t n;
    switch (c) {
    case O_AGENCY:
        for (int i = 0; i < 3; i++)
            if (strcmp(v, sim_agency_names[i]) == 0)
                return o->agency = i, 0;
        return bad("--agency", v, "is not tax, land or portal");
    case O_ENDPOINT:
        return o->endpoint = v, 0;
    case O_INGEST:
        return o->ingest = v, 0;
    case O_SENDER:
        return v[0] ? (o->sender = v, 0) : bad("--sender", v, "is empty");
    case O_LOG:
        return o->log_path = v, 0;
    case O_LATENCY:
        return parse_int("--latency-ms", v, 0, 3600000, &o->latency_ms);
    case O_RESULT_DELAY:
        return parse_int("--result-delay-ms", v, 0, 30LL * DAY_S * 1000, &o->result_delay_ms);
    case O_RESEND:
        return parse_int("--resend-ms", v, 10, 3600000, &o->resend_ms);
    case O_RETRY_AFTER:
        return parse_int("--retry-after-s", v, 0, 86400, &o->retry_after_s);
    case O_ERROR_RATE:
        return parse_rate("--error-rate", v, &o->error_rate);
    case O_PERMANENT_RATE:
        return parse_rate("--permanent-rate", v, &o->permanent_rate);
    case O_DOWN:
        if (o->n_down == MAX_DOWN)
            return bad("--down-ms", v, "is one window too many");
        return parse_window(v, &o->down[o->n_down++]);
    case O_SEED:
        if (parse_int("--seed", v, 0, INT64_MAX, &n) < 0)
            return -1;
        return o->seed = (uint64_t)n, 0;
    case O_RESULT_IN_REPLY:
        return o->result_in_reply = true, 0;
    case O_QUIET:
        return o->quiet = true, 0;
    case O_HELP:
        usage(stdout);
        return 1;
    default:
        fprintf(stderr, PROG ": unknown option (try --help)\n");
        return -1;
    }
}

/* Parse argv into o. Returns 0 to run, 1 after --help, -1 on an error (printed). */
int sim_parse_opts(int argc, char **argv, sim_opts *o)
{
    int c, r;

    memset(o, 0, sizeof(*o));
    o->agency = -1;
    o->sender = "tax-sim";
    o->result_delay_ms = 2000;
    o->resend_ms = 1000;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (c == '?') {
            fprintf(stderr, PROG ": %s: unknown option or missing value (try --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if ((r = parse_one(c, optarg, o)) != 0)
            return r;
    }
    if (optind < argc)
        return bad("arguments", argv[optind], "is not an option");
    if (o->agency < 0)
        return fprintf(stderr, PROG ": --agency is required (try --help)\n"), -1;
    if (!o->endpoint)
        return fprintf(stderr, PROG ": --endpoint is required (try --help)\n"), -1;
    if (o->error_rate + o->permanent_rate > 1.0) {
        fprintf(stderr, PROG ": --error-rate plus --permanent-rate is above 1\n");
        return -1;
    }
    if (o->agency != AG_TAX && (o->ingest || o->result_in_reply)) {
        fprintf(stderr, PROG ": --ingest and --result-in-reply are for --agency tax\n");
        return -1;
    }
    if (o->ingest && o->result_in_reply) {
        /* two routes would store the notice twice under two senders */
        fprintf(stderr, PROG ": --ingest and --result-in-reply exclude each other\n");
        return -1;
    }
    return 0;
}
