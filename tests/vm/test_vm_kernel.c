/* SPDX-License-Identifier: MIT */
/*
 * Differential test: the VM against the running kernel.
 *
 * Random valid programs (tests/common/gen.h) run on random packets both in
 * the VM (AF_UNIX context) and as the filter of an AF_UNIX datagram
 * socketpair, where a verdict v shows up as "dropped" (v == 0) or as the
 * datagram trimmed to min(v, len).
 *
 * That hides most of a 32-bit verdict, so for packets of at least 257
 * bytes the program is also rewritten: every RET jumps to a shared tail
 * "rsh #s; and #0xff; add #1; ret a" (RET K loads its constant into A
 * first), and run for s = 0, 8, 16, 24. Each run delivers byte s of the
 * verdict plus one (1..256 < len), which reassemble into the full value;
 * a run that ended without reaching a RET (out-of-bounds load, division
 * by X == 0) still drops. The VM runs the rewritten programs too and must
 * agree with the kernel on each; when the original ended in a RET, the
 * reassembled value must be the VM's verdict. IFINDEX/HATYPE exit early
 * with A (no device on AF_UNIX) in both the original and the rewrite,
 * which the VM models the same way.
 *
 * Every generated program also makes the round trips through text
 * (issue 4 section 4): cbpf_format() as bpf_asm and as tcpdump -ddd, read
 * back by cbpf_parse() in the same form, must give the same
 * bytes.
 *
 * CBPF_ITERATIONS=n sets the number of program/packet pairs (default
 * 200000), CBPF_LONG=1 makes it 2000000, CBPF_SEED=n changes the seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cbpf.h"
#include "gen.h"
#include "oracle.h"
#include "internal.h"	/* vm_new(): the interpreter-only VM too */

#define PACKETS_PER_PROG 8
#define FULL_LEN 257	/* trimming shows byte + 1 <= 256 only below this */
#define TAIL_LEN 4
/* A RET K becomes two instructions, plus the tail. */
#define MAX_REWRITE (2 * GEN_MAX_INSNS + TAIL_LEN)

struct stats {
	uint64_t pairs, programs, full, exits[CBPF_EXIT_INVALID + 1];
	uint64_t round_trips;
	uint64_t nla_found;
	uint64_t jitted;	/* programs cbpf_vm_run() ran as native code */
	bool codes[256];
	bool anc[SKF_AD_MAX / 4];
};

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

/*
 * Copies insns[0..n) to out with every RET replaced by a jump to the tail
 * "rsh #shift; and #0xff; add #1; ret a". Returns the new length.
 */
static size_t rewrite(const struct sock_filter *insns, size_t n,
		      uint32_t shift, struct sock_filter *out)
{
	uint32_t at[GEN_MAX_INSNS + 1];
	uint32_t pos = 0, tail, i;

	for (i = 0; i < n; i++) {
		at[i] = pos;
		pos += insns[i].code == (BPF_RET | BPF_K) ? 2 : 1;
	}
	tail = pos;
	for (i = 0; i < n; i++) {
		struct sock_filter f = insns[i];
		uint32_t o = at[i];

		switch (f.code) {
		case BPF_RET | BPF_K:
			out[o++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, f.k);
			/* fall through */
		case BPF_RET | BPF_A:
			out[o] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA,
							      tail - o - 1, 0, 0);
			break;
		case BPF_JMP | BPF_JA:
			f.k = at[i + 1 + f.k] - o - 1;
			out[o] = f;
			break;
		default:
			if (BPF_CLASS(f.code) == BPF_JMP) {
				uint32_t jt = at[i + 1 + f.jt] - o - 1;
				uint32_t jf = at[i + 1 + f.jf] - o - 1;

				assert_true(jt <= 255 && jf <= 255);
				f.jt = (uint8_t)jt;
				f.jf = (uint8_t)jf;
			}
			out[o] = f;
			break;
		}
	}
	out[tail] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, shift);
	out[tail + 1] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff);
	out[tail + 2] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1);
	out[tail + 3] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
	return tail + TAIL_LEN;
}

/* Prints the case (program as tcpdump -ddd, packet as hex) and fails. */
static void report(const char *what, uint64_t seed,
		   const struct sock_filter *insns, size_t n,
		   const uint8_t *pkt, size_t len, long vm, long kernel)
{
	fprintf(stderr, "MISMATCH (%s), CBPF_SEED=%" PRIu64 "\nprogram:\n",
		what, seed);
	gen_print_ddd(stderr, insns, n);
	fprintf(stderr, "packet (%zu bytes):\n", len);
	gen_print_hex(stderr, pkt, len);
	fprintf(stderr, "VM: %ld, kernel: %ld (-1 = dropped)\n", vm, kernel);
	fail_msg("mismatch: %s", what);
}

