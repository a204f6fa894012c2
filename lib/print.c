/* SPDX-License-Identifier: MIT */
/*
 * Printers: a program as tcpdump -d, -dd, -ddd, the bpf_asm comma line,
 * bpf_asm source, C and Graphviz.
 *
 * tcpdump -d is reproduced byte for byte as libpcap 1.10.3's bpf_image()
 * prints it, quirks included: trailing blanks after operand-less
 * instructions, a tab before "jf", absolute targets computed in int, %d of
 * an unsigned k where libpcap uses it, the Linux ancillary names (libpcap
 * spells two of them differently from bpf_asm: [vlanp], [random]), and
 * "unimp 0x%x" for every code it has no case for. That includes
 * LDX|W|LEN (0x81), which the kernel runs but bpf_image() does not know.
 *
 * Every printer writes into one growing buffer and returns it; an
 * allocation failure anywhere makes the whole result NULL.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

struct sbuf {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void sb_vprintf(struct sbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void sb_vprintf(struct sbuf *sb, const char *fmt, va_list ap)
{
	va_list again;
	size_t need, cap;
	char *buf;
	int n;

	if (sb->failed)
		return;
	va_copy(again, ap);
	n = vsnprintf(sb->buf ? sb->buf + sb->len : NULL,
		      sb->buf ? sb->cap - sb->len : 0, fmt, ap);
	if (n < 0) {
		sb->failed = true;
		va_end(again);
		return;
	}
	need = sb->len + (size_t)n + 1;
	if (need > sb->cap) {
		cap = sb->cap ? sb->cap : 256;
		while (cap < need)
			cap *= 2;
		buf = realloc(sb->buf, cap);
		if (!buf) {
			sb->failed = true;
			va_end(again);
			return;
		}
		sb->buf = buf;
		sb->cap = cap;
		vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, again);
	}
	sb->len += (size_t)n;
	va_end(again);
}

static void sb_printf(struct sbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_vprintf(sb, fmt, ap);
	va_end(ap);
}

/* The buffer, NUL-terminated even when empty, or NULL (and nothing
 * leaked) if any append failed. */
static char *sb_finish(struct sbuf *sb)
{
	if (!sb->failed && !sb->buf)
		sb_printf(sb, "%s", "");
	if (sb->failed) {
		free(sb->buf);
		errno = ENOMEM;
		return NULL;
	}
	return sb->buf;
}

/* libpcap computes targets in int: a u32 k wraps, and we must wrap the
 * same way (two's complement, as every compiler we build with does). */
static int target_int(size_t n, uint32_t skip)
{
	return (int)(uint32_t)((uint32_t)n + 1 + skip);
}

/* ---- tcpdump -d ---------------------------------------------------- */

/* Bitwise operations and all jumps show k in hex; arithmetic in %d. */
static bool alu_k_is_mask(enum cbpf_alu alu)
{
	return alu == CBPF_ALU_AND || alu == CBPF_ALU_OR || alu == CBPF_ALU_XOR;
}

struct image {
	const char *op;
	char operand[64];
};

static void image_ld(const struct cbpf_insn *in, struct image *im)
{
	const struct anc_names *anc = NULL;

	switch (in->mode) {
	case CBPF_MODE_IMM:
		snprintf(im->operand, sizeof(im->operand), "#0x%x", in->k);
		break;
	case CBPF_MODE_ABS:
		if (in->k >= (uint32_t)SKF_AD_OFF)
			anc = insn_anc_names(in->k - (uint32_t)SKF_AD_OFF);
		if (anc)
			snprintf(im->operand, sizeof(im->operand), "[%s]",
				 anc->pcap);
		else
			snprintf(im->operand, sizeof(im->operand), "[%d]",
				 (int)in->k);
		break;
	case CBPF_MODE_IND:
		snprintf(im->operand, sizeof(im->operand), "[x + %d]",
			 (int)in->k);
		break;
	case CBPF_MODE_MEM:
		snprintf(im->operand, sizeof(im->operand), "M[%d]", (int)in->k);
		break;
	case CBPF_MODE_LEN:
		snprintf(im->operand, sizeof(im->operand), "#pktlen");
		break;
	case CBPF_MODE_MSH:
		snprintf(im->operand, sizeof(im->operand), "4*([%d]&0xf)",
			 (int)in->k);
		break;
	}
}

