// SPDX-License-Identifier: MIT
/*
 * Two servers sharing their registrations through a real redis-server
 * (--registry, store.h), driven in one process through server_handle()
 * as the event loop drives it, with real sealed datagrams: a peer
 * registered with one is found at the other, consent still holds
 * across them, the NOTIFY comes back to the server the target
 * registered with, Redis expires what the registry expires, a request
 * replayed at the other server is refused, and the servers live
 * through Redis going away and coming back.
 *
 * Skips (77) when redis-server is not installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "redis_proc.h"
#include "server.h"
#include "store.h"
#include "testclient.h"

#define WAIT_MS		5000	/* for what goes through Redis */
#define TTL_S		120

static struct redis_proc rs;

struct node {
	struct server srv;
	struct store st;
	struct outq q;
	struct out_msg msgs[16];
	struct wgp_endpoint addr;	/* its own address, for logs */
};

/* ---- redis-server -------------------------------------------------- */

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void redis_start(void)
{
	assert_int_equal(redis_proc_start(&rs), 0);
}

static redisReply *redis(const char *fmt, const char *arg)
{
	redisContext *rc = redisConnectUnix(rs.sock);
	redisReply *r;

	assert_non_null(rc);
	assert_int_equal(rc->err, 0);
	r = redisCommand(rc, fmt, arg);
	redisFree(rc);
	assert_non_null(r);
	return r;
}

static void reg_key(const uint8_t *pub, char out[static 128])
{
	char hex[2 * WGP_KEY_LEN + 1];

	sodium_bin2hex(hex, sizeof(hex), pub, WGP_KEY_LEN);
	snprintf(out, 128, "wgpunch:0:reg:%s", hex);
}

