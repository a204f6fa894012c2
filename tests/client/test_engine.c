// SPDX-License-Identifier: MIT
/*
 * The client's protocol engine (client_proto.c) without sockets or
 * clocks: requests taken from its out-queue and opened with the server's
 * side of the session, replies sealed by that side and fed back, the
 * time chosen by the test. Registration, the retransmission schedule,
 * ERROR COUNTER / CLOCK, COOKIE, NOTIFY freshness, a LOOKUP answer, the
 * mapping check (PROBE to both server ports) and RELAY grants; with two
 * servers, REGISTER to each, LOOKUPs answered by either, one server
 * silent while the other answers, NOTIFY from the second.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "client.h"
#include "proto.h"
#include "punch.h"

#define S		1000000000ULL
#define T0_NS		(1800000000ULL * S)	/* the test's wall clock */
#define T0_MS		100000ULL		/* and its monotonic one */
#define MAX_EVENTS	32

struct recorded {
	enum engine_event_type type;
	struct client_server *srv;
	struct client_peer *peer;
	uint8_t flags;
	struct wgp_endpoint ep;
};

struct fixture {
	struct client_opts o;
	struct client c;
	struct wgp_session srv[2];	/* each server's side */
	struct recorded ev[MAX_EVENTS];
	unsigned int n_ev;
};

static struct fixture *fx;	/* the one the event callback records in */

static void record(struct client *c, const struct engine_event *ev)
{
	struct recorded *r;

	assert_ptr_equal(c, &fx->c);
	assert_true(fx->n_ev < MAX_EVENTS);
	r = &fx->ev[fx->n_ev++];
	memset(r, 0, sizeof(*r));
	r->type = ev->type;
	r->srv = ev->srv;
	r->peer = ev->peer;
	r->flags = ev->flags;
	if (ev->ep)
		r->ep = *ev->ep;
}

/* How many events of type were raised. */
static unsigned int count_events(enum engine_event_type type)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < fx->n_ev; i++)
		n += fx->ev[i].type == type;
	return n;
}

static const struct recorded *find_event(enum engine_event_type type)
{
	for (unsigned int i = 0; i < fx->n_ev; i++) {
		if (fx->ev[i].type == type)
			return &fx->ev[i];
	}
	return NULL;
}

static void v4_endpoint(struct wgp_endpoint *ep, const char *addr, uint16_t port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
	};

	assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	assert_int_equal(wgp_endpoint_from_sockaddr(ep, (struct sockaddr *)&sin,
						    sizeof(sin)), 0);
}

static void keypair(uint8_t priv[WGP_KEY_LEN], uint8_t pub[WGP_KEY_LEN])
{
	randombytes_buf(priv, WGP_KEY_LEN);
	assert_int_equal(crypto_scalarmult_base(pub, priv), 0);
}

static int peer_cmp(const void *a, const void *b)
{
	return memcmp(((const struct client_peer *)a)->key,
		      ((const struct client_peer *)b)->key, WGP_KEY_LEN);
}

/* Server i of the fixture: 198.18.0.(i + 1), a key of its own, the
 * sessions of both sides. */
static void server_setup(struct fixture *f, unsigned int i,
			 const uint8_t priv[WGP_KEY_LEN])
{
	uint8_t srv_priv[WGP_KEY_LEN], srv_pub[WGP_KEY_LEN];
	struct client_server_opts *so = &f->o.servers[i];
	struct sockaddr_in *sin = (struct sockaddr_in *)&so->addr;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(WGP_PORT);
	sin->sin_addr.s_addr = htonl(0xc6120001 + i);	/* 198.18.0.1 + i */
	so->probe_port = WGP_PROBE_PORT;
	keypair(srv_priv, srv_pub);
	memcpy(so->key, srv_pub, WGP_KEY_LEN);
	assert_int_equal(wgp_session_client(&f->c.srv[i].sess, priv,
					    f->c.dev.public_key, srv_pub), 0);
	assert_int_equal(wgp_session_server(&f->srv[i], srv_priv, srv_pub,
					    f->c.dev.public_key), 0);
}

/* A client of n servers (at 198.18.0.1, .2) with two present peers
 * (sorted by key, as client.c keeps them), in "up" mode. */
static int setup_n(void **state, unsigned int n)
{
	uint8_t priv[WGP_KEY_LEN];
	struct fixture *f;

	assert_int_not_equal(sodium_init(), -1);
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->o.ifname = "wgtest0";
	f->o.n_servers = n;
	f->c.o = &f->o;
	f->c.event = record;
	f->c.hops = -1;
	engine_init_servers(&f->c);
	assert_int_equal(f->c.n_srv, n);
	keypair(priv, f->c.dev.public_key);
	for (unsigned int i = 0; i < n; i++)
		server_setup(f, i, priv);
	f->c.peers = calloc(2, sizeof(*f->c.peers));
	assert_non_null(f->c.peers);
	f->c.num_peers = f->c.peers_cap = 2;
	for (unsigned int i = 0; i < 2; i++) {
		randombytes_buf(f->c.peers[i].key, WGP_KEY_LEN);
		f->c.peers[i].present = true;
	}
	qsort(f->c.peers, 2, sizeof(*f->c.peers), peer_cmp);
	fx = f;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_n(state, 1);
}

static int setup2(void **state)
{
	return setup_n(state, 2);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	engine_out_free(&f->c.out);
	free(f->c.peers);
	free(f);
	fx = NULL;
	return 0;
}

static struct engine_clock at(uint64_t ms_after)
{
	return (struct engine_clock){
		.ms = T0_MS + ms_after,
		.ns = T0_NS + ms_after * 1000000ULL,
	};
}

/* Service at t: the number of datagrams queued (the queue is emptied,
 * the last one opened into *m when m is given). */
static size_t service(struct fixture *f, struct engine_clock t,
		      struct wgp_msg *m, uint64_t *next)
{
	size_t n;
	uint64_t due = engine_service(&f->c, t);

	if (next)
		*next = due;
	n = f->c.out.n;
	if (n && m) {
		const struct engine_datagram *d = &f->c.out.d[n - 1];

		assert_int_equal(wgp_open(m, d->buf, d->len, &f->srv[d->server]), 0);
		assert_int_equal(m->type, d->type);
		assert_memory_equal(m->key, f->c.dev.public_key, WGP_KEY_LEN);
	}
	f->c.out.n = 0;
	return n;
}

