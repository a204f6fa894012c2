/* SPDX-License-Identifier: MIT */
/*
 * Encoding and decoding of classic BPF instructions.
 *
 * The whitelist is the kernel's chk_code_allowed() (net/core/filter.c):
 * 49 opcodes, nothing else. Decoding rejects the rest, so a struct
 * cbpf_insn always names an instruction the kernel can run, and encoding
 * it again gives back the very same bytes.
 */
#include <errno.h>
#include "internal.h"

static const bool codes_allowed[256] = {
	/* 32 bit ALU operations */
	[BPF_ALU | BPF_ADD | BPF_K] = true,
	[BPF_ALU | BPF_ADD | BPF_X] = true,
	[BPF_ALU | BPF_SUB | BPF_K] = true,
	[BPF_ALU | BPF_SUB | BPF_X] = true,
	[BPF_ALU | BPF_MUL | BPF_K] = true,
	[BPF_ALU | BPF_MUL | BPF_X] = true,
	[BPF_ALU | BPF_DIV | BPF_K] = true,
	[BPF_ALU | BPF_DIV | BPF_X] = true,
	[BPF_ALU | BPF_MOD | BPF_K] = true,
	[BPF_ALU | BPF_MOD | BPF_X] = true,
	[BPF_ALU | BPF_AND | BPF_K] = true,
	[BPF_ALU | BPF_AND | BPF_X] = true,
	[BPF_ALU | BPF_OR | BPF_K] = true,
	[BPF_ALU | BPF_OR | BPF_X] = true,
	[BPF_ALU | BPF_XOR | BPF_K] = true,
	[BPF_ALU | BPF_XOR | BPF_X] = true,
	[BPF_ALU | BPF_LSH | BPF_K] = true,
	[BPF_ALU | BPF_LSH | BPF_X] = true,
	[BPF_ALU | BPF_RSH | BPF_K] = true,
	[BPF_ALU | BPF_RSH | BPF_X] = true,
	[BPF_ALU | BPF_NEG] = true,
	/* Load instructions */
	[BPF_LD | BPF_W | BPF_ABS] = true,
	[BPF_LD | BPF_H | BPF_ABS] = true,
	[BPF_LD | BPF_B | BPF_ABS] = true,
	[BPF_LD | BPF_W | BPF_LEN] = true,
	[BPF_LD | BPF_W | BPF_IND] = true,
	[BPF_LD | BPF_H | BPF_IND] = true,
	[BPF_LD | BPF_B | BPF_IND] = true,
	[BPF_LD | BPF_IMM] = true,
	[BPF_LD | BPF_MEM] = true,
	[BPF_LDX | BPF_W | BPF_LEN] = true,
	[BPF_LDX | BPF_B | BPF_MSH] = true,
	[BPF_LDX | BPF_IMM] = true,
	[BPF_LDX | BPF_MEM] = true,
	/* Store instructions */
	[BPF_ST] = true,
	[BPF_STX] = true,
	/* Misc instructions */
	[BPF_MISC | BPF_TAX] = true,
	[BPF_MISC | BPF_TXA] = true,
	/* Return instructions */
	[BPF_RET | BPF_K] = true,
	[BPF_RET | BPF_A] = true,
	/* Jump instructions */
	[BPF_JMP | BPF_JA] = true,
	[BPF_JMP | BPF_JEQ | BPF_K] = true,
	[BPF_JMP | BPF_JEQ | BPF_X] = true,
	[BPF_JMP | BPF_JGE | BPF_K] = true,
	[BPF_JMP | BPF_JGE | BPF_X] = true,
	[BPF_JMP | BPF_JGT | BPF_K] = true,
	[BPF_JMP | BPF_JGT | BPF_X] = true,
	[BPF_JMP | BPF_JSET | BPF_K] = true,
	[BPF_JMP | BPF_JSET | BPF_X] = true,
};

bool cbpf_code_allowed(uint16_t code)
{
	return code < ARRAY_SIZE(codes_allowed) && codes_allowed[code];
}

