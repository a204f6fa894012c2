// SPDX-License-Identifier: MIT
/*
 * Candidate paths to a peer: learning, probe timers, evidence, choice.
 * See path.h for the rules; everything here is arithmetic on times the
 * caller passes in.
 */
#include <string.h>
#include <netinet/in.h>
#include "endpoint.h"
#include "path.h"

void path_init(struct path_set *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->chosen = -1;
}

enum path_kind path_kind_of(enum cand_source source, const struct sockaddr *sa)
{
	switch (source) {
	case CAND_RELAY:
		return PATH_RELAYED;
	case CAND_MAPPED:
		/* A port mapping on an IPv6 firewall is still IPv6. */
		return sa->sa_family == AF_INET6 ? PATH_IPV6 : PATH_MAPPED;
	default:
		break;
	}
	if (sa->sa_family == AF_INET6)
		return PATH_IPV6;
	/* The peer's own IPv4 address answers only from its LAN (or a
	 * network routed without NAT, which is as good). */
	return source == CAND_HOST ? PATH_LAN : PATH_IPV4;
}

const char *path_kind_name(enum path_kind kind)
{
	switch (kind) {
	case PATH_LAN:
		return "lan";
	case PATH_IPV6:
		return "ipv6";
	case PATH_MAPPED:
		return "mapped";
	case PATH_IPV4:
		return "ipv4";
	case PATH_RELAYED:
		return "relayed";
	case PATH_NONE:
		break;
	}
	return "none";
}

const char *cand_source_name(enum cand_source source)
{
	switch (source) {
	case CAND_HOST:
		return "host";
	case CAND_PEER:
		return "peer";
	case CAND_MAPPED:
		return "mapped";
	case CAND_RELAY:
		return "relay";
	case CAND_SERVER:
		break;
	}
	return "server";
}

const char *cand_state_name(enum cand_state state)
{
	switch (state) {
	case CAND_PROBING:
		return "probing";
	case CAND_OK:
		return "ok";
	case CAND_FAILED:
		return "failed";
	case CAND_UNTRIED:
		break;
	}
	return "untried";
}

struct path_cand *path_find(struct path_set *ps, const struct sockaddr *sa)
{
	for (unsigned int i = 0; i < ps->n; i++) {
		if (endpoint_equal((const struct sockaddr *)&ps->c[i].addr, sa))
			return &ps->c[i];
	}
	return NULL;
}

bool path_alive(const struct path_cand *c, uint64_t now)
{
	return c->reply_ms && now - c->reply_ms <= PATH_LOST_MS;
}

enum cand_state path_state(const struct path_cand *c, uint64_t now)
{
	if (path_alive(c, now))
		return CAND_OK;
	if (c->ever_failed || (c->reply_ms && c->unanswered >= 2))
		return CAND_FAILED;
	/* A path not in use is checked only every PATH_IDLE_CHECK_MS. */
	if (c->reply_ms && now - c->reply_ms <= PATH_IDLE_CHECK_MS + PATH_LOST_MS)
		return CAND_OK;
	if (c->unanswered || c->inflight)
		return CAND_PROBING;
	return CAND_UNTRIED;
}

/* Make room: the oldest-mentioned candidate that is not alive and not in
 * use. -1 when every one is precious. */
static int evictable(const struct path_set *ps, uint64_t now)
{
	int victim = -1;

	for (unsigned int i = 0; i < ps->n; i++) {
		const struct path_cand *c = &ps->c[i];

		if ((int)i == ps->chosen || path_alive(c, now))
			continue;
		if (victim < 0 || c->seen_ms < ps->c[victim].seen_ms)
			victim = (int)i;
	}
	return victim;
}

static void remove_at(struct path_set *ps, unsigned int i)
{
	ps->n--;
	if (i != ps->n)
		ps->c[i] = ps->c[ps->n];
	if (ps->chosen == (int)i)
		ps->chosen = -1;
	else if (ps->chosen == (int)ps->n)
		ps->chosen = (int)i;	/* the last one moved into slot i */
}

void path_remove(struct path_set *ps, struct path_cand *c)
{
	remove_at(ps, (unsigned int)(c - ps->c));
}

struct path_cand *path_learn(struct path_set *ps, enum cand_source source,
			     const struct sockaddr *sa, uint64_t now)
{
	struct path_cand *c = path_find(ps, sa);
	int victim;

	if (c) {
		c->seen_ms = now;
		/* What the peer says about itself (host) tells more than
		 * where its packet appeared to come from. */
		if (source > c->source)
			c->source = source;
		c->kind = path_kind_of(c->source, sa);
		return c;
	}
	if (ps->n == PATH_MAX_CANDS) {
		victim = evictable(ps, now);
		if (victim < 0)
			return NULL;
		remove_at(ps, (unsigned int)victim);
	}
	c = &ps->c[ps->n++];
	memset(c, 0, sizeof(*c));
	memcpy(&c->addr, sa, endpoint_len(sa));
	c->source = source;
	c->kind = path_kind_of(source, sa);
	c->seen_ms = now;
	c->due_ms = now;
	c->rtt_us = -1;
	return c;
}