/* The operand bpf_image() prints for insn n. */
static void image_operand(const struct cbpf_insn *in, size_t n,
			  struct image *im)
{
	switch (in->op) {
	case CBPF_OP_LD:
	case CBPF_OP_LDX:
		image_ld(in, im);
		break;
	case CBPF_OP_ST:
	case CBPF_OP_STX:
		snprintf(im->operand, sizeof(im->operand), "M[%d]", (int)in->k);
		break;
	case CBPF_OP_ALU:
		if (in->src == CBPF_SRC_X)
			snprintf(im->operand, sizeof(im->operand), "x");
		else if (alu_k_is_mask(in->alu))
			snprintf(im->operand, sizeof(im->operand), "#0x%x",
				 in->k);
		else
			snprintf(im->operand, sizeof(im->operand), "#%d",
				 (int)in->k);
		break;
	case CBPF_OP_JA:
		snprintf(im->operand, sizeof(im->operand), "%d",
			 target_int(n, in->k));
		break;
	case CBPF_OP_JMP:
		if (in->src == CBPF_SRC_X)
			snprintf(im->operand, sizeof(im->operand), "x");
		else
			snprintf(im->operand, sizeof(im->operand), "#0x%x",
				 in->k);
		break;
	case CBPF_OP_RET:
		if (in->src == CBPF_SRC_K)
			snprintf(im->operand, sizeof(im->operand), "#%d",
				 (int)in->k);
		break;
	case CBPF_OP_NEG:
	case CBPF_OP_TAX:
	case CBPF_OP_TXA:
		break;
	}
}

/* bpf_image() of insn n, as libpcap 1.10.3: the mnemonic (the same as
 * bpf_asm's) and the operand. */
static void tcpdump_image(const struct sock_filter *raw, size_t n,
			  struct image *im)
{
	struct cbpf_insn in;

	im->op = "unimp";
	im->operand[0] = '\0';
	/* bpf_image() has a case for 48 of the kernel's 49 codes: all but
	 * LDX|W|LEN. */
	if (cbpf_decode(raw, &in) < 0 ||
	    (in.op == CBPF_OP_LDX && in.mode == CBPF_MODE_LEN)) {
		snprintf(im->operand, sizeof(im->operand), "0x%x", raw->code);
		return;
	}
	im->op = insn_mnemonic(raw->code);
	image_operand(&in, n, im);
}

static void print_tcpdump_line(struct sbuf *sb, const struct sock_filter *raw,
			       size_t n, bool trim)
{
	struct image im;

	tcpdump_image(raw, n, &im);
	/* The jt/jf suffix depends on the code's class bits alone, so
	 * libpcap prints it for unknown JMP-class codes too. */
	if (insn_is_cond_jump(raw->code))
		sb_printf(sb, "(%03d) %-8s %-16s jt %d\tjf %d\n", (int)n, im.op,
			  im.operand, target_int(n, raw->jt),
			  target_int(n, raw->jf));
	else if (trim && !im.operand[0])
		sb_printf(sb, "(%03d) %s\n", (int)n, im.op);
	else
		sb_printf(sb, "(%03d) %-8s %s\n", (int)n, im.op, im.operand);
}

static void print_tcpdump(struct sbuf *sb, const struct cbpf_prog *prog,
			  unsigned int flags)
{
	bool trim = flags & CBPF_FORMAT_NO_TRAILING_BLANKS;
	size_t i;

	for (i = 0; i < prog->len; i++)
		print_tcpdump_line(sb, &prog->insns[i], i, trim);
}

static void print_dd(struct sbuf *sb, const struct cbpf_prog *prog)
{
	const struct sock_filter *f;
	size_t i;

	for (i = 0; i < prog->len; i++) {
		f = &prog->insns[i];
		sb_printf(sb, "{ 0x%x, %d, %d, 0x%08x },\n", f->code, f->jt,
			  f->jf, f->k);
	}
}

static void print_ddd(struct sbuf *sb, const struct cbpf_prog *prog)
{
	const struct sock_filter *f;
	size_t i;

	sb_printf(sb, "%zu\n", prog->len);
	for (i = 0; i < prog->len; i++) {
		f = &prog->insns[i];
		sb_printf(sb, "%u %u %u %u\n", f->code, f->jt, f->jf, f->k);
	}
}

