// SPDX-License-Identifier: MIT
/*
 * wgpunchd — rendezvous server for WireGuard UDP hole punching.
 * Reads its options and key, opens the sockets, and runs the loop until
 * SIGTERM or SIGINT (taken through a signalfd, so the loop never runs
 * handlers at odd moments). SIGHUP is logged and survived.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "options.h"
#include "sandbox.h"

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

/* Without --dh-rate, the X25519 budget for unknown keys is half of
 * what this machine measures now (doc/wgpunchd.8). */
static void measure_dh_rate(struct options *opts)
{
	uint32_t measured;

	if (opts->dh_rate_set)
		return;
	measured = server_measure_dh_rate(SERVER_DH_MEASURE_N);
	opts->cfg.dh_rate = measured / 2 ? measured / 2 : 1;
	log_info("measured %u X25519/s: --dh-rate %u (half); above half of it "
		 "in use, unknown keys must prove their address (cookies)",
		 measured, opts->cfg.dh_rate);
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

static int run(struct options *opts)
{
	char pub[WGP_KEY_B64_SIZE];
	uint8_t priv[WGP_KEY_LEN];
	struct server srv;
	const struct server *const workers[] = { &srv };
	struct metrics *metrics;
	struct loop loop;
	int ret, sfd;

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
	ret = server_init(&srv, &opts->cfg, priv, wgp_mono_ms());
	sodium_memzero(priv, sizeof(priv));
	if (ret < 0) {
		log_error("cannot set up the server (capacity %zu): %s",
			  opts->cfg.capacity, strerror(-ret));
		return 1;
	}
	ret = loop_init(&loop, &srv, opts->listen);
	if (ret < 0) {
		log_error("cannot listen on %s port %u/%u: %s",
			  opts->listen ? opts->listen : "::",
			  opts->cfg.port[PORT_MAIN], opts->cfg.port[PORT_PROBE],
			  strerror(-ret));
		server_free(&srv);
		return 1;
	}
	sfd = stop_signals();
	if (sfd < 0) {
		log_error("signalfd: %s", strerror(-sfd));
		loop_free(&loop);
		server_free(&srv);
		return 1;
	}
	wgp_key_to_base64(pub, srv.pub);
	log_info("public key %s", pub);
	log_info("listening on %s port %u, probe port %u, capacity %zu, "
		 "ttl %u s%s", opts->listen ? opts->listen : "::",
		 loop.port[PORT_MAIN], loop.port[PORT_PROBE],
		 opts->cfg.capacity, opts->cfg.ttl,
		 opts->cfg.legacy ? ", legacy protocol ON (insecure)" : "");
	log_info("limits: %u/s (burst %u) per key, per source (IPv4 address, "
		 "IPv6 /%u) for unauthenticated work, per NOTIFY destination%s; "
		 "%u X25519/s for unknown keys%s", opts->cfg.rate,
		 opts->cfg.burst, srv.rl.prefix6,
		 opts->cfg.rate ? "" : " (no limit)", opts->cfg.dh_rate,
		 opts->cfg.dh_rate ? "" : " (no limit)");
	if (relay_enabled(&srv.relay))
		log_relay_config(&opts->cfg.relay, srv.relay.n_allocs);
	ret = start_metrics(opts, &loop, workers, 1, &metrics);
	if (ret < 0) {
		log_error("--metrics %s: cannot listen: %s", opts->metrics_arg,
			  strerror(-ret));
		close(sfd);
		loop_free(&loop);
		server_free(&srv);
		return 1;
	}
	/* Last, once everything is open: nothing after this opens files
	 * or binds sockets (src/common/sandbox.c), and the filter forbids
	 * setuid, so the drop comes first. */
	if (drop_privileges(opts) < 0 ||
	    sandbox_enter(sandbox_wgpunchd, sandbox_wgpunchd_n,
			  opts->no_seccomp) < 0) {
		metrics_stop(metrics);
		close(sfd);
		loop_free(&loop);
		server_free(&srv);
		return 1;
	}
	ret = loop_run_signals(&loop, sfd);
	if (ret < 0)
		log_error("event loop: %s", strerror(-ret));
	else
		log_info("stopping");
	metrics_stop(metrics);
	close(sfd);
	loop_free(&loop);
	server_free(&srv);
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
