/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — one interface to WireGuard, whichever implementation runs it.
 *
 * Two back-ends answer behind it, as in wireguard-tools' ipc.h: the
 * userspace API socket /var/run/wireguard/<iface>.sock (wireguard-go,
 * boringtun; wg_uapi.c) and the kernel's "wireguard" generic netlink
 * family (wg_netlink.c). The caller never learns which one answered.
 * No shell, no popen, no exec of wg(8): the interface name is only ever
 * a path component or a netlink attribute, both checked first.
 */
#ifndef WGPUNCH_WG_H
#define WGPUNCH_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/wireguard.h>

/* Where wireguard-go and boringtun put their sockets. */
#define WG_UAPI_DIR "/var/run/wireguard"

/* More peers than this on one interface is refused: it bounds the memory
 * a hostile or broken UAPI server can make us allocate. */
#define WG_MAX_PEERS 65536U

struct wg_peer {
	uint8_t public_key[WG_KEY_LEN];
	struct sockaddr_storage endpoint;	/* ss_family AF_UNSPEC: none */
	struct timespec last_handshake;		/* 0.0: never */
	uint16_t persistent_keepalive;		/* seconds, 0: off */
};

struct wg_device {
	char name[IFNAMSIZ];
	bool has_private_key;
	bool has_public_key;
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
	uint16_t listen_port;
	uint32_t fwmark;
	size_t num_peers, peers_cap;
	struct wg_peer *peers;			/* malloc'ed; wg_free_device() */
	bool sorted;				/* peers in key order */
};

/* true if name can be a Linux interface name: 1..IFNAMSIZ-1 bytes, none
 * of them '/', ':' or white space, not "." or "..". */
bool wg_ifname_valid(const char *name);

/*
 * Read the interface: keys, listen port, fwmark and peers. dev is filled
 * (and must later go to wg_free_device()) only on success. The public key
 * is computed from the private key when the back-end does not report it.
 * 0 or a negative errno: -ENODEV when neither back-end knows name,
 * -EACCES when WG_UAPI_DIR may not be read and the kernel does not know
 * name either (its socket may well be there), -EPERM when the kernel
 * refused (CAP_NET_ADMIN), -ETIMEDOUT or -EINTR (wg_set_limits()).
 */
int wg_get_device(const char *name, struct wg_device *dev);

/*
 * Set one existing peer's endpoint and persistent keepalive, leaving all
 * else (and every other peer) alone. A peer that is not (or no longer)
 * configured is not created: -ENOENT.
 */
int wg_set_peer_endpoint(const char *name, const uint8_t key[static WG_KEY_LEN],
			 const struct sockaddr *endpoint, uint16_t keepalive);

void wg_free_device(struct wg_device *dev);

/*
 * Bound every exchange with the WireGuard implementation from now on:
 * none lasts past deadline_ms (wgp_mono_ms() time; 0: no deadline beyond
 * each exchange's own timeout of a few seconds), and one ends with
 * -EINTR as soon as stop_fd (e.g. a signalfd; -1: none) is readable. A
 * wedged or trickling implementation then cannot keep "up" past its
 * --timeout, nor the daemon from its SIGTERM. The descriptor is polled,
 * never read.
 */
void wg_set_limits(uint64_t deadline_ms, int stop_fd);

/* The peer with that key, or NULL. A binary search once the peers are
 * sorted, else a linear one. */
struct wg_peer *wg_find_peer(const struct wg_device *dev,
			     const uint8_t key[static WG_KEY_LEN]);

/* Put the peers in key order, so that looking one up among tens of
 * thousands is cheap (the device's own order is lost). */
void wg_sort_peers(struct wg_device *dev);

/* Appends a zeroed peer to dev->peers; NULL on -ENOMEM or past
 * WG_MAX_PEERS (errno says which). Shared by the back-ends. */
struct wg_peer *wg_add_peer(struct wg_device *dev);

/* Fills dev->public_key from dev->private_key (X25519 base point
 * multiplication) unless the back-end already reported it. */
int wg_derive_public_key(struct wg_device *dev);

/*
 * The common end of a back-end's get_device: given the back-end's result
 * ret, on success name dev and derive its public key; on any failure
 * free what was parsed. Returns the final result.
 */
int wg_device_finish(struct wg_device *dev, const char *name, int ret);

/* Back-ends (wg_uapi.c, wg_netlink.c). */
/* 0, or why no exchange may start now: -EINTR (the stop descriptor is
 * readable) or -ETIMEDOUT (the deadline passed). */
int wg_limits_check(void);
/* When an exchange starting now must end (wgp_mono_ms() time): after
 * timeout_ms, or at the deadline if that is sooner. */
uint64_t wg_exchange_end(unsigned int timeout_ms);
int wg_stop_fd(void);

bool wg_uapi_available(const char *name);
/* 0 if name has a UAPI socket, -ENODEV if it has none, -EACCES if we
 * may not look (a 0700 WG_UAPI_DIR of another user's). */
int wg_uapi_access(const char *name);
int wg_uapi_get_device(const char *name, struct wg_device *dev);
int wg_uapi_set_peer_endpoint(const char *name,
			      const uint8_t key[static WG_KEY_LEN],
			      const struct sockaddr *endpoint,
			      uint16_t keepalive);
int wg_netlink_get_device(const char *name, struct wg_device *dev);
int wg_netlink_set_peer_endpoint(const char *name,
				 const uint8_t key[static WG_KEY_LEN],
				 const struct sockaddr *endpoint,
				 uint16_t keepalive);

#endif
