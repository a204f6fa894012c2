// SPDX-License-Identifier: MIT
/*
 * The raw UDP socket for path messages.
 *
 * The filter, for IPv4 (the packet starts at the IP header):
 *
 *	ldb [9]            ; UDP?
 *	ldh [6]            ; no fragment (MF or offset): no reliable ports
 *	ldx 4*([0]&0xf)    ; X = IP header length (options move the UDP header)
 *	ldb [x + 95]       ; the 88th payload byte: shorter datagrams end
 *	                   ; the run here with 0 (a load past the end drops)
 *	ldh [x + 2]        ; destination port = WireGuard's
 *	ld  [x + 8]        ; "WGPN"
 *	ldb [x + 12]       ; version 2
 *	ldb [x + 13]       ; PATH_PROBE or PATH_REPLY
 *
 * For IPv6 the socket's data starts at the UDP header: the same checks
 * at fixed offsets, with no protocol or fragment test (the kernel hands
 * a raw IPv6 socket only reassembled datagrams of its protocol).
 *
 * WireGuard's messages begin with a type byte 1..4 and three zero bytes,
 * so none passes the magic check, whatever its length: the copies of
 * WireGuard's traffic that every raw UDP socket receives never reach us.
 *
 * Why the socket is not bound: a bound raw socket receives only what is
 * addressed to its address, and probes arrive at whatever address the
 * peer tried (LAN, public IPv6, ...). The cost is on sending: the kernel
 * would pick the IPv4 source itself, after we computed the checksum over
 * one. So each IPv4 send looks the route's source up and pins it with
 * IP_PKTINFO in the same sendmsg(). IPv6 needs nothing: the kernel
 * computes the checksum (IPV6_CHECKSUM) after choosing the source.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>

#include "checksum.h"
#include "endpoint.h"
#include "pathmsg.h"
#include "pathsock.h"
#include "rawsock.h"

#define IPV4_MIN_HDR	20
#define IPV4_MAX_HDR	60
#define IPV6_HDR	40
#define UDP_HDR		8

#define ACCEPT		0xffffffffU
#define DROP		0U

/* ---- the filter ---------------------------------------------------- */

static void ld_udp(struct cbpf_builder *b, bool at_x, enum cbpf_size size,
		   uint32_t off)
{
	if (at_x)
		cbpf_ld_ind(b, size, off);
	else
		cbpf_ld_abs(b, size, off);
}

/* From the UDP header on: length, port and the path header. */
static void emit_path_checks(struct cbpf_builder *b, uint16_t wg_port,
			     bool at_x)
{
	ld_udp(b, at_x, CBPF_SIZE_B, UDP_HDR + PATH_MSG_LEN - 1);
	ld_udp(b, at_x, CBPF_SIZE_H, 2);
	cbpf_jmp_k(b, CBPF_COND_NE, wg_port, "drop", NULL);
	ld_udp(b, at_x, CBPF_SIZE_W, UDP_HDR);
	cbpf_jmp_k(b, CBPF_COND_NE, WGP_MAGIC_U32, "drop", NULL);
	ld_udp(b, at_x, CBPF_SIZE_B, UDP_HDR + PATH_OFF_VERSION);
	cbpf_jmp_k(b, CBPF_COND_NE, PATH_VERSION, "drop", NULL);
	ld_udp(b, at_x, CBPF_SIZE_B, UDP_HDR + PATH_OFF_TYPE);
	cbpf_jmp_k(b, CBPF_COND_EQ, PATH_PROBE, "accept", NULL);
	cbpf_jmp_k(b, CBPF_COND_NE, PATH_REPLY, "drop", NULL);
	cbpf_label(b, "accept");
	cbpf_ret_k(b, ACCEPT);
	cbpf_label(b, "drop");
	cbpf_ret_k(b, DROP);
}

