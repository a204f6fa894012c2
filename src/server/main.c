// SPDX-License-Identifier: MIT
/*
 * wgpunchd — rendezvous server for WireGuard UDP hole punching.
 * Reads its options and key, opens the sockets, and runs the loop until
 * SIGTERM or SIGINT (taken through a signalfd, so the loop never runs
 * handlers at odd moments). SIGHUP is logged and survived.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "options.h"
#include "sandbox.h"
#include "store.h"

static int stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	/* A client that vanishes must not kill us with SIGPIPE (UDP never
	 * raises it, but logging to a closed pipe could). */
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Like wg(8): a private key others can read is worth a warning, not a
 * refusal (the operator may have reasons, e.g. a group-owned secret). */
static void check_key_mode(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & (S_IRWXG | S_IRWXO)))
		log_warn("%s is accessible by group or others (mode %04o): "
			 "chmod 600 it", path, (unsigned int)(st.st_mode & 07777));
}

static void log_relay_config(const struct relay_config *rc,
			     unsigned int allocs)
{
	unsigned long long mbit = rc->rate * 8 / 1000000;

	log_info("relay on ports %u-%u: %u allocations, idle %u s, "
		 "%llu Mbit/s each%s, %u per key", rc->first, rc->last, allocs,
		 rc->idle_s, mbit, rc->rate ? "" : " (no limit)", rc->per_key);
}

/*
 * The default --dh-rate: half of what the workers can do together. Keys
 * are spread over the workers by the kernel's steering, so each does
 * its share of the X25519s; the budget engages before any is saturated.
 */
static void measure_dh_rate(struct options *opts)
{
	unsigned int workers = options_workers(opts);
	uint64_t measured, rate;

	if (opts->dh_rate_set)
		return;
	measured = server_measure_dh_rate(SERVER_DH_MEASURE_N);
	rate = measured * workers / 2;
	opts->cfg.dh_rate = rate > UINT32_MAX ? UINT32_MAX :
			    rate ? (uint32_t)rate : 1;
	log_info("measured %llu X25519/s: --dh-rate %u (half of one "
		 "thread's, times %u worker%s); above half of it in use, "
		 "unknown keys must prove their address (cookies)",
		 (unsigned long long)measured, opts->cfg.dh_rate, workers,
		 workers == 1 ? "" : "s");
}

/* The loop's callback, which takes its context untyped. */
static void metrics_ready(void *ctx)
{
	metrics_run(ctx);
}

/*
 * --metrics: the HTTP listener, on the loop's thread (metrics.h). The
 * workers' array must outlive it: it is run()'s. 0 (*out NULL without
 * the option) or a negative errno.
 */
static int start_metrics(const struct options *opts, struct loop *loop,
			 const struct server *const workers[], size_t n,
			 struct metrics **out)
{
	struct metrics *m;
	int ret;

	*out = NULL;
	if (!opts->metrics_len)
		return 0;
	ret = metrics_start(&m, (const struct sockaddr *)&opts->metrics_addr,
			    opts->metrics_len, workers, n);
	if (ret < 0)
		return ret;
	ret = loop_watch(loop, metrics_fd(m), metrics_ready, m);
	if (ret < 0) {
		metrics_stop(m);
		return ret;
	}
	log_info("metrics at http://%s/metrics", metrics_address(m));
	*out = m;
	return 0;
}

/*
 * Started as root (by hand, or by a unit without DynamicUser): once every
 * socket is bound and the key read, become opts->user, so nothing that
 * follows, parsing datagrams from anyone, runs with root's rights. Under
 * the shipped unit it is a transient user already and this does nothing.
 */
static int drop_privileges(const struct options *opts)
{
	const char *name = opts->user ? opts->user : SERVER_DEFAULT_USER;
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	errno = 0;
	pw = getpwnam(name);
	if (!pw) {
		log_error("--user %s: %s", name,
			  errno ? strerror(errno) : "no such user");
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_error("--user %s: that is root; name an unprivileged user",
			  name);
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_error("cannot become user %s: %s", name, strerror(errno));
		return -1;
	}
	/* Paranoia that costs nothing: there is no way back. */
	if (setuid(0) == 0) {
		log_error("still able to become root after dropping to %s", name);
		return -1;
	}
	log_info("running as user %s (uid %u, gid %u)", name,
		 (unsigned int)pw->pw_uid, (unsigned int)pw->pw_gid);
	return 0;
}

