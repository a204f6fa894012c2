/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — how many hops away our outermost NAT is.
 *
 * The pre-punch sends a path probe with a small IP TTL: it opens our own
 * NAT's mapping toward the peer but expires before it reaches the peer's
 * NAT, so a router without an input firewall never sees an unsolicited
 * packet from us. That TTL is the hop of the NAT that owns our public
 * address P (the mapping the rendezvous server reports). Routers before
 * it answer an ICMP echo request to P with TTL t < h with time-exceeded;
 * the NAT itself owns P and answers the one with TTL h with an echo reply.
 */
#ifndef WGPUNCH_HOPS_H
#define WGPUNCH_HOPS_H

#include <stdint.h>
#include <sys/socket.h>

/* The largest TTL tried. */
#define HOPS_MAX	8

/*
 * Send ICMP echo requests to addr (IPv4; the port is ignored) with TTL
 * 1..HOPS_MAX from a raw ICMP socket marked fwmark (when non-zero) and
 * wait up to timeout_ms (≤ 300 recommended) for the answers. Returns the
 * smallest TTL that got an echo reply from addr; 0 if addr is one of our
 * own addresses (no NAT); -ETIMEDOUT if no echo reply came;
 * -EAFNOSUPPORT for anything but IPv4; another negative errno if the
 * socket could not be opened or used (raw ICMP needs CAP_NET_RAW).
 * Blocks for at most timeout_ms (it returns as soon as the answer is
 * certain: an echo reply at TTL h and time-exceeded for every TTL below).
 */
int hops_to_address(const struct sockaddr *addr, uint32_t fwmark,
		    unsigned int timeout_ms);

#endif
