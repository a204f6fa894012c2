// SPDX-License-Identifier: MIT
/*
 * wgpunchd — single-producer, single-consumer ring (ring.h).
 *
 * The producer publishes a slot by storing tail with release order
 * after writing it; the consumer reads tail with acquire order before
 * reading the slot. Symmetrically for head, so the producer never
 * reuses a slot the consumer is still reading.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

int ring_init(struct ring *r, uint32_t n, size_t size)
{
	memset(r, 0, sizeof(*r));
	if (!n || (n & (n - 1)) || !size)
		return -EINVAL;
	r->slots = calloc(n, size);
	if (!r->slots)
		return -ENOMEM;
	r->slot_size = size;
	r->mask = n - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void ring_free(struct ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

void *ring_reserve(struct ring *r)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	if (tail - head > r->mask)
		return NULL;
	return r->slots + (size_t)(tail & r->mask) * r->slot_size;
}

void ring_commit(struct ring *r)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

const void *ring_peek(struct ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (head == tail)
		return NULL;
	return r->slots + (size_t)(head & r->mask) * r->slot_size;
}

void ring_release(struct ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}
