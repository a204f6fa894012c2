/* SPDX-License-Identifier: MIT */
/*
 * The text layer: every printer on hand-made programs (exact strings),
 * every parser on every form and every error (line and column asserted),
 * and round trips program -> text -> program on random programs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
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
#define ANC(n) ((uint32_t)SKF_AD_OFF + (n))

/* ---- helpers ------------------------------------------------------- */

static char *format_array(const struct sock_filter *f, size_t n,
			  enum cbpf_form fmt, unsigned int flags)
{
	struct cbpf_prog prog = { .len = n, .insns = (struct sock_filter *)f };
	char *s = cbpf_format(&prog, fmt, flags);

	assert_non_null(s);
	return s;
}

static void check_format(const struct sock_filter *f, size_t n,
			 enum cbpf_form fmt, unsigned int flags,
			 const char *expected)
{
	char *s = format_array(f, n, fmt, flags);

	assert_string_equal(s, expected);
	free(s);
}

static void check_same(const struct cbpf_prog *p, const struct sock_filter *f,
		       size_t n)
{
	assert_int_equal(p->len, n);
	for (size_t i = 0; i < n; i++) {
		if (memcmp(&p->insns[i], &f[i], sizeof(f[i]))) {
			fprintf(stderr, "insn %zu: got %u %u %u %u, want "
				"%u %u %u %u\n", i, p->insns[i].code,
				p->insns[i].jt, p->insns[i].jf, p->insns[i].k,
				f[i].code, f[i].jt, f[i].jf, f[i].k);
			fail();
		}
	}
}

typedef int (*parse_fn)(const char *, size_t, struct cbpf_prog *,
			struct cbpf_error *);

/* cbpf_parse() in one form each, as parse_fn. */
static int parse_ddd(const char *text, size_t len, struct cbpf_prog *prog,
		     struct cbpf_error *err)
{
	return cbpf_parse(text, len, CBPF_FORM_DDD, prog, err);
}

static int parse_dd(const char *text, size_t len, struct cbpf_prog *prog,
		    struct cbpf_error *err)
{
	return cbpf_parse(text, len, CBPF_FORM_DD, prog, err);
}

static int parse_comma(const char *text, size_t len, struct cbpf_prog *prog,
		       struct cbpf_error *err)
{
	return cbpf_parse(text, len, CBPF_FORM_COMMA, prog, err);
}

static int parse_asm(const char *text, size_t len, struct cbpf_prog *prog,
		     struct cbpf_error *err)
{
	return cbpf_parse(text, len, CBPF_FORM_ASM, prog, err);
}

static int parse_any(const char *text, size_t len, struct cbpf_prog *prog,
		     struct cbpf_error *err)
{
	return cbpf_parse(text, len, CBPF_FORM_UNKNOWN, prog, err);
}

/* The numeric form the text looks like (tcpdump -ddd when it looks like
 * none), forced: what the numeric readers say about it. */
static int parse_numeric(const char *text, size_t len, struct cbpf_prog *prog,
			 struct cbpf_error *err)
{
	enum cbpf_form form = cbpf_detect_form(text, len);

	if (form != CBPF_FORM_DD && form != CBPF_FORM_COMMA)
		form = CBPF_FORM_DDD;
	return cbpf_parse(text, len, form, prog, err);
}

static void check_parse(parse_fn parse, const char *text,
			const struct sock_filter *f, size_t n)
{
	struct cbpf_error err = { 0 };
	struct cbpf_prog p;
	int ret;

	ret = parse(text, strlen(text), &p, &err);
	if (ret) {
		fprintf(stderr, "parse of <<%s>> failed: %d:%d: %s\n", text,
			err.line, err.column, err.msg);
		fail();
	}
	check_same(&p, f, n);
	cbpf_prog_free(&p);
}

static void check_error(parse_fn parse, const char *text, size_t len,
			int line, int col, const char *msg)
{
	struct cbpf_error err = { 0 };
	struct cbpf_prog p = { .len = 99 };
	int ret;

	ret = parse(text, len, &p, &err);
	if (ret != -EINVAL || err.line != line || err.column != col ||
	    !strstr(err.msg, msg)) {
		fprintf(stderr, "text <<%.*s>>: got %d at %d:%d \"%s\", want "
			"-EINVAL at %d:%d \"%s\"\n", (int)(len > 200 ? 200 : len),
			text, ret, err.line, err.column, err.msg, line, col,
			msg);
		fail();
	}
	assert_int_equal(err.err, -EINVAL);
	assert_int_equal(p.len, 0);
	assert_null(p.insns);
}

static void check_error_str(parse_fn parse, const char *text, int line,
			    int col, const char *msg)
{
	check_error(parse, text, strlen(text), line, col, msg);
}

/* ---- tcpdump -d ---------------------------------------------------- */

static const struct sock_filter small[] = {
	{ BPF_LD | BPF_H | BPF_ABS, 0, 0, 12 },
	{ BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0x800 },
	{ BPF_MISC | BPF_TAX, 0, 0, 0 },
	{ BPF_RET | BPF_A, 0, 0, 0 },
	{ BPF_RET | BPF_K, 0, 0, 0xffffffff },
};

static void test_tcpdump_small(void **state)
{
	(void)state;
	check_format(small, LEN(small), CBPF_FORM_TCPDUMP, 0,
		     "(000) ldh      [12]\n"
		     "(001) jeq      #0x800           jt 2\tjf 4\n"
		     "(002) tax      \n"
		     "(003) ret      \n"
		     "(004) ret      #-1\n");
	check_format(small, LEN(small), CBPF_FORM_TCPDUMP,
		     CBPF_FORMAT_NO_TRAILING_BLANKS,
		     "(000) ldh      [12]\n"
		     "(001) jeq      #0x800           jt 2\tjf 4\n"
		     "(002) tax\n"
		     "(003) ret\n"
		     "(004) ret      #-1\n");
}

