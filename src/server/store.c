// SPDX-License-Identifier: MIT
/*
 * wgpunchd — the Redis thread (store.h).
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
#include "server.h"
#include "store.h"

/* What a reply on cmd answers, in the order the commands were sent. */
enum owed_kind {
	OWED_ACK,	/* HSET, PEXPIRE, PUBLISH, SELECT: only errors matter */
	OWED_SCAN,	/* a page of keys: fetch each, ask for the next */
	OWED_FETCH,	/* HMGET rec consent of one key */
	OWED_LOADED,	/* PING after the last fetch: the cache is in step */
};

#define SCAN_COUNT	"256"
#define KEY_HEX		(2 * WGP_KEY_LEN)
#define STORE_LIFE_MAX_MS	(24ULL * 3600 * 1000)

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

/* ---- commands -------------------------------------------------------- */

static int owe(struct store *s, enum owed_kind kind)
{
	if (s->owed_n == STORE_PENDING_MAX)
		return -ENOBUFS;
	/* Replies are owed from now: the clock for "not answering". */
	if (!s->owed_n)
		s->last_reply = wgp_mono_ms();
	s->owed[(s->owed_head + s->owed_n++) % STORE_PENDING_MAX] = kind;
	return 0;
}

/* One command on c, whose reply (on cmd) is of kind. */
static int command(struct store *s, struct store_conn *c, enum owed_kind kind,
		   int argc, const char **argv, const size_t *len)
{
	int ret;

	if (c == &s->cmd && s->owed_n == STORE_PENDING_MAX)
		return -ENOBUFS;
	ret = store_conn_command(c, argc, argv, len);
	if (ret == 0 && c == &s->cmd)
		ret = owe(s, kind);
	return ret;
}

static void key_name(const struct store *s, const uint8_t *key,
		     char out[static 64 + KEY_HEX + 1])
{
	size_t n = strlen(s->reg_key);

	memcpy(out, s->reg_key, n);
	sodium_bin2hex(out + n, KEY_HEX + 1, key, WGP_KEY_LEN);
}

static int scan_from(struct store *s, const char *cursor, size_t cursor_len)
{
	char match[sizeof(s->reg_key) + 1];
	const char *argv[] = { "SCAN", cursor, "MATCH", match, "COUNT",
			       SCAN_COUNT };
	size_t len[] = { 4, cursor_len, 5, 0, 5, strlen(SCAN_COUNT) };

	len[3] = (size_t)snprintf(match, sizeof(match), "%s*", s->reg_key);
	return command(s, &s->cmd, OWED_SCAN, 6, argv, len);
}

/* A registration from a worker: the hash, its expiry, the news. */
static int write_record(struct store *s, const struct store_msg *m,
			uint64_t now_rt_ms)
{
	uint8_t rec[STORE_REC_LEN], msg[STORE_MSG_MAX];
	char key[64 + KEY_HEX + 1], ms[24];
	const char *hset[] = { "HSET", key, "rec", (char *)rec, "consent",
			       (char *)m->consent };
	size_t hset_len[] = { 4, 0, 3, STORE_REC_LEN, 7,
			      (size_t)m->n_consent * WGP_CONSENT_LEN };
	const char *pexpire[] = { "PEXPIRE", key, ms };
	size_t pexpire_len[] = { 7, 0, 0 };
	const char *publish[] = { "PUBLISH", s->reg_channel, (char *)msg };
	size_t publish_len[] = { 7, strlen(s->reg_channel), 0 };
	int ret;

	if (m->rec.expires_ms <= now_rt_ms)
		return 0;
	key_name(s, m->rec.key, key);
	hset_len[1] = pexpire_len[1] = strlen(key);
	pexpire_len[2] = (size_t)snprintf(ms, sizeof(ms), "%" PRIu64,
					  m->rec.expires_ms - now_rt_ms);
	store_rec_encode(rec, &m->rec);
	publish_len[2] = store_msg_encode(msg, m);
	ret = command(s, &s->cmd, OWED_ACK,
		      m->kind == STORE_MSG_FULL ? 6 : 4, hset, hset_len);
	if (ret == 0)
		ret = command(s, &s->cmd, OWED_ACK, 3, pexpire, pexpire_len);
	if (ret == 0)
		ret = command(s, &s->cmd, OWED_ACK, 3, publish, publish_len);
	return ret;
}

static int publish_notify(struct store *s, const struct store_msg *m)
{
	uint8_t msg[STORE_MSG_MAX];
	char channel[96];
	const char *argv[] = { "PUBLISH", channel, (char *)msg };
	size_t len[] = { 7, 0, 0 };

	len[1] = (size_t)snprintf(channel, sizeof(channel),
				  "%snotify:%016" PRIx64, s->prefix, m->dest);
	len[2] = store_msg_encode(msg, m);
	return command(s, &s->cmd, OWED_ACK, 3, argv, len);
}

/* Everything the workers queued: written, or dropped while Redis is
 * not there (the clients' next refresh brings it back: store.h). */
