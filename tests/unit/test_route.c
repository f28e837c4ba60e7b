/* test_route.c - routing rules (daemon/route.h) on configs parsed from YAML
 * the way the daemon reads them: all-match union, kinds, globs on procedure,
 * sender and agency_code, result kinds, never back to an agency's own
 * senders, delivery_failed never routed, no rule -> 0. */
#include "route.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

/* bits of the agencies below, in file order */
#define TAX    (1u << 0)
#define LAND   (1u << 1)
#define PORTAL (1u << 2)

static const char *const AGENCIES =
    "data_dir: /tmp/unused\n"
    "ingest:\n  endpoint: \"ipc:///tmp/unused.sock\"\n"
    "agencies:\n"
    "  tax: {endpoint: \"ipc:///tmp/tax.sock\", senders: [tax-sim]}\n"
    "  land: {endpoint: \"ipc:///tmp/land.sock\", senders: [vpdkdd-hcm, vpdkdd-hn]}\n"
    "  portal: {endpoint: \"ipc:///tmp/portal.sock\"}\n";

static const char *const ROUTES =
    "routes:\n"
    "  - {name: desk, kinds: [status], procedures: [\"1.004227\"], senders: [\"motcua-*\"],"
    " to: [land, portal]}\n"
    "  - {name: all-transfers, kinds: [status], procedures: [\"1.0042*\"], to: [portal]}\n"
    "  - {name: land-office, senders: [\"vpdkdd-*\"], agency_codes: [\"000.00.12.*\"],"
    " to: [tax]}\n"
    "  - {name: tax-notice, kinds: [result], result_kinds: [tax_notice, tax_refund],"
    " to: [land, portal]}\n"
    "  - {name: portal-results, kinds: [result], to: [portal]}\n";

static lt_config *parse(const char *routes)
{
    char doc[4096];
    snprintf(doc, sizeof(doc), "%s%s", AGENCIES, routes ? routes : "");
    lt_config *cfg = NULL;
    lt_diag d;
    lt_diag_clear(&d);
    int r = lt_config_parse("route-test.yaml", doc, strlen(doc), &cfg, &d);
    if (r != 0)
        fail_msg("config does not parse: %s", d.message);
    assert_int_equal(cfg->n_agencies, 3);
    assert_string_equal(cfg->agencies[0].name, "tax");
    assert_string_equal(cfg->agencies[2].name, "portal");
    return cfg;
}

typedef struct evbuf {
    lt_event ev;
    Lienthong__V1__DossierStatus st;
    Lienthong__V1__Result res;
} evbuf;

static lt_event *status_ev(evbuf *b, const char *procedure, const char *agency_code)
{
    memset(b, 0, sizeof(*b));
    lienthong__v1__event__init(&b->ev);
    lienthong__v1__dossier_status__init(&b->st);
    b->ev.event_id = "E-1";
    b->ev.dossier_code = "H26.1.2-261110-0001";
    b->ev.procedure_code = (char *)procedure;
    b->ev.agency_code = (char *)agency_code;
    b->st.has_status = true;
    b->st.status = 2;
    b->ev.body_case = LIENTHONG__V1__EVENT__BODY_STATUS;
    b->ev.status = &b->st;
    return &b->ev;
}

static lt_event *result_ev(evbuf *b, const char *kind, const char *agency_code)
{
    status_ev(b, "1.004227", agency_code);
    lienthong__v1__result__init(&b->res);
    b->res.kind = (char *)kind;
    b->res.from_agency = "CCT";
    b->ev.body_case = LIENTHONG__V1__EVENT__BODY_RESULT;
    b->ev.status = NULL;
    b->ev.result = &b->res;
    return &b->ev;
}

/* Two rules match a desk's status: the union, each agency once; the first rule is named. */
static void union_of_matching_rules(void **state)
{
    (void)state;
    lt_config *cfg = parse(ROUTES);
    evbuf b;
    int first = 99;
    uint32_t m = lt_route_match(cfg, "motcua-hcm", status_ev(&b, "1.004227", "000.00.12.H26"),
                                &first);
    assert_int_equal(m, LAND | PORTAL);
    assert_int_equal(first, 0);
    /* the same without the first rule's sender: only the prefix rule */
    m = lt_route_match(cfg, "dvc-hcm", status_ev(&b, "1.004227", "000.00.12.H26"), &first);
    assert_int_equal(m, PORTAL);
    assert_int_equal(first, 1);
    /* NULL first-rule pointer is allowed */
    assert_int_equal(lt_route_match(cfg, "motcua-hcm", &b.ev, NULL), LAND | PORTAL);
    lt_config_free(&cfg);
}

