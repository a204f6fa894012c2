// SPDX-License-Identifier: MIT
/*
 * The port-mapping worker: one thread that asks the gateway, keeps the
 * mapping renewed and publishes a snapshot for the caller's event loop.
 * The protocols are in portmap_{pcp,natpmp,upnp}.c, the timing rules in
 * portmap_sched.c; this file only sequences them.
 *
 * Locking: the published snapshot and the stop handshake are under
 * pm->lock; everything else belongs to the worker alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "log.h"
#include "portmap_int.h"

#define ROUTE_FILE "/proc/net/route"
#define ROUTE_FILE_MAX (1 << 20)
/* portmap_stop waits this long for the worker, deletion included. */
#define STOP_WAIT_MS 1900

typedef int portmap_request_fn(const struct portmap_req *rq, struct portmap_lease *lease,
			       char *err, size_t errlen);

static const struct {
	enum portmap_proto proto;
	portmap_request_fn *request;
	uint64_t budget_ms;
} protocols[] = {
	{ PORTMAP_PCP, portmap_pcp_request, PORTMAP_PCP_BUDGET_MS },
	{ PORTMAP_NATPMP, portmap_natpmp_request, PORTMAP_NATPMP_BUDGET_MS },
	/* Its own timeouts bound it; the deadline only matters to the others. */
	{ PORTMAP_UPNP, portmap_upnp_request, PORTMAP_UPNP_DISCOVER_MS },
};

struct portmap {
	struct portmap_config cfg;
	pthread_t thread;
	int event_fd;			/* to the caller: the state changed */
	int wake_fd;			/* to the worker: stop */
	atomic_bool stopping;
	atomic_bool keep;		/* leave the mapping to expire */

	pthread_mutex_t lock;
	struct portmap_state state;	/* published */
	bool exited;			/* the worker is done with pm */
	bool orphaned;			/* portmap_stop gave up waiting: the worker frees */

	/* The worker's own. */
	struct portmap_lease lease;
	struct in_addr gateway;
	uint64_t lease_ms;		/* when the lease was last granted */
	uint64_t expires_ms;
	uint64_t next_ms;		/* the next map or renew */
	uint64_t gateway_check_ms;
	unsigned int idle_failures;
	unsigned int renew_failures;
};

const char *portmap_proto_name(enum portmap_proto proto)
{
	switch (proto) {
	case PORTMAP_PCP:
		return "pcp";
	case PORTMAP_NATPMP:
		return "natpmp";
	case PORTMAP_UPNP:
		return "upnp";
	default:
		return "none";
	}
}

const char *portmap_status_name(enum portmap_status state)
{
	switch (state) {
	case PORTMAP_TRYING:
		return "trying";
	case PORTMAP_MAPPED:
		return "mapped";
	case PORTMAP_NONE:
		return "none";
	default:
		return "off";
	}
}

static void pm_log(struct portmap *pm, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pm_log(struct portmap *pm, int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!pm->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pm->cfg.log(pm->cfg.log_arg, level, msg);
}

static bool stopping(struct portmap *pm)
{
	return atomic_load(&pm->stopping);
}

/* Does the caller need to look again? Not for a new expiry alone. */
static bool state_differs(const struct portmap_state *a, const struct portmap_state *b)
{
	return a->state != b->state || a->proto != b->proto ||
	       a->external.sin_addr.s_addr != b->external.sin_addr.s_addr ||
	       a->external.sin_port != b->external.sin_port ||
	       a->gateway.s_addr != b->gateway.s_addr ||
	       strcmp(a->error, b->error);
}

/* Publishes status, the lease when MAPPED, and error ("" for none). */
static void publish(struct portmap *pm, enum portmap_status status, const char *error)
{
	struct portmap_state st = {
		.state = status,
		.gateway = pm->gateway,
	};
	const uint64_t one = 1;
	bool changed;

	if (status == PORTMAP_MAPPED) {
		st.proto = pm->lease.proto;
		st.external = pm->lease.external;
		st.lifetime_s = pm->lease.lifetime_s;
		st.expires_mono_ms = pm->expires_ms;
	}
	snprintf(st.error, sizeof(st.error), "%s", error);

	pthread_mutex_lock(&pm->lock);
	changed = state_differs(&pm->state, &st);
	pm->state = st;
	pthread_mutex_unlock(&pm->lock);
	if (changed && write(pm->event_fd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN (counter full): it is readable anyway. */
	}
}

/* The whole of a small /proc file, NUL-terminated; NULL on failure. */
static char *read_file(const char *path)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0)
		goto fail;
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len - 1 == 0) {
			char *bigger;

			if (cap >= ROUTE_FILE_MAX)
				goto fail;
			bigger = realloc(buf, cap * 2);
			if (!bigger)
				goto fail;
			buf = bigger;
			cap *= 2;
		}
	}
	if (n < 0)
		goto fail;
	buf[len] = '\0';
	close(fd);
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/* The gateway to ask: the configured one, or the default route's. */
static int find_gateway(struct portmap *pm, struct in_addr *gw)
{
	char *text;
	int ret;

	if (pm->cfg.gateway.s_addr) {
		*gw = pm->cfg.gateway;
		return 0;
	}
	text = read_file(ROUTE_FILE);
	if (!text)
		return errno ? -errno : -EIO;
	ret = portmap_route_parse(text, gw);
	free(text);
	return ret;
}