/* bpf_asm's default output: a trailing comma, then a newline. */
static void print_comma(struct sbuf *sb, const struct cbpf_prog *prog)
{
	const struct sock_filter *f;
	size_t i;

	sb_printf(sb, "%zu,", prog->len);
	for (i = 0; i < prog->len; i++) {
		f = &prog->insns[i];
		sb_printf(sb, "%u %u %u %u,", f->code, f->jt, f->jf, f->k);
	}
	sb_printf(sb, "\n");
}

/* ---- bpf_asm ------------------------------------------------------- */

/* Which of jt, jf and k the instruction reads; the rest are ignored by
 * the kernel and cannot be written in bpf_asm. */
static void used_fields(const struct cbpf_insn *in, bool *jumps, bool *k)
{
	*jumps = in->op == CBPF_OP_JMP;
	switch (in->op) {
	case CBPF_OP_LD:
	case CBPF_OP_LDX:
		*k = in->mode != CBPF_MODE_LEN;
		break;
	case CBPF_OP_ST:
	case CBPF_OP_STX:
	case CBPF_OP_JA:
		*k = true;
		break;
	case CBPF_OP_ALU:
	case CBPF_OP_JMP:
	case CBPF_OP_RET:
		*k = in->src == CBPF_SRC_K;
		break;
	default:
		*k = false;
		break;
	}
}

/* Small offsets read best in decimal, negative ones (SKF_*_OFF) in hex. */
static void fmt_offset(char *buf, size_t size, uint32_t k)
{
	if (k <= 0xffff)
		snprintf(buf, size, "%u", k);
	else
		snprintf(buf, size, "0x%x", k);
}

/* A note on what a load from a negative offset reads, or "". */
static void offset_note(char *buf, size_t size, uint32_t k)
{
	buf[0] = '\0';
	if (k >= (uint32_t)SKF_AD_OFF)
		snprintf(buf, size, "SKF_AD_OFF + %u", k - (uint32_t)SKF_AD_OFF);
	else if (k >= (uint32_t)SKF_NET_OFF)
		snprintf(buf, size, "SKF_NET_OFF + %u",
			 k - (uint32_t)SKF_NET_OFF);
	else if (k >= (uint32_t)SKF_LL_OFF)
		snprintf(buf, size, "SKF_LL_OFF + %u", k - (uint32_t)SKF_LL_OFF);
}

struct asm_line {
	char text[96];
	char note[96];
};

static void asm_abs(const struct sock_filter *raw, const struct cbpf_insn *in,
		    struct asm_line *al)
{
	const char *op = insn_mnemonic(raw->code);
	const char *name = NULL;
	char off[16];
	int anc = cbpf_insn_anc(raw);

	/* bpf_asm has no spelling for xor_x: keep that one numeric, so the
	 * text stays bpf_asm's own. */
	if (anc >= 0 && anc != SKF_AD_ALU_XOR_X)
		name = cbpf_anc_name((unsigned int)anc);
	if (name) {
		snprintf(al->text, sizeof(al->text), "%s #%s", op, name);
		return;
	}
	fmt_offset(off, sizeof(off), in->k);
	snprintf(al->text, sizeof(al->text), "%s [%s]", op, off);
	if (anc >= 0 && cbpf_anc_name((unsigned int)anc))
		snprintf(al->note, sizeof(al->note), "%s",
			 cbpf_anc_name((unsigned int)anc));
	else if (anc == -EINVAL)
		snprintf(al->note, sizeof(al->note),
			 "unknown ancillary load SKF_AD_OFF + %u",
			 in->k - (uint32_t)SKF_AD_OFF);
	else
		offset_note(al->note, sizeof(al->note), in->k);
}

static void asm_ld(const struct sock_filter *raw, const struct cbpf_insn *in,
		   struct asm_line *al)
{
	const char *op = in->op == CBPF_OP_LDX ? "ldx" : "ld";
	char off[16];

	switch (in->mode) {
	case CBPF_MODE_IMM:
		snprintf(al->text, sizeof(al->text), "%s #0x%x", op, in->k);
		break;
	case CBPF_MODE_ABS:
		asm_abs(raw, in, al);
		break;
	case CBPF_MODE_IND:
		fmt_offset(off, sizeof(off), in->k);
		snprintf(al->text, sizeof(al->text), "%s [x + %s]",
			 insn_mnemonic(raw->code), off);
		break;
	case CBPF_MODE_MEM:
		snprintf(al->text, sizeof(al->text), "%s M[%u]", op, in->k);
		break;
	case CBPF_MODE_LEN:
		snprintf(al->text, sizeof(al->text), "%s #len", op);
		break;
	case CBPF_MODE_MSH:
		fmt_offset(off, sizeof(off), in->k);
		snprintf(al->text, sizeof(al->text), "ldxb 4*([%s]&0xf)", off);
		offset_note(al->note, sizeof(al->note), in->k);
		break;
	}
}