bool path_due(const struct path_cand *c, uint64_t now)
{
	return now >= c->due_ms;
}

static unsigned int next_interval(const struct path_set *ps,
				  const struct path_cand *c, uint64_t now)
{
	bool in_use = ps->chosen >= 0 && &ps->c[ps->chosen] == c;

	if (in_use && path_alive(c, now))
		return PATH_HEARTBEAT_MS;
	if (path_alive(c, now))
		return PATH_IDLE_CHECK_MS;
	/* Unanswered: 250, 500, then every 1000 ms; once failed, one
	 * probe every PATH_RETRY_MS. */
	if (c->unanswered >= PATH_PROBE_TRIES)
		return PATH_RETRY_MS;
	if (!c->interval_ms)
		return PATH_PROBE_FIRST_MS;
	return c->interval_ms * 2 > PATH_PROBE_MAX_MS ? PATH_PROBE_MAX_MS :
						       c->interval_ms * 2;
}

void path_sent(struct path_set *ps, struct path_cand *c,
	       const uint8_t txid[static WGP_TXID_LEN], uint64_t now)
{
	/* The previous probe went unanswered if its txid is still ours
	 * and it had time to be answered (a NOTIFY may ask for a probe
	 * right after one went out). */
	if (c->inflight && now - c->sent_ms >= PATH_PROBE_FIRST_MS) {
		c->unanswered++;
		if (c->unanswered >= PATH_PROBE_TRIES && !path_alive(c, now)) {
			c->ever_failed = true;
			strcpy(c->error, "no answer to probes");
		}
	}
	memcpy(c->txid, txid, WGP_TXID_LEN);
	c->inflight = true;
	c->sent_ms = now;
	c->interval_ms = next_interval(ps, c, now);
	c->due_ms = now + c->interval_ms;
}

void path_reprobe_all(struct path_set *ps, uint64_t now, unsigned int delay_ms)
{
	for (unsigned int i = 0; i < ps->n; i++) {
		struct path_cand *c = &ps->c[i];

		c->interval_ms = 0;
		if (c->due_ms > now + delay_ms)
			c->due_ms = now + delay_ms;
	}
}

struct path_cand *path_answered(struct path_set *ps, const struct sockaddr *sa,
				const uint8_t txid[static WGP_TXID_LEN], uint64_t now)
{
	struct path_cand *c = path_find(ps, sa);

	if (!c || !c->inflight || memcmp(c->txid, txid, WGP_TXID_LEN))
		return NULL;
	c->inflight = false;
	c->reply_ms = now ? now : 1;
	c->rtt_us = (int64_t)(now - c->sent_ms) * 1000;
	c->unanswered = 0;
	c->interval_ms = 0;
	c->ever_failed = false;
	c->error[0] = '\0';
	/* Alive: from now on the schedule of an answered path. */
	c->due_ms = now + (ps->chosen >= 0 && &ps->c[ps->chosen] == c ?
			   PATH_HEARTBEAT_MS : PATH_IDLE_CHECK_MS);
	return c;
}

int path_choose(struct path_set *ps, uint64_t now, bool *changed)
{
	int best = -1, old = ps->chosen;

	for (unsigned int i = 0; i < ps->n; i++) {
		const struct path_cand *c = &ps->c[i];

		if (!path_alive(c, now))
			continue;
		if (best < 0 || c->kind > ps->c[best].kind)
			best = (int)i;
	}
	/* Keep the path in use unless something strictly better answers. */
	if (old >= 0 && path_alive(&ps->c[old], now) &&
	    (best < 0 || ps->c[best].kind <= ps->c[old].kind))
		best = old;
	ps->chosen = best;
	if (best >= 0 && best != old)
		ps->c[best].due_ms = now + PATH_HEARTBEAT_MS;
	*changed = best != old;
	return best;
}

uint64_t path_next_due(const struct path_set *ps, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (unsigned int i = 0; i < ps->n; i++) {
		const struct path_cand *c = &ps->c[i];

		if (c->due_ms < next)
			next = c->due_ms;
		/* The path in use turns lost at a precise time. */
		if ((int)i == ps->chosen && c->reply_ms &&
		    c->reply_ms + PATH_LOST_MS + 1 > now &&
		    c->reply_ms + PATH_LOST_MS + 1 < next)
			next = c->reply_ms + PATH_LOST_MS + 1;
	}
	return next;
}

void path_expire(struct path_set *ps, uint64_t now)
{
	for (unsigned int i = 0; i < ps->n;) {
		const struct path_cand *c = &ps->c[i];

		if (now - c->seen_ms > PATH_FORGET_MS &&
		    !((int)i == ps->chosen && path_alive(c, now))) {
			remove_at(ps, i);
			continue;
		}
		i++;
	}
}
