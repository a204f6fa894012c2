// SPDX-License-Identifier: MIT
/*
 * The raw UDP socket beside WireGuard's port.
 *
 * Order matters in rawsock_open(): mark first (the route lookup and every
 * send must follow WireGuard's policy routing), then the source address
 * (a multi-homed host must measure the mapping of the address WireGuard
 * sends from), then the filter with drop-all/drain (datagrams queued
 * before an attach bypass it), then the self-test.
 *
 * Why the self-test does not send anything: the filter accepts only
 * datagrams whose source is the server, and we can neither send as the
 * server nor make the server answer on demand. A loopback datagram
 * could never match, so "send one and see it arrive" (Tailscale's test)
 * would prove nothing here. Instead we read the attached program back
 * from the kernel (SO_GET_FILTER) and require it to be byte for byte the
 * one we built, and we run that program in libcbpf's VM, which gives the
 * kernel's verdicts, over crafted datagrams that must pass (with and
 * without IP options) and that must not (wrong source address or ports,
 * a fragment, too short). For IPv6 the filter reads the source address
 * from the IPv6 header that lies *before* the data (SKF_NET_OFF); the VM
 * models that with headroom (cbpf_ctx_raw6()).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include "checksum.h"
#include "endpoint.h"
#include "rawsock.h"

#define IPV4_MIN_HDR 20
#define UDP_HDR 8
#define IPV6_HDR 40

int rawsock_set_mark(int fd, uint32_t fwmark)
{
	if (!fwmark)
		return 0;
	/* Needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)))
		return -errno;
	return 0;
}

int rawsock_route_source(const struct sockaddr *dst, uint32_t fwmark,
			 struct sockaddr_storage *src)
{
	socklen_t len = sizeof(*src);
	int fd, ret;

	fd = socket(dst->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect() on UDP sends nothing: it only routes and binds. */
	ret = rawsock_set_mark(fd, fwmark);
	if (!ret && connect(fd, dst, endpoint_len(dst)))
		ret = -errno;
	if (!ret && getsockname(fd, (struct sockaddr *)src, &len))
		ret = -errno;
	close(fd);
	if (ret)
		return ret;
	if (src->ss_family == AF_INET)
		((struct sockaddr_in *)src)->sin_port = 0;
	else
		((struct sockaddr_in6 *)src)->sin6_port = 0;
	return 0;
}

int rawsock_build_filter(int family, const struct sockaddr *server,
			 uint16_t wg_port, uint16_t min_payload,
			 struct cbpf_prog *prog)
{
	struct cbpf_udp_match m = {
		.match_saddr = true,
		.sport = endpoint_port(server),
		.dport = wg_port,
		.min_payload = min_payload,
	};

	if (family != server->sa_family)
		return -EINVAL;
	if (family == AF_INET) {
		m.saddr.v4 = ((const struct sockaddr_in *)server)->sin_addr;
		return cbpf_filter_udp4(&m, prog);
	}
	if (family == AF_INET6) {
		m.saddr.v6 = ((const struct sockaddr_in6 *)server)->sin6_addr;
		return cbpf_filter_udp6(&m, prog);
	}
	return -EAFNOSUPPORT;
}

/* An IPv4/UDP datagram for the VM: ihl_words 5 or more (options are
 * NOPs), from saddr:sport to daddr:dport, payload bytes of zeros. */
static size_t craft_ipv4(uint8_t *pkt, size_t cap, unsigned int ihl_words,
			 struct in_addr saddr, struct in_addr daddr,
			 uint16_t sport, uint16_t dport, size_t payload,
			 uint16_t frag)
{
	size_t ihl = ihl_words * 4, total = ihl + UDP_HDR + payload;
	struct udphdr *uh;

	if (total > cap)
		return 0;
	memset(pkt, 0, total);
	memset(pkt + IPV4_MIN_HDR, IPOPT_NOP, ihl - IPV4_MIN_HDR);
	pkt[0] = (uint8_t)(0x40 | ihl_words);
	pkt[2] = (uint8_t)(total >> 8);
	pkt[3] = (uint8_t)total;
	pkt[6] = (uint8_t)(frag >> 8);
	pkt[7] = (uint8_t)frag;
	pkt[8] = 64;
	pkt[9] = IPPROTO_UDP;
	memcpy(pkt + 12, &saddr, 4);
	memcpy(pkt + 16, &daddr, 4);
	uh = (struct udphdr *)(pkt + ihl);
	uh->source = htons(sport);
	uh->dest = htons(dport);
	uh->len = htons((uint16_t)(UDP_HDR + payload));
	return total;
}

