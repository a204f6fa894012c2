// SPDX-License-Identifier: MIT
/*
 * wgpunchd — Prometheus metrics over HTTP (see metrics.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "store.h"

#define METRICS_PATH		"/metrics"
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_ADDRSTRLEN	(INET6_ADDRSTRLEN + 8)	/* [addr]:port */

struct metrics {
	struct MHD_Daemon *daemon;
	int epfd;
	const struct server *const *srv;
	size_t n;
	char address[METRICS_ADDRSTRLEN];
	char body[METRICS_BODY_MAX];
};

/* ---- summing ------------------------------------------------------- */

/* Every field below (and in server_stats_add) is summed by name; a new
 * counter must be added there too, or this fails to compile. */
_Static_assert(sizeof(struct relay_stats) == 14 * sizeof(uint64_t),
	       "relay_stats changed: update metrics_sum_relay_stats");

void metrics_sum_server_stats(struct server_stats *sum,
			      const struct server_stats *const stats[],
			      size_t n)
{
	size_t i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < n; i++)
		server_stats_add(sum, stats[i]);
}

SERVER_RACY_READER
void metrics_sum_relay_stats(struct relay_stats *sum,
			     const struct relay_stats *const stats[], size_t n)
{
	size_t i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < n; i++) {
		const struct relay_stats *s = stats[i];

		sum->grants += s->grants;
		sum->created += s->created;
		sum->expired += s->expired;
		sum->full += s->full;
		sum->binds_ok += s->binds_ok;
		sum->binds_bad += s->binds_bad;
		sum->fwd_packets += s->fwd_packets;
		sum->fwd_bytes += s->fwd_bytes;
		sum->drop_unbound += s->drop_unbound;
		sum->drop_peer_unbound += s->drop_peer_unbound;
		sum->drop_rate += s->drop_rate;
		sum->drop_bind_rate += s->drop_bind_rate;
		sum->drop_free += s->drop_free;
		sum->tx_dropped += s->tx_dropped;
	}
}

/* The gauges: what the workers hold now. Each worker has its own
 * tables and budgets, so these add up too. */
struct gauges {
	uint64_t registered, capacity;
	uint64_t relay_live, relay_max;
	uint64_t dh_tokens, dh_rate;
	bool dh_limited;	/* some worker has a budget at all */
	bool under_load;	/* some worker is */
	uint64_t start_ns;	/* the earliest start */
};

/* The budget's tokens at now, from a copy: a scrape changes nothing. */
static uint64_t dh_tokens(const struct server *srv, uint64_t now)
{
	struct token_bucket tb = srv->dh;

	token_bucket_low(&tb, now);
	return tb.tokens / 1000;
}

SERVER_RACY_READER
static void gauges_read(struct gauges *g, const struct server *const srv[],
			size_t n, uint64_t now)
{
	size_t i;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < n; i++) {
		const struct server *s = srv[i];

		g->registered += s->reg.live;
		g->capacity += s->reg.capacity;
		g->relay_live += s->relay.live;
		g->relay_max += s->relay.n_allocs;
		/* A group of workers (--workers) shares one budget:
		 * counted once, with the first of them. */
		if (s->shared_dh && i == 0 && s->cfg.dh_rate) {
			g->dh_rate += s->cfg.dh_rate;
			g->dh_tokens += atomic_bucket_tokens(s->shared_dh, now);
			g->dh_limited = true;
		} else if (!s->shared_dh && s->cfg.dh_rate) {
			g->dh_rate += s->cfg.dh_rate;
			g->dh_tokens += dh_tokens(s, now);
			g->dh_limited = true;
		}
		if (now < s->load_until)
			g->under_load = true;
		if (!g->start_ns || s->start_ns < g->start_ns)
			g->start_ns = s->start_ns;
	}
}

/* ---- text exposition format 0.0.4 ----------------------------------- */

struct text {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->overflow = true;
		return;
	}
	t->len += (size_t)n;
}

