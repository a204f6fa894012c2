/* SPDX-License-Identifier: MIT */
/*
 * cbpf_filter_udp4() and cbpf_filter_udp6() on real raw sockets (root).
 *
 * Each test forks a child that moves into a network namespace of its own
 * (unshare(CLONE_NEWNET)), brings lo up with 198.18.0.0/24 and a few
 * 2001:db8:: addresses, opens raw UDP sockets with the filters attached
 * through cbpf_attach(CBPF_ATTACH_DRAIN), sends datagrams from ordinary
 * UDP sockets (and crafted IPv4 fragments from an IP_HDRINCL one), and
 * reports which ones each raw socket received. The namespace goes away
 * with the child, whatever happens. A raw socket without a filter runs
 * alongside as the control: it shows every datagram really arrived.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "cbpf/filters.h"
#include "cbpf/socket.h"

#define DST4 "198.18.0.1"
#define SRC4 "198.18.0.2"
#define OTHER4 "198.18.0.3"
#define DST6 "2001:db8::1"
#define SRC6 "2001:db8::2"
#define OTHER6 "2001:db8::3"

#define MAX_RX 4
#define SENTINEL ('a' + 63)	/* last datagram: everything before is in */
#define NOISE ('a' + 62)	/* sent before the attach: must be drained */
#define BIT(id) (1ULL << ((id) - 'a'))

/* What the child reports back through a pipe. */
struct outcome {
	int skip;		/* no network namespaces here */
	int line;		/* failing line in the child, or 0 */
	char msg[200];
	int drained[MAX_RX];
	uint64_t seen[MAX_RX];	/* BIT(id) of every datagram received */
};

static struct outcome out;
static int out_fd = -1;

static void child_finish(int code)
{
	ssize_t n = write(out_fd, &out, sizeof(out));

	_exit(n == (ssize_t)sizeof(out) ? code : 3);
}

static void child_fail(int line, const char *what)
{
	out.line = line;
	snprintf(out.msg, sizeof(out.msg), "%s (errno: %s)", what,
		 strerror(errno));
	child_finish(1);
}

#define CHECK(cond) do { if (!(cond)) child_fail(__LINE__, #cond); } while (0)

/* --- the namespace --------------------------------------------------- */

struct in6_ifreq_compat {		/* struct in6_ifreq, linux/ipv6.h */
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

static void lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(s >= 0);
	CHECK(ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
	ifr.ifr_flags |= IFF_UP;
	CHECK(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
	close(s);
}

/* 198.18.0.1/24 on lo: on a loopback device the whole prefix is local,
 * so .2 and .3 can be bound too. */
static void add_addr4(void)
{
	struct ifreq ifr = { .ifr_name = "lo:1" };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(s >= 0);
	sin->sin_family = AF_INET;
	CHECK(inet_pton(AF_INET, DST4, &sin->sin_addr) == 1);
	CHECK(ioctl(s, SIOCSIFADDR, &ifr) == 0);
	CHECK(inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr) == 1);
	CHECK(ioctl(s, SIOCSIFNETMASK, &ifr) == 0);
	close(s);
}

static void add_addr6(const char *addr)
{
	struct in6_ifreq_compat r = { .prefixlen = 128 };
	int s = socket(AF_INET6, SOCK_DGRAM, 0);

	CHECK(s >= 0);
	r.ifindex = (int)if_nametoindex("lo");
	CHECK(r.ifindex > 0);
	CHECK(inet_pton(AF_INET6, addr, &r.addr) == 1);
	CHECK(ioctl(s, SIOCSIFADDR, &r) == 0);
	close(s);
}

static void enter_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0) {
		out.skip = 1;
		snprintf(out.msg, sizeof(out.msg),
			 "unshare(CLONE_NEWNET): %s", strerror(errno));
		child_finish(0);
	}
	lo_up();
	add_addr4();
	add_addr6(DST6);
	add_addr6(SRC6);
	add_addr6(OTHER6);
}

