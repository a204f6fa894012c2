/* SPDX-License-Identifier: MIT */
/* Encoding and decoding: the 49 codes, byte-exact round trips, anc names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include "cbpf.h"

/* The kernel's whitelist, written out from the reference by hand rather
 * than derived from lib/insn.c, so the two can disagree. */
static const uint16_t kernel_codes[] = {
	0x04, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x84, 0x94, 0xa4,
	0x0c, 0x1c, 0x2c, 0x3c, 0x4c, 0x5c, 0x6c, 0x7c, 0x9c, 0xac,
	0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x80, 0x00, 0x60,
	0x81, 0xb1, 0x01, 0x61,
	0x02, 0x03,
	0x07, 0x87,
	0x06, 0x16,
	0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d,
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static bool in_kernel_list(uint16_t code)
{
	size_t i;

	for (i = 0; i < sizeof(kernel_codes) / sizeof(kernel_codes[0]); i++)
		if (kernel_codes[i] == code)
			return true;
	return false;
}

static void assert_round_trip(struct sock_filter raw)
{
	struct cbpf_insn insn;
	struct sock_filter again;

	memset(&again, 0xa5, sizeof(again));
	assert_int_equal(cbpf_decode(&raw, &insn), 0);
	assert_int_equal(cbpf_encode(&insn, &again), 0);
	assert_int_equal(again.code, raw.code);
	assert_int_equal(again.jt, raw.jt);
	assert_int_equal(again.jf, raw.jf);
	assert_int_equal(again.k, raw.k);
}

static void test_list_has_49_codes(void **state)
{
	(void)state;
	assert_int_equal(sizeof(kernel_codes) / sizeof(kernel_codes[0]), 49);
}

static void test_round_trip_all_49(void **state)
{
	static const uint32_t ks[] = { 0, 1, 15, 16, 31, 32, 0x7fffffff,
				       0x80000000, 0xfffff000, 0xffffffff };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(kernel_codes) / sizeof(kernel_codes[0]); i++)
		for (j = 0; j < sizeof(ks) / sizeof(ks[0]); j++)
			assert_round_trip((struct sock_filter){
				kernel_codes[i], (uint8_t)j, (uint8_t)(255 - j), ks[j] });
}

static void test_round_trip_random(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 200000; i++) {
		uint32_t r = rnd();

		assert_round_trip((struct sock_filter){
			kernel_codes[r % 49], (uint8_t)(r >> 8),
			(uint8_t)(r >> 16), rnd() });
	}
}

/* All 65536 codes: the whitelist, decode and the hand-written list agree. */
static void test_every_code(void **state)
{
	struct cbpf_insn insn;
	unsigned int c, allowed = 0;

	(void)state;
	for (c = 0; c <= 0xffff; c++) {
		struct sock_filter raw = { (uint16_t)c, 1, 2, 3 };
		bool ok = cbpf_code_allowed((uint16_t)c);

		assert_int_equal(ok, in_kernel_list((uint16_t)c));
		assert_int_equal(cbpf_decode(&raw, &insn), ok ? 0 : -EINVAL);
		allowed += ok;
	}
	assert_int_equal(allowed, 49);
}

static struct cbpf_insn decoded(uint16_t code)
{
	struct sock_filter raw = { code, 0, 0, 0 };
	struct cbpf_insn insn;

	assert_int_equal(cbpf_decode(&raw, &insn), 0);
	return insn;
}

