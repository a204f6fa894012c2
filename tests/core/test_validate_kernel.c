/* SPDX-License-Identifier: MIT */
/*
 * Differential test: cbpf_validate() against the running kernel's
 * setsockopt(SO_ATTACH_FILTER) on an AF_UNIX datagram socket.
 *
 * Programs come from a fixed seed: random ones biased toward almost
 * valid (boundary k values, jumps near the end, scratch indices around
 * 16, ancillary offsets around SKF_AD_MAX), and one-field mutations of
 * programs the kernel accepted. Accept/reject and the errno must agree.
 *
 *	CBPF_ITERATIONS=n	number of programs (default 150000)
 *	CBPF_LONG=1		a long run: 3,000,000 programs
 *	CBPF_SEED=n		another seed
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
#include <sys/socket.h>
#include <unistd.h>
#include "cbpf.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAXLEN (CBPF_MAXINSNS + 1)
#define POOL 256
#define OFF ((uint32_t)SKF_AD_OFF)

static const uint16_t codes49[] = {
	0x04, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x84, 0x94, 0xa4,
	0x0c, 0x1c, 0x2c, 0x3c, 0x4c, 0x5c, 0x6c, 0x7c, 0x9c, 0xac,
	0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x80, 0x00, 0x60,
	0x81, 0xb1, 0x01, 0x61, 0x02, 0x03, 0x07, 0x87, 0x06, 0x16,
	0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d,
};

static const uint32_t boundaries[] = {
	0, 1, 2, 3, 4, 14, 15, 16, 17, 31, 32, 33, 255, 256, 0x7fffffff,
	0x80000000, 0xffefffff, 0xfff00000, 0xffe00000, 0xffffefff,
	0xfffff000, 0xfffff03c, 0xfffff040, 0xfffffffe, 0xffffffff,
};

struct prog {
	size_t len;
	struct sock_filter insns[MAXLEN];
};

/* cbpf_validate() of p, through a cbpf_prog viewing its array. */
static int validate(const struct prog *p, struct cbpf_error *e)
{
	struct cbpf_prog view = {
		.len = p->len,
		.insns = (struct sock_filter *)p->insns,
	};

	return cbpf_validate(&view, e);
}

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int percent)
{
	return below(100) < percent;
}

static bool is_cond_jump(uint16_t code)
{
	return BPF_CLASS(code) == BPF_JMP && BPF_OP(code) != BPF_JA &&
	       cbpf_code_allowed(code);
}

static uint16_t pick_code(bool sane)
{
	unsigned int r = below(100);

	if (sane || r < 88)
		return codes49[below(LEN(codes49))];
	if (r < 96)	/* one bit away from a real opcode */
		return codes49[below(LEN(codes49))] ^ (uint16_t)(1u << below(8));
	if (r < 99)
		return (uint16_t)below(256);
	return (uint16_t)rnd();
}

/* A skip from pc: mostly in range, often right at the edge. */
static uint32_t pick_skip(size_t pc, size_t len, bool sane, uint32_t max)
{
	uint32_t room = (uint32_t)(len - pc - 1);	/* first bad skip */

	if (sane || chance(60))
		return room ? below(room < max ? room : max) : 0;
	if (chance(70))
		return room + below(3) - 1 > max ? max : room + below(3) - 1;
	return below(max + 1);
}

static uint32_t pick_k(const struct sock_filter *f, size_t pc, size_t len,
		       bool sane)
{
	switch (f->code) {
	case BPF_ST:
	case BPF_STX:
	case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_MEM:
		/* few distinct cells, so read-before-write goes both ways */
		if (sane || chance(85))
			return below(4) ? below(3) : below(16);
		return 14 + below(4);
	case BPF_ALU | BPF_LSH | BPF_K:
	case BPF_ALU | BPF_RSH | BPF_K:
		return sane ? below(32) : (chance(80) ? 28 + below(6) : rnd());
	case BPF_ALU | BPF_DIV | BPF_K:
	case BPF_ALU | BPF_MOD | BPF_K:
		return !sane && chance(30) ? 0 : 1 + below(9);
	case BPF_JMP | BPF_JA:
		return pick_skip(pc, len, sane, 0xffffffff);
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
		if (chance(50))
			return OFF + (sane ? 4 * below(16) : below(69));
		break;
	}
	if (chance(40))
		return boundaries[below(LEN(boundaries))];
	return chance(50) ? below(64) : rnd();
}