int pathsock_build_filter(int family, uint16_t wg_port, struct cbpf_prog *prog)
{
	struct cbpf_builder *b;
	int ret;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!wg_port)
		return -EINVAL;
	b = cbpf_builder_new();
	if (!b)
		return -ENOMEM;
	if (family == AF_INET) {
		cbpf_ld_abs(b, CBPF_SIZE_B, 9);
		cbpf_jmp_k(b, CBPF_COND_NE, IPPROTO_UDP, "drop", NULL);
		cbpf_ld_abs(b, CBPF_SIZE_H, 6);
		cbpf_jmp_k(b, CBPF_COND_SET, IP_MF | IP_OFFMASK, "drop", NULL);
		cbpf_ldx_msh(b, 0);
	}
	emit_path_checks(b, wg_port, family == AF_INET);
	ret = cbpf_builder_finish(b, prog, NULL);
	cbpf_builder_free(b);
	if (!ret)
		ret = cbpf_validate(prog, NULL);
	if (ret)
		cbpf_prog_free(prog);
	return ret;
}

/* ---- the self-test in libcbpf's VM --------------------------------- */

/* What the self-test sends through the filter: a payload of len bytes
 * beginning with head (the rest zero). */
struct probe_case {
	const char *what;
	const uint8_t *head;
	size_t head_len;
	size_t len;
	uint16_t dport_delta;	/* added to wg_port */
	unsigned int ihl;	/* IPv4 header words */
	uint16_t frag;		/* IPv4 flags + fragment offset */
	uint8_t proto;		/* IPv4 protocol (0: UDP) */
	bool pass;
};

static const uint8_t probe_head[] = { 'W', 'G', 'P', 'N', 2, PATH_PROBE };
static const uint8_t reply_head[] = { 'W', 'G', 'P', 'N', 2, PATH_REPLY };
static const uint8_t v1_head[] = { 'W', 'G', 'P', 'N', 1, PATH_PROBE };
static const uint8_t rdv_head[] = { 'W', 'G', 'P', 'N', 2, WGP_PROBE };
static const uint8_t wg_init[] = { 1, 0, 0, 0 };
static const uint8_t wg_data[] = { 4, 0, 0, 0 };

#define HEAD(h) h, sizeof(h)