/* Seal m as server i would and feed it to the engine on port. */
static void answer_from(struct fixture *f, unsigned int i, const struct wgp_msg *m,
			enum engine_port port, struct engine_clock t)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	ssize_t len = wgp_seal(buf, sizeof(buf), m, &f->srv[i]);

	assert_true(len > 0);
	engine_input(&f->c, i, port, buf, (size_t)len, t);
}

/* The same from the first server. */
static void answer(struct fixture *f, const struct wgp_msg *m,
		   enum engine_port port, struct engine_clock t)
{
	answer_from(f, 0, m, port, t);
}

static void reply_to(struct wgp_msg *r, const struct wgp_msg *req, uint8_t type)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->version = 2;
	memcpy(r->txid, req->txid, WGP_TXID_LEN);
}

/* A REGISTER goes out, its answer registers us and offers the peer in
 * the record; the peer available but left out is looked up. */
static void test_register(void **state)
{
	struct fixture *f = *state;
	const struct recorded *ev;
	struct wgp_msg m, r;
	uint8_t digest[WGP_CONSENT_LEN];

	engine_start_register(&f->c, &f->c.srv[0]);
	assert_int_equal(service(f, at(0), &m, NULL), 1);
	assert_int_equal(f->c.out.d[0].port, ENGINE_PORT_MAIN);
	assert_int_equal(m.type, WGP_REGISTER);
	assert_int_equal(m.u.reg.n_consent, 2);
	assert_int_equal(m.u.reg.counter, T0_NS);
	wgp_consent_digest(digest, f->c.peers[1].key);
	assert_memory_equal(m.u.reg.consent[1], digest, WGP_CONSENT_LEN);
	assert_false(f->c.srv[0].registered);

	reply_to(&r, &m, WGP_REGISTER_REPLY);
	r.u.reg_reply.ttl = 90;
	r.u.reg_reply.available = 3;
	v4_endpoint(&r.u.reg_reply.self, "198.18.0.7", 40000);
	r.u.reg_reply.n_peers = 1;
	r.u.reg_reply.peers[0].index = 0;
	r.u.reg_reply.peers[0].flags = WGP_F_PROBES;
	v4_endpoint(&r.u.reg_reply.peers[0].ep, "198.18.1.2", 51820);
	answer(f, &r, ENGINE_PORT_MAIN, at(40));

	assert_true(f->c.srv[0].registered);
	assert_false(f->c.srv[0].reg.active);
	assert_int_equal(f->c.srv[0].ttl, 90);
	assert_int_equal(f->c.srv[0].rtt_ms, 40);
	assert_true(wgp_endpoint_equal(&f->c.srv[0].self_main, &r.u.reg_reply.self));
	assert_int_equal(count_events(ENGINE_EV_ANSWERED), 1);
	assert_int_equal(count_events(ENGINE_EV_REGISTERED), 1);
	assert_int_equal(count_events(ENGINE_EV_ENDPOINT), 1);
	ev = find_event(ENGINE_EV_ENDPOINT);
	assert_ptr_equal(ev->peer, &f->c.peers[0]);
	assert_int_equal(ev->flags, WGP_F_PROBES);
	assert_true(wgp_endpoint_equal(&ev->ep, &r.u.reg_reply.peers[0].ep));
	/* REGISTERED comes before the records it carries. */
	assert_true(find_event(ENGINE_EV_REGISTERED) < ev);

	/* Peer 1 is available but had no record: a LOOKUP for it. */
	assert_int_equal(service(f, at(41), &m, NULL), 1);
	assert_int_equal(m.type, WGP_LOOKUP);
	assert_memory_equal(m.u.lookup.target, f->c.peers[1].key, WGP_KEY_LEN);
	/* The same reply again answers nothing in flight. */
	f->n_ev = 0;
	answer(f, &r, ENGINE_PORT_MAIN, at(42));
	assert_int_equal(f->n_ev, 0);
}

/* Nothing answers: the same request again at 250, 500, 1000 ... ms
 * (each +-25 %), capped at RETX_MAX_MS, with the same txid and a new
 * counter each time. */
static void test_retransmit(void **state)
{
	struct fixture *f = *state;
	unsigned int base = 250;
	uint64_t last_ms = 0, next, last_counter;
	uint8_t txid[WGP_TXID_LEN];
	struct wgp_msg m;

	engine_start_register(&f->c, &f->c.srv[0]);
	assert_int_equal(service(f, at(0), &m, &next), 1);
	memcpy(txid, m.txid, WGP_TXID_LEN);
	last_counter = m.u.reg.counter;
	for (unsigned int i = 0; i < 8; i++) {
		uint64_t gap = next - (T0_MS + last_ms);

		/* jitter_ms(): [base - base/4, base - base/4 + base/2),
		 * which rounds up to base + base/4 itself for 250. */
		assert_true(gap >= base - base / 4);
		assert_true(gap < base - base / 4 + base / 2);
		/* Not a millisecond early. */
		assert_int_equal(service(f, at(next - T0_MS - 1), NULL, NULL), 0);
		last_ms = next - T0_MS;
		assert_int_equal(service(f, at(last_ms), &m, &next), 1);
		assert_memory_equal(m.txid, txid, WGP_TXID_LEN);
		assert_true(m.u.reg.counter > last_counter);
		last_counter = m.u.reg.counter;
		assert_int_equal(f->c.srv[0].reg.tries, i + 2);
		base = base * 2 > RETX_MAX_MS ? RETX_MAX_MS : base * 2;
	}
	/* "up" never gives up on its own: no SILENT before its deadline. */
	assert_int_equal(count_events(ENGINE_EV_SILENT), 0);
}

static void error_reply(struct wgp_msg *r, const struct wgp_msg *req,
			uint8_t code, uint64_t server_time, uint64_t last)
{
	reply_to(r, req, WGP_ERROR);
	r->u.error.code = code;
	r->u.error.server_time = server_time;
	r->u.error.last_counter = last;
}

/* ERROR COUNTER: the server's last counter is adopted and the request
 * sent again at once, above it; a second one in a row waits for the
 * schedule. An absurd counter is not adopted. */