static struct portmap_req make_req(struct portmap *pm, uint32_t lifetime_s,
				   uint64_t budget_ms, int cancel_fd)
{
	struct portmap_req rq = {
		.gateway = pm->gateway,
		.internal_port = pm->cfg.internal_port,
		.lifetime_s = lifetime_s,
		.fwmark = pm->cfg.fwmark,
		.deadline_ms = portmap_now_ms() + budget_ms,
		.cancel_fd = cancel_fd,
	};

	return rq;
}

static void take_lease(struct portmap *pm, const struct portmap_lease *lease, uint64_t now)
{
	pm->lease = *lease;
	pm->lease_ms = now;
	pm->expires_ms = now + (uint64_t)lease->lifetime_s * 1000;
	pm->next_ms = portmap_renew_at(now, lease->lifetime_s);
	pm->renew_failures = 0;
	pm->idle_failures = 0;
}

static void append_error(char *all, size_t size, const char *err)
{
	size_t len = strlen(all);

	if (len + 1 < size)
		snprintf(all + len, size - len, "%s%s", len ? "; " : "", err);
}

/* One protocol of a round: 0 and the lease taken, or -errno and err. */
static int try_protocol(struct portmap *pm, size_t i, bool pcp_silent, char *err, size_t errlen)
{
	struct portmap_lease lease = { 0 };
	uint64_t budget = protocols[i].budget_ms, t0 = portmap_now_ms();
	struct portmap_req rq;
	char addr[INET_ADDRSTRLEN];
	int ret;

	if (protocols[i].proto == PORTMAP_NATPMP && pcp_silent)
		budget = PORTMAP_NATPMP_SHORT_BUDGET_MS;
	rq = make_req(pm, pm->cfg.lifetime_s, budget, pm->wake_fd);
	ret = protocols[i].request(&rq, &lease, err, errlen);
	if (ret) {
		pm_log(pm, LOG_LEVEL_DEBUG, "portmap: %s (%llu ms)", err,
		       (unsigned long long)(portmap_now_ms() - t0));
		return ret;
	}
	take_lease(pm, &lease, portmap_now_ms());
	pm_log(pm, LOG_LEVEL_INFO, "portmap: %s mapped port %u to %s:%u for %u s (%llu ms)",
	       portmap_proto_name(lease.proto), pm->cfg.internal_port,
	       portmap_addr_str(lease.external.sin_addr, addr),
	       ntohs(lease.external.sin_port), lease.lifetime_s,
	       (unsigned long long)(portmap_now_ms() - t0));
	return 0;
}

/* Asks with each protocol in turn until one maps. */
static void map_round(struct portmap *pm)
{
	char errors[512] = "", err[128], addr[INET_ADDRSTRLEN];
	bool pcp_silent = false;
	struct in_addr gw;

	if (find_gateway(pm, &gw)) {
		pm->gateway.s_addr = 0;
		snprintf(errors, sizeof(errors), "no default IPv4 gateway to ask");
		goto none;
	}
	pm->gateway = gw;
	pm_log(pm, LOG_LEVEL_DEBUG, "portmap: asking %s", portmap_addr_str(gw, addr));
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
		int ret;

		if (!(pm->cfg.protos & protocols[i].proto))
			continue;
		if (stopping(pm))
			return;
		ret = try_protocol(pm, i, pcp_silent, err, sizeof(err));
		if (ret == 0) {
			publish(pm, PORTMAP_MAPPED, "");
			return;
		}
		if (ret == -ECANCELED)
			return;
		if (protocols[i].proto == PORTMAP_PCP && ret == -ETIMEDOUT)
			pcp_silent = true;
		append_error(errors, sizeof(errors), err);
	}
	if (stopping(pm))
		return;
