/* arena.c - bump allocation in chunks; see arena.h. */
#include "arena.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk;

struct lt_arena {
    ProtobufCAllocator pa; /* first: lt_arena_allocator returns &a->pa */
    chunk *head;           /* the chunk being filled; older full ones follow */
    chunk *spare;          /* emptied chunks kept for reuse */
    size_t chunk_size, keep, used;
};

static void *arena_alloc(void *data, size_t size)
{
    lt_arena *a = data;
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        chunk *n = a->spare;
        if (n && n->size >= size) {
            a->spare = n->next;
        } else {
            size_t cs = size > a->chunk_size ? size : a->chunk_size;
            n = malloc(sizeof(*n) + cs);
            if (!n)
                return NULL;
            n->size = cs;
        }
        n->used = 0;
        n->next = c;
        a->head = c = n;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->used += size;
    return p;
}

static void arena_free(void *data, void *p)
{
    (void)data, (void)p; /* everything goes at lt_arena_reset() */
}

int lt_arena_new(size_t chunk_size, size_t keep, lt_arena **ret)
{
    lt_arena *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->pa.alloc = arena_alloc;
    a->pa.free = arena_free;
    a->pa.allocator_data = a;
    a->chunk_size = chunk_size;
    a->keep = keep;
    *ret = a;
    return 0;
}

void lt_arena_reset(lt_arena *a)
{
    size_t kept = 0;
    for (chunk *c = a->spare; c; c = c->next)
        kept += c->size;
    while (a->head) {
        chunk *c = a->head;
        a->head = c->next;
        if (kept + c->size <= a->keep) {
            kept += c->size;
            c->used = 0;
            c->next = a->spare;
            a->spare = c;
        } else {
            free(c);
        }
    }
    a->used = 0;
}

static void free_list(chunk *c)
{
    while (c) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
}

void lt_arena_free(lt_arena **p)
{
    if (!p || !*p)
        return;
    free_list((*p)->head);
    free_list((*p)->spare);
    free(*p);
    *p = NULL;
}

ProtobufCAllocator *lt_arena_allocator(lt_arena *a)
{
    return &a->pa;
}

size_t lt_arena_used(const lt_arena *a)
{
    return a->used;
}