/* Where a ja lands. A k that wraps around to an earlier instruction
 * (libpcap's protochain loops do this; the kernel refuses them) names
 * that instruction, so the assembler can say "backwards". */
static uint64_t ja_target(size_t i, uint32_t k, size_t len)
{
	uint64_t t = (uint64_t)i + 1 + k;
	uint32_t wrapped = (uint32_t)t;

	return t >= len && wrapped < len ? wrapped : t;
}

/* Label of insn t, or a name no instruction carries when t is past the
 * end (the text then fails to assemble, as the program fails to load). */
static void asm_target(char *buf, size_t size, uint64_t t)
{
	snprintf(buf, size, "l%llu", (unsigned long long)t);
}

static void asm_jump(const struct sock_filter *raw, const struct cbpf_insn *in,
		     size_t i, size_t len, struct asm_line *al)
{
	const char *op = insn_mnemonic(raw->code);
	uint64_t tt = (uint64_t)i + 1 + in->jt, tf = (uint64_t)i + 1 + in->jf;
	char lt[24], lf[24], opnd[16];

	if (in->src == CBPF_SRC_X)
		snprintf(opnd, sizeof(opnd), "x");
	else
		snprintf(opnd, sizeof(opnd), "#0x%x", in->k);
	asm_target(lt, sizeof(lt), tt);
	asm_target(lf, sizeof(lf), tf);
	if (in->jf)
		snprintf(al->text, sizeof(al->text), "%s %s, %s, %s",
			 op, opnd, lt, lf);
	else
		snprintf(al->text, sizeof(al->text), "%s %s, %s",
			 op, opnd, lt);
	if (tt >= len || tf >= len)
		snprintf(al->note, sizeof(al->note),
			 "jumps past the end (jt %u, jf %u)", in->jt, in->jf);
}

static void asm_decoded(const struct sock_filter *raw,
			const struct cbpf_insn *in, size_t i, size_t len,
			struct asm_line *al)
{
	uint64_t t;

	switch (in->op) {
	case CBPF_OP_LD:
	case CBPF_OP_LDX:
		asm_ld(raw, in, al);
		break;
	case CBPF_OP_ST:
	case CBPF_OP_STX:
		snprintf(al->text, sizeof(al->text), "%s M[%u]",
			 in->op == CBPF_OP_ST ? "st" : "stx", in->k);
		break;
	case CBPF_OP_ALU:
		if (in->src == CBPF_SRC_X)
			snprintf(al->text, sizeof(al->text), "%s x",
				 insn_mnemonic(raw->code));
		else if (alu_k_is_mask(in->alu))
			snprintf(al->text, sizeof(al->text), "%s #0x%x",
				 insn_mnemonic(raw->code), in->k);
		else
			snprintf(al->text, sizeof(al->text), "%s #%u",
				 insn_mnemonic(raw->code), in->k);
		break;
	case CBPF_OP_NEG:
		snprintf(al->text, sizeof(al->text), "neg");
		break;
	case CBPF_OP_JA:
		t = ja_target(i, in->k, len);
		snprintf(al->text, sizeof(al->text), "ja l%llu",
			 (unsigned long long)t);
		if (t <= i)
			snprintf(al->note, sizeof(al->note),
				 "jumps backwards (k 0x%x)", in->k);
		else if (t >= len)
			snprintf(al->note, sizeof(al->note),
				 "jumps past the end (k %u)", in->k);
		break;
	case CBPF_OP_JMP:
		asm_jump(raw, in, i, len, al);
		break;
	case CBPF_OP_RET:
		if (in->src == CBPF_SRC_A)
			snprintf(al->text, sizeof(al->text), "ret a");
		else
			snprintf(al->text, sizeof(al->text), "ret #%u", in->k);
		break;
	case CBPF_OP_TAX:
		snprintf(al->text, sizeof(al->text), "tax");
		break;
	case CBPF_OP_TXA:
		snprintf(al->text, sizeof(al->text), "txa");
		break;
	}
}