static void test_error_counter(void **state)
{
	struct fixture *f = *state;
	uint64_t last = T0_NS + 30 * S, next;
	struct wgp_msg m, r;

	engine_start_register(&f->c, &f->c.srv[0]);
	assert_int_equal(service(f, at(0), &m, NULL), 1);
	error_reply(&r, &m, WGP_ERR_COUNTER, T0_NS, last);
	answer(f, &r, ENGINE_PORT_MAIN, at(10));
	assert_int_equal(f->c.srv[0].counter, last);
	assert_true(f->c.srv[0].reg.active);
	assert_int_equal(service(f, at(11), &m, &next), 1);
	assert_int_equal(m.u.reg.counter, last + 1);

	/* Again: no immediate resend, the schedule's 500 ms instead. */
	error_reply(&r, &m, WGP_ERR_COUNTER, T0_NS, last + 1);
	answer(f, &r, ENGINE_PORT_MAIN, at(20));
	assert_int_equal(service(f, at(21), NULL, NULL), 0);
	assert_true(next >= T0_MS + 11 + 375);
	assert_int_equal(service(f, at(next - T0_MS), &m, NULL), 1);

	/* A counter two days ahead of the clock: ignored. */
	error_reply(&r, &m, WGP_ERR_COUNTER, T0_NS, T0_NS + 2 * 86400 * S);
	answer(f, &r, ENGINE_PORT_MAIN, at(next - T0_MS + 5));
	assert_true(f->c.srv[0].counter < T0_NS + 86400 * S);
	assert_int_equal(count_events(ENGINE_EV_SILENT), 0);
}

/* ERROR CLOCK: the server's clock is adopted as an offset (counters
 * follow it, even back from one pushed ahead) and the request sent
 * again at once. */
static void test_error_clock(void **state)
{
	struct fixture *f = *state;
	uint64_t server_time = T0_NS - 3600 * S;
	struct wgp_msg m, r;

	engine_start_register(&f->c, &f->c.srv[0]);
	assert_int_equal(service(f, at(0), &m, NULL), 1);
	error_reply(&r, &m, WGP_ERR_CLOCK, server_time, 0);
	answer(f, &r, ENGINE_PORT_MAIN, at(10));
	assert_int_equal(f->c.srv[0].clock_offset_ns, -(int64_t)(3600 * S + 10 * 1000000ULL));
	assert_int_equal(service(f, at(10), &m, NULL), 1);
	assert_int_equal(m.u.reg.counter, server_time);

	/* An impossible time (beyond INT64_MAX) changes nothing. */
	error_reply(&r, &m, WGP_ERR_CLOCK, UINT64_MAX, 0);
	answer(f, &r, ENGINE_PORT_MAIN, at(20));
	assert_int_equal(f->c.srv[0].clock_offset_ns, -(int64_t)(3600 * S + 10 * 1000000ULL));
	assert_int_equal(service(f, at(21), NULL, NULL), 0);
}

/* COOKIE: the request goes again at once with the cookie attached, only
 * once; a COOKIE from the other port, or for no request, does nothing. */
static void test_cookie(void **state)
{
	struct fixture *f = *state;
	uint8_t ck[WGP_COOKIE_MSG_LEN], cookie[WGP_COOKIE_LEN];
	const struct engine_datagram *d;
	struct wgp_msg m;
	size_t len;

	randombytes_buf(cookie, sizeof(cookie));
	engine_start_register(&f->c, &f->c.srv[0]);
	assert_int_equal(service(f, at(0), &m, NULL), 1);

	len = wgp_cookie_msg(ck, m.txid, cookie);
	engine_input(&f->c, 0, ENGINE_PORT_PROBE, ck, len, at(5));
	assert_int_equal(service(f, at(6), NULL, NULL), 0);

	engine_input(&f->c, 0, ENGINE_PORT_MAIN, ck, len, at(10));
	assert_int_equal(engine_service(&f->c, at(10)) > T0_MS + 10, 1);
	assert_int_equal(f->c.out.n, 1);
	d = &f->c.out.d[0];
	assert_int_equal(d->len, wgp_msg_len(&m) + WGP_COOKIE_LEN);
	assert_int_equal(d->buf[WGP_OFF_COOKIE_FLAG], 1);
	assert_memory_equal(d->buf + d->len - WGP_COOKIE_LEN, cookie,
			    WGP_COOKIE_LEN);
	assert_int_equal(wgp_open(&m, d->buf, d->len, &f->srv[0]), 0);
	f->c.out.n = 0;

	/* Once per request: another COOKIE waits for the schedule. */
	engine_input(&f->c, 0, ENGINE_PORT_MAIN, ck, len, at(20));
	assert_int_equal(service(f, at(21), NULL, NULL), 0);

	/* For a txid not in flight: ignored. */
	memset(m.txid, 0x5a, WGP_TXID_LEN);
	len = wgp_cookie_msg(ck, m.txid, cookie);
	f->c.srv[0].reg.cookie_resent = false;
	engine_input(&f->c, 0, ENGINE_PORT_MAIN, ck, len, at(30));
	assert_int_equal(service(f, at(31), NULL, NULL), 0);
	assert_int_equal(f->n_ev, 0);
}

static void notify(struct wgp_msg *n, const struct client_peer *p,
		   uint64_t stamp_ns)
{
	memset(n, 0, sizeof(*n));
	n->type = WGP_NOTIFY;
	n->version = 2;
	wgp_server_stamp(n->txid, stamp_ns);
	memcpy(n->u.notify.peer, p->key, WGP_KEY_LEN);
	n->u.notify.peer_flags = WGP_F_PROBES;
	n->u.notify.ttl = 90;
	v4_endpoint(&n->u.notify.ep, "198.18.1.9", 51820);
}

/* NOTIFY: a fresh one offers the peer's endpoint; the same again, an
 * older one, one outside the window and one about a stranger do not. */
static void test_notify(void **state)
{
	struct fixture *f = *state;
	struct client_peer stranger = { 0 };
	const struct recorded *ev;
	struct wgp_msg n;

	notify(&n, &f->c.peers[1], T0_NS - 200 * S);
	answer(f, &n, ENGINE_PORT_MAIN, at(0));
	assert_int_equal(f->n_ev, 0);

	notify(&n, &f->c.peers[1], T0_NS - S);
	answer(f, &n, ENGINE_PORT_MAIN, at(0));
	assert_int_equal(count_events(ENGINE_EV_ENDPOINT), 1);
	ev = find_event(ENGINE_EV_ENDPOINT);
	assert_ptr_equal(ev->peer, &f->c.peers[1]);
	assert_int_equal(ev->flags, WGP_F_PROBES);
	assert_true(wgp_endpoint_equal(&ev->ep, &n.u.notify.ep));

	answer(f, &n, ENGINE_PORT_MAIN, at(1000));	/* replayed */
	notify(&n, &f->c.peers[1], T0_NS - 2 * S);	/* older */
	answer(f, &n, ENGINE_PORT_MAIN, at(1000));
	randombytes_buf(stranger.key, WGP_KEY_LEN);
	notify(&n, &stranger, T0_NS);
	answer(f, &n, ENGINE_PORT_MAIN, at(1000));
	assert_int_equal(f->n_ev, 1);

	/* Fresh again, about a peer gone from the interface: ignored. */
	f->c.peers[0].present = false;
	notify(&n, &f->c.peers[0], T0_NS + S);
	answer(f, &n, ENGINE_PORT_MAIN, at(1000));
	assert_int_equal(f->n_ev, 1);
}

