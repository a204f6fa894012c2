/* SPDX-License-Identifier: MIT */
/*
 * The bpf_asm assembler (tools/bpf/bpf_exp.l and bpf_exp.y of the
 * kernel), written as a small hand-made lexer and recursive-descent
 * parser so that every error carries a line and a column and nothing can
 * exit.
 *
 * Like bpf_asm, the grammar is free-form: newlines are whitespace and an
 * instruction ends where its operands end. Labels are resolved here
 * rather than through the builder, because the text maps one to one onto
 * instructions: a conditional jump further than 255 instructions is an
 * error, not a silent trampoline that would shift every index after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "internal.h"

enum tok_kind {
	TOK_EOF,
	TOK_WORD,	/* [A-Za-z_][A-Za-z0-9_]*: mnemonic, label, name */
	TOK_NUMBER,	/* starts with a digit; v, or bad */
	TOK_PUNCT,	/* any other single byte */
};

struct token {
	enum tok_kind kind;
	const char *s;
	size_t len;
	int line, col;
	uint64_t v;	/* TOK_NUMBER, saturated */
	bool bad;	/* TOK_NUMBER that is no number, e.g. "0x" or "08" */
};

enum ref_kind { REF_JT, REF_JF, REF_K };

struct label_def {
	const char *name;
	size_t len;
	size_t insn;
	size_t order;	/* definition order, to name the later duplicate */
	int line, col;
};

struct label_ref {
	const char *name;
	size_t len;
	size_t insn;
	enum ref_kind kind;
	int line, col;
};

struct parser {
	struct text_cursor lx;
	struct token tok;
	struct cbpf_error *err;
	int insn;	/* instruction being parsed, or -1 */
	struct sock_filter *insns;
	size_t len, cap;
	struct label_def *defs;
	size_t ndefs, defcap;
	struct label_ref *refs;
	size_t nrefs, refcap;
};

struct mnemonic;
typedef int (*operand_fn)(struct parser *ps, const struct mnemonic *m,
			  struct sock_filter *f);

struct mnemonic {
	const char *name;
	operand_fn parse;
	uint16_t code;		/* size, ALU op or JMP op, per parser */
	bool swapped;		/* jne, jlt, jle: the label is the false branch */
	const char *syntax;	/* operands, for error messages */
};

/* ---- errors -------------------------------------------------------- */

#define fail_at(ps, line, col, ...) \
	text_error((ps)->err, (ps)->insn, line, col, __VA_ARGS__)

/* Printable text of a token, for messages. */
static void tok_text(const struct token *t, char *buf, size_t size)
{
	size_t i, n = 0;
	int ch;

	if (t->kind == TOK_EOF) {
		snprintf(buf, size, "end of input");
		return;
	}
	buf[n++] = '\'';
	for (i = 0; i < t->len && n + 8 < size; i++) {
		ch = (unsigned char)t->s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\'')
			buf[n++] = (char)ch;
		else
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
	}
	if (i < t->len)
		n += (size_t)snprintf(buf + n, size - n, "...");
	buf[n++] = '\'';
	buf[n] = '\0';
}

static int fail_tok(struct parser *ps, const char *expected)
{
	char text[48];

	tok_text(&ps->tok, text, sizeof(text));
	return fail_at(ps, ps->tok.line, ps->tok.col, "expected %s, got %s",
		       expected, text);
}

/* ---- lexer --------------------------------------------------------- */

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* bpf_asm's numbers: 0x hex, 0b binary, 0 octal, decimal. */
static void number_value(struct token *t)
{
	const char *s = t->s;
	size_t len = t->len, skip = 0;
	unsigned int base = 10;

	if (len > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		skip = 2;
	} else if (len > 1 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		base = 2;
		skip = 2;
	} else if (len > 1 && s[0] == '0') {
		base = 8;
		skip = 1;
	}
	t->bad = !text_digits(s + skip, len - skip, base, &t->v);
}

