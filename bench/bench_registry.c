// SPDX-License-Identifier: MIT
/*
 * bench_registry — wgpunchd LOOKUPs per second with the Redis-backed
 * registry (--registry, store.h) beside the in-memory one, same load
 * generator (udpgen.h), same run, rounds alternating; medians.
 *
 * In-memory: a server with 1,000,000 filler entries and 64 pairs of real
 * clients X_i, Y_i naming each other, all registered with it; X_i
 * LOOKUPs Y_i.
 *
 * Redis: a real redis-server (redis_proc.h, the tests' own: on a Unix
 * socket in a temporary directory, killed at the end), and servers A and B sharing their registrations
 * through it, as two wgpunchd --registry would. X_i is registered with
 * B, Y_i with A (both through server_handle()), and Y_i's record reaches
 * B's cache through Redis. B's cache also holds the 1,000,000 fillers
 * (inserted before its Redis thread starts, as another server's). X_i
 * LOOKUPs Y_i at B: B finds Y_i in its cache (registry_peek), answers,
 * and asks A through Redis to send Y_i the NOTIFY. A runs no loop: its
 * NOTIFYs pile up in its ring and are dropped when that is full.
 *
 * Both servers run their real event loop and sockets in a thread pinned
 * to the last CPU, the generator on the first; Redis and the Redis
 * threads float. The servers share one private key, so each client has
 * one session and both get the very same pre-sealed LOOKUPs.
 *
 * Every LOOKUP must have found its peer: each that does asks for one
 * NOTIFY (sent, asked of the other server, or over the registrant's
 * budget), which the counters show; and after the rounds each X_i's
 * LOOKUP is opened and must say OK with Y_i's endpoint. Exit 1
 * otherwise. No redis-server: the in-memory part alone, and exit 0.
 *
 * Usage: bench_registry [peers] [seconds per round]   (1000000 and 2)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <sodium.h>

#include "log.h"
#include "redis_proc.h"
#include "store.h"
#include "udpgen.h"

#define PAIRS		64
#define ROUNDS		5
#define SMALL_CAPACITY	1024	/* what a server holds besides fillers */
#define WAIT_MS		10000	/* for what goes through Redis */

/* ---- redis-server ----------------------------------------------------- */

static struct redis_proc redis_srv;

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* At exit too: a benchmark that dies leaves no redis-server behind. */
static void redis_remove(void)
{
	redis_proc_remove(&redis_srv);
}

/* A private redis-server (redis_proc.h); false if there is none to
 * run. */
static bool redis_start(void)
{
	int ret;

	if (!redis_proc_installed())
		return false;
	ret = redis_proc_init(&redis_srv);
	if (ret == 0) {
		atexit(redis_remove);
		ret = redis_proc_start(&redis_srv);
	}
	if (ret < 0) {
		errno = -ret;
		die("redis-server");
	}
	return true;
}

/* ---- servers ------------------------------------------------------------ */

/* A server with --registry unix://(redis_srv.sock), one worker. */
struct node {
	struct server srv;
	struct store st;
};

static void node_init(struct node *n, const uint8_t priv[WGP_KEY_LEN],
		      size_t cache_capacity)
{
	struct server_config cfg;
	struct sockaddr_storage ss;
	struct store_url url;
	socklen_t len;
	const char *why;
	char text[sizeof(redis_srv.sock) + 8];
	int ret;

	bench_config(&cfg, SMALL_CAPACITY);
	if (server_init(&n->srv, &cfg, priv, wgp_mono_ms()) < 0)
		die("server_init");
	snprintf(text, sizeof(text), "unix://%s", redis_srv.sock);
	if (store_url_parse(&url, text, &why) < 0) {
		fprintf(stderr, "bench_registry: %s: %s\n", text, why);
		exit(1);
	}
	ret = store_url_resolve(&url, &ss, &len);
	if (ret == 0)
		ret = store_init(&n->st, &url, (struct sockaddr *)&ss, len,
				 "bench", 1, cache_capacity, &n->srv.reg);
	if (ret < 0) {
		errno = -ret;
		die("store_init");
	}
	n->srv.store = &n->st;
	n->srv.store_w = 0;
}

static void node_free(struct node *n)
{
	store_free(&n->st);
	n->srv.store = NULL;
	server_free(&n->srv);
}

/* REGISTERs in, as a loop would, and the Redis thread woken for them. */
static void node_register(struct node *n, const struct client *c)
{
	register_clients(&n->srv, c, PAIRS);
	store_kick(&n->st, 0);
}

