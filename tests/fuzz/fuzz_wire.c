// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: wgpunchd's request parser and handler, no sockets.
 *
 * The input is a script of records  op[1] len[1] bytes[len]  run against
 * a fresh small server with fixed keys and a fixed clock:
 *   op & 3 == 0  raw datagram (bytes) from source op>>2 (8 sources,
 *                both families), to the main or probe port (op & 0x80)
 *   op & 3 == 1  a datagram SEALED by test client (op>>2)%3 with the
 *                right session: bytes[0] is the type (bit 7 set:
 *                version 2), the rest the payload (zero-padded to the
 *                type's size in that version), so the fuzzer reaches the
 *                decoders and the handler logic behind the AEAD; op &
 *                0x40 sets a fresh in-window counter, op & 0x80 turns
 *                REGISTER payload bytes into consent digests of the
 *                test clients; an odd bytes[1] attaches the last
 *                cookie the server sent (byte 6 = 1, 16 bytes after)
 *   op & 3 == 2  advance the clock by bytes[0] seconds and run expiry
 *   op & 3 == 3  a 64-byte legacy request (bytes, zero-padded)
 * The X25519 budget is small, so the server gets under load and sends
 * COOKIEs. After every datagram the harness checks the server's
 * invariants: every non-legacy datagram it queues opens under one of the
 * clients' sessions or is a 36-byte COOKIE to the source, nothing sent back to the source is longer than the request
 * or in another version than the request, and no candidate the server
 * hands out is one wgp_endpoint_usable() refuses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <sodium.h>

#include "server.h"
#include "script.h"

#define N_CLIENTS 3

static struct {
	bool ready;
	uint8_t server_priv[32], server_pub[32];
	uint8_t priv[N_CLIENTS][32], pub[N_CLIENTS][32];
	struct wgp_session sess[N_CLIENTS];
	struct out_msg *msgs;
	bool have_cookie;		/* the last COOKIE's, for op 1 */
	uint8_t cookie[WGP_COOKIE_LEN];
} fz;

static void setup(void)
{
	int i;

	if (fz.ready)
		return;
	if (sodium_init() < 0)
		abort();
	/* Fixed keys: every run of an input behaves the same. */
	memset(fz.server_priv, 0x42, 32);
	wgp_key_public(fz.server_pub, fz.server_priv);
	for (i = 0; i < N_CLIENTS; i++) {
		memset(fz.priv[i], 0x10 + i, 32);
		wgp_key_public(fz.pub[i], fz.priv[i]);
		if (wgp_session_client(&fz.sess[i], fz.priv[i], fz.pub[i],
				       fz.server_pub) < 0)
			abort();
	}
	fz.msgs = calloc(128, sizeof(*fz.msgs));
	if (!fz.msgs)
		abort();
	fz.ready = true;
}

static struct wgp_endpoint source(unsigned int i)
{
	struct wgp_endpoint ep = { .port = (uint16_t)(51820 + (i & 7)) };

	if (i & 4) {
		ep.family = AF_INET6;
		ep.addr[0] = 0x20;
		ep.addr[1] = 0x01;
		ep.addr[2] = 0x0d;
		ep.addr[3] = 0xb8;
		ep.addr[15] = (uint8_t)i;
	} else {
		ep.family = AF_INET;
		ep.addr[0] = 198;
		ep.addr[1] = 18;
		ep.addr[3] = (uint8_t)i;
	}
	return ep;
}

/* Every candidate block in m holds only empty or usable slots. */
static bool cands_clean(const struct wgp_endpoint *cands)
{
	unsigned int i;

	for (i = 0; i < WGP_MAX_CANDIDATES; i++)
		if (cands[i].family && !wgp_endpoint_usable(&cands[i]))
			return false;
	return true;
}

static bool msg_cands_clean(const struct wgp_msg *m)
{
	unsigned int i;

	switch (m->type) {
	case WGP_REGISTER_REPLY:
		for (i = 0; i < m->u.reg_reply.n_peers; i++)
			if (!cands_clean(m->u.reg_reply.peers[i].cands))
				return false;
		return true;
	case WGP_LOOKUP_REPLY:
		return cands_clean(m->u.lookup_reply.cands);
	case WGP_NOTIFY:
		return cands_clean(m->u.notify.cands);
	}
	return true;
}

static void check_output(const struct outq *q, const struct rx_info *rx)
{
	struct wgp_msg m;
	unsigned int i;
	int c;

	for (i = 0; i < q->n; i++) {
		const struct out_msg *o = &q->msgs[i];

		if (o->len > WGP_MAX_MSG_LEN)
			abort();
		if (rx->len == WGP_LEGACY_REQUEST_LEN && o->len <= 6)
			continue;
		if (!wgp_parse_header(&m, o->buf, o->len) &&
		    m.type == WGP_COOKIE) {
			/* Clear, to the source, shorter than the request. */
			if (o->len != WGP_COOKIE_MSG_LEN || o->len > rx->len ||
			    !wgp_endpoint_equal(&o->dst, &rx->src))
				abort();
			memcpy(fz.cookie, m.cookie, WGP_COOKIE_LEN);
			fz.have_cookie = true;
			continue;
		}
		for (c = 0; c < N_CLIENTS; c++)
			if (!wgp_open(&m, o->buf, o->len, &fz.sess[c]))
				break;
		if (c == N_CLIENTS)
			abort();	/* sent something no client can open */
		if (m.type != WGP_NOTIFY && o->len > rx->len)
			abort();	/* amplification */
		if (m.type != WGP_NOTIFY && m.version != rx->pkt[WGP_OFF_VERSION])
			abort();	/* answered in another version */
		if (!msg_cands_clean(&m))
			abort();	/* handed out an unusable candidate */
	}
}

static void deliver(struct server *srv, struct outq *q, const uint8_t *pkt,
		    size_t len, struct wgp_endpoint src, enum server_port port,
		    uint64_t now, uint64_t now_ns)
{
	struct rx_info rx = { .pkt = pkt, .len = len, .src = src,
			      .port = port };

	q->n = 0;
	server_handle(srv, &rx, now, now_ns, q);
	check_output(q, &rx);
}

static size_t seal_for(unsigned int c, const uint8_t *data, size_t len,
		       uint8_t op, uint64_t counter, uint8_t *out)
{
	uint8_t plain[WGP_MAX_MSG_LEN] = { 0 };
	unsigned long long clen;
	size_t pre, plen, fixed, n = 0, i;
	uint8_t type, version;
	bool cookie;

	if (!len)
		return 0;
	type = data[0] & 0x7f;
	version = data[0] & 0x80 ? 2 : 1;
	data++;
	len--;
	if (!wgp_type_is_request(type))
		type = WGP_REGISTER;
	pre = WGP_REQ_PREFIX_LEN;
	fixed = version == 2 ? WGP_REGISTER_FIXED_V2 : WGP_REGISTER_FIXED;
	switch (type) {
	case WGP_REGISTER:
		n = len > fixed ? (len - fixed) / 2 : 0;
		if (n > WGP_MAX_CONSENT)
			n = WGP_MAX_CONSENT;
		plen = fixed + n * WGP_CONSENT_LEN;
		break;
	case WGP_LOOKUP:
		plen = version == 2 ? WGP_LOOKUP_LEN_V2 : WGP_LOOKUP_LEN;
		break;
	case WGP_RELAY:		/* version 1 has none: a length no one takes */
		plen = WGP_RELAY_LEN;
		break;
	default:
		plen = WGP_PROBE_LEN;
		break;
	}
	memcpy(plain, data, len < plen ? len : plen);
	if (type == WGP_REGISTER && (op & 0x80)) {
		/* A well-formed REGISTER naming test clients. */
		plain[9] = (uint8_t)n;
		plain[10] = plain[11] = 0;
		for (i = 0; i < n; i++)
			wgp_consent_digest(plain + fixed + i * WGP_CONSENT_LEN,
					   fz.pub[data[fixed + i] % N_CLIENTS]);
	}
	if (type == WGP_LOOKUP && len > 12)
		memcpy(plain + 12, fz.pub[data[12] % N_CLIENTS], 32);
	if (type == WGP_RELAY && len > 8)
		memcpy(plain + 8, fz.pub[data[8] % N_CLIENTS], 32);
	if (op & 0x40)
		for (i = 0; i < 8; i++)
			plain[i] = (uint8_t)(counter >> (56 - 8 * i));
	memcpy(out, WGP_MAGIC, 4);
	out[WGP_OFF_VERSION] = version;
	out[5] = type;
	out[6] = out[7] = 0;
	memset(out + 8, 0xaa, WGP_TXID_LEN);
	memcpy(out + WGP_OFF_KEY, fz.pub[c], 32);
	memset(out + pre - WGP_NONCE_LEN, 0, WGP_NONCE_LEN);
	cookie = fz.have_cookie && len && (data[0] & 1);
	out[WGP_OFF_COOKIE_FLAG] = cookie;
	crypto_aead_chacha20poly1305_ietf_encrypt(out + pre, &clen, plain,
		plen, out, pre - WGP_NONCE_LEN, NULL, out + pre - WGP_NONCE_LEN,
		fz.sess[c].up);
	if (!cookie)
		return pre + (size_t)clen;
	memcpy(out + pre + clen, fz.cookie, WGP_COOKIE_LEN);
	return pre + (size_t)clen + WGP_COOKIE_LEN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pkt[WGP_MAX_MSG_LEN + 64], legacy[64];
	uint64_t now = 1000, now_ns = 1700000000000000000ULL, counter = now_ns;
	struct server_config cfg;
	struct server srv;
	struct outq q = { 0 };
	size_t len, plen;
	uint8_t op;

	setup();
	fz.have_cookie = false;
	server_config_defaults(&cfg);
	cfg.capacity = 8;
	cfg.consent_chunks = 8;
	cfg.legacy_capacity = 4;
	cfg.rl_sets = 1;
	cfg.rate = 1000;
	cfg.burst = 1000;
	cfg.legacy = true;
	cfg.dh_rate = 8;	/* under load after 4 new keys in a second */
	cfg.relay.first = 40000;	/* two allocations: FULL is reachable */
	cfg.relay.last = 40003;
	cfg.relay.per_key = 1;
	if (server_init(&srv, &cfg, fz.server_priv, now) < 0)
		abort();
	q.msgs = fz.msgs;
	q.cap = 128;

	while (script_next(&data, &size, &op, &len)) {
		switch (op & 3) {
		case 0:
			deliver(&srv, &q, data, len, source(op >> 2),
				op & 0x80 ? PORT_PROBE : PORT_MAIN, now, now_ns);
			break;
		case 1:
			counter += 1 + (len ? data[0] : 0);
			plen = seal_for((op >> 2) % N_CLIENTS, data, len, op,
					counter, pkt);
			if (plen)
				deliver(&srv, &q, pkt, plen,
					source((op >> 4) & 3), PORT_MAIN, now,
					now_ns);
			break;
		case 2:
			now += (uint64_t)(len ? data[0] : 1) * 1000;
			server_tick(&srv, now);
			break;
		case 3:
			memset(legacy, 0, sizeof(legacy));
			memcpy(legacy, data, len < 64 ? len : 64);
			deliver(&srv, &q, legacy, 64, source(op >> 2),
				PORT_MAIN, now, now_ns);
			break;
		}
		data += len;
		size -= len;
	}
	server_free(&srv);
	return 0;
}
