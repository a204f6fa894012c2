/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — a single-producer, single-consumer ring of fixed-size
 * slots, between a worker and the Redis thread (store.h).
 *
 * Neither side ever waits for the other: a producer that finds the ring
 * full is told so and drops (the packet loop must never block on Redis
 * being slow), a consumer that finds it empty goes back to sleep. One
 * slot is written in place (ring_reserve, fill, ring_commit) and read
 * in place (ring_peek, use, ring_release): no copy through a buffer.
 */
#ifndef WGPUNCHD_RING_H
#define WGPUNCHD_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct ring {
	uint8_t *slots;
	size_t slot_size;
	uint32_t mask;			/* slots - 1 */
	/* Free-running counts; each written by one side only. On
	 * separate cache lines so the two sides do not bounce one. */
	_Alignas(64) _Atomic uint32_t head;	/* consumer: next to read */
	_Alignas(64) _Atomic uint32_t tail;	/* producer: next to write */
};

/* n slots (a power of two) of size bytes. 0 or -errno. */
int ring_init(struct ring *r, uint32_t n, size_t size);
void ring_free(struct ring *r);

/* Producer: the slot to fill next, or NULL when the ring is full;
 * ring_commit() hands it over. */
void *ring_reserve(struct ring *r);
void ring_commit(struct ring *r);

/* Consumer: the oldest slot handed over, or NULL when none is;
 * ring_release() gives it back to the producer. */
const void *ring_peek(struct ring *r);
void ring_release(struct ring *r);

#endif
