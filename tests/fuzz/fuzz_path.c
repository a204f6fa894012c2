// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: path messages (src/common/pathmsg.c), no sockets.
 *
 * Fixed keys for peers A and B; the first input byte picks what the rest
 * is (mod 3):
 *   0  a datagram, given to path_peek() and to path_open() with both
 *      peers' keys
 *   1  a payload (zero-padded to 32 bytes) sealed by A with the right key
 *      and header (byte 1 bit 0 picks the type), so the fuzzer reaches
 *      the checks behind the AEAD; B opens it
 *   2  a script for one replay window: records of counter[8] now[8]
 * Invariants: whatever opens re-seals and opens to the same message; a
 * message never opens with its sender's own keys; a counter the window
 * just accepted is refused at once, never lies more than 120 s ahead of
 * now, and never exceeds the window's max.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "key.h"
#include "pathmsg.h"

static struct {
	bool ready;
	struct path_keys a, b;	/* A's and B's view of the pair */
} fz;

static void setup(void)
{
	uint8_t priv[2][32], pub[2][32];

	if (fz.ready)
		return;
	if (sodium_init() < 0)
		abort();
	/* Fixed keys: the seeds stay valid and every run is the same. */
	memset(priv[0], 0x41, 32);
	memset(priv[1], 0x42, 32);
	wgp_key_public(pub[0], priv[0]);
	wgp_key_public(pub[1], priv[1]);
	if (path_keys_derive(&fz.a, priv[0], pub[0], pub[1]) ||
	    path_keys_derive(&fz.b, priv[1], pub[1], pub[0]))
		abort();
	fz.ready = true;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* An opened message must survive sealing and opening unchanged, and
 * must not open for its sender. */
static void check_round_trip(const struct path_msg *m,
			     const struct path_keys *sender,
			     const struct path_keys *receiver)
{
	uint8_t pkt[PATH_MSG_LEN];
	struct path_msg again;

	if (path_seal(pkt, m, sender) != PATH_MSG_LEN)
		abort();
	if (path_open(&again, pkt, sizeof(pkt), sender) == 0 ||
	    path_open(&again, pkt, sizeof(pkt), receiver) != 0)
		abort();
	if (again.type != m->type || again.counter != m->counter ||
	    again.flags != m->flags ||
	    memcmp(again.txid, m->txid, PATH_TXID_LEN) ||
	    !wgp_endpoint_equal(&again.addr, &m->addr))
		abort();
}

static void fuzz_datagram(const uint8_t *data, size_t size)
{
	uint8_t id[PATH_ID_LEN];
	struct path_msg m;

	if (!path_peek(data, size, id))
		return;
	if (path_open(&m, data, size, &fz.b) == 0)
		check_round_trip(&m, &fz.a, &fz.b);
	if (path_open(&m, data, size, &fz.a) == 0)
		check_round_trip(&m, &fz.b, &fz.a);
}

static void fuzz_payload(const uint8_t *data, size_t size)
{
	uint8_t pkt[PATH_MSG_LEN] = "WGPN\x02", payload[32] = { 0 };
	unsigned long long clen;
	struct path_msg m;

	if (!size)
		return;
	pkt[PATH_OFF_TYPE] = data[0] & 1 ? PATH_REPLY : PATH_PROBE;
	memcpy(pkt + PATH_OFF_ID, fz.a.tx_id, PATH_ID_LEN);
	memset(pkt + PATH_OFF_NONCE, 0x5a, 12);
	memcpy(payload, data + 1, size - 1 < 32 ? size - 1 : 32);
	crypto_aead_chacha20poly1305_ietf_encrypt(pkt + PATH_OFF_SEALED, &clen,
		payload, sizeof(payload), pkt, PATH_OFF_NONCE, NULL,
		pkt + PATH_OFF_NONCE, fz.a.tx);
	if (path_open(&m, pkt, sizeof(pkt), &fz.b) == 0)
		check_round_trip(&m, &fz.a, &fz.b);
}

static void fuzz_replay(const uint8_t *data, size_t size)
{
	struct path_replay w = { 0 };

	for (; size >= 16; data += 16, size -= 16) {
		uint64_t counter = get64(data), now = get64(data + 8);

		if (!path_replay_check(&w, counter, now))
			continue;
		if (counter > now && counter - now > PATH_REPLAY_CLOCK_NS)
			abort();
		if (counter > w.max || path_replay_check(&w, counter, now))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_datagram(data + 1, size - 1);
		break;
	case 1:
		fuzz_payload(data + 1, size - 1);
		break;
	default:
		fuzz_replay(data + 1, size - 1);
		break;
	}
	return 0;
}
