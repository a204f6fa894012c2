// SPDX-License-Identifier: MIT
/*
 * wgpunch path messages: keys, sealing, opening and the replay window
 * (layout in pathmsg.h). Like proto.c, the decoder trusts no byte: the
 * length and clear header are checked before any crypto, every reserved
 * byte and the endpoint after decryption.
 */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include <sodium.h>

#include "pathmsg.h"

#define PATH_PAYLOAD_LEN	32
#define PATH_TAG_LEN		16

/* Payload offsets. */
#define PL_COUNTER	0
#define PL_ADDR		8
#define PL_FLAGS	28
#define PL_RESERVED	29

static const char keys_label[] = "wgpunch v2 path keys";
static const char id_label[] = "wgpunch v2 path id";

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	while (len--)
		acc |= *p++;
	return acc == 0;
}

/* ---- keys ---------------------------------------------------------- */

/* BLAKE2b-outlen(label || dh || lo || hi). */
static void hash_pair(uint8_t *out, size_t outlen, const char *label,
		      const uint8_t *dh, const uint8_t *lo, const uint8_t *hi)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, outlen);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	crypto_generichash_update(&st, dh, crypto_scalarmult_BYTES);
	crypto_generichash_update(&st, lo, 32);
	crypto_generichash_update(&st, hi, 32);
	crypto_generichash_final(&st, out, outlen);
	sodium_memzero(&st, sizeof(st));
}

int path_keys_derive(struct path_keys *k, const uint8_t my_priv[static 32],
		     const uint8_t my_pub[static 32],
		     const uint8_t peer_pub[static 32])
{
	uint8_t dh[crypto_scalarmult_BYTES], keys[64], ids[16];
	const uint8_t *lo, *hi;
	int cmp = memcmp(my_pub, peer_pub, 32);
	bool i_am_lo = cmp < 0;

	/* Equal keys would make both directions one key: a reflected
	 * message would authenticate. */
	if (cmp == 0)
		return -EINVAL;
	/* crypto_scalarmult fails on an all-zero result (low-order
	 * point): anyone could compute such a "shared" secret. */
	if (crypto_scalarmult(dh, my_priv, peer_pub) != 0) {
		sodium_memzero(dh, sizeof(dh));
		return -EINVAL;
	}
	lo = i_am_lo ? my_pub : peer_pub;
	hi = i_am_lo ? peer_pub : my_pub;
	hash_pair(keys, sizeof(keys), keys_label, dh, lo, hi);
	hash_pair(ids, sizeof(ids), id_label, dh, lo, hi);
	memcpy(k->tx, keys + (i_am_lo ? 0 : 32), 32);
	memcpy(k->rx, keys + (i_am_lo ? 32 : 0), 32);
	memcpy(k->tx_id, ids + (i_am_lo ? 0 : 8), 8);
	memcpy(k->rx_id, ids + (i_am_lo ? 8 : 0), 8);
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(keys, sizeof(keys));
	return 0;
}

/* ---- endpoints (rendezvous §3 encoding) ----------------------------- */

/* A path message always names a real endpoint: a family and a port. */
static bool endpoint_ok(const struct wgp_endpoint *ep)
{
	if (!ep->port)
		return false;
	if (ep->family == AF_INET)
		return all_zero(ep->addr + 4, 12);
	return ep->family == AF_INET6;
}

static void put_endpoint(uint8_t *p, const struct wgp_endpoint *ep)
{
	p[0] = ep->family == AF_INET ? 4 : 6;
	p[1] = 0;
	put16(p + 2, ep->port);
	memcpy(p + 4, ep->addr, 16);
}

static bool get_endpoint(struct wgp_endpoint *ep, const uint8_t *p)
{
	if (p[0] == 4)
		ep->family = AF_INET;
	else if (p[0] == 6)
		ep->family = AF_INET6;
	else
		return false;
	if (p[1])
		return false;
	ep->port = get16(p + 2);
	memcpy(ep->addr, p + 4, 16);
	return endpoint_ok(ep);
}

/* ---- messages ------------------------------------------------------ */

static bool type_ok(uint8_t type)
{
	return type == PATH_PROBE || type == PATH_REPLY;
}