static void asm_insn(const struct sock_filter *raw, size_t i, size_t len,
		     struct asm_line *al)
{
	struct cbpf_insn in;
	bool jumps, k;
	size_t n;

	al->text[0] = al->note[0] = '\0';
	if (cbpf_decode(raw, &in) < 0) {
		/* Not assemblable: "unimp" is no mnemonic, so the text is
		 * rejected rather than silently missing an instruction. */
		snprintf(al->text, sizeof(al->text), "unimp 0x%x", raw->code);
		snprintf(al->note, sizeof(al->note),
			 "not a kernel opcode: jt %u, jf %u, k 0x%x",
			 raw->jt, raw->jf, raw->k);
		return;
	}
	asm_decoded(raw, &in, i, len, al);
	used_fields(&in, &jumps, &k);
	if ((jumps || (!raw->jt && !raw->jf)) && (k || !raw->k))
		return;
	n = strlen(al->note);
	n += (size_t)snprintf(al->note + n, sizeof(al->note) - n,
			      "%signored:", n ? "; " : "");
	if (!jumps && (raw->jt || raw->jf))
		n += (size_t)snprintf(al->note + n, sizeof(al->note) - n,
				      " jt %u, jf %u%s", raw->jt, raw->jf,
				      !k && raw->k ? "," : "");
	if (!k && raw->k)
		snprintf(al->note + n, sizeof(al->note) - n, " k 0x%x", raw->k);
}

/* Marks every instruction some jump lands on; these get labels. */
static bool *jump_targets(const struct cbpf_prog *prog)
{
	struct cbpf_insn in;
	bool *target;
	uint64_t t;
	size_t i;

	target = calloc(prog->len + 1, sizeof(*target));
	if (!target)
		return NULL;
	for (i = 0; i < prog->len; i++) {
		if (cbpf_decode(&prog->insns[i], &in) < 0)
			continue;
		if (in.op == CBPF_OP_JA) {
			t = ja_target(i, in.k, prog->len);
			if (t < prog->len)
				target[t] = true;
		} else if (in.op == CBPF_OP_JMP) {
			if (i + 1 + in.jt < prog->len)
				target[i + 1 + in.jt] = true;
			if (i + 1 + in.jf < prog->len)
				target[i + 1 + in.jf] = true;
		}
	}
	return target;
}

static void print_asm(struct sbuf *sb, const struct cbpf_prog *prog)
{
	struct asm_line al;
	bool *target;
	size_t i;

	target = jump_targets(prog);
	if (!target) {
		sb->failed = true;
		return;
	}
	for (i = 0; i < prog->len; i++) {
		asm_insn(&prog->insns[i], i, prog->len, &al);
		if (target[i])
			sb_printf(sb, "l%zu:", i);
		if (al.note[0])
			sb_printf(sb, "\t%s\t; %s\n", al.text, al.note);
		else
			sb_printf(sb, "\t%s\n", al.text);
	}
	free(target);
}

/* ---- C ------------------------------------------------------------- */

static const char *const c_alu_ops[] = {
	[CBPF_ALU_ADD] = "BPF_ADD", [CBPF_ALU_SUB] = "BPF_SUB",
	[CBPF_ALU_MUL] = "BPF_MUL", [CBPF_ALU_DIV] = "BPF_DIV",
	[CBPF_ALU_OR] = "BPF_OR",   [CBPF_ALU_AND] = "BPF_AND",
	[CBPF_ALU_LSH] = "BPF_LSH", [CBPF_ALU_RSH] = "BPF_RSH",
	[CBPF_ALU_MOD] = "BPF_MOD", [CBPF_ALU_XOR] = "BPF_XOR",
};

static const char *c_size(enum cbpf_size size)
{
	switch (size) {
	case CBPF_SIZE_H:
		return "BPF_H";
	case CBPF_SIZE_B:
		return "BPF_B";
	default:
		return "BPF_W";
	}
}

static const char *c_cond(enum cbpf_cond cond)
{
	switch (cond) {
	case CBPF_COND_EQ:
		return "BPF_JEQ";
	case CBPF_COND_GT:
		return "BPF_JGT";
	case CBPF_COND_GE:
		return "BPF_JGE";
	default:
		return "BPF_JSET";
	}
}