static const struct probe_case cases[] = {
	{ "probe", HEAD(probe_head), PATH_MSG_LEN, 0, 5, 0, 0, true },
	{ "reply, IP options, DF", HEAD(reply_head), PATH_MSG_LEN, 0, 7, IP_DF, 0, true },
	{ "WireGuard initiation", HEAD(wg_init), 148, 0, 5, 0, 0, false },
	{ "WireGuard data", HEAD(wg_data), 128, 0, 5, 0, 0, false },
	{ "another port", HEAD(probe_head), PATH_MSG_LEN, 1, 5, 0, 0, false },
	{ "first fragment", HEAD(probe_head), PATH_MSG_LEN, 0, 5, IP_MF, 0, false },
	{ "later fragment", HEAD(probe_head), PATH_MSG_LEN, 0, 5, 1, 0, false },
	{ "short", HEAD(probe_head), PATH_MSG_LEN - 1, 0, 5, 0, 0, false },
	{ "version 1", HEAD(v1_head), PATH_MSG_LEN, 0, 5, 0, 0, false },
	{ "rendezvous type", HEAD(rdv_head), PATH_MSG_LEN, 0, 5, 0, 0, false },
	{ "not UDP", HEAD(probe_head), PATH_MSG_LEN, 0, 5, 0, IPPROTO_TCP, false },
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A UDP header and payload as the filter would see it. */
static void craft_udp(uint8_t *udp, const struct probe_case *c,
		      uint16_t wg_port)
{
	memset(udp, 0, UDP_HDR + c->len);
	put16(udp, 40000);
	put16(udp + 2, (uint16_t)(wg_port + c->dport_delta));
	put16(udp + 4, (uint16_t)(UDP_HDR + c->len));
	memcpy(udp + UDP_HDR, c->head, c->head_len);
}

/* The datagram behind an IPv4 header of c->ihl words (options NOPs). */
static size_t craft_ipv4(uint8_t *pkt, const struct probe_case *c,
			 uint16_t wg_port)
{
	size_t ihl = c->ihl * 4, total = ihl + UDP_HDR + c->len;

	memset(pkt, 0, ihl);
	memset(pkt + IPV4_MIN_HDR, IPOPT_NOP, ihl - IPV4_MIN_HDR);
	pkt[0] = (uint8_t)(0x40 | c->ihl);
	put16(pkt + 2, (uint16_t)total);
	put16(pkt + 6, c->frag);
	pkt[8] = 64;
	pkt[9] = c->proto ? c->proto : IPPROTO_UDP;
	pkt[12] = 198, pkt[13] = 18, pkt[14] = 0, pkt[15] = 1;
	pkt[16] = 198, pkt[17] = 18, pkt[18] = 0, pkt[19] = 2;
	craft_udp(pkt + ihl, c, wg_port);
	return total;
}

/* An IPv6 datagram; what the filter sees starts after the 40-byte
 * header, which it reaches only through SKF_NET_OFF (cbpf_ctx_raw6()). */
static size_t craft_ipv6(uint8_t *pkt, const struct probe_case *c,
			 uint16_t wg_port)
{
	size_t len = UDP_HDR + c->len;

	memset(pkt, 0, IPV6_HDR);
	pkt[0] = 0x60;
	put16(pkt + 4, (uint16_t)len);
	pkt[6] = IPPROTO_UDP;
	pkt[7] = 64;
	pkt[8] = 0x20, pkt[9] = 0x01, pkt[10] = 0x0d, pkt[11] = 0xb8;
	pkt[23] = 1;
	pkt[24] = 0x20, pkt[25] = 0x01, pkt[26] = 0x0d, pkt[27] = 0xb8;
	pkt[39] = 2;
	craft_udp(pkt + IPV6_HDR, c, wg_port);
	return len;
}

static bool ipv4_only(const struct probe_case *c)
{
	return c->ihl != 5 || c->frag & ~IP_DF || c->proto;
}

static int vm_self_test(const struct cbpf_prog *prog, int family,
			uint16_t wg_port)
{
	uint8_t pkt[IPV4_MAX_HDR + IPV6_HDR + UDP_HDR + 160];
	struct cbpf_ctx ctx;
	size_t len;
	bool pass;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct probe_case *c = &cases[i];

		if (family == AF_INET) {
			ctx = cbpf_ctx_unix();
			len = craft_ipv4(pkt, c, wg_port);
			pass = cbpf_run(prog, pkt, len, &ctx) != 0;
		} else {
			if (ipv4_only(c))
				continue;
			ctx = cbpf_ctx_raw6();
			len = craft_ipv6(pkt, c, wg_port);
			pass = cbpf_run(prog, pkt + IPV6_HDR, len, &ctx) != 0;
		}
		if (pass != c->pass)
			return -EPROTO;
	}
	return 0;
}

/* The program in the kernel must be the one we built, and it must give
 * the right verdicts. */
static int self_test(const struct pathsock *ps, const struct cbpf_prog *prog)
{
	int ret = rawsock_filter_is(ps->fd, prog);

	if (ret < 0)
		return ret;
	return vm_self_test(prog, ps->family, ps->wg_port);
}

/* ---- open, close --------------------------------------------------- */

static int open_socket(struct pathsock *ps)
{
	int offset = offsetof(struct udphdr, check);

	ps->fd = socket(ps->family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			IPPROTO_UDP);
	if (ps->fd < 0)
		return -errno;
	/* UDP over IPv6 must carry a checksum: the kernel computes it
	 * into offset 6 of what we send (and checks it on receive). */
	if (ps->family == AF_INET6 &&
	    setsockopt(ps->fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset,
		       sizeof(offset)))
		return -errno;
	return rawsock_set_mark(ps->fd, ps->fwmark);
}

