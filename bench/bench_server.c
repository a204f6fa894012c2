// SPDX-License-Identifier: MIT
/*
 * bench_server — wgpunchd LOOKUPs per second on loopback with 1,000,000
 * registered peers, next to three UDP echo servers driven by the same
 * load generator in the same run: the trivial one (recvfrom/sendto per
 * datagram), a batched one (recvmmsg/sendmmsg, like wgpunchd: the
 * stricter comparison), and the batched one that also opens each LOOKUP
 * and seals a reply (the "sealed echo": the crypto floor, what any
 * server of this protocol must spend; udpgen.h).
 *
 * Setup is in-process (1M entries inserted directly, with random session
 * keys: no one ever speaks for them; 64 real clients registered through
 * server_handle() with real X25519 sessions). The measurement goes
 * through the real server path: wgpunchd's event loop and sockets in a
 * thread, recvmmsg -> rate limiter -> registry -> AEAD open -> consent
 * -> AEAD seal -> sendmmsg. The generator replays pre-sealed LOOKUPs
 * (counters strictly increasing per client) with a fixed window of
 * datagrams in flight, so its own cost is the same for both servers.
 *
 * Three rounds alternate between the servers; medians are printed. Two
 * ratios: throughput (what the target is about; on a small shared
 * machine the generator competes with the server for CPU) and replies
 * per CPU-second of the server thread (the cost of one request, which
 * is mostly the two ChaCha20-Poly1305 operations on top of the same
 * system calls the echo server makes). wgpunchd / sealed echo is what
 * its own work (rate limits, registry, counters, consent) costs; sealed
 * echo / echo is the ceiling no server of the protocol can pass.
 *
 * Then --workers: for 1, 2, ... N workers (N: the online CPUs, or the
 * third argument), a server group (server.h) with the same peers spread
 * over the workers' partitions, each worker its own loop and SO_REUSEPORT
 * sockets steered by key, beside a batched and a sealed echo with as many
 * threads on SO_REUSEPORT sockets (spread by the kernel's flow hash: the
 * generator sends from GEN_SOCKETS sockets), rounds alternating, same
 * run. Thread i of any is pinned to CPU (last - i) mod CPUs; the
 * generator to CPU 0.
 *
 * Usage: bench_server [peers] [seconds per round] [max workers]
 *        (1000000, 2 and the online CPUs)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <sodium.h>

#include "log.h"
#include "udpgen.h"

#define CLIENTS	64
#define ROUNDS	3
#define GEN_SOCKETS 16	/* the generator's sources in the workers part
			 * (CLIENTS is a multiple: a client, a socket) */

/* ---- 1..N workers beside an echo with as many threads ----------------- */

/* Thread i of either server group: CPU (last - i) mod CPUs. */
static int worker_cpu(unsigned int i)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return (int)((n - 1 - (long)(i % (unsigned long)n)) % n);
}

/*
 * drive() from GEN_SOCKETS sockets, one window over all, a batch from
 * each in turn. Client k always sends from socket k % GEN_SOCKETS (the
 * load holds client i % CLIENTS's LOOKUPs at i), as a real client sends
 * from its one NAT mapping: its endpoint stays put, and each socket
 * hears from only the workers its clients' keys are steered to. The
 * echo group's flow hash needs the several sources too; both servers
 * get the very same generator.
 */
static double drive_multi(const struct load *ld, uint16_t port, double seconds,
			  size_t *replies_out)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev[GEN_SOCKETS];
	size_t next[GEN_SOCKETS], replies = 0, inflight = 0, sent, got;
	int fd[GEN_SOCKETS], ep, n, j, turn = 0;
	double start, end;
	uint16_t myport;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (j = 0; j < GEN_SOCKETS; j++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)j };

		next[j] = (size_t)j;
		fd[j] = udp_socket(&myport);
		if (connect(fd[j], (void *)&to, sizeof(to)) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fd[j], &e) < 0)
			die("connect");
	}
	start = now_s();
	end = start + seconds;
	while (next[turn] < ld->n) {
		while (inflight + GEN_BATCH <= GEN_WINDOW &&
		       next[turn] < ld->n) {
			sent = gen_send_every(fd[turn], ld, next[turn],
					      GEN_SOCKETS);
			if (!sent)
				break;
			next[turn] += sent * GEN_SOCKETS;
			inflight += sent;
			turn = (turn + 1) % GEN_SOCKETS;
		}
		n = epoll_wait(ep, ev, GEN_SOCKETS, 20);
		if (n <= 0) {
			inflight = 0;	/* lost: refill */
			continue;
		}
		for (j = 0; j < n; j++) {
			got = gen_receive(fd[ev[j].data.u32]);
			replies += got;
			inflight -= got > inflight ? inflight : got;
		}
		if (now_s() >= end)
			break;
	}
	end = now_s();
	for (j = 0; j < GEN_SOCKETS; j++)
		close(fd[j]);
	close(ep);
	*replies_out = replies;
	return (double)replies / (end - start);
}

