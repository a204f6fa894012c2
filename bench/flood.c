// SPDX-License-Identifier: MIT
/*
 * flood — a spoofed UDP flood against wgpunchd, for the flood benchmark
 * (bench/bench_flood.sh) and its short version in the tests.
 *
 *   flood --to IP:PORT --kind KIND [--sources SET] [--rate PPS]
 *         [--seconds S] [--replay FILE] [--victim IP:PORT]
 *
 * Raw IPv4 (IP_HDRINCL), so every datagram carries the source address
 * this program chooses, sent in sendmmsg() batches and paced to --rate
 * datagrams per second (0: as fast as this machine can). Kinds:
 *   junk     random bytes of random length: dropped at the first check
 *   unknown  a valid wgpunch v1 REGISTER header and length with a random
 *            unknown key and random sealed bytes: passes the header and
 *            length checks, so it costs the server a key agreement
 *            (X25519) before the AEAD fails
 *   replay   a captured genuine datagram (--replay FILE), resent as is
 *   victim   "unknown" datagrams whose source is --victim IP:PORT, a real
 *            client's address: what it costs the victim
 * Source sets (all but victim): 1 address (198.18.64.1), 200 addresses
 * (198.18.64.1-198.18.64.200), or random ones in 198.18.0.0/15 outside
 * 198.18.0.0/20 (where the lab's own hosts live). Source ports are random.
 *
 * Every address used, source or destination, must be in 198.18.0.0/15,
 * the benchmark network: anything else is refused. So is running outside
 * a named network namespace (ip netns, as the lab's): spoofed datagrams
 * belong in a lab, never on a real network.
 *
 * Prints one line, key=value:
 *   kind=K sources=S asked=PPS sent=N seconds=T pps=X errors=E
 * asked=0 means unpaced; errors counts datagrams the kernel refused.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "endpoint.h"
#include "proto.h"

#define BATCH_MAX	64
#define PAYLOAD_MAX	1472	/* one unfragmented datagram on Ethernet */
#define JUNK_MAX	200
#define SET_BASE	0xc6124001U	/* 198.18.64.1 */
#define NET_BASE	0xc6120000U	/* 198.18.0.0/15 */
#define NET_MASK	0xfffe0000U
#define LAB_MASK	0xfffff000U	/* 198.18.0.0/20: the lab's hosts */

enum kind { KIND_JUNK, KIND_UNKNOWN, KIND_REPLAY, KIND_VICTIM };

static const char *const kind_names[] = { "junk", "unknown", "replay", "victim" };

struct options {
	enum kind kind;
	unsigned int n_sources;		/* 0: random */
	uint64_t rate;			/* datagrams per second, 0: unpaced */
	double seconds;
	struct sockaddr_in to;
	struct sockaddr_in victim;
	const char *replay_path;
};

struct packet {
	struct iphdr ip;
	struct udphdr udp;
	uint8_t payload[PAYLOAD_MAX];
};

struct generator {
	const struct options *opt;
	uint64_t rng;
	uint8_t tmpl[PAYLOAD_MAX];	/* unknown: header; replay: datagram */
	size_t tmpl_len;
	struct packet pkts[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	struct mmsghdr msgs[BATCH_MAX];
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: flood --to IP:PORT --kind junk|unknown|replay|victim\n"
"             [--sources 1|200|random] [--rate PPS (0: unpaced)]\n"
"             [--seconds S] [--replay FILE] [--victim IP:PORT]\n"
"Every address must be in 198.18.0.0/15.\n");
}

/* ---- randomness: xorshift64*, seeded from the kernel ---------------- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void rng_fill(uint64_t *s, uint8_t *buf, size_t len)
{
	uint64_t r;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		r = rng_next(s);
		memcpy(buf + i, &r, 8);
	}
	if (i < len) {
		r = rng_next(s);
		memcpy(buf + i, &r, len - i);
	}
}

/* ---- options -------------------------------------------------------- */

static bool in_bench_net(uint32_t addr_host)
{
	return (addr_host & NET_MASK) == NET_BASE;
}

/* A numeric "a.b.c.d:port" in the bench's network (IPv4 only): -EINVAL,
 * or -EPERM for an address outside it. */
static int parse_addr_port(struct sockaddr_in *sin, const char *s)
{
	struct sockaddr_storage ss;

	if (endpoint_parse(s, strlen(s), 0, &ss) < 0 || ss.ss_family != AF_INET)
		return -EINVAL;
	memcpy(sin, &ss, sizeof(*sin));
	if (!in_bench_net(ntohl(sin->sin_addr.s_addr)))
		return -EPERM;
	return 0;
}