static void pick_insn(struct prog *p, size_t pc, bool sane)
{
	struct sock_filter *f = &p->insns[pc];

	f->code = pick_code(sane);
	f->k = pick_k(f, pc, p->len, sane);
	f->jt = f->jf = 0;
	if (is_cond_jump(f->code)) {
		f->jt = (uint8_t)pick_skip(pc, p->len, sane, 255);
		f->jf = (uint8_t)pick_skip(pc, p->len, sane, 255);
	} else if (chance(5)) {
		f->jt = (uint8_t)rnd();	/* ignored on non-jumps (V13) */
		f->jf = (uint8_t)rnd();
	}
}

static size_t pick_len(void)
{
	unsigned int r = below(1000);

	if (r < 900)
		return 1 + below(40);
	if (r < 985)
		return 41 + below(300);
	if (r < 990)
		return CBPF_MAXINSNS - 1 + below(3);	/* 4095..4097 */
	if (r < 999)
		return 1 + below(MAXLEN);
	return 0;
}

static void random_prog(struct prog *p)
{
	bool sane = chance(50);
	size_t pc;

	p->len = pick_len();
	for (pc = 0; pc < p->len; pc++)
		pick_insn(p, pc, sane);
	if (p->len && (sane || chance(85)))
		p->insns[p->len - 1] = (struct sock_filter)
			BPF_STMT(BPF_RET | (chance(50) ? BPF_K : BPF_A), rnd());
}

/* One field of one insn changed (or the length by one). */
static void mutate(struct prog *p)
{
	size_t pc = below((uint32_t)p->len);
	struct sock_filter *f = &p->insns[pc];

	switch (below(8)) {
	case 0:
		f->code = pick_code(false);
		break;
	case 1:
		f->code ^= (uint16_t)(1u << below(16));
		break;
	case 2:
		f->k = boundaries[below(LEN(boundaries))];
		break;
	case 3:
		f->k += below(3) - 1;
		break;
	case 4:
		f->jt += (uint8_t)(below(3) - 1);
		break;
	case 5:
		f->jf = (uint8_t)(chance(50) ? rnd() : f->jf + 1u);
		break;
	case 6:
		if (p->len > 1 && chance(50)) {
			p->len--;
		} else if (p->len < MAXLEN) {
			p->len++;
			pick_insn(p, p->len - 1, chance(50));
		}
		break;
	default:
		pick_insn(p, pc, false);
		break;
	}
}

static int kernel_verdict(int fd, const struct sock_filter *insns,
			  size_t len)
{
	struct sock_fprog fp = {
		.len = (unsigned short)len,
		.filter = (struct sock_filter *)insns,
	};

	int dummy = 0;

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)))
		return -errno;
	/* The new filter is charged before the old one is released, so a
	 * long filter left attached makes the next long one fail with
	 * ENOMEM (V14). Detach to judge every program on its own. */
	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)))
		fail_msg("SO_DETACH_FILTER: %s", strerror(errno));
	return 0;
}

static void dump(const struct prog *p)
{
	size_t i;

	fprintf(stderr, "program, %zu insns (code jt jf k):\n", p->len);
	for (i = 0; i < p->len && i < 300; i++)
		fprintf(stderr, "  %4zu: { 0x%02x, %3u, %3u, 0x%08x },\n", i,
			p->insns[i].code, p->insns[i].jt, p->insns[i].jf,
			p->insns[i].k);
	if (i < p->len)
		fprintf(stderr, "  ... %zu more\n", p->len - i);
}

struct stats {
	unsigned long runs, accepted, enomem;
	unsigned long rule[16];	/* rejections per first failing rule */
};