/* --- senders --------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* New IPv6 addresses are briefly tentative even on lo (DAD runs from a
 * work queue): retry while the address is not usable yet. */
static void bind_retry(int fd, const struct sockaddr *sa, socklen_t len)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (bind(fd, sa, len) == 0)
			return;
		CHECK(errno == EADDRNOTAVAIL);
		sleep_ms(10);
	}
	CHECK(!"address never became usable");
}

/* The payload: the datagram's id, then filler, len bytes in all. */
static void fill(uint8_t *buf, int id, size_t len)
{
	memset(buf, '.', len);
	if (len)
		buf[0] = (uint8_t)id;
}

struct send4 {
	const char *src;	/* NULL: SRC4 */
	uint16_t sport;		/* 0: any */
	uint16_t dport;
	size_t payload;		/* 0: 8 */
	const uint8_t *opts;	/* IP_OPTIONS, or NULL */
	socklen_t optlen;
};

static void send_udp4(int id, const struct send4 *s)
{
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_port = htons(s->sport) };
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(s->dport) };
	size_t len = s->payload ? s->payload : 8;
	uint8_t buf[64];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(fd >= 0);
	CHECK(inet_pton(AF_INET, s->src ? s->src : SRC4, &from.sin_addr) == 1);
	CHECK(inet_pton(AF_INET, DST4, &to.sin_addr) == 1);
	if (s->opts)
		CHECK(setsockopt(fd, IPPROTO_IP, IP_OPTIONS, s->opts,
				 s->optlen) == 0);
	CHECK(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0);
	fill(buf, id, len);
	CHECK(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) ==
	      (ssize_t)len);
	close(fd);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * One IPv4 fragment of a 32-byte UDP datagram (8-byte header + 24 bytes)
 * from SRC4 to DST4:dport, sent through IP_HDRINCL. first/count are in
 * 8-byte units of the UDP datagram; more sets MF.
 */
static void send_frag4(int id, uint16_t ip_id, uint16_t dport,
		       unsigned int first, unsigned int count, int more)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint8_t udp[32], pkt[20 + 32];
	size_t len = 20 + count * 8;
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);

	CHECK(fd >= 0);
	CHECK(inet_pton(AF_INET, DST4, &to.sin_addr) == 1);
	put16(udp, 4000);
	put16(udp + 2, dport);
	put16(udp + 4, sizeof(udp));
	put16(udp + 6, 0);			/* no checksum */
	fill(udp + 8, id, sizeof(udp) - 8);

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	put16(pkt + 2, (uint16_t)len);
	put16(pkt + 4, ip_id);
	put16(pkt + 6, (uint16_t)((more ? IP_MF : 0) | first));
	pkt[8] = 64;
	pkt[9] = IPPROTO_UDP;
	CHECK(inet_pton(AF_INET, SRC4, pkt + 12) == 1);
	CHECK(inet_pton(AF_INET, DST4, pkt + 16) == 1);
	memcpy(pkt + 20, udp + first * 8, count * 8);
	CHECK(sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) ==
	      (ssize_t)len);
	close(fd);
}

struct send6 {
	const char *src;	/* NULL: SRC6 */
	uint16_t dport;
	size_t payload;		/* 0: 8 */
	int dstopts;		/* add a destination options header */
};