/* What libpcap 1.10.3's bpf_image() prints, learnt from it. */
static void test_tcpdump_every_form(void **state)
{
	static const struct {
		struct sock_filter f;
		const char *line;
	} cases[] = {
		{ { 0x00, 0, 0, 0x12345 }, "ld       #0x12345" },
		{ { 0x01, 0, 0, 7 }, "ldx      #0x7" },
		{ { 0x02, 0, 0, 3 }, "st       M[3]" },
		{ { 0x03, 0, 0, 3 }, "stx      M[3]" },
		{ { 0x04, 0, 0, 0xfffffffe }, "add      #-2" },
		{ { 0x05, 0, 0, 2 }, "ja       3" },
		{ { 0x06, 0, 0, 262144 }, "ret      #262144" },
		{ { 0x07, 0, 0, 0 }, "tax      " },
		{ { 0x0c, 0, 0, 0 }, "add      x" },
		{ { 0x14, 0, 0, 5 }, "sub      #5" },
		{ { 0x16, 0, 0, 0 }, "ret      " },
		{ { 0x1d, 1, 2, 0 }, "jeq      x                jt 2\tjf 3" },
		{ { 0x20, 0, 0, 0x80000000 }, "ld       [-2147483648]" },
		{ { 0x24, 0, 0, 3 }, "mul      #3" },
		{ { 0x25, 0, 0, 0xffffffff }, "jgt      #0xffffffff      jt 1\tjf 1" },
		{ { 0x28, 0, 0, ANC(SKF_AD_PROTOCOL) }, "ldh      [proto]" },
		{ { 0x2d, 255, 0, 0 }, "jgt      x                jt 256\tjf 1" },
		{ { 0x30, 0, 0, (uint32_t)SKF_NET_OFF + 9 }, "ldb      [-1048567]" },
		{ { 0x30, 0, 0, ANC(SKF_AD_VLAN_TAG_PRESENT) }, "ldb      [vlanp]" },
		{ { 0x20, 0, 0, ANC(SKF_AD_RANDOM) }, "ld       [random]" },
		{ { 0x20, 0, 0, ANC(SKF_AD_ALU_XOR_X) }, "ld       [xor_x]" },
		{ { 0x20, 0, 0, ANC(SKF_AD_VLAN_TPID) }, "ld       [vlan_tpid]" },
		{ { 0x20, 0, 0, ANC(1) }, "ld       [-4095]" },
		{ { 0x20, 0, 0, ANC(64) }, "ld       [-4032]" },
		{ { 0x34, 0, 0, 0 }, "div      #0" },
		{ { 0x35, 0, 0, 1 }, "jge      #0x1             jt 1\tjf 1" },
		{ { 0x3c, 0, 0, 0 }, "div      x" },
		{ { 0x40, 0, 0, 0xffffffff }, "ld       [x + -1]" },
		{ { 0x44, 0, 0, 0x10 }, "or       #0x10" },
		{ { 0x45, 0, 0, 0x1fff }, "jset     #0x1fff          jt 1\tjf 1" },
		{ { 0x48, 0, 0, 14 }, "ldh      [x + 14]" },
		{ { 0x50, 0, 0, 0 }, "ldb      [x + 0]" },
		{ { 0x54, 0, 0, 0xf }, "and      #0xf" },
		{ { 0x60, 0, 0, 15 }, "ld       M[15]" },
		{ { 0x61, 0, 0, 1 }, "ldx      M[1]" },
		{ { 0x64, 0, 0, 2 }, "lsh      #2" },
		{ { 0x74, 0, 0, 33 }, "rsh      #33" },
		{ { 0x80, 0, 0, 0 }, "ld       #pktlen" },
		{ { 0x81, 0, 0, 0 }, "unimp    0x81" },
		{ { 0x84, 0, 0, 0 }, "neg      " },
		{ { 0x87, 0, 0, 0 }, "txa      " },
		{ { 0x94, 0, 0, 7 }, "mod      #7" },
		{ { 0xa4, 0, 0, 0xff }, "xor      #0xff" },
		{ { 0xac, 0, 0, 0 }, "xor      x" },
		{ { 0xb1, 0, 0, 14 }, "ldxb     4*([14]&0xf)" },
		{ { 0x0e, 0, 0, 0 }, "unimp    0xe" },
		{ { 0x0d, 1, 1, 0 }, "unimp    0xd" },
		{ { 0x55, 1, 2, 0 }, "unimp    0x55             jt 2\tjf 3" },
		{ { 0x115, 0, 0, 0 }, "unimp    0x115            jt 1\tjf 1" },
		{ { 0xffff, 0, 0, 0 }, "unimp    0xffff" },
	};
	char want[128];

	(void)state;
	for (size_t i = 0; i < LEN(cases); i++) {
		snprintf(want, sizeof(want), "(000) %s\n", cases[i].line);
		check_format(&cases[i].f, 1, CBPF_FORM_TCPDUMP, 0, want);
	}
}

/* Targets are absolute and computed in int: ja wraps as libpcap's does. */
static void test_tcpdump_targets(void **state)
{
	struct sock_filter f[1001] = { 0 };
	char *s;

	(void)state;
	f[1000] = (struct sock_filter){ BPF_JMP | BPF_JA, 0, 0, 0x7fffffff };
	f[999] = (struct sock_filter){ BPF_JMP | BPF_JEQ | BPF_K, 255, 3, 1 };
	s = format_array(f, LEN(f), CBPF_FORM_TCPDUMP, 0);
	assert_non_null(strstr(s, "\n(999) jeq      #0x1             jt 1255\tjf 1003\n"
			       "(1000) ja       -2147482648\n"));
	assert_non_null(strstr(s, "(000) ld       #0x0\n(001) ld "));
	free(s);
	f[0] = (struct sock_filter){ BPF_JMP | BPF_JA, 0, 0, 0xffffffff };
	check_format(f, 1, CBPF_FORM_TCPDUMP, 0, "(000) ja       0\n");
}

/* ---- numeric forms ------------------------------------------------- */

static void test_numeric_formats(void **state)
{
	(void)state;
	check_format(small, LEN(small), CBPF_FORM_DD, 0,
		     "{ 0x28, 0, 0, 0x0000000c },\n"
		     "{ 0x15, 0, 2, 0x00000800 },\n"
		     "{ 0x7, 0, 0, 0x00000000 },\n"
		     "{ 0x16, 0, 0, 0x00000000 },\n"
		     "{ 0x6, 0, 0, 0xffffffff },\n");
	check_format(small, LEN(small), CBPF_FORM_DDD, 0,
		     "5\n40 0 0 12\n21 0 2 2048\n7 0 0 0\n22 0 0 0\n"
		     "6 0 0 4294967295\n");
	check_format(small, LEN(small), CBPF_FORM_COMMA, 0,
		     "5,40 0 0 12,21 0 2 2048,7 0 0 0,22 0 0 0,"
		     "6 0 0 4294967295,\n");
	check_format(small, 0, CBPF_FORM_TCPDUMP, 0, "");
	check_format(small, 0, CBPF_FORM_DDD, 0, "0\n");
	check_format(small, 0, CBPF_FORM_COMMA, 0, "0,\n");
}

/* ---- bpf_asm, C, dot ----------------------------------------------- */

static void test_asm_format(void **state)
{
	static const struct sock_filter f[] = {
		{ BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14 },
		{ BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 42 },
		{ BPF_JMP | BPF_JEQ | BPF_X, 0, 1, 0 },
		{ BPF_LD | BPF_B | BPF_ABS, 0, 0, ANC(SKF_AD_VLAN_TAG_PRESENT) },
		{ BPF_LD | BPF_W | BPF_ABS, 0, 0, ANC(SKF_AD_ALU_XOR_X) },
		{ BPF_LD | BPF_H | BPF_ABS, 0, 0, ANC(62) },
		{ BPF_LD | BPF_B | BPF_IND, 0, 0, (uint32_t)SKF_NET_OFF + 9 },
		{ BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xf0 },
		{ BPF_ALU | BPF_ADD | BPF_K, 0, 0, 70000 },
		{ BPF_ALU | BPF_NEG, 1, 2, 3 },
		{ BPF_JMP | BPF_JA, 0, 0, 1 },
		{ BPF_LD | BPF_W | BPF_LEN, 0, 0, 0 },
		{ BPF_LDX | BPF_W | BPF_LEN, 0, 0, 0 },
		{ BPF_RET | BPF_A, 0, 0, 0 },
		{ BPF_RET | BPF_K, 0, 0, 262144 },
	};

	(void)state;
	check_format(f, LEN(f), CBPF_FORM_ASM, 0,
		     "\tldxb 4*([14]&0xf)\n"
		     "\tjeq #0x2a, l3, l4\n"
		     "\tjeq x, l3, l4\n"
		     "l3:\tldb #vlan_avail\n"
		     "l4:\tld [0xfffff028]\t; xor_x\n"
		     "\tldh [0xfffff03e]\t; unknown ancillary load SKF_AD_OFF + 62\n"
		     "\tldb [x + 0xfff00009]\n"
		     "\tand #0xf0\n"
		     "\tadd #70000\n"
		     "\tneg\t; ignored: jt 1, jf 2, k 0x3\n"
		     "\tja l12\n"
		     "\tld #len\n"
		     "l12:\tldx #len\n"
		     "\tret a\n"
		     "\tret #262144\n");
}

