// SPDX-License-Identifier: MIT
/*
 * Request handling without sockets: server_handle() fed with datagrams
 * from real clients, its queued replies opened with their keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <sodium.h>

#include "server.h"
#include "testclient.h"

struct env {
	struct server srv;
	struct outq q;
	uint64_t now;
};

/* relay_ports: 0 for no relay, else a range of that many from 40000. */
static struct env *env_new_relay(size_t capacity, uint32_t rate,
				 uint16_t relay_ports)
{
	struct env *e = calloc(1, sizeof(*e));
	struct server_config cfg;
	uint8_t priv[32];

	assert_non_null(e);
	server_config_defaults(&cfg);
	cfg.capacity = capacity;
	cfg.rate = rate;
	cfg.legacy = true;
	if (relay_ports) {
		cfg.relay.first = 40000;
		cfg.relay.last = (uint16_t)(40000 + relay_ports - 1);
	}
	wgp_key_generate(priv);
	e->now = 1000000;
	assert_int_equal(server_init(&e->srv, &cfg, priv, e->now), 0);
	e->q.cap = 512;
	e->q.msgs = calloc(e->q.cap, sizeof(*e->q.msgs));
	assert_non_null(e->q.msgs);
	return e;
}

static struct env *env_new(size_t capacity, uint32_t rate)
{
	return env_new_relay(capacity, rate, 0);
}

static void env_free(struct env *e)
{
	server_free(&e->srv);
	free(e->q.msgs);
	free(e);
}

static struct wgp_endpoint v4(uint8_t host, uint16_t port)
{
	struct wgp_endpoint ep = { .family = AF_INET, .port = port,
				   .addr = { 198, 18, 0, host } };

	return ep;
}

/* Feed one datagram; the queue is emptied first. */
static void feed(struct env *e, const uint8_t *pkt, size_t len,
		 struct wgp_endpoint src, enum server_port port)
{
	struct rx_info rx = { .pkt = pkt, .len = len, .src = src,
			      .port = port };

	e->q.n = 0;
	server_handle(&e->srv, &rx, e->now, wgp_now_ns(), &e->q);
}

/* The same with the server's clock (CLOCK_REALTIME, ns) given. */
static void feed_at(struct env *e, const uint8_t *pkt, size_t len,
		    struct wgp_endpoint src, uint64_t now_ns)
{
	struct rx_info rx = { .pkt = pkt, .len = len, .src = src,
			      .port = PORT_MAIN };

	e->q.n = 0;
	server_handle(&e->srv, &rx, e->now, now_ns, &e->q);
}

/* The queued datagram to dst opened by c (must be exactly one). */
static void expect(struct env *e, const struct tclient *c,
		   struct wgp_endpoint dst, uint8_t type, struct wgp_msg *m)
{
	unsigned int i, found = 0;

	for (i = 0; i < e->q.n; i++) {
		if (!wgp_endpoint_equal(&e->q.msgs[i].dst, &dst))
			continue;
		assert_int_equal(tclient_open(c, m, e->q.msgs[i].buf,
					      e->q.msgs[i].len), 0);
		found++;
	}
	assert_int_equal(found, 1);
	assert_int_equal(m->type, type);
}

/* Length of the one queued datagram to dst. */
static size_t sent_len(const struct env *e, struct wgp_endpoint dst)
{
	unsigned int i, found = 0;
	size_t len = 0;

	for (i = 0; i < e->q.n; i++) {
		if (!wgp_endpoint_equal(&e->q.msgs[i].dst, &dst))
			continue;
		len = e->q.msgs[i].len;
		found++;
	}
	assert_int_equal(found, 1);
	return len;
}

static void do_register(struct env *e, struct tclient *c,
			struct wgp_endpoint src, const uint8_t (*peers)[32],
			unsigned int n, uint8_t flags, struct wgp_msg *reply)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	size_t len = tclient_register(c, buf, sizeof(buf), peers, n, flags);

	feed(e, buf, len, src, PORT_MAIN);
	expect(e, c, src, WGP_REGISTER_REPLY, reply);
	assert_memory_equal(reply->txid, c->txid, WGP_TXID_LEN);
	assert_true(sent_len(e, src) <= len);
}

static void test_pair_and_notify(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 51820), eb = v4(2, 40000);
	struct tclient a, b;
	struct wgp_msg m;

	(void)state;
	tclient_init(&a, e->srv.pub);
	tclient_init(&b, e->srv.pub);

	/* A registers naming B: B unknown yet, nothing available. */
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	assert_int_equal(m.u.reg_reply.n_peers, 0);
	assert_int_equal(m.u.reg_reply.available, 0);
	assert_int_equal(m.u.reg_reply.ttl, SERVER_DEFAULT_TTL);
	assert_true(wgp_endpoint_equal(&m.u.reg_reply.self, &ea));
	assert_int_equal(e->q.n, 1);

	/* B registers naming A (symmetric NAT): B gets A, A is notified. */
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1,
		    WGP_F_SYMMETRIC, &m);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_int_equal(m.u.reg_reply.available, 1);
	assert_int_equal(m.u.reg_reply.peers[0].index, 0);
	assert_int_equal(m.u.reg_reply.peers[0].flags, 0);
	assert_true(wgp_endpoint_equal(&m.u.reg_reply.peers[0].ep, &ea));
	assert_int_equal(e->q.n, 2);
	expect(e, &a, ea, WGP_NOTIFY, &m);
	assert_memory_equal(m.u.notify.peer, b.pub, 32);
	assert_true(wgp_endpoint_equal(&m.u.notify.ep, &eb));
	assert_int_equal(m.u.notify.peer_flags, WGP_F_SYMMETRIC);

	/* A refreshes from the same place: gets B (and its flag), and B is
	 * not notified again (nothing changed). */
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_true(wgp_endpoint_equal(&m.u.reg_reply.peers[0].ep, &eb));
	assert_int_equal(m.u.reg_reply.peers[0].flags, WGP_F_SYMMETRIC);
	assert_int_equal(e->q.n, 1);

	/* A moves: B is notified of the new endpoint. */
	ea = v4(3, 51820);
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	assert_int_equal(e->q.n, 2);
	expect(e, &b, eb, WGP_NOTIFY, &m);
	assert_true(wgp_endpoint_equal(&m.u.notify.ep, &ea));
	env_free(e);
}

static void test_lookup_consent(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2), ec = v4(3, 3);
	uint8_t buf[WGP_MAX_MSG_LEN], ab[2][32];
	struct tclient a, b, c;
	struct wgp_msg m;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	tclient_init(&b, e->srv.pub);
	tclient_init(&c, e->srv.pub);
	memcpy(ab[0], a.pub, 32);
	memcpy(ab[1], b.pub, 32);
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	/* C names A and B; they do not name C: C learns nothing. */
	do_register(e, &c, ec, (const uint8_t (*)[32])ab, 2, 0, &m);
	assert_int_equal(m.u.reg_reply.n_peers, 0);
	assert_int_equal(m.u.reg_reply.available, 0);
	assert_int_equal(e->q.n, 1);	/* and no one is notified */
	len = tclient_lookup(&c, buf, sizeof(buf), a.pub, 0);
	feed(e, buf, len, ec, PORT_MAIN);
	expect(e, &c, ec, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_UNAVAILABLE);
	assert_int_equal(m.u.lookup_reply.peer.family, 0);
	assert_int_equal(e->q.n, 1);
	/* A cannot look up C either (C names A, A does not name C). */
	len = tclient_lookup(&a, buf, sizeof(buf), c.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_UNAVAILABLE);

	/* A looks up B: B's endpoint, and B is notified at once. */
	len = tclient_lookup(&a, buf, sizeof(buf), b.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	assert_int_equal(e->q.n, 2);
	expect(e, &a, ea, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	assert_true(wgp_endpoint_equal(&m.u.lookup_reply.peer, &eb));
	assert_true(wgp_endpoint_equal(&m.u.lookup_reply.self, &ea));
	assert_true(e->q.msgs[0].len <= len);
	expect(e, &b, eb, WGP_NOTIFY, &m);
	assert_memory_equal(m.u.notify.peer, a.pub, 32);

	/* B withdraws consent: A can no longer get B. */
	do_register(e, &b, eb, NULL, 0, 0, &m);
	len = tclient_lookup(&a, buf, sizeof(buf), b.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_UNAVAILABLE);

	/* LOOKUP by a key that never registered: NOT_REGISTERED. */
	struct tclient d;

	tclient_init(&d, e->srv.pub);
	len = tclient_lookup(&d, buf, sizeof(buf), a.pub, 0);
	feed(e, buf, len, v4(9, 9), PORT_MAIN);
	expect(e, &d, v4(9, 9), WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_NOT_REGISTERED);
	env_free(e);
}

static void test_replay_and_window(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), evil = v4(66, 6666);
	uint8_t buf[WGP_MAX_MSG_LEN], old[WGP_MAX_MSG_LEN];
	struct reg_entry *ent;
	struct tclient a;
	struct wgp_msg m;
	size_t len, old_len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	old_len = tclient_register(&a, old, sizeof(old), NULL, 0, 0);
	feed(e, old, old_len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_REGISTER_REPLY, &m);
	ent = registry_find(&e->srv.reg, a.pub, e->now);
	assert_non_null(ent);

	/* The same datagram replayed from elsewhere: refused, the entry
	 * keeps its endpoint; the (sealed) error tells the last counter. */
	feed(e, old, old_len, evil, PORT_MAIN);
	expect(e, &a, evil, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_COUNTER);
	assert_int_equal(m.u.error.last_counter, a.counter);
	assert_true(wgp_endpoint_equal(&ent->ep, &ea));

	/* A lower counter: refused as well. */
	a.force = a.counter - 10;
	len = tclient_register(&a, buf, sizeof(buf), NULL, 0, 0);
	a.counter += 100;
	feed(e, buf, len, evil, PORT_MAIN);
	expect(e, &a, evil, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_COUNTER);
	assert_true(wgp_endpoint_equal(&ent->ep, &ea));

	/* After expiry the server holds no counter; the old capture is
	 * then outside the clock window and creates nothing. */
	e->now += (uint64_t)SERVER_DEFAULT_TTL * 1000 + 1;
	assert_null(registry_find(&e->srv.reg, a.pub, e->now));
	{
		struct tclient s;

		tclient_init(&s, e->srv.pub);
		s.force = wgp_now_ns() - WGP_COUNTER_WINDOW_NS - 1000000000ULL - 1;
		len = tclient_register(&s, buf, sizeof(buf), NULL, 0, 0);
		feed(e, buf, len, evil, PORT_MAIN);
		expect(e, &s, evil, WGP_ERROR, &m);
		assert_int_equal(m.u.error.code, WGP_ERR_CLOCK);
		assert_null(registry_find(&e->srv.reg, s.pub, e->now));
		/* Far in the future: refused too. */
		s.force = wgp_now_ns() + WGP_COUNTER_WINDOW_NS + 1000000000ULL;
		len = tclient_register(&s, buf, sizeof(buf), NULL, 0, 0);
		feed(e, buf, len, evil, PORT_MAIN);
		expect(e, &s, evil, WGP_ERROR, &m);
		assert_int_equal(m.u.error.code, WGP_ERR_CLOCK);
		assert_null(registry_find(&e->srv.reg, s.pub, e->now));
	}
	assert_int_equal(e->srv.reg.live, 0);
	env_free(e);
}