/* A LOOKUP answered with the peer's endpoint: the decision event; an
 * answer "unavailable" ends the request without one. */
static void test_lookup(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[1];
	const struct recorded *ev;
	struct wgp_msg m, r;

	client_start_lookup(&f->c, p);
	assert_int_equal(service(f, at(0), &m, NULL), 1);
	assert_int_equal(m.type, WGP_LOOKUP);
	assert_memory_equal(m.u.lookup.target, p->key, WGP_KEY_LEN);

	/* An answer of another type for that txid: ignored. */
	reply_to(&r, &m, WGP_PROBE_REPLY);
	v4_endpoint(&r.u.probe_reply.self, "198.18.0.7", 40000);
	r.u.probe_reply.local_port = WGP_PORT;
	answer(f, &r, ENGINE_PORT_MAIN, at(5));
	assert_int_equal(f->n_ev, 0);
	assert_true(p->lookup[0].active);

	reply_to(&r, &m, WGP_LOOKUP_REPLY);
	r.u.lookup_reply.status = WGP_LOOKUP_OK;
	r.u.lookup_reply.peer_flags = WGP_F_PROBES | WGP_F_SYMMETRIC;
	r.u.lookup_reply.ttl = 90;
	v4_endpoint(&r.u.lookup_reply.self, "198.18.0.7", 40000);
	v4_endpoint(&r.u.lookup_reply.peer, "198.18.2.3", 1234);
	answer(f, &r, ENGINE_PORT_MAIN, at(10));
	assert_false(p->lookup[0].active);
	assert_int_equal(count_events(ENGINE_EV_ANSWERED), 1);
	ev = find_event(ENGINE_EV_ENDPOINT);
	assert_non_null(ev);
	assert_ptr_equal(ev->peer, p);
	assert_int_equal(ev->flags, WGP_F_PROBES | WGP_F_SYMMETRIC);
	assert_true(wgp_endpoint_equal(&ev->ep, &r.u.lookup_reply.peer));
	assert_int_equal(service(f, at(1000), NULL, NULL), 0);

	f->n_ev = 0;
	client_start_lookup(&f->c, p);
	assert_int_equal(service(f, at(2000), &m, NULL), 1);
	reply_to(&r, &m, WGP_LOOKUP_REPLY);
	r.u.lookup_reply.status = WGP_LOOKUP_UNAVAILABLE;
	v4_endpoint(&r.u.lookup_reply.self, "198.18.0.7", 40000);
	answer(f, &r, ENGINE_PORT_MAIN, at(2010));
	assert_false(p->lookup[0].active);
	assert_int_equal(count_events(ENGINE_EV_ENDPOINT), 0);
}

/* What does not open with our session is dropped whole, and our own
 * request reflected back is never acted on. */
static void test_forged(void **state)
{
	struct fixture *f = *state;
	struct engine_datagram d;
	struct wgp_msg m, r;
	uint8_t buf[WGP_MAX_MSG_LEN];
	ssize_t len;

	engine_start_register(&f->c, &f->c.srv[0]);
	assert_int_equal(engine_service(&f->c, at(0)) > T0_MS, 1);
	d = f->c.out.d[0];
	f->c.out.n = 0;
	engine_input(&f->c, 0, ENGINE_PORT_MAIN, d.buf, d.len, at(1));
	assert_int_equal(f->n_ev, 0);
	assert_true(f->c.srv[0].reg.active);

	assert_int_equal(wgp_open(&m, d.buf, d.len, &f->srv[0]), 0);
	reply_to(&r, &m, WGP_REGISTER_REPLY);
	r.u.reg_reply.ttl = 90;
	v4_endpoint(&r.u.reg_reply.self, "198.18.0.7", 40000);
	len = wgp_seal(buf, sizeof(buf), &r, &f->srv[0]);
	assert_true(len > 0);
	buf[len - 1] ^= 1;
	engine_input(&f->c, 0, ENGINE_PORT_MAIN, buf, (size_t)len, at(2));
	assert_false(f->c.srv[0].registered);
	buf[len - 1] ^= 1;
	engine_input(&f->c, 0, ENGINE_PORT_MAIN, buf, (size_t)len, at(3));
	assert_true(f->c.srv[0].registered);
}

/* Service at t, every queued datagram opened, in order, into m[0..max):
 * their count. The engine's next due time in *next, if given. */
static size_t service_all(struct fixture *f, struct engine_clock t,
			  struct wgp_msg *m, size_t max, uint64_t *next)
{
	uint64_t due = engine_service(&f->c, t);
	size_t n = f->c.out.n;

	if (next)
		*next = due;
	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		const struct engine_datagram *d = &f->c.out.d[i];

		assert_int_equal(wgp_open(&m[i], d->buf, d->len, &f->srv[d->server]), 0);
		assert_int_equal(m[i].type, d->type);
	}
	f->c.out.n = 0;
	return n;
}

/* The port datagram i of the last service_all() went to (the queue is
 * emptied, not freed: its slots keep their contents). */
static enum engine_port port_of(const struct fixture *f, size_t i)
{
	return f->c.out.d[i].port;
}

/* The server datagram i of the last service_all() went to. */
static unsigned int port_server(const struct fixture *f, size_t i)
{
	return f->c.out.d[i].server;
}

static void probe_reply(struct wgp_msg *r, const struct wgp_msg *req,
			const char *addr, uint16_t port, uint16_t local_port)
{
	reply_to(r, req, WGP_PROBE_REPLY);
	r->version = 1;
	v4_endpoint(&r->u.probe_reply.self, addr, port);
	r->u.probe_reply.local_port = local_port;
}

/* The mapping check: one PROBE to each server port, as version 1; each
 * answer records the mapping that port saw and is news for client.c,
 * which compares them. */