static void test_asm_format_odd(void **state)
{
	static const struct sock_filter f[] = {
		{ BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1 },
		{ BPF_JMP | BPF_JA, 0, 0, 9 },
		{ 0x0e, 1, 2, 3 },
	};

	(void)state;
	check_format(f, LEN(f), CBPF_FORM_ASM, 0,
		     "\tjeq #0x1, l6\t; jumps past the end (jt 5, jf 0)\n"
		     "l1:\tja l11\t; jumps past the end (k 9)\n"
		     "\tunimp 0xe\t; not a kernel opcode: jt 1, jf 2, k 0x3\n");
}

static void test_c_format(void **state)
{
	static const struct sock_filter f[] = {
		{ BPF_LD | BPF_H | BPF_ABS, 0, 0, 12 },
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 0x800 },
		{ BPF_LD | BPF_B | BPF_ABS, 0, 0, ANC(SKF_AD_PKTTYPE) },
		{ BPF_LDX | BPF_B | BPF_MSH, 0, 0, (uint32_t)SKF_NET_OFF },
		{ BPF_RET | BPF_K, 0, 0, 0xffffffff },
		{ 0x0e, 0, 0, 0 },
	};

	(void)state;
	check_format(f, LEN(f), CBPF_FORM_C, 0,
		     "struct sock_filter prog[] = {\n"
		     "\tBPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),\t/* 000: ldh [12] */\n"
		     "\tBPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 3),\t/* 001: jeq #0x800 jt 2 jf 5 */\n"
		     "\tBPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),\t/* 002: ldb [type] */\n"
		     "\tBPF_STMT(BPF_LDX | BPF_B | BPF_MSH, SKF_NET_OFF + 0),\t/* 003: ldxb 4*([-1048576]&0xf) */\n"
		     "\tBPF_STMT(BPF_RET | BPF_K, 0xffffffff),\t/* 004: ret #-1 */\n"
		     "\t{ 0x0e, 0, 0, 0x00000000 },\t/* 005: unimp 0xe */\n"
		     "};\n");
}

static bool have_cc(void)
{
	return system("cc --version >/dev/null 2>&1") == 0;
}

/* The C printer's output compiles, and the array holds the same bytes. */
static void test_c_compiles(void **state)
{
	char dir[] = "/tmp/cbpf-text-XXXXXX", path[64], cmd[256];
	struct sock_filter f[GEN_MAX_INSNS];
	struct cbpf_prog got;
	struct gen g;
	char *c, *out;
	size_t n, len;
	FILE *fp;

	(void)state;
	if (!have_cc()) {
		skip();
		return;
	}
	gen_init(&g, 7);
	n = gen_program(&g, f, LEN(f), 0);
	f[0].jt = 3;	/* an ignored field must survive too */
	c = format_array(f, n, CBPF_FORM_C, 0);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.c", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "#include <stdio.h>\n#include <linux/filter.h>\n%s"
		"int main(void)\n{\n\tsize_t i, n = sizeof(prog) / "
		"sizeof(prog[0]);\n\n\tprintf(\"%%zu\\n\", n);\n"
		"\tfor (i = 0; i < n; i++)\n\t\tprintf(\"%%u %%u %%u %%u\\n\", "
		"prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);\n"
		"\treturn 0;\n}\n", c);
	fclose(fp);
	free(c);
	snprintf(cmd, sizeof(cmd), "cc -Wall -Werror -o %s/p %s/p.c && "
		 "%s/p > %s/out", dir, dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/out", dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	out = calloc(1, 1 << 16);
	assert_non_null(out);
	len = fread(out, 1, (1 << 16) - 1, fp);
	fclose(fp);
	assert_int_equal(cbpf_parse(out, len, CBPF_FORM_UNKNOWN, &got, NULL), 0);
	check_same(&got, f, n);
	cbpf_prog_free(&got);
	free(out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	while ((s = strstr(s, needle))) {
		n++;
		s += strlen(needle);
	}
	return n;
}

static void test_dot_format(void **state)
{
	static const struct sock_filter f[] = {
		{ BPF_LD | BPF_H | BPF_ABS, 0, 0, 12 },
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0x800 },
		{ BPF_RET | BPF_K, 0, 0, 1 },
		{ BPF_JMP | BPF_JA, 0, 0, 7 },
	};
	char *s;

	(void)state;
	s = format_array(f, LEN(f), CBPF_FORM_DOT, 0);
	assert_true(!strncmp(s, "digraph cbpf {\n", 15));
	assert_non_null(strstr(s, "\ti0 [label=\"000: ldh [12]\"];\n"));
	assert_non_null(strstr(s, "\ti0 -> i1;\n"));
	assert_non_null(strstr(s, "\ti1 -> i2 [label=\"jt\", color=darkgreen];\n"));
	assert_non_null(strstr(s, "\ti1 -> i3 [label=\"jf\", color=red];\n"));
	assert_non_null(strstr(s, "\ti2 [label=\"002: ret #1\", shape=ellipse];\n"));
	assert_non_null(strstr(s, "\ti3 -> past_end;\n"));
	assert_non_null(strstr(s, "\tpast_end [label="));
	assert_int_equal(count(s, " -> "), 4);
	assert_true(s[strlen(s) - 2] == '}');
	free(s);
}

static void test_format_bad(void **state)
{
	struct cbpf_prog p = { .len = LEN(small),
			       .insns = (struct sock_filter *)small };

	(void)state;
	errno = 0;
	assert_null(cbpf_format(&p, (enum cbpf_form)99, 0));
	assert_int_equal(errno, EINVAL);
	/* UNKNOWN is a form cbpf_parse() detects, not one to print. */
	errno = 0;
	assert_null(cbpf_format(&p, CBPF_FORM_UNKNOWN, 0));
	assert_int_equal(errno, EINVAL);
	/* Unknown flags, with any form. */
	errno = 0;
	assert_null(cbpf_format(&p, CBPF_FORM_TCPDUMP, 1U << 1));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cbpf_format(&p, CBPF_FORM_ASM,
				CBPF_FORMAT_NO_TRAILING_BLANKS | 1U << 31));
	assert_int_equal(errno, EINVAL);
}

/* ---- parse_prog ---------------------------------------------------- */