/* Procedure globs: exact code, prefix glob, no procedure at all. */
static void procedure_globs(void **state)
{
    (void)state;
    lt_config *cfg = parse(ROUTES);
    evbuf b;
    int first = 99;
    /* 1.004228 matches "1.0042*" but not the exact "1.004227" */
    assert_int_equal(lt_route_match(cfg, "motcua-hcm", status_ev(&b, "1.004228", "X"), &first),
                     PORTAL);
    assert_int_equal(first, 1);
    /* another procedure: nothing, stored and counted elsewhere */
    assert_int_equal(lt_route_match(cfg, "motcua-hcm", status_ev(&b, "2.000123", "X"), &first),
                     0);
    assert_int_equal(first, -1);
    /* a rule with procedures never matches an event without one */
    assert_int_equal(lt_route_match(cfg, "motcua-hcm", status_ev(&b, NULL, "X"), &first), 0);
    assert_int_equal(first, -1);
    lt_config_free(&cfg);
}

/* Sender and agency_code globs; kinds default to both. */
static void sender_and_agency_code_globs(void **state)
{
    (void)state;
    lt_config *cfg = parse(ROUTES);
    evbuf b;
    int first = 99;
    /* land office (a land sender) on another procedure: land-office rule -> tax only */
    assert_int_equal(
        lt_route_match(cfg, "vpdkdd-hcm", status_ev(&b, "2.000123", "000.00.12.H26"), &first), TAX);
    assert_int_equal(first, 2);
    /* agency_code outside the glob: nothing */
    assert_int_equal(
        lt_route_match(cfg, "vpdkdd-hcm", status_ev(&b, "2.000123", "000.00.13.H26"), &first), 0);
    assert_int_equal(first, -1);
    /* no agency_code at all: a rule with agency_codes does not match */
    assert_int_equal(lt_route_match(cfg, "vpdkdd-hcm", status_ev(&b, "2.000123", NULL), &first),
                     0);
    /* sender glob is anchored: "xvpdkdd-hcm" is not "vpdkdd-*" */
    assert_int_equal(
        lt_route_match(cfg, "xvpdkdd-hcm", status_ev(&b, "2.000123", "000.00.12.H26"), &first), 0);
    lt_config_free(&cfg);
}

/* Kinds: status rules never take results, result rules never take statuses. */
static void kinds(void **state)
{
    (void)state;
    lt_config *cfg = parse("routes:\n"
                           "  - {name: s, kinds: [status], to: [tax]}\n"
                           "  - {name: r, kinds: [result], to: [land]}\n"
                           "  - {name: both, procedures: [\"9.*\"], to: [portal]}\n");
    evbuf b;
    int first;
    assert_int_equal(lt_route_match(cfg, "x", status_ev(&b, "1.1", "A"), &first), TAX);
    assert_int_equal(first, 0);
    assert_int_equal(lt_route_match(cfg, "x", result_ev(&b, "anything", "A"), &first), LAND);
    assert_int_equal(first, 1);
    assert_int_equal(lt_route_match(cfg, "x", status_ev(&b, "9.1", "A"), &first), TAX | PORTAL);
    result_ev(&b, "k", "A")->procedure_code = "9.1";
    assert_int_equal(lt_route_match(cfg, "x", &b.ev, &first), LAND | PORTAL);
    lt_config_free(&cfg);
}

/* result_kinds: exact values, a list of them; other kinds fall to the catch-all. */
static void result_kinds(void **state)
{
    (void)state;
    lt_config *cfg = parse(ROUTES);
    evbuf b;
    int first;
    assert_int_equal(lt_route_match(cfg, "tax-sim", result_ev(&b, "tax_notice", "CCT"), &first),
                     LAND | PORTAL);
    assert_int_equal(first, 3);
    assert_int_equal(lt_route_match(cfg, "tax-sim", result_ev(&b, "tax_refund", "CCT"), &first),
                     LAND | PORTAL);
    /* exact, not a prefix */
    assert_int_equal(lt_route_match(cfg, "tax-sim", result_ev(&b, "tax_notice2", "CCT"), &first),
                     PORTAL);
    assert_int_equal(first, 4);
    assert_int_equal(lt_route_match(cfg, "tax-sim", result_ev(&b, "certificate", "CCT"), &first),
                     PORTAL);
    lt_config_free(&cfg);
}

