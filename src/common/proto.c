// SPDX-License-Identifier: MIT
/*
 * wgpunch protocol v1 and v2: encoding, decoding, sealing and opening of
 * every message (layout in proto.h and doc/protocol.md). Decoders trust no
 * byte: lengths are checked against the type before any crypto, and
 * every reserved byte, count and address family after decryption.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <sodium.h>

#include "proto.h"

/*
 * Nonces and transaction ids are random bytes drawn from a per-thread
 * pool refilled by randombytes_buf() 4 KiB at a time: one getrandom()
 * system call per ~170 messages instead of one per message, which is
 * what a busy server would otherwise spend most of its time in.
 */
static _Thread_local struct {
	uint8_t buf[4096];
	size_t used;
} pool = { .used = sizeof(pool.buf) };

static void random_bytes(uint8_t *out, size_t len)
{
	if (len > sizeof(pool.buf) - pool.used) {
		randombytes_buf(pool.buf, sizeof(pool.buf));
		pool.used = 0;
	}
	memcpy(out, pool.buf + pool.used, len);
	/* Never hand out the same bytes twice. */
	sodium_memzero(pool.buf + pool.used, len);
	pool.used += len;
}

static const char session_label[] = "wgpunch v1 session keys";
static const char consent_label[] = "wgpunch v1 consent";

/* Big-endian accessors: the wire is unaligned, so go byte by byte. */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	while (len--)
		acc |= *p++;
	return acc == 0;
}

/* ---- keys ---------------------------------------------------------- */

static int session_derive(struct wgp_session *s, const uint8_t *my_priv,
			  const uint8_t *their_pub, const uint8_t *client_pub,
			  const uint8_t *server_pub)
{
	crypto_generichash_state st;
	uint8_t dh[crypto_scalarmult_BYTES];
	uint8_t out[64];

	/* crypto_scalarmult fails on an all-zero result (low-order point):
	 * such a "key" would let anyone compute the session. */
	if (crypto_scalarmult(dh, my_priv, their_pub) != 0) {
		sodium_memzero(dh, sizeof(dh));
		return -EINVAL;
	}
	crypto_generichash_init(&st, NULL, 0, sizeof(out));
	crypto_generichash_update(&st, (const uint8_t *)session_label,
				  sizeof(session_label) - 1);
	crypto_generichash_update(&st, dh, sizeof(dh));
	crypto_generichash_update(&st, client_pub, WGP_KEY_LEN);
	crypto_generichash_update(&st, server_pub, WGP_KEY_LEN);
	crypto_generichash_final(&st, out, sizeof(out));
	memcpy(s->up, out, 32);
	memcpy(s->down, out + 32, 32);
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(out, sizeof(out));
	sodium_memzero(&st, sizeof(st));
	return 0;
}

int wgp_session_client(struct wgp_session *s,
		       const uint8_t client_priv[static WGP_KEY_LEN],
		       const uint8_t client_pub[static WGP_KEY_LEN],
		       const uint8_t server_pub[static WGP_KEY_LEN])
{
	return session_derive(s, client_priv, server_pub, client_pub,
			      server_pub);
}

int wgp_session_server(struct wgp_session *s,
		       const uint8_t server_priv[static WGP_KEY_LEN],
		       const uint8_t server_pub[static WGP_KEY_LEN],
		       const uint8_t client_pub[static WGP_KEY_LEN])
{
	return session_derive(s, server_priv, client_pub, client_pub,
			      server_pub);
}

void wgp_consent_digest(uint8_t out[static WGP_CONSENT_LEN],
			const uint8_t peer_pub[static WGP_KEY_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, WGP_CONSENT_LEN);
	crypto_generichash_update(&st, (const uint8_t *)consent_label,
				  sizeof(consent_label) - 1);
	crypto_generichash_update(&st, peer_pub, WGP_KEY_LEN);
	crypto_generichash_final(&st, out, WGP_CONSENT_LEN);
}

/* ---- lengths ------------------------------------------------------- */

bool wgp_type_is_request(uint8_t type)
{
	return type == WGP_REGISTER || type == WGP_LOOKUP ||
	       type == WGP_PROBE || type == WGP_RELAY;
}

uint8_t wgp_flags_mask(uint8_t version)
{
	switch (version) {
	case 1:
		return WGP_F_ALL;
	case 2:
		return WGP_F_ALL_V2;
	}
	return 0;
}

/* The version a struct wgp_msg means: 0 is 1; 0 again for unknown. */
static uint8_t msg_version(const struct wgp_msg *m)
{
	if (!m->version)
		return 1;
	return m->version <= WGP_VERSION_MAX ? m->version : 0;
}