/* The next token; ps (NULL when only peeking) gets the error. */
static int lx_token(struct parser *ps, struct text_cursor *lx, struct token *t)
{
	int line, col, ch;

	if (text_skip_space(lx, true, &line, &col))
		return ps ? fail_at(ps, line, col, "unterminated /* comment") :
			    -EINVAL;
	*t = (struct token){ .s = lx->p, .line = lx->line, .col = lx->col };
	ch = text_peek(lx, 0);
	if (ch < 0) {
		t->kind = TOK_EOF;
		return 0;
	}
	if (text_is_word(ch)) {
		t->kind = is_digit(ch) ? TOK_NUMBER : TOK_WORD;
		while (text_is_word(text_peek(lx, 0)))
			text_advance(lx);
		t->len = (size_t)(lx->p - t->s);
		if (t->kind == TOK_NUMBER)
			number_value(t);
		return 0;
	}
	t->kind = TOK_PUNCT;
	t->len = 1;
	text_advance(lx);
	return 0;
}

static int next(struct parser *ps)
{
	return lx_token(ps, &ps->lx, &ps->tok);
}

/* The token after the current one, without consuming anything. */
static struct token peek_token(const struct parser *ps)
{
	struct text_cursor copy = ps->lx;
	struct token t;

	if (lx_token(NULL, &copy, &t))
		t.kind = TOK_EOF;
	return t;
}

static bool is_punct(const struct token *t, char ch)
{
	return t->kind == TOK_PUNCT && t->s[0] == ch;
}

static bool word_is(const struct token *t, const char *word)
{
	size_t n = strlen(word);

	return t->kind == TOK_WORD && t->len == n &&
	       !strncasecmp(t->s, word, n);
}

static int accept_punct(struct parser *ps, char ch, bool *found)
{
	*found = is_punct(&ps->tok, ch);
	return *found ? next(ps) : 0;
}

static int expect(struct parser *ps, char ch)
{
	char what[8];

	if (!is_punct(&ps->tok, ch)) {
		snprintf(what, sizeof(what), "'%c'", ch);
		return fail_tok(ps, what);
	}
	return next(ps);
}

/* ---- operands ------------------------------------------------------ */

/* A 32-bit value: a number, optionally signed; -n is 2^32 - n, as
 * bpf_asm's strtol() truncated to u32 gives. */
static int parse_value(struct parser *ps, uint32_t *k)
{
	int line = ps->tok.line, col = ps->tok.col;
	bool neg = false, plus = false;
	char text[48];
	int ret;

	if (is_punct(&ps->tok, '-') || is_punct(&ps->tok, '+')) {
		neg = ps->tok.s[0] == '-';
		plus = !neg;
		ret = next(ps);
		if (ret)
			return ret;
	}
	if (ps->tok.kind != TOK_NUMBER)
		return fail_tok(ps, "a number");
	tok_text(&ps->tok, text, sizeof(text));
	if (ps->tok.bad)
		return fail_at(ps, ps->tok.line, ps->tok.col,
			       "%s is not a number", text);
	if ((neg && ps->tok.v > 0x80000000ULL) || ps->tok.v > 0xffffffffULL)
		return fail_at(ps, line, col,
			       "'%s%.*s' does not fit in 32 bits",
			       neg ? "-" : plus ? "+" : "",
			       ps->tok.len > 40 ? 40 : (int)ps->tok.len,
			       ps->tok.s);
	*k = neg ? (uint32_t)(0 - (uint32_t)ps->tok.v) : (uint32_t)ps->tok.v;
	return next(ps);
}

/* '#' number */
static int parse_imm(struct parser *ps, const char *expected, uint32_t *k)
{
	if (!is_punct(&ps->tok, '#'))
		return fail_tok(ps, expected);
	return next(ps) ? -EINVAL : parse_value(ps, k);
}

/* "M[k]" */
static int parse_mem(struct parser *ps, uint32_t *k)
{
	int ret = next(ps);

	if (!ret)
		ret = expect(ps, '[');
	if (!ret)
		ret = parse_value(ps, k);
	if (!ret)
		ret = expect(ps, ']');
	return ret;
}

#define EXT_LEN (-1)
#define EXT_NONE (-2)

