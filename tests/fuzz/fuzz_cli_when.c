/* fuzz_cli_when.c - libFuzzer target for the times lienthongctl takes on its
 * command line (report --from/--to: ctl_parse_when in cli/util.c).
 *
 * Besides "no crash", checks what a parsed time means: a bare date is
 * midnight in Vietnam, so it formats as 17:00:00Z the day before, and any
 * parsed time formats back into a time that parses to the same second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[128];
    if (size >= sizeof(s))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t t, back;
    if (ctl_parse_when(s, &t) != 0)
        return 0;
    char f[32];
    lt_time_format(t, f, sizeof(f));
    if (lt_time_parse(f, &back) != 0 || back != t) {
        fprintf(stderr, "\"%s\" -> %lld -> \"%s\" does not parse back\n", s, (long long)t, f);
        abort();
    }
    if (strlen(s) == 10 && strlen(f) == 20 && strcmp(f + 10, "T17:00:00Z") != 0) {
        fprintf(stderr, "date \"%s\" is %s, not midnight in Vietnam\n", s, f);
        abort();
    }
    return 0;
}