/* Payload length without list entries; 0: unknown type, or a type the
 * version does not have (RELAY and RELAY_GRANT are version 2 only; 9,
 * 10 and 13 are not rendezvous messages in any version). */
static size_t fixed_len(uint8_t version, uint8_t type)
{
	bool v2 = version == 2;

	switch (type) {
	case WGP_REGISTER:
		return v2 ? WGP_REGISTER_FIXED_V2 : WGP_REGISTER_FIXED;
	case WGP_REGISTER_REPLY:
		return WGP_REGISTER_REPLY_FIXED;
	case WGP_LOOKUP:
		return v2 ? WGP_LOOKUP_LEN_V2 : WGP_LOOKUP_LEN;
	case WGP_LOOKUP_REPLY:
		return v2 ? WGP_LOOKUP_REPLY_LEN_V2 : WGP_LOOKUP_REPLY_LEN;
	case WGP_NOTIFY:
		return v2 ? WGP_NOTIFY_LEN_V2 : WGP_NOTIFY_LEN;
	case WGP_PROBE:
		return WGP_PROBE_LEN;
	case WGP_PROBE_REPLY:
		return WGP_PROBE_REPLY_LEN;
	case WGP_ERROR:
		return WGP_ERROR_LEN;
	case WGP_RELAY:
		return v2 ? WGP_RELAY_LEN : 0;
	case WGP_RELAY_GRANT:
		return v2 ? WGP_RELAY_GRANT_LEN : 0;
	}
	return 0;
}

/* Size of one list entry (0: the type has no list). */
static size_t entry_len(uint8_t version, uint8_t type)
{
	if (type == WGP_REGISTER)
		return WGP_CONSENT_LEN;
	if (type == WGP_REGISTER_REPLY)
		return version == 2 ? WGP_PEER_REC_LEN_V2 : WGP_PEER_REC_LEN;
	return 0;
}

/* Most list entries a type may carry in a version. */
static unsigned int max_entries(uint8_t version, uint8_t type)
{
	if (type == WGP_REGISTER_REPLY && version == 2)
		return WGP_MAX_PEER_RECS_V2;
	return entry_len(version, type) ? WGP_MAX_CONSENT : 0;
}

static size_t prefix_len(uint8_t type)
{
	return wgp_type_is_request(type) ? WGP_REQ_PREFIX_LEN :
					   WGP_SRV_PREFIX_LEN;
}

/* Datagram length with count list entries; 0 if that is not valid. */
static size_t datagram_len(uint8_t version, uint8_t type, unsigned int count)
{
	size_t fixed = fixed_len(version, type);

	if (version < 1 || version > WGP_VERSION_MAX || !fixed ||
	    count > max_entries(version, type))
		return 0;
	return prefix_len(type) + fixed + count * entry_len(version, type) +
	       WGP_TAG_LEN;
}

/* The list count a datagram of len bytes implies, or -1 if len fits no
 * count (or the type has no list and len is not its length). */
static int count_for_len(uint8_t version, uint8_t type, size_t len)
{
	size_t fixed = datagram_len(version, type, 0);
	size_t entry = entry_len(version, type);

	if (!fixed || len < fixed)
		return -1;
	if (!entry)
		return len == fixed ? 0 : -1;
	if ((len - fixed) % entry ||
	    (len - fixed) / entry > max_entries(version, type))
		return -1;
	return (int)((len - fixed) / entry);
}

size_t wgp_msg_len(const struct wgp_msg *m)
{
	unsigned int count = 0;

	if (m->type == WGP_REGISTER)
		count = m->u.reg.n_consent;
	else if (m->type == WGP_REGISTER_REPLY)
		count = m->u.reg_reply.n_peers;
	return datagram_len(msg_version(m), m->type, count);
}

size_t wgp_register_reply_len(uint8_t version, unsigned int n_peers)
{
	return datagram_len(version, WGP_REGISTER_REPLY, n_peers);
}

/* ---- endpoints ----------------------------------------------------- */

static bool endpoint_valid(const struct wgp_endpoint *ep)
{
	switch (ep->family) {
	case 0:
		return ep->port == 0 && all_zero(ep->addr, 16);
	case AF_INET:
		return all_zero(ep->addr + 4, 12);
	case AF_INET6:
		return true;
	}
	return false;
}

/* An endpoint outside a candidate block, where there is no kind. */
static bool plain_endpoint_valid(const struct wgp_endpoint *ep)
{
	return endpoint_valid(ep) && ep->kind == 0;
}

/* An endpoint outside a candidate block: byte 1 is reserved, zero. */
static void put_endpoint(uint8_t *p, const struct wgp_endpoint *ep)
{
	p[0] = ep->family == AF_INET ? 4 : ep->family == AF_INET6 ? 6 : 0;
	p[1] = 0;
	put16(p + 2, ep->port);
	memcpy(p + 4, ep->addr, 16);
}