static void test_forged(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint eb = v4(2, 2), evil = v4(66, 6666);
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct tclient b, forger;
	struct wgp_msg m;
	size_t len;

	(void)state;
	tclient_init(&b, e->srv.pub);
	do_register(e, &b, eb, NULL, 0, 0, &m);
	/* A random key claiming B's public key: no reply, no change. */
	tclient_init(&forger, e->srv.pub);
	memcpy(forger.pub, b.pub, 32);
	len = tclient_register(&forger, buf, sizeof(buf), NULL, 0, 0);
	feed(e, buf, len, evil, PORT_MAIN);
	assert_int_equal(e->q.n, 0);
	assert_true(wgp_endpoint_equal(
		&registry_find(&e->srv.reg, b.pub, e->now)->ep, &eb));
	/* Forged with an unknown key: no reply, no state. */
	tclient_init(&forger, e->srv.pub);
	forger.sess.up[0] ^= 1;
	len = tclient_register(&forger, buf, sizeof(buf), NULL, 0, 0);
	feed(e, buf, len, evil, PORT_MAIN);
	assert_int_equal(e->q.n, 0);
	assert_int_equal(e->srv.reg.live, 1);
	assert_int_equal(e->srv.st.forged, 2);
	/* A reply-type datagram or garbage sent to the server: dropped. */
	feed(e, (const uint8_t *)"WGPN\x01\x02", 6, evil, PORT_MAIN);
	memset(buf, 0xff, 200);
	feed(e, buf, 200, evil, PORT_MAIN);
	assert_int_equal(e->q.n, 0);
	env_free(e);
}

static void test_probe(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), mapped = v4(1, 2);
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct tclient a;
	struct wgp_msg m;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	/* Works without registering; says which port answered. */
	len = tclient_probe(&a, buf, sizeof(buf));
	feed(e, buf, len, mapped, PORT_PROBE);
	expect(e, &a, mapped, WGP_PROBE_REPLY, &m);
	assert_true(wgp_endpoint_equal(&m.u.probe_reply.self, &mapped));
	assert_int_equal(m.u.probe_reply.local_port, WGP_PROBE_PORT);
	assert_int_equal(e->q.msgs[0].port, PORT_PROBE);
	assert_true(e->q.msgs[0].len <= len);
	len = tclient_probe(&a, buf, sizeof(buf));
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_PROBE_REPLY, &m);
	assert_int_equal(m.u.probe_reply.local_port, WGP_PORT);
	assert_int_equal(e->srv.reg.live, 0);
	/* The probe port answers nothing but PROBE. */
	len = tclient_register(&a, buf, sizeof(buf), NULL, 0, 0);
	feed(e, buf, len, ea, PORT_PROBE);
	assert_int_equal(e->q.n, 0);
	assert_int_equal(e->srv.reg.live, 0);
	env_free(e);
}

/* 64 mutual peers: the reply stays within the request's size, the
 * rest is flagged for LOOKUP, every available bit is set. */
static void test_no_amplification(void **state)
{
	struct env *e = env_new(128, 0);
	static struct tclient peers[WGP_MAX_CONSENT];
	uint8_t keys[WGP_MAX_CONSENT][32], buf[WGP_MAX_MSG_LEN];
	struct tclient hub;
	struct wgp_msg m;
	unsigned int i;
	size_t len;

	(void)state;
	tclient_init(&hub, e->srv.pub);
	for (i = 0; i < WGP_MAX_CONSENT; i++) {
		tclient_init(&peers[i], e->srv.pub);
		memcpy(keys[i], peers[i].pub, 32);
		do_register(e, &peers[i], v4((uint8_t)(i + 10), 5),
			    (const uint8_t (*)[32])hub.pub, 1, 0, &m);
	}
	len = tclient_register(&hub, buf, sizeof(buf),
			       (const uint8_t (*)[32])keys, WGP_MAX_CONSENT, 0);
	feed(e, buf, len, v4(1, 1), PORT_MAIN);
	/* Reply plus 64 notifies. */
	assert_int_equal(e->q.n, 1 + WGP_MAX_CONSENT);
	expect(e, &hub, v4(1, 1), WGP_REGISTER_REPLY, &m);
	assert_int_equal(m.u.reg_reply.available, UINT64_MAX);
	assert_true(m.u.reg_reply.n_peers > 0);
	assert_true(m.u.reg_reply.n_peers < WGP_MAX_CONSENT);
	assert_true(m.u.reg_reply.flags & WGP_RF_MORE);
	for (i = 0; i < m.u.reg_reply.n_peers; i++) {
		unsigned int idx = m.u.reg_reply.peers[i].index;

		assert_true(wgp_endpoint_equal(&m.u.reg_reply.peers[i].ep,
					       &(struct wgp_endpoint){
						.family = AF_INET, .port = 5,
						.addr = { 198, 18, 0,
							  (uint8_t)(idx + 10) } }));
	}
	for (i = 0; i < e->q.n; i++)
		if (wgp_endpoint_equal(&e->q.msgs[i].dst, &(struct wgp_endpoint){
				.family = AF_INET, .port = 1,
				.addr = { 198, 18, 0, 1 } }))
			assert_true(e->q.msgs[i].len <= len);
	env_free(e);
}

/*
 * Registrations prove the key, not the address: Sybil keys registered
 * from a spoofed source put a victim's address in the registry. Hubs
 * naming them, re-registering from ever new (spoofed) sources, would
 * then make the server send the victim 64 NOTIFYs per REGISTER, more
 * than any one hub's NOTIFY budget allows. Every NOTIFY is charged to
 * its destination address's NOTIFY bucket, so the victim receives at
 * most that burst, whatever the attacker sends.
 */
static void test_notify_reflection(void **state)
{
	struct env *e = env_new(128, 3);
	static struct tclient peers[WGP_MAX_CONSENT];
	uint8_t keys[WGP_MAX_CONSENT][32], hubs[2][32], buf[WGP_MAX_MSG_LEN];
	struct wgp_endpoint victim = v4(99, 53);
	unsigned int i, h, round, notifies = 0;
	struct tclient hub[2];
	struct wgp_msg m;
	size_t len;

	(void)state;
	for (h = 0; h < 2; h++) {
		tclient_init(&hub[h], e->srv.pub);
		memcpy(hubs[h], hub[h].pub, 32);
	}
	for (i = 0; i < WGP_MAX_CONSENT; i++) {
		tclient_init(&peers[i], e->srv.pub);
		memcpy(keys[i], peers[i].pub, 32);
		do_register(e, &peers[i], victim,
			    (const uint8_t (*)[32])hubs, 2, 0, &m);
	}
	for (round = 0; round < 8; round++) {
		for (h = 0; h < 2; h++) {
			len = tclient_register(&hub[h], buf, sizeof(buf),
					       (const uint8_t (*)[32])keys,
					       WGP_MAX_CONSENT, 0);
			feed(e, buf, len, v4((uint8_t)(round * 2 + h + 1), 1),
			     PORT_MAIN);
			for (i = 0; i < e->q.n; i++)
				notifies += wgp_endpoint_equal(
					&e->q.msgs[i].dst, &victim);
		}
	}
	/* Without the destination's budget: 2 x NOTIFY_BURST. */
	assert_true(notifies > 0);
	assert_true(notifies <= SERVER_DEFAULT_BURST);
	assert_true(e->srv.st.notify_limited > 0);
	env_free(e);
}

static void test_full_and_ratelimit(void **state)
{
	struct env *e = env_new(2, 3);
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct tclient c[3];
	struct wgp_msg m;
	unsigned int i;
	size_t len;

	(void)state;
	for (i = 0; i < 3; i++)
		tclient_init(&c[i], e->srv.pub);
	do_register(e, &c[0], v4(1, 1), NULL, 0, 0, &m);
	do_register(e, &c[1], v4(2, 1), NULL, 0, 0, &m);
	len = tclient_register(&c[2], buf, sizeof(buf), NULL, 0, 0);
	feed(e, buf, len, v4(3, 1), PORT_MAIN);
	expect(e, &c[2], v4(3, 1), WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_FULL);
	assert_int_equal(e->srv.reg.live, 2);

	/* Rate 3/s, burst 100 (default): from one source, the 101st
	 * datagram in the same millisecond is dropped before any crypto. */
	uint64_t dh = e->srv.st.dh;

	for (i = 0; i < 200; i++) {
		struct tclient x;

		tclient_init(&x, e->srv.pub);
		len = tclient_probe(&x, buf, sizeof(buf));
		feed(e, buf, len, v4(50, 1), PORT_MAIN);
	}
	assert_int_equal(e->srv.st.dh - dh, SERVER_DEFAULT_BURST);
	assert_int_equal(e->srv.st.ratelimited, 200 - SERVER_DEFAULT_BURST);
	env_free(e);
}

