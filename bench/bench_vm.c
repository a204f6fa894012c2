/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: libcbpf's VM against libpcap's bpf_filter() on the same
 * programs and packets, in one run.
 *
 * Programs: tcpdump-style filters compiled by pcap_compile() for Ethernet,
 * one of more than 100 instructions, and libcbpf's raw-socket filters
 * (cbpf_filter_udp4/udp6). libpcap's interpreter knows neither Linux
 * ancillary loads nor SKF_NET_OFF/SKF_LL_OFF, so programs using them are
 * left out. Both engines must give the same verdicts, which is checked.
 *
 * For each program, every engine runs the program's packet set many
 * times, in TRIALS rounds of a few milliseconds; the best round is
 * reported, in ns per packet.
 * Columns: libpcap bpf_filter(), cbpf_vm_run() (pre-decoded), cbpf_run()
 * (decodes as it goes), and the speedup libpcap / cbpf_vm_run.
 *
 * Usage: bench_vm [milliseconds per round and engine, default 4 [program
 *        name substring]]
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pcap/pcap.h>
#include "cbpf.h"

#define MAX_PKTS 16
#define TRIALS 25

struct pkt {
	uint8_t data[128];
	size_t len;
};

struct pktset {
	const char *name;
	struct pkt pkts[MAX_PKTS];
	int n;
};

/* The Ethernet/IP packets tcpdump-style filters see. */
static struct pktset eth_set = { .name = "ethernet" };
/* What an AF_INET SOCK_RAW IPPROTO_UDP socket's filter sees: IPv4 header. */
static struct pktset ip4_set = { .name = "raw ipv4" };
/* What an AF_INET6 SOCK_RAW IPPROTO_UDP socket's filter sees: UDP header. */
static struct pktset udp_set = { .name = "raw ipv6" };

static volatile uint32_t sink;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* An IPv4 header (ihl_words >= 5) at p; returns its length. */
static size_t ipv4(uint8_t *p, unsigned int ihl_words, uint8_t proto,
		   uint16_t frag, const char *src, const char *dst,
		   size_t payload)
{
	size_t hl = 4 * ihl_words;

	memset(p, 0, hl);
	p[0] = 0x40 | ihl_words;
	put16(p + 2, (uint16_t)(hl + payload));
	put16(p + 6, frag);
	p[8] = 64;
	p[9] = proto;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	return hl;
}

static size_t ipv6(uint8_t *p, uint8_t next, const char *src,
		   const char *dst, size_t payload)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	put16(p + 4, (uint16_t)payload);
	p[6] = next;
	p[7] = 64;
	inet_pton(AF_INET6, src, p + 8);
	inet_pton(AF_INET6, dst, p + 24);
	return 40;
}

/* A UDP or TCP header with ports; TCP gets a 20-byte header, SYN set. */
static size_t l4(uint8_t *p, uint8_t proto, uint16_t sport, uint16_t dport,
		 size_t payload)
{
	size_t hl = proto == IPPROTO_TCP ? 20 : 8;

	memset(p, 0, hl + payload);
	put16(p, sport);
	put16(p + 2, dport);
	if (proto == IPPROTO_UDP)
		put16(p + 4, (uint16_t)(8 + payload));
	else {
		p[12] = 5 << 4;
		p[13] = 0x02;
	}
	return hl + payload;
}

static void add_eth4(uint8_t proto, uint16_t sport, uint16_t dport,
		     uint16_t frag, const char *src)
{
	struct pkt *k = &eth_set.pkts[eth_set.n++];
	size_t payload = 24, l4len = (proto == IPPROTO_TCP ? 20 : 8) + payload;

	memset(k->data, 0, sizeof(k->data));
	put16(k->data + 12, 0x0800);
	k->len = 14;
	k->len += ipv4(k->data + 14, 5, proto, frag, src, "198.18.0.2", l4len);
	k->len += l4(k->data + k->len, proto, sport, dport, payload);
}