/* Names the ancillary table does not hold: x/net/bpf's and the length. */
static const struct {
	const char *name;
	int n;
} extension_aliases[] = {
	{ "vlan_pr", SKF_AD_VLAN_TAG_PRESENT },
	{ "len", EXT_LEN },
	{ "pktlen", EXT_LEN },
};

/* The union of bpf_asm's, tcpdump's and x/net/bpf's names. */
static int extension(const struct token *t)
{
	const struct anc_names *names;
	unsigned int n;
	size_t i;

	for (n = 0; n < SKF_AD_MAX; n++) {
		names = insn_anc_names(n);
		if (names && (word_is(t, names->bpf_asm) ||
			      word_is(t, names->pcap)))
			return (int)n;
	}
	for (i = 0; i < ARRAY_SIZE(extension_aliases); i++)
		if (word_is(t, extension_aliases[i].name))
			return extension_aliases[i].n;
	return EXT_NONE;
}

/* x or %x. */
static int accept_reg(struct parser *ps, const char *reg, bool *found)
{
	struct token after;
	int ret;

	*found = false;
	if (word_is(&ps->tok, reg)) {
		*found = true;
		return next(ps);
	}
	if (!is_punct(&ps->tok, '%'))
		return 0;
	after = peek_token(ps);
	if (!word_is(&after, reg))
		return 0;
	*found = true;
	ret = next(ps);
	return ret ? ret : next(ps);
}

static int fail_operand(struct parser *ps, const struct mnemonic *m)
{
	char expected[128];

	snprintf(expected, sizeof(expected), "%s after '%s'", m->syntax,
		 m->name);
	return fail_tok(ps, expected);
}

/* An extension as the operand of ld/ldh/ldb. */
static int load_extension(struct parser *ps, const struct mnemonic *m,
			  int n, struct sock_filter *f)
{
	if (n == EXT_LEN) {
		if (m->code != BPF_W)
			return fail_operand(ps, m);
		f->code = BPF_LD | BPF_W | BPF_LEN;
	} else {
		f->code = BPF_LD | m->code | BPF_ABS;
		f->k = (uint32_t)SKF_AD_OFF + (uint32_t)n;
	}
	return next(ps);
}

/* Inside ld's brackets: [k], [x + k], [%x + k] or [ext]. */
static int load_bracket(struct parser *ps, const struct mnemonic *m,
			struct sock_filter *f)
{
	bool x, plus;
	int n, ret;

	ret = accept_reg(ps, "x", &x);
	if (ret)
		return ret;
	if (x) {
		f->code = BPF_LD | m->code | BPF_IND;
		ret = accept_punct(ps, '+', &plus);
		if (!ret && plus)
			ret = parse_value(ps, &f->k);
	} else if ((n = extension(&ps->tok)) >= 0) {
		f->code = BPF_LD | m->code | BPF_ABS;
		f->k = (uint32_t)SKF_AD_OFF + (uint32_t)n;
		ret = next(ps);
	} else if (ps->tok.kind == TOK_NUMBER || is_punct(&ps->tok, '-') ||
		   is_punct(&ps->tok, '+')) {
		f->code = BPF_LD | m->code | BPF_ABS;
		ret = parse_value(ps, &f->k);
	} else {
		return fail_operand(ps, m);
	}
	return ret ? ret : expect(ps, ']');
}

static int parse_ld(struct parser *ps, const struct mnemonic *m,
		    struct sock_filter *f)
{
	bool word = m->code == BPF_W;
	int n, ret;

	if (is_punct(&ps->tok, '[')) {
		ret = next(ps);
		return ret ? ret : load_bracket(ps, m, f);
	}
	if (word && word_is(&ps->tok, "M")) {
		f->code = BPF_LD | BPF_MEM;
		return parse_mem(ps, &f->k);
	}
	if (is_punct(&ps->tok, '#')) {
		ret = next(ps);
		if (ret)
			return ret;
		if (word && (ps->tok.kind == TOK_NUMBER ||
			     is_punct(&ps->tok, '-'))) {
			f->code = BPF_LD | BPF_IMM;
			return parse_value(ps, &f->k);
		}
	}
	n = extension(&ps->tok);
	if (n == EXT_NONE)
		return fail_operand(ps, m);
	return load_extension(ps, m, n, f);
}

