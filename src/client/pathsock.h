/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — the raw socket for peer-to-peer path messages.
 *
 * Path probes must leave from WireGuard's listen port (so that NATs map
 * them exactly like WireGuard's traffic) and be received on it, while
 * WireGuard keeps its own UDP socket there. As in rawsock.h, a raw UDP
 * socket sends datagrams whose UDP header we write and receives a copy of
 * every UDP datagram the host gets; unlike rawsock it is bound to no
 * address (probes may arrive at any local address: LAN, public IPv6, ...)
 * and its libcbpf filter admits only path messages (pathmsg.h) to
 * WireGuard's port, which no WireGuard message can look like: those start
 * with a type byte 1..4 and three zero bytes, ours with "WGPN".
 */
#ifndef WGPUNCH_PATHSOCK_H
#define WGPUNCH_PATHSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <cbpf.h>

/* Enough for any datagram the filter passes and pathsock_recv() accepts
 * (IPv4 header with options, UDP header, one path message), with room
 * to see that a longer one is longer. */
#define PATHSOCK_BUF_LEN	256

struct pathsock {
	int fd;
	int family;		/* AF_INET or AF_INET6 */
	uint16_t wg_port;
	uint32_t fwmark;
	uint64_t rx;		/* datagrams the socket delivered, any kind */
	uint64_t tx;		/* datagrams sent */
};

/*
 * Open the raw socket of one family for wg_port: SO_MARK = fwmark when
 * non-zero, the filter attached safely (drop-all, drain, filter), read
 * back from the kernel and run in libcbpf's VM over crafted datagrams
 * (path messages pass; WireGuard's messages, other ports, fragments and
 * short datagrams do not). 0 or a negative errno.
 */
int pathsock_open(struct pathsock *ps, int family, uint16_t wg_port,
		  uint32_t fwmark);
void pathsock_close(struct pathsock *ps);

/*
 * Send payload[0..len) as one UDP datagram from wg_port to dst (an
 * address and port of ps's family). ttl 0 keeps the default; otherwise
 * it is the IPv4 TTL / IPv6 hop limit of this datagram only. For IPv4
 * the source address is the route's for dst under fwmark, pinned for
 * the send (the checksum covers it). 0 or a negative errno.
 */
int pathsock_send(struct pathsock *ps, const struct sockaddr *dst,
		  const void *payload, size_t len, unsigned int ttl);

/*
 * Receive one datagram without blocking. Returns the payload length and
 * points *payload into buf, with the sender's address and UDP source port
 * in *from; -EAGAIN when nothing is queued; -EBADMSG for anything that is
 * not a path message (path_peek()) to wg_port: the filter should have
 * dropped it, and we check again all the same.
 */
ssize_t pathsock_recv(struct pathsock *ps, uint8_t *buf, size_t cap,
		      const uint8_t **payload, struct sockaddr_storage *from);

/* The filter pathsock_open() attaches. 0 or a negative errno. */
int pathsock_build_filter(int family, uint16_t wg_port,
			  struct cbpf_prog *prog);

/*
 * The userspace check of a received datagram: for IPv4 the packet
 * starts with the IP header (options allowed), for IPv6 with the UDP
 * header. Sets *payload and *sport; returns the payload length or
 * -EBADMSG. For IPv4 *src gets the IP source address.
 */
ssize_t pathsock_parse(int family, const uint8_t *pkt, size_t len,
		       uint16_t wg_port, const uint8_t **payload,
		       uint16_t *sport, struct in_addr *src);

#endif