static void test_legacy_separate(void **state)
{
	struct env *e = env_new(8, 0);
	uint8_t req[64];
	struct tclient a, b;
	struct wgp_msg m;

	(void)state;
	tclient_init(&a, e->srv.pub);
	tclient_init(&b, e->srv.pub);
	do_register(e, &a, v4(1, 1), (const uint8_t (*)[32])b.pub, 1, 0, &m);
	/* Contrib request B -> A: the legacy table knows nothing of A. */
	memcpy(req, b.pub, 32);
	memcpy(req + 32, a.pub, 32);
	feed(e, req, 64, v4(2, 2), PORT_MAIN);
	assert_int_equal(e->q.n, 1);
	assert_int_equal(e->q.msgs[0].len, 0);
	/* ... and did not register B in the authenticated registry. */
	assert_null(registry_find(&e->srv.reg, b.pub, e->now));
	/* A legacy registration of A answers legacy lookups only. */
	memcpy(req, a.pub, 32);
	memcpy(req + 32, b.pub, 32);
	feed(e, req, 64, v4(7, 7), PORT_MAIN);
	assert_int_equal(e->q.n, 1);
	assert_int_equal(e->q.msgs[0].len, 6);
	assert_memory_equal(e->q.msgs[0].buf, "\xc6\x12\x00\x02\x00\x02", 6);
	assert_true(wgp_endpoint_equal(
		&registry_find(&e->srv.reg, a.pub, e->now)->ep, &(struct wgp_endpoint){
			.family = AF_INET, .port = 1, .addr = { 198, 18, 0, 1 } }));
	/* Not on the probe port. */
	feed(e, req, 64, v4(7, 7), PORT_PROBE);
	assert_int_equal(e->q.n, 0);
	env_free(e);
}


/* ---- version 2: host candidates ------------------------------------ */

static struct wgp_endpoint v6(uint8_t host, uint16_t port)
{
	struct wgp_endpoint ep = { .family = AF_INET6, .port = port,
				   .addr = { 0x20, 0x01, 0x0d, 0xb8 } };

	ep.addr[15] = host;
	return ep;
}

/* A v2 client reporting a LAN-side address in slot 0 and an IPv6 one in
 * slot 2 (seed makes them its own). */
static void client_v2(struct tclient *c, const struct env *e, uint8_t seed)
{
	tclient_init(c, e->srv.pub);
	c->version = 2;
	c->cands[0] = v4((uint8_t)(200 + seed), 51820);
	c->cands[2] = v6(seed, 51820);
}

static void assert_cands(const struct wgp_endpoint *got,
			 const struct wgp_endpoint *want)
{
	unsigned int i;

	for (i = 0; i < WGP_MAX_CANDIDATES; i++)
		assert_true(wgp_endpoint_equal(&got[i], &want[i]));
}

static void assert_no_cands(const struct wgp_endpoint *got)
{
	static const struct wgp_endpoint none[WGP_MAX_CANDIDATES];

	assert_cands(got, none);
}

/* Candidates go where the endpoint goes: to mutual peers only. */
static void test_v2_cands_consent(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2), ec = v4(3, 3);
	uint8_t buf[WGP_MAX_MSG_LEN], ab[2][32];
	struct tclient a, b, c;
	struct reg_entry *ent;
	struct wgp_msg m;
	size_t len;

	(void)state;
	client_v2(&a, e, 1);
	client_v2(&b, e, 2);
	client_v2(&c, e, 3);
	memcpy(ab[0], a.pub, 32);
	memcpy(ab[1], b.pub, 32);

	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1,
		    WGP_F_PROBES, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(sent_len(e, ea), 84);
	ent = registry_find(&e->srv.reg, a.pub, e->now);
	assert_int_equal(ent->version, 2);
	assert_cands(ent->cands, a.cands);

	/* B names A: its record carries A's candidates and flags, and A's
	 * NOTIFY (v2, as A registered) carries B's. */
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_int_equal(m.u.reg_reply.peers[0].flags, WGP_F_PROBES);
	assert_true(wgp_endpoint_equal(&m.u.reg_reply.peers[0].ep, &ea));
	assert_cands(m.u.reg_reply.peers[0].cands, a.cands);
	expect(e, &a, ea, WGP_NOTIFY, &m);
	assert_int_equal(m.version, 2);
	assert_memory_equal(m.u.notify.peer, b.pub, 32);
	assert_cands(m.u.notify.cands, b.cands);

	/* C names both; neither names C: nothing, candidates included. */
	do_register(e, &c, ec, (const uint8_t (*)[32])ab, 2, 0, &m);
	assert_int_equal(m.u.reg_reply.n_peers, 0);
	assert_int_equal(e->q.n, 1);
	len = tclient_lookup(&c, buf, sizeof(buf), a.pub, 0);
	feed(e, buf, len, ec, PORT_MAIN);
	expect(e, &c, ec, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_UNAVAILABLE);
	assert_no_cands(m.u.lookup_reply.cands);
	assert_int_equal(e->q.n, 1);

	/* A looks B up: B's candidates in the reply, A's in B's NOTIFY. */
	len = tclient_lookup(&a, buf, sizeof(buf), b.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(sent_len(e, ea), 176);
	assert_true(sent_len(e, ea) <= len);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	assert_cands(m.u.lookup_reply.cands, b.cands);
	expect(e, &b, eb, WGP_NOTIFY, &m);
	assert_cands(m.u.notify.cands, a.cands);

	/* B withdraws consent: A gets neither endpoint nor candidates. */
	do_register(e, &b, eb, NULL, 0, 0, &m);
	len = tclient_lookup(&a, buf, sizeof(buf), b.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_UNAVAILABLE);
	assert_no_cands(m.u.lookup_reply.cands);
	env_free(e);
}

/* Slots no peer could reach are zeroed in place, the others kept. */
static void test_v2_unusable_cands_zeroed(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2);
	struct wgp_endpoint want[WGP_MAX_CANDIDATES] = { 0 };
	struct tclient a, b;
	struct reg_entry *ent;
	struct wgp_msg m;

	(void)state;
	client_v2(&a, e, 1);
	client_v2(&b, e, 2);
	a.cands[0] = (struct wgp_endpoint){ .family = AF_INET, .port = 51820,
					    .addr = { 127, 0, 0, 1 } };
	a.cands[1] = v4(9, 51820);
	a.cands[2] = (struct wgp_endpoint){ .family = AF_INET6, .port = 51820,
					    .addr = { 0xfe, 0x80, [15] = 1 } };
	a.cands[3] = (struct wgp_endpoint){ .family = AF_INET, .port = 51820,
					    .addr = { 169, 254, 1, 1 } };
	want[1] = a.cands[1];
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	ent = registry_find(&e->srv.reg, a.pub, e->now);
	assert_cands(ent->cands, want);
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_cands(m.u.reg_reply.peers[0].cands, want);
	env_free(e);
}

/* A v1 client beside a v2 one: the v1 one sees only v1, and nothing
 * of version 2 (PROBES, candidates) reaches it. */
static void test_v1_and_v2_peers(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2);
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct tclient a, b;
	struct reg_entry *ent;
	struct wgp_msg m;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);		/* v1 */
	client_v2(&b, e, 2);
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1,
		    WGP_F_SYMMETRIC, &m);
	assert_int_equal(m.version, 1);
	ent = registry_find(&e->srv.reg, a.pub, e->now);
	assert_int_equal(ent->version, 1);
	assert_no_cands(ent->cands);

	/* B (v2, PROBES) registers naming A: B's record of A is v2 without
	 * candidates; A's NOTIFY is v1: 108 bytes, SYMMETRIC at most. */
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1,
		    WGP_F_PROBES | WGP_F_SYMMETRIC, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_int_equal(m.u.reg_reply.peers[0].flags, WGP_F_SYMMETRIC);
	assert_no_cands(m.u.reg_reply.peers[0].cands);
	expect(e, &a, ea, WGP_NOTIFY, &m);
	assert_int_equal(m.version, 1);
	assert_int_equal(m.u.notify.peer_flags, WGP_F_SYMMETRIC);
	assert_no_cands(m.u.notify.cands);
	assert_int_equal(sent_len(e, ea), 108);

	/* A's REGISTER and LOOKUP replies: v1 lengths, B's flags masked. */
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	assert_int_equal(m.version, 1);
	assert_int_equal(sent_len(e, ea), 84 + 24);
	assert_int_equal(m.u.reg_reply.peers[0].flags, WGP_F_SYMMETRIC);
	assert_no_cands(m.u.reg_reply.peers[0].cands);
	len = tclient_lookup(&a, buf, sizeof(buf), b.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.version, 1);
	assert_int_equal(sent_len(e, ea), 96);
	assert_int_equal(m.u.lookup_reply.peer_flags, WGP_F_SYMMETRIC);
	/* ... while B, notified, gets v2 with A's (empty) candidates. */
	expect(e, &b, eb, WGP_NOTIFY, &m);
	assert_int_equal(m.version, 2);
	assert_no_cands(m.u.notify.cands);

	/* B looks up A: v2 reply, zero candidates (A reported none). */
	len = tclient_lookup(&b, buf, sizeof(buf), a.pub, WGP_F_PROBES);
	feed(e, buf, len, eb, PORT_MAIN);
	expect(e, &b, eb, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	assert_no_cands(m.u.lookup_reply.cands);

	/* B falls back to v1: its candidates are gone, A's view of B is
	 * v1 all the same. */
	b.version = 1;
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	assert_int_equal(m.version, 1);
	ent = registry_find(&e->srv.reg, b.pub, e->now);
	assert_int_equal(ent->version, 1);
	assert_no_cands(ent->cands);
	/* That was a change of candidates and flags: A is told. */
	expect(e, &a, ea, WGP_NOTIFY, &m);
	/* Errors answer in the request's version too. */
	b.version = 2;
	b.force = 1;
	len = tclient_register(&b, buf, sizeof(buf), NULL, 0, 0);
	feed(e, buf, len, eb, PORT_MAIN);
	expect(e, &b, eb, WGP_ERROR, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.error.code, WGP_ERR_COUNTER);
	env_free(e);
}

/* Same endpoint and flags, other candidates: the peer must hear of it
 * (it may now reach us directly); the same candidates again: silence. */
static void test_v2_notify_on_cands_change(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2);
	struct tclient a, b;
	struct wgp_msg m;

	(void)state;
	client_v2(&a, e, 1);
	client_v2(&b, e, 2);
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	assert_int_equal(e->q.n, 2);

	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	assert_int_equal(e->q.n, 1);		/* nothing changed */

	b.cands[3] = v4(77, 4000);
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	assert_int_equal(e->q.n, 2);
	expect(e, &a, ea, WGP_NOTIFY, &m);
	assert_cands(m.u.notify.cands, b.cands);

	/* Moving a candidate to another slot is a change too. */
	b.cands[1] = b.cands[3];
	memset(&b.cands[3], 0, sizeof(b.cands[3]));
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	assert_int_equal(e->q.n, 2);

	/* A candidate the server zeroes anyway changes nothing. */
	b.cands[3] = (struct wgp_endpoint){ .family = AF_INET, .port = 9,
					    .addr = { 127, 0, 0, 1 } };
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	assert_int_equal(e->q.n, 1);
	env_free(e);
}