/* Until every one of c is in n's cache, or WAIT_MS. */
static bool all_cached(struct node *n, const struct client *c)
{
	struct reg_entry copy;
	unsigned int i = 0;
	bool names;
	int t;

	for (t = 0; t < WAIT_MS / 10; t++) {
		while (i < PAIRS &&
		       registry_peek(&n->st.cache, c[i].pub, wgp_mono_ms(), 0,
				     &copy, &names))
			i++;
		if (i == PAIRS)
			break;
		sleep_ms(10);
	}
	sodium_memzero(&copy, sizeof(copy));
	return i == PAIRS;
}

/* ---- checks ------------------------------------------------------------- */

/* The counters a LOOKUP moves: each one that finds its peer asks for
 * one NOTIFY, sent here (notified), asked of another server through
 * Redis (notified too), or over the registrant's budget (limited);
 * dropped: NOTIFYs (or registrations) not written to Redis. */
struct counts {
	uint64_t lookups, notified, limited, dropped, bad;
};

static void read_counts(const struct server *srv, struct counts *c)
{
	struct store_stats st = { 0 };

	if (srv->store)
		store_stats_read(srv->store, &st);
	c->lookups = srv->st.lookups;
	c->notified = srv->st.notifies + st.notify_out;
	c->limited = srv->st.notify_limited;
	c->dropped = st.dropped;
	c->bad = srv->st.errors + srv->st.forged + srv->st.replayed +
		 srv->st.bad + st.bad;
}

/* The Redis thread's counters once it has taken all the loop left in
 * its ring: the same twice, 100 ms apart. */
static void settled_counts(const struct server *srv, struct counts *c)
{
	struct counts prev;
	int i;

	read_counts(srv, c);
	for (i = 0; i < 50; i++) {
		prev = *c;
		sleep_ms(100);
		read_counts(srv, c);
		if (!memcmp(&prev, c, sizeof(prev)))
			break;
	}
}

/*
 * Between before and after: no errors, every reply counted was a
 * LOOKUP's, and every LOOKUP found its peer. A drop may have been a
 * registration's rather than a NOTIFY's: LOOKUPs must lie between the
 * NOTIFYs without the drops and with them.
 */
static bool counts_ok(const char *name, const struct counts *before,
		      const struct counts *after, uint64_t replies)
{
	uint64_t lookups = after->lookups - before->lookups;
	uint64_t asked = after->notified - before->notified +
			 after->limited - before->limited;
	uint64_t dropped = after->dropped - before->dropped;

	if (after->bad == before->bad && replies && lookups >= replies &&
	    lookups <= asked + dropped && lookups >= asked)
		return true;
	fprintf(stderr, "bench_registry: %s: lookups %llu, replies %llu, "
		"NOTIFYs asked %llu (+ %llu dropped), errors %llu\n", name,
		(unsigned long long)lookups, (unsigned long long)replies,
		(unsigned long long)asked, (unsigned long long)dropped,
		(unsigned long long)(after->bad - before->bad));
	return false;
}

/* With the loop stopped: each X_i's LOOKUP opened, OK with Y_i's
 * endpoint (register_client() registers from 127.0.0.1:9). */
static bool all_found(const char *name, struct server *srv,
		      const struct client *x)
{
	const struct wgp_endpoint want = { .family = AF_INET, .port = 9,
					   .addr = { 127, 0, 0, 1 } };
	const struct outq *q;
	struct wgp_msg m;
	struct load one;
	unsigned int i, j, ok = 0;

	for (i = 0; i < PAIRS; i++) {
		seal_lookups(&one, &x[i], 1, 1);
		q = server_input(srv, one.pkt[0], LOOKUP_PKT);
		free(one.pkt);
		/* The reply is X_i's; a NOTIFY for Y_i does not open. */
		for (j = 0; j < q->n; j++)
			if (wgp_open(&m, q->msgs[j].buf, q->msgs[j].len,
				     &x[i].sess) == 0 &&
			    m.type == WGP_LOOKUP_REPLY &&
			    m.u.lookup_reply.status == WGP_LOOKUP_OK &&
			    wgp_endpoint_equal(&m.u.lookup_reply.peer, &want))
				ok++;
	}
	if (ok == PAIRS)
		return true;
	fprintf(stderr, "bench_registry: %s: %u of %d LOOKUPs found their "
		"peer\n", name, ok, PAIRS);
	return false;
}

/* ---- the two parts ------------------------------------------------------- */

/* One server under test: its loop in a thread, its counters around the
 * rounds, its results. */
struct part {
	const char *name;
	struct server *srv;
	const struct client *x;		/* who LOOKUPs */
	struct loop loop;
	struct loop_thread t;
	struct counts before;
	uint64_t replies;
	double rate[ROUNDS], eff[ROUNDS];
};