/* enum cbpf_alu <-> BPF_OP() of the ALU class, in enum order. */
static const uint16_t alu_ops[] = {
	[CBPF_ALU_ADD] = BPF_ADD, [CBPF_ALU_SUB] = BPF_SUB,
	[CBPF_ALU_MUL] = BPF_MUL, [CBPF_ALU_DIV] = BPF_DIV,
	[CBPF_ALU_OR] = BPF_OR,   [CBPF_ALU_AND] = BPF_AND,
	[CBPF_ALU_LSH] = BPF_LSH, [CBPF_ALU_RSH] = BPF_RSH,
	[CBPF_ALU_MOD] = BPF_MOD, [CBPF_ALU_XOR] = BPF_XOR,
};

/* Each condition as the hardware one it is encoded with. */
static const struct {
	uint16_t op;
	bool inverted;	/* jt and jf swapped */
} jmp_conds[] = {
	[CBPF_COND_EQ] = { BPF_JEQ, false },
	[CBPF_COND_NE] = { BPF_JEQ, true },
	[CBPF_COND_GT] = { BPF_JGT, false },
	[CBPF_COND_GE] = { BPF_JGE, false },
	[CBPF_COND_LT] = { BPF_JGE, true },
	[CBPF_COND_LE] = { BPF_JGT, true },
	[CBPF_COND_SET] = { BPF_JSET, false },
	[CBPF_COND_CLEAR] = { BPF_JSET, true },
};

static const uint16_t mode_bits[] = {
	[CBPF_MODE_IMM] = BPF_IMM, [CBPF_MODE_ABS] = BPF_ABS,
	[CBPF_MODE_IND] = BPF_IND, [CBPF_MODE_MEM] = BPF_MEM,
	[CBPF_MODE_LEN] = BPF_LEN, [CBPF_MODE_MSH] = BPF_MSH,
};

bool insn_is_cond_jump(uint16_t code)
{
	return BPF_CLASS(code) == BPF_JMP && BPF_OP(code) != BPF_JA;
}

bool insn_cond_inverted(enum cbpf_cond cond)
{
	return (unsigned int)cond < ARRAY_SIZE(jmp_conds) &&
	       jmp_conds[cond].inverted;
}

static enum cbpf_size size_of_bits(uint16_t bits)
{
	switch (bits) {
	case BPF_H:
		return CBPF_SIZE_H;
	case BPF_B:
		return CBPF_SIZE_B;
	default:
		return CBPF_SIZE_W;
	}
}

static int size_bits(enum cbpf_size size, uint16_t *bits)
{
	switch (size) {
	case CBPF_SIZE_W:
		*bits = BPF_W;
		return 0;
	case CBPF_SIZE_H:
		*bits = BPF_H;
		return 0;
	case CBPF_SIZE_B:
		*bits = BPF_B;
		return 0;
	}
	return -EINVAL;
}

static enum cbpf_mode mode_of_bits(uint16_t bits)
{
	unsigned int m;

	for (m = 0; m < ARRAY_SIZE(mode_bits); m++)
		if (mode_bits[m] == bits)
			return m;
	return CBPF_MODE_IMM;	/* unreachable for allowed codes */
}

static void decode_ld(uint16_t code, struct cbpf_insn *insn)
{
	insn->op = BPF_CLASS(code) == BPF_LD ? CBPF_OP_LD : CBPF_OP_LDX;
	insn->mode = mode_of_bits(BPF_MODE(code));
	if (insn->mode == CBPF_MODE_ABS || insn->mode == CBPF_MODE_IND)
		insn->size = size_of_bits(BPF_SIZE(code));
	else if (insn->mode == CBPF_MODE_MSH)
		insn->size = CBPF_SIZE_B;
}