/* The opcode as the <linux/filter.h> macros spell it. */
static void c_code(const struct cbpf_insn *in, char *buf, size_t size)
{
	const char *cls = in->op == CBPF_OP_LDX ? "BPF_LDX" : "BPF_LD";
	const char *src = in->src == CBPF_SRC_X ? "BPF_X" : "BPF_K";
	static const char *const modes[] = {
		[CBPF_MODE_IMM] = "BPF_IMM", [CBPF_MODE_ABS] = "BPF_ABS",
		[CBPF_MODE_IND] = "BPF_IND", [CBPF_MODE_MEM] = "BPF_MEM",
		[CBPF_MODE_LEN] = "BPF_LEN", [CBPF_MODE_MSH] = "BPF_MSH",
	};

	switch (in->op) {
	case CBPF_OP_LD:
	case CBPF_OP_LDX:
		if (in->mode == CBPF_MODE_IMM || in->mode == CBPF_MODE_MEM)
			snprintf(buf, size, "%s | %s", cls, modes[in->mode]);
		else
			snprintf(buf, size, "%s | %s | %s", cls,
				 in->mode == CBPF_MODE_LEN ? "BPF_W" :
				 c_size(in->size), modes[in->mode]);
		break;
	case CBPF_OP_ST:
		snprintf(buf, size, "BPF_ST");
		break;
	case CBPF_OP_STX:
		snprintf(buf, size, "BPF_STX");
		break;
	case CBPF_OP_ALU:
		snprintf(buf, size, "BPF_ALU | %s | %s", c_alu_ops[in->alu],
			 src);
		break;
	case CBPF_OP_NEG:
		snprintf(buf, size, "BPF_ALU | BPF_NEG");
		break;
	case CBPF_OP_JA:
		snprintf(buf, size, "BPF_JMP | BPF_JA");
		break;
	case CBPF_OP_JMP:
		snprintf(buf, size, "BPF_JMP | %s | %s", c_cond(in->cond), src);
		break;
	case CBPF_OP_RET:
		snprintf(buf, size, "BPF_RET | %s",
			 in->src == CBPF_SRC_A ? "BPF_A" : "BPF_K");
		break;
	case CBPF_OP_TAX:
		snprintf(buf, size, "BPF_MISC | BPF_TAX");
		break;
	case CBPF_OP_TXA:
		snprintf(buf, size, "BPF_MISC | BPF_TXA");
		break;
	}
}

/* k as C: the SKF_* names for negative load offsets, hex where tcpdump
 * uses hex and above INT_MAX, decimal otherwise. */
static void c_k(const struct sock_filter *raw, const struct cbpf_insn *in,
		char *buf, size_t size)
{
	int anc = cbpf_insn_anc(raw);
	bool hex;

	if (anc >= 0) {
		snprintf(buf, size, "SKF_AD_OFF + %s",
			 insn_anc_names((unsigned int)anc)->macro);
		return;
	}
	if ((in->op == CBPF_OP_LD || in->op == CBPF_OP_LDX) &&
	    (in->mode == CBPF_MODE_ABS || in->mode == CBPF_MODE_IND ||
	     in->mode == CBPF_MODE_MSH) && in->k >= (uint32_t)SKF_LL_OFF) {
		offset_note(buf, size, in->k);
		return;
	}
	hex = in->k > 0x7fffffff || in->op == CBPF_OP_JMP ||
	      (in->op == CBPF_OP_ALU && alu_k_is_mask(in->alu)) ||
	      ((in->op == CBPF_OP_LD || in->op == CBPF_OP_LDX) &&
	       in->mode == CBPF_MODE_IMM);
	snprintf(buf, size, hex ? "0x%x" : "%u", in->k);
}

/* A one-line comment: the instruction as tcpdump -d shows it. */
static void c_comment(const struct sock_filter *raw, size_t i, char *buf,
		      size_t size)
{
	struct image im;

	tcpdump_image(raw, i, &im);
	if (insn_is_cond_jump(raw->code))
		snprintf(buf, size, "%s %s jt %d jf %d", im.op, im.operand,
			 target_int(i, raw->jt), target_int(i, raw->jf));
	else if (im.operand[0])
		snprintf(buf, size, "%s %s", im.op, im.operand);
	else
		snprintf(buf, size, "%s", im.op);
}

