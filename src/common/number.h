/* SPDX-License-Identifier: MIT */
/*
 * The one strict number parser of wgpunch and wgpunchd: options, config
 * files, endpoints and WireGuard's UAPI all read numbers through it, so
 * they agree on what a number is.
 */
#ifndef WGPUNCH_NUMBER_H
#define WGPUNCH_NUMBER_H

#include <stddef.h>
#include <stdint.h>

/*
 * The len bytes at s as an unsigned decimal: digits only (no sign,
 * space or base prefix; leading zeros are fine), read in 64 bits on
 * every target (no wrap before the range check), min <= value <= max. 0; -EINVAL when it is
 * not a number; -ERANGE when it is one, out of range.
 */
int number_parse(const char *s, size_t len, uint64_t min, uint64_t max,
		 uint64_t *out);

#endif