static void test_mapping_check(void **state)
{
	struct fixture *f = *state;
	struct wgp_msg m[4], r;
	const struct wgp_msg *to_main, *to_probe;

	client_start_probe(&f->c.srv[0]);
	assert_int_equal(service_all(f, at(0), m, 4, NULL), 2);
	assert_int_equal(m[0].type, WGP_PROBE);
	assert_int_equal(m[1].type, WGP_PROBE);
	assert_int_equal(m[0].version, 1);
	assert_int_not_equal(port_of(f, 0), port_of(f, 1));
	to_main = port_of(f, 0) == ENGINE_PORT_MAIN ? &m[0] : &m[1];
	to_probe = to_main == &m[0] ? &m[1] : &m[0];
	assert_memory_not_equal(to_main->txid, to_probe->txid, WGP_TXID_LEN);
	assert_int_equal(to_main->u.probe.timestamp, T0_NS);

	probe_reply(&r, to_main, "198.18.0.7", 40000, WGP_PORT);
	answer(f, &r, ENGINE_PORT_MAIN, at(20));
	assert_true(f->c.srv[0].have_self_main);
	assert_false(f->c.srv[0].have_self_probe);
	assert_true(wgp_endpoint_equal(&f->c.srv[0].self_main, &r.u.probe_reply.self));
	assert_int_equal(count_events(ENGINE_EV_NAT), 1);

	/* A symmetric NAT: another port toward the probe port. */
	probe_reply(&r, to_probe, "198.18.0.7", 40001, WGP_PROBE_PORT);
	answer(f, &r, ENGINE_PORT_PROBE, at(25));
	assert_true(f->c.srv[0].have_self_probe);
	assert_true(wgp_endpoint_equal(&f->c.srv[0].self_probe, &r.u.probe_reply.self));
	assert_int_equal(count_events(ENGINE_EV_NAT), 2);
	assert_false(f->c.srv[0].probe.active || f->c.srv[0].probe_main.active);
	/* Answered: nothing more goes out, the verdict is client.c's. */
	assert_int_equal(service_all(f, at(5000), m, 4, NULL), 0);
	assert_int_equal(f->c.srv[0].nat, NAT_UNKNOWN);
	assert_int_equal(count_events(ENGINE_EV_NAT), 2);
}

/* The probe port silent while the main one answered: given up
 * PROBE_GRACE_MS after that answer, untested, registration free to go. */
static void test_mapping_check_probe_silent(void **state)
{
	struct fixture *f = *state;
	struct wgp_msg m[4], r;
	uint64_t next;

	client_start_probe(&f->c.srv[0]);
	assert_int_equal(service_all(f, at(0), m, 4, NULL), 2);
	probe_reply(&r, port_of(f, 0) == ENGINE_PORT_MAIN ? &m[0] : &m[1],
		    "198.18.0.7", 40000, WGP_PORT);
	answer(f, &r, ENGINE_PORT_MAIN, at(100));
	assert_int_equal(f->c.srv[0].probe_giveup_ms, T0_MS + 100 + PROBE_GRACE_MS);

	next = engine_service(&f->c, at(101));
	f->c.out.n = 0;
	assert_true(next <= T0_MS + 100 + PROBE_GRACE_MS);
	assert_int_equal(f->c.srv[0].nat, NAT_UNKNOWN);
	engine_service(&f->c, at(100 + PROBE_GRACE_MS));
	f->c.out.n = 0;
	assert_int_equal(f->c.srv[0].nat, NAT_UNTESTED);
	assert_false(f->c.srv[0].probe.active);
	assert_int_equal(count_events(ENGINE_EV_NAT), 2);
}

/* Neither port answers: PROBE_MAX_TRIES sends each, then untested. */
static void test_mapping_check_silent(void **state)
{
	struct fixture *f = *state;
	struct wgp_msg m[4];
	unsigned int sent = 0, rounds = 0;
	uint64_t t = 0, next;

	client_start_probe(&f->c.srv[0]);
	while (f->c.srv[0].probe_main.active || f->c.srv[0].probe.active) {
		assert_true(++rounds < 100);
		sent += service_all(f, at(t), m, 4, &next);
		if (next == UINT64_MAX)
			break;
		t = next - T0_MS;
	}
	assert_int_equal(sent, 2 * PROBE_MAX_TRIES);
	assert_int_equal(f->c.srv[0].nat, NAT_UNTESTED);
	assert_int_equal(count_events(ENGINE_EV_NAT), 1);
}

static void relay_grant(struct wgp_msg *g, const struct client_peer *p,
			uint8_t status)
{
	memset(g, 0, sizeof(*g));
	g->type = WGP_RELAY_GRANT;
	g->version = 2;
	g->u.relay_grant.status = status;
	g->u.relay_grant.port = 61000;
	g->u.relay_grant.idle_s = 60;
	memcpy(g->u.relay_grant.peer, p->key, WGP_KEY_LEN);
	randombytes_buf(g->u.relay_grant.bind_key, WGP_KEY_LEN);
}

/* RELAY for a peer: the grant that answers it is the decision event; a
 * grant in answer that names another peer ends the request, nothing
 * more. */
static void test_relay(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[0];
	const struct recorded *ev;
	struct wgp_msg m, g;
	uint64_t counter;

	client_start_relay(&f->c.srv[0], p);
	client_start_relay(&f->c.srv[0], p);		/* one in flight, not two */
	assert_int_equal(service(f, at(0), &m, NULL), 1);
	assert_int_equal(m.type, WGP_RELAY);
	assert_int_equal(m.version, 2);
	assert_memory_equal(m.u.relay.target, p->key, WGP_KEY_LEN);
	counter = m.u.relay.counter;
	assert_true(counter >= T0_NS);

	relay_grant(&g, p, WGP_RELAY_OK);
	memcpy(g.txid, m.txid, WGP_TXID_LEN);
	answer(f, &g, ENGINE_PORT_MAIN, at(10));
	assert_false(p->relay.active);
	assert_int_equal(count_events(ENGINE_EV_ANSWERED), 1);
	ev = find_event(ENGINE_EV_RELAY_GRANT);
	assert_non_null(ev);
	assert_ptr_equal(ev->peer, p);

	/* Again: a grant naming the other peer for our txid. */
	f->n_ev = 0;
	client_start_relay(&f->c.srv[0], p);
	assert_int_equal(service(f, at(1000), &m, NULL), 1);
	assert_true(m.u.relay.counter > counter);
	relay_grant(&g, &f->c.peers[1], WGP_RELAY_OK);
	memcpy(g.txid, m.txid, WGP_TXID_LEN);
	answer(f, &g, ENGINE_PORT_MAIN, at(1010));
	assert_false(p->relay.active);
	assert_int_equal(count_events(ENGINE_EV_RELAY_GRANT), 0);
	assert_int_equal(service(f, at(5000), NULL, NULL), 0);
}

