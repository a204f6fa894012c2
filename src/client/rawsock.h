/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — talking to the rendezvous server from WireGuard's own port.
 *
 * A raw UDP socket sends datagrams whose UDP header we write ourselves,
 * with the source port set to WireGuard's listen port: the NAT in front
 * of us then maps them exactly as it maps WireGuard's traffic, and the
 * server sees (and reports) the mapping WireGuard uses. WireGuard keeps
 * its socket; nothing here binds its port. The kernel hands the raw
 * socket a copy of every UDP datagram the host receives, so a classic
 * BPF filter (libcbpf) narrows that to the server's replies to
 * WireGuard's port, before they are ever queued.
 */
#ifndef WGPUNCH_RAWSOCK_H
#define WGPUNCH_RAWSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <cbpf.h>

struct rawsock {
	int fd;
	int family;			/* AF_INET or AF_INET6 */
	struct sockaddr_storage src;	/* chosen source, port = wg_port */
	struct sockaddr_storage dst;	/* the server address and port */
	uint16_t wg_port;
	uint32_t fwmark;
};

/*
 * Open a raw socket for talking to server (address and port) from
 * wg_port: SO_MARK = fwmark when non-zero (so the route is WireGuard's),
 * the source address the kernel would use for WireGuard's traffic to the
 * server, and a filter passing only datagrams from server to wg_port
 * with at least min_payload bytes, attached safely (drop-all, drain,
 * filter) and then self-tested. 0 or a negative errno.
 */
int rawsock_open(struct rawsock *rs, const struct sockaddr *server,
		 uint16_t wg_port, uint32_t fwmark, uint16_t min_payload);
void rawsock_close(struct rawsock *rs);

/* Send payload[0..len) as one UDP datagram from wg_port to the server. */
int rawsock_send(const struct rawsock *rs, const void *payload, size_t len);

/*
 * Receive one datagram without blocking. Returns the UDP payload length
 * and points *payload into buf, -EAGAIN when nothing is queued, or
 * -EBADMSG for a datagram that is not from the server to wg_port (the
 * filter should have dropped it; we check again all the same).
 */
ssize_t rawsock_recv(const struct rawsock *rs, uint8_t *buf, size_t cap,
		     const uint8_t **payload);

/*
 * The source address the kernel picks for a datagram to dst under
 * fwmark: connect() a UDP socket with that SO_MARK and ask getsockname().
 * The port of *src is left 0.
 */
int rawsock_route_source(const struct sockaddr *dst, uint32_t fwmark,
			 struct sockaddr_storage *src);

/* SO_MARK = fwmark on fd, nothing for 0 (needs CAP_NET_ADMIN). 0 or a
 * negative errno. */
int rawsock_set_mark(int fd, uint32_t fwmark);

/* Read fd's filter back from the kernel: 0 if it is prog byte for byte,
 * -EPROTO if it is not, or the error reading it. */
int rawsock_filter_is(int fd, const struct cbpf_prog *prog);

/* The filter rawsock_open() attaches, for the given match. */
int rawsock_build_filter(int family, const struct sockaddr *server,
			 uint16_t wg_port, uint16_t min_payload,
			 struct cbpf_prog *prog);

/*
 * Check a received IPv4 packet (IP header first) the way the filter
 * does, plus what it cannot: IP version, header and total lengths, the
 * UDP length field. Accepts IP options. On success returns the payload
 * length and sets *payload. -EBADMSG otherwise.
 */
ssize_t rawsock_parse_ipv4(const uint8_t *pkt, size_t len,
			   const struct sockaddr_in *server, uint16_t wg_port,
			   const uint8_t **payload);

/* The same for an IPv6 raw socket's data (UDP header first); the source
 * address comes from recvfrom() and is checked by the caller. */
ssize_t rawsock_parse_udp(const uint8_t *pkt, size_t len,
			  uint16_t server_port, uint16_t wg_port,
			  const uint8_t **payload);

/*
 * Write the UDP datagram for payload into out (8 + len bytes): ports,
 * length and, for IPv4, the checksum over the pseudo-header of src and
 * dst; for IPv6 the checksum is left 0 for the kernel (IPV6_CHECKSUM).
 */
int rawsock_build_udp(const struct rawsock *rs, const void *payload,
		      size_t len, uint8_t *out, size_t cap);

#endif