/*
 * The running server: a group of workers (server.h), each with its own
 * loop; worker 0 runs on the main thread with the signals and the
 * metrics listener, the others on threads of their own.
 */
struct daemon {
	struct server_group g;
	struct loop *loops;		/* [g.n], made in order (loop.h) */
	const struct server **servers;	/* [g.n], for the metrics */
	pthread_t *threads;		/* [g.n]; [0] unused */
	unsigned int started;		/* threads running, 1.. */
	int ready_fd;			/* threads wait for the sandbox:
					 * a semaphore eventfd */
	atomic_bool go;			/* ... and then run if set */
	int stop_fd;			/* eventfd: readable = stop */
	int failed_fd;			/* eventfd: a worker's loop failed */
	int sfd;			/* signalfd of the main thread */
	struct store *store;		/* --registry; NULL: none */
};

static void daemon_free(struct daemon *d)
{
	unsigned int i;

	for (i = 0; d->loops && i < d->g.n; i++)
		loop_free(&d->loops[i]);
	if (d->store) {
		store_free(d->store);
		free(d->store);
	}
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	if (d->failed_fd >= 0)
		close(d->failed_fd);
	if (d->ready_fd >= 0)
		close(d->ready_fd);
	if (d->sfd >= 0)
		close(d->sfd);
	free(d->loops);
	free(d->servers);
	free(d->threads);
	server_group_free(&d->g);
}

/* Every worker's loop, worker 0 first: that order is each socket's
 * index in its reuseport group, which the steering program returns.
 * Port 0 (any) is what worker 0 was given; the others bind to it. */
static int open_loops(struct daemon *d, const struct options *opts)
{
	unsigned int i;
	int ret;

	for (i = 0; i < d->g.n; i++)
		d->loops[i].fd[PORT_MAIN] = d->loops[i].fd[PORT_PROBE] =
			d->loops[i].epfd = d->loops[i].timerfd = -1;
	for (i = 0; i < d->g.n; i++) {
		memcpy(d->g.srv[i].cfg.port, d->g.srv[0].cfg.port,
		       sizeof(d->g.srv[i].cfg.port));
		ret = loop_init_worker(&d->loops[i], &d->g.srv[i],
				       opts->listen, i, d->g.n);
		if (ret < 0) {
			log_error("cannot listen on %s port %u/%u: %s",
				  opts->listen ? opts->listen : "::",
				  d->g.srv[i].cfg.port[PORT_MAIN],
				  d->g.srv[i].cfg.port[PORT_PROBE],
				  strerror(-ret));
			return ret;
		}
		d->servers[i] = &d->g.srv[i];
	}
	if (d->g.n > 1)
		loop_log_group(&d->loops[0], d->servers, d->g.n);
	return 0;
}

/*
 * --registry: the Redis thread's state, before the loops (which watch
 * its eventfds). A name is resolved now: nothing is looked up once the
 * sandbox is on. Redis itself need not be up yet: the thread keeps
 * trying.
 */
static int open_store(struct daemon *d, const struct options *opts)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned int i;
	int ret;

	if (!opts->registry)
		return 0;
	ret = store_url_resolve(&opts->registry_url, &ss, &len);
	if (ret < 0) {
		log_error("--registry %s: cannot resolve %s: %s",
			  opts->registry, opts->registry_url.host,
			  strerror(-ret));
		return ret;
	}
	d->store = malloc(sizeof(*d->store));
	if (!d->store)
		return -ENOMEM;
	ret = store_init(d->store, &opts->registry_url,
			 (struct sockaddr *)&ss, len, opts->registry, d->g.n,
			 opts->cfg.capacity, &d->g.srv[0].reg);
	if (ret < 0) {
		log_error("--registry %s: cannot set up: %s", opts->registry,
			  strerror(-ret));
		return ret;
	}
	for (i = 0; i < d->g.n; i++) {
		d->g.srv[i].store = d->store;
		d->g.srv[i].store_w = i;
	}
	return 0;
}