static int vm_self_test4(const struct cbpf_prog *prog, const struct rawsock *rs,
			 uint16_t min_payload)
{
	const struct sockaddr_in *srv = (const struct sockaddr_in *)&rs->dst;
	struct in_addr me = ((const struct sockaddr_in *)&rs->src)->sin_addr;
	struct in_addr other = { .s_addr = srv->sin_addr.s_addr ^ htonl(1) };
	uint16_t sport = ntohs(srv->sin_port), dport = rs->wg_port;
	struct cbpf_ctx ctx = cbpf_ctx_unix();
	static uint8_t pkt[60 + UDP_HDR + UINT16_MAX];
	const struct {
		unsigned int ihl;
		struct in_addr saddr;
		uint16_t sport, dport;
		size_t payload;
		uint16_t frag;
		bool pass;
	} cases[] = {
		{ 5, srv->sin_addr, sport, dport, min_payload, 0, true },
		{ 7, srv->sin_addr, sport, dport, min_payload, IP_DF, true },
		{ 5, other, sport, dport, min_payload, 0, false },
		{ 5, srv->sin_addr, (uint16_t)(sport + 1), dport, min_payload, 0, false },
		{ 5, srv->sin_addr, sport, (uint16_t)(dport + 1), min_payload, 0, false },
		{ 5, srv->sin_addr, sport, dport, min_payload, IP_MF, false },
		{ 5, srv->sin_addr, sport, dport, min_payload, 1, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = craft_ipv4(pkt, sizeof(pkt), cases[i].ihl,
					cases[i].saddr, me, cases[i].sport,
					cases[i].dport, cases[i].payload,
					cases[i].frag);

		if (!len || (cbpf_run(prog, pkt, len, &ctx) != 0) != cases[i].pass)
			return -EPROTO;
	}
	/* One byte short of the minimum must not pass either. */
	if (min_payload) {
		size_t len = craft_ipv4(pkt, sizeof(pkt), 5, srv->sin_addr, me,
					sport, dport, min_payload - 1U, 0);

		if (cbpf_run(prog, pkt, len, &ctx) != 0)
			return -EPROTO;
	}
	return 0;
}

/* An IPv6 UDP datagram as a raw IPv6 socket's filter sees it: the IPv6
 * header (40 bytes) lies in front of the data, reachable only through
 * SKF_NET_OFF, which cbpf_ctx_raw6() places there. Returns the length of
 * the part the filter sees, which starts at pkt + IPV6_HDR. */
static size_t craft_ipv6(uint8_t *pkt, size_t cap, const struct in6_addr *saddr,
			 const struct in6_addr *daddr, uint16_t sport,
			 uint16_t dport, size_t payload)
{
	size_t len = UDP_HDR + payload;
	struct udphdr *uh;

	if (IPV6_HDR + len > cap)
		return 0;
	memset(pkt, 0, IPV6_HDR + len);
	pkt[0] = 0x60;
	pkt[4] = (uint8_t)(len >> 8);
	pkt[5] = (uint8_t)len;
	pkt[6] = IPPROTO_UDP;
	pkt[7] = 64;
	memcpy(pkt + 8, saddr, 16);
	memcpy(pkt + 24, daddr, 16);
	uh = (struct udphdr *)(pkt + IPV6_HDR);
	uh->source = htons(sport);
	uh->dest = htons(dport);
	uh->len = htons((uint16_t)len);
	return len;
}

static int vm_self_test6(const struct cbpf_prog *prog, const struct rawsock *rs,
			 uint16_t min_payload)
{
	const struct sockaddr_in6 *srv = (const struct sockaddr_in6 *)&rs->dst;
	const struct in6_addr *me = &((const struct sockaddr_in6 *)&rs->src)->sin6_addr;
	struct in6_addr other = srv->sin6_addr;
	uint16_t sport = ntohs(srv->sin6_port), dport = rs->wg_port;
	struct cbpf_ctx ctx = cbpf_ctx_raw6();
	static uint8_t pkt[IPV6_HDR + UDP_HDR + UINT16_MAX];
	const struct {
		const struct in6_addr *saddr;
		uint16_t sport, dport;
		size_t payload;
		bool pass;
	} cases[] = {
		{ &srv->sin6_addr, sport, dport, min_payload, true },
		{ &other, sport, dport, min_payload, false },
		{ &srv->sin6_addr, (uint16_t)(sport + 1), dport, min_payload, false },
		{ &srv->sin6_addr, sport, (uint16_t)(dport + 1), min_payload, false },
		{ &srv->sin6_addr, sport, dport, min_payload ? min_payload - 1U : 0,
		  !min_payload },
	};

	other.s6_addr[15] ^= 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = craft_ipv6(pkt, sizeof(pkt), cases[i].saddr, me,
					cases[i].sport, cases[i].dport,
					cases[i].payload);

		if (!len ||
		    (cbpf_run(prog, pkt + IPV6_HDR, len, &ctx) != 0) != cases[i].pass)
			return -EPROTO;
	}
	return 0;
}