/* fill() over a group: each key into its worker's partition. */
static void group_fill(struct server_group *g, size_t peers)
{
	uint8_t key[32];
	size_t i;

	for (i = 0; i < peers; i++) {
		randombytes_buf(key, sizeof(key));
		fill_one(g->parts[server_worker_of(key, g->n)], key, i, 0);
	}
}

/* register_clients() over a group: each on its key's worker, as the
 * steering would deliver it. */
static void group_register(struct server_group *g, const struct client *c)
{
	int i;

	for (i = 0; i < CLIENTS; i++)
		register_client(&g->srv[server_worker_of(c[i].pub, g->n)],
				&c[i]);
}

/* The group's counters, summed. */
static void group_counts(const struct server_group *g, uint64_t *lookups,
			 uint64_t *bad)
{
	unsigned int i;

	*lookups = *bad = 0;
	for (i = 0; i < g->n; i++) {
		*lookups += g->srv[i].st.lookups;
		*bad += g->srv[i].st.errors + g->srv[i].st.forged;
	}
}

/* CPU seconds the threads used so far, all together. */
static double threads_cpu(const pthread_t *tid, size_t stride, unsigned int n)
{
	double sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		sum += thread_cpu(*(const pthread_t *)((const char *)tid +
						       i * stride));
	return sum;
}

/* The median over the rounds of x[i] / y[i], in %: a and b ran back to
 * back in each round, so drift of the machine between rounds (this
 * one swings by tens of percent) cancels out. */
static double round_ratio(const double *x, const double *y)
{
	double r[ROUNDS];
	int i;

	for (i = 0; i < ROUNDS; i++)
		r[i] = y[i] > 0 ? 100.0 * x[i] / y[i] : 0;
	return median(r, ROUNDS);
}

/* The median of the ROUNDS values v, v left as it is. */
static double median_of(const double *v)
{
	double copy[ROUNDS];

	memcpy(copy, v, sizeof(copy));
	return median(copy, ROUNDS);
}

struct workers_result {
	double w, e, s;		/* LOOKUPs/s, echoes/s, sealed echoes/s */
	double w_eff, e_eff, s_eff;	/* the same per CPU-second of the
					 * servers */
	/* round_ratio()s: wgpunchd / echo, wgpunchd / sealed, sealed /
	 * echo; the first two per CPU-second too */
	double we, ws, se, we_eff, ws_eff;
};

/* One round of drive_multi() at port; *eff: replies per CPU-second of
 * the n threads whose ids are tid, tid + stride, ... */
static double timed_round(const struct load *slice, uint16_t port,
			  double seconds, const pthread_t *tid, size_t stride,
			  unsigned int n, double *eff)
{
	double cpu = threads_cpu(tid, stride, n), rate;
	size_t replies;

	rate = drive_multi(slice, port, seconds, &replies);
	cpu = threads_cpu(tid, stride, n) - cpu;
	*eff = cpu > 0 ? (double)replies / cpu : 0;
	return rate;
}

/* One worker count: wgpunchd with n workers and echo with n threads,
 * ROUNDS rounds alternating; medians into *res. */
static void run_workers(unsigned int n, size_t peers, double seconds,
			struct client *c, struct workers_result *res)
{
	double rate_w[ROUNDS], rate_e[ROUNDS], eff_w[ROUNDS], eff_e[ROUNDS];
	double rate_s[ROUNDS], eff_s[ROUNDS];
	struct server_config cfg;
	struct server_group g;
	struct loop *loops = calloc(n, sizeof(*loops));
	struct loop_thread *wt = calloc(n, sizeof(*wt));
	struct echo_thread *et = calloc(n, sizeof(*et));
	struct echo_thread *st = calloc(n, sizeof(*st));
	uint64_t forged = 0;
	uint16_t echo_port = 0, sealed_port = 0;
	uint64_t lookups, bad, before;
	struct load ld;
	size_t pool, replies;
	double cpu;
	unsigned int i;
	int r;