static void add_eth6(uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct pkt *k = &eth_set.pkts[eth_set.n++];
	size_t payload = 16, l4len = (proto == IPPROTO_TCP ? 20 : 8) + payload;

	memset(k->data, 0, sizeof(k->data));
	put16(k->data + 12, 0x86dd);
	k->len = 14;
	k->len += ipv6(k->data + 14, proto, "2001:db8::1", "2001:db8::2", l4len);
	k->len += l4(k->data + k->len, proto, sport, dport, payload);
}

static void add_ip4(unsigned int ihl, uint8_t proto, uint16_t sport,
		    uint16_t dport, uint16_t frag, const char *src,
		    size_t payload)
{
	struct pkt *k = &ip4_set.pkts[ip4_set.n++];
	size_t l4len = (proto == IPPROTO_TCP ? 20 : 8) + payload;

	k->len = ipv4(k->data, ihl, proto, frag, src, "198.18.0.2", l4len);
	k->len += l4(k->data + k->len, proto, sport, dport, payload);
}

static void add_udp(uint16_t sport, uint16_t dport, size_t payload)
{
	struct pkt *k = &udp_set.pkts[udp_set.n++];

	k->len = l4(k->data, IPPROTO_UDP, sport, dport, payload);
}

static void make_packets(void)
{
	struct pkt *arp;

	add_eth4(IPPROTO_UDP, 33000, 53, 0, "198.18.0.1");
	add_eth4(IPPROTO_UDP, 53, 33000, 0, "198.18.0.9");
	add_eth4(IPPROTO_TCP, 40000, 80, 0x4000, "198.18.0.1");
	add_eth4(IPPROTO_TCP, 443, 40001, 0x4000, "198.18.0.7");
	add_eth4(IPPROTO_UDP, 51820, 51820, 0, "198.18.0.1");
	add_eth4(IPPROTO_UDP, 1000, 2000, 0x2000, "198.18.0.3");
	add_eth4(IPPROTO_ICMP, 0x0800, 0, 0, "198.18.0.4");
	add_eth6(IPPROTO_UDP, 33000, 53);
	add_eth6(IPPROTO_TCP, 40000, 22);
	arp = &eth_set.pkts[eth_set.n++];
	memset(arp->data, 0, sizeof(arp->data));
	put16(arp->data + 12, 0x0806);
	arp->len = 42;

	add_ip4(5, IPPROTO_UDP, 51820, 51821, 0, "198.18.0.1", 32);
	add_ip4(6, IPPROTO_UDP, 51820, 51821, 0x4000, "198.18.0.1", 32);
	add_ip4(5, IPPROTO_UDP, 51820, 51821, 0, "198.18.0.5", 32);
	add_ip4(5, IPPROTO_UDP, 51820, 9999, 0, "198.18.0.1", 32);
	add_ip4(5, IPPROTO_UDP, 51820, 51821, 0x2000, "198.18.0.1", 32);
	add_ip4(5, IPPROTO_UDP, 51820, 51821, 0, "198.18.0.1", 2);
	add_ip4(5, IPPROTO_TCP, 51820, 51821, 0, "198.18.0.1", 8);
	add_ip4(5, IPPROTO_UDP, 123, 51821, 0, "198.18.0.1", 48);

	add_udp(51820, 51821, 32);
	add_udp(51820, 51821, 2);
	add_udp(51820, 9999, 32);
	add_udp(5353, 51821, 32);
	add_udp(51820, 51821, 148);
	add_udp(51820, 51821, 0);
}

struct bench {
	char name[64];
	const struct pktset *set;
	struct cbpf_prog prog;
	struct bpf_program pcap;	/* the same instructions */
};

/* Runs every packet of the set reps times through one engine. */
#define TIME_LOOP(call)							\
	do {								\
		double t0 = now_ns();					\
		uint32_t acc = 0;					\
		for (long r = 0; r < reps; r++)				\
			for (int i = 0; i < set->n; i++) {		\
				const struct pkt *k = &set->pkts[i];	\
				acc += (call);				\
			}						\
		sink = acc;						\
		ns = (now_ns() - t0) / ((double)reps * set->n);		\
	} while (0)

