/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — the kernel back-end's messages, apart from the socket, so
 * tests can build requests and parse hand-made replies without a
 * WireGuard module (this machine has none).
 */
#ifndef WGPUNCH_WG_NETLINK_H
#define WGPUNCH_WG_NETLINK_H

#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>
#include "wg.h"

/* CTRL_CMD_GETFAMILY for "wireguard" into buf; the message, or NULL if
 * buf is too small. */
struct nlmsghdr *wgnl_build_getfamily(void *buf, size_t size, uint32_t seq);

/* The family id from a CTRL_CMD_GETFAMILY reply, or a negative errno. */
int wgnl_parse_family(const struct nlmsghdr *nlh);

/* WG_CMD_GET_DEVICE (a dump request) for ifname. NULL if buf is small. */
struct nlmsghdr *wgnl_build_get_device(void *buf, size_t size,
				       uint16_t family, uint32_t seq,
				       const char *ifname);

/* WG_CMD_SET_DEVICE changing one peer's endpoint and persistent
 * keepalive with WGPEER_F_UPDATE_ONLY. NULL if buf is too small or the
 * endpoint's family is not AF_INET/AF_INET6. */
struct nlmsghdr *wgnl_build_set_peer(void *buf, size_t size,
				     uint16_t family, uint32_t seq,
				     const char *ifname,
				     const uint8_t key[static WG_KEY_LEN],
				     const struct sockaddr *endpoint,
				     uint16_t keepalive);

/*
 * Merge one message of a WG_CMD_GET_DEVICE dump into dev (zeroed by the
 * caller before the first one). A peer continued from the previous
 * message (same key first, as the kernel does when a peer's allowed IPs
 * do not fit) is merged, not duplicated. Every attribute length is
 * checked. 0 or a negative errno (-EBADMSG, -E2BIG, -ENOMEM).
 */
int wgnl_parse_device(const struct nlmsghdr *nlh, struct wg_device *dev);

#endif