static void family(struct text *t, const char *name, const char *type,
		   const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct text *t, const char *name, const char *help,
		    uint64_t v)
{
	family(t, name, "counter", help);
	put(t, "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct text *t, const char *name, const char *help,
		  uint64_t v)
{
	family(t, name, "gauge", help);
	put(t, "%s %" PRIu64 "\n", name, v);
}

/* One sample of a family per label value. */
struct labelled {
	const char *value;
	uint64_t v;
};

static void counters(struct text *t, const char *name, const char *help,
		     const char *label, const struct labelled *s, size_t n)
{
	size_t i;

	family(t, name, "counter", help);
	for (i = 0; i < n; i++)
		put(t, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, s[i].value,
		    s[i].v);
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void render_requests(struct text *t, const struct server_stats *s)
{
	const struct labelled requests[] = {
		{ "register", s->registers },
		{ "lookup", s->lookups },
		{ "probe", s->probes },
		{ "relay", s->relays },
	};
	const struct labelled dropped[] = {
		{ "bad", s->bad },
		{ "ratelimited", s->ratelimited },
		{ "key_limited", s->key_limited },
		{ "notify_limited", s->notify_limited },
		{ "forged", s->forged },
		{ "dh_budget", s->dh_dropped },
		{ "shed", s->shed },
		{ "replay", s->replayed },
		{ "full", s->full },
		{ "tx", s->tx_dropped },
	};

	counter(t, "wgpunchd_rx_datagrams_total",
		"Datagrams received on the rendezvous and probe ports.", s->rx);
	counters(t, "wgpunchd_requests_total",
		 "Authenticated requests answered, by type.", "type",
		 requests, ARRAY_SIZE(requests));
	counter(t, "wgpunchd_legacy_requests_total",
		"Requests of the legacy (contrib nat-punch) protocol answered.",
		s->legacy);
	counter(t, "wgpunchd_notifies_total", "NOTIFYs sent.", s->notifies);
	counter(t, "wgpunchd_errors_total",
		"ERROR replies sent (stale counter, clock, registry or "
		"consent pool full, ...).", s->errors);
	counters(t, "wgpunchd_dropped_total",
		 "Datagrams and messages not answered or not sent, by reason.",
		 "reason", dropped, ARRAY_SIZE(dropped));
	counter(t, "wgpunchd_x25519_total",
		"X25519 key agreements done for keys without a session.", s->dh);
	counter(t, "wgpunchd_cookies_sent_total",
		"COOKIEs sent to unknown keys under load.", s->cookies);
	counter(t, "wgpunchd_cookies_valid_total",
		"Requests whose cookie proved their source address.",
		s->cookie_ok);
}

static void render_state(struct text *t, const struct gauges *g)
{
	gauge(t, "wgpunchd_registered", "Live registrations.", g->registered);
	gauge(t, "wgpunchd_capacity", "Registrations held at most (--capacity).",
	      g->capacity);
	gauge(t, "wgpunchd_dh_budget_rate",
	      "X25519 per second allowed for unknown keys (--dh-rate); "
	      "0: no limit.", g->dh_rate);
	family(t, "wgpunchd_dh_budget_tokens", "gauge",
	       "X25519 key agreements the budget allows right now "
	       "(no sample without a limit).");
	if (g->dh_limited)
		put(t, "wgpunchd_dh_budget_tokens %" PRIu64 "\n", g->dh_tokens);
	gauge(t, "wgpunchd_under_load",
	      "1 while unknown keys must prove their address with a cookie.",
	      g->under_load);
	family(t, "wgpunchd_start_time_seconds", "gauge",
	       "Start time of the server since the Unix epoch.");
	put(t, "wgpunchd_start_time_seconds %" PRIu64 ".%03u\n",
	    g->start_ns / 1000000000,
	    (unsigned int)(g->start_ns % 1000000000 / 1000000));
}

static void render_relay(struct text *t, const struct relay_stats *r,
			 const struct gauges *g)
{
	const struct labelled dropped[] = {
		{ "unbound", r->drop_unbound },
		{ "peer_unbound", r->drop_peer_unbound },
		{ "rate", r->drop_rate },
		{ "bind_rate", r->drop_bind_rate },
		{ "no_allocation", r->drop_free },
		{ "tx", r->tx_dropped },
	};

	gauge(t, "wgpunchd_relay_allocations", "Live relay allocations.",
	      g->relay_live);
	gauge(t, "wgpunchd_relay_allocations_max",
	      "Relay allocations the port range holds (0: no relay).",
	      g->relay_max);
	counter(t, "wgpunchd_relay_grants_total",
		"RELAY requests granted an allocation, new or repeated.",
		r->grants);
	counter(t, "wgpunchd_relay_full_total",
		"RELAY requests refused: no free allocation, or the key's "
		"limit reached.", r->full);
	counter(t, "wgpunchd_relay_forwarded_packets_total",
		"Datagrams forwarded by the relay.", r->fwd_packets);
	counter(t, "wgpunchd_relay_forwarded_bytes_total",
		"Bytes forwarded by the relay (UDP payload).", r->fwd_bytes);
	counters(t, "wgpunchd_relay_dropped_total",
		 "Datagrams on relay ports not forwarded, by reason.",
		 "reason", dropped, ARRAY_SIZE(dropped));
}

/* --registry: the Redis thread's counters (store.h). */
SERVER_RACY_READER
static void render_store(struct text *t, const struct store *st)
{
	struct store_stats s;

	store_stats_read(st, &s);
	gauge(t, "wgpunchd_registry_connected",
	      "1 while the shared registry's Redis is connected.",
	      st->state == STORE_UP);
	gauge(t, "wgpunchd_registry_cached",
	      "Other servers' registrations in the cache.", st->cache.live);
	counter(t, "wgpunchd_registry_written_total",
		"Registrations written to Redis.", s.written);
	counter(t, "wgpunchd_registry_dropped_total",
		"Writes and NOTIFYs dropped: Redis away or behind.",
		s.dropped);
	counter(t, "wgpunchd_registry_received_total",
		"Other servers' registrations taken into the cache.", s.cached);
	counter(t, "wgpunchd_registry_cache_full_total",
		"Other servers' registrations not cached: cache full.",
		s.cache_full);
	counter(t, "wgpunchd_registry_notifies_out_total",
		"NOTIFYs asked of other servers.", s.notify_out);
	counter(t, "wgpunchd_registry_notifies_in_total",
		"NOTIFYs other servers asked of this one.", s.notify_in);
	counter(t, "wgpunchd_registry_bad_total",
		"Records or replies from Redis that did not parse.", s.bad);
	counter(t, "wgpunchd_registry_connects_total",
		"Connections to Redis made.", s.connects);
}

int metrics_render(char *buf, size_t cap, const struct server *const srv[],
		   size_t n, uint64_t now)
{
	const struct server_stats *st[METRICS_MAX_WORKERS] = { NULL };
	const struct relay_stats *rst[METRICS_MAX_WORKERS] = { NULL };
	struct server_stats sum;
	struct relay_stats rsum;
	struct gauges g;
	struct text t = { .buf = buf, .cap = cap };
	size_t i;

	if (n > METRICS_MAX_WORKERS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		st[i] = &srv[i]->st;
		rst[i] = &srv[i]->relay.st;
	}
	metrics_sum_server_stats(&sum, st, n);
	metrics_sum_relay_stats(&rsum, rst, n);
	gauges_read(&g, srv, n, now);
	render_requests(&t, &sum);
	render_state(&t, &g);
	render_relay(&t, &rsum, &g);
	if (n && srv[0]->store)
		render_store(&t, srv[0]->store);
	if (t.overflow || !cap)
		return -ENOSPC;
	return (int)t.len;
}

/* ---- HTTP ------------------------------------------------------------ */

static struct MHD_Response *response_copy(const char *body, size_t len)
{
#if MHD_VERSION >= 0x00097701
	return MHD_create_response_from_buffer_copy(len, body);
#else
	return MHD_create_response_from_buffer(len, (void *)body,
					       MHD_RESPMEM_MUST_COPY);
#endif
}

static enum MHD_Result respond(struct MHD_Connection *conn,
			       unsigned int status, const char *type,
			       const char *body, size_t len)
{
	struct MHD_Response *r = response_copy(body, len);
	enum MHD_Result ret = MHD_NO;

	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				    type) == MHD_YES &&
	    (status != MHD_HTTP_METHOD_NOT_ALLOWED ||
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
				     "GET, HEAD") == MHD_YES))
		ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn,
				    unsigned int status, const char *text)
{
	return respond(conn, status, "text/plain; charset=utf-8", text,
		       strlen(text));
}

