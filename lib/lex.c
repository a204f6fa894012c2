/* SPDX-License-Identifier: MIT */
/*
 * What the text parsers share: a cursor over a buffer that need not be
 * NUL-terminated, the comment syntax, digit strings, and errors with a
 * line and a column.
 *
 * Nothing here reads past c->end: every byte is looked at through
 * text_peek(), which answers -1 there.
 */
#include <errno.h>
#include <stdarg.h>
#include "internal.h"

void text_cursor_init(struct text_cursor *c, const char *text, size_t len)
{
	*c = (struct text_cursor){
		.p = text, .end = text + len, .line = 1, .col = 1,
		.line_blank = true,
	};
}

int text_peek(const struct text_cursor *c, size_t ahead)
{
	return (size_t)(c->end - c->p) > ahead ?
	       (unsigned char)c->p[ahead] : -1;
}

bool text_is_blank(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' ||
	       ch == '\f';
}

bool text_is_word(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z') || ch == '_';
}

void text_advance(struct text_cursor *c)
{
	if (*c->p == '\n') {
		c->line++;
		c->col = 1;
		c->line_blank = true;
	} else {
		c->col++;
		if (!text_is_blank((unsigned char)*c->p))
			c->line_blank = false;
	}
	c->p++;
}

/* `#` counts as a comment only first on a line, so that it can still
 * introduce bpf_asm's immediates ("ld #1"). */
static bool at_line_comment(const struct text_cursor *c)
{
	int ch = text_peek(c, 0);

	return (ch == '#' && c->line_blank) || ch == ';' ||
	       (ch == '/' && text_peek(c, 1) == '/');
}

static int skip_block_comment(struct text_cursor *c, int *line, int *col)
{
	*line = c->line;
	*col = c->col;
	text_advance(c);
	text_advance(c);
	while (text_peek(c, 0) >= 0 &&
	       !(text_peek(c, 0) == '*' && text_peek(c, 1) == '/'))
		text_advance(c);
	if (text_peek(c, 0) < 0)
		return -EINVAL;
	text_advance(c);
	text_advance(c);
	return 0;
}

int text_skip_space(struct text_cursor *c, bool newlines, int *line, int *col)
{
	int ch, ret;

	while ((ch = text_peek(c, 0)) >= 0) {
		if (text_is_blank(ch) || (newlines && ch == '\n')) {
			text_advance(c);
		} else if (at_line_comment(c)) {
			while (text_peek(c, 0) >= 0 && text_peek(c, 0) != '\n')
				text_advance(c);
		} else if (ch == '/' && text_peek(c, 1) == '*') {
			ret = skip_block_comment(c, line, col);
			if (ret)
				return ret;
		} else {
			break;
		}
	}
	return 0;
}

static unsigned int digit_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return (unsigned int)(ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (unsigned int)(ch - 'a' + 10);
	if (ch >= 'A' && ch <= 'F')
		return (unsigned int)(ch - 'A' + 10);
	return 99;	/* no digit of any base we read */
}

bool text_digits(const char *s, size_t len, unsigned int base, uint64_t *v)
{
	unsigned int d;
	size_t i;

	if (!len)
		return false;
	*v = 0;
	for (i = 0; i < len; i++) {
		d = digit_value((unsigned char)s[i]);
		if (d >= base)
			return false;
		/* Saturate, so that "too big" is decided by the caller's
		 * range check and a huge number cannot wrap into a small one. */
		if (*v > (UINT64_MAX - d) / base)
			*v = UINT64_MAX;
		else
			*v = *v * base + d;
	}
	return true;
}

int text_error(struct cbpf_error *e, int insn, int line, int col,
	       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(e, -EINVAL, insn, fmt, ap);
	va_end(ap);
	if (e) {
		e->line = line;
		e->column = col;
	}
	return -EINVAL;
}
