/* sim_opts.h - the command line of lienthong-agency-sim (agency_sim.c).
 *
 * One table of long options; every value is range-checked and a bad one is
 * reported with the option's name. No state beyond the sim_opts filled in.
 */
#ifndef LT_SIM_OPTS_H
#define LT_SIM_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#define PROG     "lienthong-agency-sim"
#define MAX_DOWN 16
#define DAY_S    86400

enum { AG_TAX, AG_LAND, AG_PORTAL };

typedef struct sim_window {
    int64_t from_ms, to_ms; /* silent in [from_ms, to_ms) after start */
} sim_window;

typedef struct sim_opts {
    int agency;
    const char *endpoint;
    const char *ingest;
    const char *sender;
    const char *log_path;
    int64_t latency_ms;
    int64_t result_delay_ms;
    int64_t resend_ms;
    int64_t retry_after_s;
    double error_rate;
    double permanent_rate;
    sim_window down[MAX_DOWN];
    int n_down;
    uint64_t seed;
    bool result_in_reply;
    bool quiet;
} sim_opts;

/* "tax", "land", "portal", indexed by AG_*. */
extern const char *const sim_agency_names[3];

/* Parse argv into o (strings borrow argv). Prints --help to stdout and errors,
 * each naming its option, to stderr. Returns 0 to run, 1 after --help, -1 on
 * an error. */
int sim_parse_opts(int argc, char **argv, sim_opts *o);

#endif
