/* lienthongctl.c - the operator's CLI: publish events to lienthongd, read the
 * store (show a dossier, list the log, stats, on-time report) while the daemon runs, operate
 * the agency links (queues, dead letters, pause, resume) over the control
 * socket and follow the result stream (tail). This file parses the command
 * line and dispatches; the commands live in publish.c, read.c, ops.c and
 * tail.c (ctl.h).
 *
 * Exit status: 0 success; 1 a submission was rejected, an unknown dossier,
 * agency or dead letter, or the daemon refused; 2 usage, config, input or
 * store error; 3 daemon unreachable or a reply timed out. Reference:
 * docs/CLI.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#ifndef LT_VERSION
#define LT_VERSION "0.1.0"
#endif

static void short_usage(void)
{
    fputs("usage: lienthongctl [-c FILE] [--json] COMMAND ... (publish, show, events, stats,\n"
          "       report, queues, dead, pause, resume, tail, portal); lienthongctl --help for\n"
          "       details\n",
          stderr);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: lienthongctl [-c FILE] [--json] [--endpoint EP] [--data-dir DIR]\n"
        "                    [--control EP] [--stream EP] COMMAND ...\n"
        "\n"
        "commands:\n"
        "  publish FILE|-  [--window N] [--sender NAME] [--timeout-ms N]\n"
        "                  send YAML/JSON Submission or Event documents, one reply line each\n"
        "  show DOSSIER_CODE   the dossier's timeline with its deliveries, results and state\n"
        "  events [--from SEQ] [--limit N]   the event log (default from 1, limit 100)\n"
        "  stats           events by kind, dossiers by status, store size and map usage\n"
        "  report [--from DATE] [--to DATE] [--by procedure|agency] [--procedure PREFIX]\n"
        "         [--agency A]... [--overdue [--limit N]]\n"
        "                  dossiers received and settled (on time, late) in the period, open\n"
        "                  and overdue now; --overdue: the overdue ones, most overdue first.\n"
        "                  DATE: YYYY-MM-DD (midnight in Vietnam, UTC+07:00) or RFC 3339\n"
        "  queues          per agency: link state, in flight, pending, held, dead, oldest\n"
        "  dead list [AGENCY] [--reason TEXT]\n"
        "                                dead letters (from the store); --reason: only those\n"
        "                                whose reason contains TEXT\n"
        "  dead reasons [AGENCY]         dead letters counted by reason, dossier codes left out\n"
        "  dead show AGENCY SEQ          one dead letter and its event\n"
        "  dead requeue AGENCY SEQ|--all back to pending (via the daemon)\n"
        "  dead drop AGENCY SEQ|--all    removed for good, kept in history (via the daemon)\n"
        "  pause AGENCY, resume AGENCY   stop / restart deliveries to an agency\n"
        "  tail --consumer NAME [--from earliest|latest|SEQ] [--reset]\n"
        "       [--kinds status,result,delivery_failed] [--agency A]... [--procedure PREFIX]\n"
        "       [--credit N] [--count N] [--no-ack]\n"
        "                  follow the result stream as a durable subscriber\n"
        "  portal status DOSSIER_CODE   what the portal was last sent and answered for it\n"
        "\n"
        "options:\n"
        "  -c, --config FILE  daemon config (default " CTL_DEFAULT_CONFIG " if present, else\n"
        "                     " CTL_SYSTEM_CONFIG ")\n"
        "      --endpoint EP  ingest endpoint instead of the config's ingest.endpoint\n"
        "      --data-dir DIR store directory instead of the config's data_dir\n"
        "      --control EP   control endpoint instead of the config's control.endpoint\n"
        "      --stream EP    stream endpoint instead of the config's streams.endpoint\n"
        "      --timeout-ms N publish: per reply (5000); control commands: the reply (1000)\n"
        "      --json         one JSON object per line (applicant id_number unmasked)\n"
        "  -h, --help         this help\n"
        "      --version      print the version\n"
        "\n"
        "exit status: 0 ok; 1 rejected submission, unknown dossier, agency or dead letter,\n"
        "or refused by the daemon; 2 usage, config, input or store error; 3 daemon\n"
        "unreachable or no reply in time (control commands: nothing changed)\n");
}

enum {
    OPT_JSON = 256,
    OPT_ENDPOINT,
    OPT_DATA_DIR,
    OPT_CONTROL,
    OPT_STREAM,
    OPT_WINDOW,
    OPT_SENDER,
    OPT_TIMEOUT,
    OPT_FROM,
    OPT_LIMIT,
    OPT_ALL,
    OPT_REASON,
    OPT_CONSUMER,
    OPT_RESET,
    OPT_KINDS,
    OPT_AGENCY,
    OPT_PROCEDURE,
    OPT_CREDIT,
    OPT_COUNT,
    OPT_NO_ACK,
    OPT_TO,
    OPT_BY,
    OPT_OVERDUE,
    OPT_VERSION,
};

/* The commands a command-specific option belongs to (space-separated). */
static const char *opt_owner(int o)
{
    switch (o) {
    case OPT_WINDOW:
    case OPT_SENDER:
        return "publish";
    case OPT_TIMEOUT:
        return "publish queues dead pause resume";
    case OPT_FROM:
        return "events tail report";
    case OPT_LIMIT:
        return "events report";
    case OPT_ALL:
    case OPT_REASON:
        return "dead";
    case OPT_AGENCY:
    case OPT_PROCEDURE:
        return "tail report";
    case OPT_TO:
    case OPT_BY:
    case OPT_OVERDUE:
        return "report";
    case OPT_CONSUMER:
    case OPT_RESET:
    case OPT_KINDS:
    case OPT_CREDIT:
    case OPT_COUNT:
    case OPT_NO_ACK:
        return "tail";
    default:
        return NULL;
    }
}