/* An unsolicited grant (the peer asked for the pair) must be fresh like
 * a NOTIFY and about a present peer; a refusal is no news. */
static void test_relay_unsolicited(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[1];
	struct client_peer stranger = { 0 };
	const struct recorded *ev;
	struct wgp_msg g;

	relay_grant(&g, p, WGP_RELAY_OK);
	wgp_server_stamp(g.txid, T0_NS - 200 * S);	/* stale */
	answer(f, &g, ENGINE_PORT_MAIN, at(0));
	assert_int_equal(f->n_ev, 0);

	wgp_server_stamp(g.txid, T0_NS - S);
	answer(f, &g, ENGINE_PORT_MAIN, at(0));
	ev = find_event(ENGINE_EV_RELAY_GRANT);
	assert_non_null(ev);
	assert_ptr_equal(ev->peer, p);
	assert_string_equal(p->relay_why, "the peer asked for it");
	assert_int_equal(count_events(ENGINE_EV_ANSWERED), 0);

	answer(f, &g, ENGINE_PORT_MAIN, at(10));	/* replayed */
	randombytes_buf(stranger.key, WGP_KEY_LEN);
	relay_grant(&g, &stranger, WGP_RELAY_OK);
	wgp_server_stamp(g.txid, T0_NS);
	answer(f, &g, ENGINE_PORT_MAIN, at(10));
	relay_grant(&g, &f->c.peers[0], WGP_RELAY_FULL);
	wgp_server_stamp(g.txid, T0_NS + S);
	answer(f, &g, ENGINE_PORT_MAIN, at(10));
	assert_int_equal(f->n_ev, 1);
	assert_string_equal(f->c.peers[0].relay_why, "");
}

/* Several servers. */

/* Register with server i of f: its REGISTER answered with ttl 90. */
static void register_at(struct fixture *f, unsigned int i, const struct wgp_msg *req,
			struct engine_clock t)
{
	struct wgp_msg r;

	reply_to(&r, req, WGP_REGISTER_REPLY);
	r.u.reg_reply.ttl = 90;
	v4_endpoint(&r.u.reg_reply.self, "198.18.0.7", 40000);
	answer_from(f, i, &r, ENGINE_PORT_MAIN, t);
}

/* Every server gets a REGISTER of its own, sealed for it alone, with the
 * same consent list and candidates; one answering registers us there
 * only. */
static void test_servers_register(void **state)
{
	struct fixture *f = *state;
	struct wgp_msg m[4];
	const struct wgp_msg *to[2] = { NULL, NULL };
	uint8_t digest[WGP_CONSENT_LEN];

	v4_endpoint(&f->c.own_cands[0], "198.18.5.5", 51820);
	engine_start_register(&f->c, &f->c.srv[0]);
	engine_start_register(&f->c, &f->c.srv[1]);
	assert_int_equal(service_all(f, at(0), m, 4, NULL), 2);
	for (size_t i = 0; i < 2; i++) {
		const struct engine_datagram *d = &f->c.out.d[i];
		struct wgp_msg other;

		assert_int_equal(m[i].type, WGP_REGISTER);
		assert_int_equal(d->port, ENGINE_PORT_MAIN);
		assert_null(to[d->server]);
		to[d->server] = &m[i];
		/* The other server's session does not open it. */
		assert_int_not_equal(wgp_open(&other, d->buf, d->len,
					      &f->srv[1 - d->server]), 0);
	}
	assert_non_null(to[0]);
	assert_non_null(to[1]);
	wgp_consent_digest(digest, f->c.peers[1].key);
	for (unsigned int i = 0; i < 2; i++) {
		assert_int_equal(to[i]->u.reg.n_consent, 2);
		assert_memory_equal(to[i]->u.reg.consent[1], digest, WGP_CONSENT_LEN);
		assert_true(wgp_endpoint_equal(&to[i]->u.reg.cands[0],
					       &f->c.own_cands[0]));
	}

	/* B answers: registered there, not with A, whose REGISTER goes on. */
	register_at(f, 1, to[1], at(30));
	assert_true(f->c.srv[1].registered);
	assert_false(f->c.srv[1].reg.active);
	assert_int_equal(f->c.srv[1].rtt_ms, 30);
	assert_false(f->c.srv[0].registered);
	assert_true(f->c.srv[0].reg.active);
	assert_true(client_registered(&f->c));
	assert_int_equal(client_rtt_ms(&f->c), 30);
	assert_ptr_equal(find_event(ENGINE_EV_REGISTERED)->srv, &f->c.srv[1]);
	/* B's reply fed as A's does not open: dropped. */
	f->n_ev = 0;
	register_at(f, 0, to[1], at(31));
	assert_false(f->c.srv[0].registered);
	assert_int_equal(f->n_ev, 0);
}

/* A LOOKUP goes to every server; A has not heard of the peer, B has:
 * B's answer resolves it, and ends A's LOOKUP (the first endpoint
 * wins), so a late answer from A changes nothing. */
static void test_servers_lookup_b(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[1];
	const struct wgp_msg *to[2] = { NULL, NULL };
	const struct recorded *ev;
	struct wgp_msg m[4], r;

	client_start_lookup(&f->c, p);
	assert_int_equal(service_all(f, at(0), m, 4, NULL), 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(m[i].type, WGP_LOOKUP);
		assert_memory_equal(m[i].u.lookup.target, p->key, WGP_KEY_LEN);
		to[port_server(f, i)] = &m[i];
	}
	assert_non_null(to[0]);
	assert_non_null(to[1]);

	reply_to(&r, to[0], WGP_LOOKUP_REPLY);
	r.u.lookup_reply.status = WGP_LOOKUP_UNAVAILABLE;
	v4_endpoint(&r.u.lookup_reply.self, "198.18.0.7", 40000);
	answer_from(f, 0, &r, ENGINE_PORT_MAIN, at(10));
	assert_false(p->lookup[0].active);
	assert_true(p->lookup[1].active);
	assert_int_equal(count_events(ENGINE_EV_ENDPOINT), 0);

	reply_to(&r, to[1], WGP_LOOKUP_REPLY);
	r.u.lookup_reply.status = WGP_LOOKUP_OK;
	r.u.lookup_reply.peer_flags = WGP_F_PROBES;
	v4_endpoint(&r.u.lookup_reply.self, "198.18.0.7", 40000);
	v4_endpoint(&r.u.lookup_reply.peer, "198.18.2.3", 1234);
	answer_from(f, 1, &r, ENGINE_PORT_MAIN, at(20));
	assert_false(p->lookup[1].active);
	assert_int_equal(count_events(ENGINE_EV_ENDPOINT), 1);
	ev = find_event(ENGINE_EV_ENDPOINT);
	assert_ptr_equal(ev->peer, p);
	assert_ptr_equal(ev->srv, &f->c.srv[1]);
	assert_true(wgp_endpoint_equal(&ev->ep, &r.u.lookup_reply.peer));
	assert_int_equal(service_all(f, at(5000), m, 4, NULL), 0);
}

