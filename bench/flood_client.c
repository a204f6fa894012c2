// SPDX-License-Identifier: MIT
/*
 * flood_client — the legitimate side of the flood benchmark: clients that
 * count how much service they get from wgpunchd while it is flooded.
 *
 *   flood_client lookup --server IP:PORT --server-key PUB --key FILE
 *                [--peer PUB] [--bind-port N] [--capture FILE]
 *                [--rate N] [--seconds S] [--start EPOCH_MS]
 *   flood_client new --server IP:PORT --server-key PUB
 *                [--rate N] [--seconds S] [--start EPOCH_MS]
 *
 * lookup: a client already online. It registers with the private key in
 * FILE (naming --peer, or itself), retrying for up to 10 s, and writes
 * that genuine REGISTER datagram to --capture FILE (what the replay
 * flood resends). Then, from --start (CLOCK_REALTIME, ms) on, it sends
 * --rate LOOKUPs of the peer per second for --seconds.
 * new: clients arriving during the flood. From --start on, --rate fresh
 * keys per second each send a REGISTER, each from a socket (a source
 * port) of its own, and resend it as wgpunch does: same transaction id,
 * after 250 ms, then 500 ms (+-25 %), while the reply window lasts; a
 * COOKIE makes it resend at once with the cookie, once. The lookups are
 * sent once each, never resent: stricter than wgpunch.
 *
 * Every request is answered, or not, within --timeout-ms (1000). Prints
 * one line, key=value:
 *   mode=M sent=N answered=A ok=K
 * answered: any reply that opens under the request's session; ok: a
 * LOOKUP_REPLY with status OK (lookup) or a REGISTER_REPLY (new).
 * Exits 1 when it cannot register (lookup) or on a system error.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "key.h"
#include "proto.h"
#include "punch.h"
#include "testclient.h"
#include "endpoint.h"

#define PENDING_MAX	8192
#define REGISTER_TRIES	10

enum mode { MODE_LOOKUP, MODE_NEW };

struct options {
	enum mode mode;
	struct sockaddr_in server;
	uint8_t server_pub[WGP_KEY_LEN];
	uint8_t priv[WGP_KEY_LEN];
	uint8_t peer[WGP_KEY_LEN];
	bool have_server, have_server_pub, have_key, have_peer;
	uint16_t bind_port;
	const char *capture;
	unsigned int rate;
	double seconds;
	uint64_t start_ms;
	unsigned int timeout_ms;
};

/* A request in flight: what to match its reply with and open it under. */
struct pending {
	bool live;
	uint8_t txid[WGP_TXID_LEN];
	struct wgp_session sess;
	double deadline;
	struct tclient client;		/* new mode: to send it again */
	bool is_register, cookie_resent;
	int fd;				/* new mode: its own socket; or -1 */
	double resend_at;		/* new mode: the next resend */
	unsigned int retx_ms;		/* the interval that led to it */
};

struct counts {
	unsigned long sent, answered, ok;
};

struct driver {
	const struct options *opt;
	int fd;
	struct tclient client;		/* lookup mode's own client */
	struct pending pending[PENDING_MAX];
	unsigned int next_slot, used;	/* slots [0, used) were ever used */
	struct counts n;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: flood_client lookup --server IP:PORT --server-key PUB --key FILE\n"
"                    [--peer PUB] [--bind-port N] [--capture FILE]\n"
"                    [--rate N] [--seconds S] [--start EPOCH_MS]\n"
"       flood_client new --server IP:PORT --server-key PUB\n"
"                    [--rate N] [--seconds S] [--start EPOCH_MS]\n"
"       (both: [--timeout-ms N])\n");
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t realtime_ms(void)
{
	return wgp_now_ns() / 1000000;
}

/* ---- options -------------------------------------------------------- */

/* A numeric "a.b.c.d:port" (the bench is IPv4 only). */
static int parse_server(struct sockaddr_in *sin, const char *s)
{
	struct sockaddr_storage ss;

	if (endpoint_parse(s, strlen(s), 0, &ss) < 0 || ss.ss_family != AF_INET)
		return -EINVAL;
	memcpy(sin, &ss, sizeof(*sin));
	return 0;
}

static int parse_uint(unsigned long long *out, const char *s,
		      unsigned long long max)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end || !*s || *out > max)
		return -EINVAL;
	return 0;
}