ssize_t path_seal(uint8_t out[static PATH_MSG_LEN], const struct path_msg *m,
		  const struct path_keys *k)
{
	uint8_t *payload = out + PATH_OFF_SEALED;
	unsigned long long clen;

	if (!type_ok(m->type) || (m->flags & ~PATH_F_ALL) ||
	    !endpoint_ok(&m->addr))
		return -EINVAL;
	memcpy(out, WGP_MAGIC, 4);
	out[PATH_OFF_VERSION] = PATH_VERSION;
	out[PATH_OFF_TYPE] = m->type;
	out[6] = out[7] = 0;
	memcpy(out + PATH_OFF_TXID, m->txid, PATH_TXID_LEN);
	memcpy(out + PATH_OFF_ID, k->tx_id, PATH_ID_LEN);
	randombytes_buf(out + PATH_OFF_NONCE, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);

	put64(payload + PL_COUNTER, m->counter);
	put_endpoint(payload + PL_ADDR, &m->addr);
	payload[PL_FLAGS] = m->flags;
	memset(payload + PL_RESERVED, 0, 3);
	crypto_aead_chacha20poly1305_ietf_encrypt(payload, &clen, payload,
		PATH_PAYLOAD_LEN, out, PATH_OFF_NONCE, NULL,
		out + PATH_OFF_NONCE, k->tx);
	return PATH_MSG_LEN;
}

bool path_peek(const uint8_t *pkt, size_t len, uint8_t id[static PATH_ID_LEN])
{
	if (len != PATH_MSG_LEN || memcmp(pkt, WGP_MAGIC, 4) ||
	    pkt[PATH_OFF_VERSION] != PATH_VERSION ||
	    !type_ok(pkt[PATH_OFF_TYPE]) || pkt[6] || pkt[7])
		return false;
	memcpy(id, pkt + PATH_OFF_ID, PATH_ID_LEN);
	return true;
}

static bool decode_payload(struct path_msg *m, const uint8_t *p)
{
	m->counter = get64(p + PL_COUNTER);
	m->flags = p[PL_FLAGS];
	return get_endpoint(&m->addr, p + PL_ADDR) &&
	       !(m->flags & ~PATH_F_ALL) && all_zero(p + PL_RESERVED, 3);
}

int path_open(struct path_msg *m, const uint8_t *pkt, size_t len,
	      const struct path_keys *k)
{
	uint8_t id[PATH_ID_LEN], plain[PATH_PAYLOAD_LEN];
	unsigned long long plen;
	bool ok;

	if (!path_peek(pkt, len, id) ||
	    sodium_memcmp(id, k->rx_id, PATH_ID_LEN) != 0)
		return -EBADMSG;
	if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, &plen, NULL,
			pkt + PATH_OFF_SEALED, PATH_PAYLOAD_LEN + PATH_TAG_LEN,
			pkt, PATH_OFF_NONCE, pkt + PATH_OFF_NONCE, k->rx) != 0)
		return -EBADMSG;
	m->type = pkt[PATH_OFF_TYPE];
	memcpy(m->txid, pkt + PATH_OFF_TXID, PATH_TXID_LEN);
	ok = decode_payload(m, plain);
	sodium_memzero(plain, sizeof(plain));
	return ok ? 0 : -EBADMSG;
}

void path_txid_new(uint8_t txid[static PATH_TXID_LEN])
{
	randombytes_buf(txid, PATH_TXID_LEN);
}

uint64_t path_counter_next(uint64_t *last, uint64_t now_ns)
{
	uint64_t next = *last + 1 > now_ns ? *last + 1 : now_ns;

	*last = next;
	return next;
}

/* ---- replay window ------------------------------------------------- */

static bool in_recent(const struct path_replay *w, uint64_t counter)
{
	bool seen = false;

	for (unsigned int i = 0; i < PATH_REPLAY_RECENT; i++)
		seen |= w->recent[i] == counter;
	return seen;
}

static void record(struct path_replay *w, uint64_t counter)
{
	if (!w->any) {
		/* Fill every slot with the first counter: no zeroed slot
		 * can then pass for an accepted counter. */
		for (unsigned int i = 0; i < PATH_REPLAY_RECENT; i++)
			w->recent[i] = counter;
		w->max = counter;
		w->next = 0;
		w->any = true;
	}
	w->recent[w->next % PATH_REPLAY_RECENT] = counter;
	w->next = (w->next + 1) % PATH_REPLAY_RECENT;
	if (counter > w->max)
		w->max = counter;
}

bool path_replay_check(struct path_replay *w, uint64_t counter,
		       uint64_t now_ns)
{
	/* Written without now_ns + window, which could wrap. */
	if (counter > now_ns && counter - now_ns > PATH_REPLAY_CLOCK_NS)
		return false;
	if (!w->any) {
		if (counter < now_ns && now_ns - counter > PATH_REPLAY_CLOCK_NS)
			return false;
	} else {
		if (w->max >= PATH_REPLAY_REORDER_NS &&
		    counter <= w->max - PATH_REPLAY_REORDER_NS)
			return false;
		if (in_recent(w, counter))
			return false;
	}
	record(w, counter);
	return true;
}