static void note_step(const struct cbpf_step *step, void *arg)
{
	struct stats *st = arg;
	uint16_t code = step->insn.code;

	st->codes[code & 0xff] = true;
	if (BPF_CLASS(code) == BPF_LD && BPF_MODE(code) == BPF_ABS &&
	    step->insn.k >= (uint32_t)SKF_AD_OFF) {
		uint32_t n = step->insn.k - (uint32_t)SKF_AD_OFF;

		st->anc[n / 4] = true;
		if ((n == SKF_AD_NLATTR || n == SKF_AD_NLATTR_NEST) && step->a)
			st->nla_found++;
	}
}

/* insns -> text in form -> cbpf_parse() in that form -> the same bytes. */
static void check_round_trip(struct stats *st, uint64_t seed,
			     const struct sock_filter *insns, size_t n,
			     enum cbpf_form form, const char *what)
{
	struct cbpf_prog prog = { .len = n, .insns = (struct sock_filter *)insns };
	struct cbpf_prog back = { 0 };
	struct cbpf_error err = { 0 };
	char *text = cbpf_format(&prog, form, 0);
	int ret;

	assert_non_null(text);
	ret = cbpf_parse(text, strlen(text), form, &back, &err);
	if (ret < 0 || back.len != n ||
	    memcmp(back.insns, insns, n * sizeof(*insns))) {
		fprintf(stderr, "ROUND TRIP (%s), CBPF_SEED=%" PRIu64
			"\nprogram:\n", what, seed);
		gen_print_ddd(stderr, insns, n);
		fprintf(stderr, "text:\n%s", text);
		if (ret < 0)
			fprintf(stderr, "parse error %d, line %d column %d: %s\n",
				ret, err.line, err.column, err.msg);
		else {
			fprintf(stderr, "read back:\n");
			gen_print_ddd(stderr, back.insns, back.len);
		}
		fail_msg("round trip through %s changed the program", what);
	}
	st->round_trips++;
	cbpf_prog_free(&back);
	free(text);
}

/* One program on a batch of packets, original and rewritten. */
static void check_program(struct oracle *o, struct stats *st, uint64_t seed,
			  const struct sock_filter *insns, size_t n,
			  uint8_t pkts[][GEN_MAX_PKT], const size_t *lens,
			  int npkts)
{
	struct cbpf_prog prog = { .len = n, .insns = (struct sock_filter *)insns };
	struct sock_filter rw[MAX_REWRITE];
	struct cbpf_result res[PACKETS_PER_PROG];
	long bytes[PACKETS_PER_PROG][4];
	struct cbpf_vm *vm, *interp;
	struct cbpf_error verr = { 0 };
	int err, i, s;

	/* Both ways cbpf_vm_run() can run it: native code where the JIT
	 * takes the program, and the interpreter. */
	vm = cbpf_vm_new(&prog, &verr);
	interp = vm_new(&prog, &verr, VM_NO_JIT);
	if (!vm || !interp) {
		gen_print_ddd(stderr, insns, n);
		fail_msg("cbpf_vm_new rejected a generated program: %s",
			 verr.msg);
	}
	assert_false(vm_is_jit(interp));
	st->jitted += vm_is_jit(vm);
	err = oracle_attach(o, insns, n);
	if (err) {
		gen_print_ddd(stderr, insns, n);
		fail_msg("the kernel rejected a generated program: %d", err);
	}
	for (i = 0; i < npkts; i++) {
		uint32_t v = cbpf_vm_run(vm, pkts[i], lens[i], NULL);
		uint32_t vi = cbpf_vm_run(interp, pkts[i], lens[i], NULL);
		uint32_t t = cbpf_run_trace(&prog, pkts[i], lens[i], NULL,
					    &res[i], note_step, st);
		long k = oracle_run(o, pkts[i], lens[i]);

		if (k < ORACLE_DROPPED)
			fail_msg("socket error %ld", k);
		if (t != v)	/* "kernel" here is cbpf_vm_run */
			report("cbpf_run_trace vs cbpf_vm_run", seed, insns, n,
			       pkts[i], lens[i], t, v);
		if (vi != v)
			report("interpreter vs cbpf_vm_run", seed, insns, n,
			       pkts[i], lens[i], vi, v);
		if (k != oracle_expect(v, lens[i]))
			report("original program", seed, insns, n, pkts[i],
			       lens[i], oracle_expect(v, lens[i]), k);
		st->exits[res[i].exit]++;
	}
	cbpf_vm_free(vm);
	cbpf_vm_free(interp);

	for (s = 0; s < 4; s++) {
		size_t rn = rewrite(insns, n, 8 * s, rw);
		struct cbpf_prog rprog = { .len = rn, .insns = rw };

		err = oracle_attach(o, rw, rn);
		if (err) {
			gen_print_ddd(stderr, rw, rn);
			fail_msg("the kernel rejected a rewritten program: %d", err);
		}
		for (i = 0; i < npkts; i++) {
			uint32_t v;
			long k;

			if (lens[i] < FULL_LEN)
				continue;
			v = cbpf_run(&rprog, pkts[i], lens[i], NULL);
			k = oracle_run(o, pkts[i], lens[i]);
			if (k != oracle_expect(v, lens[i])) {
				char what[64];

				snprintf(what, sizeof(what),
					 "rewritten program, rsh #%d", 8 * s);
				report(what, seed, rw, rn, pkts[i], lens[i],
				       oracle_expect(v, lens[i]), k);
			}
			bytes[i][s] = k;
		}
	}

	for (i = 0; i < npkts; i++) {
		uint32_t full = 0;

		if (lens[i] < FULL_LEN || res[i].exit != CBPF_EXIT_RET)
			continue;
		for (s = 0; s < 4; s++) {
			if (bytes[i][s] < 1 || bytes[i][s] > 256)
				report("tail not reached", seed, insns, n, pkts[i],
				       lens[i], res[i].verdict, bytes[i][s]);
			full |= (uint32_t)(bytes[i][s] - 1) << (8 * s);
		}
		if (full != res[i].verdict)
			report("full 32-bit verdict", seed, insns, n, pkts[i],
			       lens[i], res[i].verdict, full);
		st->full++;
	}
}