static void print_c(struct sbuf *sb, const struct cbpf_prog *prog)
{
	const struct sock_filter *raw;
	char code[48], k[48], note[96];
	struct cbpf_insn in;
	size_t i;

	sb_printf(sb, "struct sock_filter prog[] = {\n");
	for (i = 0; i < prog->len; i++) {
		raw = &prog->insns[i];
		c_comment(raw, i, note, sizeof(note));
		if (cbpf_decode(raw, &in) < 0) {
			sb_printf(sb, "\t{ 0x%02x, %u, %u, 0x%08x },", raw->code,
				  raw->jt, raw->jf, raw->k);
		} else {
			c_code(&in, code, sizeof(code));
			c_k(raw, &in, k, sizeof(k));
			/* BPF_JUMP keeps jt/jf even where the kernel ignores
			 * them, so the array holds exactly these bytes. */
			if (raw->jt || raw->jf || in.op == CBPF_OP_JMP)
				sb_printf(sb, "\tBPF_JUMP(%s, %s, %u, %u),", code,
					  k, raw->jt, raw->jf);
			else
				sb_printf(sb, "\tBPF_STMT(%s, %s),", code, k);
		}
		sb_printf(sb, "\t/* %03zu: %s */\n", i, note);
	}
	sb_printf(sb, "};\n");
}

/* ---- Graphviz ------------------------------------------------------ */

static void dot_edge(struct sbuf *sb, size_t from, uint64_t to, size_t len,
		     const char *attrs, bool *past_end)
{
	if (to < len) {
		sb_printf(sb, "\ti%zu -> i%llu%s;\n", from,
			  (unsigned long long)to, attrs);
	} else {
		sb_printf(sb, "\ti%zu -> past_end%s;\n", from, attrs);
		*past_end = true;
	}
}

static void dot_insn(struct sbuf *sb, const struct cbpf_prog *prog, size_t i,
		     bool *past_end)
{
	const struct sock_filter *raw = &prog->insns[i];
	struct cbpf_insn in;
	char text[96];
	bool ok;

	c_comment(raw, i, text, sizeof(text));
	ok = cbpf_decode(raw, &in) == 0;
	sb_printf(sb, "\ti%zu [label=\"%03zu: %s\"%s];\n", i, i, text,
		  !ok ? ", color=red" :
		  in.op == CBPF_OP_RET ? ", shape=ellipse" : "");
	if (!ok || in.op == CBPF_OP_RET)
		return;
	if (in.op == CBPF_OP_JA)
		dot_edge(sb, i, (uint64_t)i + 1 + in.k, prog->len, "", past_end);
	else if (in.op == CBPF_OP_JMP) {
		dot_edge(sb, i, (uint64_t)i + 1 + in.jt, prog->len,
			 " [label=\"jt\", color=darkgreen]", past_end);
		dot_edge(sb, i, (uint64_t)i + 1 + in.jf, prog->len,
			 " [label=\"jf\", color=red]", past_end);
	} else
		dot_edge(sb, i, (uint64_t)i + 1, prog->len, "", past_end);
}

static void print_dot(struct sbuf *sb, const struct cbpf_prog *prog)
{
	bool past_end = false;
	size_t i;

	sb_printf(sb, "digraph cbpf {\n"
		      "\tnode [shape=box, fontname=\"monospace\"];\n");
	for (i = 0; i < prog->len; i++)
		dot_insn(sb, prog, i, &past_end);
	if (past_end)
		sb_printf(sb, "\tpast_end [label=\"past the end\", "
			      "shape=octagon, color=red];\n");
	sb_printf(sb, "}\n");
}

char *cbpf_format(const struct cbpf_prog *prog, enum cbpf_form form,
		  unsigned int flags)
{
	struct sbuf sb = { 0 };

	if (flags & ~(unsigned int)CBPF_FORMAT_NO_TRAILING_BLANKS) {
		errno = EINVAL;
		return NULL;
	}
	switch (form) {
	case CBPF_FORM_TCPDUMP:
		print_tcpdump(&sb, prog, flags);
		break;
	case CBPF_FORM_DD:
		print_dd(&sb, prog);
		break;
	case CBPF_FORM_DDD:
		print_ddd(&sb, prog);
		break;
	case CBPF_FORM_COMMA:
		print_comma(&sb, prog);
		break;
	case CBPF_FORM_ASM:
		print_asm(&sb, prog);
		break;
	case CBPF_FORM_C:
		print_c(&sb, prog);
		break;
	case CBPF_FORM_DOT:
		print_dot(&sb, prog);
		break;
	case CBPF_FORM_UNKNOWN:
	default:
		errno = EINVAL;
		return NULL;
	}
	return sb_finish(&sb);
}
