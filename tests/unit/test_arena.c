/* test_arena.c - the batch arena: allocations are aligned, distinct, survive
 * until reset, big ones get their own chunk, and protobuf-c unpacks into it. */
#include "arena.h"
#include "codec.h"
#include "store.h"

// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
// clang-format on

static void allocations_are_aligned_and_distinct(void **state)
{
    (void)state;
    lt_arena *a;
    assert_int_equal(lt_arena_new(4096, 8192, &a), 0);
    ProtobufCAllocator *pa = lt_arena_allocator(a);
    char *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = pa->alloc(pa->allocator_data, (size_t)i + 1);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        memset(p[i], i, (size_t)i + 1);
    }
    for (int i = 0; i < 100; i++)
        for (int j = 0; j <= i; j++)
            assert_int_equal((unsigned char)p[i][j], i);
    char *big = pa->alloc(pa->allocator_data, 100000); /* larger than a chunk */
    assert_non_null(big);
    memset(big, 7, 100000);
    assert_true(lt_arena_used(a) >= 100000);
    lt_arena_reset(a);
    assert_int_equal(lt_arena_used(a), 0);
    for (int round = 0; round < 50; round++) { /* reuse without growing without bound */
        for (int i = 0; i < 200; i++)
            assert_non_null(pa->alloc(pa->allocator_data, 100));
        lt_arena_reset(a);
    }
    lt_arena_free(&a);
    assert_null(a);
    lt_arena_free(&a);
}

static void submissions_decode_into_the_arena(void **state)
{
    (void)state;
    lt_submission in = LIENTHONG__V1__SUBMISSION__INIT;
    lt_event ev = LIENTHONG__V1__EVENT__INIT;
    in.has_version = true;
    in.version = 1;
    in.sender = "motcua";
    in.event = &ev;
    ev.event_id = "E-1";
    ev.dossier_code = "H26.1";
    uint8_t buf[256];
    size_t len = lienthong__v1__submission__pack(&in, buf);

    lt_arena *a;
    assert_int_equal(lt_arena_new(1 << 16, 1 << 20, &a), 0);
    for (int i = 0; i < 1000; i++) {
        lt_submission *out = NULL;
        lt_diag d;
        assert_int_equal(lt_codec_decode_submission_in(buf, len, lt_arena_allocator(a), &out, &d),
                         0);
        assert_string_equal(out->event->event_id, "E-1");
        if (i % 100 == 99)
            lt_arena_reset(a);
    }
    /* a refused input is released into the arena too */
    uint8_t bad[] = { 0x98, 0x06, 0x01 };
    lt_submission *out = NULL;
    lt_diag d;
    assert_int_equal(
        lt_codec_decode_submission_in(bad, sizeof(bad), lt_arena_allocator(a), &out, &d),
        LT_ERR_MALFORMED);
    lt_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allocations_are_aligned_and_distinct),
        cmocka_unit_test(submissions_decode_into_the_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