static void test_parse_prog_forms(void **state)
{
	(void)state;
	check_parse(parse_ddd,
		    "5\n40 0 0 12\n21 0 2 2048\n7 0 0 0\n22 0 0 0\n"
		    "6 0 0 4294967295\n", small, LEN(small));
	check_parse(parse_ddd,
		    "# tcpdump -ddd\n\n  5 \r\n40\t0 0 12\r\n\n21 0 2 2048 ; c\n"
		    "7 0 0 0\n22 0 0 0 // c\n/* c */ 6 0 0 0xffffffff", small,
		    LEN(small));
	check_parse(parse_dd,
		    "{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 2, 0x00000800 },\n"
		    "{ 0x7, 0, 0, 0x00000000 },\n{ 0x16, 0, 0, 0x00000000 },\n"
		    "{ 0x6, 0, 0, 0xffffffff },\n", small, LEN(small));
	/* bpf_asm -c prints zero as "0000" (printf's # flag). */
	check_parse(parse_dd,
		    "{ 0x28,  0,  0, 0x0000000c },\n{ 0x15,  0,  2, 0x00000800 },\n"
		    "{ 0x07,  0,  0, 0000000000 },\n{ 0x16,  0,  0, 0000000000 },\n"
		    "{ 0x06,  0,  0, 037777777777 }", small, LEN(small));
	check_parse(parse_comma,
		    "5,40 0 0 12,21 0 2 2048,7 0 0 0,22 0 0 0,6 0 0 4294967295,\n",
		    small, LEN(small));
	check_parse(parse_comma,
		    "5,40 0 0 12,21 0 2 2048,7 0 0 0,22 0 0 0,6 0 0 4294967295",
		    small, LEN(small));
	check_parse(parse_comma,
		    " 5 ,\n40 0 0 12,\n21 0 2\n2048 ,7 0 0 0, 22 0 0 0,\n"
		    "6 0 0 4294967295 ,\n\n", small, LEN(small));
	check_parse(parse_ddd, "1\n6 0 0 4294967295", small + 4, 1);
	check_parse(parse_any, "1\n6 0 0 4294967295", small + 4, 1);
}

/* cbpf_parse() with a form reads that form only, and refuses the forms
 * that cannot be read back and values outside the enum. */
static void test_parse_forced_form(void **state)
{
	static const struct sock_filter one = { BPF_RET | BPF_K, 0, 0, 7 };
	static const struct {
		enum cbpf_form form;
		const char *msg;
	} unreadable[] = {
		{ CBPF_FORM_TCPDUMP, "tcpdump -d output cannot be read back" },
		{ CBPF_FORM_C, "cannot be read back" },
		{ CBPF_FORM_DOT, "cannot be read back" },
		{ (enum cbpf_form)99, "unknown text form 99" },
	};
	struct cbpf_error err;
	struct cbpf_prog p;

	(void)state;
	check_parse(parse_ddd, "1\n6 0 0 7", &one, 1);
	check_parse(parse_dd, "{ 0x6, 0, 0, 7 }", &one, 1);
	check_parse(parse_comma, "1,6 0 0 7", &one, 1);
	check_parse(parse_asm, "ret #7", &one, 1);
	/* Each form's reader on another form's text. */
	check_error_str(parse_dd, "1\n6 0 0 7", 1, 1, "expected '{', got '1'");
	check_error_str(parse_ddd, "1,6 0 0 7", 1, 2, "got ','");
	check_error_str(parse_comma, "1\n6 0 0 7", 2, 1,
			"expected ',' after the count, got '6'");
	check_error_str(parse_ddd, "{ 0x6, 0, 0, 7 }", 1, 1, "got '{'");
	check_error_str(parse_asm, "1\n6 0 0 7", 1, 1,
			"expected an instruction or a label, got '1'");
	for (size_t i = 0; i < LEN(unreadable); i++) {
		memset(&err, 0x5a, sizeof(err));
		p = (struct cbpf_prog){ .len = 99 };
		assert_int_equal(cbpf_parse("ret #7", 6, unreadable[i].form,
					    &p, &err), -EINVAL);
		assert_int_equal(err.err, -EINVAL);
		assert_int_equal(err.line, 0);
		assert_int_equal(err.insn, -1);
		assert_non_null(strstr(err.msg, unreadable[i].msg));
		assert_int_equal(p.len, 0);
		assert_null(p.insns);
		assert_int_equal(cbpf_parse("ret #7", 6, unreadable[i].form,
					    &p, NULL), -EINVAL);
	}
}

static void test_parse_prog_empty(void **state)
{
	struct cbpf_prog p;

	(void)state;
	assert_int_equal(cbpf_parse("0\n", 2, CBPF_FORM_UNKNOWN, &p, NULL), 0);
	assert_int_equal(p.len, 0);
	assert_non_null(p.insns);
	cbpf_prog_free(&p);
	assert_int_equal(cbpf_parse("0,", 2, CBPF_FORM_UNKNOWN, &p, NULL), 0);
	assert_int_equal(p.len, 0);
	cbpf_prog_free(&p);
}

static void test_parse_prog_errors(void **state)
{
	(void)state;
	check_error_str(parse_numeric, "3\n40 0 0 12\n", 3, 1,
			"count 3 does not match the number of instructions (1)");
	check_error_str(parse_numeric, "1\n40 0 0 12\n6 0 0 0\n", 3, 1,
			"more instructions than the count (1)");
	check_error_str(parse_numeric, "1\n40 0 0\n", 2, 7,
			"instruction 0 has 3 of 4 numbers");
	check_error_str(parse_numeric, "1\n70000 0 0 0\n", 2, 1,
			"code '70000' is out of range (max 65535)");
	check_error_str(parse_numeric, "1\n6 256 0 0", 2, 3,
			"jt '256' is out of range (max 255)");
	check_error_str(parse_numeric, "1\n6 0 0x100 0", 2, 5,
			"jf '0x100' is out of range (max 255)");
	check_error_str(parse_numeric, "1\n6 0 0 4294967296", 2, 7,
			"k '4294967296' is out of range (max 4294967295)");
	check_error_str(parse_numeric, "1\n6 0 0 99999999999999999999999", 2,
			7, "k '99999999999999999999999' is out of range");
	check_error_str(parse_numeric, "1\n6 0 0 0 7", 2, 9,
			"expected the end of the line after 'code jt jf k', "
			"got '7'");
	check_error_str(parse_numeric, "1\n6 0 x 0", 2, 5,
			"expected jf, got 'x'");
	check_error_str(parse_numeric, "1\n6 0 0 12abc", 2, 7,
			"k '12abc' is not a number");
	check_error_str(parse_numeric, "1\n6 0 0 -1", 2, 7,
			"expected k, got '-'");
	check_error_str(parse_numeric, "65536\n", 1, 1,
			"instruction count '65536' is out of range (max 65535)");
	check_error_str(parse_numeric, "2 x\n", 1, 3,
			"expected the end of the count line, got 'x'");
	check_error_str(parse_numeric, "2,6 0 0 0", 1, 10,
			"count 2 does not match the number of instructions (1)");
	check_error_str(parse_numeric, "2,6 0 0 0,\n", 2, 1,
			"count 2 does not match the number of instructions (1)");
	check_error_str(parse_numeric, "1,6 0 0,0", 1, 8,
			"instruction 0 has 3 of 4 numbers");
	check_error_str(parse_numeric, "1,6 0 0 0,6 0 0 0", 1, 11,
			"more instructions than the count (1)");
	check_error_str(parse_numeric, "2,6 0 0 0 6 0 0 0", 1, 11,
			"expected ',' after an instruction, got '6'");
	check_error_str(parse_numeric, "2 ,6 0 0 0;,6 0 0 0", 1, 20,
			"count 2 does not match the number of instructions (1)");
	check_error_str(parse_numeric, "{ 0x6, 0, 0 }", 1, 13,
			"expected ',', got '}'");
	check_error_str(parse_numeric, "{ 0x6, 0, 0, 0 ", 1, 16,
			"expected '}', got end of input");
	check_error_str(parse_numeric, "{ 0x6, 0, 0, 0 },\n garbage", 2, 2,
			"expected '{', got 'garbage'");
	check_error_str(parse_numeric, "{ 0x6, 0, 0, 09 }", 1, 14,
			"k '09' is not a number");
	check_error_str(parse_numeric, "\n  /* unterminated", 2, 3,
			"unterminated /* comment");
	check_error_str(parse_numeric, "1\n6 0 0 0 /*", 2, 9,
			"unterminated /* comment");
	check_error_str(parse_numeric, "ld #1", 1, 1,
			"expected the instruction count, got 'ld'");
	check_error_str(parse_numeric, "", 1, 1,
			"expected the instruction count, got end of input");
	check_error(parse_numeric, "1\n6 0\0 0 0", 10, 2, 4,
		    "expected jf, got '\\x00'");
}

