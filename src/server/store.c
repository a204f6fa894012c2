// SPDX-License-Identifier: MIT
/*
 * wgpunchd — the Redis thread (store.h): its life, its connections'
 * life, and the workers' side of the rings. What it says to Redis and
 * makes of the answers is store_redis.c.
 *
 * Two connections: cmd writes registrations, publishes, and reads the
 * registry back after every (re)connection (SCAN + HMGET); sub is
 * subscribed to the registrations channel and to this server's NOTIFY
 * channel. Any error on either closes both; the thread keeps serving
 * the cache meanwhile, says so once, and reconnects with a backoff
 * from STORE_BACKOFF_MIN_MS doubling to STORE_BACKOFF_MAX_MS.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "store_int.h"

/* ---- the workers' side --------------------------------------------- */

struct store_msg *store_reserve(struct store *s, unsigned int w)
{
	struct store_msg *m = ring_reserve(&s->w[w].out);

	if (!m)
		s->w[w].dropped_full++;
	return m;
}

void store_commit(struct store *s, unsigned int w)
{
	ring_commit(&s->w[w].out);
	s->w[w].queued = true;
}

void store_kick(struct store *s, unsigned int w)
{
	uint64_t one = 1;

	if (!s->w[w].queued)
		return;
	s->w[w].queued = false;
	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("registry: cannot wake the Redis thread: %s",
			  strerror(errno));
}

const struct store_msg *store_next_notify(struct store *s, unsigned int w)
{
	return ring_peek(&s->w[w].in);
}

void store_release(struct store *s, unsigned int w)
{
	ring_release(&s->w[w].in);
}

__attribute__((no_sanitize_thread))
void store_stats_read(const struct store *s, struct store_stats *out)
{
	unsigned int i;

	*out = s->st;
	for (i = 0; i < s->n; i++)
		out->dropped += s->w[i].dropped_full;
}

/* ---- the connection's life ------------------------------------------- */

void store_go_down(struct store *s, const char *what, int err)
{
	uint64_t now = wgp_mono_ms();

	if (!s->down_logged)
		log_warn("registry %s: %s: %s; serving from the cache and "
			    "retrying", s->name, what, strerror(-err));
	else
		log_debug("registry %s: %s: %s", s->name, what, strerror(-err));
	s->down_logged = true;
	store_conn_close(&s->cmd);
	store_conn_close(&s->sub);
	s->owed_head = s->owed_n = 0;
	s->state = STORE_DOWN;
	s->retry_at = now + s->backoff;
	s->backoff = s->backoff * 2 > STORE_BACKOFF_MAX_MS ?
		     STORE_BACKOFF_MAX_MS : s->backoff * 2;
}

/* Connect both, and queue what each says first: cmd selects the
 * database, sub subscribes (and then cmd reads the registry back). */
static void connect_both(struct store *s)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->addr;
	const char *sub[] = { "SUBSCRIBE", s->reg_channel, s->own_channel };
	size_t sub_len[] = { 9, strlen(s->reg_channel),
			     strlen(s->own_channel) };
	char db[16];
	const char *select[] = { "SELECT", db };
	size_t select_len[] = { 6, 0 };
	int ret;

	select_len[1] = (size_t)snprintf(db, sizeof(db), "%u", s->url.db);
	s->state = STORE_CONNECTING;
	s->state_since = s->last_reply = wgp_mono_ms();
	s->sub_pings = 0;
	ret = store_conn_open(&s->cmd, sa, s->addr_len);
	if (ret == 0)
		ret = store_conn_open(&s->sub, sa, s->addr_len);
	if (ret == 0 && s->url.db)
		ret = store_command(s, &s->cmd, OWED_ACK, 2, select, select_len);
	if (ret == 0)
		ret = store_command(s, &s->sub, OWED_ACK, 3, sub, sub_len);
	if (ret < 0)
		store_go_down(s, "cannot connect", ret);
}

