/* SPDX-License-Identifier: MIT */
/*
 * Benchmark: libcbpf's VM against libpcap's bpf_filter() on the same
 * programs and packets, in one run.
 *
 * Programs: tcpdump filters compiled by pcap_compile() for Ethernet (short
 * ones, VLAN, IPv6, long lists of ports and of 50 hosts, a long mixed
 * one), and libcbpf's raw-socket filters (cbpf_filter_udp4/udp6). The
 * Ethernet packets are varied on purpose (see make_eth_packets()),
 * truncated ones included. libpcap's interpreter knows neither Linux
 * ancillary loads nor SKF_NET_OFF/SKF_LL_OFF, so programs using them are
 * left out. Both engines must give the same verdicts, which is checked.
 *
 * For each program, every engine runs the program's packet set many
 * times, in TRIALS rounds of a few milliseconds; the best round is
 * reported, in ns per packet.
 * Columns: libpcap bpf_filter(), cbpf_vm_run() (native code where the
 * JIT takes the program, marked *), the same VM held to its interpreter
 * (so the JIT's gain shows), cbpf_run() (decodes as it goes), and the
 * speedups libpcap / cbpf_vm_run, libpcap / interpreter and libpcap /
 * cbpf_run; then the median and the minimum of each.
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
#include "internal.h"	/* vm_new(VM_NO_JIT), vm_is_jit() */

#define MAX_PKTS 32
#define MAX_BENCHES 40
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

static void add_eth6(uint8_t proto, uint16_t sport, uint16_t dport,
		     const char *src)
{
	struct pkt *k = &eth_set.pkts[eth_set.n++];
	size_t payload = 16, l4len = (proto == IPPROTO_TCP ? 20 : 8) + payload;

	memset(k->data, 0, sizeof(k->data));
	put16(k->data + 12, 0x86dd);
	k->len = 14;
	k->len += ipv6(k->data + 14, proto, src, "2001:db8::2", l4len);
	k->len += l4(k->data + k->len, proto, sport, dport, payload);
}

/* The last packet added, cut to len bytes: the loads past len fail. */
static void truncate_last(struct pktset *set, size_t len)
{
	struct pkt *k = &set->pkts[set->n - 1];

	if (len < k->len)
		k->len = len;
}

/* The last packet added, with an 802.1Q tag (VLAN vid) after the MACs. */
static void tag_last(struct pktset *set, uint16_t vid)
{
	struct pkt *k = &set->pkts[set->n - 1];

	memmove(k->data + 16, k->data + 12, k->len - 12);
	put16(k->data + 12, 0x8100);
	put16(k->data + 14, vid);
	k->len += 4;
}