static int rule_of(const char *msg)
{
	const char *r = strstr(msg, "kernel rule V");
	int n = r ? atoi(r + strlen("kernel rule V")) : -1;

	return n >= 0 && n < 16 ? n : 0;
}

/* Runs one program through both; fails the test on disagreement. */
static void compare(int fd, const struct prog *p, struct stats *st)
{
	struct cbpf_error e = { 0 };
	int ours = validate(p, &e);
	int theirs = kernel_verdict(fd, p->insns, p->len);

	st->runs++;
	if (theirs == -ENOMEM) {	/* V14: optmem_max, not modelled */
		st->enomem++;
		return;
	}
	if (ours != theirs) {
		dump(p);
		fail_msg("run %lu: cbpf_validate %d (%s), kernel %d (%s)",
			 st->runs, ours, ours ? e.msg : "accepted", theirs,
			 theirs ? strerror(-theirs) : "accepted");
	}
	if (ours)
		st->rule[rule_of(e.msg)]++;
	else
		st->accepted++;
}

static unsigned long iterations(void)
{
	const char *s = getenv("CBPF_ITERATIONS");

	if (s && *s)
		return strtoul(s, NULL, 0);
	s = getenv("CBPF_LONG");
	if (s && *s && strcmp(s, "0"))
		return 3000000;
	return 150000;
}

static int unix_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	if (fd < 0)
		fail_msg("socket(AF_UNIX): %s", strerror(errno));
	return fd;
}

/* The edges the generator may miss: NULL filter, length limits. */
static void test_kernel_fixed_cases(void **state)
{
	static struct prog p;
	struct stats st = { 0 };
	int fd = unix_socket();
	size_t i;

	(void)state;
	assert_int_equal(kernel_verdict(fd, NULL, 1), -EINVAL);
	assert_int_equal(cbpf_validate(&(struct cbpf_prog){ .len = 1 }, NULL),
			 -EINVAL);
	for (i = 0; i < MAXLEN; i++)
		p.insns[i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	for (p.len = 0; p.len < 3; p.len++)
		compare(fd, &p, &st);
	for (p.len = CBPF_MAXINSNS - 1; p.len <= MAXLEN; p.len++)
		compare(fd, &p, &st);
	/* 1, 2, 4095, 4096; a host with a small optmem_max may refuse the
	 * long ones with ENOMEM (V14), which is not a disagreement. */
	assert_int_equal(st.accepted + st.enomem, 4);
	assert_true(st.accepted >= 2);
	close(fd);
}

static void test_kernel_differential(void **state)
{
	static struct prog pool[POOL], p;
	unsigned long n = iterations(), i;
	const char *seed = getenv("CBPF_SEED");
	struct stats st = { 0 };
	size_t npool = 0;
	int fd = unix_socket(), v;

	(void)state;
	rng_state = seed ? strtoull(seed, NULL, 0) : 0x5eed0c0ffeeull;
	if (!rng_state)
		rng_state = 1;
	for (i = 0; i < n; i++) {
		if (npool && chance(50)) {
			p = pool[below((uint32_t)npool)];
			mutate(&p);
			if (chance(20))
				mutate(&p);
		} else {
			random_prog(&p);
		}
		compare(fd, &p, &st);
		if (!validate(&p, NULL) &&
		    (npool < POOL || chance(10)))
			pool[npool < POOL ? npool++ : below(POOL)] = p;
	}
	close(fd);

	printf("# %lu programs: %lu accepted, %lu ENOMEM (not compared)\n",
	       st.runs, st.accepted, st.enomem);
	printf("# rejected by rule:");
	for (v = 0; v < 16; v++)
		if (st.rule[v])
			printf(" V%d %lu", v, st.rule[v]);
	printf("\n");

	/* The run must have exercised every rule, or it proves little. */
	assert_true(st.accepted > st.runs / 10);
	assert_true(st.rule[2] > 0);
	for (v = 4; v <= 12; v++)
		if (st.rule[v] < (n >= 50000 ? 20u : 1u))
			fail_msg("rule V%d hit only %lu times", v, st.rule[v]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_fixed_cases),
		cmocka_unit_test(test_kernel_differential),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