/* A LOOKUP v2 refreshes the sender's candidates (not only its endpoint),
 * a v1 LOOKUP clears them. */
static void test_v2_lookup_refreshes_cands(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2);
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct tclient a, b;
	struct reg_entry *ent;
	struct wgp_msg m;
	size_t len;

	(void)state;
	client_v2(&a, e, 1);
	client_v2(&b, e, 2);
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);

	a.cands[0] = v4(55, 6000);
	memset(&a.cands[2], 0, sizeof(a.cands[2]));
	len = tclient_lookup(&a, buf, sizeof(buf), b.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	ent = registry_find(&e->srv.reg, a.pub, e->now);
	assert_cands(ent->cands, a.cands);
	expect(e, &b, eb, WGP_NOTIFY, &m);
	assert_cands(m.u.notify.cands, a.cands);
	/* B's next LOOKUP of A sees the new ones. */
	len = tclient_lookup(&b, buf, sizeof(buf), a.pub, 0);
	feed(e, buf, len, eb, PORT_MAIN);
	expect(e, &b, eb, WGP_LOOKUP_REPLY, &m);
	assert_cands(m.u.lookup_reply.cands, a.cands);

	/* A v1 LOOKUP: back to version 1, no candidates. */
	a.version = 1;
	len = tclient_lookup(&a, buf, sizeof(buf), b.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.version, 1);
	assert_int_equal(ent->version, 1);
	assert_no_cands(ent->cands);
	/* And the NOTIFY that LOOKUP caused went out to B in v2. */
	expect(e, &b, eb, WGP_NOTIFY, &m);
	assert_int_equal(m.version, 2);
	assert_no_cands(m.u.notify.cands);
	env_free(e);
}

/*
 * The no-amplification rule in v2, where records are 104 bytes: a hub
 * with 64 mutual v2 peers gets only the records that keep the reply
 * within its request (10 at the 1196-byte maximum), MORE for the rest;
 * a one-peer REGISTER (188 bytes) still has room for its one record.
 */
static void test_v2_no_amplification(void **state)
{
	struct env *e = env_new(128, 0);
	static struct tclient peers[WGP_MAX_CONSENT];
	uint8_t keys[WGP_MAX_CONSENT][32], buf[WGP_MAX_MSG_LEN];
	struct wgp_endpoint hub_ep = v4(1, 1);
	struct tclient hub, one;
	struct wgp_msg m;
	unsigned int i;
	size_t len;

	(void)state;
	client_v2(&hub, e, 0);
	for (i = 0; i < WGP_MAX_CONSENT; i++) {
		client_v2(&peers[i], e, (uint8_t)(i + 10));
		memcpy(keys[i], peers[i].pub, 32);
		do_register(e, &peers[i], v4((uint8_t)(i + 10), 5),
			    (const uint8_t (*)[32])hub.pub, 1, 0, &m);
	}
	len = tclient_register(&hub, buf, sizeof(buf),
			       (const uint8_t (*)[32])keys, WGP_MAX_CONSENT, 0);
	assert_int_equal(len, WGP_MAX_REQUEST_LEN);
	feed(e, buf, len, hub_ep, PORT_MAIN);
	assert_int_equal(e->q.n, 1 + WGP_MAX_CONSENT);
	expect(e, &hub, hub_ep, WGP_REGISTER_REPLY, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.u.reg_reply.available, UINT64_MAX);
	assert_int_equal(m.u.reg_reply.n_peers, WGP_MAX_PEER_RECS_V2);
	assert_true(m.u.reg_reply.flags & WGP_RF_MORE);
	for (i = 0; i < m.u.reg_reply.n_peers; i++) {
		unsigned int idx = m.u.reg_reply.peers[i].index;

		assert_cands(m.u.reg_reply.peers[i].cands, peers[idx].cands);
	}
	assert_true(sent_len(e, hub_ep) <= len);
	assert_int_equal(sent_len(e, hub_ep), 84 + 104 * 10);

	/* One peer: 188-byte request, 188-byte reply with its record. */
	client_v2(&one, e, 99);
	do_register(e, &peers[0], v4(10, 5), (const uint8_t (*)[32])one.pub,
		    1, 0, &m);
	len = tclient_register(&one, buf, sizeof(buf),
			       (const uint8_t (*)[32])peers[0].pub, 1, 0);
	assert_int_equal(len, 188);
	feed(e, buf, len, v4(2, 2), PORT_MAIN);
	expect(e, &one, v4(2, 2), WGP_REGISTER_REPLY, &m);
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_false(m.u.reg_reply.flags & WGP_RF_MORE);
	assert_int_equal(sent_len(e, v4(2, 2)), 188);
	env_free(e);
}

/* ---- relay --------------------------------------------------------- */

/* A and B, version 2, registered naming each other. */
static void relay_pair(struct env *e, struct tclient *a, struct tclient *b,
		       struct wgp_endpoint ea, struct wgp_endpoint eb)
{
	struct wgp_msg m;

	tclient_init(a, e->srv.pub);
	tclient_init(b, e->srv.pub);
	a->version = b->version = 2;
	do_register(e, a, ea, (const uint8_t (*)[32])b->pub, 1, 0, &m);
	do_register(e, b, eb, (const uint8_t (*)[32])a->pub, 1, 0, &m);
}

/* c asks for a relay with target from src: the one reply, opened. */
static void ask_relay(struct env *e, struct tclient *c,
		      struct wgp_endpoint src, const uint8_t *target,
		      uint8_t type, struct wgp_msg *m)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	size_t len = tclient_relay(c, buf, sizeof(buf), target);

	assert_int_equal(len, 120);
	feed(e, buf, len, src, PORT_MAIN);
	expect(e, c, src, type, m);
	assert_int_equal(m->version, 2);
	assert_memory_equal(m->txid, c->txid, WGP_TXID_LEN);
	/* Never longer than the request. */
	assert_true(sent_len(e, src) <= len);
}