static void part_start(struct part *p, const char *name, struct server *srv,
		       const struct client *x)
{
	p->name = name;
	p->srv = srv;
	p->x = x;
	p->replies = 0;
	if (loop_init(&p->loop, srv, "127.0.0.1") < 0)
		die("loop_init");
	loop_thread_start(&p->t, &p->loop, server_cpu(), "wgpunchd");
}

/* One round: the slice against p's loop. */
static void part_round(struct part *p, const struct load *slice,
		       double seconds, int r)
{
	uint64_t lookups = p->srv->st.lookups;
	size_t replies, sent;
	double cpu;

	p->rate[r] = drive(slice, p->loop.port[PORT_MAIN], seconds, &replies,
			   &sent, p->t.tid, &cpu);
	p->eff[r] = cpu > 0 ? (double)(p->srv->st.lookups - lookups) / cpu : 0;
	p->replies += replies;
}

/* Stop the loop; the counters and the LOOKUPs must say all went well. */
static bool part_stop(struct part *p)
{
	struct counts after;
	bool ok;

	loop_thread_stop(&p->t);
	loop_free(&p->loop);
	settled_counts(p->srv, &after);
	ok = counts_ok(p->name, &p->before, &after, p->replies);
	return all_found(p->name, p->srv, p->x) && ok;
}

/* The loop started, what it had waiting done (B's NOTIFYs for A's
 * registrations of Y_i): the counters the rounds are measured from. */
static void part_settle(struct part *p)
{
	settled_counts(p->srv, &p->before);
}

/* The medians of p, and the line about it. */
static void part_print(const struct part *p, double *rate, double *eff)
{
	double r[ROUNDS], e[ROUNDS];

	memcpy(r, p->rate, sizeof(r));
	memcpy(e, p->eff, sizeof(e));
	*rate = median(r, ROUNDS);
	*eff = median(e, ROUNDS);
	printf("%-10s %10.0f lookups/s  %10.0f per server CPU-second\n",
	       p->name, *rate, *eff);
}

/* ---- main ------------------------------------------------------------------ */

/* The in-memory server: fillers, and both sides of every pair. */
static void setup_memory(struct server *srv, const uint8_t *priv,
			 size_t peers, const struct client *x,
			 const struct client *y)
{
	struct server_config cfg;
	double t0 = now_s();

	bench_config(&cfg, peers + SMALL_CAPACITY);
	if (server_init(srv, &cfg, priv, wgp_mono_ms()) < 0)
		die("server_init");
	fill(&srv->reg, peers, 0);
	register_clients(srv, x, PAIRS);
	register_clients(srv, y, PAIRS);
	printf("setup: in-memory: %u entries in %.2f s, registry %.0f MiB\n",
	       srv->reg.live, now_s() - t0,
	       (double)registry_memory(&srv->reg) / (1 << 20));
}

/* A and B on Redis: the fillers in B's cache as A's, X_i with B, Y_i
 * with A, and Y_i through Redis into B's cache. */
static void setup_redis(struct node *a, struct node *b, const uint8_t *priv,
			size_t peers, const struct client *x,
			const struct client *y)
{
	double t0 = now_s();

	node_init(a, priv, SMALL_CAPACITY);
	node_init(b, priv, peers + SMALL_CAPACITY);
	fill(&b->st.cache, peers, a->st.id);
	if (store_start(&a->st) < 0 || store_start(&b->st) < 0)
		die("store_start");
	node_register(b, x);
	node_register(a, y);
	if (!all_cached(b, y)) {
		fprintf(stderr, "bench_registry: A's registrations did not "
			"reach B's cache through Redis\n");
		exit(1);
	}
	printf("setup: redis: %u entries in B's cache in %.2f s, cache "
	       "%.0f MiB\n", b->st.cache.live, now_s() - t0,
	       (double)registry_memory(&b->st.cache) / (1 << 20));
}

/* X_i and Y_i name each other; X_i LOOKUPs Y_i. */
static void make_pairs(struct client *x, struct client *y,
		       const uint8_t server_pub[WGP_KEY_LEN])
{
	unsigned int i;

	clients_init(x, PAIRS);
	clients_init(y, PAIRS);
	for (i = 0; i < PAIRS; i++) {
		memcpy(x[i].target, y[i].pub, WGP_KEY_LEN);
		memcpy(y[i].target, x[i].pub, WGP_KEY_LEN);
	}
	clients_connect(x, PAIRS, server_pub);
	clients_connect(y, PAIRS, server_pub);
}