static bool owned_by(const char *owners, const char *cmd)
{
    size_t n = strlen(cmd);

    for (const char *p = owners; (p = strstr(p, cmd)); p += n)
        if ((p == owners || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static int run(ctl *c, int argc, char **argv, const char *cmd)
{
    static const char *const known[] = { "publish", "show",  "events", "stats", "report", "queues",
                                         "dead",    "pause", "resume", "tail",  "portal", NULL };

    if (!strcmp(cmd, "publish") && argc == 2)
        return ctl_cmd_publish(c, argv[1]);
    if (!strcmp(cmd, "show") && argc == 2)
        return ctl_cmd_show(c, argv[1]);
    if (!strcmp(cmd, "events") && argc == 1)
        return ctl_cmd_events(c);
    if (!strcmp(cmd, "stats") && argc == 1)
        return ctl_cmd_stats(c);
    if (!strcmp(cmd, "report") && argc == 1)
        return ctl_cmd_report(c);
    if (!strcmp(cmd, "queues") && argc == 1)
        return ctl_cmd_queues(c);
    if (!strcmp(cmd, "dead") && argc >= 2)
        return ctl_cmd_dead(c, argc - 1, argv + 1);
    if ((!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) && argc == 2)
        return ctl_cmd_pause(c, argv[1], !strcmp(cmd, "pause"));
    if (!strcmp(cmd, "tail") && argc == 1)
        return ctl_cmd_tail(c);
    if (!strcmp(cmd, "portal") && argc >= 2)
        return ctl_cmd_portal(c, argc - 1, argv + 1);
    bool is_known = false;
    for (size_t i = 0; known[i]; i++)
        is_known |= !strcmp(known[i], cmd);
    if (!is_known)
        ctl_errf("unknown command \"%s\"", cmd);
    else
        ctl_errf("%s: wrong number of arguments", cmd);
    short_usage();
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, OPT_JSON },
        { "endpoint", required_argument, NULL, OPT_ENDPOINT },
        { "data-dir", required_argument, NULL, OPT_DATA_DIR },
        { "control", required_argument, NULL, OPT_CONTROL },
        { "stream", required_argument, NULL, OPT_STREAM },
        { "window", required_argument, NULL, OPT_WINDOW },
        { "sender", required_argument, NULL, OPT_SENDER },
        { "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
        { "from", required_argument, NULL, OPT_FROM },
        { "limit", required_argument, NULL, OPT_LIMIT },
        { "all", no_argument, NULL, OPT_ALL },
        { "reason", required_argument, NULL, OPT_REASON },
        { "consumer", required_argument, NULL, OPT_CONSUMER },
        { "reset", no_argument, NULL, OPT_RESET },
        { "kinds", required_argument, NULL, OPT_KINDS },
        { "agency", required_argument, NULL, OPT_AGENCY },
        { "procedure", required_argument, NULL, OPT_PROCEDURE },
        { "credit", required_argument, NULL, OPT_CREDIT },
        { "count", required_argument, NULL, OPT_COUNT },
        { "no-ack", no_argument, NULL, OPT_NO_ACK },
        { "to", required_argument, NULL, OPT_TO },
        { "by", required_argument, NULL, OPT_BY },
        { "overdue", no_argument, NULL, OPT_OVERDUE },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    ctl c = { .window = 64, .timeout_ms = 5000, .limit = 100, .credit = 100 };
    struct {
        const char *name, *owners;
    } seen[64]; /* command-specific options given, and the commands they belong to */
    size_t n_seen = 0;
    int o, rc;

    opterr = 0;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        int r = 0;
        switch (o) {
        case 'c':
            c.config_path = optarg;
            break;
        case OPT_JSON:
            c.json = true;
            break;
        case OPT_ENDPOINT:
            c.endpoint = optarg;
            break;
        case OPT_DATA_DIR:
            c.data_dir = optarg;
            break;
        case OPT_CONTROL:
            c.control = optarg;
            break;
        case OPT_STREAM:
            c.stream = optarg;
            break;
        case OPT_WINDOW:
            r = ctl_parse_u64("--window", optarg, 1, 100000, &c.window);
            break;
        case OPT_SENDER:
            c.sender = optarg;
            break;
        case OPT_TIMEOUT:
            r = ctl_parse_u64("--timeout-ms", optarg, 1, 86400000, &c.timeout_ms);
            c.timeout_set = true;
            break;
        case OPT_FROM:
            c.from = optarg;
            break;
        case OPT_LIMIT:
            r = ctl_parse_u64("--limit", optarg, 0, UINT64_MAX, &c.limit);
            break;
        case OPT_ALL:
            c.all = true;
            break;
        case OPT_REASON:
            c.reason = optarg;
            break;
        case OPT_CONSUMER:
            c.consumer = optarg;
            break;
        case OPT_RESET:
            c.reset = true;
            break;
        case OPT_KINDS:
            c.kinds = optarg;
            break;
        case OPT_AGENCY:
            if (c.n_agencies == CTL_MAX_AGENCIES) {
                ctl_errf("--agency: at most %d", CTL_MAX_AGENCIES);
                r = -EINVAL;
            } else {
                c.agencies[c.n_agencies++] = optarg;
            }
            break;
        case OPT_PROCEDURE:
            c.procedure = optarg;
            break;
        case OPT_CREDIT:
            r = ctl_parse_u64("--credit", optarg, 1, 1000000, &c.credit);
            break;
        case OPT_COUNT:
            r = ctl_parse_u64("--count", optarg, 1, UINT64_MAX, &c.count);
            break;
        case OPT_NO_ACK:
            c.no_ack = true;
            break;
        case OPT_TO:
            c.to = optarg;
            break;
        case OPT_BY:
            c.by = optarg;
            break;
        case OPT_OVERDUE:
            c.overdue = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case OPT_VERSION:
            printf("lienthongctl %s\n", LT_VERSION);
            return EXIT_OK;
        default:
            if (optopt && optopt < 256)
                ctl_errf("option -%c: unknown or missing its value", optopt);
            else
                ctl_errf("option %s: unknown or missing its value", argv[optind - 1]);
            short_usage();
            return EXIT_USAGE;
        }
        if (r < 0)
            return EXIT_USAGE;
        if (opt_owner(o) && n_seen < sizeof(seen) / sizeof(seen[0])) {
            for (const struct option *p = opts; p->name; p++)
                if (p->val == o)
                    seen[n_seen].name = p->name;
            seen[n_seen++].owners = opt_owner(o);
        }
    }
    if (optind >= argc) {
        ctl_errf("no command given");
        short_usage();
        return EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    for (size_t i = 0; i < n_seen; i++) {
        if (owned_by(seen[i].owners, cmd))
            continue;
        const char *sp = strchr(seen[i].owners, ' ');
        ctl_errf("option --%s belongs to \"%.*s\"%s, not \"%s\"", seen[i].name,
                 sp ? (int)(sp - seen[i].owners) : (int)strlen(seen[i].owners), seen[i].owners,
                 sp ? " and others" : "", cmd);
        short_usage();
        return EXIT_USAGE;
    }
    rc = run(&c, argc - optind, argv + optind, cmd);
    lt_config_free(&c.cfg);
    if (fflush(stdout) != 0) {
        ctl_errf("stdout: %s", strerror(errno));
        return EXIT_USAGE;
    }
    return rc;
}