/* An agency never receives what its own senders submitted, even when a rule names it. */
static void never_back_to_own_senders(void **state)
{
    (void)state;
    lt_config *cfg = parse("routes:\n"
                           "  - {name: everything, to: [tax, land, portal]}\n");
    evbuf b;
    int first;
    assert_int_equal(lt_route_match(cfg, "motcua-hcm", status_ev(&b, "1.1", "A"), &first),
                     TAX | LAND | PORTAL);
    assert_int_equal(lt_route_match(cfg, "tax-sim", result_ev(&b, "tax_notice", "A"), &first),
                     LAND | PORTAL);
    assert_int_equal(first, 0);
    assert_int_equal(lt_route_match(cfg, "vpdkdd-hn", status_ev(&b, "1.1", "A"), &first),
                     TAX | PORTAL);
    /* a result carried in an agency's own reply is stored from "agency:NAME" */
    assert_int_equal(lt_route_match(cfg, "agency:tax", result_ev(&b, "tax_notice", "A"), &first),
                     LAND | PORTAL);
    assert_int_equal(lt_route_match(cfg, "agency:land", result_ev(&b, "x", "A"), &first),
                     TAX | PORTAL);
    assert_int_equal(lt_route_match(cfg, "agency:landx", result_ev(&b, "x", "A"), &first),
                     TAX | LAND | PORTAL);
    /* exact sender names, not globs: "tax-sim2" is not tax */
    assert_int_equal(lt_route_match(cfg, "tax-sim2", status_ev(&b, "1.1", "A"), &first),
                     TAX | LAND | PORTAL);
    lt_config_free(&cfg);

    /* a rule whose only target is the sender's own agency: nothing, and no rule named */
    cfg = parse("routes:\n  - {name: to-tax, to: [tax]}\n");
    assert_int_equal(lt_route_match(cfg, "tax-sim", result_ev(&b, "tax_notice", "A"), &first), 0);
    assert_int_equal(first, -1);
    lt_config_free(&cfg);
}

/* The daemon's own bounce is never routed, whatever the rules say. */
static void delivery_failed_never_routed(void **state)
{
    (void)state;
    lt_config *cfg = parse("routes:\n"
                           "  - {name: everything, to: [tax, land, portal]}\n"
                           "  - {name: failures, kinds: [result],"
                           " result_kinds: [delivery_failed], to: [portal]}\n");
    evbuf b;
    int first = 99;
    assert_int_equal(
        lt_route_match(cfg, "lienthongd", result_ev(&b, LT_ROUTE_DELIVERY_FAILED, "A"), &first),
        0);
    assert_int_equal(first, -1);
    /* from any sender */
    assert_int_equal(
        lt_route_match(cfg, "motcua-hcm", result_ev(&b, LT_ROUTE_DELIVERY_FAILED, "A"), NULL), 0);
    /* a status is still routed */
    assert_int_equal(lt_route_match(cfg, "lienthongd", status_ev(&b, "1.1", "A"), NULL),
                     TAX | LAND | PORTAL);
    lt_config_free(&cfg);
}

/* No rules at all, or none that matches: 0, never an error. */
static void no_rule(void **state)
{
    (void)state;
    lt_config *cfg = parse(NULL);
    assert_int_equal(cfg->n_routes, 0);
    evbuf b;
    int first = 99;
    assert_int_equal(lt_route_match(cfg, "motcua-hcm", status_ev(&b, "1.004227", "A"), &first), 0);
    assert_int_equal(first, -1);
    assert_int_equal(lt_route_match(cfg, "tax-sim", result_ev(&b, "tax_notice", "A"), &first), 0);
    assert_int_equal(first, -1);
    lt_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(union_of_matching_rules),
        cmocka_unit_test(procedure_globs),
        cmocka_unit_test(sender_and_agency_code_globs),
        cmocka_unit_test(kinds),
        cmocka_unit_test(result_kinds),
        cmocka_unit_test(never_back_to_own_senders),
        cmocka_unit_test(delivery_failed_never_routed),
        cmocka_unit_test(no_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