/* CPU seconds process pid has used (utime + stime), 0 if unknown. */
static double process_cpu(pid_t pid)
{
	unsigned long utime, stime;
	char path[64], buf[1024], *p;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = '\0';
	/* After the command's ")": state and 10 more fields first. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			 "%*u %lu %lu", &utime, &stime) != 2)
		return 0;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of the Redis side so far: B's Redis thread, and
 * redis-server; not in the per CPU-second figures, which are the
 * loop's. */
static void redis_cpu(const struct node *b, double *thread_s,
		      double *server_s)
{
	*thread_s = thread_cpu(b->st.thread);
	*server_s = process_cpu(redis_srv.pid);
}

static void print_store(const struct node *a, const struct node *b)
{
	struct store_stats sa, sb;

	store_stats_read(&b->st, &sb);
	store_stats_read(&a->st, &sa);
	printf("store:     B wrote %llu registrations, asked A for %llu "
	       "NOTIFYs, dropped %llu; A took %llu NOTIFYs (no loop: %llu "
	       "dropped)\n", (unsigned long long)sb.written,
	       (unsigned long long)sb.notify_out,
	       (unsigned long long)sb.dropped,
	       (unsigned long long)sa.notify_in,
	       (unsigned long long)sa.dropped);
}

int main(int argc, char *argv[])
{
	size_t peers = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	double seconds = argc > 2 ? atof(argv[2]) : 2.0, t0;
	double rate_m, eff_m, rate_r, eff_r;
	double thread_s = 0, server_s = 0, thread_e = 0, server_e = 0;
	static struct client x[PAIRS], y[PAIRS];
	static struct node a, b;
	static struct server mem;
	static struct part pm, pr;
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN];
	bool redis, ok;
	struct load ld;
	size_t pool;
	int r;

	if (sodium_init() < 0)
		return 1;
	log_set_level(LOG_LEVEL_WARN);
	wgp_key_generate(priv);
	wgp_key_public(pub, priv);
	make_pairs(x, y, pub);
	setup_memory(&mem, priv, peers, x, y);
	redis = redis_start();
	if (redis)
		setup_redis(&a, &b, priv, peers, x, y);
	else
		printf("redis-server is missing: the in-memory part alone\n");

	/* Both get the same slice in a round (each server checks counters
	 * on its own), a fresh one every round. */
	pool = (size_t)(seconds * ROUND_POOL_PER_S) * ROUNDS;
	t0 = now_s();
	seal_lookups(&ld, x, PAIRS, pool);
	printf("setup: %zu LOOKUPs sealed in %.2f s\n", pool, now_s() - t0);

	pin_to_cpu(0);		/* the load generator */
	part_start(&pm, "in-memory", &mem, x);
	part_settle(&pm);
	if (redis) {
		part_start(&pr, "redis", &b.srv, x);
		part_settle(&pr);
		redis_cpu(&b, &thread_s, &server_s);
	}
	for (r = 0; r < ROUNDS; r++) {
		struct load slice = { ld.pkt + (size_t)r * (pool / ROUNDS),
				      pool / ROUNDS };

		part_round(&pm, &slice, seconds, r);
		printf("round %d: in-memory %8.0f/s (%8.0f per CPU-s)", r + 1,
		       pm.rate[r], pm.eff[r]);
		if (redis) {
			part_round(&pr, &slice, seconds, r);
			printf("   redis cache %8.0f/s (%8.0f per CPU-s)   "
			       "%5.1f %%", pr.rate[r], pr.eff[r],
			       100.0 * pr.rate[r] / pm.rate[r]);
		}
		printf("\n");
		fflush(stdout);
	}
	if (redis)
		redis_cpu(&b, &thread_e, &server_e);
	ok = part_stop(&pm);
	if (redis)
		ok = part_stop(&pr) && ok;

	part_print(&pm, &rate_m, &eff_m);
	if (redis) {
		part_print(&pr, &rate_r, &eff_r);
		printf("ratio:     %10.1f %% of the in-memory rate  %10.1f %% "
		       "per CPU-second (goal: the cache keeps >= 80 %%)\n",
		       100.0 * rate_r / rate_m, 100.0 * eff_r / eff_m);
		print_store(&a, &b);
		printf("cpu:       B's Redis thread %.2f CPU-s, redis-server "
		       "%.2f CPU-s in all the rounds (not in the per "
		       "CPU-second figures: B's loop)\n", thread_e - thread_s,
		       server_e - server_s);
	}
	printf("(medians of %d rounds; %zu fillers in the registry / B's "
	       "cache, %d pairs)\n", ROUNDS, peers, PAIRS);

	free(ld.pkt);
	server_free(&mem);
	if (redis) {
		node_free(&a);
		node_free(&b);
		redis_remove();
	}
	return ok ? 0 : 1;
}