static enum MHD_Result respond_metrics(struct metrics *m,
				       struct MHD_Connection *conn)
{
	int len = metrics_render(m->body, sizeof(m->body), m->srv, m->n,
				 wgp_mono_ms());

	if (len < 0) {
		log_error("metrics: cannot render: %s", strerror(-len));
		return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "cannot render the metrics\n");
	}
	return respond(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, m->body,
		       (size_t)len);
}

/*
 * Called once the request's headers are in. The answer is queued at
 * once, whatever the method: a body sent with it is not wanted, and
 * MHD discards it (closing the connection if need be).
 */
static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	struct metrics *m = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(url, METRICS_PATH))
		return respond_text(conn, MHD_HTTP_NOT_FOUND,
				    "not found: the metrics are at "
				    METRICS_PATH "\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "only GET and HEAD\n");
	return respond_metrics(m, conn);
}

/* MHD's own complaints (a malformed request, a refused connection):
 * the scraper's problem, not the operator's, so debug. */
static void __attribute__((format(printf, 2, 0)))
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t len;

	(void)cls;
	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	if (len && msg[len - 1] == '\n')
		msg[len - 1] = '\0';
	log_debug("metrics: %s", msg);
}

/* ---- listener ---------------------------------------------------------- */

/* Bound here, not by MHD, so a failure has an errno to report. */
static int listen_socket(const struct sockaddr *addr, socklen_t len)
{
	int fd, one = 1, ret;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	/* A restart must not wait for the last scrape's TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, addr, len) < 0 ||
	    listen(fd, METRICS_MAX_CONNECTIONS) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int format_address(char *out, size_t cap, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	const void *a;
	unsigned int port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6) {
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		a = &((struct sockaddr_in *)&ss)->sin_addr;
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	if (!inet_ntop(ss.ss_family, a, host, sizeof(host)))
		return -errno;
	snprintf(out, cap, ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 host, port);
	return 0;
}

/*
 * No thread of MHD's own (no MHD_USE_INTERNAL_POLLING_THREAD): MHD_run
 * is called by the loop. MHD_USE_EPOLL gives one descriptor for the
 * listener and every connection.
 */
static struct MHD_Daemon *start_daemon(struct metrics *m, int fd)
{
	return MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
				NULL, NULL, answer, m,
				MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_CONNECTION_LIMIT,
				(unsigned int)METRICS_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned int)METRICS_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				(size_t)METRICS_MEMORY_LIMIT,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
}

