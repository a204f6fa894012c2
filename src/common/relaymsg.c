// SPDX-License-Identifier: MIT
/*
 * RELAY_BIND encoding and verification (layout in relaymsg.h). The shape
 * check is what the relay runs on every datagram that is not from a
 * bound source, so it costs a few byte compares; the MAC only runs on
 * datagrams that pass it, within the caller's budget.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "relaymsg.h"

#define OFF_COUNTER	8
#define OFF_MAC		16

static const char bind_label[] = "wgpunch v2 relay bind";

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* BLAKE2b-128 keyed with key over label || head[16] || relay_port. */
static void bind_mac(uint8_t mac[static RELAY_MAC_LEN],
		     const uint8_t key[static RELAY_KEY_LEN],
		     const uint8_t *head, uint16_t relay_port)
{
	crypto_generichash_state st;
	uint8_t port[2] = { (uint8_t)(relay_port >> 8), (uint8_t)relay_port };

	crypto_generichash_init(&st, key, RELAY_KEY_LEN, RELAY_MAC_LEN);
	crypto_generichash_update(&st, (const uint8_t *)bind_label,
				  sizeof(bind_label) - 1);
	crypto_generichash_update(&st, head, OFF_MAC);
	crypto_generichash_update(&st, port, sizeof(port));
	crypto_generichash_final(&st, mac, RELAY_MAC_LEN);
	sodium_memzero(&st, sizeof(st));
}

void relay_bind_encode(uint8_t out[static RELAY_BIND_LEN],
		       const uint8_t key[static RELAY_KEY_LEN],
		       uint16_t relay_port, uint64_t counter)
{
	memcpy(out, WGP_MAGIC, 4);
	out[WGP_OFF_VERSION] = RELAY_BIND_VERSION;
	out[WGP_OFF_TYPE] = RELAY_BIND;
	out[6] = out[7] = 0;
	put64(out + OFF_COUNTER, counter);
	bind_mac(out + OFF_MAC, key, out, relay_port);
}

bool relay_bind_shaped(const uint8_t *pkt, size_t len)
{
	return len == RELAY_BIND_LEN && !memcmp(pkt, WGP_MAGIC, 4) &&
	       pkt[WGP_OFF_VERSION] == RELAY_BIND_VERSION &&
	       pkt[WGP_OFF_TYPE] == RELAY_BIND && !pkt[6] && !pkt[7];
}

int relay_bind_verify(const uint8_t *pkt, size_t len,
		      const uint8_t key[static RELAY_KEY_LEN],
		      uint16_t relay_port, uint64_t *counter)
{
	uint8_t mac[RELAY_MAC_LEN];
	int diff;

	if (!relay_bind_shaped(pkt, len))
		return -EBADMSG;
	bind_mac(mac, key, pkt, relay_port);
	diff = sodium_memcmp(mac, pkt + OFF_MAC, RELAY_MAC_LEN);
	if (diff)
		return -EBADMSG;
	*counter = get64(pkt + OFF_COUNTER);
	return 0;
}