static void decode_alu(uint16_t code, struct cbpf_insn *insn)
{
	unsigned int a;

	if (BPF_OP(code) == BPF_NEG) {
		insn->op = CBPF_OP_NEG;
		return;
	}
	insn->op = CBPF_OP_ALU;
	insn->src = BPF_SRC(code) == BPF_X ? CBPF_SRC_X : CBPF_SRC_K;
	for (a = 0; a < ARRAY_SIZE(alu_ops); a++)
		if (alu_ops[a] == BPF_OP(code))
			insn->alu = a;
}

static void decode_jmp(uint16_t code, struct cbpf_insn *insn)
{
	if (BPF_OP(code) == BPF_JA) {
		insn->op = CBPF_OP_JA;
		return;
	}
	insn->op = CBPF_OP_JMP;
	insn->src = BPF_SRC(code) == BPF_X ? CBPF_SRC_X : CBPF_SRC_K;
	switch (BPF_OP(code)) {
	case BPF_JEQ:
		insn->cond = CBPF_COND_EQ;
		break;
	case BPF_JGT:
		insn->cond = CBPF_COND_GT;
		break;
	case BPF_JGE:
		insn->cond = CBPF_COND_GE;
		break;
	default:
		insn->cond = CBPF_COND_SET;
		break;
	}
}

int cbpf_decode(const struct sock_filter *raw, struct cbpf_insn *insn)
{
	uint16_t code = raw->code;

	if (!cbpf_code_allowed(code))
		return -EINVAL;

	*insn = (struct cbpf_insn){ .k = raw->k, .jt = raw->jt, .jf = raw->jf };
	switch (BPF_CLASS(code)) {
	case BPF_LD:
	case BPF_LDX:
		decode_ld(code, insn);
		break;
	case BPF_ST:
		insn->op = CBPF_OP_ST;
		break;
	case BPF_STX:
		insn->op = CBPF_OP_STX;
		break;
	case BPF_ALU:
		decode_alu(code, insn);
		break;
	case BPF_JMP:
		decode_jmp(code, insn);
		break;
	case BPF_RET:
		insn->op = CBPF_OP_RET;
		insn->src = BPF_RVAL(code) == BPF_A ? CBPF_SRC_A : CBPF_SRC_K;
		break;
	case BPF_MISC:
		insn->op = BPF_MISCOP(code) == BPF_TXA ? CBPF_OP_TXA : CBPF_OP_TAX;
		break;
	}
	return 0;
}

/* LD and LDX: the class bits, the mode and, for packet loads, the size. */
static int encode_ld(const struct cbpf_insn *insn, uint16_t *code)
{
	uint16_t size = BPF_W;

	if ((unsigned int)insn->mode >= ARRAY_SIZE(mode_bits))
		return -EINVAL;
	if (insn->mode == CBPF_MODE_ABS || insn->mode == CBPF_MODE_IND) {
		if (size_bits(insn->size, &size))
			return -EINVAL;
	} else if (insn->mode == CBPF_MODE_MSH) {
		size = BPF_B;
	}
	*code = (insn->op == CBPF_OP_LD ? BPF_LD : BPF_LDX) |
		size | mode_bits[insn->mode];
	return 0;
}

static int encode_src(enum cbpf_src src, uint16_t *bits)
{
	switch (src) {
	case CBPF_SRC_K:
		*bits = BPF_K;
		return 0;
	case CBPF_SRC_X:
		*bits = BPF_X;
		return 0;
	default:
		return -EINVAL;
	}
}