static void test_relay_grant_pair(void **state)
{
	struct env *e = env_new_relay(64, 0, 8);
	struct wgp_endpoint ea = v4(1, 51820), eb = v4(2, 40000);
	struct wgp_relay_grant ga, gb;
	struct tclient a, b;
	struct wgp_msg m;

	(void)state;
	relay_pair(e, &a, &b, ea, eb);
	/* A asks: A's side in the reply, B's side unsolicited to B. */
	ask_relay(e, &a, ea, b.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(e->q.n, 2);
	ga = m.u.relay_grant;
	assert_int_equal(ga.status, WGP_RELAY_OK);
	assert_memory_equal(ga.peer, b.pub, 32);
	assert_int_equal(ga.idle_s, RELAY_DEFAULT_IDLE_S);
	assert_true(ga.port >= 40000 && ga.port <= 40001);
	expect(e, &b, eb, WGP_RELAY_GRANT, &m);
	gb = m.u.relay_grant;
	assert_memory_not_equal(m.txid, a.txid, WGP_TXID_LEN);
	assert_int_equal(gb.status, WGP_RELAY_OK);
	assert_memory_equal(gb.peer, a.pub, 32);
	assert_int_equal(gb.port ^ 1, ga.port);
	assert_memory_not_equal(gb.bind_key, ga.bind_key, 32);
	assert_int_equal(e->srv.relay.st.created, 1);

	/* A asks again: the same side, and B is not told again. */
	ask_relay(e, &a, ea, b.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(e->q.n, 1);
	assert_memory_equal(&m.u.relay_grant.bind_key, ga.bind_key, 32);
	assert_int_equal(m.u.relay_grant.port, ga.port);
	/* B asks: the side it was sent, and A is not told. */
	ask_relay(e, &b, eb, a.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(e->q.n, 1);
	assert_memory_equal(&m.u.relay_grant.bind_key, gb.bind_key, 32);
	assert_int_equal(m.u.relay_grant.port, gb.port);
	assert_int_equal(e->srv.relay.live, 1);
	assert_int_equal(e->srv.st.relays, 3);
	env_free(e);
}

static void test_relay_consent(void **state)
{
	struct env *e = env_new_relay(64, 0, 8);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2), ec = v4(3, 3);
	struct tclient a, b, c, d;
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_msg m;
	size_t len;

	(void)state;
	relay_pair(e, &a, &b, ea, eb);
	tclient_init(&c, e->srv.pub);
	c.version = 2;
	/* C names B; B does not name C: UNAVAILABLE, B hears nothing. */
	do_register(e, &c, ec, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	ask_relay(e, &c, ec, b.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(e->q.n, 1);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_UNAVAILABLE);
	assert_int_equal(m.u.relay_grant.port, 0);
	assert_true(wgp_key_is_zero(m.u.relay_grant.bind_key));
	assert_memory_equal(m.u.relay_grant.peer, b.pub, 32);
	/* A key nobody registered: the very same answer. */
	tclient_init(&d, e->srv.pub);
	ask_relay(e, &c, ec, d.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_UNAVAILABLE);
	assert_int_equal(e->srv.relay.live, 0);
	/* Oneself. */
	ask_relay(e, &a, ea, a.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_UNAVAILABLE);

	/* Unregistered requester: NOT_REGISTERED, as LOOKUP. */
	ask_relay(e, &d, v4(9, 9), a.pub, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_NOT_REGISTERED);
	/* Replayed counter: COUNTER, as LOOKUP; the same sequence as
	 * REGISTER. */
	a.force = a.counter;
	ask_relay(e, &a, ea, b.pub, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_COUNTER);
	assert_int_equal(e->srv.relay.live, 0);
	/* A RELAY moves the counter: a REGISTER with the same one fails. */
	len = tclient_relay(&a, buf, sizeof(buf), b.pub);
	feed(e, buf, len, ea, PORT_MAIN);
	a.force = a.counter;
	len = tclient_register(&a, buf, sizeof(buf),
			       (const uint8_t (*)[32])b.pub, 1, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_COUNTER);
	/* Not on the probe port. */
	len = tclient_relay(&a, buf, sizeof(buf), b.pub);
	feed(e, buf, len, ea, PORT_PROBE);
	assert_int_equal(e->q.n, 0);
	env_free(e);
}

static void test_relay_none_full_v1(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2), ec = v4(3, 3);
	uint8_t buf[WGP_MAX_MSG_LEN], ab[2][32];
	struct tclient a, b, c;
	uint64_t bad;
	struct wgp_msg m;
	size_t len;

	(void)state;
	/* No relay: NONE (consent or not), no unsolicited grant. */
	relay_pair(e, &a, &b, ea, eb);
	ask_relay(e, &a, ea, b.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(e->q.n, 1);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_NONE);
	assert_int_equal(m.u.relay_grant.port, 0);

	/* A version 1 RELAY does not exist: dropped unanswered. */
	len = tclient_relay(&a, buf, sizeof(buf), b.pub);
	buf[WGP_OFF_VERSION] = 1;
	bad = e->srv.st.bad;
	feed(e, buf, len, ea, PORT_MAIN);
	assert_int_equal(e->q.n, 0);
	assert_int_equal(e->srv.st.bad, bad + 1);
	env_free(e);

	/* One allocation: the second pair is FULL. */
	e = env_new_relay(64, 0, 2);
	relay_pair(e, &a, &b, ea, eb);
	tclient_init(&c, e->srv.pub);
	c.version = 2;
	memcpy(ab[0], b.pub, 32);
	memcpy(ab[1], c.pub, 32);
	do_register(e, &c, ec, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	do_register(e, &a, ea, (const uint8_t (*)[32])ab, 2, 0, &m);
	ask_relay(e, &a, ea, b.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_OK);
	ask_relay(e, &c, ec, a.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(e->q.n, 1);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_FULL);
	assert_int_equal(m.u.relay_grant.port, 0);
	assert_int_equal(e->srv.relay.st.full, 1);

	/* A peer that speaks version 1 could never hear its side. */
	b.version = 1;
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	ask_relay(e, &a, ea, b.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_UNAVAILABLE);
	env_free(e);
}

/* The unsolicited grant is a NOTIFY in all but type: the requester's
 * budget and the destination's bucket pay for it. */
static void test_relay_grant_budget(void **state)
{
	struct env *e = env_new_relay(64, 0, 8);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2);
	struct reg_entry *ent;
	struct tclient a, b;
	struct wgp_msg m;

	(void)state;
	relay_pair(e, &a, &b, ea, eb);
	ent = registry_find(&e->srv.reg, a.pub, e->now);
	assert_non_null(ent);
	ent->notifies.tokens = 0;
	ent->notifies.ms = (uint32_t)e->now;
	ask_relay(e, &a, ea, b.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_OK);
	assert_int_equal(e->q.n, 1);	/* B not told; B can ask itself */
	ask_relay(e, &b, eb, a.pub, WGP_RELAY_GRANT, &m);
	assert_int_equal(m.u.relay_grant.status, WGP_RELAY_OK);
	assert_int_equal(e->q.n, 1);
	env_free(e);
}

/* ---- freshness and honest storage (issue 9, findings 3-6) ---------- */

/* The stamp of the one queued datagram to dst, opened by c as type. */
static uint64_t stamp_to(struct env *e, const struct tclient *c,
			 struct wgp_endpoint dst, uint8_t type)
{
	struct wgp_msg m;

	expect(e, c, dst, type, &m);
	return wgp_stamp_of(m.txid);
}

static void test_notify_stamps(void **state)
{
	struct env *e = env_new_relay(64, 0, 8);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2);
	uint8_t buf[WGP_MAX_MSG_LEN];
	uint64_t stamp, last = 0, now_ns;
	struct rx_info rx;
	struct tclient a, b;
	struct wgp_msg m;
	unsigned int i;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	tclient_init(&b, e->srv.pub);
	a.version = b.version = 2;
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	do_register(e, &b, eb, (const uint8_t (*)[32])a.pub, 1, 0, &m);
	stamp = stamp_to(e, &a, ea, WGP_NOTIFY);
	assert_true(wgp_in_window(stamp, wgp_now_ns()));
	last = stamp;
	/* LOOKUPs in the same nanosecond (one receive batch): the stamps
	 * still strictly increase, and stay in the window. */
	now_ns = wgp_now_ns();
	for (i = 0; i < 4; i++) {
		len = tclient_lookup(&a, buf, sizeof(buf), b.pub, 0);
		rx = (struct rx_info){ .pkt = buf, .len = len, .src = ea,
				       .port = PORT_MAIN };
		e->q.n = 0;
		server_handle(&e->srv, &rx, e->now, now_ns, &e->q);
		stamp = stamp_to(e, &b, eb, WGP_NOTIFY);
		assert_true(stamp > last);
		assert_true(wgp_in_window(stamp, now_ns));
		last = stamp;
	}
	/* The unsolicited RELAY_GRANT is stamped from the same sequence. */
	ask_relay(e, &a, ea, b.pub, WGP_RELAY_GRANT, &m);
	stamp = stamp_to(e, &b, eb, WGP_RELAY_GRANT);
	assert_true(stamp > last);
	assert_true(wgp_in_window(stamp, wgp_now_ns()));
	/* The stamp is associated data: altered, the NOTIFY does not open. */
	do_register(e, &a, v4(9, 9), (const uint8_t (*)[32])b.pub, 1, 0, &m);
	for (i = 0; i < e->q.n; i++) {
		if (!wgp_endpoint_equal(&e->q.msgs[i].dst, &eb))
			continue;
		e->q.msgs[i].buf[WGP_OFF_TXID] ^= 1;
		assert_int_not_equal(tclient_open(&b, &m, e->q.msgs[i].buf,
						  e->q.msgs[i].len), 0);
	}
	env_free(e);
}

/* The server restarts with the same key and no state. */
static void env_restart(struct env *e)
{
	struct server_config cfg = e->srv.cfg;
	uint8_t priv[WGP_KEY_LEN];

	memcpy(priv, e->srv.priv, sizeof(priv));
	server_free(&e->srv);
	assert_int_equal(server_init(&e->srv, &cfg, priv, e->now), 0);
	sodium_memzero(priv, sizeof(priv));
}

static void test_replay_after_restart(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), evil = v4(66, 6666);
	uint8_t old[WGP_MAX_MSG_LEN], buf[WGP_MAX_MSG_LEN];
	struct reg_entry *ent;
	size_t old_len, len;
	struct tclient a;
	struct wgp_msg m;

	(void)state;
	tclient_init(&a, e->srv.pub);
	old_len = tclient_register(&a, old, sizeof(old), NULL, 0, 0);
	feed(e, old, old_len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_REGISTER_REPLY, &m);
	env_restart(e);

	/* Captured before the restart, replayed after it, well inside the
	 * clock window: refused, nothing created. */
	feed(e, old, old_len, evil, PORT_MAIN);
	expect(e, &a, evil, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_COUNTER);
	assert_int_equal(m.u.error.last_counter, e->srv.start_ns);
	assert_null(registry_find(&e->srv.reg, a.pub, e->now));

	/* A genuine client that went by the error: continues above it. */
	a.force = m.u.error.last_counter + 1;
	len = tclient_register(&a, buf, sizeof(buf), NULL, 0, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_REGISTER_REPLY, &m);
	ent = registry_find(&e->srv.reg, a.pub, e->now);
	assert_non_null(ent);
	assert_true(wgp_endpoint_equal(&ent->ep, &ea));
	/* While the entry lives, the capture is a plain replay. */
	feed(e, old, old_len, evil, PORT_MAIN);
	expect(e, &a, evil, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_COUNTER);
	assert_true(wgp_endpoint_equal(&ent->ep, &ea));
	env_free(e);
}

/* A TTL shorter than the counter window would let a capture outlive the
 * registration it belonged to: refused at start. */
static void test_ttl_not_below_window(void **state)
{
	struct server_config cfg;
	struct server srv;
	uint8_t priv[32];

	(void)state;
	wgp_key_generate(priv);
	server_config_defaults(&cfg);
	cfg.capacity = 16;
	cfg.ttl = (uint32_t)(WGP_COUNTER_WINDOW_NS / 1000000000ULL) - 1;
	assert_int_equal(server_init(&srv, &cfg, priv, 0), -EINVAL);
	cfg.ttl++;
	assert_int_equal(server_init(&srv, &cfg, priv, 0), 0);
	server_free(&srv);
}

/* A replay right after an expiry: the capture is a TTL old, out of the
 * window (the server's clock given explicitly). */
static void test_replay_after_expiry(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), evil = v4(66, 6666);
	uint8_t old[WGP_MAX_MSG_LEN];
	uint64_t t0 = wgp_now_ns();
	struct tclient a;
	struct wgp_msg m;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	a.force = t0;
	len = tclient_register(&a, old, sizeof(old), NULL, 0, 0);
	feed_at(e, old, len, ea, t0);
	expect(e, &a, ea, WGP_REGISTER_REPLY, &m);
	/* The first instant the entry is gone. */
	e->now += (uint64_t)e->srv.cfg.ttl * 1000 + 1;
	feed_at(e, old, len, evil,
		t0 + (uint64_t)e->srv.cfg.ttl * 1000000000ULL + 1000000);
	expect(e, &a, evil, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_CLOCK);
	assert_null(registry_find(&e->srv.reg, a.pub, e->now));
	env_free(e);
}

/*
 * The same from a client whose clock runs ahead by almost the window:
 * its entry lives that much longer than a TTL, so by the time it is gone
 * the capture is out of the window too.
 */
static void test_replay_after_expiry_clock_ahead(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), evil = v4(66, 6666);
	const uint64_t ahead = WGP_COUNTER_WINDOW_NS - 1000000000ULL;
	const uint64_t ttl_ns = (uint64_t)e->srv.cfg.ttl * 1000000000ULL;
	uint8_t old[WGP_MAX_MSG_LEN];
	uint64_t t0 = wgp_now_ns(), now0 = e->now;
	struct tclient a;
	struct wgp_msg m;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	a.force = t0 + ahead;
	len = tclient_register(&a, old, sizeof(old), NULL, 0, 0);
	feed_at(e, old, len, ea, t0);
	expect(e, &a, ea, WGP_REGISTER_REPLY, &m);
	/* A TTL later it still lives: the capture would still be in the
	 * window (its counter is ahead), so it must not be gone yet. */
	e->now = now0 + (uint64_t)e->srv.cfg.ttl * 1000 + 1;
	assert_non_null(registry_find(&e->srv.reg, a.pub, e->now));
	/* The first instant it is gone, the capture is out of the window. */
	e->now = now0 + (ttl_ns + ahead) / 1000000 + 2;
	assert_null(registry_find(&e->srv.reg, a.pub, e->now));
	feed_at(e, old, len, evil, t0 + (e->now - now0) * 1000000);
	expect(e, &a, evil, WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_CLOCK);
	assert_null(registry_find(&e->srv.reg, a.pub, e->now));
	env_free(e);
}