/* Family, port and address; byte 1 is left to the caller. */
static bool get_endpoint_body(struct wgp_endpoint *ep, const uint8_t *p)
{
	ep->kind = 0;
	switch (p[0]) {
	case 0:
		ep->family = 0;
		break;
	case 4:
		ep->family = AF_INET;
		break;
	case 6:
		ep->family = AF_INET6;
		break;
	default:
		return false;
	}
	ep->port = get16(p + 2);
	memcpy(ep->addr, p + 4, 16);
	return endpoint_valid(ep);
}

static bool get_endpoint(struct wgp_endpoint *ep, const uint8_t *p)
{
	return get_endpoint_body(ep, p) && p[1] == 0;
}

/* A candidate slot: empty (all zero, kind included), or a valid endpoint
 * with a port and a known kind. */
static bool cand_valid(const struct wgp_endpoint *ep)
{
	if (!endpoint_valid(ep))
		return false;
	if (ep->family == 0)
		return ep->kind == 0;
	return ep->port != 0 && ep->kind <= WGP_CAND_MAPPED;
}

static bool cands_valid(const struct wgp_endpoint *cands)
{
	unsigned int i;

	for (i = 0; i < WGP_MAX_CANDIDATES; i++)
		if (!cand_valid(&cands[i]))
			return false;
	return true;
}

static void put_cands(uint8_t *p, const struct wgp_endpoint *cands)
{
	unsigned int i;

	for (i = 0; i < WGP_MAX_CANDIDATES; i++) {
		uint8_t *slot = p + i * WGP_ENDPOINT_LEN;

		put_endpoint(slot, &cands[i]);
		slot[1] = cands[i].kind;
	}
}

static bool get_cands(struct wgp_endpoint *cands, const uint8_t *p)
{
	unsigned int i;

	for (i = 0; i < WGP_MAX_CANDIDATES; i++) {
		const uint8_t *slot = p + i * WGP_ENDPOINT_LEN;

		if (!get_endpoint_body(&cands[i], slot))
			return false;
		cands[i].kind = slot[1];
		if (!cand_valid(&cands[i]))
			return false;
	}
	return true;
}

static bool cands_empty(const struct wgp_endpoint *cands)
{
	unsigned int i;

	for (i = 0; i < WGP_MAX_CANDIDATES; i++)
		if (cands[i].family)
			return false;
	return true;
}

static bool ipv4_usable(const uint8_t *a)
{
	static const uint8_t broadcast[4] = { 255, 255, 255, 255 };

	if (a[0] == 0 || a[0] == 127)		/* "this host", loopback */
		return false;
	if (a[0] == 169 && a[1] == 254)		/* link-local */
		return false;
	if ((a[0] & 0xf0) == 224)		/* multicast */
		return false;
	return memcmp(a, broadcast, 4) != 0;
}

static bool ipv6_usable(const uint8_t *a)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (all_zero(a, 15) && a[15] <= 1)	/* ::, ::1 */
		return false;
	if (a[0] == 0xff)			/* multicast */
		return false;
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)	/* link-local */
		return false;
	/* An IPv4 address in IPv6 clothing: the wire spells IPv4 as family
	 * 4, so this is either a mistake or an attempt to dodge the IPv4
	 * checks above. */
	return memcmp(a, v4mapped, sizeof(v4mapped)) != 0;
}

bool wgp_endpoint_usable(const struct wgp_endpoint *ep)
{
	if (!ep->port)
		return false;
	if (ep->family == AF_INET)
		return ipv4_usable(ep->addr);
	if (ep->family == AF_INET6)
		return ipv6_usable(ep->addr);
	return false;
}