static int encode_code(const struct cbpf_insn *insn, uint16_t *code)
{
	uint16_t src;

	switch (insn->op) {
	case CBPF_OP_LD:
	case CBPF_OP_LDX:
		return encode_ld(insn, code);
	case CBPF_OP_ST:
		*code = BPF_ST;
		return 0;
	case CBPF_OP_STX:
		*code = BPF_STX;
		return 0;
	case CBPF_OP_ALU:
		if ((unsigned int)insn->alu >= ARRAY_SIZE(alu_ops) ||
		    encode_src(insn->src, &src))
			return -EINVAL;
		*code = BPF_ALU | alu_ops[insn->alu] | src;
		return 0;
	case CBPF_OP_NEG:
		if (insn->src != CBPF_SRC_K)
			return -EINVAL;
		*code = BPF_ALU | BPF_NEG;
		return 0;
	case CBPF_OP_JA:
		*code = BPF_JMP | BPF_JA;
		return 0;
	case CBPF_OP_JMP:
		if ((unsigned int)insn->cond >= ARRAY_SIZE(jmp_conds) ||
		    encode_src(insn->src, &src))
			return -EINVAL;
		*code = BPF_JMP | jmp_conds[insn->cond].op | src;
		return 0;
	case CBPF_OP_RET:
		/* No RET X: bpf_asm emits 0x0e for `ret x`, Linux refuses it. */
		if (insn->src == CBPF_SRC_A)
			*code = BPF_RET | BPF_A;
		else if (insn->src == CBPF_SRC_K)
			*code = BPF_RET | BPF_K;
		else
			return -EINVAL;
		return 0;
	case CBPF_OP_TAX:
		*code = BPF_MISC | BPF_TAX;
		return 0;
	case CBPF_OP_TXA:
		*code = BPF_MISC | BPF_TXA;
		return 0;
	}
	return -EINVAL;
}

int cbpf_encode(const struct cbpf_insn *insn, struct sock_filter *raw)
{
	uint16_t code;
	int err;

	err = encode_code(insn, &code);
	if (err)
		return err;
	/* Only combinations the kernel accepts: LDX ABS, LD MSH, ... fail. */
	if (!cbpf_code_allowed(code))
		return -EINVAL;

	raw->code = code;
	raw->k = insn->k;
	raw->jt = insn->jt;
	raw->jf = insn->jf;
	if (insn->op == CBPF_OP_JMP && jmp_conds[insn->cond].inverted) {
		raw->jt = insn->jf;
		raw->jf = insn->jt;
	}
	return 0;
}

/* One row per ancillary load the kernel knows: bpf_asm's name, the one
 * libpcap's bpf_image() prints (two differ), and the <linux/filter.h>
 * macro. bpf_asm has no name for ALU_XOR_X; "xor_x" is ours. */
#define ANC(n, bpf_asm, pcap) [SKF_AD_##n] = { bpf_asm, pcap, "SKF_AD_" #n }
static const struct anc_names anc_table[SKF_AD_MAX] = {
	ANC(PROTOCOL,		"proto",	"proto"),
	ANC(PKTTYPE,		"type",		"type"),
	ANC(IFINDEX,		"ifidx",	"ifidx"),
	ANC(NLATTR,		"nla",		"nla"),
	ANC(NLATTR_NEST,	"nlan",		"nlan"),
	ANC(MARK,		"mark",		"mark"),
	ANC(QUEUE,		"queue",	"queue"),
	ANC(HATYPE,		"hatype",	"hatype"),
	ANC(RXHASH,		"rxhash",	"rxhash"),
	ANC(CPU,		"cpu",		"cpu"),
	ANC(ALU_XOR_X,		"xor_x",	"xor_x"),
	ANC(VLAN_TAG,		"vlan_tci",	"vlan_tci"),
	ANC(VLAN_TAG_PRESENT,	"vlan_avail",	"vlanp"),
	ANC(PAY_OFFSET,		"poff",		"poff"),
	ANC(RANDOM,		"rand",		"random"),
	ANC(VLAN_TPID,		"vlan_tpid",	"vlan_tpid"),
};
#undef ANC

const struct anc_names *insn_anc_names(unsigned int n)
{
	if (n < ARRAY_SIZE(anc_table) && anc_table[n].bpf_asm)
		return &anc_table[n];
	return NULL;
}

const char *cbpf_anc_name(unsigned int n)
{
	const struct anc_names *names = insn_anc_names(n);

	if (!names) {
		errno = EINVAL;
		return NULL;
	}
	return names->bpf_asm;
}