	if (!loops || !wt || !et || !st)
		die("calloc");
	/* Keys land unevenly: 2 % room per partition. */
	bench_config(&cfg, peers + peers / 50 + CLIENTS * (size_t)n);
	{
		uint8_t priv[32];

		wgp_key_generate(priv);
		if (server_group_init(&g, n, &cfg, priv, wgp_mono_ms()) < 0)
			die("server_group_init");
	}
	group_fill(&g, peers);
	clients_connect(c, CLIENTS, g.srv[0].pub);
	group_register(&g, c);
	pool = (size_t)(seconds * ROUND_POOL_PER_S) * ROUNDS;
	seal_lookups(&ld, c, CLIENTS, pool);
	for (i = 0; i < n; i++) {
		memcpy(g.srv[i].cfg.port, g.srv[0].cfg.port,
		       sizeof(g.srv[i].cfg.port));
		if (loop_init_worker(&loops[i], &g.srv[i], "127.0.0.1", i,
				     n) < 0)
			die("loop_init_worker");
	}
	for (i = 0; i < n; i++) {
		loop_thread_start(&wt[i], &loops[i], worker_cpu(i),
				  "wgpunchd-w");
		echo_thread_start(&et[i], reuseport_socket(&echo_port),
				  worker_cpu(i), "echo-w", ECHO_BATCHED);
		echo_thread_clients(&st[i], c, CLIENTS);
		echo_thread_start(&st[i], reuseport_socket(&sealed_port),
				  worker_cpu(i), "echo-sealed-w", ECHO_SEALED);
	}
	for (r = 0; r < ROUNDS; r++) {
		struct load slice = { ld.pkt + (size_t)r * (pool / ROUNDS),
				      pool / ROUNDS };

		group_counts(&g, &before, &bad);
		cpu = threads_cpu(&wt[0].tid, sizeof(wt[0]), n);
		rate_w[r] = drive_multi(&slice, loops[0].port[PORT_MAIN],
					seconds, &replies);
		cpu = threads_cpu(&wt[0].tid, sizeof(wt[0]), n) - cpu;
		group_counts(&g, &lookups, &bad);
		eff_w[r] = cpu > 0 ? (double)(lookups - before) / cpu : 0;
		rate_e[r] = timed_round(&slice, echo_port, seconds, &et[0].tid,
					sizeof(et[0]), n, &eff_e[r]);
		rate_s[r] = timed_round(&slice, sealed_port, seconds,
					&st[0].tid, sizeof(st[0]), n, &eff_s[r]);
		printf("workers %u, round %d: wgpunchd %8.0f/s (%8.0f per "
		       "CPU-s)   echo %8.0f/s (%8.0f per CPU-s)   sealed echo "
		       "%8.0f/s (%8.0f per CPU-s)\n", n, r + 1, rate_w[r],
		       eff_w[r], rate_e[r], eff_e[r], rate_s[r], eff_s[r]);
	}
	for (i = 0; i < n; i++) {
		loop_thread_stop(&wt[i]);
		echo_thread_stop(&et[i]);
		echo_thread_stop(&st[i]);
		forged += st[i].forged;
		loop_free(&loops[i]);
	}
	if (forged) {
		fprintf(stderr, "bench_server: the sealed echo could not open "
			"%llu LOOKUPs\n", (unsigned long long)forged);
		exit(1);
	}
	group_counts(&g, &lookups, &bad);
	if (bad || !lookups) {
		fprintf(stderr, "bench_server: %u workers answered with errors "
			"(lookups %llu, errors/forged %llu)\n", n,
			(unsigned long long)lookups, (unsigned long long)bad);
		exit(1);
	}
	res->we = round_ratio(rate_w, rate_e);
	res->ws = round_ratio(rate_w, rate_s);
	res->se = round_ratio(rate_s, rate_e);
	res->we_eff = round_ratio(eff_w, eff_e);
	res->ws_eff = round_ratio(eff_w, eff_s);
	res->w = median_of(rate_w);
	res->e = median_of(rate_e);
	res->w_eff = median_of(eff_w);
	res->e_eff = median_of(eff_e);
	res->s = median_of(rate_s);
	res->s_eff = median_of(eff_s);
	server_group_free(&g);
	free(ld.pkt);
	free(loops);
	free(wt);
	free(et);
	free(st);
}

