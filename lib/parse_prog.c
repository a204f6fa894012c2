/* SPDX-License-Identifier: MIT */
/*
 * Readers for the numeric forms of a program: tcpdump -ddd (a count line,
 * then "code jt jf k" lines), tcpdump -dd ("{ 0x28, 0, 0, 0x0000000c },"
 * lines, also bpf_asm -c output) and the one-line comma form that
 * bpf_asm, bpf_dbg and xt_bpf use ("N,code jt jf k,...", trailing comma
 * optional, any whitespace or newlines between numbers).
 *
 * The readers read; they do not judge. Any count up to
 * CBPF_TEXT_MAXINSNS is accepted, so that a 4097-instruction program
 * reaches cbpf_validate() and is refused there with the kernel's rule
 * (and so that an empty program is refused as the kernel refuses it).
 * Blank lines and comments (`#` first on a line, `;` or `//` to the end
 * of the line, C block comments) are allowed around numbers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

struct reader {
	struct text_cursor c;
	struct cbpf_error *err;
	int insn;		/* instruction being read, or -1 */
	struct sock_filter *insns;
	size_t len, cap;
};

#define fail_at(r, line, col, ...) \
	text_error((r)->err, (r)->insn, line, col, __VA_ARGS__)

static int peek(const struct text_cursor *c)
{
	return text_peek(c, 0);
}

/* A short, printable rendering of the token at p, for messages. */
static void token_text(const char *p, const char *end, char *buf, size_t size)
{
	size_t n = 0;
	int ch;

	while (p < end && n + 5 < size) {
		ch = (unsigned char)*p;
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
			break;
		if (ch >= 0x21 && ch < 0x7f)
			buf[n++] = (char)ch;
		else
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
		p++;
		if (text_is_word(ch) != text_is_word(p < end ? (unsigned char)*p : ' '))
			break;
	}
	buf[n] = '\0';
}

/* "got 'tok'" or "got end of input" for the byte at the cursor. */
static int fail_got(struct reader *r, const char *expected)
{
	char tok[48];

	if (r->c.p >= r->c.end)
		return fail_at(r, r->c.line, r->c.col,
			       "expected %s, got end of input", expected);
	if (peek(&r->c) == '\n')
		return fail_at(r, r->c.line, r->c.col,
			       "expected %s, got end of line", expected);
	token_text(r->c.p, r->c.end, tok, sizeof(tok));
	return fail_at(r, r->c.line, r->c.col, "expected %s, got '%s'",
		       expected, tok);
}

/* Skips blanks and comments, and newlines too if asked. */
static int skip_space(struct reader *r, bool newlines)
{
	int line, col;

	if (text_skip_space(&r->c, newlines, &line, &col))
		return fail_at(r, line, col, "unterminated /* comment");
	return 0;
}

struct number {
	uint64_t v;		/* saturates at UINT64_MAX */
	int line, col;
	char text[48];
};

/* One unsigned integer: 0x hex, decimal, and in C syntax (c_octal) a
 * leading 0 for octal, as bpf_asm -c prints zero ("0000"). */
static int read_number(struct reader *r, const char *what, bool c_octal,
		       struct number *n)
{
	const char *s = r->c.p;
	size_t len = 0;
	bool ok;

	n->line = r->c.line;
	n->col = r->c.col;
	if (peek(&r->c) < '0' || peek(&r->c) > '9')
		return fail_got(r, what);
	while (text_is_word(text_peek(&r->c, len)))
		len++;
	token_text(s, s + len, n->text, sizeof(n->text));
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		ok = text_digits(s + 2, len - 2, 16, &n->v);
	else if (c_octal && len > 1 && s[0] == '0')
		ok = text_digits(s + 1, len - 1, 8, &n->v);
	else
		ok = text_digits(s, len, 10, &n->v);
	if (!ok)
		return fail_at(r, n->line, n->col, "%s '%s' is not a number",
			       what, n->text);
	while (len--)
		text_advance(&r->c);
	return 0;
}