/* Not NUL-terminated: the parser must stop at len. */
static void test_parse_prog_len(void **state)
{
	static const char text[] = "1\n6 0 0 12345";
	struct sock_filter want = { 6, 0, 0, 123 };
	struct cbpf_prog p;
	char *buf;

	(void)state;
	buf = xmalloc(sizeof(text) - 3);
	assert_non_null(buf);
	memcpy(buf, text, sizeof(text) - 3);
	assert_int_equal(cbpf_parse(buf, sizeof(text) - 3, CBPF_FORM_DDD, &p,
				    NULL), 0);
	check_same(&p, &want, 1);
	cbpf_prog_free(&p);
	free(buf);
}

static char *ddd_of_length(size_t n)
{
	char *s = xmalloc(16 + n * 12), *p;

	assert_non_null(s);
	p = s + sprintf(s, "%zu\n", n);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "6 0 0 %zu\n", i);
	return s;
}

/* The reader takes up to 65535 and leaves the 4096 limit to the
 * validator, which names the kernel rule. */
static void test_parse_prog_limits(void **state)
{
	struct cbpf_prog p;
	char *s;

	(void)state;
	s = ddd_of_length(4097);
	assert_int_equal(cbpf_parse(s, strlen(s), CBPF_FORM_DDD, &p, NULL), 0);
	assert_int_equal(p.len, 4097);
	assert_int_equal(p.insns[4096].k, 4096);
	assert_int_equal(cbpf_validate(&p, NULL), -EINVAL);
	cbpf_prog_free(&p);
	free(s);
	s = ddd_of_length(65535);
	assert_int_equal(cbpf_parse(s, strlen(s), CBPF_FORM_DDD, &p, NULL), 0);
	assert_int_equal(p.len, 65535);
	cbpf_prog_free(&p);
	free(s);
}

static void test_detect_form(void **state)
{
	static const struct {
		const char *text;
		enum cbpf_form form;
	} cases[] = {
		{ "4\n40 0 0 12\n", CBPF_FORM_DDD },
		{ "# comment\n\n 4 \n", CBPF_FORM_DDD },
		{ "4,40 0 0 12,", CBPF_FORM_COMMA },
		{ "/* x */ 4 ,40", CBPF_FORM_COMMA },
		{ "{ 0x28, 0, 0, 0x0000000c },", CBPF_FORM_DD },
		{ "ldh [12]\n", CBPF_FORM_ASM },
		{ "; comment\nstart: ret #0", CBPF_FORM_ASM },
		{ "_x: ret #0", CBPF_FORM_ASM },
		{ "(000) ldh      [12]", CBPF_FORM_UNKNOWN },
		{ "", CBPF_FORM_UNKNOWN },
		{ "  \n# only comments\n", CBPF_FORM_UNKNOWN },
		{ "/* unterminated", CBPF_FORM_UNKNOWN },
		{ "@", CBPF_FORM_UNKNOWN },
	};

	(void)state;
	for (size_t i = 0; i < LEN(cases); i++)
		assert_int_equal(cbpf_detect_form(cases[i].text,
						  strlen(cases[i].text)),
				 cases[i].form);
}

static void test_parse_any(void **state)
{
	static const struct sock_filter one = { BPF_RET | BPF_K, 0, 0, 7 };
	struct cbpf_prog p;

	(void)state;
	check_parse(parse_any, "1\n6 0 0 7\n", &one, 1);
	check_parse(parse_any, "1,6 0 0 7,", &one, 1);
	check_parse(parse_any, "{ 0x6, 0, 0, 0x00000007 },", &one, 1);
	check_parse(parse_any, "ret #7", &one, 1);
	check_error_str(parse_any, "\n(000) ret      #7\n", 2, 1,
			"tcpdump -d output cannot be read back");
	check_error_str(parse_any, "@", 1, 1,
			"expected an instruction or a label, got '@'");
	assert_int_equal(cbpf_parse("", 0, CBPF_FORM_UNKNOWN, &p, NULL), 0);
	assert_int_equal(p.len, 0);
	cbpf_prog_free(&p);
}

/* ---- parse_asm ----------------------------------------------------- */