enum engine { PCAP, VM, RUN };

static double measure_once(const struct bench *b, const struct cbpf_vm *vm,
			   enum engine e, long reps)
{
	const struct pktset *set = b->set;
	double ns = 0;

	switch (e) {
	case PCAP:
		TIME_LOOP(bpf_filter(b->pcap.bf_insns, k->data,
				     (u_int)k->len, (u_int)k->len));
		break;
	case VM:
		TIME_LOOP(cbpf_vm_run(vm, k->data, k->len, NULL));
		break;
	case RUN:
		TIME_LOOP(cbpf_run(&b->prog, k->data, k->len, NULL));
		break;
	}
	return ns;
}

/* Calibrates a trial to about ms milliseconds. */
static long calibrate(const struct bench *b, const struct cbpf_vm *vm,
		      enum engine e, double ms)
{
	double per = measure_once(b, vm, e, 1000);

	return (long)(ms * 1e6 / (per * b->set->n)) + 1;
}

/*
 * Best of TRIALS rounds; each round runs every engine once, one after the
 * other, so that a busy machine slows all of them alike, and the minimum
 * is the run least disturbed.
 */
static void measure(const struct bench *b, const struct cbpf_vm *vm,
		    double ms, double best[3])
{
	long reps[3];
	int t, e;

	for (e = 0; e < 3; e++) {
		reps[e] = calibrate(b, vm, e, ms);
		best[e] = 1e18;
	}
	for (t = 0; t < TRIALS; t++) {
		for (e = 0; e < 3; e++) {
			double ns = measure_once(b, vm, e, reps[e]);

			if (ns < best[e])
				best[e] = ns;
		}
	}
}

/* libpcap's bpf_filter() treats these as failed loads: not comparable. */
static int pcap_can_run(const struct cbpf_prog *prog)
{
	size_t i;

	for (i = 0; i < prog->len; i++) {
		const struct sock_filter *f = &prog->insns[i];

		if ((f->code == (BPF_LD | BPF_W | BPF_ABS) ||
		     f->code == (BPF_LD | BPF_H | BPF_ABS) ||
		     f->code == (BPF_LD | BPF_B | BPF_ABS) ||
		     f->code == (BPF_LDX | BPF_B | BPF_MSH)) &&
		    (int32_t)f->k < 0)
			return 0;
	}
	return 1;
}

static int add_bench(struct bench *b, const char *name,
		     const struct pktset *set, struct cbpf_prog *prog)
{
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->set = set;
	b->prog = *prog;
	if (!pcap_can_run(prog)) {
		printf("skipped %s: uses offsets libpcap cannot load\n", name);
		cbpf_prog_free(prog);
		return 0;
	}
	/* struct bpf_insn and struct sock_filter have the same layout. */
	b->pcap.bf_len = (u_int)prog->len;
	b->pcap.bf_insns = (struct bpf_insn *)prog->insns;
	return 1;
}