static int check_range(struct reader *r, const struct number *n,
		       const char *what, uint64_t max)
{
	if (n->v <= max)
		return 0;
	return fail_at(r, n->line, n->col, "%s '%s' is out of range (max %llu)",
		       what, n->text, (unsigned long long)max);
}

static const char *const field_names[4] = { "code", "jt", "jf", "k" };
static const uint64_t field_max[4] = { 0xffff, 0xff, 0xff, 0xffffffff };

static int store_field(struct reader *r, const struct number *n, int field,
		       struct sock_filter *f)
{
	int ret = check_range(r, n, field_names[field], field_max[field]);

	if (ret)
		return ret;
	switch (field) {
	case 0:
		f->code = (uint16_t)n->v;
		break;
	case 1:
		f->jt = (uint8_t)n->v;
		break;
	case 2:
		f->jf = (uint8_t)n->v;
		break;
	default:
		f->k = (uint32_t)n->v;
		break;
	}
	return 0;
}

static int reserve(struct reader *r, size_t want)
{
	if (lib_grow((void **)&r->insns, &r->cap, want, sizeof(*r->insns)))
		return error_set(r->err, -ENOMEM, -1, "out of memory");
	return 0;
}

static int append(struct reader *r, const struct sock_filter *f)
{
	int ret;

	if (r->len >= CBPF_TEXT_MAXINSNS)
		return fail_at(r, r->c.line, r->c.col,
			       "more than %d instructions", CBPF_TEXT_MAXINSNS);
	if (r->len + 1 >= r->cap) {
		ret = reserve(r, r->cap ? 2 * r->cap : 64);
		if (ret)
			return ret;
	}
	r->insns[r->len++] = *f;
	return 0;
}

static int read_count(struct reader *r, size_t *count)
{
	struct number n;
	int ret;

	ret = read_number(r, "the instruction count", false, &n);
	if (!ret)
		ret = check_range(r, &n, "instruction count",
				  CBPF_TEXT_MAXINSNS);
	if (!ret) {
		*count = (size_t)n.v;
		ret = reserve(r, *count + 1);
	}
	return ret;
}

static int fail_short(struct reader *r, size_t count)
{
	return fail_at(r, r->c.line, r->c.col,
		       "count %zu does not match the number of instructions (%zu)",
		       count, r->len);
}

/* tcpdump -ddd: one instruction per line, its four numbers on it. */
static int read_ddd_insn(struct reader *r, size_t count, struct sock_filter *f)
{
	struct number n;
	int field, ret;

	(void)count;	/* the line ends an instruction, not a separator */
	for (field = 0; field < 4; field++) {
		if (field > 0) {
			ret = skip_space(r, false);
			if (ret)
				return ret;
		}
		if (peek(&r->c) < 0 || peek(&r->c) == '\n')
			return fail_at(r, r->c.line, r->c.col,
				       "instruction %d has %d of 4 numbers "
				       "(code jt jf k)", r->insn, field);
		ret = read_number(r, field_names[field], false, &n);
		if (!ret)
			ret = store_field(r, &n, field, f);
		if (ret)
			return ret;
	}
	ret = skip_space(r, false);
	if (!ret && peek(&r->c) >= 0 && peek(&r->c) != '\n')
		ret = fail_got(r, "the end of the line after 'code jt jf k'");
	return ret;
}

/* The -ddd and comma forms: a count, then exactly that many
 * instructions, then nothing. */
static int read_counted(struct reader *r, int (*after_count)(struct reader *),
			int (*read_insn)(struct reader *, size_t count,
					 struct sock_filter *))
{
	struct sock_filter f = { 0 };
	size_t count;
	int ret;