static void test_decode_fields(void **state)
{
	struct cbpf_insn i;

	(void)state;
	i = decoded(0x28);
	assert_int_equal(i.op, CBPF_OP_LD);
	assert_int_equal(i.mode, CBPF_MODE_ABS);
	assert_int_equal(i.size, CBPF_SIZE_H);
	i = decoded(0x50);
	assert_int_equal(i.op, CBPF_OP_LD);
	assert_int_equal(i.mode, CBPF_MODE_IND);
	assert_int_equal(i.size, CBPF_SIZE_B);
	i = decoded(0x80);
	assert_int_equal(i.mode, CBPF_MODE_LEN);
	i = decoded(0x60);
	assert_int_equal(i.mode, CBPF_MODE_MEM);
	i = decoded(0x00);
	assert_int_equal(i.mode, CBPF_MODE_IMM);
	i = decoded(0xb1);
	assert_int_equal(i.op, CBPF_OP_LDX);
	assert_int_equal(i.mode, CBPF_MODE_MSH);
	i = decoded(0x81);
	assert_int_equal(i.op, CBPF_OP_LDX);
	assert_int_equal(i.mode, CBPF_MODE_LEN);
	i = decoded(0x84);
	assert_int_equal(i.op, CBPF_OP_NEG);
	i = decoded(0x9c);
	assert_int_equal(i.op, CBPF_OP_ALU);
	assert_int_equal(i.alu, CBPF_ALU_MOD);
	assert_int_equal(i.src, CBPF_SRC_X);
	i = decoded(0xa4);
	assert_int_equal(i.alu, CBPF_ALU_XOR);
	assert_int_equal(i.src, CBPF_SRC_K);
	i = decoded(0x74);
	assert_int_equal(i.alu, CBPF_ALU_RSH);
	i = decoded(0x16);
	assert_int_equal(i.op, CBPF_OP_RET);
	assert_int_equal(i.src, CBPF_SRC_A);
	i = decoded(0x06);
	assert_int_equal(i.src, CBPF_SRC_K);
	i = decoded(0x05);
	assert_int_equal(i.op, CBPF_OP_JA);
	i = decoded(0x1d);
	assert_int_equal(i.op, CBPF_OP_JMP);
	assert_int_equal(i.cond, CBPF_COND_EQ);
	assert_int_equal(i.src, CBPF_SRC_X);
	i = decoded(0x25);
	assert_int_equal(i.cond, CBPF_COND_GT);
	i = decoded(0x35);
	assert_int_equal(i.cond, CBPF_COND_GE);
	i = decoded(0x4d);
	assert_int_equal(i.cond, CBPF_COND_SET);
	i = decoded(0x02);
	assert_int_equal(i.op, CBPF_OP_ST);
	i = decoded(0x03);
	assert_int_equal(i.op, CBPF_OP_STX);
	i = decoded(0x07);
	assert_int_equal(i.op, CBPF_OP_TAX);
	i = decoded(0x87);
	assert_int_equal(i.op, CBPF_OP_TXA);
}

static int encode_code(struct cbpf_insn insn)
{
	struct sock_filter raw;
	int err = cbpf_encode(&insn, &raw);

	return err ? err : raw.code;
}

static void test_encode_rejects_non_kernel_codes(void **state)
{
	(void)state;
	/* LDX ABS/IND, LD MSH: no such opcode in Linux. */
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LDX,
		.mode = CBPF_MODE_ABS, .size = CBPF_SIZE_W }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LDX,
		.mode = CBPF_MODE_IND, .size = CBPF_SIZE_B }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LD,
		.mode = CBPF_MODE_MSH }), -EINVAL);
	/* RET X (0x0e) is what bpf_asm emits; Linux refuses it. */
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_RET,
		.src = CBPF_SRC_X }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_NEG,
		.src = CBPF_SRC_X }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_ALU,
		.alu = CBPF_ALU_ADD, .src = CBPF_SRC_A }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LD,
		.mode = CBPF_MODE_ABS, .size = 3 }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = 99 }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_ALU,
		.alu = 10 }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_JMP,
		.cond = 8 }), -EINVAL);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LD,
		.mode = 6 }), -EINVAL);
}

static void test_encode_codes(void **state)
{
	(void)state;
	/* Size is ignored where the mode has none: LD IMM is 0x00. */
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LD,
		.mode = CBPF_MODE_IMM, .size = CBPF_SIZE_B }), 0x00);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LD,
		.mode = CBPF_MODE_LEN }), 0x80);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LDX,
		.mode = CBPF_MODE_MSH }), 0xb1);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_LD,
		.mode = CBPF_MODE_IND, .size = CBPF_SIZE_H }), 0x48);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_ALU,
		.alu = CBPF_ALU_LSH, .src = CBPF_SRC_X }), 0x6c);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_NEG }),
			 0x84);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_RET,
		.src = CBPF_SRC_A }), 0x16);
	assert_int_equal(encode_code((struct cbpf_insn){ .op = CBPF_OP_JMP,
		.cond = CBPF_COND_SET, .src = CBPF_SRC_X }), 0x4d);
}

