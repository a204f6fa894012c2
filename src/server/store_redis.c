// SPDX-License-Identifier: MIT
/*
 * wgpunchd — what the Redis thread says to Redis and makes of what it
 * hears (store.h, store_int.h): registrations written (a hash, its
 * expiry, the announcement), NOTIFYs asked of other servers, the
 * announcements of others taken into the cache, NOTIFYs asked of this
 * server handed to the worker holding the peer, and the registry read
 * back page by page after every connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "store_int.h"

#define SCAN_COUNT	"256"
#define KEY_HEX		(2 * WGP_KEY_LEN)
#define STORE_LIFE_MAX_MS	(24ULL * 3600 * 1000)

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

int store_command(struct store *s, struct store_conn *c, enum owed_kind kind,
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
	return store_command(s, &s->cmd, OWED_SCAN, 6, argv, len);
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
	uint32_t owed;
	size_t mark;
	int ret;

	if (m->rec.expires_ms <= now_rt_ms)
		return 0;
	key_name(s, m->rec.key, key);
	hset_len[1] = pexpire_len[1] = strlen(key);
	pexpire_len[2] = (size_t)snprintf(ms, sizeof(ms), "%" PRIu64,
					  m->rec.expires_ms - now_rt_ms);
	store_rec_encode(rec, &m->rec);
	publish_len[2] = store_msg_encode(msg, m);
	mark = store_conn_mark(&s->cmd);
	owed = s->owed_n;
	ret = store_command(s, &s->cmd, OWED_ACK,
		      m->kind == STORE_MSG_FULL ? 6 : 4, hset, hset_len);
	if (ret == 0)
		ret = store_command(s, &s->cmd, OWED_ACK, 3, pexpire, pexpire_len);
	if (ret == 0)
		ret = store_command(s, &s->cmd, OWED_ACK, 3, publish, publish_len);
	/* All three or none: an HSET without its PEXPIRE would leave a
	 * key that never expires. */
	if (ret < 0) {
		store_conn_rewind(&s->cmd, mark);
		s->owed_n = owed;
	}
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
	return store_command(s, &s->cmd, OWED_ACK, 3, argv, len);
}

/* Everything the workers queued: written, or dropped while Redis is
 * not there (the clients' next refresh brings it back: store.h). */
void store_drain_workers(struct store *s)
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
	store_answered(s);
	ret = scan_from(s, "0", 1);
	if (ret < 0)
		store_go_down(s, "cannot read the registry back", ret);
}

int store_take_message(struct store *s, const redisReply *r)
{
	const redisReply *ch, *payload;
	struct store_msg m;
	uint64_t now_rt_ms = wgp_now_ns() / 1000000;

	if (r->type == REDIS_REPLY_ERROR) {
		/* NOAUTH, NOPERM...: no announcement will ever come. Said
		 * once, like the going down that follows. */
		if (s->down_logged)
			log_debug("registry %s: %s", s->name, r->str);
		else
			log_warn("registry %s: %s", s->name, r->str);
		return -EACCES;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    !is_bulk(r->element[0]))
		goto bad;
	if (!strcmp(r->element[0]->str, "pong"))
		return 0;	/* tick()'s PING */
	if (r->elements != 3)
		goto bad;
	if (!strcmp(r->element[0]->str, "subscribe")) {
		subscribed(s, r);
		return 0;
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
	return 0;
bad:
	s->st.bad++;
	return 0;
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
		ret = store_command(s, &s->cmd, OWED_FETCH, 4, argv, len);
		if (ret < 0)
			return ret;
	}
	if (!strcmp(r->element[0]->str, "0"))
		return store_command(s, &s->cmd, OWED_LOADED, 1,
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

int store_take_cmd_reply(struct store *s, const redisReply *r)
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