static int daemon_init(struct daemon *d, struct options *opts,
		       const uint8_t priv[static WGP_KEY_LEN])
{
	unsigned int n = options_workers(opts);
	int ret;

	memset(d, 0, sizeof(*d));
	d->stop_fd = d->ready_fd = d->failed_fd = d->sfd = -1;
	d->started = 1;
	ret = server_group_init(&d->g, n, &opts->cfg, priv, wgp_mono_ms());
	if (ret < 0) {
		log_error("cannot set up the server (capacity %zu, %u "
			  "workers): %s", opts->cfg.capacity, n,
			  strerror(-ret));
		return ret;
	}
	ret = open_store(d, opts);
	if (ret < 0)
		return ret;
	d->loops = calloc(n, sizeof(*d->loops));
	d->servers = calloc(n, sizeof(*d->servers));
	d->threads = calloc(n, sizeof(*d->threads));
	if (!d->loops || !d->servers || !d->threads) {
		log_error("cannot set up %u workers: out of memory", n);
		return -ENOMEM;
	}
	ret = open_loops(d, opts);
	if (ret < 0)
		return ret;
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->ready_fd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
	d->failed_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->stop_fd < 0 || d->ready_fd < 0 || d->failed_fd < 0) {
		log_error("eventfd: %s", strerror(errno));
		return -errno;
	}
	d->sfd = stop_signals();
	if (d->sfd < 0) {
		log_error("signalfd: %s", strerror(-d->sfd));
		return d->sfd;
	}
	return 0;
}

struct worker_arg {
	struct daemon *d;
	unsigned int i;
};

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct daemon *d = wa->d;
	unsigned int i = wa->i;
	uint64_t one;
	int ret;

	free(wa);
	if (read(d->ready_fd, &one, sizeof(one)) < 0 || !atomic_load(&d->go))
		return NULL;
	ret = loop_run(&d->loops[i], d->stop_fd);
	if (ret < 0) {
		/* The kernel would go on steering this worker's keys to its
		 * sockets, unread: the whole server stops instead (and is
		 * restarted, under systemd). */
		log_error("worker %u: event loop: %s", i, strerror(-ret));
		one = 1;
		if (write(d->failed_fd, &one, sizeof(one)) < 0)
			log_error("worker %u: cannot stop the server: %s", i,
				  strerror(errno));
	}
	return NULL;
}

/*
 * The other workers' threads, made before the seccomp filter (which
 * then needs no clone, rseq or set_robust_list: sandbox_enter puts it on
 * every thread at once) and held on ready_fd until it is on.
 */
static int start_threads(struct daemon *d)
{
	struct worker_arg *wa;
	unsigned int i;
	int ret;

	/* A thread's first allocation, maybe only after the filter is on,
	 * may take a malloc arena of its own. Past 8 arenas glibc asks how
	 * many CPUs there are to cap their number, by a call the filter
	 * forbids (SIGSYS), unless the cap is set: one per thread. */
	mallopt(M_ARENA_MAX, (int)d->g.n + 2);
	if (d->store) {
		ret = store_start(d->store);
		if (ret < 0)
			return ret;
	}
	for (d->started = 1; d->started < d->g.n; d->started++) {
		i = d->started;
		wa = malloc(sizeof(*wa));
		if (!wa)
			return -ENOMEM;
		*wa = (struct worker_arg){ d, i };
		ret = pthread_create(&d->threads[i], NULL, worker_main, wa);
		if (ret) {
			free(wa);
			return -ret;
		}
	}
	return 0;
}

/* Release the threads started, to run if go (the write orders go
 * before their read of it). Then, once the main loop is done, stop and
 * join them. */
static void release_threads(struct daemon *d, bool go)
{
	uint64_t n = d->started - 1;

	atomic_store(&d->go, go);
	if (n && write(d->ready_fd, &n, sizeof(n)) < 0)
		log_error("cannot start the workers: %s", strerror(errno));
}

static void join_threads(struct daemon *d)
{
	uint64_t one = 1;
	unsigned int i;

	if (write(d->stop_fd, &one, sizeof(one)) < 0)
		log_error("cannot stop the workers: %s", strerror(errno));
	for (i = 1; i < d->started; i++)
		pthread_join(d->threads[i], NULL);
	if (d->store)
		store_stop(d->store);
}