int rawsock_filter_is(int fd, const struct cbpf_prog *prog)
{
	struct cbpf_prog back = { 0 };
	int ret;

	ret = cbpf_get_filter(fd, &back);
	if (ret < 0)
		return ret;
	if (back.len != prog->len ||
	    memcmp(back.insns, prog->insns, prog->len * sizeof(*prog->insns)))
		ret = -EPROTO;
	cbpf_prog_free(&back);
	return ret < 0 ? ret : 0;
}

static int self_test(const struct rawsock *rs, const struct cbpf_prog *prog,
		     uint16_t min_payload)
{
	int ret = rawsock_filter_is(rs->fd, prog);

	if (ret < 0)
		return ret;
	if (rs->family == AF_INET)
		return vm_self_test4(prog, rs, min_payload);
	return vm_self_test6(prog, rs, min_payload);
}

static int open_socket(struct rawsock *rs)
{
	int offset = offsetof(struct udphdr, check);
	struct sockaddr_storage bind_addr = rs->src;
	int ret;

	rs->fd = socket(rs->family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			IPPROTO_UDP);
	if (rs->fd < 0)
		return -errno;
	ret = rawsock_set_mark(rs->fd, rs->fwmark);
	if (ret)
		return ret;
	if (rs->family == AF_INET6) {
		/* UDP over IPv6 must carry a checksum: the kernel computes
		 * it into offset 6 of what we send. */
		if (setsockopt(rs->fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset,
			       sizeof(offset)))
			return -errno;
		((struct sockaddr_in6 *)&bind_addr)->sin6_port = 0;
	} else {
		((struct sockaddr_in *)&bind_addr)->sin_port = 0;
	}
	/* A raw socket's bind() fixes the source address of what it sends
	 * and the destination address of what it receives. */
	if (bind(rs->fd, (struct sockaddr *)&bind_addr,
		 endpoint_len((struct sockaddr *)&bind_addr)))
		return -errno;
	return 0;
}

int rawsock_open(struct rawsock *rs, const struct sockaddr *server,
		 uint16_t wg_port, uint32_t fwmark, uint16_t min_payload)
{
	struct cbpf_prog prog = { 0 };
	int ret;

	memset(rs, 0, sizeof(*rs));
	rs->fd = -1;
	if (server->sa_family != AF_INET && server->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!wg_port || !endpoint_port(server))
		return -EINVAL;
	rs->family = server->sa_family;
	rs->wg_port = wg_port;
	rs->fwmark = fwmark;
	memcpy(&rs->dst, server, endpoint_len(server));

	ret = rawsock_route_source(server, fwmark, &rs->src);
	if (!ret)
		ret = open_socket(rs);
	if (!ret)
		ret = rawsock_build_filter(rs->family, server, wg_port,
					   min_payload, &prog);
	if (!ret) {
		ret = cbpf_attach(rs->fd, &prog, CBPF_ATTACH_DRAIN);
		if (ret > 0)
			ret = 0;	/* the number drained */
	}
	if (!ret)
		ret = self_test(rs, &prog, min_payload);
	cbpf_prog_free(&prog);
	if (ret < 0) {
		rawsock_close(rs);
		return ret;
	}
	if (rs->family == AF_INET)
		((struct sockaddr_in *)&rs->src)->sin_port = htons(wg_port);
	else
		((struct sockaddr_in6 *)&rs->src)->sin6_port = htons(wg_port);
	return 0;
}

void rawsock_close(struct rawsock *rs)
{
	if (rs->fd >= 0)
		close(rs->fd);
	rs->fd = -1;
}

