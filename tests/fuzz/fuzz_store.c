// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: what wgpunchd --registry reads from outside, the
 * messages and records other servers put in Redis (store_record.h) and
 * the --registry URL (store_url.h).
 *
 * The first byte chooses: even, the rest is a channel message, odd, a
 * URL. A message that decodes must encode back to exactly the same
 * bytes (the layout has one spelling per message, so nothing read is
 * silently reinterpreted), and so must its record alone. A URL that
 * parses must give a NUL-terminated host or path and a port.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_record.h"
#include "store_url.h"

static void check_msg(const uint8_t *p, size_t len)
{
	uint8_t out[STORE_MSG_MAX], rec[STORE_REC_LEN];
	struct store_msg m;
	size_t rec_at;

	if (store_msg_decode(&m, p, len) < 0)
		return;
	if (store_msg_encode(out, &m) != len || memcmp(out, p, len))
		abort();
	rec_at = m.kind == STORE_MSG_NOTIFY ? 1 + WGP_KEY_LEN : 1;
	store_rec_encode(rec, &m.rec);
	if (memcmp(rec, p + rec_at, STORE_REC_LEN))
		abort();
}

static void check_url(const uint8_t *p, size_t len)
{
	char text[512];
	struct store_url u;
	const char *why;

	if (len >= sizeof(text))
		return;
	memcpy(text, p, len);
	text[len] = '\0';
	if (store_url_parse(&u, text, &why) < 0) {
		if (!why)
			abort();
		return;
	}
	if (u.is_unix ? u.path[0] != '/' || !memchr(u.path, 0, sizeof(u.path)) :
			!u.host[0] || !u.port || !memchr(u.host, 0, sizeof(u.host)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		check_url(data + 1, size - 1);
	else
		check_msg(data + 1, size - 1);
	return 0;
}