int pathsock_open(struct pathsock *ps, int family, uint16_t wg_port,
		  uint32_t fwmark)
{
	struct cbpf_prog prog = { 0 };
	int ret;

	memset(ps, 0, sizeof(*ps));
	ps->fd = -1;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!wg_port)
		return -EINVAL;
	ps->family = family;
	ps->wg_port = wg_port;
	ps->fwmark = fwmark;

	ret = pathsock_build_filter(family, wg_port, &prog);
	if (!ret)
		ret = open_socket(ps);
	if (!ret) {
		/* Drop-all, drain, then the filter: datagrams queued
		 * before an attach would bypass it. */
		ret = cbpf_attach(ps->fd, &prog, CBPF_ATTACH_DRAIN);
		if (ret > 0)
			ret = 0;
	}
	if (!ret)
		ret = self_test(ps, &prog);
	cbpf_prog_free(&prog);
	if (ret < 0)
		pathsock_close(ps);
	return ret;
}

void pathsock_close(struct pathsock *ps)
{
	if (ps->fd >= 0)
		close(ps->fd);
	ps->fd = -1;
}

/* ---- send ---------------------------------------------------------- */

/* Control messages for one sendmsg(): room for IP_PKTINFO and a TTL. */
union ctl_buf {
	char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

static void add_cmsg(struct msghdr *msg, struct cmsghdr **cm, int level,
		     int type, const void *data, size_t len)
{
	(*cm)->cmsg_level = level;
	(*cm)->cmsg_type = type;
	(*cm)->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(*cm), data, len);
	msg->msg_controllen += CMSG_SPACE(len);
	/* Not CMSG_NXTHDR: it stops at msg_controllen, which grows here. */
	*cm = (struct cmsghdr *)((char *)*cm + CMSG_SPACE(len));
}

/*
 * The UDP datagram into dgram (8 + len bytes). For IPv4 the source is
 * looked up now (it may change with the routes) and returned in *src
 * to be pinned for the send.
 */
static int build_datagram(const struct pathsock *ps, const struct sockaddr *dst,
			  const void *payload, size_t len, uint8_t *dgram,
			  struct in_addr *src)
{
	const struct sockaddr_in *d4 = (const struct sockaddr_in *)dst;
	struct sockaddr_storage ss;
	uint16_t check;
	int ret;

	put16(dgram, ps->wg_port);
	put16(dgram + 2, endpoint_port(dst));
	put16(dgram + 4, (uint16_t)(UDP_HDR + len));
	put16(dgram + 6, 0);
	memcpy(dgram + UDP_HDR, payload, len);
	if (ps->family != AF_INET)
		return 0;
	ret = rawsock_route_source(dst, ps->fwmark, &ss);
	if (ret < 0)
		return ret;
	*src = ((const struct sockaddr_in *)&ss)->sin_addr;
	check = udp4_checksum(*src, d4->sin_addr, dgram, UDP_HDR + len);
	memcpy(dgram + offsetof(struct udphdr, check), &check, sizeof(check));
	return 0;
}