static void add_arp(void)
{
	struct pkt *arp = &eth_set.pkts[eth_set.n++];

	memset(arp->data, 0, sizeof(arp->data));
	put16(arp->data + 12, 0x0806);
	put16(arp->data + 14, 1);		/* Ethernet */
	put16(arp->data + 16, 0x0800);		/* IPv4 */
	arp->data[18] = 6;
	arp->data[19] = 4;
	put16(arp->data + 20, 1);		/* request */
	inet_pton(AF_INET, "198.18.0.1", arp->data + 28);
	inet_pton(AF_INET, "198.18.0.2", arp->data + 38);
	arp->len = 42;
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

/*
 * The Ethernet corpus every tcpdump filter runs over: IPv4 TCP, UDP and
 * ICMP (fragments among them), ARP, IPv6 TCP and UDP, 802.1Q-tagged IPv4
 * and IPv6, and packets cut short inside the IP header and inside the
 * transport header, so that the failing-load paths run too.
 */
static void make_eth_packets(void)
{
	add_eth4(IPPROTO_UDP, 33000, 53, 0, "198.18.0.1");
	add_eth4(IPPROTO_UDP, 53, 33000, 0, "198.18.0.9");
	add_eth4(IPPROTO_TCP, 40000, 80, 0x4000, "198.18.0.1");
	add_eth4(IPPROTO_TCP, 443, 40001, 0x4000, "198.18.0.7");
	add_eth4(IPPROTO_TCP, 40002, 22, 0x4000, "198.18.0.33");
	add_eth4(IPPROTO_TCP, 40003, 1500, 0x4000, "198.18.1.200");
	add_eth4(IPPROTO_UDP, 51820, 51820, 0, "198.18.0.1");
	add_eth4(IPPROTO_UDP, 1000, 2000, 0x2000, "198.18.0.3");
	add_eth4(IPPROTO_UDP, 33434, 33500, 0, "198.19.4.4");
	eth_set.pkts[eth_set.n - 1].data[22] = 3;	/* ttl 3 */
	add_eth4(IPPROTO_ICMP, 0x0800, 0, 0, "198.18.0.4");
	add_arp();
	add_eth6(IPPROTO_UDP, 33000, 53, "2001:db8::1");
	add_eth6(IPPROTO_TCP, 40000, 22, "2001:db8::5");
	add_eth6(IPPROTO_TCP, 40001, 443, "2001:db8::1");
	add_eth4(IPPROTO_UDP, 33001, 53, 0, "198.18.0.2");
	tag_last(&eth_set, 100);
	add_eth4(IPPROTO_TCP, 40004, 443, 0x4000, "198.18.0.1");
	tag_last(&eth_set, 100);
	add_eth4(IPPROTO_TCP, 40005, 443, 0x4000, "198.18.0.1");
	tag_last(&eth_set, 200);
	add_eth6(IPPROTO_UDP, 33002, 123, "2001:db8::1");
	tag_last(&eth_set, 100);
	/* Cut inside the IPv4 header, inside TCP and UDP headers, inside
	 * the IPv6 header, and inside a tagged packet's IPv4 header. */
	add_eth4(IPPROTO_TCP, 40006, 80, 0x4000, "198.18.0.1");
	truncate_last(&eth_set, 14 + 10);
	add_eth4(IPPROTO_TCP, 40007, 22, 0x4000, "198.18.0.1");
	truncate_last(&eth_set, 14 + 20 + 3);
	add_eth4(IPPROTO_UDP, 33003, 53, 0, "198.18.0.1");
	truncate_last(&eth_set, 14 + 20 + 1);
	add_eth6(IPPROTO_TCP, 40008, 443, "2001:db8::1");
	truncate_last(&eth_set, 14 + 30);
	add_eth4(IPPROTO_TCP, 40009, 443, 0x4000, "198.18.0.1");
	tag_last(&eth_set, 100);
	truncate_last(&eth_set, 18 + 12);
	eth_set.pkts[eth_set.n++] = (struct pkt){ .len = 8 };	/* runt */
}

static void make_packets(void)
{
	make_eth_packets();

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

enum engine { PCAP, VM, INTERP, RUN, ENGINES };

/* The VM as cbpf_vm_new() makes it, and held to its interpreter. */
struct vms {
	const struct cbpf_vm *vm, *interp;
};

static double measure_once(const struct bench *b, const struct vms *vms,
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
		TIME_LOOP(cbpf_vm_run(vms->vm, k->data, k->len, NULL));
		break;
	case INTERP:
		TIME_LOOP(cbpf_vm_run(vms->interp, k->data, k->len, NULL));
		break;
	case RUN:
		TIME_LOOP(cbpf_run(&b->prog, k->data, k->len, NULL));
		break;
	case ENGINES:
		break;
	}
	return ns;
}

/* Calibrates a trial to about ms milliseconds. */
static long calibrate(const struct bench *b, const struct vms *vms,
		      enum engine e, double ms)
{
	double per = measure_once(b, vms, e, 1000);

	return (long)(ms * 1e6 / (per * b->set->n)) + 1;
}

/*
 * Best of TRIALS rounds; each round runs every engine once, one after the
 * other, so that a busy machine slows all of them alike, and the minimum
 * is the run least disturbed.
 */
static void measure(const struct bench *b, const struct vms *vms,
		    double ms, double best[ENGINES])
{
	long reps[ENGINES];
	int t, e;

	for (e = 0; e < ENGINES; e++) {
		reps[e] = calibrate(b, vms, e, ms);
		best[e] = 1e18;
	}
	for (t = 0; t < TRIALS; t++) {
		for (e = 0; e < ENGINES; e++) {
			double ns = measure_once(b, vms, e, reps[e]);

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

/* "<prefix><first> or <prefix><first + step> or ...", n terms. */
static char *list_expr(const char *prefix, int first, int step, int n)
{
	static char buf[4096];
	size_t off = 0;
	int i;

	for (i = 0; i < n; i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s%d",
				i ? " or " : "", prefix, first + i * step);
	return buf;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* tcpdump filters, compiled by libpcap for Ethernet. */
static const char *const tcpdump_filters[] = {
	"ip and udp port 53",
	"tcp dst port 80",
	"host 198.18.0.1 and udp",
	"ip6 and udp port 53",
	"udp dst port 51820 and ip[6:2] & 0x1fff = 0",
	"tcp[tcpflags] & tcp-syn != 0",
	"vlan and udp",
	"vlan 100 and tcp port 443",
	"ip6 and tcp dst port 443",
	"ip6 host 2001:db8::1",
	"tcp[13] & 2 != 0 and not port 22",
	"icmp or arp",
	"udp and ip[8] < 5",
	"net 198.18.0.0/15 and not udp",
	"portrange 1000-2000",
	"arp or (ip and (tcp port 80 or tcp port 443 or udp port 53)) "
	"or (ip6 and (tcp port 22 or udp port 123)) or (vlan and icmp)",
	"not (host 198.18.0.9 or host 198.18.0.7) and "
	"(tcp portrange 1000-2000 or udp port 33434 or icmp) and len > 60",
};

int main(int argc, char **argv)
{
	struct bench benches[MAX_BENCHES];
	double vm_ratios[MAX_BENCHES], int_ratios[MAX_BENCHES];
	double run_ratios[MAX_BENCHES];
	double vm_min = 1e18, int_min = 1e18, run_min = 1e18;
	double ms = argc > 1 ? atof(argv[1]) : 4;
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
	for (i = 0; i < (int)(sizeof(tcpdump_filters) / sizeof(tcpdump_filters[0])); i++)
		n += compile(&benches[n], dead, tcpdump_filters[i], NULL);
	n += compile(&benches[n], dead, list_expr("port ", 1000, 1000, 28),
		     "port 1000 or ... or port 28000");
	n += compile(&benches[n], dead,
		     list_expr("host 198.18.0.", 1, 1, 50),
		     "host 198.18.0.1 or ... (50 hosts)");
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

	printf("%-34s %5s %8s %9s %8s %8s %7s %7s %7s\n",
	       "program (ns/packet)", "insns", "libpcap", "cbpf_vm", "interp",
	       "cbpf_run", "vm x", "int x", "run x");
	for (i = 0; i < n; i++) {
		struct bench *b = &benches[i];
		struct cbpf_vm *vm, *interp;
		struct vms vms;

		if (argc > 2 && !strstr(b->name, argv[2])) {
			cbpf_prog_free(&b->prog);
			continue;
		}
		double best[ENGINES], pcap_ns;
		struct cbpf_error err = { 0 };
		int j;

		vm = cbpf_vm_new(&b->prog, &err);
		interp = vm_new(&b->prog, &err, VM_NO_JIT);
		if (!vm || !interp) {
			fprintf(stderr, "%s: cbpf_vm_new: %s\n", b->name,
				err.msg);
			return 1;
		}
		for (j = 0; j < b->set->n; j++) {
			const struct pkt *k = &b->set->pkts[j];
			uint32_t p = bpf_filter(b->pcap.bf_insns, k->data,
						(u_int)k->len, (u_int)k->len);
			uint32_t v = cbpf_vm_run(vm, k->data, k->len, NULL);

			if (p != v ||
			    cbpf_vm_run(interp, k->data, k->len, NULL) != v ||
			    cbpf_run(&b->prog, k->data, k->len, NULL) != v) {
				printf("%s: packet %d: libpcap %u, cbpf %u\n",
				       b->name, j, p, v);
				mismatches++;
			}
		}
		vms = (struct vms){ .vm = vm, .interp = interp };
		measure(b, &vms, ms, best);
		pcap_ns = best[PCAP];
		vm_ratios[m] = pcap_ns / best[VM];
		int_ratios[m] = pcap_ns / best[INTERP];
		if (int_ratios[m] < int_min)
			int_min = int_ratios[m];
		run_ratios[m] = pcap_ns / best[RUN];
		if (vm_ratios[m] < vm_min)
			vm_min = vm_ratios[m];
		if (run_ratios[m] < run_min)
			run_min = run_ratios[m];
		printf("%-34.34s %5zu %8.1f %8.1f%c %8.1f %8.1f %6.2fx %6.2fx %6.2fx\n",
		       b->name, b->prog.len, pcap_ns, best[VM],
		       vm_is_jit(vm) ? '*' : ' ', best[INTERP], best[RUN],
		       vm_ratios[m], int_ratios[m], run_ratios[m]);
		m++;
		cbpf_vm_free(vm);
		cbpf_vm_free(interp);
		cbpf_prog_free(&b->prog);
	}
	if (m) {
		printf("speedup over libpcap bpf_filter(), %d programs:\n", m);
		printf("  cbpf_vm_run: median %.2fx, min %.2fx\n",
		       median(vm_ratios, m), vm_min);
		printf("  interpreter: median %.2fx, min %.2fx\n",
		       median(int_ratios, m), int_min);
		printf("  cbpf_run:    median %.2fx, min %.2fx\n",
		       median(run_ratios, m), run_min);
	}
	if (mismatches)
		printf("%d verdicts differed between libpcap and cbpf\n",
		       mismatches);
	return mismatches ? 1 : 0;
}