/* Both in flight, B answers first: A's LOOKUP ends unanswered. */
static void test_servers_first_wins(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[0];
	const struct wgp_msg *to[2] = { NULL, NULL };
	struct wgp_msg m[4], r;

	client_start_lookup(&f->c, p);
	assert_int_equal(service_all(f, at(0), m, 4, NULL), 2);
	to[port_server(f, 0)] = &m[0];
	to[port_server(f, 1)] = &m[1];
	reply_to(&r, to[1], WGP_LOOKUP_REPLY);
	r.u.lookup_reply.status = WGP_LOOKUP_OK;
	r.u.lookup_reply.peer_flags = WGP_F_PROBES;
	v4_endpoint(&r.u.lookup_reply.self, "198.18.0.7", 40000);
	v4_endpoint(&r.u.lookup_reply.peer, "198.18.2.3", 1234);
	answer_from(f, 1, &r, ENGINE_PORT_MAIN, at(10));
	assert_false(p->lookup[0].active);
	assert_false(p->lookup[1].active);
	/* A's answer now names no request in flight. */
	memcpy(r.txid, to[0]->txid, WGP_TXID_LEN);
	answer_from(f, 0, &r, ENGINE_PORT_MAIN, at(20));
	assert_int_equal(count_events(ENGINE_EV_ENDPOINT), 1);
	assert_int_equal(service_all(f, at(5000), m, 4, NULL), 0);
}

/* Run the engine from t until server 0's REGISTER has been sent tries
 * times, or it is silent (tries 0); the time reached. */
static uint64_t until_tries(struct fixture *f, uint64_t t, unsigned int tries)
{
	struct wgp_msg m[8];
	uint64_t next;
	unsigned int rounds = 0;

	while (!f->c.srv[0].silent && (!tries || f->c.srv[0].reg.tries < tries)) {
		assert_true(++rounds < 100);
		service_all(f, at(t), m, 8, &next);
		assert_true(next != UINT64_MAX);
		t = next - T0_MS;
	}
	return t;
}

/* ... until it has gone unanswered RETX_MAX_TRIES times: silent. */
static uint64_t until_silent(struct fixture *f, uint64_t t)
{
	return until_tries(f, t, 0);
}

/* A stays silent, B answers: A is backed off alone (its LOOKUP in flight
 * ends, new LOOKUPs go to B only, its REGISTER keeps its own slowing
 * schedule) and the peer is resolved through B. The daemon hears of A's
 * silence, about A. */
static void test_servers_one_silent(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[1];
	const struct recorded *ev;
	struct wgp_msg m[8], r;
	uint64_t t, next, gap;
	size_t n;

	f->o.daemon = true;
	engine_start_register(&f->c, &f->c.srv[0]);
	engine_start_register(&f->c, &f->c.srv[1]);
	n = service_all(f, at(0), m, 8, NULL);
	assert_int_equal(n, 2);
	register_at(f, 1, port_server(f, 0) == 1 ? &m[0] : &m[1], at(20));
	/* Shortly before A turns silent, a LOOKUP to both; B leaves its
	 * own unanswered a while: A's has to end for silence, not for an
	 * answer, nor for running out of tries. */
	t = until_tries(f, 21, RETX_MAX_TRIES);
	client_start_lookup(&f->c, p);
	assert_true(p->lookup[0].active && p->lookup[1].active);
	t = until_silent(f, t);
	assert_true(f->c.srv[0].silent);
	assert_false(f->c.srv[1].silent);
	assert_int_equal(count_events(ENGINE_EV_SILENT), 1);
	ev = find_event(ENGINE_EV_SILENT);
	assert_ptr_equal(ev->srv, &f->c.srv[0]);
	assert_false(p->lookup[0].active);
	assert_true(p->lookup[1].active);

	/* A new LOOKUP goes to B alone. */
	p->lookup[1].active = false;
	client_start_lookup(&f->c, p);
	assert_false(p->lookup[0].active);
	n = service_all(f, at(t), m, 8, &next);
	for (size_t i = 0; i < n; i++) {
		if (m[i].type != WGP_LOOKUP)
			continue;
		assert_int_equal(port_server(f, i), 1);
		reply_to(&r, &m[i], WGP_LOOKUP_REPLY);
	}
	r.u.lookup_reply.status = WGP_LOOKUP_OK;
	r.u.lookup_reply.peer_flags = WGP_F_PROBES;
	v4_endpoint(&r.u.lookup_reply.self, "198.18.0.7", 40000);
	v4_endpoint(&r.u.lookup_reply.peer, "198.18.2.3", 1234);
	answer_from(f, 1, &r, ENGINE_PORT_MAIN, at(t + 5));
	ev = find_event(ENGINE_EV_ENDPOINT);
	assert_non_null(ev);
	assert_ptr_equal(ev->srv, &f->c.srv[1]);
	assert_ptr_equal(ev->peer, p);

	/* A's REGISTER still goes, SILENT_RETRY_MS apart, and only to A;
	 * nothing else goes anywhere. */
	assert_true(f->c.srv[0].reg.active);
	assert_int_equal(service_all(f, at(t + 6), m, 8, &next), 0);
	t = next - T0_MS;
	n = service_all(f, at(t), m, 8, &next);
	assert_int_equal(n, 1);
	assert_int_equal(m[0].type, WGP_REGISTER);
	assert_int_equal(port_server(f, 0), 0);
	gap = next - (T0_MS + t);
	assert_true(gap >= SILENT_RETRY_MS - SILENT_RETRY_MS / 4);
	assert_true(gap < SILENT_RETRY_MS + SILENT_RETRY_MS / 4);
	assert_int_equal(count_events(ENGINE_EV_SILENT), 1);

	/* A answers again: asked LOOKUPs again. */
	register_at(f, 0, &m[0], at(t + 10));
	assert_false(f->c.srv[0].silent);
	client_start_lookup(&f->c, p);
	assert_true(p->lookup[0].active && p->lookup[1].active);
}