/* One REGISTER naming the same peer 64 times: one NOTIFY, one record,
 * one stored entry. */
static void test_duplicate_consent(void **state)
{
	struct env *e = env_new(64, 0);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2);
	uint8_t dup[WGP_MAX_CONSENT][32];
	struct reg_entry *ent;
	struct tclient a, b;
	struct wgp_msg m;
	unsigned int i;

	(void)state;
	tclient_init(&a, e->srv.pub);
	tclient_init(&b, e->srv.pub);
	do_register(e, &a, ea, (const uint8_t (*)[32])b.pub, 1, 0, &m);
	for (i = 0; i < WGP_MAX_CONSENT; i++)
		memcpy(dup[i], a.pub, 32);
	do_register(e, &b, eb, (const uint8_t (*)[32])dup, WGP_MAX_CONSENT,
		    0, &m);
	assert_int_equal(e->q.n, 2);	/* the reply and one NOTIFY */
	assert_int_equal(m.u.reg_reply.n_peers, 1);
	assert_int_equal(m.u.reg_reply.peers[0].index, 0);
	assert_int_equal(m.u.reg_reply.available, 1);
	assert_int_equal(m.u.reg_reply.flags & WGP_RF_MORE, 0);
	expect(e, &a, ea, WGP_NOTIFY, &m);
	ent = registry_find(&e->srv.reg, b.pub, e->now);
	assert_int_equal(ent->n_consent, 1);
	assert_int_equal(e->srv.reg.chunks_used, 0);
	/* Moving: again one NOTIFY, not 64. */
	do_register(e, &b, v4(3, 3), (const uint8_t (*)[32])dup,
		    WGP_MAX_CONSENT, 0, &m);
	assert_int_equal(e->q.n, 2);
	env_free(e);
}

static void test_consent_pool_fair(void **state)
{
	enum { CAP = 64 };
	struct env *e = env_new(CAP, 0);
	struct wgp_endpoint ev = v4(1, 1), ep = v4(2, 2);
	static const unsigned int sizes[] = { 64, 9, 1 };
	uint8_t peers[WGP_MAX_CONSENT][32], buf[WGP_MAX_MSG_LEN];
	unsigned int s = 0, keys = 0;
	struct tclient v, p, x;
	struct reg_entry *ent;
	uint64_t expires;
	struct wgp_msg m;
	size_t len;

	(void)state;
	/* V and P name each other, before any attack. */
	tclient_init(&v, e->srv.pub);
	tclient_init(&p, e->srv.pub);
	do_register(e, &v, ev, (const uint8_t (*)[32])p.pub, 1, 0, &m);
	do_register(e, &p, ep, (const uint8_t (*)[32])v.pub, 1, 0, &m);

	/* Attackers, fewer than the capacity leaves, each with the longest
	 * list that still fits, until nothing fits or keys run out. */
	while (keys < CAP - 3 && s < 3) {
		tclient_init(&x, e->srv.pub);
		randombytes_buf(peers, sizeof(peers));
		len = tclient_register(&x, buf, sizeof(buf),
				       (const uint8_t (*)[32])peers, sizes[s], 0);
		feed(e, buf, len, v4((uint8_t)(10 + keys), 1), PORT_MAIN);
		assert_int_equal(e->q.n, 1);
		assert_int_equal(tclient_open(&x, &m, e->q.msgs[0].buf,
					      e->q.msgs[0].len), 0);
		if (m.type == WGP_ERROR) {
			assert_int_equal(m.u.error.code, WGP_ERR_FULL);
			s++;
			continue;
		}
		keys++;
	}
	assert_int_equal(e->srv.reg.chunks_used, e->srv.reg.n_chunks);

	/* A newcomer with a short list still gets in. */
	tclient_init(&x, e->srv.pub);
	do_register(e, &x, v4(200, 1), (const uint8_t (*)[32])p.pub, 1, 0, &m);

	/* V's list grows past what it holds itself: told FULL, and its
	 * registration stays as it was, and alive. */
	ent = registry_find(&e->srv.reg, v.pub, e->now);
	assert_non_null(ent);
	expires = ent->expires;
	e->now += 1000;
	randombytes_buf(peers, sizeof(peers));
	memcpy(peers[0], p.pub, 32);
	len = tclient_register(&v, buf, sizeof(buf),
			       (const uint8_t (*)[32])peers, 20, 0);
	feed(e, buf, len, v4(7, 7), PORT_MAIN);
	expect(e, &v, v4(7, 7), WGP_ERROR, &m);
	assert_int_equal(m.u.error.code, WGP_ERR_FULL);
	assert_int_equal(ent->n_consent, 1);
	assert_true(wgp_endpoint_equal(&ent->ep, &ev));
	assert_true(ent->expires > expires);
	e->now = expires;		/* the old lifetime is over */
	assert_non_null(registry_find(&e->srv.reg, v.pub, e->now));
	/* ... with its old list: P (refreshed, its lifetime was over too)
	 * and V still find each other. */
	do_register(e, &p, ep, (const uint8_t (*)[32])v.pub, 1, 0, &m);
	len = tclient_lookup(&v, buf, sizeof(buf), p.pub, 0);
	feed(e, buf, len, ev, PORT_MAIN);
	expect(e, &v, ev, WGP_LOOKUP_REPLY, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	env_free(e);
}

/* ---- fair limits (issue 9, finding 2) ------------------------------ */

/* A registered, mutually consenting pair a (at ea) and b (at eb). */
static void pair(struct env *e, struct tclient *a, struct tclient *b,
		 struct wgp_endpoint ea, struct wgp_endpoint eb)
{
	struct wgp_msg m;

	tclient_init(a, e->srv.pub);
	tclient_init(b, e->srv.pub);
	do_register(e, a, ea, (const uint8_t (*)[32])b->pub, 1, 0, &m);
	do_register(e, b, eb, (const uint8_t (*)[32])a->pub, 1, 0, &m);
}

/* c LOOKUPs target from src: true if it got LOOKUP_REPLY OK. */
static bool lookup_ok(struct env *e, struct tclient *c,
		      struct wgp_endpoint src, const uint8_t target[32])
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	size_t len = tclient_lookup(c, buf, sizeof(buf), target, 0);
	struct wgp_msg m;
	unsigned int i;

	feed(e, buf, len, src, PORT_MAIN);
	for (i = 0; i < e->q.n; i++) {
		if (!wgp_endpoint_equal(&e->q.msgs[i].dst, &src) ||
		    tclient_open(c, &m, e->q.msgs[i].buf, e->q.msgs[i].len))
			continue;
		return m.type == WGP_LOOKUP_REPLY &&
		       m.u.lookup_reply.status == WGP_LOOKUP_OK;
	}
	return false;
}

/*
 * Spoofed datagrams as an attacker without any key of the victim can
 * make them: sealed by fresh (unknown) keys, valid headers with random
 * keys and garbage behind, and plain garbage. Built once; unknown keys
 * stay unknown, as none of these is a REGISTER.
 */
#define FLOOD_KINDS 64
struct flood {
	uint8_t pkt[FLOOD_KINDS][WGP_MAX_MSG_LEN];
	size_t len[FLOOD_KINDS];
};

static void flood_build(struct flood *f, const uint8_t server_pub[32])
{
	struct tclient x;
	unsigned int i;

	for (i = 0; i < FLOOD_KINDS; i++) {
		tclient_init(&x, server_pub);
		switch (i % 4) {
		case 0:		/* sealed PROBE, unknown key */
			f->len[i] = tclient_probe(&x, f->pkt[i], WGP_MAX_MSG_LEN);
			break;
		case 1:		/* sealed LOOKUP, unknown key */
			f->len[i] = tclient_lookup(&x, f->pkt[i],
						   WGP_MAX_MSG_LEN, x.pub, 0);
			break;
		case 2:		/* valid header, random key and body */
			f->len[i] = tclient_lookup(&x, f->pkt[i],
						   WGP_MAX_MSG_LEN, x.pub, 0);
			randombytes_buf(f->pkt[i] + WGP_HDR_LEN,
					f->len[i] - WGP_HDR_LEN);
			break;
		default:	/* garbage */
			f->len[i] = 124;
			randombytes_buf(f->pkt[i], f->len[i]);
			break;
		}
	}
}

/*
 * The victim test. A flood of datagrams spoofed from a registered
 * client's own address, at 20 times the per-source rate, must not cost
 * it a single answer: its LOOKUPs are authenticated by its cached
 * session and paid for by its key, not by its (spoofable) address.
 */
static void test_victim_spoofed_flood(void **state)
{
	struct env *e = env_new(64, SERVER_DEFAULT_RATE);
	struct wgp_endpoint victim = v4(1, 51820), eb = v4(2, 51820);
	static struct flood f;
	unsigned int round, i, answered = 0, n = 0;
	struct tclient a, b;

	(void)state;
	pair(e, &a, &b, victim, eb);
	flood_build(&f, e->srv.pub);
	/* 100 ms rounds: 100 spoofed datagrams (1,000/s), then one LOOKUP
	 * from the victim. 5 s of simulated time. */
	for (round = 0; round < 50; round++) {
		for (i = 0; i < 100; i++, n++)
			feed(e, f.pkt[n % FLOOD_KINDS], f.len[n % FLOOD_KINDS],
			     victim, PORT_MAIN);
		answered += lookup_ok(e, &a, victim, b.pub);
		e->now += 100;
	}
	assert_true(e->srv.st.ratelimited > 0);	/* the flood was limited */
	assert_int_equal(answered, 50);
	env_free(e);
}

/* NOTIFYs have their own budget per destination: a spoofed request
 * flood from B's address does not stop B's NOTIFY, and NOTIFYs to B do
 * not use up B's requests. */