static void test_vm_matches_kernel(void **state)
{
	uint64_t target = env_u64("CBPF_ITERATIONS",
				  getenv("CBPF_LONG") ? 2000000 : 200000);
	uint64_t seed = env_u64("CBPF_SEED", 0xcbbf2026);
	static uint8_t pkts[PACKETS_PER_PROG][GEN_MAX_PKT];
	struct sock_filter insns[GEN_MAX_INSNS];
	size_t lens[PACKETS_PER_PROG];
	struct stats st = { 0 };
	struct oracle o;
	struct gen g;
	int missing = 0;
	unsigned int c;

	(void)state;
	assert_int_equal(oracle_open(&o), 0);
	gen_init(&g, seed);
	while (st.pairs < target) {
		size_t n = gen_program(&g, insns, GEN_MAX_INSNS, GEN_DETERMINISTIC);
		int i;

		for (i = 0; i < PACKETS_PER_PROG; i++)
			lens[i] = gen_packet(&g, pkts[i], GEN_MAX_PKT);
		check_program(&o, &st, seed, insns, n, pkts, lens,
			      PACKETS_PER_PROG);
		check_round_trip(&st, seed, insns, n, CBPF_FORM_ASM, "bpf_asm");
		check_round_trip(&st, seed, insns, n, CBPF_FORM_DDD,
				 "tcpdump -ddd");
		st.programs++;
		st.pairs += PACKETS_PER_PROG;
	}
	oracle_close(&o);

	printf("seed %" PRIu64 ": %" PRIu64 " programs, %" PRIu64
	       " program/packet pairs, %" PRIu64 " full 32-bit verdicts\n",
	       seed, st.programs, st.pairs, st.full);
	printf("text round trips: %" PRIu64 "\n", st.round_trips);
	printf("programs run as native code: %" PRIu64 "\n", st.jitted);
	printf("exits: ret %" PRIu64 ", oob %" PRIu64 ", div0 %" PRIu64
	       ", nodev %" PRIu64 "; nla found %" PRIu64 "\n",
	       st.exits[CBPF_EXIT_RET], st.exits[CBPF_EXIT_OOB],
	       st.exits[CBPF_EXIT_DIV0], st.exits[CBPF_EXIT_NODEV],
	       st.nla_found);

	/* The run must have covered what it claims to: every opcode, every
	 * deterministic ancillary load, every way a run ends. */
	if (target < 20000)
		return;
	for (c = 0; c < 256; c++) {
		if (cbpf_code_allowed((uint16_t)c) && !st.codes[c]) {
			printf("opcode 0x%02x never ran\n", c);
			missing++;
		}
	}
	for (c = 0; c < SKF_AD_MAX / 4; c++) {
		if (c * 4 == SKF_AD_RANDOM || c * 4 == SKF_AD_CPU)
			continue;
		if (!st.anc[c]) {
			printf("ancillary load %u never ran\n", c * 4);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
	assert_true(st.exits[CBPF_EXIT_OOB] > 0 && st.exits[CBPF_EXIT_DIV0] > 0);
	assert_true(st.exits[CBPF_EXIT_NODEV] > 0);
	assert_true(st.full > target / 20);
	assert_true(st.nla_found > 0);
	assert_true(st.round_trips == 2 * st.programs);
#if defined(__x86_64__)
	/* The JIT took a good share of the programs (it leaves those with
	 * ancillary loads to the interpreter). */
	assert_true(st.jitted > st.programs / 4);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_matches_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