static int compile(struct bench *b, pcap_t *dead, const char *expr,
		   const char *name)
{
	struct bpf_program bp;
	struct cbpf_prog prog;
	int ret;

	if (pcap_compile(dead, &bp, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		fprintf(stderr, "pcap_compile(%s): %s\n", expr,
			pcap_geterr(dead));
		exit(1);
	}
	ret = cbpf_prog_from_array(&prog, (const struct sock_filter *)bp.bf_insns,
				   bp.bf_len);
	pcap_freecode(&bp);
	if (ret < 0) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return add_bench(b, name ? name : expr, &eth_set, &prog);
}

static char *long_expr(int ports)
{
	static char buf[1024];
	size_t off = 0;
	int i;

	for (i = 1; i <= ports; i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%sport %d",
				i > 1 ? " or " : "", 1000 * i);
	return buf;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct bench benches[16];
	double ratios[16], ms = argc > 1 ? atof(argv[1]) : 4;
	struct cbpf_udp_match m4 = { .sport = 51820, .dport = 51821,
				     .min_payload = 16, .match_saddr = true };
	struct cbpf_udp_match m6 = { .sport = 51820, .dport = 51821,
				     .min_payload = 16 };
	struct cbpf_prog prog;
	pcap_t *dead;
	int n = 0, m = 0, i, mismatches = 0;

	if (ms <= 0)
		ms = 4;
	make_packets();
	dead = pcap_open_dead(DLT_EN10MB, 65535);
	if (!dead) {
		fprintf(stderr, "pcap_open_dead failed\n");
		return 1;
	}
	n += compile(&benches[n], dead, "ip and udp port 53", NULL);
	n += compile(&benches[n], dead, "tcp dst port 80", NULL);
	n += compile(&benches[n], dead, "host 198.18.0.1 and udp", NULL);
	n += compile(&benches[n], dead, "ip6 and udp port 53", NULL);
	n += compile(&benches[n], dead,
		     "udp dst port 51820 and ip[6:2] & 0x1fff = 0", NULL);
	n += compile(&benches[n], dead, "tcp[tcpflags] & tcp-syn != 0", NULL);
	n += compile(&benches[n], dead, long_expr(28), "port 1000 or ... or port 28000");
	pcap_close(dead);

	inet_pton(AF_INET, "198.18.0.1", &m4.saddr.v4);
	if (cbpf_filter_udp4(&m4, &prog) == 0)
		n += add_bench(&benches[n], "cbpf_filter_udp4 (saddr, ports)",
			       &ip4_set, &prog);
	else
		printf("skipped cbpf_filter_udp4: not available\n");
	if (cbpf_filter_udp6(&m6, &prog) == 0)
		n += add_bench(&benches[n], "cbpf_filter_udp6 (ports)",
			       &udp_set, &prog);
	else
		printf("skipped cbpf_filter_udp6: not available\n");

	printf("%-34s %5s %9s %9s %9s %7s\n", "program (ns/packet)", "insns",
	       "libpcap", "cbpf_vm", "cbpf_run", "speedup");
	for (i = 0; i < n; i++) {
		struct bench *b = &benches[i];
		struct cbpf_vm *vm;

		if (argc > 2 && !strstr(b->name, argv[2])) {
			cbpf_prog_free(&b->prog);
			continue;
		}
		double best[3], pcap_ns, vm_ns, run_ns;
		struct cbpf_error err = { 0 };
		int j;

		vm = cbpf_vm_new(&b->prog, &err);
		if (!vm) {
			fprintf(stderr, "%s: cbpf_vm_new: %s\n", b->name,
				err.msg);
			return 1;
		}
		for (j = 0; j < b->set->n; j++) {
			const struct pkt *k = &b->set->pkts[j];
			uint32_t p = bpf_filter(b->pcap.bf_insns, k->data,
						(u_int)k->len, (u_int)k->len);
			uint32_t v = cbpf_vm_run(vm, k->data, k->len, NULL);

			if (p != v || cbpf_run(&b->prog, k->data, k->len, NULL) != v) {
				printf("%s: packet %d: libpcap %u, cbpf %u\n",
				       b->name, j, p, v);
				mismatches++;
			}
		}
		measure(b, vm, ms, best);
		pcap_ns = best[PCAP];
		vm_ns = best[VM];
		run_ns = best[RUN];
		ratios[m] = pcap_ns / vm_ns;
		printf("%-34.34s %5zu %9.1f %9.1f %9.1f %6.2fx\n", b->name,
		       b->prog.len, pcap_ns, vm_ns, run_ns, ratios[m]);
		m++;
		cbpf_vm_free(vm);
		cbpf_prog_free(&b->prog);
	}
	qsort(ratios, m, sizeof(ratios[0]), cmp_double);
	if (m)
		printf("median speedup of cbpf_vm_run over libpcap bpf_filter(): "
		       "%.2fx over %d programs\n",
		       m % 2 ? ratios[m / 2] : (ratios[m / 2 - 1] + ratios[m / 2]) / 2,
		       m);
	if (mismatches)
		printf("%d verdicts differed between libpcap and cbpf\n",
		       mismatches);
	return mismatches ? 1 : 0;
}