static void test_notify_budget_separate(void **state)
{
	struct env *e = env_new(64, 3);
	struct wgp_endpoint ea = v4(1, 1), eb = v4(2, 2);
	static struct flood f;
	struct tclient a, b;
	struct wgp_msg m;
	unsigned int i, notifies = 0;

	(void)state;
	pair(e, &a, &b, ea, eb);
	flood_build(&f, e->srv.pub);
	for (i = 0; i < 3 * SERVER_DEFAULT_BURST; i++)
		feed(e, f.pkt[i % FLOOD_KINDS], f.len[i % FLOOD_KINDS], eb,
		     PORT_MAIN);
	assert_true(e->srv.st.ratelimited > 0);	/* eb's bucket is empty */
	assert_true(lookup_ok(e, &a, ea, b.pub));
	expect(e, &b, eb, WGP_NOTIFY, &m);
	assert_memory_equal(m.u.notify.peer, a.pub, 32);

	/* A full burst of NOTIFYs to B (A's LOOKUPs, same millisecond)... */
	for (i = 1; i < SERVER_DEFAULT_BURST; i++) {
		assert_true(lookup_ok(e, &a, ea, b.pub));
		notifies += e->q.n - 1;
	}
	assert_int_equal(notifies, SERVER_DEFAULT_BURST - 1);
	/* ... and B's own requests are still served. */
	for (i = 0; i < 10; i++)
		assert_true(lookup_ok(e, &b, eb, a.pub));
	env_free(e);
}

/* The key pays for its fresh requests, wherever they come from: a
 * registered client is limited to the burst (then the rate) even when
 * it sends from ever new addresses. */
static void test_key_budget(void **state)
{
	struct env *e = env_new(64, 3);
	unsigned int i, answered = 0;
	struct tclient a, b;

	(void)state;
	pair(e, &a, &b, v4(1, 1), v4(2, 2));
	for (i = 0; i < 2 * SERVER_DEFAULT_BURST; i++)
		answered += lookup_ok(e, &a, v4((uint8_t)(i % 200 + 10), 7),
				      b.pub);
	/* The first REGISTER was paid for by its source (an unknown key):
	 * the key starts with a full burst. */
	assert_int_equal(answered, SERVER_DEFAULT_BURST);
	assert_int_equal(e->srv.st.key_limited, SERVER_DEFAULT_BURST);
	e->now += 1000;		/* 3 tokens back */
	for (i = 0; i < 5; i++)
		answered += lookup_ok(e, &a, v4(1, 1), b.pub);
	assert_int_equal(answered, SERVER_DEFAULT_BURST + 3);
	env_free(e);
}

/* A captured request replayed (a stale counter, maybe from the right
 * address) is paid for by the source, never by the key: replays cannot
 * starve the key's holder. */
static void test_replay_not_charged_to_key(void **state)
{
	struct env *e = env_new(64, 3);
	struct wgp_endpoint ea = v4(1, 1), evil = v4(66, 6);
	uint8_t old[WGP_MAX_MSG_LEN];
	unsigned int i, errors = 0;
	struct tclient a, b;
	size_t len;

	(void)state;
	pair(e, &a, &b, ea, v4(2, 2));
	len = tclient_lookup(&a, old, sizeof(old), b.pub, 0);
	feed(e, old, len, ea, PORT_MAIN);
	for (i = 0; i < 3 * SERVER_DEFAULT_BURST; i++) {
		feed(e, old, len, i % 2 ? evil : ea, PORT_MAIN);
		errors += e->q.n;
	}
	/* Each source answered with ERROR COUNTER up to its burst (ea's
	 * less the token A's first REGISTER took). */
	assert_int_equal(errors, 2 * SERVER_DEFAULT_BURST - 1);
	for (i = 0; i < 20; i++)
		assert_true(lookup_ok(e, &a, ea, b.pub));
	env_free(e);
}

/*
 * Forgeries naming a registered key cost one failed AEAD open each; a
 * source failing more than RL_FAIL_LIMIT of them is then gated by its
 * bucket before each open. Other sources are not affected.
 */
static void test_forged_known_key_gated(void **state)
{
	struct env *e = env_new(64, 3);
	struct wgp_endpoint evil = v4(66, 6), ea = v4(1, 1);
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct tclient a, b, forger;
	unsigned int i;
	size_t len;

	(void)state;
	pair(e, &a, &b, ea, v4(2, 2));
	tclient_init(&forger, e->srv.pub);
	memcpy(forger.pub, b.pub, 32);
	len = tclient_lookup(&forger, buf, sizeof(buf), a.pub, 0);
	for (i = 0; i < 300; i++)
		feed(e, buf, len, evil, PORT_MAIN);
	/* RL_FAIL_LIMIT + 1 make the source suspect, then a burst. */
	assert_int_equal(e->srv.st.forged,
			 RL_FAIL_LIMIT + 1 + SERVER_DEFAULT_BURST);
	assert_int_equal(e->srv.st.ratelimited,
			 300 - e->srv.st.forged);
	assert_true(lookup_ok(e, &a, ea, b.pub));
	assert_true(lookup_ok(e, &b, v4(2, 2), a.pub));
	env_free(e);
}

/* ---- address-proving cookies ------------------------------------- */

/* Put the server under load: its X25519 budget just below half full
 * (as a flood of unknown keys leaves it), with tokens left to spend. */
static void load(struct env *e)
{
	e->srv.dh.tokens = (uint64_t)e->srv.dh.burst * 500 - 1000;
	e->srv.dh.last = e->now;
}

/* c sends a REGISTER (naming no one) from src: the one datagram queued
 * to src, left in e->q. Its request length in *req_len. */
static void send_register(struct env *e, struct tclient *c,
			  struct wgp_endpoint src, size_t *req_len)
{
	uint8_t buf[WGP_MAX_REQUEST_COOKIE_LEN];
	size_t len = tclient_register(c, buf, sizeof(buf), NULL, 0, 0);

	feed(e, buf, len, src, PORT_MAIN);
	if (req_len)
		*req_len = len;
}

/* The one queued datagram to src is a COOKIE for c's last request: c
 * keeps its cookie. */
static void expect_cookie(struct env *e, struct tclient *c,
			  struct wgp_endpoint src, size_t req_len)
{
	unsigned int i;

	assert_int_equal(e->q.n, 1);
	i = 0;
	assert_true(wgp_endpoint_equal(&e->q.msgs[i].dst, &src));
	assert_int_equal(e->q.msgs[i].len, WGP_COOKIE_MSG_LEN);
	assert_true(e->q.msgs[i].len < req_len);
	assert_int_equal(tclient_take_cookie(c, e->q.msgs[i].buf,
					     e->q.msgs[i].len), 0);
}

/* The one queued datagram to src is c's REGISTER_REPLY: c is in. */
static void expect_registered(struct env *e, struct tclient *c,
			      struct wgp_endpoint src)
{
	struct wgp_msg m;

	expect(e, c, src, WGP_REGISTER_REPLY, &m);
	assert_memory_equal(m.txid, c->txid, WGP_TXID_LEN);
	assert_non_null(registry_find(&e->srv.reg, c->pub, e->now));
}

/*
 * Under load, an unknown key's REGISTER costs no X25519 and gets a
 * COOKIE; sent again with it from the same address and port it is
 * registered; the cookie is worth nothing from another port or address.
 */
static void test_cookie_under_load(void **state)
{
	struct env *e = env_new(64, SERVER_DEFAULT_RATE);
	struct wgp_endpoint ea = v4(1, 51820);
	struct wgp_endpoint other_port = v4(1, 51821), other_addr = v4(9, 51820);
	struct tclient a;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	a.version = 2;
	load(e);
	send_register(e, &a, ea, &len);
	expect_cookie(e, &a, ea, len);
	assert_int_equal(e->srv.st.dh, 0);	/* no X25519 for it */
	assert_int_equal(e->srv.st.cookies, 1);
	assert_null(registry_find(&e->srv.reg, a.pub, e->now));

	/* The cookie proves ea only. */
	send_register(e, &a, other_port, &len);
	expect_cookie(e, &a, other_port, len);
	a.have_cookie = false;
	send_register(e, &a, ea, &len);
	expect_cookie(e, &a, ea, len);
	send_register(e, &a, other_addr, NULL);
	assert_int_equal(e->q.n, 1);
	assert_int_equal(e->q.msgs[0].len, WGP_COOKIE_MSG_LEN);
	assert_int_equal(e->srv.st.dh, 0);

	/* From ea, with ea's cookie: registered, one X25519. */
	send_register(e, &a, ea, NULL);
	expect_registered(e, &a, ea);
	assert_int_equal(e->srv.st.dh, 1);
	assert_int_equal(e->srv.st.cookie_ok, 1);

	/* Registered: its cached session needs no proof, wherever from. */
	a.have_cookie = false;
	load(e);
	send_register(e, &a, other_addr, NULL);
	expect_registered(e, &a, other_addr);
	env_free(e);
}

/* A cookie is good under the current and the previous secret, so for
 * one rotation; after a second rotation it is refused. */
static void test_cookie_rotation(void **state)
{
	struct env *e = env_new(64, SERVER_DEFAULT_RATE);
	struct wgp_endpoint src = v4(1, 51820);
	struct tclient a, b;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	tclient_init(&b, e->srv.pub);
	a.version = b.version = 2;
	load(e);
	send_register(e, &a, src, &len);
	expect_cookie(e, &a, src, len);
	/* The cookie belongs to the address, not the key: b may use it. */
	memcpy(b.cookie, a.cookie, WGP_COOKIE_LEN);
	b.have_cookie = true;

	e->now += COOKIE_ROTATE_MS;		/* one rotation */
	load(e);
	send_register(e, &a, src, NULL);
	expect_registered(e, &a, src);

	e->now += COOKIE_ROTATE_MS;		/* two rotations */
	load(e);
	send_register(e, &b, src, &len);
	assert_int_equal(e->q.n, 1);
	assert_int_equal(e->q.msgs[0].len, WGP_COOKIE_MSG_LEN);
	assert_null(registry_find(&e->srv.reg, b.pub, e->now));
	/* ... and the fresh one it got instead works. */
	expect_cookie(e, &b, src, len);
	send_register(e, &b, src, NULL);
	expect_registered(e, &b, src);
	env_free(e);
}

/* Not under load nothing changes: no cookie, for version 1 or 2, and a
 * request that carries one anyway is served too. */