/* ldi/ldxi: "#k" or a bare k. */
static int parse_ldi(struct parser *ps, const struct mnemonic *m,
		     struct sock_filter *f)
{
	int ret = 0;

	f->code = m->code | BPF_IMM;
	if (is_punct(&ps->tok, '#'))
		ret = next(ps);
	return ret ? ret : parse_value(ps, &f->k);
}

/* "4*([k]&0xf)": bpf_asm takes any numbers there and exits on others. */
static int parse_msh(struct parser *ps, struct sock_filter *f)
{
	int line = ps->tok.line, col = ps->tok.col;
	uint32_t mul = 0, mask = 0;	/* set on success; gcc -O3 cannot tell */
	int ret;

	ret = parse_value(ps, &mul);
	if (!ret)
		ret = expect(ps, '*');
	if (!ret)
		ret = expect(ps, '(');
	if (!ret)
		ret = expect(ps, '[');
	if (!ret)
		ret = parse_value(ps, &f->k);
	if (!ret)
		ret = expect(ps, ']');
	if (!ret)
		ret = expect(ps, '&');
	if (!ret)
		ret = parse_value(ps, &mask);
	if (!ret)
		ret = expect(ps, ')');
	if (ret)
		return ret;
	if (mul != 4 || mask != 0xf)
		return fail_at(ps, line, col,
			       "only 4*([k]&0xf) exists (BPF_MSH), not "
			       "%u*([k]&0x%x)", mul, mask);
	f->code = BPF_LDX | BPF_B | BPF_MSH;
	return 0;
}

static int parse_ldx(struct parser *ps, const struct mnemonic *m,
		     struct sock_filter *f)
{
	int ret;

	if (ps->tok.kind == TOK_NUMBER)
		return parse_msh(ps, f);
	if (word_is(&ps->tok, "M")) {
		f->code = BPF_LDX | BPF_MEM;
		return parse_mem(ps, &f->k);
	}
	if (is_punct(&ps->tok, '#')) {
		ret = next(ps);
		if (ret)
			return ret;
		if (ps->tok.kind == TOK_NUMBER || is_punct(&ps->tok, '-')) {
			f->code = BPF_LDX | BPF_IMM;
			return parse_value(ps, &f->k);
		}
	}
	if (extension(&ps->tok) != EXT_LEN)
		return fail_operand(ps, m);
	f->code = BPF_LDX | BPF_W | BPF_LEN;
	return next(ps);
}

static int parse_ldxb(struct parser *ps, const struct mnemonic *m,
		      struct sock_filter *f)
{
	if (ps->tok.kind != TOK_NUMBER)
		return fail_operand(ps, m);
	return parse_msh(ps, f);
}

static int parse_store(struct parser *ps, const struct mnemonic *m,
		       struct sock_filter *f)
{
	if (!word_is(&ps->tok, "M"))
		return fail_operand(ps, m);
	f->code = m->code;
	return parse_mem(ps, &f->k);
}

static int grow(struct parser *ps, void **array, size_t *cap, size_t need,
		size_t size)
{
	if (lib_grow(array, cap, need, size))
		return error_set(ps->err, -ENOMEM, ps->insn, "out of memory");
	return 0;
}

/* A jump target: a label, resolved once the whole text is read. */
static int parse_label_ref(struct parser *ps, enum ref_kind kind)
{
	struct label_ref *r;
	int ret;

	if (ps->tok.kind != TOK_WORD)
		return fail_tok(ps, "a label");
	ret = grow(ps, (void **)&ps->refs, &ps->refcap, ps->nrefs + 1,
		   sizeof(*ps->refs));
	if (ret)
		return ret;
	r = &ps->refs[ps->nrefs++];
	*r = (struct label_ref){
		.name = ps->tok.s, .len = ps->tok.len, .insn = ps->len,
		.kind = kind, .line = ps->tok.line, .col = ps->tok.col,
	};
	return next(ps);
}

