// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testclient.h"

/* Not assert(): these calls have effects and must run under NDEBUG too. */
static void must(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "testclient: %s failed\n", what);
		abort();
	}
}

void tclient_init(struct tclient *c, const uint8_t server_pub[WGP_KEY_LEN])
{
	memset(c, 0, sizeof(*c));
	wgp_key_generate(c->priv);
	must(wgp_key_public(c->pub, c->priv) == 0, "wgp_key_public");
	must(wgp_session_client(&c->sess, c->priv, c->pub, server_pub) == 0,
	     "wgp_session_client");
}

void tclient_init_key(struct tclient *c, const uint8_t priv[WGP_KEY_LEN],
		      const uint8_t server_pub[WGP_KEY_LEN])
{
	memset(c, 0, sizeof(*c));
	memcpy(c->priv, priv, WGP_KEY_LEN);
	must(wgp_key_public(c->pub, c->priv) == 0, "wgp_key_public");
	must(wgp_session_client(&c->sess, c->priv, c->pub, server_pub) == 0,
	     "wgp_session_client");
}

uint64_t tclient_next(struct tclient *c)
{
	uint64_t now = wgp_now_ns();

	if (c->force) {
		c->counter = c->force;
		c->force = 0;
		return c->counter;
	}
	c->counter = now > c->counter ? now : c->counter + 1;
	return c->counter;
}

static size_t seal(struct tclient *c, struct wgp_msg *m, uint8_t *buf,
		   size_t cap)
{
	ssize_t len;

	m->version = c->version;
	if (c->same_txid)
		memcpy(m->txid, c->txid, WGP_TXID_LEN);
	else
		wgp_txid_new(m->txid);
	c->same_txid = false;
	memcpy(c->txid, m->txid, WGP_TXID_LEN);
	memcpy(m->key, c->pub, WGP_KEY_LEN);
	len = wgp_seal_cookie(buf, cap, m, &c->sess,
			      c->have_cookie ? c->cookie : NULL);
	must(len > 0, "wgp_seal");
	return (size_t)len;
}

size_t tclient_register(struct tclient *c, uint8_t *buf, size_t cap,
			const uint8_t (*peers)[WGP_KEY_LEN], unsigned int n,
			uint8_t flags)
{
	struct wgp_msg m = { .type = WGP_REGISTER };
	unsigned int i;

	m.u.reg.counter = tclient_next(c);
	m.u.reg.flags = flags;
	m.u.reg.n_consent = (uint8_t)n;
	memcpy(m.u.reg.cands, c->cands, sizeof(m.u.reg.cands));
	for (i = 0; i < n; i++)
		wgp_consent_digest(m.u.reg.consent[i], peers[i]);
	return seal(c, &m, buf, cap);
}

size_t tclient_lookup(struct tclient *c, uint8_t *buf, size_t cap,
		      const uint8_t target[WGP_KEY_LEN], uint8_t flags)
{
	struct wgp_msg m = { .type = WGP_LOOKUP };

	m.u.lookup.counter = tclient_next(c);
	m.u.lookup.flags = flags;
	memcpy(m.u.lookup.target, target, WGP_KEY_LEN);
	memcpy(m.u.lookup.cands, c->cands, sizeof(m.u.lookup.cands));
	return seal(c, &m, buf, cap);
}

size_t tclient_probe(struct tclient *c, uint8_t *buf, size_t cap)
{
	struct wgp_msg m = { .type = WGP_PROBE };

	m.u.probe.timestamp = wgp_now_ns();
	return seal(c, &m, buf, cap);
}

size_t tclient_relay(struct tclient *c, uint8_t *buf, size_t cap,
		     const uint8_t target[WGP_KEY_LEN])
{
	struct wgp_msg m = { .type = WGP_RELAY };
	uint8_t version = c->version;
	size_t len;

	m.u.relay.counter = tclient_next(c);
	memcpy(m.u.relay.target, target, WGP_KEY_LEN);
	c->version = 2;
	len = seal(c, &m, buf, cap);
	c->version = version;
	return len;
}

int tclient_take_cookie(struct tclient *c, const uint8_t *pkt, size_t len)
{
	struct wgp_msg m;

	if (wgp_parse_header(&m, pkt, len) < 0 || m.type != WGP_COOKIE ||
	    memcmp(m.txid, c->txid, WGP_TXID_LEN))
		return -EBADMSG;
	memcpy(c->cookie, m.cookie, WGP_COOKIE_LEN);
	c->have_cookie = true;
	return 0;
}

int tclient_open(const struct tclient *c, struct wgp_msg *m,
		 const uint8_t *pkt, size_t len)
{
	return wgp_open(m, pkt, len, &c->sess);
}