static int parse_kind(enum kind *k, const char *s)
{
	unsigned int i;

	for (i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (!strcmp(s, kind_names[i])) {
			*k = (enum kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_sources(unsigned int *n, const char *s)
{
	if (!strcmp(s, "1"))
		*n = 1;
	else if (!strcmp(s, "200"))
		*n = 200;
	else if (!strcmp(s, "random"))
		*n = 0;
	else
		return -EINVAL;
	return 0;
}

static int check_options(const struct options *o, bool have_to,
			 bool have_victim)
{
	if (!have_to) {
		fprintf(stderr, "flood: --to is required\n");
		return -EINVAL;
	}
	if (o->kind == KIND_VICTIM && !have_victim) {
		fprintf(stderr, "flood: --kind victim needs --victim\n");
		return -EINVAL;
	}
	if (o->kind == KIND_REPLAY && !o->replay_path) {
		fprintf(stderr, "flood: --kind replay needs --replay\n");
		return -EINVAL;
	}
	if (o->seconds <= 0 || o->seconds > 3600) {
		fprintf(stderr, "flood: --seconds must be in (0, 3600]\n");
		return -EINVAL;
	}
	return 0;
}

static int addr_option(struct sockaddr_in *sin, const char *arg,
		       const char *name)
{
	int err = parse_addr_port(sin, arg);

	if (err == -EPERM)
		fprintf(stderr, "flood: %s %s: outside 198.18.0.0/15\n",
			name, arg);
	else if (err)
		fprintf(stderr, "flood: %s %s: not IPv4:PORT\n", name, arg);
	return err;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "kind", required_argument, NULL, 'k' },
		{ "sources", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 'd' },
		{ "replay", required_argument, NULL, 'R' },
		{ "victim", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_to = false, have_victim = false;
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->kind = KIND_UNKNOWN;
	o->n_sources = 0;
	o->seconds = 5;
	while ((c = getopt_long(argc, argv, "t:k:s:r:d:R:v:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 't':
			if (addr_option(&o->to, optarg, "--to"))
				return -EINVAL;
			have_to = true;
			break;
		case 'k':
			if (parse_kind(&o->kind, optarg)) {
				fprintf(stderr, "flood: unknown kind %s\n", optarg);
				return -EINVAL;
			}
			break;
		case 's':
			if (parse_sources(&o->n_sources, optarg)) {
				fprintf(stderr, "flood: --sources 1, 200 or random\n");
				return -EINVAL;
			}
			break;
		case 'r':
			o->rate = strtoull(optarg, &end, 10);
			if (*end || o->rate > 100000000) {
				fprintf(stderr, "flood: bad --rate %s\n", optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			o->seconds = strtod(optarg, &end);
			if (*end) {
				fprintf(stderr, "flood: bad --seconds %s\n", optarg);
				return -EINVAL;
			}
			break;
		case 'R':
			o->replay_path = optarg;
			break;
		case 'v':
			if (addr_option(&o->victim, optarg, "--victim"))
				return -EINVAL;
			have_victim = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	return check_options(o, have_to, have_victim);
}

/* ---- what is sent ---------------------------------------------------- */

/*
 * The clear part of a v1 REGISTER with no consent entries, at its exact
 * length: the server accepts the header and the length, and only the
 * key agreement and the AEAD tell it the datagram is not genuine.
 */
static int unknown_template(struct generator *g)
{
	struct wgp_msg m;
	size_t len = WGP_REQ_PREFIX_LEN + WGP_REGISTER_FIXED + WGP_TAG_LEN;

	memset(g->tmpl, 0, len);
	memcpy(g->tmpl + WGP_OFF_MAGIC, WGP_MAGIC, 4);
	g->tmpl[WGP_OFF_VERSION] = 1;
	g->tmpl[WGP_OFF_TYPE] = WGP_REGISTER;
	g->tmpl_len = len;
	/* Fails loudly if the protocol moved away from this layout. */
	if (wgp_parse_header(&m, g->tmpl, len) < 0) {
		fprintf(stderr, "flood: the REGISTER template no longer parses\n");
		return -EPROTO;
	}
	return 0;
}

static int replay_template(struct generator *g, const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f) {
		fprintf(stderr, "flood: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	n = fread(g->tmpl, 1, sizeof(g->tmpl), f);
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "flood: %s: empty\n", path);
		return -EINVAL;
	}
	g->tmpl_len = n;
	return 0;
}

/* Random everything after the fixed header: txid, key, nonce, sealed. */
static size_t fill_unknown(struct generator *g, uint8_t *out)
{
	memcpy(out, g->tmpl, WGP_OFF_TXID);
	rng_fill(&g->rng, out + WGP_OFF_TXID, g->tmpl_len - WGP_OFF_TXID);
	return g->tmpl_len;
}

static size_t fill_junk(struct generator *g, uint8_t *out)
{
	size_t len = 1 + rng_next(&g->rng) % JUNK_MAX;

	rng_fill(&g->rng, out, len);
	return len;
}

static size_t fill_payload(struct generator *g, uint8_t *out)
{
	switch (g->opt->kind) {
	case KIND_JUNK:
		return fill_junk(g, out);
	case KIND_REPLAY:
		memcpy(out, g->tmpl, g->tmpl_len);
		return g->tmpl_len;
	case KIND_UNKNOWN:
	case KIND_VICTIM:
		break;
	}
	return fill_unknown(g, out);
}

/* A random host in 198.18.0.0/15 outside the lab's 198.18.0.0/20. */
static uint32_t random_source(struct generator *g)
{
	uint32_t a;

	do {
		a = NET_BASE | ((uint32_t)rng_next(&g->rng) & ~NET_MASK);
	} while ((a & LAB_MASK) == NET_BASE);
	return a;
}

static void pick_source(struct generator *g, uint32_t *addr, uint16_t *port)
{
	const struct options *o = g->opt;

	if (o->kind == KIND_VICTIM) {
		*addr = o->victim.sin_addr.s_addr;
		*port = o->victim.sin_port;
		return;
	}
	if (o->n_sources == 0)
		*addr = htonl(random_source(g));
	else
		*addr = htonl(SET_BASE + (uint32_t)(rng_next(&g->rng) %
						    o->n_sources));
	*port = htons((uint16_t)(1024 + rng_next(&g->rng) % (65536 - 1024)));
}

static uint32_t sum16(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The UDP checksum over the pseudo-header: the kernel fills in the IP
 * header's checksum (IP_HDRINCL) but never the UDP one. */
static uint16_t udp_checksum(const struct packet *p, size_t udp_len)
{
	uint32_t sum = 0;
	uint16_t c;

	sum = sum16(sum, &p->ip.saddr, 4);
	sum = sum16(sum, &p->ip.daddr, 4);
	sum += IPPROTO_UDP + (uint32_t)udp_len;
	sum = sum16(sum, &p->udp, udp_len);
	c = fold(sum);
	return htons(c ? c : 0xffff);
}

/* One datagram into p; returns the IP length. */
static size_t build_packet(struct generator *g, struct packet *p)
{
	size_t len = fill_payload(g, p->payload);
	size_t udp_len = sizeof(p->udp) + len;
	uint32_t saddr;
	uint16_t sport;

	pick_source(g, &saddr, &sport);
	memset(&p->ip, 0, sizeof(p->ip));
	p->ip.version = 4;
	p->ip.ihl = sizeof(p->ip) / 4;
	p->ip.ttl = 64;
	p->ip.protocol = IPPROTO_UDP;
	p->ip.tot_len = htons((uint16_t)(sizeof(p->ip) + udp_len));
	p->ip.saddr = saddr;
	p->ip.daddr = g->opt->to.sin_addr.s_addr;
	p->udp.source = sport;
	p->udp.dest = g->opt->to.sin_port;
	p->udp.len = htons((uint16_t)udp_len);
	p->udp.check = 0;
	p->udp.check = udp_checksum(p, udp_len);
	return sizeof(p->ip) + udp_len;
}

/* ---- sending, paced --------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/*
 * True when this process runs in a named network namespace (one that
 * `ip netns add` made, as the lab's are): spoofed datagrams never leave
 * the host's own namespace that way.
 */
static bool in_named_netns(void)
{
	struct stat self, ns;
	struct dirent *e;
	char path[512];
	bool found = false;
	DIR *dir;

	if (stat("/proc/self/ns/net", &self) < 0)
		return false;
	dir = opendir("/run/netns");
	if (!dir)
		return false;
	while (!found && (e = readdir(dir))) {
		if (e->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "/run/netns/%s", e->d_name) >=
		    (int)sizeof(path))
			continue;
		found = stat(path, &ns) == 0 && ns.st_dev == self.st_dev &&
			ns.st_ino == self.st_ino;
	}
	closedir(dir);
	return found;
}

static int open_raw(void)
{
	int one = 1, sndbuf = 4 << 20;
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);

	if (fd < 0) {
		fprintf(stderr, "flood: raw socket: %s\n", strerror(errno));
		return -errno;
	}
	if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)) < 0) {
		fprintf(stderr, "flood: IP_HDRINCL: %s\n", strerror(errno));
		close(fd);
		return -errno;
	}
	/* Best effort: a bigger buffer only means fewer ENOBUFS. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	return fd;
}

/*
 * Datagrams per sendmmsg(): enough that the system call is not the
 * bottleneck, few enough that the pacing stays smooth at low rates (at
 * least ~200 batches a second).
 */
static unsigned int batch_size(uint64_t rate)
{
	uint64_t b = rate / 200;

	if (rate == 0 || b > BATCH_MAX)
		return BATCH_MAX;
	return b ? (unsigned int)b : 1;
}

static void prepare_msgs(struct generator *g)
{
	unsigned int i;

	for (i = 0; i < BATCH_MAX; i++) {
		g->iov[i].iov_base = &g->pkts[i];
		memset(&g->msgs[i], 0, sizeof(g->msgs[i]));
		g->msgs[i].msg_hdr.msg_iov = &g->iov[i];
		g->msgs[i].msg_hdr.msg_iovlen = 1;
		g->msgs[i].msg_hdr.msg_name = (void *)&g->opt->to;
		g->msgs[i].msg_hdr.msg_namelen = sizeof(g->opt->to);
	}
}

/* Send n fresh datagrams; counts those the kernel took and refused. */
static void send_batch(struct generator *g, int fd, unsigned int n,
		       uint64_t *sent, uint64_t *errors)
{
	unsigned int i = 0;
	int r;

	for (i = 0; i < n; i++)
		g->iov[i].iov_len = build_packet(g, &g->pkts[i]);
	i = 0;
	while (i < n) {
		r = sendmmsg(fd, g->msgs + i, n - i, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS and the like: this datagram is lost,
			 * the rest of the batch still goes. */
			(*errors)++;
			i++;
			continue;
		}
		*sent += (uint64_t)r;
		i += (unsigned int)r;
	}
}

/* Datagrams due by `elapsed`, at most one batch, or 0: wait. */
static unsigned int due_now(uint64_t rate, double elapsed, uint64_t done,
			    unsigned int batch)
{
	double target;

	if (rate == 0)
		return batch;
	target = (double)rate * elapsed;
	if (target < (double)(done + batch))
		return 0;
	return batch;
}

static void run(struct generator *g, int fd, uint64_t *sent,
		uint64_t *errors, double *elapsed)
{
	const struct options *o = g->opt;
	unsigned int batch = batch_size(o->rate);
	uint64_t done = 0;
	double t0 = now_s(), t;

	for (;;) {
		t = now_s() - t0;
		if (t >= o->seconds)
			break;
		if (!due_now(o->rate, t, done, batch)) {
			sleep_s((double)(done + batch) / (double)o->rate - t);
			continue;
		}
		send_batch(g, fd, batch, sent, errors);
		done += batch;
	}
	*elapsed = now_s() - t0;
}

static const char *sources_name(const struct options *o)
{
	if (o->kind == KIND_VICTIM)
		return "victim";
	if (o->n_sources == 1)
		return "1";
	if (o->n_sources == 200)
		return "200";
	return "random";
}

int main(int argc, char **argv)
{
	static struct generator g;
	struct options o;
	uint64_t sent = 0, errors = 0;
	double elapsed;
	int fd;

	if (parse_options(&o, argc, argv))
		return 2;
	g.opt = &o;
	if (getrandom(&g.rng, sizeof(g.rng), 0) != sizeof(g.rng) || !g.rng)
		g.rng = (uint64_t)time(NULL) | 1;
	if (o.kind == KIND_REPLAY ? replay_template(&g, o.replay_path) :
	    o.kind != KIND_JUNK ? unknown_template(&g) : 0)
		return 1;
	if (!in_named_netns()) {
		fprintf(stderr, "flood: refusing to run outside a named network "
			"namespace (ip netns): run it inside the lab\n");
		return 1;
	}
	fd = open_raw();
	if (fd < 0)
		return 1;
	prepare_msgs(&g);
	run(&g, fd, &sent, &errors, &elapsed);
	close(fd);
	printf("kind=%s sources=%s asked=%llu sent=%llu seconds=%.2f pps=%.0f "
	       "errors=%llu\n", kind_names[o.kind], sources_name(&o),
	       (unsigned long long)o.rate, (unsigned long long)sent, elapsed,
	       (double)sent / elapsed, (unsigned long long)errors);
	return 0;
}