none:
	pm->idle_failures++;
	pm->next_ms = portmap_now_ms() + portmap_idle_retry_ms(pm->idle_failures);
	pm_log(pm, LOG_LEVEL_INFO, "portmap: no mapping: %s; next try in %llu s", errors,
	       (unsigned long long)portmap_idle_retry_ms(pm->idle_failures) / 1000);
	publish(pm, PORTMAP_NONE, errors);
}

static size_t protocol_index(enum portmap_proto proto)
{
	size_t i;

	for (i = 0; i < sizeof(protocols) / sizeof(protocols[0]) - 1; i++) {
		if (protocols[i].proto == proto)
			break;
	}
	return i;
}

/* The gateway answered a renewal: did it restart in between? */
static void renewed(struct portmap *pm, const struct portmap_lease *lease, uint64_t now)
{
	bool restarted = pm->lease.has_epoch && lease->has_epoch &&
			 !portmap_epoch_ok(pm->lease.epoch, pm->lease_ms, lease->epoch, now);

	/*
	 * A restarted gateway lost our mapping; the renewal it just
	 * answered made it again, maybe with another external port, which
	 * publish() tells the caller about.
	 */
	if (restarted)
		pm_log(pm, LOG_LEVEL_INFO,
		       "portmap: the gateway restarted (epoch %u after %u): mapped again",
		       lease->epoch, pm->lease.epoch);
	take_lease(pm, lease, now);
	publish(pm, PORTMAP_MAPPED, "");
}

static void renew(struct portmap *pm)
{
	size_t i = protocol_index(pm->lease.proto);
	struct portmap_lease lease = pm->lease;
	char err[128], error[160];
	struct portmap_req rq;
	uint64_t now;
	int ret;

	rq = make_req(pm, pm->cfg.lifetime_s, protocols[i].budget_ms, pm->wake_fd);
	ret = protocols[i].request(&rq, &lease, err, sizeof(err));
	now = portmap_now_ms();
	if (ret == 0) {
		renewed(pm, &lease, now);
		return;
	}
	if (ret == -ECANCELED)
		return;
	pm->renew_failures++;
	if (now >= pm->expires_ms) {
		pm_log(pm, LOG_LEVEL_INFO, "portmap: mapping lost: %s", err);
		snprintf(error, sizeof(error), "mapping expired: %s", err);
		memset(&pm->lease, 0, sizeof(pm->lease));
		pm->next_ms = now;
		publish(pm, PORTMAP_TRYING, error);
		return;
	}
	pm->next_ms = portmap_renew_retry_at(now, pm->expires_ms, pm->renew_failures);
	pm_log(pm, LOG_LEVEL_DEBUG, "portmap: renewal failed: %s; again in %llu ms", err,
	       (unsigned long long)(pm->next_ms - now));
	snprintf(error, sizeof(error), "renewal failed: %s", err);
	publish(pm, PORTMAP_MAPPED, error);
}

/* A new default gateway: what we hold is at the old one; start over. */
static void check_gateway(struct portmap *pm, uint64_t now)
{
	struct in_addr gw = { 0 };
	char addr[INET_ADDRSTRLEN];

	pm->gateway_check_ms = now + PORTMAP_GATEWAY_CHECK_MS;
	if (find_gateway(pm, &gw))
		gw.s_addr = 0;
	if (gw.s_addr == pm->gateway.s_addr)
		return;
	pm_log(pm, LOG_LEVEL_INFO, "portmap: the default gateway is now %s",
	       gw.s_addr ? portmap_addr_str(gw, addr) : "none");
	memset(&pm->lease, 0, sizeof(pm->lease));
	pm->idle_failures = 0;
	pm->next_ms = now;
	publish(pm, PORTMAP_TRYING, "");
}

static void delete_lease(struct portmap *pm)
{
	size_t i = protocol_index(pm->lease.proto);
	struct portmap_req rq;
	char err[128];

	rq = make_req(pm, 0, PORTMAP_DELETE_BUDGET_MS, -1);
	if (protocols[i].request(&rq, &pm->lease, err, sizeof(err)))
		pm_log(pm, LOG_LEVEL_INFO, "portmap: deleting the mapping: %s", err);
	else
		pm_log(pm, LOG_LEVEL_DEBUG, "portmap: %s mapping deleted",
		       portmap_proto_name(pm->lease.proto));
	memset(&pm->lease, 0, sizeof(pm->lease));
}

