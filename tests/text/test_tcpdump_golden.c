/* SPDX-License-Identifier: MIT */
/*
 * Golden tests against the real thing, generated at test time (no stored
 * expectations): for pcap filters on several link types, the program
 * tcpdump -dd prints is parsed and printed again; cbpf_format() must give
 * back tcpdump's -d, -dd and -ddd outputs byte for byte, and bpf_asm text
 * that assembles to the same program. Then, through libpcap's own
 * bpf_image(), every one of the 65536 codes.
 *
 * The tcpdump -d form changed after libpcap 1.10 (no trailing blanks), so
 * the byte-for-byte comparisons are pinned to libpcap 1.10.x and skip on
 * other versions, as they skip without tcpdump or libpcap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cbpf.h>
#include "gen.h"
#include "canonical.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* malloc that cannot return NULL (the compiler sees the abort). */
static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		abort();
	return p;
}

extern char **environ;

struct output {
	char *buf;
	size_t len;
};

/* Runs argv with stdout captured and stderr discarded; its exit status,
 * or -1 if it could not run or died. */
static int run(char *const argv[], struct output *out)
{
	posix_spawn_file_actions_t fa;
	size_t cap = 4096;
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	out->buf = xmalloc(cap);
	out->len = 0;
	assert_non_null(out->buf);
	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	for (;;) {
		if (out->len + 1 >= cap) {
			cap *= 2;
			out->buf = realloc(out->buf, cap);
			assert_non_null(out->buf);
		}
		n = read(fds[0], out->buf + out->len, cap - out->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		out->len += (size_t)n;
	}
	out->buf[out->len] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static const char *tcpdump;	/* path, or NULL */
static char dir[] = "/tmp/cbpf-golden-XXXXXX";

/* tcpdump whose libpcap is 1.10.x, the version the -d form is pinned to. */
static const char *find_tcpdump(void)
{
	static const char *const paths[] = {
		"/usr/sbin/tcpdump", "/usr/bin/tcpdump", "/sbin/tcpdump",
		"/usr/local/sbin/tcpdump", "/usr/local/bin/tcpdump",
	};
	struct output out;
	bool ok;

	for (size_t i = 0; i < LEN(paths); i++) {
		char *argv[] = { (char *)paths[i], "--version", NULL };

		if (access(paths[i], X_OK))
			continue;
		ok = run(argv, &out) == 0 &&
		     strstr(out.buf, "libpcap version 1.10.");
		free(out.buf);
		if (ok)
			return paths[i];
		/* tcpdump 4.99 prints its version to stdout; older ones
		 * to stderr: either way, not the pinned libpcap. */
	}
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	tcpdump = find_tcpdump();
	if (tcpdump && !mkdtemp(dir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char path[64];

	(void)state;
	if (!tcpdump)
		return 0;
	for (int lt = 0; lt < 300; lt++) {
		snprintf(path, sizeof(path), "%s/%d.pcap", dir, lt);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

/* An empty classic pcap file of link type lt: tcpdump -r compiles for it. */
static const char *pcap_file(int lt)
{
	static char path[64];
	uint32_t hdr[6] = { 0xa1b2c3d4, 2 | (4 << 16), 0, 0, 65535,
			    (uint32_t)lt };
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d.pcap", dir, lt);
	if (access(path, R_OK)) {
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(hdr, sizeof(hdr), 1, f), 1);
		assert_int_equal(fclose(f), 0);
	}
	return path;
}

enum { LT_NULL = 0, LT_EN10MB = 1, LT_PPP = 9, LT_RAW = 101,
       LT_IEEE802_11 = 105, LT_LINUX_SLL = 113, LT_IPV4 = 228,
       LT_IPV6 = 229, LT_LINUX_SLL2 = 276, LT_LIVE_LO = -1 };

struct golden {
	int lt;			/* LINKTYPE_*, or LT_LIVE_LO for -i lo */
	const char *expr;
	bool unoptimized;	/* -O */
};

static const struct golden cases[] = {
	{ LT_EN10MB, "ip", false },
	{ LT_EN10MB, "udp port 53", false },
	{ LT_EN10MB, "tcp[tcpflags] & tcp-syn != 0", false },
	{ LT_EN10MB, "vlan and ip", false },
	{ LT_EN10MB, "ip6 and udp", false },
	{ LT_EN10MB, "ether host 01:02:03:04:05:06", false },
	{ LT_EN10MB, "ip[0:4] & 0xffffffff != 0", false },
	{ LT_EN10MB, "portrange 1000-2000", false },
	{ LT_EN10MB, "icmp or arp", false },
	{ LT_EN10MB, "net 198.18.0.0/15", false },
	{ LT_EN10MB, "host 198.18.0.1 and not port 22", false },
	{ LT_EN10MB, "ip6 host 2001:db8::1", false },
	{ LT_EN10MB, "ip6 protochain 6", false },
	{ LT_EN10MB, "ether broadcast or ip multicast", false },
	{ LT_EN10MB, "less 64 or greater 1000", false },
	{ LT_EN10MB, "len - 1 > 0 and len <= 1500", false },
	{ LT_EN10MB, "ip[2:2] - 20 > 100", false },
	{ LT_EN10MB, "ip[2:2] * 2 > 3 and ip[2:2] / 2 > 3", false },
	{ LT_EN10MB, "ip[2:2] % 3 = 1 and ip[0] ^ 1 != 0", false },
	{ LT_EN10MB, "ip[0] << 2 > 1 and ip[0] >> 2 > 1", false },
	{ LT_EN10MB, "ip[0] | 0x10 != 0", false },
	{ LT_EN10MB, "ip[0] & ip[1] != 0", true },
	{ LT_EN10MB, "ip[0] = ip[1] or ether[0] > ether[1]", false },
	{ LT_EN10MB, "ether[0] >= ether[1]", true },
	{ LT_EN10MB, "ip[0] + ip[1] > ip[2] - ip[3]", false },
	{ LT_EN10MB, "ip[2] * ip[3] / ip[4] % ip[5] > 0", true },
	{ LT_EN10MB, "ip[0] ^ ip[1] | ip[2] << ip[3] >> ip[4] != 0", false },
	{ LT_EN10MB, "-ip[0] != 0", true },
	{ LT_EN10MB, "udp and ip[6:2] & 0x1fff = 0", false },
	{ LT_EN10MB, "icmp[icmptype] == icmp-echo", false },
	{ LT_EN10MB, "pppoes and ip", false },
	{ LT_EN10MB, "geneve", false },
	{ LT_EN10MB, "mpls and tcp[(tcp[12] >> 4) * 4] = 0x47", false },
	{ LT_EN10MB, "udp port 53", true },
	{ LT_RAW, "udp src port 51820", false },
	{ LT_RAW, "ip6 and udp", false },
	{ LT_IPV4, "udp src port 51820", false },
	{ LT_IPV4, "tcp[tcpflags] & tcp-syn != 0", false },
	{ LT_IPV6, "ip6 and udp dst port 51820", false },
	{ LT_IPV6, "ip6[40] = 58", false },
	{ LT_LINUX_SLL, "ip and udp port 53", false },
	{ LT_LINUX_SLL, "inbound and icmp", false },
	{ LT_LINUX_SLL2, "ifindex 1 and ip", false },
	{ LT_NULL, "ip and tcp", false },
	{ LT_PPP, "ip and udp", false },
	{ LT_IEEE802_11, "wlan addr1 01:02:03:04:05:06", false },
	/* A live capture on Linux: ancillary loads ([vlanp], [vlan_tci]). */
	{ LT_LIVE_LO, "vlan and ip", false },
	{ LT_LIVE_LO, "vlan 10 or inbound", false },
};

static int tcpdump_output(const struct golden *c, const char *flag,
			  struct output *out)
{
	char *argv[8];
	int n = 0;

	argv[n++] = (char *)tcpdump;
	if (c->unoptimized)
		argv[n++] = "-O";
	if (c->lt == LT_LIVE_LO) {
		argv[n++] = "-i";
		argv[n++] = "lo";
	} else {
		argv[n++] = "-r";
		argv[n++] = (char *)pcap_file(c->lt);
	}
	argv[n++] = (char *)flag;
	argv[n++] = (char *)c->expr;
	argv[n] = NULL;
	return run(argv, out);
}

static void assert_text(const char *what, const struct golden *c,
			const char *got, const char *want)
{
	if (strcmp(got, want)) {
		fprintf(stderr, "%s of '%s' (link type %d) differs.\n"
			"--- tcpdump:\n%s--- cbpf:\n%s---\n", what, c->expr,
			c->lt, want, got);
		fail();
	}
}

static void assert_same_prog(const struct cbpf_prog *a,
			     const struct cbpf_prog *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->insns, b->insns, a->len * sizeof(*a->insns));
}

/* tcpdump -d without libpcap 1.10's trailing blanks. */
static char *trim_lines(const char *s)
{
	char *t = xmalloc(strlen(s) + 1), *p = t;

	assert_non_null(t);
	for (; *s; s++) {
		if (*s == '\n')
			while (p > t && p[-1] == ' ')
				p--;
		*p++ = *s;
	}
	*p = '\0';
	return t;
}

/* Every jump lands on an instruction after it. */
static bool jumps_inside(const struct cbpf_prog *p)
{
	const struct sock_filter *f;

	for (size_t i = 0; i < p->len; i++) {
		f = &p->insns[i];
		if (BPF_CLASS(f->code) != BPF_JMP)
			continue;
		if (BPF_OP(f->code) == BPF_JA ? f->k >= p->len - i - 1 :
		    f->jt >= p->len - i - 1 || f->jf >= p->len - i - 1)
			return false;
	}
	return true;
}

static void check_case(const struct golden *c)
{
	struct output d, dd, ddd;
	struct cbpf_error err;
	struct cbpf_prog prog, again;
	char *s, *trimmed;

	if (tcpdump_output(c, "-dd", &dd)) {
		/* Only a live capture may be impossible here (no lo, no
		 * permission); a file-based one must work. */
		assert_int_equal(c->lt, LT_LIVE_LO);
		free(dd.buf);
		return;
	}
	assert_int_equal(tcpdump_output(c, "-d", &d), 0);
	assert_int_equal(tcpdump_output(c, "-ddd", &ddd), 0);

	if (cbpf_parse(dd.buf, dd.len, CBPF_FORM_UNKNOWN, &prog, &err)) {
		fprintf(stderr, "%d:%d: %s\n", err.line, err.column, err.msg);
		fail();
	}
	assert_true(prog.len > 0);

	s = cbpf_format(&prog, CBPF_FORM_TCPDUMP, 0);
	assert_text("-d", c, s, d.buf);
	free(s);
	trimmed = trim_lines(d.buf);
	s = cbpf_format(&prog, CBPF_FORM_TCPDUMP,
			CBPF_FORMAT_NO_TRAILING_BLANKS);
	assert_text("-d (trimmed)", c, s, trimmed);
	free(s);
	free(trimmed);
	s = cbpf_format(&prog, CBPF_FORM_DD, 0);
	assert_text("-dd", c, s, dd.buf);
	free(s);
	s = cbpf_format(&prog, CBPF_FORM_DDD, 0);
	assert_text("-ddd", c, s, ddd.buf);
	free(s);

	assert_int_equal(cbpf_parse(ddd.buf, ddd.len, CBPF_FORM_DDD, &again,
				    NULL), 0);
	assert_same_prog(&prog, &again);
	cbpf_prog_free(&again);

	s = cbpf_format(&prog, CBPF_FORM_ASM, 0);
	assert_non_null(s);
	if (!jumps_inside(&prog)) {
		/* protochain loops back with a wrapping ja: no assembler
		 * text can say that, and ours must refuse it. */
		assert_int_equal(cbpf_parse(s, strlen(s), CBPF_FORM_ASM,
					    &again, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "goes backwards"));
	} else if (cbpf_parse(s, strlen(s), CBPF_FORM_ASM, &again, &err)) {
		fprintf(stderr, "%d:%d: %s in\n%s", err.line, err.column,
			err.msg, s);
		fail();
	} else {
		/* libpcap leaves junk in fields the kernel ignores (k of a
		 * tax); bpf_asm text has no room for it. */
		canonicalize(prog.insns, prog.len);
		assert_same_prog(&prog, &again);
		cbpf_prog_free(&again);
	}
	free(s);

	cbpf_prog_free(&prog);
	free(d.buf);
	free(dd.buf);
	free(ddd.buf);
}

static void test_tcpdump(void **state)
{
	(void)state;
	if (!tcpdump) {
		fprintf(stderr, "no tcpdump with libpcap 1.10.x: skipped\n");
		skip();
		return;
	}
	for (size_t i = 0; i < LEN(cases); i++)
		check_case(&cases[i]);
}

/* ---- libpcap's bpf_image() ----------------------------------------- */

typedef char *(*bpf_image_fn)(const struct sock_filter *, int);

static void *open_libpcap(bpf_image_fn *image)
{
	static const char *const names[] = {
		"libpcap.so.0.8", "libpcap.so.1", "libpcap.so",
	};
	const char *(*version)(void);
	void *h = NULL;

	for (size_t i = 0; i < LEN(names) && !h; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return NULL;
	*(void **)&version = dlsym(h, "pcap_lib_version");
	*(void **)image = dlsym(h, "bpf_image");
	if (!version || !*image || !strstr(version(), "libpcap version 1.10.")) {
		dlclose(h);
		return NULL;
	}
	return h;
}

static void compare_images(bpf_image_fn image, const struct sock_filter *f,
			   size_t n)
{
	struct cbpf_prog prog = { .len = n, .insns = (struct sock_filter *)f };
	char *got = cbpf_format(&prog, CBPF_FORM_TCPDUMP, 0), *line, *end;

	assert_non_null(got);
	line = got;
	for (size_t i = 0; i < n; i++) {
		const char *want = image(&f[i], (int)i);

		end = strchr(line, '\n');
		assert_non_null(end);
		*end = '\0';
		if (strcmp(line, want)) {
			fprintf(stderr, "insn %zu {0x%x, %u, %u, 0x%x}:\n"
				"libpcap: '%s'\ncbpf:    '%s'\n", i, f[i].code,
				f[i].jt, f[i].jf, f[i].k, want, line);
			fail();
		}
		line = end + 1;
	}
	assert_int_equal(*line, '\0');
	free(got);
}

static uint32_t interesting_k(struct gen *g)
{
	static const uint32_t ks[] = {
		0, 1, 12, 255, 0x7fffffff, 0x80000000, 0xffffffff,
		(uint32_t)SKF_NET_OFF, (uint32_t)SKF_LL_OFF,
		(uint32_t)SKF_AD_OFF - 1,
	};

	switch (gen_below(g, 4)) {
	case 0:
		return ks[gen_below(g, LEN(ks))];
	case 1:
		return (uint32_t)SKF_AD_OFF + gen_below(g, 70);
	default:
		return gen_u32(g);
	}
}

static void test_bpf_image(void **state)
{
	struct sock_filter *f;
	bpf_image_fn image;
	size_t n = 0x10000;
	struct gen g;
	void *h;

	(void)state;
	h = open_libpcap(&image);
	if (!h) {
		fprintf(stderr, "no libpcap 1.10.x to dlopen: skipped\n");
		skip();
		return;
	}
	f = calloc(n, sizeof(*f));
	assert_non_null(f);
	gen_init(&g, 1);
	for (int round = 0; round < 4; round++) {
		/* Every 16-bit code once, at indices up to 65535. */
		for (size_t i = 0; i < n; i++)
			f[i] = (struct sock_filter){
				(uint16_t)i, (uint8_t)gen_u32(&g),
				(uint8_t)gen_u32(&g), interesting_k(&g),
			};
		compare_images(image, f, n);
		/* The low codes, where the known ones are, in a random
		 * order and with more k values. */
		for (size_t i = 0; i < n; i++)
			f[i].code = (uint16_t)gen_below(&g, 0x100);
		compare_images(image, f, n);
	}
	free(f);
	dlclose(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcpdump),
		cmocka_unit_test(test_bpf_image),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