int rawsock_build_udp(const struct rawsock *rs, const void *payload,
		      size_t len, uint8_t *out, size_t cap)
{
	struct udphdr uh = { 0 };

	if (len > UINT16_MAX - UDP_HDR || cap < UDP_HDR + len)
		return -EMSGSIZE;
	uh.source = htons(rs->wg_port);
	uh.dest = htons(endpoint_port((const struct sockaddr *)&rs->dst));
	uh.len = htons((uint16_t)(UDP_HDR + len));
	memcpy(out, &uh, UDP_HDR);
	memcpy(out + UDP_HDR, payload, len);
	if (rs->family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&rs->src;
		const struct sockaddr_in *d = (const struct sockaddr_in *)&rs->dst;

		uh.check = udp4_checksum(s->sin_addr, d->sin_addr, out,
					 UDP_HDR + len);
		memcpy(out + offsetof(struct udphdr, check), &uh.check,
		       sizeof(uh.check));
	}
	return (int)(UDP_HDR + len);
}

int rawsock_send(const struct rawsock *rs, const void *payload, size_t len)
{
	uint8_t buf[UDP_HDR + 2048];
	struct sockaddr_storage to = rs->dst;
	ssize_t n;
	int dlen;

	dlen = rawsock_build_udp(rs, payload, len, buf, sizeof(buf));
	if (dlen < 0)
		return dlen;
	/* The port of a raw socket's destination is not a UDP port: IPv4
	 * ignores it and IPv6 wants 0 or the socket's protocol. */
	if (to.ss_family == AF_INET)
		((struct sockaddr_in *)&to)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&to)->sin6_port = 0;
	do {
		n = sendto(rs->fd, buf, (size_t)dlen, 0, (struct sockaddr *)&to,
			   endpoint_len((struct sockaddr *)&to));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == dlen ? 0 : -EIO;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

ssize_t rawsock_parse_udp(const uint8_t *pkt, size_t len,
			  uint16_t server_port, uint16_t wg_port,
			  const uint8_t **payload)
{
	size_t ulen;

	if (len < UDP_HDR)
		return -EBADMSG;
	ulen = get16(pkt + 4);
	if (get16(pkt) != server_port || get16(pkt + 2) != wg_port ||
	    ulen < UDP_HDR || ulen > len)
		return -EBADMSG;
	*payload = pkt + UDP_HDR;
	return (ssize_t)(ulen - UDP_HDR);
}

ssize_t rawsock_parse_ipv4(const uint8_t *pkt, size_t len,
			   const struct sockaddr_in *server, uint16_t wg_port,
			   const uint8_t **payload)
{
	size_t ihl, total;

	if (len < IPV4_MIN_HDR || pkt[0] >> 4 != 4)
		return -EBADMSG;
	/* The header length from the header: options are fine. */
	ihl = (size_t)(pkt[0] & 0xf) * 4;
	total = get16(pkt + 2);
	if (ihl < IPV4_MIN_HDR || total < ihl || total > len)
		return -EBADMSG;
	if (pkt[9] != IPPROTO_UDP || (get16(pkt + 6) & 0x3fff) ||
	    memcmp(pkt + 12, &server->sin_addr, 4))
		return -EBADMSG;
	return rawsock_parse_udp(pkt + ihl, total - ihl,
				 ntohs(server->sin_port), wg_port, payload);
}

/* An IPv6 raw socket delivers no IPv6 header: the source address is
 * recvfrom()'s. */
static ssize_t parse_ipv6(const struct rawsock *rs,
			  const struct sockaddr_storage *from,
			  const uint8_t *pkt, size_t len,
			  const uint8_t **payload)
{
	const struct sockaddr_in6 *srv = (const struct sockaddr_in6 *)&rs->dst;
	const struct sockaddr_in6 *f6 = (const struct sockaddr_in6 *)from;

	if (from->ss_family != AF_INET6 ||
	    memcmp(&f6->sin6_addr, &srv->sin6_addr, sizeof(srv->sin6_addr)))
		return -EBADMSG;
	return rawsock_parse_udp(pkt, len, ntohs(srv->sin6_port), rs->wg_port,
				 payload);
}

ssize_t rawsock_recv(const struct rawsock *rs, uint8_t *buf, size_t cap,
		     const uint8_t **payload)
{
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n;

	do {
		n = recvfrom(rs->fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &flen);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)n > cap)
		return -EBADMSG;	/* truncated: larger than any reply */
	if (rs->family == AF_INET)
		return rawsock_parse_ipv4(buf, (size_t)n,
					  (const struct sockaddr_in *)&rs->dst,
					  rs->wg_port, payload);
	return parse_ipv6(rs, &from, buf, (size_t)n, payload);
}