static int parse_ja(struct parser *ps, const struct mnemonic *m,
		    struct sock_filter *f)
{
	(void)m;
	f->code = BPF_JMP | BPF_JA;
	return parse_label_ref(ps, REF_K);
}

/* jeq|jgt|jge|jset (#k|x), Lt[, Lf] and jne|jneq|jlt|jle (#k|x), L[, Lf],
 * the latter with the branches swapped. */
static int parse_jcond(struct parser *ps, const struct mnemonic *m,
		       struct sock_filter *f)
{
	bool x, second;
	int ret;

	ret = accept_reg(ps, "x", &x);
	if (ret)
		return ret;
	if (x) {
		f->code = BPF_JMP | m->code | BPF_X;
	} else {
		f->code = BPF_JMP | m->code | BPF_K;
		if (!is_punct(&ps->tok, '#'))
			return fail_operand(ps, m);
		ret = parse_imm(ps, "#k", &f->k);
	}
	if (!ret)
		ret = expect(ps, ',');
	if (!ret)
		ret = parse_label_ref(ps, m->swapped ? REF_JF : REF_JT);
	if (!ret)
		ret = accept_punct(ps, ',', &second);
	if (!ret && second)
		ret = parse_label_ref(ps, m->swapped ? REF_JT : REF_JF);
	return ret;
}

static int parse_alu(struct parser *ps, const struct mnemonic *m,
		     struct sock_filter *f)
{
	bool x;
	int ret;

	ret = accept_reg(ps, "x", &x);
	if (ret || x) {
		f->code = BPF_ALU | m->code | BPF_X;
		return ret;
	}
	if (!is_punct(&ps->tok, '#'))
		return fail_operand(ps, m);
	f->code = BPF_ALU | m->code | BPF_K;
	return parse_imm(ps, "#k", &f->k);
}

static int parse_bare(struct parser *ps, const struct mnemonic *m,
		      struct sock_filter *f)
{
	(void)ps;
	f->code = m->code;
	return 0;
}

static int parse_ret(struct parser *ps, const struct mnemonic *m,
		     struct sock_filter *f)
{
	int line = ps->tok.line, col = ps->tok.col;
	bool found;
	int ret;

	ret = accept_reg(ps, "a", &found);
	if (ret || found) {
		f->code = BPF_RET | BPF_A;
		return ret;
	}
	ret = accept_reg(ps, "x", &found);
	if (ret)
		return ret;
	if (found)
		return fail_at(ps, line, col,
			       "'ret x' would be opcode 0x0e (RET|X), which "
			       "the kernel refuses; use 'txa' then 'ret a'");
	if (!is_punct(&ps->tok, '#'))
		return fail_operand(ps, m);
	f->code = BPF_RET | BPF_K;
	return parse_imm(ps, "#k", &f->k);
}