static void drain_workers(struct store *s)
{
	const struct store_msg *m;
	uint64_t now_rt_ms = wgp_now_ns() / 1000000;
	unsigned int i;
	int ret;

	for (i = 0; i < s->n; i++) {
		while ((m = ring_peek(&s->w[i].out))) {
			ret = -ENOTCONN;
			if (s->state != STORE_DOWN)
				ret = m->kind == STORE_MSG_NOTIFY ?
				      publish_notify(s, m) :
				      write_record(s, m, now_rt_ms);
			if (ret < 0)
				s->st.dropped++;
			else if (m->kind == STORE_MSG_NOTIFY)
				s->st.notify_out++;
			else
				s->st.written++;
			ring_release(&s->w[i].out);
		}
	}
}

static void go_down(struct store *s, const char *what, int err);

/* ---- what other servers say ------------------------------------------ */

/* A registration of another server into the cache: newer news only
 * (a SCAN may bring back what a message already updated). */
static void take_record(struct store *s, const struct store_msg *m,
			uint64_t now, uint64_t now_rt_ms)
{
	const struct store_record *rec = &m->rec;
	struct registry *c = &s->cache;
	struct reg_entry *e;

	if (rec->origin == s->id || rec->expires_ms <= now_rt_ms)
		return;
	e = registry_find(c, rec->key, now);
	if (e && rec->counter < e->counter)
		return;
	if (!e) {
		if (m->kind != STORE_MSG_FULL)
			return;	/* the FULL that names its peers comes */
		e = registry_insert(c, rec->key, now, 1);
		if (!e) {
			s->st.cache_full++;
			return;
		}
	}
	if (m->kind == STORE_MSG_FULL &&
	    registry_set_consent(c, e, m->consent, m->n_consent) < 0) {
		registry_remove(c, e);
		s->st.cache_full++;
		return;
	}
	registry_write_begin(c, e);
	e->origin = rec->origin;
	e->counter = rec->counter;
	e->flags = rec->flags;
	e->version = rec->version;
	e->ep = rec->ep;
	memcpy(e->cands, rec->cands, sizeof(e->cands));
	/* Whatever a record claims, no longer than a day. */
	e->expires = now + (rec->expires_ms - now_rt_ms < STORE_LIFE_MAX_MS ?
			    rec->expires_ms - now_rt_ms : STORE_LIFE_MAX_MS);
	registry_write_end(c, e);
	s->st.cached++;
}

/* A NOTIFY another server asks us to send: to the worker holding the
 * target, whose session it needs. */
static void take_notify(struct store *s, const struct store_msg *m)
{
	unsigned int w = server_worker_of(m->target, s->n);
	struct store_msg *slot = ring_reserve(&s->w[w].in);
	uint64_t one = 1;

	if (!slot) {
		s->st.dropped++;
		return;
	}
	*slot = *m;
	ring_commit(&s->w[w].in);
	s->st.notify_in++;
	if (write(s->w[w].in_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("registry: cannot wake worker %u: %s", w,
			  strerror(errno));
}

static bool is_bulk(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_STRING;
}

/*
 * Both channels are listened to: now read the registry back. In this
 * order nothing falls between the two: what was written before the
 * SCAN is in it, what is published after the subscription arrives.
 */
static void subscribed(struct store *s, const redisReply *r)
{
	int ret;

	if (r->element[2]->type != REDIS_REPLY_INTEGER ||
	    r->element[2]->integer != 2)
		return;		/* the first channel of two */
	ret = scan_from(s, "0", 1);
	if (ret < 0)
		go_down(s, "cannot read the registry back", ret);
}

static void take_message(struct store *s, const redisReply *r)
{
	const redisReply *ch, *payload;
	struct store_msg m;
	uint64_t now_rt_ms = wgp_now_ns() / 1000000;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    !is_bulk(r->element[0]))
		goto bad;
	if (!strcmp(r->element[0]->str, "pong"))
		return;		/* tick()'s PING */
	if (r->elements != 3)
		goto bad;
	if (!strcmp(r->element[0]->str, "subscribe")) {
		subscribed(s, r);
		return;
	}
	if (strcmp(r->element[0]->str, "message"))
		goto bad;
	ch = r->element[1];
	payload = r->element[2];
	if (!is_bulk(ch) || !is_bulk(payload) ||
	    store_msg_decode(&m, (const uint8_t *)payload->str,
			     payload->len) < 0)
		goto bad;
	if (!strcmp(ch->str, s->own_channel) && m.kind == STORE_MSG_NOTIFY)
		take_notify(s, &m);
	else if (!strcmp(ch->str, s->reg_channel) &&
		 m.kind != STORE_MSG_NOTIFY)
		take_record(s, &m, wgp_mono_ms(), now_rt_ms);
	else
		goto bad;
	return;
bad:
	s->st.bad++;
}

/* A page of SCAN: [cursor, [key...]]. Fetch each key; go on unless
 * the cursor is back at 0. */
static int take_scan(struct store *s, const redisReply *r)
{
	const char *argv[4] = { "HMGET", NULL, "rec", "consent" };
	size_t len[4] = { 5, 0, 3, 7 };
	const redisReply *keys;
	size_t i;
	int ret;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    !is_bulk(r->element[0]) ||
	    r->element[1]->type != REDIS_REPLY_ARRAY)
		return -EPROTO;
	keys = r->element[1];
	for (i = 0; i < keys->elements; i++) {
		if (!is_bulk(keys->element[i]))
			return -EPROTO;
		argv[1] = keys->element[i]->str;
		len[1] = keys->element[i]->len;
		ret = command(s, &s->cmd, OWED_FETCH, 4, argv, len);
		if (ret < 0)
			return ret;
	}
	if (!strcmp(r->element[0]->str, "0"))
		return command(s, &s->cmd, OWED_LOADED, 1,
			       (const char *[]){ "PING" }, (size_t[]){ 4 });
	return scan_from(s, r->element[0]->str, r->element[0]->len);
}

