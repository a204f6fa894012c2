// SPDX-License-Identifier: MIT
/* Packets written as hexadecimal text. */
#include <stdbool.h>

#include "hex.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_separator(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == ':';
}

const char *hex_decode(const char *text, size_t textlen, uint8_t *out,
		       size_t cap, size_t *len, size_t *col)
{
	size_t i = 0, n = 0;
	int hi;

	while (i < textlen) {
		if (is_separator(text[i])) {
			i++;
			continue;
		}
		hi = hex_value(text[i]);
		if (hi < 0) {
			*col = i + 1;
			return "not a hex digit";
		}
		if (i + 1 >= textlen || is_separator(text[i + 1])) {
			*col = i + 1;	/* the digit left over */
			return "odd number of hex digits";
		}
		if (hex_value(text[i + 1]) < 0) {
			*col = i + 2;
			return "not a hex digit";
		}
		if (n == cap) {
			*col = i + 1;
			return "packet too long";
		}
		out[n++] = (uint8_t)(hi << 4 | hex_value(text[i + 1]));
		i += 2;
	}
	*len = n;
	return NULL;
}
