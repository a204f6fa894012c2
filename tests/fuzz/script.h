/* SPDX-License-Identifier: MIT */
/*
 * The fuzzers that play a script (fuzz_wire, fuzz_relay, fuzz_engine)
 * read it as steps: an op byte, a length byte, then up to that many
 * bytes of payload (fewer at the end of the input).
 */
#ifndef WGPUNCH_FUZZ_SCRIPT_H
#define WGPUNCH_FUZZ_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The next step: false at the end. *data and *size move past its op
 * and length bytes; the payload is the next *len bytes. */
static inline bool script_next(const uint8_t **data, size_t *size,
			       uint8_t *op, size_t *len)
{
	if (*size < 2)
		return false;
	*op = (*data)[0];
	*len = (*data)[1];
	*data += 2;
	*size -= 2;
	if (*len > *size)
		*len = *size;
	return true;
}

#endif
