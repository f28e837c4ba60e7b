/* fuzz_config.c - libFuzzer target for the YAML config parser.
 *
 * Any byte string must either load or be refused with LT_ERR_CONFIG and a
 * positioned message; never crash, leak or return another error (except
 * -ENOMEM, which the fuzzer's RSS limit does not reach on configs this small).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lt_config *cfg = NULL;
    lt_diag d;
    char buf[1024];
    int r;

    lt_diag_clear(&d);
    r = lt_config_parse("fuzz.yaml", (const char *)data, size, &cfg, &d);
    if (r == 0) {
        /* a loaded config always has its required keys */
        if (!cfg || !cfg->data_dir || !cfg->ingest_endpoint || !cfg->data_dir[0])
            abort();
    } else {
        if (cfg || (r != LT_ERR_CONFIG && r != -ENOMEM) || !d.message[0])
            abort();
        lt_diag_format(&d, buf, sizeof(buf));
    }
    lt_config_free(&cfg);
    return 0;
}