/* "up": a silent A is not reported (up tries until its deadline) but is
 * still backed off: LOOKUPs go to B only. */
static void test_servers_one_silent_up(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[0];
	struct wgp_msg m[8];

	engine_start_register(&f->c, &f->c.srv[0]);
	engine_start_register(&f->c, &f->c.srv[1]);
	assert_int_equal(service_all(f, at(0), m, 8, NULL), 2);
	register_at(f, 1, port_server(f, 0) == 1 ? &m[0] : &m[1], at(20));
	until_silent(f, 21);
	assert_int_equal(count_events(ENGINE_EV_SILENT), 0);
	client_start_lookup(&f->c, p);
	assert_false(p->lookup[0].active);
	assert_true(p->lookup[1].active);
	/* Every server silent: asking all beats asking none. */
	f->c.srv[1].silent = true;
	p->lookup[1].active = false;
	client_start_lookup(&f->c, p);
	assert_true(p->lookup[0].active && p->lookup[1].active);
}

/* A NOTIFY from B is taken; its freshness is B's own (A's stamps do not
 * make it stale); sealed by B but arriving as A's, it is dropped. */
static void test_servers_notify_b(void **state)
{
	struct fixture *f = *state;
	const struct recorded *ev;
	struct wgp_msg n;

	notify(&n, &f->c.peers[0], T0_NS - S);
	answer_from(f, 0, &n, ENGINE_PORT_MAIN, at(0));
	assert_int_equal(count_events(ENGINE_EV_ENDPOINT), 1);

	notify(&n, &f->c.peers[1], T0_NS - 2 * S);	/* older than A's */
	answer_from(f, 1, &n, ENGINE_PORT_MAIN, at(0));
	assert_int_equal(count_events(ENGINE_EV_ENDPOINT), 2);
	ev = &f->ev[f->n_ev - 1];
	assert_int_equal(ev->type, ENGINE_EV_ENDPOINT);
	assert_ptr_equal(ev->srv, &f->c.srv[1]);
	assert_ptr_equal(ev->peer, &f->c.peers[1]);
	assert_true(wgp_endpoint_equal(&ev->ep, &n.u.notify.ep));

	/* B's NOTIFY on A's socket: not authentic for A. */
	{
		uint8_t buf[WGP_MAX_MSG_LEN];
		ssize_t len;

		notify(&n, &f->c.peers[1], T0_NS);
		len = wgp_seal(buf, sizeof(buf), &n, &f->srv[1]);
		assert_true(len > 0);
		engine_input(&f->c, 0, ENGINE_PORT_MAIN, buf, (size_t)len, at(1));
		assert_int_equal(f->n_ev, 2);
		/* Nor for a server that does not exist. */
		engine_input(&f->c, 2, ENGINE_PORT_MAIN, buf, (size_t)len, at(1));
		assert_int_equal(f->n_ev, 2);
	}
}

/* A RELAY goes to the server asked; its grant is about that server. */
static void test_servers_relay(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[0];
	struct wgp_msg m, g;

	client_start_relay(&f->c.srv[1], p);
	assert_int_equal(service(f, at(0), &m, NULL), 1);
	assert_int_equal(f->c.out.d[0].server, 1);
	assert_int_equal(m.type, WGP_RELAY);
	relay_grant(&g, p, WGP_RELAY_OK);
	memcpy(g.txid, m.txid, WGP_TXID_LEN);
	/* From A, that txid is not A's request: a stale unsolicited grant. */
	answer_from(f, 0, &g, ENGINE_PORT_MAIN, at(5));
	assert_true(p->relay.active);
	answer_from(f, 1, &g, ENGINE_PORT_MAIN, at(10));
	assert_false(p->relay.active);
	assert_ptr_equal(find_event(ENGINE_EV_RELAY_GRANT)->srv, &f->c.srv[1]);
}

/* p wants a relay at now (monotonic ms), engine time t: the RELAY goes
 * to server want, which answers UNAVAILABLE; the client takes that. */
static void relay_unavailable_from(struct fixture *f, struct client_peer *p,
				   uint64_t now, uint64_t t, unsigned int want)
{
	struct wgp_msg m, g;

	client_relay_want(&f->c, p, now, "test");
	assert_true(p->relay.active);
	assert_int_equal(service(f, at(t), &m, NULL), 1);
	assert_int_equal(f->c.out.d[0].server, want);
	relay_grant(&g, p, WGP_RELAY_UNAVAILABLE);
	memcpy(g.txid, m.txid, WGP_TXID_LEN);
	answer_from(f, want, &g, ENGINE_PORT_MAIN, at(t + 10));
	assert_false(p->relay.active);
	client_relay_granted(&f->c, &f->c.srv[want], p, &g.u.relay_grant);
}

/* The relay server asked next after UNAVAILABLE: that server can grant
 * only for a peer registered with it; the next one may hold the peer.
 * Once every server said no, none is asked until the wait is over. */
static void test_servers_relay_next(void **state)
{
	struct fixture *f = *state;
	struct client_peer *p = &f->c.peers[0];
	/* client_relay_granted() reads the monotonic clock itself. */
	uint64_t t0 = wgp_mono_ms();

	f->c.srv[0].registered = f->c.srv[1].registered = true;
	relay_unavailable_from(f, p, t0, 0, 0);
	relay_unavailable_from(f, p, t0 + 20, 20, 1);
	/* Both said no: 30 s from the first no, then A first again. */
	client_relay_want(&f->c, p, t0 + 20000, "test");
	assert_false(p->relay.active);
	relay_unavailable_from(f, p, t0 + 31000, 31000, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retransmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapping_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapping_check_probe_silent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapping_check_silent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_unsolicited, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_servers_register, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_servers_lookup_b, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_servers_first_wins, setup2,
						teardown),
		cmocka_unit_test_setup_teardown(test_servers_one_silent, setup2,
						teardown),
		cmocka_unit_test_setup_teardown(test_servers_one_silent_up, setup2,
						teardown),
		cmocka_unit_test_setup_teardown(test_servers_notify_b, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_servers_relay, setup2, teardown),
		cmocka_unit_test_setup_teardown(test_servers_relay_next, setup2,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