static void test_asm_operands(void **state)
{
	static const struct {
		const char *text;
		uint16_t code;
		uint32_t k;
	} cases[] = {
		{ "ld #0x12345", BPF_LD | BPF_IMM, 0x12345 },
		{ "LD #42", BPF_LD | BPF_IMM, 42 },
		{ "ld #-1", BPF_LD | BPF_IMM, 0xffffffff },
		{ "ld #-2147483648", BPF_LD | BPF_IMM, 0x80000000 },
		{ "ld #0b101", BPF_LD | BPF_IMM, 5 },
		{ "ld #0B11", BPF_LD | BPF_IMM, 3 },
		{ "ld #010", BPF_LD | BPF_IMM, 8 },
		{ "ld #0", BPF_LD | BPF_IMM, 0 },
		{ "ld #0XfF", BPF_LD | BPF_IMM, 255 },
		{ "ld #4294967295", BPF_LD | BPF_IMM, 0xffffffff },
		{ "ldi #7", BPF_LD | BPF_IMM, 7 },
		{ "ldi 7", BPF_LD | BPF_IMM, 7 },
		{ "ld [12]", BPF_LD | BPF_W | BPF_ABS, 12 },
		{ "ldh [12]", BPF_LD | BPF_H | BPF_ABS, 12 },
		{ "ldb [0x17]", BPF_LD | BPF_B | BPF_ABS, 0x17 },
		{ "ldb [-1048576]", BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF },
		{ "ld [x + 4]", BPF_LD | BPF_W | BPF_IND, 4 },
		{ "ldh [x+4]", BPF_LD | BPF_H | BPF_IND, 4 },
		{ "ldb [%x + 0b101]", BPF_LD | BPF_B | BPF_IND, 5 },
		{ "ldb [X + 2]", BPF_LD | BPF_B | BPF_IND, 2 },
		{ "ld [x]", BPF_LD | BPF_W | BPF_IND, 0 },
		{ "ldb [x + -1]", BPF_LD | BPF_B | BPF_IND, 0xffffffff },
		{ "ld M[3]", BPF_LD | BPF_MEM, 3 },
		{ "ld m[15]", BPF_LD | BPF_MEM, 15 },
		{ "ld #len", BPF_LD | BPF_W | BPF_LEN, 0 },
		{ "ld len", BPF_LD | BPF_W | BPF_LEN, 0 },
		{ "ld #pktlen", BPF_LD | BPF_W | BPF_LEN, 0 },
		{ "ld #proto", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_PROTOCOL) },
		{ "LD #PROTO", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_PROTOCOL) },
		{ "ldh proto", BPF_LD | BPF_H | BPF_ABS, ANC(SKF_AD_PROTOCOL) },
		{ "ldb #type", BPF_LD | BPF_B | BPF_ABS, ANC(SKF_AD_PKTTYPE) },
		{ "ld #ifidx", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_IFINDEX) },
		{ "ld #nla", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_NLATTR) },
		{ "ld #nlan", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_NLATTR_NEST) },
		{ "ld #mark", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_MARK) },
		{ "ld #queue", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_QUEUE) },
		{ "ld #hatype", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_HATYPE) },
		{ "ld #rxhash", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_RXHASH) },
		{ "ld #cpu", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_CPU) },
		{ "ld #xor_x", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_ALU_XOR_X) },
		{ "ld #vlan_tci", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_VLAN_TAG) },
		{ "ld #vlan_avail", BPF_LD | BPF_W | BPF_ABS,
		  ANC(SKF_AD_VLAN_TAG_PRESENT) },
		{ "ld vlan_pr", BPF_LD | BPF_W | BPF_ABS,
		  ANC(SKF_AD_VLAN_TAG_PRESENT) },
		{ "ld [vlanp]", BPF_LD | BPF_W | BPF_ABS,
		  ANC(SKF_AD_VLAN_TAG_PRESENT) },
		{ "ld #poff", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_PAY_OFFSET) },
		{ "ld #rand", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_RANDOM) },
		{ "ld [random]", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_RANDOM) },
		{ "ld #vlan_tpid", BPF_LD | BPF_W | BPF_ABS, ANC(SKF_AD_VLAN_TPID) },
		{ "ldx #0x10", BPF_LDX | BPF_IMM, 16 },
		{ "ldxi #5", BPF_LDX | BPF_IMM, 5 },
		{ "ldxi 5", BPF_LDX | BPF_IMM, 5 },
		{ "ldx M[2]", BPF_LDX | BPF_MEM, 2 },
		{ "ldx #len", BPF_LDX | BPF_W | BPF_LEN, 0 },
		{ "ldx len", BPF_LDX | BPF_W | BPF_LEN, 0 },
		{ "ldx 4*([14]&0xf)", BPF_LDX | BPF_B | BPF_MSH, 14 },
		{ "ldxb 4*([14]&0xf)", BPF_LDX | BPF_B | BPF_MSH, 14 },
		{ "ldxb 4 * ( [ 0x0e ] & 15 )", BPF_LDX | BPF_B | BPF_MSH, 14 },
		{ "ldx 0b100*([0]&017)", BPF_LDX | BPF_B | BPF_MSH, 0 },
		{ "st M[0]", BPF_ST, 0 },
		{ "stx M[15]", BPF_STX, 15 },
		{ "add #1", BPF_ALU | BPF_ADD | BPF_K, 1 },
		{ "add x", BPF_ALU | BPF_ADD | BPF_X, 0 },
		{ "add %x", BPF_ALU | BPF_ADD | BPF_X, 0 },
		{ "sub #2", BPF_ALU | BPF_SUB | BPF_K, 2 },
		{ "sub x", BPF_ALU | BPF_SUB | BPF_X, 0 },
		{ "mul #3", BPF_ALU | BPF_MUL | BPF_K, 3 },
		{ "mul x", BPF_ALU | BPF_MUL | BPF_X, 0 },
		{ "div #4", BPF_ALU | BPF_DIV | BPF_K, 4 },
		{ "div x", BPF_ALU | BPF_DIV | BPF_X, 0 },
		{ "mod #5", BPF_ALU | BPF_MOD | BPF_K, 5 },
		{ "mod x", BPF_ALU | BPF_MOD | BPF_X, 0 },
		{ "and #6", BPF_ALU | BPF_AND | BPF_K, 6 },
		{ "and x", BPF_ALU | BPF_AND | BPF_X, 0 },
		{ "or #7", BPF_ALU | BPF_OR | BPF_K, 7 },
		{ "or x", BPF_ALU | BPF_OR | BPF_X, 0 },
		{ "xor #8", BPF_ALU | BPF_XOR | BPF_K, 8 },
		{ "xor x", BPF_ALU | BPF_XOR | BPF_X, 0 },
		{ "lsh #9", BPF_ALU | BPF_LSH | BPF_K, 9 },
		{ "lsh x", BPF_ALU | BPF_LSH | BPF_X, 0 },
		{ "rsh #10", BPF_ALU | BPF_RSH | BPF_K, 10 },
		{ "rsh %X", BPF_ALU | BPF_RSH | BPF_X, 0 },
		{ "neg", BPF_ALU | BPF_NEG, 0 },
		{ "tax", BPF_MISC | BPF_TAX, 0 },
		{ "TXA", BPF_MISC | BPF_TXA, 0 },
		{ "ret #0", BPF_RET | BPF_K, 0 },
		{ "ret #262144", BPF_RET | BPF_K, 262144 },
		{ "ret #0xffffffff", BPF_RET | BPF_K, 0xffffffff },
		{ "ret a", BPF_RET | BPF_A, 0 },
		{ "ret %a", BPF_RET | BPF_A, 0 },
		{ "Ret A", BPF_RET | BPF_A, 0 },
	};
	struct sock_filter want;

	(void)state;
	for (size_t i = 0; i < LEN(cases); i++) {
		want = (struct sock_filter){ cases[i].code, 0, 0, cases[i].k };
		check_parse(parse_asm, cases[i].text, &want, 1);
	}
}

static void test_asm_jumps(void **state)
{
	static const struct sock_filter xnet[] = {
		{ BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14 },
		{ BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 42 },
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 42 },
		{ BPF_RET | BPF_A, 0, 0, 0 },
		{ BPF_RET | BPF_K, 0, 0, 42 },
	};
	static const struct sock_filter ja[] = {
		{ BPF_JMP | BPF_JA, 0, 0, 1 },
		{ BPF_LD | BPF_IMM, 0, 0, 1 },
		{ BPF_JMP | BPF_JA, 0, 0, 0 },
		{ BPF_RET | BPF_A, 0, 0, 0 },
	};
	static const struct sock_filter conds[] = {
		{ BPF_JMP | BPF_JGT | BPF_K, 0, 6, 1 },		/* jle #1, f */
		{ BPF_JMP | BPF_JGE | BPF_X, 0, 5, 0 },		/* jlt x, f */
		{ BPF_JMP | BPF_JEQ | BPF_X, 5, 4, 0 },		/* jne %x, f, t */
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 2 },		/* jneq #2, f */
		{ BPF_JMP | BPF_JSET | BPF_X, 3, 0, 0 },	/* jset x, t */
		{ BPF_JMP | BPF_JGE | BPF_K, 2, 0, 3 },		/* jge #3, t */
		{ BPF_JMP | BPF_JGT | BPF_X, 0, 0, 0 },		/* jgt x, n, n */
		{ BPF_RET | BPF_K, 0, 0, 0 },
		{ BPF_RET | BPF_K, 0, 0, 1 },
	};

	(void)state;
	check_parse(parse_asm,
		    "ldx 4*([14]&0xf)\njeq #42,prev,end\njne #42,end\n"
		    "prev: ret a\nend:  ret #42\n", xnet, LEN(xnet));
	check_parse(parse_asm,
		    "ja end\n ld #1\nend: jmp end2\nend2: ret a\n", ja, LEN(ja));
	check_parse(parse_asm,
		    "jle #1, f\njlt x, f\njne %x, f, t\njneq #2, f\n"
		    "jset x, t\njge #3, t\njgt x, n, n\nn: f: ret #0\nt: ret #1",
		    conds, LEN(conds));
}

