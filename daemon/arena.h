/* arena.h - a bump allocator for the messages of one ingest batch.
 *
 * protobuf-c unpacks a submission into a few dozen small allocations; with
 * malloc that was a tenth of the ingest thread's time, and freeing them
 * another few percent. The batch's submissions are unpacked into an arena
 * instead and released together by lt_arena_reset() when the batch's replies
 * are sent. Not thread-safe; one arena per batch owner.
 */
#ifndef LT_ARENA_H
#define LT_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct lt_arena lt_arena;

/* [out] ret: free with lt_arena_free(). chunk: bytes per chunk (at least 64 KiB
 * is sensible); the arena keeps at most keep bytes of chunks across resets.
 * Returns 0 or -ENOMEM. */
int lt_arena_new(size_t chunk, size_t keep, lt_arena **ret);

/* Free the arena and everything in it; null *p. Accepts NULL. */
void lt_arena_free(lt_arena **p);

/* Release every allocation at once. */
void lt_arena_reset(lt_arena *a);

/* A protobuf-c allocator drawing from a (free is a no-op). Valid while a lives. */
ProtobufCAllocator *lt_arena_allocator(lt_arena *a);

/* Bytes handed out since the last reset. */
size_t lt_arena_used(const lt_arena *a);

#endif
