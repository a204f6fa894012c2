/* SPDX-License-Identifier: MIT */
/* Packets written as hexadecimal text. */
#ifndef HEX_H
#define HEX_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes one line of hex bytes into out (room for cap bytes): "45000054",
 * "45 00 00 54" and "45:00:00:54" are the same packet. Whitespace and ':'
 * separate groups; each group must have an even number of digits, so
 * "1 2 3" is an error rather than the byte 0x12 and a stray nibble.
 * Returns NULL with *len set, or a reason with *col the 1-based column.
 */
const char *hex_decode(const char *text, size_t textlen, uint8_t *out,
		       size_t cap, size_t *len, size_t *col);

#endif