static void send_udp6(int id, const struct send6 *s)
{
	/* Destination options: next header (filled in), length 0 (8
	 * bytes), one PadN option of 4 bytes. */
	static const uint8_t dstopts[8] = { 0, 0, 1, 4, 0, 0, 0, 0 };
	struct sockaddr_in6 from = { .sin6_family = AF_INET6 };
	struct sockaddr_in6 to = { .sin6_family = AF_INET6,
				   .sin6_port = htons(s->dport) };
	size_t len = s->payload ? s->payload : 8;
	uint8_t buf[64];
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);

	CHECK(fd >= 0);
	CHECK(inet_pton(AF_INET6, s->src ? s->src : SRC6, &from.sin6_addr) == 1);
	CHECK(inet_pton(AF_INET6, DST6, &to.sin6_addr) == 1);
	if (s->dstopts)
		CHECK(setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, dstopts,
				 sizeof(dstopts)) == 0);
	bind_retry(fd, (struct sockaddr *)&from, sizeof(from));
	fill(buf, id, len);
	CHECK(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) ==
	      (ssize_t)len);
	close(fd);
}

/* --- receivers ------------------------------------------------------- */

/* A raw UDP socket, no filter yet: it receives from now on. */
static int open_rx(int family)
{
	int fd = socket(family, SOCK_RAW, IPPROTO_UDP);

	CHECK(fd >= 0);
	return fd;
}

/* With a datagram already queued on every socket, so that the drain has
 * something to do: after it, none of that may come through. */
static void attach_drained(int fd, const struct cbpf_prog *prog,
			   int *drained)
{
	*drained = cbpf_attach(fd, prog, CBPF_ATTACH_DRAIN);
	CHECK(*drained >= 0);
}

/* The id of a received datagram: the first payload byte. An AF_INET raw
 * socket returns the IPv4 header too; an AF_INET6 one starts at UDP. */
static int datagram_id(int family, const uint8_t *buf, ssize_t n)
{
	size_t off = 8;

	if (family == AF_INET) {
		CHECK(n >= 20);
		off += (size_t)(buf[0] & 0xf) * 4;
	}
	CHECK(n > (ssize_t)off);
	return buf[off];
}

/* Read until the SENTINEL arrives; loopback keeps the order. */
static uint64_t collect(int family, int fd)
{
	uint8_t buf[2048];
	uint64_t seen = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int id;

	for (;;) {
		CHECK(poll(&pfd, 1, 2000) == 1);
		n = recv(fd, buf, sizeof(buf), 0);
		CHECK(n >= 0);
		id = datagram_id(family, buf, n);
		CHECK(id >= 'a' && id <= SENTINEL);
		seen |= BIT(id);
		if (id == SENTINEL)
			return seen;
	}
}

/* --- running a scenario in a child ----------------------------------- */

static void run_in_netns(void (*scenario)(void), struct outcome *res)
{
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "test_filters_kernel: needs root (raw sockets "
			"and network namespaces); skipped\n");
		skip();
	}
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		out_fd = fds[1];
		memset(&out, 0, sizeof(out));
		enter_netns();
		scenario();
		child_finish(0);
	}
	close(fds[1]);
	memset(res, 0, sizeof(*res));
	n = read(fds[0], res, sizeof(*res));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (n != (ssize_t)sizeof(*res))
		fail_msg("child died without a report (status %d)", status);
	if (res->skip) {
		fprintf(stderr, "test_filters_kernel: no network namespace "
			"(%s); skipped\n", res->msg);
		skip();
	}
	if (res->line)
		fail_msg("child, line %d: %s", res->line, res->msg);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Datagram ids, IPv4. */
enum {
	V4_MATCH = 'a',		/* SRC4:5300 -> 8080, 8 bytes */
	V4_WRONG_DPORT,		/* -> 9999 */
	V4_WRONG_SRC,		/* from OTHER4 */
	V4_SHORT,		/* 3 bytes of payload */
	V4_EXACT,		/* 4 bytes of payload */
	V4_NOPS,		/* IP options (NOPs), IHL 6, -> 8080 */
	V4_DECOY,		/* IHL 7, 8080 where [22] is, -> 9999 */
	V4_DECOY_OK,		/* the same options, -> 8080 */
	V4_FRAGS,		/* -> 8080 in two fragments */
	V4_LONE_FIRST,		/* a first fragment that never completes */
	V4_LONE_LAST,		/* a last fragment alone */
	V4_SPORT,		/* SRC4:5301 -> 8080 */
};