static int check_options(const struct options *o)
{
	if (!o->have_server || !o->have_server_pub) {
		fprintf(stderr, "flood_client: --server and --server-key are required\n");
		return -EINVAL;
	}
	if (o->mode == MODE_LOOKUP && !o->have_key) {
		fprintf(stderr, "flood_client: lookup needs --key\n");
		return -EINVAL;
	}
	if (o->rate == 0 || o->seconds <= 0 ||
	    (double)o->rate * o->seconds >= PENDING_MAX / 2) {
		fprintf(stderr, "flood_client: --rate x --seconds must be in "
			"(0, %d)\n", PENDING_MAX / 2);
		return -EINVAL;
	}
	return 0;
}

static int parse_option(struct options *o, int c, const char *arg)
{
	unsigned long long v;
	char *end;

	switch (c) {
	case 's':
		o->have_server = !parse_server(&o->server, arg);
		return o->have_server ? 0 : -EINVAL;
	case 'S':
		o->have_server_pub = !wgp_key_from_base64(o->server_pub, arg);
		return o->have_server_pub ? 0 : -EINVAL;
	case 'k':
		o->have_key = !wgp_key_read_file(o->priv, arg);
		return o->have_key ? 0 : -EINVAL;
	case 'p':
		o->have_peer = !wgp_key_from_base64(o->peer, arg);
		return o->have_peer ? 0 : -EINVAL;
	case 'b':
		if (parse_uint(&v, arg, 65535))
			return -EINVAL;
		o->bind_port = (uint16_t)v;
		return 0;
	case 'c':
		o->capture = arg;
		return 0;
	case 'r':
		if (parse_uint(&v, arg, 100000))
			return -EINVAL;
		o->rate = (unsigned int)v;
		return 0;
	case 'd':
		o->seconds = strtod(arg, &end);
		return *end ? -EINVAL : 0;
	case 'T':
		return parse_uint((unsigned long long *)&o->start_ms, arg,
				  UINT64_MAX);
	case 't':
		if (parse_uint(&v, arg, 60000) || v == 0)
			return -EINVAL;
		o->timeout_ms = (unsigned int)v;
		return 0;
	}
	return -EINVAL;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "server-key", required_argument, NULL, 'S' },
		{ "key", required_argument, NULL, 'k' },
		{ "peer", required_argument, NULL, 'p' },
		{ "bind-port", required_argument, NULL, 'b' },
		{ "capture", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 'd' },
		{ "start", required_argument, NULL, 'T' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->rate = 20;
	o->seconds = 5;
	o->timeout_ms = 1000;
	if (argc < 2 || (strcmp(argv[1], "lookup") && strcmp(argv[1], "new"))) {
		usage(stderr);
		return -EINVAL;
	}
	o->mode = strcmp(argv[1], "new") ? MODE_LOOKUP : MODE_NEW;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?' || parse_option(o, c, optarg)) {
			if (c != '?')
				fprintf(stderr, "flood_client: bad value: %s\n",
					optarg);
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	return check_options(o);
}

/* ---- requests and replies --------------------------------------------- */