	ret = skip_space(r, true);
	if (!ret)
		ret = read_count(r, &count);
	if (!ret)
		ret = after_count(r);
	while (!ret && r->len < count) {
		r->insn = (int)r->len;
		ret = skip_space(r, true);
		if (ret)
			return ret;
		if (peek(&r->c) < 0)
			return fail_short(r, count);
		ret = read_insn(r, count, &f);
		if (!ret)
			ret = append(r, &f);
	}
	r->insn = -1;
	if (!ret)
		ret = skip_space(r, true);
	if (!ret && peek(&r->c) >= 0)
		ret = fail_at(r, r->c.line, r->c.col,
			      "more instructions than the count (%zu)", count);
	return ret;
}

/* tcpdump -ddd: the count alone on the first line, then one
 * instruction per line, its four numbers on it. */
static int ddd_after_count(struct reader *r)
{
	int ret = skip_space(r, false);

	if (!ret && peek(&r->c) >= 0 && peek(&r->c) != '\n')
		ret = fail_got(r, "the end of the count line");
	return ret;
}

/* The comma form: "N," then "code jt jf k," N times, the last comma
 * optional. Whitespace and newlines may appear anywhere between numbers. */
static int comma_after_count(struct reader *r)
{
	int ret = skip_space(r, true);

	if (ret)
		return ret;
	if (peek(&r->c) != ',')
		return fail_got(r, "',' after the count");
	text_advance(&r->c);
	return 0;
}

static int read_comma_insn(struct reader *r, size_t count,
			   struct sock_filter *f)
{
	struct number n;
	int field, ret;

	for (field = 0; field < 4; field++) {
		ret = skip_space(r, true);
		if (ret)
			return ret;
		if (field > 0 && peek(&r->c) == ',')
			return fail_at(r, r->c.line, r->c.col,
				       "instruction %d has %d of 4 numbers "
				       "(code jt jf k)", r->insn, field);
		ret = read_number(r, field_names[field], false, &n);
		if (!ret)
			ret = store_field(r, &n, field, f);
		if (ret)
			return ret;
	}
	ret = skip_space(r, true);
	if (ret)
		return ret;
	if (peek(&r->c) == ',')
		text_advance(&r->c);
	else if (r->len + 1 < count && peek(&r->c) >= 0)
		return fail_got(r, "',' after an instruction");
	return 0;
}

static int expect_char(struct reader *r, int ch, const char *what)
{
	int ret = skip_space(r, true);

	if (ret)
		return ret;
	if (peek(&r->c) != ch)
		return fail_got(r, what);
	text_advance(&r->c);
	return 0;
}

/* tcpdump -dd: "{ code, jt, jf, k }," per instruction; C number syntax. */
static int read_dd_insn(struct reader *r, struct sock_filter *f)
{
	struct number n;
	int field, ret;

	ret = expect_char(r, '{', "'{'");
	for (field = 0; !ret && field < 4; field++) {
		if (field > 0)
			ret = expect_char(r, ',', "','");
		if (!ret)
			ret = skip_space(r, true);
		if (!ret)
			ret = read_number(r, field_names[field], true, &n);
		if (!ret)
			ret = store_field(r, &n, field, f);
	}
	if (!ret)
		ret = expect_char(r, '}', "'}'");
	return ret;
}

static int read_dd(struct reader *r)
{
	struct sock_filter f = { 0 };
	int ret;

	for (;;) {
		r->insn = (int)r->len;
		ret = skip_space(r, true);
		if (ret || peek(&r->c) < 0)
			break;
		ret = read_dd_insn(r, &f);
		if (!ret)
			ret = append(r, &f);
		if (!ret)
			ret = skip_space(r, true);
		if (ret)
			break;
		if (peek(&r->c) == ',')
			text_advance(&r->c);
	}
	r->insn = -1;
	return ret;
}

/* Moves the cursor to the first byte that is not blank or comment. */
static enum cbpf_form detect(struct reader *r)
{
	struct text_cursor num;
	int ch;