/* The workers part: a line per worker count, and the table. */
static void bench_workers(unsigned int max, size_t peers, double seconds,
			  struct client *c)
{
	struct workers_result r[SERVER_MAX_WORKERS + 1];
	unsigned int n;

	for (n = 1; n <= max; n++)
		run_workers(n, peers, seconds, c, &r[n]);
	printf("workers  wgpunchd LOOKUPs/s   echo datagrams/s   ratio   "
	       "sealed echo   ratio   ceiling     per CPU-second: wgpunchd"
	       "     echo   sealed   ratio   ratio sealed\n");
	for (n = 1; n <= max; n++)
		printf("%7u  %18.0f   %16.0f   %5.1f %%  %11.0f   %5.1f %%  "
		       "%5.1f %%   %24.0f %8.0f %8.0f   %5.1f %%   %5.1f %%\n",
		       n, r[n].w, r[n].e, r[n].we, r[n].s, r[n].ws, r[n].se,
		       r[n].w_eff, r[n].e_eff, r[n].s_eff, r[n].we_eff,
		       r[n].ws_eff);
	printf("(ratio: wgpunchd / echo, then / sealed echo; ceiling: sealed "
	       "echo / echo, the most any server of this protocol can reach; "
	       "%zu peers, medians of %d rounds; a ratio is the median of the "
	       "rounds' ratios)\n", peers, ROUNDS);
}

/* ---- one thread each: wgpunchd and the three echoes ------------------ */

enum { ALONE_WGPUNCHD, ALONE_ECHO, ALONE_PLAIN, ALONE_SEALED, ALONE_N };

/* One server of the single-thread part and its rounds. */
struct alone {
	const char *name, *unit, *what;
	uint16_t port;
	pthread_t tid;
	double rate[ROUNDS], eff[ROUNDS];	/* per s, per CPU-second */
};

/* "ratio: x % of <b's words>  y % per CPU-second (note)". */
static void ratio_line(const char *label, const struct alone *a,
		       const struct alone *b, const char *of, const char *note)
{
	printf("%-9s %10.1f %% of the %-13s %10.1f %% per CPU-second%s%s\n",
	       label, round_ratio(a->rate, b->rate), of,
	       round_ratio(a->eff, b->eff), note ? " " : "",
	       note ? note : "");
}

/* wgpunchd with peers filler entries and the CLIENTS clients c, then
 * the echoes, each on the server CPU in turn, ROUNDS rounds. */