static void scenario_udp4(void)
{
	static const uint8_t nops[4] = { 1, 1, 1, 0 };
	/* An option the kernel does not know (type 30, RFC 4727's
	 * experiment) is skipped on receive; its data puts 8080 at packet
	 * offset 22, where a filter assuming IHL 5 reads the dport. */
	static const uint8_t decoy[8] = { 30, 8, 0x1f, 0x90, 0, 0, 0, 0 };
	struct cbpf_udp_match m_addr = { .match_saddr = true, .dport = 8080,
					 .min_payload = 4 };
	struct cbpf_udp_match m_sport = { .sport = 5300 };
	struct cbpf_prog p_addr, p_sport;
	int fd[3];

	CHECK(inet_pton(AF_INET, SRC4, &m_addr.saddr.v4) == 1);
	CHECK(cbpf_filter_udp4(&m_addr, &p_addr) == 0);
	CHECK(cbpf_filter_udp4(&m_sport, &p_sport) == 0);
	fd[0] = open_rx(AF_INET);		/* the control */
	fd[1] = open_rx(AF_INET);
	fd[2] = open_rx(AF_INET);
	send_udp4(NOISE, &(struct send4){ .sport = 5300, .dport = 8080 });
	attach_drained(fd[1], &p_addr, &out.drained[1]);
	attach_drained(fd[2], &p_sport, &out.drained[2]);

	send_udp4(V4_MATCH, &(struct send4){ .sport = 5300, .dport = 8080 });
	send_udp4(V4_WRONG_DPORT, &(struct send4){ .dport = 9999 });
	send_udp4(V4_WRONG_SRC, &(struct send4){ .src = OTHER4, .dport = 8080 });
	send_udp4(V4_SHORT, &(struct send4){ .dport = 8080, .payload = 3 });
	send_udp4(V4_EXACT, &(struct send4){ .dport = 8080, .payload = 4 });
	send_udp4(V4_NOPS, &(struct send4){ .dport = 8080, .opts = nops,
					    .optlen = sizeof(nops) });
	send_udp4(V4_DECOY, &(struct send4){ .dport = 9999, .opts = decoy,
					     .optlen = sizeof(decoy) });
	send_udp4(V4_DECOY_OK, &(struct send4){ .dport = 8080, .opts = decoy,
						.optlen = sizeof(decoy) });
	send_frag4(V4_FRAGS, 0x4001, 8080, 0, 2, 1);
	send_frag4(V4_FRAGS, 0x4001, 8080, 2, 2, 0);
	send_frag4(V4_LONE_FIRST, 0x4002, 8080, 0, 2, 1);
	send_frag4(V4_LONE_LAST, 0x4003, 8080, 2, 2, 0);
	send_udp4(V4_SPORT, &(struct send4){ .sport = 5301, .dport = 8080 });
	send_udp4(SENTINEL, &(struct send4){ .sport = 5300, .dport = 8080 });

	out.seen[0] = collect(AF_INET, fd[0]);
	out.seen[1] = collect(AF_INET, fd[1]);
	out.seen[2] = collect(AF_INET, fd[2]);
}

