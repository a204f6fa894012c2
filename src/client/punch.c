// SPDX-License-Identifier: MIT
#include "endpoint.h"
#include "punch.h"

long handshake_age(const struct timespec *last, const struct timespec *now)
{
	if (!last->tv_sec && !last->tv_nsec)
		return -1;
	if (now->tv_sec < last->tv_sec)
		return 0;
	return (long)(now->tv_sec - last->tv_sec);
}

bool handshake_fresh(const struct timespec *last, const struct timespec *now)
{
	long long diff;

	if (!last->tv_sec && !last->tv_nsec)
		return false;	/* never */
	/* Wall-clock times (WireGuard reports CLOCK_REALTIME): a clock
	 * stepped back makes a handshake look slightly in the future,
	 * which still counts as fresh within the same bound. */
	diff = (long long)now->tv_sec - (long long)last->tv_sec;
	if (diff < 0)
		diff = -diff;
	return diff < HANDSHAKE_FRESH_SEC;
}

uint16_t keepalive_for(const struct wg_peer *peer, uint16_t user_keepalive)
{
	if (user_keepalive)
		return user_keepalive;
	if (peer->persistent_keepalive)
		return peer->persistent_keepalive;
	return DEFAULT_KEEPALIVE;
}

enum punch_action punch_decide(const struct wg_peer *peer,
			       const struct timespec *now,
			       const struct sockaddr *endpoint,
			       uint16_t keepalive)
{
	if (handshake_fresh(&peer->last_handshake, now))
		return PUNCH_LEAVE_FRESH;
	if (endpoint_equal((const struct sockaddr *)&peer->endpoint, endpoint) &&
	    peer->persistent_keepalive == keepalive)
		return PUNCH_ALREADY_SET;
	return PUNCH_SET;
}

unsigned int jitter_ms(unsigned int base_ms, uint32_t rnd)
{
	/* base * [0.75, 1.25): a quarter either way. */
	unsigned int span = base_ms / 2;

	if (!span)
		return base_ms;
	return base_ms - base_ms / 4 + rnd % span;
}

unsigned int retx_next_ms(unsigned int cur_ms)
{
	if (!cur_ms)
		return RETX_INITIAL_MS;
	if (cur_ms >= RETX_MAX_MS / 2)
		return RETX_MAX_MS;
	return cur_ms * 2;
}

unsigned int round_delay_ms(unsigned int failures, uint32_t ttl_s)
{
	unsigned int base = REREGISTER_MS;

	if (ttl_s && ttl_s * 1000ULL / 2 < base)
		base = ttl_s * 1000U / 2;
	if (base < 1000)
		base = 1000;
	for (unsigned int i = 0; i < failures && base < SERVER_BACKOFF_MAX_MS; i++)
		base *= 2;
	return base > SERVER_BACKOFF_MAX_MS ? SERVER_BACKOFF_MAX_MS : base;
}
