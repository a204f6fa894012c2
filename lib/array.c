// SPDX-License-Identifier: MIT
/*
 * libcbpf — the one growable array (internal.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

int lib_grow(void **array, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	p = reallocarray(*array, n, size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = n;
	return 0;
}