void store_answered(struct store *s)
{
	log_info("registry %s: connected%s", s->name,
		 s->down_logged ? " again" : "");
	s->down_logged = false;
	s->backoff = STORE_BACKOFF_MIN_MS;
}

/* Both connected: what workers write goes out from now on (to a Redis
 * that may have come back empty: a new epoch). Whether it serves us
 * shows with the reply to SUBSCRIBE (store_answered()); a Redis that
 * accepts and drops connections keeps backing off. */
static void check_connected(struct store *s, uint64_t now)
{
	if (s->cmd.connected && s->sub.connected) {
		s->state = STORE_UP;
		s->st.connects++;
		atomic_fetch_add_explicit(&s->epoch, 1, memory_order_relaxed);
	} else if (now - s->state_since > STORE_CONNECT_TIMEOUT_MS) {
		store_go_down(s, "cannot connect", -ETIMEDOUT);
	}
}

static int read_replies(struct store *s, struct store_conn *c)
{
	redisReply *r;
	int ret;

	while ((ret = store_conn_reply(c, &r)) == 1) {
		if (c == &s->cmd) {
			s->last_reply = wgp_mono_ms();
			ret = store_take_cmd_reply(s, r);
		} else {
			s->sub_pings = 0;
			ret = store_take_message(s, r);
		}
		freeReplyObject(r);
		if (ret < 0)
			return ret;
	}
	return ret;
}

static void conn_io(struct store *s, struct store_conn *c, short revents)
{
	int ret;

	if (c->fd < 0 || !revents)
		return;
	ret = store_conn_io(c, revents);
	if (ret == 0)
		ret = read_replies(s, c);
	if (ret < 0)
		store_go_down(s, ret == -EPROTO ? "not speaking Redis" :
			ret == -EACCES ? "refused us" : "connection lost", ret);
}

/*
 * Once a second: the cache's expiry (the registry's own sweep). And
 * whether Redis still answers: cmd owing replies for
 * STORE_REPLY_TIMEOUT_MS without one, or sub silent through two PINGs
 * (a connection can outlive its peer unnoticed, with no data to send),
 * is given up on.
 */
static void tick(struct store *s, uint64_t now)
{
	if (now < s->next_tick)
		return;
	s->next_tick = now + 1000;
	registry_expire(&s->cache, now, s->cache.bump / 64 + 256);
	if (s->state != STORE_UP)
		return;
	if (s->owed_n && now - s->last_reply > STORE_REPLY_TIMEOUT_MS) {
		store_go_down(s, "not answering", -ETIMEDOUT);
		return;
	}
	if (++s->ticks % STORE_PING_TICKS)
		return;
	if (s->sub_pings >= 2) {
		store_go_down(s, "not answering", -ETIMEDOUT);
		return;
	}
	s->sub_pings++;
	if (store_command(s, &s->sub, OWED_ACK, 1, (const char *[]){ "PING" },
		    (size_t[]){ 4 }) < 0 ||
	    (!s->owed_n && store_command(s, &s->cmd, OWED_ACK, 1,
				   (const char *[]){ "PING" },
				   (size_t[]){ 4 }) < 0))
		store_go_down(s, "cannot send", -ENOBUFS);
}

static int poll_timeout(const struct store *s, uint64_t now)
{
	uint64_t until = s->next_tick;

	if (s->state == STORE_DOWN && s->retry_at < until)
		until = s->retry_at;
	return until > now ? (int)(until - now) : 0;
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("registry: eventfd: %s", strerror(errno));
}