static const struct mnemonic mnemonics[] = {
	{ "ld", parse_ld, BPF_W, false,
	  "#k, #len, M[k], [k], [x + k] or an extension" },
	{ "ldh", parse_ld, BPF_H, false, "[k], [x + k] or an extension" },
	{ "ldb", parse_ld, BPF_B, false, "[k], [x + k] or an extension" },
	{ "ldi", parse_ldi, BPF_LD, false, "#k" },
	{ "ldx", parse_ldx, 0, false, "#k, #len, M[k] or 4*([k]&0xf)" },
	{ "ldxi", parse_ldi, BPF_LDX, false, "#k" },
	{ "ldxb", parse_ldxb, 0, false, "4*([k]&0xf)" },
	{ "st", parse_store, BPF_ST, false, "M[k]" },
	{ "stx", parse_store, BPF_STX, false, "M[k]" },
	{ "ja", parse_ja, 0, false, "a label" },
	{ "jmp", parse_ja, 0, false, "a label" },
	{ "jeq", parse_jcond, BPF_JEQ, false, "#k or x" },
	{ "jneq", parse_jcond, BPF_JEQ, true, "#k or x" },
	{ "jne", parse_jcond, BPF_JEQ, true, "#k or x" },
	{ "jlt", parse_jcond, BPF_JGE, true, "#k or x" },
	{ "jle", parse_jcond, BPF_JGT, true, "#k or x" },
	{ "jgt", parse_jcond, BPF_JGT, false, "#k or x" },
	{ "jge", parse_jcond, BPF_JGE, false, "#k or x" },
	{ "jset", parse_jcond, BPF_JSET, false, "#k or x" },
	{ "add", parse_alu, BPF_ADD, false, "#k or x" },
	{ "sub", parse_alu, BPF_SUB, false, "#k or x" },
	{ "mul", parse_alu, BPF_MUL, false, "#k or x" },
	{ "div", parse_alu, BPF_DIV, false, "#k or x" },
	{ "mod", parse_alu, BPF_MOD, false, "#k or x" },
	{ "and", parse_alu, BPF_AND, false, "#k or x" },
	{ "or", parse_alu, BPF_OR, false, "#k or x" },
	{ "xor", parse_alu, BPF_XOR, false, "#k or x" },
	{ "lsh", parse_alu, BPF_LSH, false, "#k or x" },
	{ "rsh", parse_alu, BPF_RSH, false, "#k or x" },
	{ "neg", parse_bare, BPF_ALU | BPF_NEG, false, "nothing" },
	{ "tax", parse_bare, BPF_MISC | BPF_TAX, false, "nothing" },
	{ "txa", parse_bare, BPF_MISC | BPF_TXA, false, "nothing" },
	{ "ret", parse_ret, 0, false, "#k or a" },
};

/* ---- program ------------------------------------------------------- */

static int define_label(struct parser *ps)
{
	struct label_def *d;
	int ret;

	ret = grow(ps, (void **)&ps->defs, &ps->defcap, ps->ndefs + 1,
		   sizeof(*ps->defs));
	if (ret)
		return ret;
	d = &ps->defs[ps->ndefs];
	*d = (struct label_def){
		.name = ps->tok.s, .len = ps->tok.len, .insn = ps->len,
		.order = ps->ndefs, .line = ps->tok.line, .col = ps->tok.col,
	};
	ps->ndefs++;
	ret = next(ps);		/* the name */
	return ret ? ret : next(ps);	/* the ':' */
}

