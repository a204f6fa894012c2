// SPDX-License-Identifier: MIT
/*
 * wgpunchd — byte layout of what servers share through Redis
 * (store_record.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "store_record.h"

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_ep(uint8_t *p, const struct wgp_endpoint *ep)
{
	memset(p, 0, STORE_EP_LEN);
	if (ep->family != AF_INET && ep->family != AF_INET6)
		return;
	p[0] = ep->family == AF_INET ? 4 : 6;
	p[1] = ep->kind;
	p[2] = (uint8_t)(ep->port >> 8);
	p[3] = (uint8_t)ep->port;
	memcpy(p + 4, ep->addr, ep->family == AF_INET ? 4 : 16);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* An endpoint as the registry keeps them: unused (all zero), or IPv4
 * or IPv6 with a port and a known candidate kind. */
static bool get_ep(struct wgp_endpoint *ep, const uint8_t *p)
{
	memset(ep, 0, sizeof(*ep));
	switch (p[0]) {
	case 0:
		return all_zero(p, STORE_EP_LEN);
	case 4:
		if (!all_zero(p + 8, 12))
			return false;
		ep->family = AF_INET;
		memcpy(ep->addr, p + 4, 4);
		break;
	case 6:
		ep->family = AF_INET6;
		memcpy(ep->addr, p + 4, 16);
		break;
	default:
		return false;
	}
	if (p[1] > WGP_CAND_MAPPED)
		return false;
	ep->kind = p[1];
	ep->port = (uint16_t)(p[2] << 8 | p[3]);
	return ep->port != 0;
}

void store_rec_encode(uint8_t out[static STORE_REC_LEN],
		      const struct store_record *rec)
{
	uint8_t *p = out;
	unsigned int i;

	*p++ = STORE_REC_FORMAT;
	*p++ = 0;
	memcpy(p, rec->key, WGP_KEY_LEN);
	p += WGP_KEY_LEN;
	put_u64(p, rec->origin);
	put_u64(p + 8, rec->expires_ms);
	put_u64(p + 16, rec->counter);
	p += 24;
	*p++ = rec->flags;
	*p++ = rec->version;
	put_ep(p, &rec->ep);
	p += STORE_EP_LEN;
	for (i = 0; i < WGP_MAX_CANDIDATES; i++, p += STORE_EP_LEN)
		put_ep(p, &rec->cands[i]);
}

int store_rec_decode(struct store_record *rec, const uint8_t *p, size_t len)
{
	unsigned int i;

	if (len != STORE_REC_LEN || p[0] != STORE_REC_FORMAT || p[1])
		return -EINVAL;
	p += 2;
	memcpy(rec->key, p, WGP_KEY_LEN);
	p += WGP_KEY_LEN;
	rec->origin = get_u64(p);
	rec->expires_ms = get_u64(p + 8);
	rec->counter = get_u64(p + 16);
	p += 24;
	rec->flags = *p++;
	rec->version = *p++;
	if (!rec->origin || rec->version < 1 ||
	    rec->version > WGP_VERSION_MAX)
		return -EINVAL;
	/* The mapping is where the server saw the registrant: always set. */
	if (!get_ep(&rec->ep, p) || rec->ep.family == 0 || rec->ep.kind)
		return -EINVAL;
	p += STORE_EP_LEN;
	for (i = 0; i < WGP_MAX_CANDIDATES; i++, p += STORE_EP_LEN)
		if (!get_ep(&rec->cands[i], p))
			return -EINVAL;
	return 0;
}

int store_consent_decode(uint8_t out[static WGP_MAX_CONSENT][WGP_CONSENT_LEN],
			 const uint8_t *p, size_t len)
{
	if (len % WGP_CONSENT_LEN || len / WGP_CONSENT_LEN > WGP_MAX_CONSENT)
		return -EINVAL;
	if (len)
		memcpy(out, p, len);
	return (int)(len / WGP_CONSENT_LEN);
}

size_t store_msg_encode(uint8_t out[static STORE_MSG_MAX],
			const struct store_msg *m)
{
	size_t len = 1, n;

	out[0] = m->kind;
	if (m->kind == STORE_MSG_NOTIFY) {
		memcpy(out + len, m->target, WGP_KEY_LEN);
		len += WGP_KEY_LEN;
	}
	store_rec_encode(out + len, &m->rec);
	len += STORE_REC_LEN;
	if (m->kind == STORE_MSG_FULL) {
		n = (size_t)m->n_consent * WGP_CONSENT_LEN;
		memcpy(out + len, m->consent, n);
		len += n;
	}
	return len;
}

int store_msg_decode(struct store_msg *m, const uint8_t *p, size_t len)
{
	size_t rec_at = 1;
	int n = 0;

	if (len < 1)
		return -EINVAL;
	m->kind = p[0];
	m->n_consent = 0;
	m->dest = 0;
	switch (m->kind) {
	case STORE_MSG_NOTIFY:
		if (len != 1 + WGP_KEY_LEN + STORE_REC_LEN)
			return -EINVAL;
		memcpy(m->target, p + 1, WGP_KEY_LEN);
		rec_at += WGP_KEY_LEN;
		break;
	case STORE_MSG_TOUCH:
		if (len != 1 + STORE_REC_LEN)
			return -EINVAL;
		break;
	case STORE_MSG_FULL:
		if (len < 1 + STORE_REC_LEN)
			return -EINVAL;
		n = store_consent_decode(m->consent, p + 1 + STORE_REC_LEN,
					 len - 1 - STORE_REC_LEN);
		if (n < 0)
			return n;
		m->n_consent = (uint8_t)n;
		break;
	default:
		return -EINVAL;
	}
	return store_rec_decode(&m->rec, p + rec_at, STORE_REC_LEN);
}
