// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/* Names the class wgp_endpoint_usable() refused, for the log. */
static const char *unusable_class(const struct wgp_endpoint *ep)
{
	static const uint8_t zero[16];
	const uint8_t *a = ep->addr;

	if (ep->family != AF_INET && ep->family != AF_INET6)
		return "no address";
	if (!ep->port)
		return "port 0";
	if (ep->family == AF_INET) {
		if (a[0] == 0)
			return "an unspecified address";
		if (a[0] == 127)
			return "a loopback address";
		if (a[0] == 169 && a[1] == 254)
			return "a link-local address";
		if ((a[0] & 0xf0) == 224)
			return "a multicast address";
		return "the broadcast address";
	}
	if (!memcmp(a, zero, 15))
		return a[15] ? "a loopback address" : "an unspecified address";
	if (a[0] == 0xff)
		return "a multicast address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "a link-local address";
	return "an IPv4-mapped IPv6 address";
}

static bool is_server(const struct wgp_endpoint *ep,
		      const struct wgp_endpoint *server, uint16_t probe_port)
{
	size_t len = ep->family == AF_INET ? 4 : 16;

	if (ep->family != server->family || memcmp(ep->addr, server->addr, len))
		return false;
	return ep->port == server->port || ep->port == probe_port;
}

const char *punch_endpoint_refusal(const struct wgp_endpoint *ep,
				   const struct wgp_endpoint *server,
				   uint16_t probe_port)
{
	if (!wgp_endpoint_usable(ep))
		return unusable_class(ep);
	if (is_server(ep, server, probe_port))
		return "the rendezvous server itself";
	return NULL;
}

int punch_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, WG_KEY_LEN);
}

/* Key order, and among equal keys device order (the first one wins). */
static int peer_ptr_cmp(const void *a, const void *b)
{
	const struct wg_peer *pa = *(const struct wg_peer *const *)a;
	const struct wg_peer *pb = *(const struct wg_peer *const *)b;
	int d = punch_key_cmp(pa->public_key, pb->public_key);

	if (d)
		return d;
	return pa < pb ? -1 : pa > pb;
}

static int index_cmp(const void *a, const void *b)
{
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;

	return ia < ib ? -1 : ia > ib;
}

ssize_t punch_sync_plan(const void *tracked, size_t n_tracked, size_t stride,
			const struct wg_peer *dev, size_t n_dev,
			bool *present, size_t *fresh)
{
	const struct wg_peer **untracked;
	size_t n = 0, m = 0;

	for (size_t i = 0; i < n_tracked; i++)
		present[i] = false;
	untracked = calloc(n_dev ? n_dev : 1, sizeof(*untracked));
	if (!untracked)
		return -ENOMEM;
	for (size_t i = 0; i < n_dev; i++) {
		const uint8_t *t = bsearch(dev[i].public_key, tracked, n_tracked,
					   stride, punch_key_cmp);

		if (t)
			present[(size_t)(t - (const uint8_t *)tracked) / stride] = true;
		else
			untracked[n++] = &dev[i];
	}
	/* A device that lists a key twice (a hostile UAPI server can) must
	 * not make us track it twice. */
	qsort(untracked, n, sizeof(*untracked), peer_ptr_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && !punch_key_cmp(untracked[i]->public_key,
					untracked[i - 1]->public_key))
			continue;
		fresh[m++] = (size_t)(untracked[i] - dev);
	}
	free(untracked);
	qsort(fresh, m, sizeof(*fresh), index_cmp);
	return (ssize_t)m;
}