static int parse_insn(struct parser *ps)
{
	struct sock_filter f = { 0 };
	const struct mnemonic *m = NULL;
	char text[48];
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(mnemonics) && !m; i++)
		if (word_is(&ps->tok, mnemonics[i].name))
			m = &mnemonics[i];
	if (!m) {
		tok_text(&ps->tok, text, sizeof(text));
		return fail_at(ps, ps->tok.line, ps->tok.col,
			       "unknown mnemonic %s", text);
	}
	if (ps->len >= CBPF_TEXT_MAXINSNS)
		return fail_at(ps, ps->tok.line, ps->tok.col,
			       "more than %d instructions", CBPF_TEXT_MAXINSNS);
	ps->insn = (int)ps->len;
	ret = next(ps);
	if (!ret)
		ret = m->parse(ps, m, &f);
	if (!ret)
		ret = grow(ps, (void **)&ps->insns, &ps->cap, ps->len + 1,
			   sizeof(*ps->insns));
	if (ret)
		return ret;
	ps->insns[ps->len++] = f;
	ps->insn = -1;
	return 0;
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int def_cmp(const void *pa, const void *pb)
{
	const struct label_def *a = pa, *b = pb;
	int c = name_cmp(a->name, a->len, b->name, b->len);

	if (c)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* Sorts the labels by name and refuses the first duplicate in the
 * text (bpf_asm silently takes the first definition). */
static int check_duplicates(struct parser *ps)
{
	const struct label_def *dup = NULL, *first = NULL;
	size_t i;

	if (!ps->ndefs)
		return 0;
	qsort(ps->defs, ps->ndefs, sizeof(*ps->defs), def_cmp);
	for (i = 1; i < ps->ndefs; i++) {
		if (name_cmp(ps->defs[i].name, ps->defs[i].len,
			     ps->defs[i - 1].name, ps->defs[i - 1].len))
			continue;
		if (!dup || ps->defs[i].order < dup->order) {
			dup = &ps->defs[i];
			first = &ps->defs[i - 1];
		}
	}
	if (!dup)
		return 0;
	while (first > ps->defs && !name_cmp(first[-1].name, first[-1].len,
					      dup->name, dup->len))
		first--;
	ps->insn = (int)dup->insn;
	return fail_at(ps, dup->line, dup->col,
		       "label '%.*s' is already defined at line %d",
		       dup->len > 64 ? 64 : (int)dup->len, dup->name,
		       first->line);
}

static const struct label_def *find_label(const struct parser *ps,
					  const char *name, size_t len)
{
	size_t lo = 0, hi = ps->ndefs, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = name_cmp(name, len, ps->defs[mid].name, ps->defs[mid].len);
		if (!c)
			return &ps->defs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static int resolve(struct parser *ps, const struct label_ref *r)
{
	int nlen = r->len > 64 ? 64 : (int)r->len;
	struct sock_filter *f = &ps->insns[r->insn];
	const struct label_def *d;
	size_t skip;

	ps->insn = (int)r->insn;
	d = find_label(ps, r->name, r->len);
	if (!d)
		return fail_at(ps, r->line, r->col, "unknown label '%.*s'",
			       nlen, r->name);
	if (d->insn <= r->insn)
		return fail_at(ps, r->line, r->col,
			       "jump to label '%.*s' (line %d) goes backwards; "
			       "classic BPF only jumps forward", nlen, r->name,
			       d->line);
	skip = d->insn - r->insn - 1;
	if (r->kind == REF_K) {
		f->k = (uint32_t)skip;
		return 0;
	}
	if (skip > 255)
		return fail_at(ps, r->line, r->col,
			       "label '%.*s' is %zu instructions ahead; a "
			       "conditional jump reaches at most 255", nlen,
			       r->name, skip);
	if (r->kind == REF_JT)
		f->jt = (uint8_t)skip;
	else
		f->jf = (uint8_t)skip;
	return 0;
}

static int resolve_labels(struct parser *ps)
{
	const struct label_def *d;
	size_t i;
	int ret;

	/* A label must name an instruction: the last ones might not. */
	for (i = 0; i < ps->ndefs; i++) {
		d = &ps->defs[i];
		if (d->insn == ps->len)
			return fail_at(ps, d->line, d->col,
				       "label '%.*s' is not followed by an "
				       "instruction",
				       d->len > 64 ? 64 : (int)d->len, d->name);
	}
	ret = check_duplicates(ps);
	for (i = 0; !ret && i < ps->nrefs; i++)
		ret = resolve(ps, &ps->refs[i]);
	ps->insn = -1;
	return ret;
}

static int parse_program(struct parser *ps)
{
	struct token after;
	int ret;

	ret = next(ps);
	while (!ret && ps->tok.kind != TOK_EOF) {
		if (ps->tok.kind != TOK_WORD) {
			ret = fail_tok(ps, "an instruction or a label");
			break;
		}
		after = peek_token(ps);
		if (is_punct(&after, ':'))
			ret = define_label(ps);
		else
			ret = parse_insn(ps);
	}
	return ret ? ret : resolve_labels(ps);
}

int asm_parse(const char *text, size_t len, struct cbpf_prog *prog,
	      struct cbpf_error *err)
{
	struct parser ps = {
		.err = err,
		.insn = -1,
	};
	int ret;

	*prog = (struct cbpf_prog){ 0 };
	text_cursor_init(&ps.lx, text, len);
	ret = parse_program(&ps);
	/* Even an empty program gets an array, as cbpf_prog_from_array()
	 * gives one. */
	if (!ret)
		ret = grow(&ps, (void **)&ps.insns, &ps.cap, ps.len + 1,
			   sizeof(*ps.insns));
	free(ps.defs);
	free(ps.refs);
	if (ret) {
		free(ps.insns);
		return ret;
	}
	prog->insns = ps.insns;
	prog->len = ps.len;
	return 0;
}
