// SPDX-License-Identifier: MIT
/*
 * Hops to our outermost NAT: ICMP echo requests to our public address
 * with TTL 1..HOPS_MAX, one each, told apart by their sequence numbers.
 *
 * Every answer is matched to us by the echo identifier (random per
 * call) and sequence number; echo replies also carry a random cookie in
 * their data, which time-exceeded messages may cut off (RFC 792 quotes
 * only 8 bytes of the original datagram), so for those the identifier,
 * sequence number and quoted destination must do. A raw ICMP socket sees
 * every ICMP message the host gets: ICMP_FILTER narrows it to the two
 * types we read.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/icmp.h>

#include <sodium.h>

#include "hops.h"

#define IPV4_MIN_HDR	20
#define ICMP_HDR	8
#define COOKIE_LEN	8

struct hops_probe {
	struct in_addr dst;
	uint16_t id;
	uint16_t seq0;			/* TTL t is sent as seq0 + t */
	uint8_t cookie[COOKIE_LEN];
	bool echo[HOPS_MAX + 1];	/* echo reply for TTL t */
	bool exceeded[HOPS_MAX + 1];	/* time-exceeded for TTL t */
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 1071 over buf, ready to store big-endian. */
static uint16_t inet_checksum(const uint8_t *buf, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(buf + i);
	if (len & 1)
		sum += (uint32_t)buf[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Is a one of this host's addresses? Then there is no NAT in between. */
static int is_local(struct in_addr a)
{
	struct ifaddrs *ifa, *i;
	bool found = false;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET)
			found = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
				a.s_addr;
	}
	freeifaddrs(ifa);
	return found;
}

static int open_icmp(uint32_t fwmark)
{
	/* Set bits block a type: let only echo replies and time-exceeded
	 * messages through. */
	struct icmp_filter filt = {
		.data = ~((1U << ICMP_ECHOREPLY) | (1U << ICMP_TIME_EXCEEDED)),
	};
	int fd, ret = 0;

	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    IPPROTO_ICMP);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_RAW, ICMP_FILTER, &filt, sizeof(filt)))
		ret = -errno;
	/* The route to P must be WireGuard's (SO_MARK needs CAP_NET_ADMIN). */
	if (!ret && fwmark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)))
		ret = -errno;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static int send_echo(int fd, const struct hops_probe *p, unsigned int ttl)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = p->dst };
	uint8_t pkt[ICMP_HDR + COOKIE_LEN];
	int t = (int)ttl;

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = ICMP_ECHO;
	put16(pkt + 4, p->id);
	put16(pkt + 6, (uint16_t)(p->seq0 + ttl));
	memcpy(pkt + ICMP_HDR, p->cookie, COOKIE_LEN);
	put16(pkt + 2, inet_checksum(pkt, sizeof(pkt)));
	if (setsockopt(fd, IPPROTO_IP, IP_TTL, &t, sizeof(t)))
		return -errno;
	if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		   sizeof(to)) < 0)
		return -errno;
	return 0;
}

/* The TTL an echo id/seq pair stands for, or 0 if it is not ours. */
static unsigned int ttl_of(const struct hops_probe *p, const uint8_t *echo)
{
	uint16_t d = (uint16_t)(get16(echo + 6) - p->seq0);

	if (get16(echo + 4) != p->id || d < 1 || d > HOPS_MAX)
		return 0;
	return d;
}

/* An IPv4 header at pkt: its length, or 0 if it is not one. */
static size_t ipv4_hdr_len(const uint8_t *pkt, size_t len)
{
	size_t ihl;

	if (len < IPV4_MIN_HDR || pkt[0] >> 4 != 4)
		return 0;
	ihl = (size_t)(pkt[0] & 0xf) * 4;
	return ihl >= IPV4_MIN_HDR && ihl <= len ? ihl : 0;
}

/* Record what one received datagram (IP header first) says. */
static void note_answer(struct hops_probe *p, const uint8_t *pkt, size_t len)
{
	size_t ihl = ipv4_hdr_len(pkt, len), iihl;
	const uint8_t *icmp = pkt + ihl, *inner;
	unsigned int ttl;

	if (!ihl || pkt[9] != IPPROTO_ICMP || len - ihl < ICMP_HDR)
		return;
	len -= ihl;
	if (icmp[0] == ICMP_ECHOREPLY && icmp[1] == 0) {
		ttl = ttl_of(p, icmp);
		if (ttl && len >= ICMP_HDR + COOKIE_LEN &&
		    !memcmp(pkt + 12, &p->dst, 4) &&
		    !memcmp(icmp + ICMP_HDR, p->cookie, COOKIE_LEN))
			p->echo[ttl] = true;
		return;
	}
	if (icmp[0] != ICMP_TIME_EXCEEDED || icmp[1] != ICMP_EXC_TTL)
		return;
	/* The quoted datagram: our echo request to P. */
	inner = icmp + ICMP_HDR;
	len -= ICMP_HDR;
	iihl = ipv4_hdr_len(inner, len);
	if (!iihl || len - iihl < ICMP_HDR || inner[9] != IPPROTO_ICMP ||
	    memcmp(inner + 16, &p->dst, 4) || inner[iihl] != ICMP_ECHO)
		return;
	ttl = ttl_of(p, inner + iihl);
	if (ttl)
		p->exceeded[ttl] = true;
}

/* The smallest TTL with an echo reply, or 0. *certain: every smaller
 * TTL got a time-exceeded, so nothing can change the answer. */
static unsigned int answer(const struct hops_probe *p, bool *certain)
{
	*certain = true;
	for (unsigned int t = 1; t <= HOPS_MAX; t++) {
		if (p->echo[t])
			return t;
		if (!p->exceeded[t])
			*certain = false;
	}
	*certain = false;
	return 0;
}

static int collect(int fd, struct hops_probe *p, unsigned int timeout_ms)
{
	uint64_t deadline = mono_ms() + timeout_ms, now;
	uint8_t buf[576];
	unsigned int h;
	bool certain;
	ssize_t n;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
			note_answer(p, buf, (size_t)n);
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		h = answer(p, &certain);
		if (certain)
			return (int)h;
		now = mono_ms();
		if (now >= deadline)
			return h ? (int)h : -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
	}
}

int hops_to_address(const struct sockaddr *addr, uint32_t fwmark,
		    unsigned int timeout_ms)
{
	struct hops_probe p = { 0 };
	uint8_t rnd[4];
	int fd, ret;

	if (addr->sa_family != AF_INET)
		return -EAFNOSUPPORT;
	p.dst = ((const struct sockaddr_in *)addr)->sin_addr;
	ret = is_local(p.dst);
	if (ret)
		return ret > 0 ? 0 : ret;
	randombytes_buf(rnd, sizeof(rnd));
	p.id = get16(rnd);
	p.seq0 = get16(rnd + 2);
	randombytes_buf(p.cookie, sizeof(p.cookie));

	fd = open_icmp(fwmark);
	if (fd < 0)
		return fd;
	for (unsigned int ttl = 1; ttl <= HOPS_MAX && !ret; ttl++)
		ret = send_echo(fd, &p, ttl);
	if (!ret)
		ret = collect(fd, &p, timeout_ms);
	close(fd);
	return ret;
}