static void log_start(const struct daemon *d, const struct options *opts)
{
	const struct server *srv = &d->g.srv[0];
	const struct loop *loop = &d->loops[0];
	char pub[WGP_KEY_B64_SIZE];

	wgp_key_to_base64(pub, srv->pub);
	log_info("public key %s", pub);
	log_info("listening on %s port %u, probe port %u, capacity %zu, "
		 "ttl %u s, %u worker%s%s", opts->listen ? opts->listen : "::",
		 loop->port[PORT_MAIN], loop->port[PORT_PROBE],
		 opts->cfg.capacity, opts->cfg.ttl, d->g.n,
		 d->g.n == 1 ? "" : "s",
		 opts->cfg.legacy ? ", legacy protocol ON (insecure)" : "");
	log_info("limits: %u/s (burst %u) per key, per source (IPv4 address, "
		 "IPv6 /%u) for unauthenticated work, per NOTIFY destination%s; "
		 "%u X25519/s for unknown keys%s", opts->cfg.rate,
		 opts->cfg.burst, srv->rl.prefix6,
		 opts->cfg.rate ? "" : " (no limit)", opts->cfg.dh_rate,
		 opts->cfg.dh_rate ? "" : " (no limit)");
	if (relay_enabled(&srv->relay))
		log_relay_config(&opts->cfg.relay, srv->relay.n_allocs);
	if (d->store)
		log_info("registry shared through %s (server id %016" PRIx64
			 ")", opts->registry, d->store->id);
}

/* The program's filter, and with --registry what reconnecting to
 * Redis needs besides. */
static int enter_sandbox(const struct daemon *d, const struct options *opts)
{
	int calls[128];

	if (sandbox_wgpunchd_n + sandbox_wgpunchd_store_n > 128)
		return -E2BIG;
	memcpy(calls, sandbox_wgpunchd, sizeof(sandbox_wgpunchd[0]) *
	       sandbox_wgpunchd_n);
	if (d->store)
		memcpy(calls + sandbox_wgpunchd_n, sandbox_wgpunchd_store,
		       sizeof(sandbox_wgpunchd_store[0]) *
		       sandbox_wgpunchd_store_n);
	return sandbox_enter(calls, sandbox_wgpunchd_n +
			     (d->store ? sandbox_wgpunchd_store_n : 0),
			     opts->no_seccomp);
}

static int run(struct options *opts)
{
	uint8_t priv[WGP_KEY_LEN];
	struct metrics *metrics = NULL;
	struct daemon d;
	int ret;

	ret = wgp_key_read_file(priv, opts->key_file);
	if (ret < 0) {
		log_error("%s: %s", opts->key_file,
			  ret == -EINVAL ? "not a WireGuard private key "
			  "(44 base64 characters, as wg genkey writes)" :
			  strerror(-ret));
		return 1;
	}
	check_key_mode(opts->key_file);
	measure_dh_rate(opts);
	ret = daemon_init(&d, opts, priv);
	sodium_memzero(priv, sizeof(priv));
	if (ret < 0) {
		daemon_free(&d);
		return 1;
	}
	log_start(&d, opts);
	ret = start_metrics(opts, &d.loops[0], d.servers, d.g.n, &metrics);
	if (ret < 0) {
		log_error("--metrics %s: cannot listen: %s", opts->metrics_arg,
			  strerror(-ret));
		daemon_free(&d);
		return 1;
	}
	/* Last, once everything is open: nothing after this opens files
	 * or binds sockets (src/common/sandbox.c), and the filter forbids
	 * setuid, so the drop comes first; the threads exist by then
	 * and are held until the filter is on all of them. */
	ret = drop_privileges(opts) < 0 ? -EPERM : start_threads(&d);
	if (ret == 0)
		ret = enter_sandbox(&d, opts);
	release_threads(&d, ret == 0);
	if (ret == 0)
		ret = loop_stop_on(&d.loops[0], d.failed_fd);
	if (ret == 0) {
		ret = loop_run_signals(&d.loops[0], d.sfd);
		if (ret == -ECANCELED)
			log_error("stopping: a worker cannot go on");
		else if (ret < 0)
			log_error("event loop: %s", strerror(-ret));
		else
			log_info("stopping");
	}
	join_threads(&d);
	metrics_stop(metrics);
	daemon_free(&d);
	return ret < 0 ? 1 : 0;
}

int main(int argc, char *argv[])
{
	struct options opts;

	log_init("wgpunchd");
	switch (options_parse(&opts, argc, argv)) {
	case OPTIONS_EXIT_OK:
		return 0;
	case OPTIONS_EXIT_USAGE:
		return 2;
	}
	log_set_level(opts.log_level);
	if (sodium_init() < 0) {
		log_error("libsodium failed to initialise");
		return 1;
	}
	return run(&opts);
}
