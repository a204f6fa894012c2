/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — the text protocol of WireGuard's userspace API socket, split
 * from the socket I/O so tests and the fuzzer can drive it with bytes.
 *
 * A "get=1" reply is "key=value\n" lines: device keys first, then for
 * each peer a "public_key=" line followed by that peer's keys, then
 * "errno=N\n" and an empty line. Keys we do not know are skipped (newer
 * implementations add some); everything we read is checked for syntax
 * and range, since the other end is just a process that owns a socket.
 */
#ifndef WGPUNCH_WG_UAPI_H
#define WGPUNCH_WG_UAPI_H

#include <stdbool.h>
#include <stddef.h>
#include "wg.h"

/* Longer lines are refused. The longest legitimate line is an
 * allowed_ip or endpoint with an IPv6 scope, well under 128 bytes. */
#define UAPI_MAX_LINE 1024

struct uapi_parser {
	struct wg_device *dev;
	bool in_peer;		/* a public_key= line has been seen */
	bool got_errno;
	bool done;
	int remote_errno;	/* the value of errno= */
	unsigned int line;	/* lines consumed, for error messages */
};

void uapi_parser_init(struct uapi_parser *p, struct wg_device *dev);

/*
 * Feed one line without its '\n'. Returns 0 to ask for more, 1 when the
 * reply is complete (the empty line after errno=), or a negative errno
 * for a malformed line (-EBADMSG, -ERANGE, -EMSGSIZE, -E2BIG, -ENOMEM).
 */
int uapi_parse_line(struct uapi_parser *p, const char *line, size_t len);

/*
 * Parse a whole "get=1" reply held in buf[0..len) into dev, which is
 * zeroed first and must go to wg_free_device() afterwards whatever the
 * result. 0, the negated errno= value the server reported, -EBADMSG for
 * a reply that ends early, or the first error uapi_parse_line() gave.
 */
int uapi_parse_reply(struct wg_device *dev, const char *buf, size_t len);

/* Decode 64 hex digits into a key, in constant time. 0 or -EINVAL. */
int uapi_key_from_hex(uint8_t key[static WG_KEY_LEN], const char *hex, size_t len);
void uapi_key_to_hex(char hex[static 2 * WG_KEY_LEN + 1],
		     const uint8_t key[static WG_KEY_LEN]);

/* The "set=1" request for one peer's endpoint and keepalive, written
 * into buf; its length, or -ENOSPC. */
int uapi_format_set_endpoint(char *buf, size_t size,
			     const uint8_t key[static WG_KEY_LEN],
			     const struct sockaddr *endpoint, uint16_t keepalive);

#endif