	if (skip_space(r, true))
		return CBPF_FORM_UNKNOWN;
	ch = peek(&r->c);
	if (ch == '{')
		return CBPF_FORM_DD;
	if (ch >= '0' && ch <= '9') {
		num = r->c;
		while (text_is_word(peek(&num)))
			text_advance(&num);
		while (text_is_blank(peek(&num)))
			text_advance(&num);
		return peek(&num) == ',' ? CBPF_FORM_COMMA : CBPF_FORM_DDD;
	}
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_')
		return CBPF_FORM_ASM;
	return CBPF_FORM_UNKNOWN;
}

enum cbpf_form cbpf_detect_form(const char *text, size_t len)
{
	struct reader r = { .err = NULL, .insn = -1 };

	text_cursor_init(&r.c, text, len);
	return detect(&r);
}

static int finish(struct reader *r, int ret, struct cbpf_prog *prog)
{
	if (ret) {
		free(r->insns);
		return ret;
	}
	/* Length 0 still gets a (1-element) array, as cbpf_prog_from_array
	 * does, so insns is never NULL on success. */
	if (!r->insns && reserve(r, 1))
		return -ENOMEM;
	prog->insns = r->insns;
	prog->len = r->len;
	return 0;
}

/* One numeric form (DDD, DD or COMMA), from the start of text. */
static int parse_numeric(const char *text, size_t len, enum cbpf_form form,
			 struct cbpf_prog *prog, struct cbpf_error *err)
{
	struct reader r = { .err = err, .insn = -1 };
	int ret;

	text_cursor_init(&r.c, text, len);
	switch (form) {
	case CBPF_FORM_DDD:
		ret = read_counted(&r, ddd_after_count, read_ddd_insn);
		break;
	case CBPF_FORM_COMMA:
		ret = read_counted(&r, comma_after_count, read_comma_insn);
		break;
	default:
		ret = read_dd(&r);
		break;
	}
	return finish(&r, ret, prog);
}

/* CBPF_FORM_UNKNOWN: the form the text is in. */
static int parse_detected(const char *text, size_t len,
			  struct cbpf_prog *prog, struct cbpf_error *err)
{
	struct reader r = { .err = err, .insn = -1 };
	enum cbpf_form form;

	text_cursor_init(&r.c, text, len);
	form = detect(&r);
	switch (form) {
	case CBPF_FORM_DDD:
	case CBPF_FORM_DD:
	case CBPF_FORM_COMMA:
		return parse_numeric(text, len, form, prog, err);
	default:
		break;
	}
	/* "(000) ldh [12]" lost its jump offsets to absolute targets and
	 * its k to formatting; say which forms do round-trip. */
	if (peek(&r.c) == '(')
		return fail_at(&r, r.c.line, r.c.col,
			       "tcpdump -d output cannot be read back; use "
			       "tcpdump -dd or -ddd");
	return asm_parse(text, len, prog, err);
}

int cbpf_parse(const char *text, size_t len, enum cbpf_form form,
	       struct cbpf_prog *prog, struct cbpf_error *err)
{
	*prog = (struct cbpf_prog){ 0 };
	switch (form) {
	case CBPF_FORM_UNKNOWN:
		return parse_detected(text, len, prog, err);
	case CBPF_FORM_DDD:
	case CBPF_FORM_DD:
	case CBPF_FORM_COMMA:
		return parse_numeric(text, len, form, prog, err);
	case CBPF_FORM_ASM:
		return asm_parse(text, len, prog, err);
	case CBPF_FORM_TCPDUMP:
		return text_error(err, -1, 0, 0,
				  "tcpdump -d output cannot be read back; use "
				  "tcpdump -dd or -ddd");
	case CBPF_FORM_C:
	case CBPF_FORM_DOT:
		return text_error(err, -1, 0, 0,
				  "the C and dot forms cannot be read back");
	}
	return text_error(err, -1, 0, 0, "unknown text form %d", (int)form);
}