static void destroy(struct portmap *pm)
{
	close(pm->event_fd);
	close(pm->wake_fd);
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

static void *worker(void *arg)
{
	struct portmap *pm = arg;
	uint64_t now = portmap_now_ms();

	pm->next_ms = now;
	pm->gateway_check_ms = now + PORTMAP_GATEWAY_CHECK_MS;
	publish(pm, PORTMAP_TRYING, "");
	while (!stopping(pm)) {
		uint64_t until;

		now = portmap_now_ms();
		if (!pm->cfg.gateway.s_addr && now >= pm->gateway_check_ms)
			check_gateway(pm, now);
		if (now >= pm->next_ms) {
			if (pm->lease.proto)
				renew(pm);
			else
				map_round(pm);
			continue;
		}
		until = pm->next_ms;
		if (!pm->cfg.gateway.s_addr && pm->gateway_check_ms < until)
			until = pm->gateway_check_ms;
		portmap_wait(pm->wake_fd, -1, until);
	}
	if (pm->lease.proto && !atomic_load(&pm->keep))
		delete_lease(pm);

	pthread_mutex_lock(&pm->lock);
	if (pm->orphaned) {
		pthread_mutex_unlock(&pm->lock);
		destroy(pm);
		return NULL;
	}
	pm->exited = true;
	pthread_mutex_unlock(&pm->lock);
	return NULL;
}

static int check_config(const struct portmap_config *cfg)
{
	if (!cfg->internal_port)
		return -EINVAL;
	if (!cfg->protos || (cfg->protos & ~(unsigned int)PORTMAP_ALL))
		return -EINVAL;
	return 0;
}

/* The worker takes no signals: the caller's signalfd gets them all. */
static int start_thread(struct portmap *pm)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&pm->thread, NULL, worker, pm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -ret;
}

int portmap_start(struct portmap **out, const struct portmap_config *cfg)
{
	struct portmap *pm;
	int ret = check_config(cfg);

	if (ret)
		return ret;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	pm->cfg = *cfg;
	if (!pm->cfg.lifetime_s)
		pm->cfg.lifetime_s = PORTMAP_DEFAULT_LIFETIME;
	pm->state.state = PORTMAP_TRYING;
	atomic_init(&pm->stopping, false);
	atomic_init(&pm->keep, false);
	pm->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pm->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pm->event_fd < 0 || pm->wake_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_mutex_init(&pm->lock, NULL);
	if (ret)
		goto fail;
	ret = start_thread(pm);
	if (ret) {
		pthread_mutex_destroy(&pm->lock);
		goto fail;
	}
	*out = pm;
	return 0;
fail:
	if (pm->event_fd >= 0)
		close(pm->event_fd);
	if (pm->wake_fd >= 0)
		close(pm->wake_fd);
	free(pm);
	return ret;
}

int portmap_fd(const struct portmap *pm)
{
	return pm->event_fd;
}

void portmap_get(struct portmap *pm, struct portmap_state *out)
{
	uint64_t count;

	if (read(pm->event_fd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing new, the snapshot is still the answer. */
	}
	pthread_mutex_lock(&pm->lock);
	*out = pm->state;
	pthread_mutex_unlock(&pm->lock);
}

static struct timespec realtime_after_ms(unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static void end(struct portmap *pm, bool keep)
{
	const uint64_t one = 1;
	struct timespec until;
	pthread_t thread;

	if (!pm)
		return;
	atomic_store(&pm->keep, keep);
	atomic_store(&pm->stopping, true);
	if (write(pm->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: already woken. */
	}
	until = realtime_after_ms(STOP_WAIT_MS);
	if (pthread_timedjoin_np(pm->thread, NULL, &until) == 0) {
		destroy(pm);
		return;
	}
	/*
	 * The worker is inside a call we cannot interrupt (UPnP's HTTP):
	 * leave it to finish, delete and free on its own.
	 */
	pthread_mutex_lock(&pm->lock);
	thread = pm->thread;
	if (pm->exited) {
		pthread_mutex_unlock(&pm->lock);
		pthread_join(thread, NULL);
		destroy(pm);
		return;
	}
	pm->orphaned = true;
	pthread_mutex_unlock(&pm->lock);
	pthread_detach(thread);
}

void portmap_stop(struct portmap *pm)
{
	end(pm, false);
}

void portmap_release(struct portmap *pm)
{
	end(pm, true);
}
