// SPDX-License-Identifier: MIT
/*
 * wgpunch — freshness of the server's unsolicited messages (fresh.h).
 */
#include "fresh.h"
#include "proto.h"

bool fresh_take_stamp(uint64_t *last, uint64_t stamp, uint64_t now_ns)
{
	if (!wgp_in_window(stamp, now_ns) || stamp <= *last)
		return false;
	*last = stamp;
	return true;
}