/* [rec, consent] of one key; nil for a key gone meanwhile, or one a
 * TOUCH made after it had expired (no consent list: skipped). */
static void take_fetch(struct store *s, const redisReply *r)
{
	struct store_msg m = { .kind = STORE_MSG_FULL };
	const redisReply *rec, *consent;
	int n;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		goto bad;
	rec = r->element[0];
	consent = r->element[1];
	if (rec->type == REDIS_REPLY_NIL || consent->type == REDIS_REPLY_NIL)
		return;
	if (!is_bulk(rec) || !is_bulk(consent) ||
	    store_rec_decode(&m.rec, (const uint8_t *)rec->str, rec->len) < 0)
		goto bad;
	n = store_consent_decode(m.consent, (const uint8_t *)consent->str,
				 consent->len);
	if (n < 0)
		goto bad;
	m.n_consent = (uint8_t)n;
	take_record(s, &m, wgp_mono_ms(), wgp_now_ns() / 1000000);
	return;
bad:
	s->st.bad++;
}

static int take_cmd_reply(struct store *s, const redisReply *r)
{
	enum owed_kind kind;

	if (!s->owed_n)
		return -EPROTO;	/* a reply nobody asked for */
	kind = s->owed[s->owed_head];
	s->owed_head = (s->owed_head + 1) % STORE_PENDING_MAX;
	s->owed_n--;
	if (r->type == REDIS_REPLY_ERROR) {
		/* e.g. a read-only replica, OOM, a key of another type */
		log_debug("registry %s: %s", s->name, r->str);
		s->st.bad++;
		return 0;
	}
	switch (kind) {
	case OWED_SCAN:
		return take_scan(s, r);
	case OWED_FETCH:
		take_fetch(s, r);
		break;
	case OWED_LOADED:
		log_info("registry %s: read back, %u registrations of other "
			 "servers cached", s->name, s->cache.live);
		break;
	case OWED_ACK:
		break;
	}
	return 0;
}

/* ---- the connection's life ------------------------------------------- */

static void go_down(struct store *s, const char *what, int err)
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
		ret = command(s, &s->cmd, OWED_ACK, 2, select, select_len);
	if (ret == 0)
		ret = command(s, &s->sub, OWED_ACK, 3, sub, sub_len);
	if (ret < 0)
		go_down(s, "cannot connect", ret);
}

static void check_connected(struct store *s, uint64_t now)
{
	if (s->cmd.connected && s->sub.connected) {
		s->state = STORE_UP;
		s->backoff = STORE_BACKOFF_MIN_MS;
		s->st.connects++;
		atomic_fetch_add_explicit(&s->epoch, 1, memory_order_relaxed);
		log_info("registry %s: connected%s", s->name,
			 s->down_logged ? " again" : "");
		s->down_logged = false;
	} else if (now - s->state_since > STORE_CONNECT_TIMEOUT_MS) {
		go_down(s, "cannot connect", -ETIMEDOUT);
	}
}

static int read_replies(struct store *s, struct store_conn *c)
{
	redisReply *r;
	int ret;

	while ((ret = store_conn_reply(c, &r)) == 1) {
		if (c == &s->cmd) {
			s->last_reply = wgp_mono_ms();
			ret = take_cmd_reply(s, r);
		} else {
			s->sub_pings = 0;
			take_message(s, r);
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
		go_down(s, ret == -EPROTO ? "not speaking Redis" :
			"connection lost", ret);
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
		go_down(s, "not answering", -ETIMEDOUT);
		return;
	}
	if (++s->ticks % STORE_PING_TICKS)
		return;
	if (s->sub_pings >= 2) {
		go_down(s, "not answering", -ETIMEDOUT);
		return;
	}
	s->sub_pings++;
	if (command(s, &s->sub, OWED_ACK, 1, (const char *[]){ "PING" },
		    (size_t[]){ 4 }) < 0 ||
	    (!s->owed_n && command(s, &s->cmd, OWED_ACK, 1,
				   (const char *[]){ "PING" },
				   (size_t[]){ 4 }) < 0))
		go_down(s, "cannot send", -ENOBUFS);
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
		drain_workers(s);
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