/* NE, LT, LE and CLEAR are EQ, GE, GT and SET with the targets swapped. */
static void test_encode_lowered_conditions(void **state)
{
	static const struct {
		enum cbpf_cond cond;
		uint16_t code;
		bool swapped;
	} t[] = {
		{ CBPF_COND_EQ, 0x15, false }, { CBPF_COND_NE, 0x15, true },
		{ CBPF_COND_GT, 0x25, false }, { CBPF_COND_GE, 0x35, false },
		{ CBPF_COND_LT, 0x35, true },  { CBPF_COND_LE, 0x25, true },
		{ CBPF_COND_SET, 0x45, false }, { CBPF_COND_CLEAR, 0x45, true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cbpf_insn insn = { .op = CBPF_OP_JMP, .cond = t[i].cond,
					  .src = CBPF_SRC_K, .k = 42,
					  .jt = 3, .jf = 9 };
		struct sock_filter raw;

		assert_int_equal(cbpf_encode(&insn, &raw), 0);
		assert_int_equal(raw.code, t[i].code);
		assert_int_equal(raw.k, 42);
		assert_int_equal(raw.jt, t[i].swapped ? 9 : 3);
		assert_int_equal(raw.jf, t[i].swapped ? 3 : 9);
		insn.src = CBPF_SRC_X;
		assert_int_equal(cbpf_encode(&insn, &raw), 0);
		assert_int_equal(raw.code, t[i].code | BPF_X);
	}
}

static void test_anc_names(void **state)
{
	static const char *const names[] = {
		"proto", "type", "ifidx", "nla", "nlan", "mark", "queue",
		"hatype", "rxhash", "cpu", "xor_x", "vlan_tci", "vlan_avail",
		"poff", "rand", "vlan_tpid",
	};
	unsigned int n;

	(void)state;
	for (n = 0; n < 16; n++)
		assert_string_equal(cbpf_anc_name(n * 4), names[n]);
	for (n = 0; n < 200; n++)
		if (n % 4 || n >= 64)
			assert_null(cbpf_anc_name(n));
	/* Rule 2: an unknown n is NULL with errno EINVAL. */
	errno = 0;
	assert_null(cbpf_anc_name(0xffffffffu));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cbpf_anc_name(2));
	assert_int_equal(errno, EINVAL);
	assert_string_equal(cbpf_anc_name(CBPF_ANC_VLAN_TPID), "vlan_tpid");
}

static int anc(uint16_t code, uint32_t k)
{
	struct sock_filter raw = { code, 0, 0, k };

	return cbpf_insn_anc(&raw);
}

static void test_insn_anc(void **state)
{
	uint32_t off = (uint32_t)SKF_AD_OFF;

	(void)state;
	assert_int_equal(anc(0x20, off), 0);
	assert_int_equal(anc(0x28, off + 60), 60);
	assert_int_equal(anc(0x30, off + 40), 40);
	assert_int_equal(anc(0x20, off + 2), -EINVAL);
	assert_int_equal(anc(0x20, off + 64), -EINVAL);
	assert_int_equal(anc(0x20, 0xffffffff), -EINVAL);
	assert_int_equal(anc(0x20, off - 1), -ENOENT);
	assert_int_equal(anc(0x20, 14), -ENOENT);
	/* Only LD ABS is ancillary; LD IND never is (V10). */
	assert_int_equal(anc(0x40, off), -ENOENT);
	assert_int_equal(anc(0x00, off), -ENOENT);
	assert_int_equal(anc(0xb1, off), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_has_49_codes),
		cmocka_unit_test(test_round_trip_all_49),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_every_code),
		cmocka_unit_test(test_decode_fields),
		cmocka_unit_test(test_encode_rejects_non_kernel_codes),
		cmocka_unit_test(test_encode_codes),
		cmocka_unit_test(test_encode_lowered_conditions),
		cmocka_unit_test(test_anc_names),
		cmocka_unit_test(test_insn_anc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