static void bench_alone(size_t peers, double seconds, struct client *c)
{
	static struct echo_thread echo[ALONE_N];
	struct alone s[ALONE_N] = {
		{ "wgpunchd", "lookups/s", "" },
		{ "echo", "datagrams/s", "(batched: recvmmsg/sendmmsg)" },
		{ "plain", "datagrams/s", "(trivial: recvfrom/sendto)" },
		{ "sealed", "datagrams/s",
		  "(batched echo + AEAD open and seal: the crypto floor)" },
	};
	static const enum echo_kind kind[ALONE_N] = {
		[ALONE_ECHO] = ECHO_BATCHED, [ALONE_PLAIN] = ECHO_PLAIN,
		[ALONE_SEALED] = ECHO_SEALED,
	};
	struct server_config cfg;
	struct loop_thread w;
	struct server srv;
	struct loop loop;
	struct load ld;
	uint8_t priv[32];
	size_t replies, sent, pool;
	double t0, cpu;
	int i, k;

	bench_config(&cfg, peers + CLIENTS);
	wgp_key_generate(priv);
	if (server_init(&srv, &cfg, priv, wgp_mono_ms()) < 0)
		die("server_init");
	t0 = now_s();
	fill(&srv.reg, peers, 0);
	clients_connect(c, CLIENTS, srv.pub);
	register_clients(&srv, c, CLIENTS);
	printf("setup: %zu peers registered in %.2f s, registry %.0f MiB\n",
	       (size_t)srv.reg.live, now_s() - t0,
	       (double)registry_memory(&srv.reg) / (1 << 20));

	/* Rounds alternate between the servers so drift of a shared
	 * machine hits all; each round uses a fresh slice of the pool
	 * (counters keep increasing). */
	pool = (size_t)(seconds * ROUND_POOL_PER_S) * ROUNDS;
	t0 = now_s();
	seal_lookups(&ld, c, CLIENTS, pool);
	printf("setup: %zu LOOKUPs sealed in %.2f s\n", pool, now_s() - t0);

	pin_to_cpu(0);		/* the load generator */
	if (loop_init(&loop, &srv, "127.0.0.1") < 0)
		die("loop_init");
	loop_thread_start(&w, &loop, server_cpu(), "wgpunchd");
	s[ALONE_WGPUNCHD].port = loop.port[PORT_MAIN];
	s[ALONE_WGPUNCHD].tid = w.tid;
	echo_thread_clients(&echo[ALONE_SEALED], c, CLIENTS);
	for (k = ALONE_ECHO; k < ALONE_N; k++) {
		echo_thread_start(&echo[k], udp_socket(&s[k].port),
				  server_cpu(), s[k].name, kind[k]);
		s[k].tid = echo[k].tid;
	}

	for (i = 0; i < ROUNDS; i++) {
		struct load slice = { ld.pkt + (size_t)i * (pool / ROUNDS),
				      pool / ROUNDS };

		printf("round %d:", i + 1);
		for (k = 0; k < ALONE_N; k++) {
			uint64_t before = srv.st.lookups;

			s[k].rate[i] = drive(&slice, s[k].port, seconds,
					     &replies, &sent, s[k].tid, &cpu);
			/* wgpunchd's replies include NOTIFYs: count its
			 * LOOKUPs. */
			if (k == ALONE_WGPUNCHD)
				replies = srv.st.lookups - before;
			s[k].eff[i] = cpu > 0 ? (double)replies / cpu : 0;
			printf(" %s %.0f/s (%.0f per CPU-s)", s[k].name,
			       s[k].rate[i], s[k].eff[i]);
		}
		printf("\n");
	}
	loop_thread_stop(&w);
	for (k = ALONE_ECHO; k < ALONE_N; k++)
		echo_thread_stop(&echo[k]);
	if (echo[ALONE_SEALED].forged) {
		fprintf(stderr, "bench_server: the sealed echo could not open "
			"%llu LOOKUPs\n",
			(unsigned long long)echo[ALONE_SEALED].forged);
		exit(1);
	}
	/* Every LOOKUP must have succeeded. */
	if (srv.st.errors || srv.st.forged || !srv.st.lookups) {
		fprintf(stderr, "bench_server: server answered with errors "
			"(lookups %llu, errors %llu, forged %llu)\n",
			(unsigned long long)srv.st.lookups,
			(unsigned long long)srv.st.errors,
			(unsigned long long)srv.st.forged);
		exit(1);
	}
	for (k = 0; k < ALONE_N; k++)
		printf("%-9s %10.0f %-12s %10.0f per server CPU-second %s\n",
		       s[k].name, median_of(s[k].rate), s[k].unit,
		       median_of(s[k].eff), s[k].what);
	printf("(medians of %d rounds, %zu peers; a ratio is the median of "
	       "the rounds' ratios)\n", ROUNDS, (size_t)srv.reg.live);
	ratio_line("ratio:", &s[ALONE_WGPUNCHD], &s[ALONE_ECHO],
		   "batched echo", NULL);
	ratio_line("ratio:", &s[ALONE_WGPUNCHD], &s[ALONE_PLAIN],
		   "trivial echo", "(target: >= 70 % of the echo rate)");
	ratio_line("ratio:", &s[ALONE_WGPUNCHD], &s[ALONE_SEALED],
		   "sealed echo", "(what wgpunchd's own work costs)");
	ratio_line("ceiling:", &s[ALONE_SEALED], &s[ALONE_ECHO],
		   "batched echo", "(the sealed echo: no server of this "
		   "protocol can do better)");
	loop_free(&loop);
	server_free(&srv);
	free(ld.pkt);
}

int main(int argc, char *argv[])
{
	size_t peers = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long max_workers = argc > 3 ? strtoul(argv[3], NULL, 10) :
				    (unsigned long)(cpus > 0 ? cpus : 1);
	double seconds = argc > 2 ? atof(argv[2]) : 2.0;
	static struct client c[CLIENTS];
	int i;

	if (sodium_init() < 0)
		return 1;
	log_set_level(LOG_LEVEL_WARN);
	clients_init(c, CLIENTS);
	for (i = 0; i < CLIENTS; i++)	/* partners: 0 and 1, 2 and 3, ... */
		memcpy(c[i].target, c[i ^ 1].pub, sizeof(c[i].target));
	bench_alone(peers, seconds, c);
	if (max_workers > SERVER_MAX_WORKERS)
		max_workers = SERVER_MAX_WORKERS;
	if (max_workers)
		bench_workers((unsigned int)max_workers, peers, seconds, c);
	return 0;
}