static int open_socket(const struct options *o, uint16_t port)
{
	struct sockaddr_in local = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
	};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* Connected: only the server's datagrams reach us. */
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
	    connect(fd, (const struct sockaddr *)&o->server,
		    sizeof(o->server)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int pending_fd(const struct driver *d, const struct pending *p)
{
	return p->fd >= 0 ? p->fd : d->fd;
}

static void pending_done(struct pending *p)
{
	p->live = false;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

/* Send a request; it waits for its reply in a free pending slot. A new
 * client's has a socket of its own: fd, or -1. */
static void send_request(struct driver *d, const uint8_t *pkt, size_t len,
			 const struct tclient *c, int fd)
{
	struct pending *p = &d->pending[d->next_slot];

	if (p->live || p->fd >= 0)
		pending_done(p);
	d->next_slot = (d->next_slot + 1) % PENDING_MAX;
	if (d->used < PENDING_MAX)
		d->used++;
	p->live = true;
	p->fd = fd;
	p->retx_ms = retx_next_ms(0);
	p->resend_at = mono_s() +
		       jitter_ms(p->retx_ms, randombytes_random()) / 1000.0;
	memcpy(p->txid, c->txid, WGP_TXID_LEN);
	p->sess = c->sess;
	p->client = *c;
	p->is_register = pkt[WGP_OFF_TYPE] == WGP_REGISTER;
	p->cookie_resent = false;
	p->deadline = mono_s() + d->opt->timeout_ms / 1000.0;
	d->n.sent++;
	/* A refused send (say, an ICMP error from an earlier one) is
	 * simply a request that will not be answered. */
	if (send(pending_fd(d, p), pkt, len, 0) < 0)
		return;
}

static struct pending *find_pending(struct driver *d,
				    const uint8_t txid[WGP_TXID_LEN])
{
	double now = mono_s();
	unsigned int i;

	for (i = 0; i < d->used; i++) {
		struct pending *p = &d->pending[i];

		if (p->live && p->deadline >= now &&
		    !memcmp(p->txid, txid, WGP_TXID_LEN))
			return p;
	}
	return NULL;
}

/* Service: registered, or told the peer's endpoint. */
static bool reply_ok(const struct wgp_msg *m)
{
	if (m->type == WGP_REGISTER_REPLY)
		return true;
	return m->type == WGP_LOOKUP_REPLY &&
	       m->u.lookup_reply.status == WGP_LOOKUP_OK;
}

/* The server is under load: prove our address, the REGISTER again with
 * the cookie, as the client does (same slot, same deadline). */
static void take_cookie(struct driver *d, struct pending *p,
			const uint8_t *pkt, size_t len)
{
	uint8_t out[WGP_MAX_REQUEST_COOKIE_LEN];
	size_t olen;

	if (!p->is_register || p->cookie_resent ||
	    tclient_take_cookie(&p->client, pkt, len) < 0)
		return;
	p->cookie_resent = true;
	p->client.same_txid = true;
	olen = tclient_register(&p->client, out, sizeof(out), NULL, 0, 0);
	if (send(pending_fd(d, p), out, olen, 0) < 0)
		return;
}

/* A new client's REGISTER again, on wgpunch's schedule, same txid. */
static void resend_due(struct driver *d, double now)
{
	uint8_t out[WGP_MAX_REQUEST_COOKIE_LEN];
	unsigned int i;
	size_t olen;

	for (i = 0; i < d->used; i++) {
		struct pending *p = &d->pending[i];

		if (!p->live || p->fd < 0 || p->resend_at > now ||
		    p->deadline < now)
			continue;
		p->client.same_txid = true;
		olen = tclient_register(&p->client, out, sizeof(out), NULL, 0,
					0);
		p->retx_ms = retx_next_ms(p->retx_ms);
		p->resend_at = now + jitter_ms(p->retx_ms,
					       randombytes_random()) / 1000.0;
		if (send(p->fd, out, olen, 0) < 0)
			continue;
	}
}

/* The earliest resend due before until. */
static double next_resend(const struct driver *d, double until)
{
	unsigned int i;

	for (i = 0; i < d->used; i++) {
		const struct pending *p = &d->pending[i];

		if (p->live && p->fd >= 0 && p->resend_at < until &&
		    p->resend_at <= p->deadline)
			until = p->resend_at;
	}
	return until;
}

/* Take one reply off fd and count it against its request. */
static void receive_one(struct driver *d, int fd)
{
	uint8_t buf[WGP_MAX_MSG_LEN + 64];
	struct pending *p;
	struct wgp_msg m;
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n <= 0 || wgp_parse_header(&m, buf, (size_t)n) < 0)
		return;
	p = find_pending(d, m.txid);
	if (p && m.type == WGP_COOKIE) {
		take_cookie(d, p, buf, (size_t)n);
		return;
	}
	if (!p || wgp_open(&m, buf, (size_t)n, &p->sess) < 0)
		return;
	pending_done(p);
	d->n.answered++;
	if (reply_ok(&m))
		d->n.ok++;
}

/* Poll the shared socket and every live new client's; n of them. */
static nfds_t poll_set(struct driver *d, struct pollfd *pfd)
{
	nfds_t n = 0;
	unsigned int i;

	pfd[n++] = (struct pollfd){ .fd = d->fd, .events = POLLIN };
	for (i = 0; i < d->used; i++) {
		struct pending *p = &d->pending[i];

		if (p->fd >= 0 && p->live)
			pfd[n++] = (struct pollfd){ .fd = p->fd,
						    .events = POLLIN };
		else if (p->fd >= 0)
			pending_done(p);
	}
	return n;
}

/* Receive replies until `until` (monotonic s), resending on time. */
static void receive_until(struct driver *d, double until)
{
	static struct pollfd pfd[PENDING_MAX + 1];
	double now, wake;
	nfds_t n, i;

	for (;;) {
		now = mono_s();
		if (until - now <= 0)
			return;
		resend_due(d, now);
		wake = next_resend(d, until);
		n = poll_set(d, pfd);
		if (poll(pfd, n, (int)((wake - now) * 1000) + 1) <= 0)
			continue;
		for (i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				receive_one(d, pfd[i].fd);
	}
}

static bool anything_pending(const struct driver *d)
{
	double now = mono_s();
	unsigned int i;

	for (i = 0; i < d->used; i++)
		if (d->pending[i].live && d->pending[i].deadline >= now)
			return true;
	return false;
}

/* ---- the two kinds of client ---------------------------------------- */

static int write_capture(const char *path, const uint8_t *pkt, size_t len)
{
	char tmp[4096];
	FILE *f;

	/* Written aside and renamed: a reader never sees half of it. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	if (fwrite(pkt, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	if (fclose(f) || rename(tmp, path))
		return -errno;
	return 0;
}

/* Register the lookup client (naming its peer), retrying a while. */
static int register_client(struct driver *d)
{
	const struct options *o = d->opt;
	const uint8_t (*peer)[WGP_KEY_LEN] =
		(const uint8_t (*)[WGP_KEY_LEN])(o->have_peer ? o->peer :
						 d->client.pub);
	uint8_t pkt[WGP_MAX_MSG_LEN];
	struct counts saved = d->n;
	int i, err;
	size_t len;

	for (i = 0; i < REGISTER_TRIES; i++) {
		len = tclient_register(&d->client, pkt, sizeof(pkt), peer, 1, 0);
		if (i == 0 && o->capture) {
			err = write_capture(o->capture, pkt, len);
			if (err)
				return err;
		}
		send_request(d, pkt, len, &d->client, -1);
		receive_until(d, mono_s() + o->timeout_ms / 1000.0);
		if (d->n.ok > saved.ok)
			break;
	}
	d->n = saved;
	for (unsigned int j = 0; j < PENDING_MAX; j++)
		d->pending[j] = (struct pending){ .fd = -1 };
	d->used = 0;
	d->next_slot = 0;
	return i < REGISTER_TRIES ? 0 : -ETIMEDOUT;
}

/* The i-th request of the run. */
static void send_nth(struct driver *d)
{
	const struct options *o = d->opt;
	uint8_t pkt[WGP_MAX_MSG_LEN];
	struct tclient fresh;
	size_t len;
	int fd;

	if (o->mode == MODE_LOOKUP) {
		len = tclient_lookup(&d->client, pkt, sizeof(pkt),
				     o->have_peer ? o->peer : d->client.pub, 0);
		send_request(d, pkt, len, &d->client, -1);
		return;
	}
	fd = open_socket(o, 0);
	if (fd < 0) {
		/* Out of descriptors, say: a client that could not come. */
		d->n.sent++;
		return;
	}
	tclient_init(&fresh, o->server_pub);
	len = tclient_register(&fresh, pkt, sizeof(pkt), NULL, 0, 0);
	send_request(d, pkt, len, &fresh, fd);
}

static void wait_for_start(uint64_t start_ms)
{
	uint64_t now = realtime_ms();
	struct timespec ts;

	if (start_ms <= now)
		return;
	ts.tv_sec = (time_t)((start_ms - now) / 1000);
	ts.tv_nsec = (long)((start_ms - now) % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* rate x seconds requests, evenly spaced, then their last answers. */
static void run(struct driver *d)
{
	const struct options *o = d->opt;
	unsigned long total = (unsigned long)(o->rate * o->seconds), i;
	double t0;

	wait_for_start(o->start_ms);
	t0 = mono_s();
	for (i = 0; i < total; i++) {
		receive_until(d, t0 + (double)i / o->rate);
		send_nth(d);
	}
	while (anything_pending(d))
		receive_until(d, mono_s() + 0.01);
}

int main(int argc, char **argv)
{
	static struct driver d;
	struct options o;
	int err;

	if (parse_options(&o, argc, argv))
		return 2;
	d.opt = &o;
	for (unsigned int i = 0; i < PENDING_MAX; i++)
		d.pending[i].fd = -1;
	d.fd = open_socket(&o, o.bind_port);
	if (d.fd < 0) {
		fprintf(stderr, "flood_client: socket: %s\n", strerror(-d.fd));
		return 1;
	}
	if (o.mode == MODE_LOOKUP) {
		tclient_init_key(&d.client, o.priv, o.server_pub);
		err = register_client(&d);
		if (err) {
			fprintf(stderr, "flood_client: cannot register: %s\n",
				strerror(-err));
			return 1;
		}
	}
	run(&d);
	printf("mode=%s sent=%lu answered=%lu ok=%lu\n",
	       o.mode == MODE_NEW ? "new" : "lookup", d.n.sent, d.n.answered,
	       d.n.ok);
	close(d.fd);
	return 0;
}