static void test_asm_lexical(void **state)
{
	static const struct sock_filter f[] = {
		{ BPF_LD | BPF_IMM, 0, 0, 1 },
		{ BPF_RET | BPF_A, 0, 0, 0 },
	};

	(void)state;
	check_parse(parse_asm,
		    "# a comment at the start of a line\n"
		    "; a semicolon comment\n"
		    "/* a block\n   comment */ ld #1 // trailing\n"
		    "  ret a ; end\n", f, LEN(f));
	check_parse(parse_asm, "ld #1\r\nret a\r\n", f, LEN(f));
	check_parse(parse_asm, "ld #1 ret a", f, LEN(f));
	check_parse(parse_asm, "ld #1\nret\na", f, LEN(f));
	/* As in bpf_asm, '#' first on a line starts a comment. */
	check_error_str(parse_asm, "ld\n  #1\nret a", 3, 1,
			"after 'ld', got 'ret'");
	check_parse(parse_asm, "\t  # indented hash comment\nld #1\nret a",
		    f, LEN(f));
}

static char *far_jump(size_t skip)
{
	char *s = xmalloc(64 + skip * 8), *p;

	assert_non_null(s);
	p = s + sprintf(s, "jeq #1, far\n");
	for (size_t i = 0; i < skip; i++)
		p += sprintf(p, "ld #0\n");
	sprintf(p, "far: ret #0\n");
	return s;
}

static void test_asm_far(void **state)
{
	struct cbpf_prog p;
	char *s;

	(void)state;
	s = far_jump(255);
	assert_int_equal(cbpf_parse(s, strlen(s), CBPF_FORM_ASM, &p, NULL), 0);
	assert_int_equal(p.insns[0].jt, 255);
	cbpf_prog_free(&p);
	free(s);
	s = far_jump(256);
	check_error_str(parse_asm, s, 1, 9,
			"label 'far' is 256 instructions ahead; a conditional "
			"jump reaches at most 255");
	free(s);
}

static void test_asm_errors(void **state)
{
	static const struct {
		const char *text;
		int line, col;
		const char *msg;
	} cases[] = {
		{ "foo #1", 1, 1, "unknown mnemonic 'foo'" },
		{ "ld #1\n  lda #2", 2, 3, "unknown mnemonic 'lda'" },
		{ "unimp 0xe", 1, 1, "unknown mnemonic 'unimp'" },
		{ "ldh #1", 1, 6,
		  "expected [k], [x + k] or an extension after 'ldh', got '1'" },
		{ "ldb #len", 1, 6, "after 'ldb', got 'len'" },
		{ "ld #nosuch", 1, 5,
		  "expected #k, #len, M[k], [k], [x + k] or an extension "
		  "after 'ld', got 'nosuch'" },
		{ "ld [12", 1, 7, "expected ']', got end of input" },
		{ "ld [x - 4]", 1, 7, "expected ']', got '-'" },
		{ "ld [len]", 1, 5, "after 'ld', got 'len'" },
		{ "ld M 3", 1, 6, "expected '[', got '3'" },
		{ "ldh M[3]", 1, 5, "after 'ldh', got 'M'" },
		{ "ret x", 1, 5, "'ret x' would be opcode 0x0e" },
		{ "ret %x", 1, 5, "'ret x' would be opcode 0x0e" },
		{ "ret 5", 1, 5, "expected #k or a after 'ret', got '5'" },
		{ "ret #len", 1, 6, "expected a number, got 'len'" },
		{ "ja nowhere\nret #0", 1, 4, "unknown label 'nowhere'" },
		{ "ja 5", 1, 4, "expected a label, got '5'" },
		{ "jeq #1 l1", 1, 8, "expected ',', got 'l1'" },
		{ "jeq 1, l1", 1, 5, "expected #k or x after 'jeq', got '1'" },
		{ "jeq #1, l1,\n", 2, 1, "expected a label, got end of input" },
		{ "a1: ret #0\na1: ret #1", 2, 1,
		  "label 'a1' is already defined at line 1" },
		{ "b: ld #0\na1: ret #0\nb: ret #1\na1: ret #1", 3, 1,
		  "label 'b' is already defined at line 1" },
		{ "back: ld #1\n jeq #1, back\n ret #0", 2, 10,
		  "jump to label 'back' (line 1) goes backwards" },
		{ "self: ja self\nret #0", 1, 10, "goes backwards" },
		{ "ld #1\nend:", 2, 1,
		  "label 'end' is not followed by an instruction" },
		{ "ld #0x100000000", 1, 5, "'0x100000000' does not fit in 32 bits" },
		{ "ld #-2147483649", 1, 5, "'-2147483649' does not fit in 32 bits" },
		{ "ld #99999999999999999999999", 1, 5, "does not fit in 32 bits" },
		{ "ld #0x", 1, 5, "'0x' is not a number" },
		{ "ld #08", 1, 5, "'08' is not a number" },
		{ "ld #0b2", 1, 5, "'0b2' is not a number" },
		{ "ld #12ab", 1, 5, "'12ab' is not a number" },
		{ "ld #-x", 1, 6, "expected a number, got 'x'" },
		{ "ldx 3*([14]&0xf)", 1, 5, "only 4*([k]&0xf) exists (BPF_MSH), "
		  "not 3*([k]&0xf)" },
		{ "ldx 4*([14]&0xff)", 1, 5, "not 4*([k]&0xff)" },
		{ "ldxb [14]", 1, 6, "expected 4*([k]&0xf) after 'ldxb', got '['" },
		{ "ldx [14]", 1, 5, "after 'ldx', got '['" },
		{ "st [3]", 1, 4, "expected M[k] after 'st', got '['" },
		{ "add", 1, 4, "expected #k or x after 'add', got end of input" },
		{ "add a", 1, 5, "expected #k or x after 'add', got 'a'" },
		{ "ld #1 /* unterminated", 1, 7, "unterminated /* comment" },
		{ "ld #1\n@", 2, 1, "expected an instruction or a label, got '@'" },
		{ "ld #1\n:", 2, 1, "expected an instruction or a label, got ':'" },
		{ "ld #1 5", 1, 7, "expected an instruction or a label, got '5'" },
		{ "ld #1\n\xff", 2, 1, "got '\\xff'" },
	};

	(void)state;
	for (size_t i = 0; i < LEN(cases); i++)
		check_error_str(parse_asm, cases[i].text, cases[i].line,
				cases[i].col, cases[i].msg);
	check_error(parse_asm, "ld #1\0ret a", 11, 1, 6,
		    "expected an instruction or a label, got '\\x00'");
}

static void test_asm_insn_index(void **state)
{
	struct cbpf_error err = { 0 };
	struct cbpf_prog p;

	(void)state;
	assert_int_equal(cbpf_parse("ld #1\nld #2\nret q", 17, CBPF_FORM_ASM,
				    &p, &err),
			 -EINVAL);
	assert_int_equal(err.insn, 2);
	assert_int_equal(cbpf_parse("ld #1\nja x1\nret #0", 18, CBPF_FORM_ASM,
				    &p, &err),
			 -EINVAL);
	assert_int_equal(err.insn, 1);
	assert_int_equal(cbpf_parse("@", 1, CBPF_FORM_ASM, &p, &err), -EINVAL);
	assert_int_equal(err.insn, -1);
}

static void test_asm_limits(void **state)
{
	struct cbpf_prog p;
	size_t n = 65536;
	char *s = xmalloc(n * 7 + 1), *q = s;

	(void)state;
	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		q += sprintf(q, "ret #0\n");
	check_error(parse_asm, s, (size_t)(q - s), 65536, 1,
		    "more than 65535 instructions");
	assert_int_equal(cbpf_parse(s, (size_t)(q - s) - 7, CBPF_FORM_ASM, &p,
				    NULL), 0);
	assert_int_equal(p.len, 65535);
	cbpf_prog_free(&p);
	free(s);
	assert_int_equal(parse_asm(" ; nothing\n", 11, &p, NULL), 0);
	assert_int_equal(p.len, 0);
	assert_non_null(p.insns);
	cbpf_prog_free(&p);
}