static void test_cookie_not_loaded(void **state)
{
	struct env *e = env_new(64, SERVER_DEFAULT_RATE);
	struct tclient v1, v2;

	(void)state;
	tclient_init(&v1, e->srv.pub);
	tclient_init(&v2, e->srv.pub);
	v2.version = 2;
	memset(v2.cookie, 0xa5, WGP_COOKIE_LEN);	/* a stale one */
	v2.have_cookie = true;
	send_register(e, &v1, v4(1, 1), NULL);
	expect_registered(e, &v1, v4(1, 1));
	send_register(e, &v2, v4(2, 2), NULL);
	expect_registered(e, &v2, v4(2, 2));
	assert_int_equal(e->srv.st.cookies, 0);
	assert_int_equal(e->srv.st.dh, 2);
	env_free(e);
}

/* Under load a version 1 request gets a COOKIE too (a version 1 client
 * ignores it and is not served until the load passes); one that
 * attaches the cookie is served in version 1. */
static void test_cookie_v1(void **state)
{
	struct env *e = env_new(64, SERVER_DEFAULT_RATE);
	struct wgp_endpoint src = v4(1, 51820);
	struct tclient a;
	struct wgp_msg m;
	size_t len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	load(e);
	send_register(e, &a, src, &len);
	expect_cookie(e, &a, src, len);
	send_register(e, &a, src, NULL);
	expect(e, &a, src, WGP_REGISTER_REPLY, &m);
	assert_int_equal(m.version, 1);
	env_free(e);
}

/* A spoofed flood of unknown keys from random sources under load: no
 * X25519 at all, COOKIEs only within each source's bucket, and a
 * newcomer proving its address is registered in the middle of it. */
static void test_cookie_flood(void **state)
{
	struct env *e = env_new(64, SERVER_DEFAULT_RATE);
	struct wgp_endpoint newc = v4(200, 51820);
	struct tclient f, n;
	unsigned int i;
	size_t len;

	(void)state;
	tclient_init(&f, e->srv.pub);
	tclient_init(&n, e->srv.pub);
	f.version = n.version = 2;
	load(e);
	for (i = 0; i < 2000; i++) {
		struct wgp_endpoint src = v4((uint8_t)(i % 10), (uint16_t)i);

		send_register(e, &f, src, NULL);
		if (i == 1000) {
			send_register(e, &n, newc, &len);
			expect_cookie(e, &n, newc, len);
			send_register(e, &n, newc, NULL);
			expect_registered(e, &n, newc);
		}
	}
	assert_int_equal(e->srv.st.dh, 1);	/* the newcomer's only */
	/* 10 addresses, a burst of SERVER_DEFAULT_BURST each. */
	assert_true(e->srv.st.cookies <= 10 * SERVER_DEFAULT_BURST + 1);
	assert_true(e->srv.st.ratelimited > 0);
	env_free(e);
}

/* A REGISTER from c, made a new key first, from src. */
static void fresh_register(struct env *e, struct tclient *c,
			   struct wgp_endpoint src)
{
	tclient_init(c, e->srv.pub);
	c->version = 2;
	send_register(e, c, src, NULL);
}

/*
 * Load is judged by demand, and it holds: a stream of unknown keys
 * faster than half the X25519 budget puts the server under load even
 * while the budget itself is full, keeps it there as long as the stream
 * lasts (so the refilled budget is never spent on the stream), and the
 * load passes LOAD_HOLD_MS after the stream stops.
 */
static void test_load_by_demand(void **state)
{
	struct env *e = env_new(64, SERVER_DEFAULT_RATE);
	uint64_t dh_before, end;
	struct tclient f, n;
	unsigned int i;
	size_t len;

	(void)state;
	tclient_init(&n, e->srv.pub);
	n.version = 2;
	/* A budget of 2000 X25519/s: demand over 1000/s is load. */
	token_bucket_init(&e->srv.dh, 2000, 2000, e->now);
	token_bucket_init(&e->srv.demand, 1000, DEMAND_MIN_BURST, e->now);
	/* Far more than the demand bucket's burst in one instant, each
	 * from its own address: some X25519s at first, then none. */
	for (i = 0; i < 5000; i++)
		fresh_register(e, &f, v4((uint8_t)(i % 250), (uint16_t)(i + 1)));
	assert_true(e->srv.st.dh > 0);
	assert_true(e->srv.st.dh <= DEMAND_MIN_BURST);
	assert_true(e->srv.st.cookies > 0);
	/* The stream goes on for 5 s at 2000/s, while the budget refills
	 * far above half: not one X25519 more. */
	dh_before = e->srv.st.dh;
	end = e->now + 5000;
	for (i = 0; e->now < end; i++) {
		e->now += i % 2;
		fresh_register(e, &f, v4((uint8_t)(i % 250), (uint16_t)(i + 1)));
	}
	assert_false(token_bucket_low(&e->srv.dh, e->now));
	assert_int_equal(e->srv.st.dh, dh_before);
	/* Still within the hold: a newcomer must prove its address. */
	e->now += LOAD_HOLD_MS / 2;
	send_register(e, &n, v4(251, 51820), &len);
	expect_cookie(e, &n, v4(251, 51820), len);
	/* After the hold, a plain request is served at once. */
	e->now += LOAD_HOLD_MS;
	n.have_cookie = false;
	send_register(e, &n, v4(252, 51820), NULL);
	expect_registered(e, &n, v4(252, 51820));
	env_free(e);
}

/*
 * While the receive queue backs up, unpaid work (a COOKIE, the answer
 * to a replay) is done only for a source seen lately: the first request
 * from a new source is dropped, its resend gets the COOKIE. A
 * registered key is served all along, and the sources are remembered
 * for one to two SEEN_PERIOD_MS.
 */
static void test_cookie_shed_when_behind(void **state)
{
	struct env *e = env_new(64, SERVER_DEFAULT_RATE);
	struct wgp_endpoint src = v4(1, 51820), ea = v4(2, 51820);
	uint8_t buf[WGP_MAX_MSG_LEN], old[WGP_MAX_MSG_LEN];
	struct tclient a, n;
	struct wgp_msg m;
	size_t len, old_len;

	(void)state;
	tclient_init(&a, e->srv.pub);
	tclient_init(&n, e->srv.pub);
	a.version = n.version = 2;
	old_len = tclient_register(&a, old, sizeof(old), NULL, 0, 0);
	feed(e, old, old_len, ea, PORT_MAIN);
	expect_registered(e, &a, ea);

	e->srv.behind = true;
	e->srv.unpaid_left = 2;
	/* a's REGISTER replayed from elsewhere: its stale counter earns
	 * no answer from a new source. */
	feed(e, old, old_len, v4(7, 7), PORT_MAIN);
	assert_int_equal(e->q.n, 0);
	assert_int_equal(e->srv.st.shed, 1);
	send_register(e, &n, src, &len);
	assert_int_equal(e->q.n, 0);
	assert_int_equal(e->srv.st.shed, 2);
	send_register(e, &n, src, &len);	/* the resend */
	expect_cookie(e, &n, src, len);
	assert_int_equal(e->srv.unpaid_left, 1);
	send_register(e, &n, src, NULL);	/* with the cookie */
	expect_registered(e, &n, src);

	/* The registered key: served without any of it. */
	len = tclient_lookup(&a, buf, sizeof(buf), a.pub, 0);
	feed(e, buf, len, ea, PORT_MAIN);
	expect(e, &a, ea, WGP_LOOKUP_REPLY, &m);

	/* The replay again, from the source now seen: answered while the
	 * batch's unpaid work lasts (one more), then not. */
	feed(e, old, old_len, v4(7, 7), PORT_MAIN);
	assert_int_equal(e->q.n, 1);
	assert_int_equal(e->srv.unpaid_left, 0);
	feed(e, old, old_len, v4(7, 7), PORT_MAIN);
	assert_int_equal(e->q.n, 0);
	assert_int_equal(e->srv.st.shed, 3);

	/* Remembered in the previous generation too, not beyond. */
	assert_false(seen_again(&e->srv.seen, &ea, e->now));
	e->now += SEEN_PERIOD_MS;
	assert_true(seen_again(&e->srv.seen, &ea, e->now));
	e->now += 2 * SEEN_PERIOD_MS;
	assert_false(seen_again(&e->srv.seen, &ea, e->now));
	/* Not behind, and the hold passed: served at once. */
	e->srv.behind = false;
	tclient_init(&n, e->srv.pub);
	n.version = 2;
	send_register(e, &n, v4(3, 51820), NULL);
	expect_registered(e, &n, v4(3, 51820));
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_and_notify),
		cmocka_unit_test(test_lookup_consent),
		cmocka_unit_test(test_replay_and_window),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_no_amplification),
		cmocka_unit_test(test_notify_reflection),
		cmocka_unit_test(test_full_and_ratelimit),
		cmocka_unit_test(test_legacy_separate),
		cmocka_unit_test(test_v2_cands_consent),
		cmocka_unit_test(test_v2_unusable_cands_zeroed),
		cmocka_unit_test(test_v1_and_v2_peers),
		cmocka_unit_test(test_v2_notify_on_cands_change),
		cmocka_unit_test(test_v2_lookup_refreshes_cands),
		cmocka_unit_test(test_v2_no_amplification),
		cmocka_unit_test(test_relay_grant_pair),
		cmocka_unit_test(test_relay_consent),
		cmocka_unit_test(test_relay_none_full_v1),
		cmocka_unit_test(test_relay_grant_budget),
		cmocka_unit_test(test_notify_stamps),
		cmocka_unit_test(test_replay_after_restart),
		cmocka_unit_test(test_replay_after_expiry_clock_ahead),
		cmocka_unit_test(test_ttl_not_below_window),
		cmocka_unit_test(test_replay_after_expiry),
		cmocka_unit_test(test_duplicate_consent),
		cmocka_unit_test(test_consent_pool_fair),
		cmocka_unit_test(test_victim_spoofed_flood),
		cmocka_unit_test(test_notify_budget_separate),
		cmocka_unit_test(test_key_budget),
		cmocka_unit_test(test_replay_not_charged_to_key),
		cmocka_unit_test(test_forged_known_key_gated),
		cmocka_unit_test(test_cookie_under_load),
		cmocka_unit_test(test_cookie_rotation),
		cmocka_unit_test(test_cookie_not_loaded),
		cmocka_unit_test(test_cookie_v1),
		cmocka_unit_test(test_cookie_flood),
		cmocka_unit_test(test_load_by_demand),
		cmocka_unit_test(test_cookie_shed_when_behind),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
