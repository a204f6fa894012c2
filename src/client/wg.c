// SPDX-License-Identifier: MIT
/*
 * Back-end selection and the pieces both back-ends share. A UAPI socket
 * for the interface wins: wireguard-go and boringtun create one, and the
 * kernel module never does. Otherwise the kernel is asked over netlink.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "array.h"
#include "proto.h"
#include "wg.h"

/* See wg_set_limits(): one client per process, so one set of limits. */
static uint64_t limit_deadline_ms;
static int limit_stop_fd = -1;

bool wg_ifname_valid(const char *name)
{
	size_t len = strnlen(name, IFNAMSIZ);

	if (len == 0 || len >= IFNAMSIZ)
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* The kernel's dev_valid_name(): no '/', ':' or space. We
		 * also refuse control characters: the name ends up in log
		 * lines and in a path. */
		if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

void wg_set_limits(uint64_t deadline_ms, int stop_fd)
{
	limit_deadline_ms = deadline_ms;
	limit_stop_fd = stop_fd;
}

int wg_stop_fd(void)
{
	return limit_stop_fd;
}

uint64_t wg_exchange_end(unsigned int timeout_ms)
{
	uint64_t end = wgp_mono_ms() + timeout_ms;

	if (limit_deadline_ms && limit_deadline_ms < end)
		end = limit_deadline_ms;
	return end;
}

int wg_limits_check(void)
{
	struct pollfd pfd = { .fd = limit_stop_fd, .events = POLLIN };

	if (limit_stop_fd >= 0 && poll(&pfd, 1, 0) > 0)
		return -EINTR;
	if (limit_deadline_ms && wgp_mono_ms() >= limit_deadline_ms)
		return -ETIMEDOUT;
	return 0;
}

int wg_get_device(const char *name, struct wg_device *dev)
{
	int ret, uapi;

	if (!wg_ifname_valid(name))
		return -EINVAL;
	ret = wg_limits_check();
	if (ret)
		return ret;
	uapi = wg_uapi_access(name);
	if (!uapi)
		return wg_uapi_get_device(name, dev);
	ret = wg_netlink_get_device(name, dev);
	/* Not "no such interface" when we could not look for its socket. */
	if (ret < 0 && ret != -EINTR && ret != -ETIMEDOUT && uapi == -EACCES)
		return -EACCES;
	return ret;
}

int wg_set_peer_endpoint(const char *name, const uint8_t key[static WG_KEY_LEN],
			 const struct sockaddr *endpoint, uint16_t keepalive)
{
	struct wg_device dev;
	int ret;

	if (!wg_ifname_valid(name))
		return -EINVAL;
	if (endpoint->sa_family != AF_INET && endpoint->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	ret = wg_limits_check();
	if (ret)
		return ret;
	if (!wg_uapi_access(name))
		ret = wg_uapi_set_peer_endpoint(name, key, endpoint, keepalive);
	else
		ret = wg_netlink_set_peer_endpoint(name, key, endpoint, keepalive);
	if (ret)
		return ret;
	/* Both back-ends are asked to update only (never to create a peer
	 * the user removed meanwhile), and both then skip an unknown peer
	 * silently: read back to tell the caller whether it happened. */
	ret = wg_get_device(name, &dev);
	if (ret)
		return ret;
	/* Not compared with endpoint: WireGuard may already have roamed
	 * to where the peer's first handshake came from. */
	if (!wg_find_peer(&dev, key))
		ret = -ENOENT;
	wg_free_device(&dev);
	return ret;
}

void wg_free_device(struct wg_device *dev)
{
	free(dev->peers);
	sodium_memzero(dev, sizeof(*dev));
}

/* memcmp order of the keys that begin a and b. */
static int peer_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, WG_KEY_LEN);
}

void wg_sort_peers(struct wg_device *dev)
{
	if (dev->num_peers)
		qsort(dev->peers, dev->num_peers, sizeof(*dev->peers), peer_key_cmp);
	dev->sorted = true;
}

struct wg_peer *wg_find_peer(const struct wg_device *dev,
			     const uint8_t key[static WG_KEY_LEN])
{
	if (dev->sorted)
		return bsearch(key, dev->peers, dev->num_peers, sizeof(*dev->peers),
			       peer_key_cmp);
	for (size_t i = 0; i < dev->num_peers; i++) {
		if (!memcmp(dev->peers[i].public_key, key, WG_KEY_LEN))
			return &dev->peers[i];
	}
	return NULL;
}

struct wg_peer *wg_add_peer(struct wg_device *dev)
{
	size_t n = dev->num_peers;
	struct wg_peer *peer;

	if (n >= WG_MAX_PEERS) {
		errno = E2BIG;
		return NULL;
	}
	if (lib_grow((void **)&dev->peers, &dev->peers_cap, n + 1,
		     sizeof(*dev->peers))) {
		errno = ENOMEM;
		return NULL;
	}
	peer = &dev->peers[dev->num_peers++];
	dev->sorted = false;
	memset(peer, 0, sizeof(*peer));
	peer->endpoint.ss_family = AF_UNSPEC;
	return peer;
}

int wg_derive_public_key(struct wg_device *dev)
{
	if (dev->has_public_key || !dev->has_private_key)
		return 0;
	if (sodium_init() < 0)
		return -ENOSYS;
	/* libsodium clamps the scalar exactly as WireGuard does. */
	if (crypto_scalarmult_curve25519_base(dev->public_key, dev->private_key))
		return -EINVAL;
	dev->has_public_key = true;
	return 0;
}

int wg_device_finish(struct wg_device *dev, const char *name, int ret)
{
	if (!ret) {
		snprintf(dev->name, sizeof(dev->name), "%s", name);
		ret = wg_derive_public_key(dev);
	}
	if (ret)
		wg_free_device(dev);
	return ret;
}