int cbpf_insn_anc(const struct sock_filter *raw)
{
	uint32_t n;

	switch (raw->code) {
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
		break;
	default:
		return -ENOENT;
	}
	if (raw->k < (uint32_t)SKF_AD_OFF)
		return -ENOENT;
	/* bpf_anc_helper(): exactly the 16 known offsets, nothing between. */
	n = raw->k - (uint32_t)SKF_AD_OFF;
	return insn_anc_names(n) ? (int)n : -EINVAL;
}

static const char *const mnemonics[256] = {
	[BPF_ALU | BPF_ADD | BPF_K] = "add",  [BPF_ALU | BPF_ADD | BPF_X] = "add",
	[BPF_ALU | BPF_SUB | BPF_K] = "sub",  [BPF_ALU | BPF_SUB | BPF_X] = "sub",
	[BPF_ALU | BPF_MUL | BPF_K] = "mul",  [BPF_ALU | BPF_MUL | BPF_X] = "mul",
	[BPF_ALU | BPF_DIV | BPF_K] = "div",  [BPF_ALU | BPF_DIV | BPF_X] = "div",
	[BPF_ALU | BPF_MOD | BPF_K] = "mod",  [BPF_ALU | BPF_MOD | BPF_X] = "mod",
	[BPF_ALU | BPF_AND | BPF_K] = "and",  [BPF_ALU | BPF_AND | BPF_X] = "and",
	[BPF_ALU | BPF_OR | BPF_K] = "or",    [BPF_ALU | BPF_OR | BPF_X] = "or",
	[BPF_ALU | BPF_XOR | BPF_K] = "xor",  [BPF_ALU | BPF_XOR | BPF_X] = "xor",
	[BPF_ALU | BPF_LSH | BPF_K] = "lsh",  [BPF_ALU | BPF_LSH | BPF_X] = "lsh",
	[BPF_ALU | BPF_RSH | BPF_K] = "rsh",  [BPF_ALU | BPF_RSH | BPF_X] = "rsh",
	[BPF_ALU | BPF_NEG] = "neg",
	[BPF_LD | BPF_W | BPF_ABS] = "ld",    [BPF_LD | BPF_H | BPF_ABS] = "ldh",
	[BPF_LD | BPF_B | BPF_ABS] = "ldb",   [BPF_LD | BPF_W | BPF_LEN] = "ld",
	[BPF_LD | BPF_W | BPF_IND] = "ld",    [BPF_LD | BPF_H | BPF_IND] = "ldh",
	[BPF_LD | BPF_B | BPF_IND] = "ldb",   [BPF_LD | BPF_IMM] = "ld",
	[BPF_LD | BPF_MEM] = "ld",
	[BPF_LDX | BPF_W | BPF_LEN] = "ldx",  [BPF_LDX | BPF_B | BPF_MSH] = "ldxb",
	[BPF_LDX | BPF_IMM] = "ldx",          [BPF_LDX | BPF_MEM] = "ldx",
	[BPF_ST] = "st",                      [BPF_STX] = "stx",
	[BPF_MISC | BPF_TAX] = "tax",         [BPF_MISC | BPF_TXA] = "txa",
	[BPF_RET | BPF_K] = "ret",            [BPF_RET | BPF_A] = "ret",
	[BPF_JMP | BPF_JA] = "ja",
	[BPF_JMP | BPF_JEQ | BPF_K] = "jeq",  [BPF_JMP | BPF_JEQ | BPF_X] = "jeq",
	[BPF_JMP | BPF_JGE | BPF_K] = "jge",  [BPF_JMP | BPF_JGE | BPF_X] = "jge",
	[BPF_JMP | BPF_JGT | BPF_K] = "jgt",  [BPF_JMP | BPF_JGT | BPF_X] = "jgt",
	[BPF_JMP | BPF_JSET | BPF_K] = "jset", [BPF_JMP | BPF_JSET | BPF_X] = "jset",
};

const char *insn_mnemonic(uint16_t code)
{
	if (code < ARRAY_SIZE(mnemonics) && mnemonics[code])
		return mnemonics[code];
	return "???";
}
