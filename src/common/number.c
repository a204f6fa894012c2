// SPDX-License-Identifier: MIT
/*
 * The one strict number parser (see number.h).
 */
#include <errno.h>
#include <stdbool.h>

#include "number.h"

int number_parse(const char *s, size_t len, uint64_t min, uint64_t max,
		 uint64_t *out)
{
	bool overflow = false;
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned int d = (unsigned int)(unsigned char)s[i] - '0';

		if (d > 9)
			return -EINVAL;
		/* Read on past an overflow: a later non-digit still makes
		 * it no number at all. */
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		v = v * 10 + d;
	}
	if (overflow || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}
