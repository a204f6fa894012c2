// SPDX-License-Identifier: MIT
/*
 * Back-end selection and the pieces both back-ends share. A UAPI socket
 * for the interface wins: wireguard-go and boringtun create one, and the
 * kernel module never does. Otherwise the kernel is asked over netlink.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "wg.h"

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

int wg_get_device(const char *name, struct wg_device *dev)
{
	if (!wg_ifname_valid(name))
		return -EINVAL;
	if (wg_uapi_available(name))
		return wg_uapi_get_device(name, dev);
	return wg_netlink_get_device(name, dev);
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
	if (wg_uapi_available(name))
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

struct wg_peer *wg_find_peer(const struct wg_device *dev,
			     const uint8_t key[static WG_KEY_LEN])
{
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
	/* The capacity is implied by num_peers: 8, then powers of two. So
	 * the array is full exactly when n is 0 or a power of two >= 8. */
	if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
		struct wg_peer *peers = reallocarray(dev->peers, n ? n * 2 : 8,
						     sizeof(*peers));

		if (!peers) {
			errno = ENOMEM;
			return NULL;
		}
		dev->peers = peers;
	}
	peer = &dev->peers[dev->num_peers++];
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
