/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — this host's own addresses, as candidates for its peers.
 *
 * Two peers behind one NAT that does not hairpin can reach each other
 * only at their LAN addresses, and a peer with a global IPv6 address
 * needs no NAT at all: so each client tells the server (and, under
 * mutual consent, its peers) the usable addresses of its interfaces,
 * with WireGuard's port.
 */
#ifndef WGPUNCH_HOSTADDR_H
#define WGPUNCH_HOSTADDR_H

#include <sys/socket.h>
#include "proto.h"

/*
 * Fill out[0..max) with the host's usable addresses (IPv4 that is not
 * loopback, link-local, multicast or broadcast; IPv6 of global scope),
 * each with port. Interfaces that are down, and skip_ifname (the
 * WireGuard interface: its addresses live inside the tunnel), are left
 * out. first (may be NULL or AF_UNSPEC) comes first when it is among
 * them: the address WireGuard's traffic leaves from. Then IPv4 before
 * IPv6, so one family cannot crowd the other out: at most max - 1 of
 * either when both exist. Returns how many, or a negative errno.
 */
int hostaddr_gather(struct wgp_endpoint *out, unsigned int max,
		    const char *skip_ifname, uint16_t port,
		    const struct sockaddr *first);

#endif