int pathsock_send(struct pathsock *ps, const struct sockaddr *dst,
		  const void *payload, size_t len, unsigned int ttl)
{
	uint8_t dgram[UDP_HDR + 2048];
	struct sockaddr_storage to = { 0 };
	struct iovec iov = { .iov_base = dgram, .iov_len = UDP_HDR + len };
	struct msghdr msg = {
		.msg_name = &to,
		.msg_namelen = endpoint_len(dst),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	union ctl_buf ctl;
	struct cmsghdr *cm;
	struct in_pktinfo pi = { 0 };
	int hops = (int)ttl;
	ssize_t n;
	int ret;

	if (dst->sa_family != ps->family)
		return -EAFNOSUPPORT;
	if (len > sizeof(dgram) - UDP_HDR)
		return -EMSGSIZE;
	if (ttl > 255 || !endpoint_port(dst))
		return -EINVAL;
	ret = build_datagram(ps, dst, payload, len, dgram, &pi.ipi_spec_dst);
	if (ret < 0)
		return ret;

	/* A raw socket's destination port is not a UDP port: IPv4
	 * ignores it and IPv6 wants 0 or the socket's protocol. */
	memcpy(&to, dst, msg.msg_namelen);
	if (ps->family == AF_INET)
		((struct sockaddr_in *)&to)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&to)->sin6_port = 0;

	memset(&ctl, 0, sizeof(ctl));
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&msg);
	msg.msg_controllen = 0;
	if (ps->family == AF_INET) {
		add_cmsg(&msg, &cm, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
		if (ttl)
			add_cmsg(&msg, &cm, IPPROTO_IP, IP_TTL, &hops,
				 sizeof(hops));
	} else if (ttl) {
		add_cmsg(&msg, &cm, IPPROTO_IPV6, IPV6_HOPLIMIT, &hops,
			 sizeof(hops));
	}
	if (!msg.msg_controllen)
		msg.msg_control = NULL;

	do {
		n = sendmsg(ps->fd, &msg, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != UDP_HDR + len)
		return -EIO;
	ps->tx++;
	return 0;
}

/* ---- receive ------------------------------------------------------- */

static ssize_t parse_udp(const uint8_t *udp, size_t len, uint16_t wg_port,
			 const uint8_t **payload, uint16_t *sport)
{
	uint8_t id[PATH_ID_LEN];
	size_t ulen;

	if (len < UDP_HDR)
		return -EBADMSG;
	ulen = get16(udp + 4);
	if (get16(udp + 2) != wg_port || ulen < UDP_HDR || ulen > len)
		return -EBADMSG;
	if (!path_peek(udp + UDP_HDR, ulen - UDP_HDR, id))
		return -EBADMSG;
	*sport = get16(udp);
	*payload = udp + UDP_HDR;
	return (ssize_t)(ulen - UDP_HDR);
}

ssize_t pathsock_parse(int family, const uint8_t *pkt, size_t len,
		       uint16_t wg_port, const uint8_t **payload,
		       uint16_t *sport, struct in_addr *src)
{
	size_t ihl, total;

	if (family == AF_INET6)
		return parse_udp(pkt, len, wg_port, payload, sport);
	if (len < IPV4_MIN_HDR || pkt[0] >> 4 != 4)
		return -EBADMSG;
	/* The header length from the header: options are fine. */
	ihl = (size_t)(pkt[0] & 0xf) * 4;
	total = get16(pkt + 2);
	if (ihl < IPV4_MIN_HDR || total < ihl || total > len ||
	    pkt[9] != IPPROTO_UDP || get16(pkt + 6) & (IP_MF | IP_OFFMASK))
		return -EBADMSG;
	memcpy(src, pkt + 12, 4);
	return parse_udp(pkt + ihl, total - ihl, wg_port, payload, sport);
}

ssize_t pathsock_recv(struct pathsock *ps, uint8_t *buf, size_t cap,
		      const uint8_t **payload, struct sockaddr_storage *from)
{
	socklen_t flen = sizeof(*from);
	struct in_addr src;
	uint16_t sport;
	ssize_t n, plen;

	do {
		n = recvfrom(ps->fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)from, &flen);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	ps->rx++;
	if ((size_t)n > cap || from->ss_family != ps->family)
		return -EBADMSG;	/* truncated: no path message */
	plen = pathsock_parse(ps->family, buf, (size_t)n, ps->wg_port,
			      payload, &sport, &src);
	if (plen < 0)
		return plen;
	/* recvfrom() gives the address only; the port is the UDP
	 * header's. The IPv4 source is the IP header's. */
	if (ps->family == AF_INET) {
		((struct sockaddr_in *)from)->sin_addr = src;
		((struct sockaddr_in *)from)->sin_port = htons(sport);
	} else {
		((struct sockaddr_in6 *)from)->sin6_port = htons(sport);
	}
	return plen;
}