/* PTTL of pub's registration in Redis: -2 when there is none. */
static long long redis_pttl(const uint8_t *pub)
{
	char key[128];
	redisReply *r;
	long long v;

	reg_key(pub, key);
	r = redis("PTTL %s", key);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

/* Whether pub's registration in Redis has its consent field. */
static bool redis_has_consent(const uint8_t *pub)
{
	char key[128];
	redisReply *r;
	bool v;

	reg_key(pub, key);
	r = redis("HEXISTS %s consent", key);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer == 1;
	freeReplyObject(r);
	return v;
}

/* ---- servers -------------------------------------------------------- */

static void node_init(struct node *n, const uint8_t priv[WGP_KEY_LEN],
		      uint8_t last_octet)
{
	struct server_config cfg;
	struct store_url url;
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why;
	char text[160];

	server_config_defaults(&cfg);
	cfg.capacity = 1024;
	cfg.dh_rate = 0;
	cfg.rate = 0;
	cfg.ttl = TTL_S;
	assert_int_equal(server_init(&n->srv, &cfg, priv, wgp_mono_ms()), 0);
	snprintf(text, sizeof(text), "unix://%s", rs.sock);
	assert_int_equal(store_url_parse(&url, text, &why), 0);
	assert_int_equal(store_url_resolve(&url, &ss, &len), 0);
	assert_int_equal(store_init(&n->st, &url, (struct sockaddr *)&ss, len,
				    "test", 1, 1024, &n->srv.reg), 0);
	n->srv.store = &n->st;
	n->srv.store_w = 0;
	assert_int_equal(store_start(&n->st), 0);
	n->q = (struct outq){ .msgs = n->msgs, .cap = 16 };
	n->addr = (struct wgp_endpoint){ .family = AF_INET, .port = 49918,
					 .addr = { 198, 18, 0, last_octet } };
}

static void node_free(struct node *n)
{
	store_free(&n->st);
	n->srv.store = NULL;
	server_free(&n->srv);
}

/* A server at 198.18.0.octet with key priv, or a new key (NULL). */
static struct node *node_new(const uint8_t *priv, uint8_t octet)
{
	struct node *n = calloc(1, sizeof(*n));
	uint8_t k[WGP_KEY_LEN];

	assert_non_null(n);
	if (!priv) {
		randombytes_buf(k, sizeof(k));
		priv = k;
	}
	node_init(n, priv, octet);
	return n;
}

/* Servers A and B on the one Redis, with one private key or each its
 * own. */
static void two_servers(struct node **a, struct node **b, bool shared_key)
{
	uint8_t k[WGP_KEY_LEN];

	randombytes_buf(k, sizeof(k));
	*a = node_new(k, 1);
	*b = node_new(shared_key ? k : NULL, 2);
}

static void node_del(struct node *n)
{
	node_free(n);
	free(n);
}

static struct wgp_endpoint client_ep(uint8_t net, uint16_t port)
{
	return (struct wgp_endpoint){ .family = AF_INET, .port = port,
				      .addr = { 198, 19, net, 1 } };
}

/* One datagram from src into n at now (+ skew_ms on the monotonic
 * clock: a later moment for the registry); its replies in n->q. */
static void deliver(struct node *n, const uint8_t *pkt, size_t len,
		    struct wgp_endpoint src, uint64_t skew_ms)
{
	struct rx_info rx = { .pkt = pkt, .len = len, .src = src,
			      .local = n->addr, .port = PORT_MAIN };

	n->q.n = 0;
	server_handle(&n->srv, &rx, wgp_mono_ms() + skew_ms, wgp_now_ns(),
		      &n->q);
	store_kick(&n->st, 0);
}

static void do_register(struct node *n, struct tclient *c,
			struct wgp_endpoint src, const uint8_t *peer,
			uint64_t skew_ms)
{
	uint8_t pkt[WGP_MAX_MSG_LEN];
	struct wgp_msg m;
	size_t len;

	len = tclient_register(c, pkt, sizeof(pkt),
			       (const uint8_t (*)[WGP_KEY_LEN])peer,
			       peer ? 1 : 0, 0);
	deliver(n, pkt, len, src, skew_ms);
	assert_int_equal(n->q.n, 1);
	assert_int_equal(tclient_open(c, &m, n->msgs[0].buf,
				      n->msgs[0].len), 0);
	assert_int_equal(m.type, WGP_REGISTER_REPLY);
}

/* Until n's cache holds key (want) or not (!want), or WAIT_MS. */
static bool cached(struct node *n, const uint8_t *key, bool want)
{
	struct reg_entry copy;
	bool names, have = false;
	int i;

	for (i = 0; i < WAIT_MS / 10; i++) {
		have = registry_peek(&n->st.cache, key, wgp_mono_ms(), 0,
				     &copy, &names);
		if (have == want)
			break;
		sleep_ms(10);
	}
	return have;
}

static const struct store_msg *wait_notify(struct node *n)
{
	const struct store_msg *m = NULL;
	int i;

	for (i = 0; i < WAIT_MS / 10 && !m; i++) {
		m = store_next_notify(&n->st, 0);
		if (!m)
			sleep_ms(10);
	}
	return m;
}

/* NOTIFYs n's Redis thread has passed on, once it is want or WAIT_MS
 * is up. */
static uint64_t notifies_out(struct node *n, uint64_t want)
{
	struct store_stats st;
	int i;

	for (i = 0; i < WAIT_MS / 10; i++) {
		store_stats_read(&n->st, &st);
		if (st.notify_out >= want)
			break;
		sleep_ms(10);
	}
	return st.notify_out;
}

static int setup(void **state)
{
	(void)state;
	if (!redis_proc_installed()) {
		print_message("SKIP: redis-server is not installed "
			      "(tools/install-deps installs it)\n");
		exit(77);
	}
	assert_int_equal(redis_proc_init(&rs), 0);
	redis_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return redis_proc_remove(&rs) == 0 ? 0 : -1;
}

/* ---- the cases ------------------------------------------------------ */

static void lookup_at(struct node *n, struct tclient *c,
		      struct wgp_endpoint src, const uint8_t *target,
		      struct wgp_msg *m)
{
	uint8_t pkt[WGP_MAX_MSG_LEN];
	size_t len = tclient_lookup(c, pkt, sizeof(pkt), target, 0);

	deliver(n, pkt, len, src, 0);
	assert_int_equal(n->q.n, 1);
	assert_int_equal(tclient_open(c, m, n->msgs[0].buf, n->msgs[0].len),
			 0);
	assert_int_equal(m->type, WGP_LOOKUP_REPLY);
}

/* X registered with A only, Y with B only, each naming the other: Y's
 * LOOKUP at B finds X, and A sends X the NOTIFY about Y. */
static void test_cross_server(void **state)
{
	struct wgp_endpoint ex = client_ep(1, 40001), ey = client_ep(2, 40002);
	const struct store_msg *note;
	struct tclient x, y, z;
	struct node *a, *b;
	struct wgp_msg m;

	(void)state;
	two_servers(&a, &b, false);
	tclient_init(&x, a->srv.pub);
	tclient_init(&y, b->srv.pub);
	tclient_init(&z, b->srv.pub);
	x.version = y.version = z.version = 2;

	do_register(a, &x, ex, y.pub, 0);
	assert_true(cached(b, x.pub, true));
	do_register(b, &y, ey, x.pub, 0);
	assert_true(cached(a, y.pub, true));

	lookup_at(b, &y, ey, x.pub, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);
	assert_true(wgp_endpoint_equal(&m.u.lookup_reply.peer, &ex));

	/* B cannot reach X: A sends the NOTIFY, sealed for X. */
	note = wait_notify(a);
	assert_non_null(note);
	a->q.n = 0;
	server_store_notify(&a->srv, note, wgp_mono_ms(), wgp_now_ns(), &a->q);
	store_release(&a->st, 0);
	assert_int_equal(a->q.n, 1);
	assert_true(wgp_endpoint_equal(&a->msgs[0].dst, &ex));
	assert_int_equal(tclient_open(&x, &m, a->msgs[0].buf, a->msgs[0].len),
			 0);
	assert_int_equal(m.type, WGP_NOTIFY);
	assert_memory_equal(m.u.notify.peer, y.pub, WGP_KEY_LEN);
	assert_true(wgp_endpoint_equal(&m.u.notify.ep, &ey));

	/* Consent holds across servers: Z names X, X does not name Z. No
	 * endpoint, and no NOTIFY asked of A. */
	assert_int_equal(notifies_out(b, 2), 2);	/* Y's REGISTER, LOOKUP */
	do_register(b, &z, client_ep(3, 40003), x.pub, 0);
	lookup_at(b, &z, client_ep(3, 40003), x.pub, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_UNAVAILABLE);
	sleep_ms(200);
	assert_int_equal(notifies_out(b, 2), 2);

	node_del(a);
	node_del(b);
}

/* Y's LOOKUPs for X at n until the status is want, or WAIT_MS. */
static uint8_t lookup_until(struct node *n, struct tclient *y,
			    struct wgp_endpoint ey, const uint8_t *x,
			    uint8_t want)
{
	struct wgp_msg m;
	int i;

	for (i = 0; i < WAIT_MS / 20; i++) {
		lookup_at(n, y, ey, x, &m);
		if (m.u.lookup_reply.status == want)
			break;
		sleep_ms(20);
	}
	return m.u.lookup_reply.status;
}

/* X at A takes Y off its list, in a REGISTER that changes nothing else:
 * B follows at once (not a quarter TTL later), and Y stops finding X
 * there; X names Y again, and Y finds X again. */
static void test_consent_follows(void **state)
{
	struct wgp_endpoint ex = client_ep(9, 40009), ey = client_ep(10, 40010);
	struct tclient x, y;
	struct node *a, *b;

	(void)state;
	two_servers(&a, &b, false);
	tclient_init(&x, a->srv.pub);
	tclient_init(&y, b->srv.pub);
	x.version = y.version = 2;
	do_register(a, &x, ex, y.pub, 0);
	do_register(b, &y, ey, x.pub, 0);
	assert_int_equal(lookup_until(b, &y, ey, x.pub, WGP_LOOKUP_OK),
			 WGP_LOOKUP_OK);

	do_register(a, &x, ex, NULL, 0);
	assert_int_equal(lookup_until(b, &y, ey, x.pub,
				      WGP_LOOKUP_UNAVAILABLE),
			 WGP_LOOKUP_UNAVAILABLE);
	do_register(a, &x, ex, y.pub, 0);
	assert_int_equal(lookup_until(b, &y, ey, x.pub, WGP_LOOKUP_OK),
			 WGP_LOOKUP_OK);

	node_del(a);
	node_del(b);
}

/* Redis holds a registration as long as the registry does, and drops
 * it then; the other server's cache forgets it at the same time. */
static void test_expiry(void **state)
{
	struct node *a, *b;
	struct wgp_endpoint ex = client_ep(4, 40004);
	struct reg_entry copy;
	struct tclient x;
	long long pttl;
	char key[128];
	redisReply *r;
	bool names;
	int i;

	(void)state;
	two_servers(&a, &b, true);
	tclient_init(&x, a->srv.pub);
	do_register(a, &x, ex, NULL, 0);
	assert_true(cached(b, x.pub, true));
	pttl = redis_pttl(x.pub);
	assert_true(pttl > (TTL_S - 5) * 1000LL);
	assert_true(pttl <= (TTL_S + 11) * 1000LL);	/* + counter lead */

	/* The cache keeps the record's own lifetime, not a longer one. */
	assert_true(registry_peek(&b->st.cache, x.pub, wgp_mono_ms(), 0,
				  &copy, &names));
	assert_false(registry_peek(&b->st.cache, x.pub,
				   wgp_mono_ms() + (uint64_t)pttl + 1000, 0,
				   &copy, &names));

	/* Redis does the expiring: cut the lifetime short and watch. */
	reg_key(x.pub, key);
	r = redis("PEXPIRE %s 300", key);
	freeReplyObject(r);
	for (i = 0; i < 100 && redis_pttl(x.pub) != -2; i++)
		sleep_ms(20);
	assert_int_equal(redis_pttl(x.pub), -2);

	node_del(a);
	node_del(b);
}

/* x's datagram pkt[0..len), replayed at n from src: refused as a stale
 * counter, and counted so. */
static void replayed_at(struct node *n, struct tclient *x, const uint8_t *pkt,
			size_t len, struct wgp_endpoint src)
{
	uint64_t before = n->srv.st.replayed;
	struct wgp_msg m;

	deliver(n, pkt, len, src, 0);
	assert_int_equal(n->q.n, 1);
	assert_int_equal(tclient_open(x, &m, n->msgs[0].buf, n->msgs[0].len),
			 0);
	assert_int_equal(m.type, WGP_ERROR);
	assert_int_equal(m.u.error.code, WGP_ERR_COUNTER);
	assert_int_equal(n->srv.st.replayed, before + 1);
}

/* Servers sharing a private key: a REGISTER captured on its way to A
 * and replayed at B is refused with B's copy of X's last counter. */
static void test_replay_across(void **state)
{
	uint8_t pkt[WGP_MAX_MSG_LEN];
	struct node *a, *b;
	struct wgp_endpoint ex = client_ep(5, 40005);
	struct tclient x;
	size_t len;

	(void)state;
	two_servers(&a, &b, true);
	tclient_init(&x, a->srv.pub);
	len = tclient_register(&x, pkt, sizeof(pkt), NULL, 0, 0);
	deliver(a, pkt, len, ex, 0);
	assert_int_equal(a->q.n, 1);
	assert_true(cached(b, x.pub, true));

	replayed_at(b, &x, pkt, len, client_ep(6, 40006));
	assert_int_equal(b->srv.st.registers, 0);

	node_del(a);
	node_del(b);
}

/* The same when B holds the key too (a client of both): B's own last
 * counter is older than the one A accepted since. */
static void test_replay_held_here(void **state)
{
	struct wgp_endpoint ex = client_ep(11, 40011);
	uint8_t pkt[WGP_MAX_MSG_LEN];
	struct tclient x, z;
	struct node *a, *b;
	size_t len;

	(void)state;
	two_servers(&a, &b, true);
	tclient_init(&x, a->srv.pub);
	tclient_init(&z, a->srv.pub);
	/* B hears A (it caches Z), then A hears B's X: both subscribed,
	 * B's write of X is in Redis before A's. */
	do_register(a, &z, client_ep(13, 40013), NULL, 0);
	assert_true(cached(b, z.pub, true));
	do_register(b, &x, ex, NULL, 0);
	assert_true(cached(a, x.pub, true));
	len = tclient_register(&x, pkt, sizeof(pkt), NULL, 0, 0);
	deliver(a, pkt, len, ex, 0);
	assert_int_equal(a->q.n, 1);
	assert_true(cached(b, x.pub, true));

	replayed_at(b, &x, pkt, len, client_ep(12, 40012));
	assert_int_equal(b->srv.st.registers, 1);

	node_del(a);
	node_del(b);
}

/* n's Redis thread's writes so far, once they stopped for 100 ms. */
static uint64_t writes_settled(struct node *n)
{
	struct store_stats st;
	uint64_t last;
	int i;

	store_stats_read(&n->st, &st);
	for (i = 0; i < WAIT_MS / 100; i++) {
		last = st.written;
		sleep_ms(100);
		store_stats_read(&n->st, &st);
		if (st.written == last)
			break;
	}
	return st.written;
}

/* Redis goes away: the servers go on answering from what they hold;
 * it comes back empty: the next refresh writes the registration again
 * and the other server learns it again. */
static void test_redis_restart(void **state)
{
	struct node *a, *b;
	struct wgp_endpoint ex = client_ep(7, 40007), ey = client_ep(8, 40008);
	struct store_stats st;
	uint64_t written;
	struct tclient x, y;
	struct wgp_msg m;
	int i;

	(void)state;
	two_servers(&a, &b, true);
	tclient_init(&x, a->srv.pub);
	tclient_init(&y, a->srv.pub);
	do_register(a, &x, ex, y.pub, 0);
	do_register(b, &y, ey, x.pub, 0);
	assert_true(cached(b, x.pub, true));

	redis_proc_stop(&rs);
	/* Both still answer, from memory and cache. */
	do_register(a, &x, ex, y.pub, 0);
	lookup_at(b, &y, ey, x.pub, &m);
	assert_int_equal(m.u.lookup_reply.status, WGP_LOOKUP_OK);

	redis_start();
	for (i = 0; i < WAIT_MS / 10; i++) {
		store_stats_read(&a->st, &st);
		if (st.connects >= 2)
			break;
		sleep_ms(10);
	}
	assert_true(st.connects >= 2);
	assert_int_equal(redis_pttl(x.pub), -2);	/* Redis came back empty */
	/* X's next requests are written again: Redis is a new one. A
	 * LOOKUP first, which carries no consent list: the REGISTER after
	 * it must still write the whole record. The LOOKUPs in between
	 * are written once, not each. */
	lookup_at(a, &x, ex, y.pub, &m);
	written = writes_settled(a);
	for (i = 0; i < 3; i++)
		lookup_at(a, &x, ex, y.pub, &m);
	assert_int_equal(writes_settled(a), written);
	do_register(a, &x, ex, y.pub, 0);
	for (i = 0; i < WAIT_MS / 10 && !redis_has_consent(x.pub); i++)
		sleep_ms(10);
	assert_true(redis_pttl(x.pub) > 0);
	assert_true(redis_has_consent(x.pub));

	node_del(a);
	node_del(b);
}

/* Redis stops answering without closing anything (SIGSTOP): an idle
 * server notices by its PINGs, lets go, and is back once Redis is. */
static void test_redis_hangs(void **state)
{
	struct node *a;
	struct store_stats st;
	int i;

	(void)state;
	a = node_new(NULL, 1);
	for (i = 0; i < WAIT_MS / 10 && a->st.state != STORE_UP; i++)
		sleep_ms(10);
	assert_int_equal(a->st.state, STORE_UP);
	kill(rs.pid, SIGSTOP);
	/* Two unanswered PINGs, STORE_PING_TICKS s apart, and a tick. */
	for (i = 0; i < 2000 && a->st.state == STORE_UP; i++)
		sleep_ms(10);
	kill(rs.pid, SIGCONT);
	assert_int_not_equal(a->st.state, STORE_UP);
	for (i = 0; i < WAIT_MS / 10; i++) {
		store_stats_read(&a->st, &st);
		if (st.connects >= 2 && a->st.state == STORE_UP)
			break;
		sleep_ms(10);
	}
	assert_true(st.connects >= 2);
	node_del(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cross_server),
		cmocka_unit_test(test_consent_follows),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_replay_across),
		cmocka_unit_test(test_replay_held_here),
		cmocka_unit_test(test_redis_restart),
		cmocka_unit_test(test_redis_hangs),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