static void *store_main(void *arg)
{
	struct store *s = arg;
	struct pollfd p[4];
	uint64_t now;

	for (;;) {
		now = wgp_mono_ms();
		if (s->state == STORE_DOWN && now >= s->retry_at)
			connect_both(s);
		if (s->state == STORE_CONNECTING)
			check_connected(s, now);
		tick(s, now);
		p[0] = (struct pollfd){ .fd = s->stop_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		p[2] = (struct pollfd){ .fd = s->cmd.fd,
					.events = store_conn_events(&s->cmd) };
		p[3] = (struct pollfd){ .fd = s->sub.fd,
					.events = store_conn_events(&s->sub) };
		if (poll(p, 4, poll_timeout(s, now)) < 0 && errno != EINTR) {
			log_error("registry: poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents)
			drain_eventfd(s->wake_fd);
		conn_io(s, &s->cmd, p[2].revents);
		conn_io(s, &s->sub, p[3].revents);
		store_drain_workers(s);
		/* What draining queued goes out now, not on the next
		 * wake-up. */
		if (s->cmd.fd >= 0 && s->cmd.connected)
			conn_io(s, &s->cmd, POLLOUT);
	}
	return NULL;
}

/* ---- set-up ---------------------------------------------------------- */

static int init_worker(struct store_worker *w)
{
	int ret;

	w->in_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->in_fd < 0)
		return -errno;
	ret = ring_init(&w->out, STORE_OUT_SLOTS, sizeof(struct store_msg));
	if (ret == 0)
		ret = ring_init(&w->in, STORE_IN_SLOTS,
				sizeof(struct store_msg));
	return ret;
}

static void name_channels(struct store *s)
{
	snprintf(s->prefix, sizeof(s->prefix), "wgpunch:%u:", s->url.db);
	snprintf(s->reg_key, sizeof(s->reg_key), "%sreg:", s->prefix);
	snprintf(s->reg_channel, sizeof(s->reg_channel), "%sreg", s->prefix);
	snprintf(s->own_channel, sizeof(s->own_channel),
		 "%snotify:%016" PRIx64, s->prefix, s->id);
}

int store_init(struct store *s, const struct store_url *url,
	       const struct sockaddr *addr, socklen_t addr_len,
	       const char *name, unsigned int n, size_t capacity,
	       const struct registry *keys)
{
	unsigned int i;
	int ret;

	memset(s, 0, sizeof(*s));
	s->wake_fd = s->stop_fd = -1;
	store_conn_init(&s->cmd);
	store_conn_init(&s->sub);
	s->url = *url;
	memcpy(&s->addr, addr, addr_len);
	s->addr_len = addr_len;
	s->name = name;
	do
		randombytes_buf(&s->id, sizeof(s->id));
	while (!s->id);
	name_channels(s);
	s->backoff = STORE_BACKOFF_MIN_MS;
	s->w = calloc(n, sizeof(*s->w));
	s->owed = malloc(STORE_PENDING_MAX);
	if (!s->w || !s->owed)
		return -ENOMEM;
	s->n = n;
	for (i = 0; i < n; i++)
		s->w[i].in_fd = -1;
	for (i = 0; i < n; i++) {
		ret = init_worker(&s->w[i]);
		if (ret < 0)
			return ret;
	}
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0 || s->stop_fd < 0)
		return -errno;
	ret = registry_init(&s->cache, capacity, 0);
	if (ret < 0)
		return ret;
	registry_share_keys(&s->cache, keys);
	return 0;
}

int store_start(struct store *s)
{
	int ret = pthread_create(&s->thread, NULL, store_main, s);

	if (ret)
		return -ret;
	s->started = true;
	return 0;
}

void store_stop(struct store *s)
{
	uint64_t one = 1;

	if (!s->started)
		return;
	if (write(s->stop_fd, &one, sizeof(one)) < 0)
		log_error("registry: cannot stop the Redis thread: %s",
			  strerror(errno));
	pthread_join(s->thread, NULL);
	s->started = false;
}

void store_free(struct store *s)
{
	unsigned int i;

	store_stop(s);
	store_conn_close(&s->cmd);
	store_conn_close(&s->sub);
	for (i = 0; s->w && i < s->n; i++) {
		ring_free(&s->w[i].out);
		ring_free(&s->w[i].in);
		if (s->w[i].in_fd >= 0)
			close(s->w[i].in_fd);
	}
	free(s->w);
	free(s->owed);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->cache.entries)
		registry_free(&s->cache);
	memset(s, 0, sizeof(*s));
}
