/* replay.c - runs a libFuzzer target without libFuzzer.
 *
 * Used when the build is not LT_FUZZ (gcc, the default ctest run): feeds every
 * file of the corpus directories given on the command line to
 * LLVMFuzzerTestOneInput, then LT_REPLAY_MUTATIONS (default 20000) seeded
 * random mutations of them (bit flips, truncation, splicing, byte insertion),
 * so each decoder is exercised on every test run, under ASan in CI.
 * The seed is LT_REPLAY_SEED (default 1) so a failure reproduces.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct input {
    uint8_t *data;
    size_t size;
} input;

static input *inputs;
static size_t n_inputs, cap_inputs;

static void add_input(uint8_t *data, size_t size) {
    if (n_inputs == cap_inputs) {
        cap_inputs = cap_inputs ? cap_inputs * 2 : 64;
        inputs = realloc(inputs, cap_inputs * sizeof(*inputs));
        if (!inputs) {
            perror("replay: realloc");
            exit(2);
        }
    }
    inputs[n_inputs++] = (input){data, size};
}

static int load_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: cannot open: %m\n", path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
    }
    add_input(buf, len);
    return 0;
}

static int load_path(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %m\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return load_file(path);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: %m\n", path);
        return -1;
    }
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        if (load_file(p) < 0)
            r = -1;
    }
    closedir(d);
    return r;
}

/* xorshift64*: small, seeded, reproducible. */
static uint64_t rng_state;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t mutate(const input *a, const input *b, uint8_t *out, size_t cap) {
    size_t len = a->size < cap ? a->size : cap;
    memcpy(out, a->data, len);
    int rounds = 1 + (int)(rng() % 4);
    for (int i = 0; i < rounds; i++) {
        switch (rng() % 6) {
        case 0: /* flip a bit */
            if (len)
                out[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
            break;
        case 1: /* random byte */
            if (len)
                out[rng() % len] = (uint8_t)rng();
            break;
        case 2: /* truncate */
            if (len)
                len = rng() % len;
            break;
        case 3: /* insert a byte */
            if (len < cap) {
                size_t at = len ? rng() % (len + 1) : 0;
                memmove(out + at + 1, out + at, len - at);
                out[at] = (uint8_t)rng();
                len++;
            }
            break;
        case 4: /* splice the tail of another input */
            if (b->size) {
                size_t at = len ? rng() % len : 0;
                size_t from = rng() % b->size;
                size_t n = b->size - from;
                if (at + n > cap)
                    n = cap - at;
                memcpy(out + at, b->data + from, n);
                len = at + n;
            }
            break;
        default: /* interesting values */
            if (len) {
                static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, 0x0a, ':', '"', '{'};
                out[rng() % len] = vals[rng() % sizeof(vals)];
            }
            break;
        }
    }
    return len;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-' && load_path(argv[i]) < 0)
            return 2;
    if (n_inputs == 0)
        add_input(calloc(1, 1), 0);
    for (size_t i = 0; i < n_inputs; i++)
        LLVMFuzzerTestOneInput(inputs[i].data, inputs[i].size);

    const char *e = getenv("LT_REPLAY_MUTATIONS");
    long rounds = e ? strtol(e, NULL, 10) : 20000;
    e = getenv("LT_REPLAY_SEED");
    rng_state = e ? strtoull(e, NULL, 10) : 1;
    if (rng_state == 0)
        rng_state = 1;
    size_t cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    for (long r = 0; r < rounds && buf; r++) {
        const input *a = &inputs[rng() % n_inputs];
        const input *b = &inputs[rng() % n_inputs];
        size_t len = mutate(a, b, buf, cap);
        /* exact-size copy so ASan sees reads past the end */
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    printf("replay: %zu corpus inputs, %ld mutations, seed %llu: ok\n", n_inputs, rounds,
           (unsigned long long)(e ? strtoull(e, NULL, 10) : 1));
    free(buf);
    for (size_t i = 0; i < n_inputs; i++)
        free(inputs[i].data);
    free(inputs);
    return 0;
}