int metrics_start(struct metrics **out, const struct sockaddr *addr,
		  socklen_t len, const struct server *const srv[], size_t n)
{
	const union MHD_DaemonInfo *info;
	struct metrics *m;
	int fd, ret;

	if (n > METRICS_MAX_WORKERS)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->srv = srv;
	m->n = n;
	fd = listen_socket(addr, len);
	if (fd < 0) {
		free(m);
		return fd;
	}
	ret = format_address(m->address, sizeof(m->address), fd);
	if (ret < 0) {
		close(fd);
		free(m);
		return ret;
	}
	m->daemon = start_daemon(m, fd);
	if (!m->daemon) {
		/* MHD may or may not have closed fd on its way out; a
		 * leaked descriptor on a path that exits beats closing
		 * someone else's. */
		free(m);
		return -EIO;
	}
	/* Owned by the daemon from here (MHD_stop_daemon closes it). */
	info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		metrics_stop(m);
		return -EIO;
	}
	m->epfd = info->epoll_fd;
	*out = m;
	return 0;
}

int metrics_fd(const struct metrics *m)
{
	return m->epfd;
}

const char *metrics_address(const struct metrics *m)
{
	return m->address;
}

/*
 * MHD watches connections edge-triggered: one it has more work for (the
 * rest of a response, a pipelined request) is not signalled again, and
 * MHD says so with a timeout of 0. A few rounds finish any scrape; a
 * client that keeps MHD busy beyond that waits for the next event or
 * the next tick, and the UDP sockets get their turn meanwhile.
 */
void metrics_run(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG timeout;
	int round;

	for (round = 0; round < 4; round++) {
		MHD_run(m->daemon);
		if (MHD_get_timeout(m->daemon, &timeout) != MHD_YES ||
		    timeout != 0)
			break;
	}
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	if (m->daemon)
		MHD_stop_daemon(m->daemon);
	free(m);
}