/* ---- round trips --------------------------------------------------- */

static void round_trip(const struct sock_filter *f, size_t n,
		       enum cbpf_form fmt, parse_fn parse,
		       const struct sock_filter *want)
{
	struct cbpf_error err = { 0 };
	struct cbpf_prog p;
	char *s;

	s = format_array(f, n, fmt, 0);
	if (parse(s, strlen(s), &p, &err)) {
		fprintf(stderr, "%d:%d: %s in:\n%s", err.line, err.column,
			err.msg, s);
		fail();
	}
	check_same(&p, want, n);
	cbpf_prog_free(&p);
	free(s);
}

/* Some kernel-valid program, with junk in the ignored fields. */
static size_t random_valid(struct gen *g, struct sock_filter *f, size_t max,
			   bool junk)
{
	size_t n = gen_program(g, f, max, 0);
	struct cbpf_prog prog = { .len = n, .insns = f };
	struct cbpf_insn in;

	assert_int_equal(cbpf_validate(&prog, NULL), 0);
	for (size_t i = 0; junk && i < n; i++) {
		if (cbpf_decode(&f[i], &in) || in.op == CBPF_OP_JMP ||
		    gen_below(g, 3))
			continue;
		f[i].jt = (uint8_t)gen_u32(g);
		f[i].jf = (uint8_t)gen_u32(g);
		if (in.op == CBPF_OP_NEG || in.op == CBPF_OP_TAX ||
		    in.op == CBPF_OP_TXA || in.src == CBPF_SRC_A ||
		    (in.op != CBPF_OP_JA && in.src == CBPF_SRC_X) ||
		    in.mode == CBPF_MODE_LEN)
			f[i].k = gen_u32(g);
	}
	return n;
}

static void test_round_trip_valid(void **state)
{
	struct sock_filter f[GEN_MAX_INSNS], c[GEN_MAX_INSNS];
	struct gen g;
	size_t n;

	(void)state;
	gen_init(&g, 42);
	for (int i = 0; i < 3000; i++) {
		n = random_valid(&g, f, LEN(f), i & 1);
		memcpy(c, f, sizeof(f));
		canonicalize(c, n);
		round_trip(f, n, CBPF_FORM_ASM, parse_asm, c);
		round_trip(c, n, CBPF_FORM_ASM, parse_asm, c);
		round_trip(f, n, CBPF_FORM_DDD, parse_numeric, f);
		round_trip(f, n, CBPF_FORM_DD, parse_numeric, f);
		round_trip(f, n, CBPF_FORM_COMMA, parse_numeric, f);
		round_trip(f, n, CBPF_FORM_ASM, parse_any, c);
		round_trip(f, n, CBPF_FORM_COMMA, parse_any, f);
	}
}

/* Every decodable opcode (also LDX LEN, which gen may not use), any k,
 * jumps anywhere inside the program, junk in ignored fields. */
static void test_round_trip_decodable(void **state)
{
	struct sock_filter f[300], c[300];
	uint16_t codes[64];
	size_t ncodes = 0, n;
	uint32_t reach;
	struct gen g;

	(void)state;
	for (unsigned int code = 0; code < 256; code++)
		if (cbpf_code_allowed((uint16_t)code))
			codes[ncodes++] = (uint16_t)code;
	assert_int_equal(ncodes, 49);
	gen_init(&g, 4242);
	for (int iter = 0; iter < 1000; iter++) {
		n = 1 + gen_below(&g, LEN(f));
		for (size_t i = 0; i < n; i++) {
			f[i] = (struct sock_filter){
				codes[gen_below(&g, (uint32_t)ncodes)],
				(uint8_t)gen_u32(&g), (uint8_t)gen_u32(&g),
				gen_below(&g, 4) ? gen_u32(&g) :
				(uint32_t)SKF_AD_OFF + gen_below(&g, 80),
			};
			if (BPF_CLASS(f[i].code) != BPF_JMP)
				continue;
			if (i + 1 == n) {
				f[i] = (struct sock_filter){ BPF_RET | BPF_A };
				continue;
			}
			/* Any target in i+1 .. n-1. */
			reach = n - i - 1 < 256 ? (uint32_t)(n - i - 1) : 256;
			f[i].jt = (uint8_t)gen_below(&g, reach);
			f[i].jf = (uint8_t)gen_below(&g, reach);
			if (BPF_OP(f[i].code) == BPF_JA)
				f[i].k = gen_below(&g, (uint32_t)(n - i - 1));
		}
		memcpy(c, f, sizeof(f));
		canonicalize(c, n);
		round_trip(f, n, CBPF_FORM_ASM, parse_asm, c);
		round_trip(f, n, CBPF_FORM_DDD, parse_numeric, f);
	}
}

/* The numeric forms carry any bytes at all. */
static void test_round_trip_raw(void **state)
{
	struct sock_filter f[200];
	struct gen g;
	size_t n;

	(void)state;
	gen_init(&g, 99);
	for (int iter = 0; iter < 500; iter++) {
		n = 1 + gen_below(&g, LEN(f));
		for (size_t i = 0; i < n; i++)
			f[i] = (struct sock_filter){
				(uint16_t)gen_u32(&g), (uint8_t)gen_u32(&g),
				(uint8_t)gen_u32(&g), gen_u32(&g),
			};
		round_trip(f, n, CBPF_FORM_DDD, parse_numeric, f);
		round_trip(f, n, CBPF_FORM_DD, parse_numeric, f);
		round_trip(f, n, CBPF_FORM_COMMA, parse_numeric, f);
		free(format_array(f, n, CBPF_FORM_TCPDUMP, 0));
		free(format_array(f, n, CBPF_FORM_ASM, 0));
		free(format_array(f, n, CBPF_FORM_C, 0));
		free(format_array(f, n, CBPF_FORM_DOT, 0));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcpdump_small),
		cmocka_unit_test(test_tcpdump_every_form),
		cmocka_unit_test(test_tcpdump_targets),
		cmocka_unit_test(test_numeric_formats),
		cmocka_unit_test(test_asm_format),
		cmocka_unit_test(test_asm_format_odd),
		cmocka_unit_test(test_c_format),
		cmocka_unit_test(test_c_compiles),
		cmocka_unit_test(test_dot_format),
		cmocka_unit_test(test_format_bad),
		cmocka_unit_test(test_parse_prog_forms),
		cmocka_unit_test(test_parse_forced_form),
		cmocka_unit_test(test_parse_prog_empty),
		cmocka_unit_test(test_parse_prog_errors),
		cmocka_unit_test(test_parse_prog_len),
		cmocka_unit_test(test_parse_prog_limits),
		cmocka_unit_test(test_detect_form),
		cmocka_unit_test(test_parse_any),
		cmocka_unit_test(test_asm_operands),
		cmocka_unit_test(test_asm_jumps),
		cmocka_unit_test(test_asm_lexical),
		cmocka_unit_test(test_asm_far),
		cmocka_unit_test(test_asm_errors),
		cmocka_unit_test(test_asm_insn_index),
		cmocka_unit_test(test_asm_limits),
		cmocka_unit_test(test_round_trip_valid),
		cmocka_unit_test(test_round_trip_decodable),
		cmocka_unit_test(test_round_trip_raw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