int wgp_endpoint_from_sockaddr(struct wgp_endpoint *ep,
			       const struct sockaddr *sa, socklen_t len)
{
	static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

	memset(ep, 0, sizeof(*ep));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const void *)sa;

		ep->family = AF_INET;
		ep->port = ntohs(sin->sin_port);
		memcpy(ep->addr, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 &&
	    len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		ep->port = ntohs(sin6->sin6_port);
		if (!memcmp(sin6->sin6_addr.s6_addr, v4mapped, 12)) {
			ep->family = AF_INET;
			memcpy(ep->addr, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			ep->family = AF_INET6;
			memcpy(ep->addr, sin6->sin6_addr.s6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

socklen_t wgp_endpoint_to_sockaddr(const struct wgp_endpoint *ep,
				   struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == AF_INET) {
		struct sockaddr_in *sin = (void *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		memcpy(&sin->sin_addr, ep->addr, 4);
		return sizeof(*sin);
	}
	if (ep->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (void *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(ep->port);
		memcpy(sin6->sin6_addr.s6_addr, ep->addr, 16);
		return sizeof(*sin6);
	}
	return 0;
}

bool wgp_endpoint_equal(const struct wgp_endpoint *a,
			const struct wgp_endpoint *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, 16);
}

char *wgp_endpoint_format(const struct wgp_endpoint *ep,
			  char buf[static WGP_ENDPOINT_STRLEN])
{
	char addr[INET6_ADDRSTRLEN];

	if (ep->family == AF_INET &&
	    inet_ntop(AF_INET, ep->addr, addr, sizeof(addr)))
		snprintf(buf, WGP_ENDPOINT_STRLEN, "%s:%u", addr, ep->port);
	else if (ep->family == AF_INET6 &&
		 inet_ntop(AF_INET6, ep->addr, addr, sizeof(addr)))
		snprintf(buf, WGP_ENDPOINT_STRLEN, "[%s]:%u", addr, ep->port);
	else
		snprintf(buf, WGP_ENDPOINT_STRLEN, "(none)");
	return buf;
}

/* ---- payloads ------------------------------------------------------ */

/*
 * Version 2 inserts a candidate block into five payloads, always right
 * after the version 1 fields that come before any list. Encoders and
 * decoders write and read the version 1 layout and then, for version 2,
 * the block at that offset; what follows it moves by WGP_CANDS_LEN.
 * Version 1 ignores .cands when sealing and zeroes it when opening.
 */

static int encode_cands(uint8_t *p, const struct wgp_endpoint *cands,
			uint8_t version)
{
	if (version != 2)
		return 0;
	if (!cands_valid(cands))
		return -EINVAL;
	put_cands(p, cands);
	return 0;
}

static bool decode_cands(struct wgp_endpoint *cands, const uint8_t *p,
			 uint8_t version)
{
	if (version != 2) {
		memset(cands, 0, WGP_MAX_CANDIDATES * sizeof(*cands));
		return true;
	}
	return get_cands(cands, p);
}

static int encode_register(uint8_t *p, const struct wgp_register *r,
			   uint8_t version)
{
	size_t fixed = fixed_len(version, WGP_REGISTER);

	if (r->flags & ~wgp_flags_mask(version))
		return -EINVAL;
	put64(p, r->counter);
	p[8] = r->flags;
	p[9] = r->n_consent;
	put16(p + 10, 0);
	memcpy(p + fixed, r->consent, (size_t)r->n_consent * WGP_CONSENT_LEN);
	return encode_cands(p + WGP_REGISTER_FIXED, r->cands, version);
}

static int encode_register_reply(uint8_t *p,
				 const struct wgp_register_reply *rr,
				 uint8_t version)
{
	size_t rec_len = entry_len(version, WGP_REGISTER_REPLY);
	unsigned int i;

	if (!plain_endpoint_valid(&rr->self))
		return -EINVAL;
	p[0] = rr->flags;
	p[1] = rr->n_peers;
	put16(p + 2, 0);
	put32(p + 4, rr->ttl);
	put64(p + 8, rr->available);
	put_endpoint(p + 16, &rr->self);
	for (i = 0; i < rr->n_peers; i++) {
		const struct wgp_peer_rec *rec = &rr->peers[i];
		uint8_t *r = p + WGP_REGISTER_REPLY_FIXED + i * rec_len;

		if (rec->index >= WGP_MAX_CONSENT ||
		    !plain_endpoint_valid(&rec->ep))
			return -EINVAL;
		r[0] = rec->index;
		r[1] = rec->flags;
		put16(r + 2, 0);
		put_endpoint(r + 4, &rec->ep);
		if (encode_cands(r + WGP_PEER_REC_LEN, rec->cands, version) < 0)
			return -EINVAL;
	}
	return 0;
}

static int encode_lookup(uint8_t *p, const struct wgp_lookup *l,
			 uint8_t version)
{
	if (l->flags & ~wgp_flags_mask(version))
		return -EINVAL;
	put64(p, l->counter);
	p[8] = l->flags;
	memset(p + 9, 0, 3);
	memcpy(p + 12, l->target, WGP_KEY_LEN);
	return encode_cands(p + WGP_LOOKUP_LEN, l->cands, version);
}

static int encode_lookup_reply(uint8_t *p, const struct wgp_lookup_reply *lr,
			       uint8_t version)
{
	if (!plain_endpoint_valid(&lr->self) ||
	    !plain_endpoint_valid(&lr->peer))
		return -EINVAL;
	p[0] = lr->status;
	p[1] = lr->peer_flags;
	put16(p + 2, 0);
	put32(p + 4, lr->ttl);
	put_endpoint(p + 8, &lr->self);
	put_endpoint(p + 28, &lr->peer);
	return encode_cands(p + WGP_LOOKUP_REPLY_LEN, lr->cands, version);
}

static int encode_notify(uint8_t *p, const struct wgp_notify *n,
			 uint8_t version)
{
	if (!plain_endpoint_valid(&n->ep))
		return -EINVAL;
	memcpy(p, n->peer, WGP_KEY_LEN);
	p[32] = n->peer_flags;
	memset(p + 33, 0, 3);
	put32(p + 36, n->ttl);
	put_endpoint(p + 40, &n->ep);
	return encode_cands(p + WGP_NOTIFY_LEN, n->cands, version);
}

static void encode_relay(uint8_t *p, const struct wgp_relay *r)
{
	put64(p, r->counter);
	memcpy(p + 8, r->target, WGP_KEY_LEN);
}

/* Only an OK grant has a port, a lifetime and a key: the others say
 * nothing but the status and whom it is about. */
static int encode_relay_grant(uint8_t *p, const struct wgp_relay_grant *g)
{
	bool ok = g->status == WGP_RELAY_OK;

	if (g->status > WGP_RELAY_FULL || (ok && !g->port))
		return -EINVAL;
	memset(p, 0, WGP_RELAY_GRANT_LEN);
	p[0] = g->status;
	memcpy(p + 8, g->peer, WGP_KEY_LEN);
	if (!ok)
		return 0;
	put16(p + 2, g->port);
	put32(p + 4, g->idle_s);
	memcpy(p + 40, g->bind_key, WGP_KEY_LEN);
	return 0;
}

static int encode_payload(uint8_t *p, const struct wgp_msg *m,
			  uint8_t version)
{
	switch (m->type) {
	case WGP_REGISTER:
		return encode_register(p, &m->u.reg, version);
	case WGP_REGISTER_REPLY:
		return encode_register_reply(p, &m->u.reg_reply, version);
	case WGP_LOOKUP:
		return encode_lookup(p, &m->u.lookup, version);
	case WGP_LOOKUP_REPLY:
		return encode_lookup_reply(p, &m->u.lookup_reply, version);
	case WGP_NOTIFY:
		return encode_notify(p, &m->u.notify, version);
	case WGP_PROBE:
		put64(p, m->u.probe.timestamp);
		return 0;
	case WGP_PROBE_REPLY:
		if (!plain_endpoint_valid(&m->u.probe_reply.self))
			return -EINVAL;
		put_endpoint(p, &m->u.probe_reply.self);
		put16(p + 20, m->u.probe_reply.local_port);
		put16(p + 22, 0);
		return 0;
	case WGP_ERROR:
		p[0] = m->u.error.code;
		memset(p + 1, 0, 7);
		put64(p + 8, m->u.error.server_time);
		put64(p + 16, m->u.error.last_counter);
		return 0;
	case WGP_RELAY:
		encode_relay(p, &m->u.relay);
		return 0;
	case WGP_RELAY_GRANT:
		return encode_relay_grant(p, &m->u.relay_grant);
	}
	return -EINVAL;
}

static bool decode_register(struct wgp_register *r, const uint8_t *p,
			    int count, uint8_t version)
{
	size_t fixed = fixed_len(version, WGP_REGISTER);

	r->counter = get64(p);
	r->flags = p[8];
	r->n_consent = p[9];
	if ((r->flags & ~wgp_flags_mask(version)) || r->n_consent != count ||
	    get16(p + 10))
		return false;
	memcpy(r->consent, p + fixed, (size_t)count * WGP_CONSENT_LEN);
	return decode_cands(r->cands, p + WGP_REGISTER_FIXED, version);
}

static bool decode_register_reply(struct wgp_register_reply *rr,
				  const uint8_t *p, int count, uint8_t version)
{
	size_t rec_len = entry_len(version, WGP_REGISTER_REPLY);
	int i;

	rr->flags = p[0];
	rr->n_peers = p[1];
	if (rr->n_peers != count || get16(p + 2))
		return false;
	rr->ttl = get32(p + 4);
	rr->available = get64(p + 8);
	if (!get_endpoint(&rr->self, p + 16))
		return false;
	for (i = 0; i < count; i++) {
		struct wgp_peer_rec *rec = &rr->peers[i];
		const uint8_t *r = p + WGP_REGISTER_REPLY_FIXED + i * rec_len;

		rec->index = r[0];
		rec->flags = r[1];
		if (r[0] >= WGP_MAX_CONSENT || get16(r + 2) ||
		    !get_endpoint(&rec->ep, r + 4) ||
		    !decode_cands(rec->cands, r + WGP_PEER_REC_LEN, version))
			return false;
	}
	return true;
}

static bool decode_lookup(struct wgp_lookup *l, const uint8_t *p,
			  uint8_t version)
{
	l->counter = get64(p);
	l->flags = p[8];
	memcpy(l->target, p + 12, WGP_KEY_LEN);
	return !(l->flags & ~wgp_flags_mask(version)) && all_zero(p + 9, 3) &&
	       decode_cands(l->cands, p + WGP_LOOKUP_LEN, version);
}

/* The peer's endpoint and candidates come only with OK: UNAVAILABLE
 * carries nothing about the peer. */
static bool decode_lookup_reply(struct wgp_lookup_reply *lr,
				const uint8_t *p, uint8_t version)
{
	lr->status = p[0];
	lr->peer_flags = p[1];
	lr->ttl = get32(p + 4);
	if (get16(p + 2) || !get_endpoint(&lr->self, p + 8) ||
	    !get_endpoint(&lr->peer, p + 28) ||
	    !decode_cands(lr->cands, p + WGP_LOOKUP_REPLY_LEN, version))
		return false;
	if (lr->status == WGP_LOOKUP_OK)
		return lr->peer.family != 0;
	return lr->status == WGP_LOOKUP_UNAVAILABLE && lr->peer.family == 0 &&
	       cands_empty(lr->cands);
}

static bool decode_notify(struct wgp_notify *n, const uint8_t *p,
			  uint8_t version)
{
	memcpy(n->peer, p, WGP_KEY_LEN);
	n->peer_flags = p[32];
	n->ttl = get32(p + 36);
	return all_zero(p + 33, 3) && get_endpoint(&n->ep, p + 40) &&
	       n->ep.family != 0 &&
	       decode_cands(n->cands, p + WGP_NOTIFY_LEN, version);
}

static bool decode_relay_grant(struct wgp_relay_grant *g, const uint8_t *p)
{
	g->status = p[0];
	g->port = get16(p + 2);
	g->idle_s = get32(p + 4);
	memcpy(g->peer, p + 8, WGP_KEY_LEN);
	memcpy(g->bind_key, p + 40, WGP_KEY_LEN);
	if (p[1] || g->status > WGP_RELAY_FULL)
		return false;
	if (g->status == WGP_RELAY_OK)
		return g->port != 0;
	return !g->port && !g->idle_s && all_zero(g->bind_key, WGP_KEY_LEN);
}

static bool decode_payload(struct wgp_msg *m, const uint8_t *p, int count)
{
	switch (m->type) {
	case WGP_REGISTER:
		return decode_register(&m->u.reg, p, count, m->version);
	case WGP_REGISTER_REPLY:
		return decode_register_reply(&m->u.reg_reply, p, count,
					     m->version);
	case WGP_LOOKUP:
		return decode_lookup(&m->u.lookup, p, m->version);
	case WGP_LOOKUP_REPLY:
		return decode_lookup_reply(&m->u.lookup_reply, p, m->version);
	case WGP_NOTIFY:
		return decode_notify(&m->u.notify, p, m->version);
	case WGP_PROBE:
		m->u.probe.timestamp = get64(p);
		return true;
	case WGP_PROBE_REPLY:
		m->u.probe_reply.local_port = get16(p + 20);
		return get_endpoint(&m->u.probe_reply.self, p) &&
		       !get16(p + 22);
	case WGP_ERROR:
		m->u.error.code = p[0];
		m->u.error.server_time = get64(p + 8);
		m->u.error.last_counter = get64(p + 16);
		return all_zero(p + 1, 7) && p[0] >= WGP_ERR_COUNTER &&
		       p[0] <= WGP_ERR_NOT_REGISTERED;
	case WGP_RELAY:
		m->u.relay.counter = get64(p);
		memcpy(m->u.relay.target, p + 8, WGP_KEY_LEN);
		return true;
	case WGP_RELAY_GRANT:
		return decode_relay_grant(&m->u.relay_grant, p);
	}
	return false;
}

/* ---- datagrams ----------------------------------------------------- */

/* wgp_open_parsed decrypts into a WGP_MAX_MSG_LEN buffer: no valid
 * datagram of either version may be longer. */
_Static_assert(WGP_REQ_PREFIX_LEN + WGP_REGISTER_FIXED_V2 +
	       WGP_MAX_CONSENT * WGP_CONSENT_LEN + WGP_TAG_LEN <=
	       WGP_MAX_MSG_LEN, "v2 REGISTER longer than WGP_MAX_MSG_LEN");
_Static_assert(WGP_SRV_PREFIX_LEN + WGP_REGISTER_REPLY_FIXED +
	       WGP_MAX_PEER_RECS_V2 * WGP_PEER_REC_LEN_V2 + WGP_TAG_LEN <=
	       WGP_MAX_REQUEST_LEN, "v2 REGISTER_REPLY longer than a request");

/* Does a request datagram carry a cookie? Byte 6 says so; the caller
 * has checked it is 0 or 1 and that len allows for it. */
static bool carries_cookie(const uint8_t *pkt)
{
	return pkt[WGP_OFF_COOKIE_FLAG] == 1;
}

/* The length of what is sealed: the datagram without its cookie. */
static size_t sealed_len(const uint8_t *pkt, size_t len)
{
	return carries_cookie(pkt) ? len - WGP_COOKIE_LEN : len;
}

/* A COOKIE: version 2, no flags, exactly hdr + cookie. */
static int parse_cookie_msg(struct wgp_msg *m, const uint8_t *pkt, size_t len)
{
	if (pkt[WGP_OFF_VERSION] != 2 || pkt[6] || pkt[7] ||
	    len != WGP_COOKIE_MSG_LEN)
		return -EBADMSG;
	m->type = WGP_COOKIE;
	m->version = 2;
	memcpy(m->txid, pkt + WGP_OFF_TXID, WGP_TXID_LEN);
	memset(m->key, 0, WGP_KEY_LEN);
	m->has_cookie = true;
	memcpy(m->cookie, pkt + WGP_HDR_LEN, WGP_COOKIE_LEN);
	return 0;
}

int wgp_parse_header(struct wgp_msg *m, const uint8_t *pkt, size_t len)
{
	uint8_t type, version;
	bool cookie;

	if (len < WGP_HDR_LEN || memcmp(pkt, WGP_MAGIC, 4))
		return -EBADMSG;
	version = pkt[WGP_OFF_VERSION];
	if (version < 1 || version > WGP_VERSION_MAX)
		return -EPROTONOSUPPORT;
	type = pkt[WGP_OFF_TYPE];
	if (type == WGP_COOKIE)
		return parse_cookie_msg(m, pkt, len);
	/* Only requests carry cookies, and byte 6 is a flag, not a count. */
	cookie = carries_cookie(pkt) && wgp_type_is_request(type);
	if (type < 1 || type > WGP_TYPE_MAX || (pkt[6] && !cookie) || pkt[7] ||
	    (cookie && len < WGP_HDR_LEN + WGP_COOKIE_LEN) ||
	    count_for_len(version, type, sealed_len(pkt, len)) < 0)
		return -EBADMSG;
	m->type = type;
	m->version = version;
	memcpy(m->txid, pkt + WGP_OFF_TXID, WGP_TXID_LEN);
	if (wgp_type_is_request(type))
		memcpy(m->key, pkt + WGP_OFF_KEY, WGP_KEY_LEN);
	else
		memset(m->key, 0, WGP_KEY_LEN);
	m->has_cookie = cookie;
	if (cookie)
		memcpy(m->cookie, pkt + len - WGP_COOKIE_LEN, WGP_COOKIE_LEN);
	else
		memset(m->cookie, 0, WGP_COOKIE_LEN);
	return 0;
}

static const uint8_t *direction_key(uint8_t type, const struct wgp_session *s)
{
	return wgp_type_is_request(type) ? s->up : s->down;
}

ssize_t wgp_seal_cookie(uint8_t *out, size_t cap, const struct wgp_msg *m,
			const struct wgp_session *s, const uint8_t *cookie)
{
	size_t len = wgp_msg_len(m), pre;
	uint8_t version = msg_version(m);
	uint8_t *nonce, *payload;
	unsigned long long clen;

	if (!len || (cookie && !wgp_type_is_request(m->type)))
		return -EINVAL;
	if (cap < len + (cookie ? WGP_COOKIE_LEN : 0))
		return -ENOSPC;
	pre = prefix_len(m->type);
	memcpy(out, WGP_MAGIC, 4);
	out[WGP_OFF_VERSION] = version;
	out[WGP_OFF_TYPE] = m->type;
	/* Byte 6 is associated data: the AEAD vouches for "a cookie
	 * follows", though not for the cookie. */
	out[WGP_OFF_COOKIE_FLAG] = cookie ? 1 : 0;
	out[7] = 0;
	memcpy(out + WGP_OFF_TXID, m->txid, WGP_TXID_LEN);
	if (wgp_type_is_request(m->type))
		memcpy(out + WGP_OFF_KEY, m->key, WGP_KEY_LEN);
	nonce = out + pre - WGP_NONCE_LEN;
	payload = out + pre;
	random_bytes(nonce, WGP_NONCE_LEN);
	if (encode_payload(payload, m, version) < 0)
		return -EINVAL;
	crypto_aead_chacha20poly1305_ietf_encrypt(payload, &clen, payload,
		len - pre - WGP_TAG_LEN, out, pre - WGP_NONCE_LEN, NULL,
		nonce, direction_key(m->type, s));
	if (!cookie)
		return (ssize_t)len;
	memcpy(out + len, cookie, WGP_COOKIE_LEN);
	return (ssize_t)(len + WGP_COOKIE_LEN);
}

ssize_t wgp_seal(uint8_t *out, size_t cap, const struct wgp_msg *m,
		 const struct wgp_session *s)
{
	return wgp_seal_cookie(out, cap, m, s, NULL);
}

size_t wgp_cookie_msg(uint8_t out[static WGP_COOKIE_MSG_LEN],
		      const uint8_t txid[static WGP_TXID_LEN],
		      const uint8_t cookie[static WGP_COOKIE_LEN])
{
	memcpy(out, WGP_MAGIC, 4);
	out[WGP_OFF_VERSION] = 2;
	out[WGP_OFF_TYPE] = WGP_COOKIE;
	out[6] = out[7] = 0;
	memcpy(out + WGP_OFF_TXID, txid, WGP_TXID_LEN);
	memcpy(out + WGP_HDR_LEN, cookie, WGP_COOKIE_LEN);
	return WGP_COOKIE_MSG_LEN;
}

int wgp_open(struct wgp_msg *m, const uint8_t *pkt, size_t len,
	     const struct wgp_session *s)
{
	if (wgp_parse_header(m, pkt, len) < 0)
		return -EBADMSG;
	return wgp_open_parsed(m, pkt, len, s);
}

int wgp_open_parsed(struct wgp_msg *m, const uint8_t *pkt, size_t len,
		    const struct wgp_session *s)
{
	uint8_t plain[WGP_MAX_MSG_LEN];
	unsigned long long plen;
	size_t pre;
	int count;
	bool ok;

	/* The decoders follow m->version; the AEAD covers the datagram's. */
	if (len < WGP_HDR_LEN || pkt[WGP_OFF_VERSION] != m->version ||
	    pkt[WGP_OFF_COOKIE_FLAG] > 1 ||
	    (carries_cookie(pkt) && (!wgp_type_is_request(m->type) ||
				     len < WGP_HDR_LEN + WGP_COOKIE_LEN)))
		return -EBADMSG;
	/* An attached cookie is not sealed: open what is before it. */
	len = sealed_len(pkt, len);
	count = count_for_len(m->version, m->type, len);
	if (count < 0)
		return -EBADMSG;
	pre = prefix_len(m->type);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, &plen, NULL,
			pkt + pre, len - pre, pkt, pre - WGP_NONCE_LEN,
			pkt + pre - WGP_NONCE_LEN,
			direction_key(m->type, s)) != 0)
		return -EBADMSG;
	ok = decode_payload(m, plain, count);
	sodium_memzero(plain, (size_t)plen);
	return ok ? 0 : -EBADMSG;
}

void wgp_txid_new(uint8_t txid[static WGP_TXID_LEN])
{
	random_bytes(txid, WGP_TXID_LEN);
}

void wgp_server_stamp(uint8_t txid[static WGP_TXID_LEN], uint64_t stamp_ns)
{
	put64(txid, stamp_ns);
	random_bytes(txid + WGP_STAMP_LEN, WGP_TXID_LEN - WGP_STAMP_LEN);
}

uint64_t wgp_stamp_of(const uint8_t txid[static WGP_TXID_LEN])
{
	return get64(txid);
}

uint64_t wgp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t wgp_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool wgp_in_window(uint64_t counter, uint64_t now_ns)
{
	uint64_t d = counter > now_ns ? counter - now_ns : now_ns - counter;

	return d <= WGP_COUNTER_WINDOW_NS;
}

static const char *const type_names[] = {
	[WGP_REGISTER] = "REGISTER",
	[WGP_REGISTER_REPLY] = "REGISTER_REPLY",
	[WGP_LOOKUP] = "LOOKUP",
	[WGP_LOOKUP_REPLY] = "LOOKUP_REPLY",
	[WGP_NOTIFY] = "NOTIFY",
	[WGP_PROBE] = "PROBE",
	[WGP_PROBE_REPLY] = "PROBE_REPLY",
	[WGP_ERROR] = "ERROR",
	[WGP_RELAY] = "RELAY",
	[WGP_RELAY_GRANT] = "RELAY_GRANT",
	[WGP_COOKIE] = "COOKIE",
};

const char *wgp_type_name(uint8_t type)
{
	if (type >= sizeof(type_names) / sizeof(type_names[0]) ||
	    !type_names[type])
		return "?";
	return type_names[type];
}

const char *wgp_error_name(uint8_t code)
{
	switch (code) {
	case WGP_ERR_COUNTER:
		return "counter replayed";
	case WGP_ERR_CLOCK:
		return "clock out of window";
	case WGP_ERR_FULL:
		return "registry full";
	case WGP_ERR_NOT_REGISTERED:
		return "not registered";
	}
	return "?";
}