static void test_udp4_raw(void **state)
{
	struct outcome res;

	(void)state;
	run_in_netns(scenario_udp4, &res);

	/* The control sees everything the IP layer delivers, NOISE
	 * included. Raw sockets get datagrams only after reassembly: the
	 * two fragments as one datagram, a lone fragment never. */
	assert_int_equal(res.seen[0],
			 BIT(NOISE) | BIT(V4_MATCH) | BIT(V4_WRONG_DPORT) |
			 BIT(V4_WRONG_SRC) | BIT(V4_SHORT) | BIT(V4_EXACT) |
			 BIT(V4_NOPS) | BIT(V4_DECOY) | BIT(V4_DECOY_OK) |
			 BIT(V4_FRAGS) | BIT(V4_SPORT) | BIT(SENTINEL));
	/* saddr SRC4, dport 8080, at least 4 bytes of payload; NOISE
	 * matches too, but came before the attach and was drained. */
	assert_int_equal(res.drained[1], 1);
	assert_int_equal(res.seen[1],
			 BIT(V4_MATCH) | BIT(V4_EXACT) | BIT(V4_NOPS) |
			 BIT(V4_DECOY_OK) | BIT(V4_FRAGS) | BIT(V4_SPORT) |
			 BIT(SENTINEL));
	/* sport 5300 only. */
	assert_int_equal(res.drained[2], 1);
	assert_int_equal(res.seen[2], BIT(V4_MATCH) | BIT(SENTINEL));
}

/* Datagram ids, IPv6. */
enum {
	V6_MATCH = 'a',		/* SRC6 -> 8080, 8 bytes */
	V6_WRONG_DPORT,		/* -> 9999 */
	V6_WRONG_SRC,		/* from OTHER6 */
	V6_SHORT,		/* 3 bytes of payload */
	V6_EXACT,		/* 4 bytes of payload */
	V6_DSTOPTS,		/* with a destination options header */
	V6_DSTOPTS_WRONG,	/* the same, -> 9999 */
};

static void scenario_udp6(void)
{
	struct cbpf_udp_match m = { .match_saddr = true, .dport = 8080,
				    .min_payload = 4 };
	struct cbpf_prog prog;
	int fd[2];

	CHECK(inet_pton(AF_INET6, SRC6, &m.saddr.v6) == 1);
	CHECK(cbpf_filter_udp6(&m, &prog) == 0);
	fd[0] = open_rx(AF_INET6);		/* the control */
	fd[1] = open_rx(AF_INET6);
	send_udp6(NOISE, &(struct send6){ .dport = 8080 });
	attach_drained(fd[1], &prog, &out.drained[1]);

	send_udp6(V6_MATCH, &(struct send6){ .dport = 8080 });
	send_udp6(V6_WRONG_DPORT, &(struct send6){ .dport = 9999 });
	send_udp6(V6_WRONG_SRC, &(struct send6){ .src = OTHER6, .dport = 8080 });
	send_udp6(V6_SHORT, &(struct send6){ .dport = 8080, .payload = 3 });
	send_udp6(V6_EXACT, &(struct send6){ .dport = 8080, .payload = 4 });
	send_udp6(V6_DSTOPTS, &(struct send6){ .dport = 8080, .dstopts = 1 });
	send_udp6(V6_DSTOPTS_WRONG, &(struct send6){ .dport = 9999,
						     .dstopts = 1 });
	send_udp6(SENTINEL, &(struct send6){ .dport = 8080 });

	out.seen[0] = collect(AF_INET6, fd[0]);
	out.seen[1] = collect(AF_INET6, fd[1]);
}

static void test_udp6_raw(void **state)
{
	struct outcome res;

	(void)state;
	run_in_netns(scenario_udp6, &res);
	assert_int_equal(res.seen[0],
			 BIT(NOISE) | BIT(V6_MATCH) | BIT(V6_WRONG_DPORT) |
			 BIT(V6_WRONG_SRC) | BIT(V6_SHORT) | BIT(V6_EXACT) |
			 BIT(V6_DSTOPTS) | BIT(V6_DSTOPTS_WRONG) |
			 BIT(SENTINEL));
	/* The source is read through SKF_NET_OFF, the ports at 0 and 2
	 * even behind an extension header. */
	assert_int_equal(res.seen[1],
			 BIT(V6_MATCH) | BIT(V6_EXACT) | BIT(V6_DSTOPTS) |
			 BIT(SENTINEL));
	assert_int_equal(res.drained[1], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp4_raw),
		cmocka_unit_test(test_udp6_raw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
