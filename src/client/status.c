// SPDX-License-Identifier: MIT
/*
 * The status snapshot as JSON and as text, and the daemon's Unix socket
 * that serves it. Nothing here looks at the client engine: the lead's
 * code fills a struct status_snapshot and hands it over.
 *
 * The daemon runs one event loop, so serving must never hold it up:
 * every connection is nonblocking, all pending clients are served
 * together in one poll loop, and each has STATUS_TIMEOUT_MS to send its
 * request and again to take the answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include "endpoint.h"
#include "key.h"
#include "log.h"
#include "status.h"

#define STATUS_BACKLOG		16
#define STATUS_BATCH		16	/* connections served together */
#define STATUS_REQ_MAX		8	/* "json\n", "text\n" and a NUL */
#define STATUS_FETCH_TIMEOUT_S	5	/* the daemon may be mid-round */

/* ---- JSON ---------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s[0..len), 0 if there is
 * none: overlong forms, surrogates and code points past U+10FFFF are
 * refused, as JSON parsers do. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void json_escape_byte(FILE *f, unsigned char c)
{
	switch (c) {
	case '"':  fputs("\\\"", f); break;
	case '\\': fputs("\\\\", f); break;
	case '\b': fputs("\\b", f); break;
	case '\f': fputs("\\f", f); break;
	case '\n': fputs("\\n", f); break;
	case '\r': fputs("\\r", f); break;
	case '\t': fputs("\\t", f); break;
	default:
		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

/*
 * A JSON string of s[0..len). Strings come from error messages and
 * peers' data, so they are not trusted to be UTF-8: a byte that starts
 * no well-formed sequence becomes U+FFFD, and the document stays valid.
 */
static void json_string_n(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	fputc('"', f);
	while (i < len) {
		n = utf8_seq_len(p + i, len - i);
		if (n == 0) {
			fputs("\\ufffd", f);
			i++;
		} else if (n == 1) {
			json_escape_byte(f, p[i++]);
		} else {
			fwrite(p + i, 1, n, f);
			i += n;
		}
	}
	fputc('"', f);
}

/* A string field; NULL is written as "". */
static void json_string(FILE *f, const char *s)
{
	json_string_n(f, s ? s : "", s ? strlen(s) : 0);
}

/* A char array field, not trusted to hold its NUL. */
static void json_buf(FILE *f, const char *buf, size_t size)
{
	json_string_n(f, buf, strnlen(buf, size));
}

/* Like json_buf, but "" is null ("no advice", "no error"). */
static void json_buf_or_null(FILE *f, const char *buf, size_t size)
{
	if (strnlen(buf, size) == 0)
		fputs("null", f);
	else
		json_buf(f, buf, size);
}

static bool sockaddr_is_set(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET || ss->ss_family == AF_INET6;
}

static void json_sockaddr(FILE *f, const struct sockaddr_storage *ss)
{
	char buf[ENDPOINT_STRLEN];

	if (!sockaddr_is_set(ss))
		fputs("null", f);
	else
		json_string(f, endpoint_format((const struct sockaddr *)ss, buf));
}

static void json_wgp_endpoint(FILE *f, const struct wgp_endpoint *ep)
{
	char buf[WGP_ENDPOINT_STRLEN];

	if (ep->family != AF_INET && ep->family != AF_INET6)
		fputs("null", f);
	else
		json_string(f, wgp_endpoint_format(ep, buf));
}

/* v thousandths as a plain decimal: 812 -> 0.812, 800 -> 0.8, 3000 -> 3.
 * Exact, and free of the locale's decimal comma. */
static void write_thousandths(FILE *f, uint64_t v)
{
	char frac[4];
	int n = 3;

	snprintf(frac, sizeof(frac), "%03u", (unsigned int)(v % 1000));
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	fprintf(f, "%" PRIu64 "%s%s", v / 1000, n ? "." : "", frac);
}

/* A thousandths value where negative means "none". */
static void json_thousandths(FILE *f, int64_t v)
{
	if (v < 0)
		fputs("null", f);
	else
		write_thousandths(f, (uint64_t)v);
}

static unsigned int cand_count(const struct status_peer *p)
{
	return p->n_cands < STATUS_MAX_CANDS ? p->n_cands : STATUS_MAX_CANDS;
}

static void json_cand(FILE *f, const struct status_cand *c)
{
	fputs("{\"address\":", f);
	json_sockaddr(f, &c->addr);
	fputs(",\"source\":", f);
	json_string(f, c->source);
	fputs(",\"path\":", f);
	json_string(f, c->path);
	fputs(",\"state\":", f);
	json_string(f, c->state);
	fputs(",\"rtt_ms\":", f);
	json_thousandths(f, c->rtt_us);
	fputs(",\"last_reply_ago_s\":", f);
	json_thousandths(f, c->last_reply_ms);
	fputs(",\"error\":", f);
	json_buf_or_null(f, c->error, sizeof(c->error));
	fputc('}', f);
}

static void json_peer(FILE *f, const struct status_peer *p)
{
	char b64[WGP_KEY_B64_SIZE];

	wgp_key_to_base64(b64, p->key);
	fputs("{\"public_key\":", f);
	json_string(f, b64);
	fputs(",\"path\":", f);
	json_string(f, p->path);
	fputs(",\"endpoint\":", f);
	json_sockaddr(f, &p->endpoint);
	fputs(",\"why\":", f);
	json_buf(f, p->why, sizeof(p->why));
	fputs(",\"relay\":", f);
	json_sockaddr(f, &p->relay);
	fputs(",\"handshake_age\":", f);
	if (p->handshake_age < 0)
		fputs("null", f);
	else
		fprintf(f, "%ld", p->handshake_age);
	fputs(",\"peer_nat\":", f);
	json_string(f, p->peer_nat);
	fputs(",\"advice\":", f);
	json_buf_or_null(f, p->advice, sizeof(p->advice));
	fputs(",\"candidates\":[", f);
	for (unsigned int i = 0; i < cand_count(p); i++) {
		if (i)
			fputc(',', f);
		json_cand(f, &p->cands[i]);
	}
	fputs("]}", f);
}

static unsigned int server_count(const struct status_snapshot *s)
{
	return s->n_servers > STATUS_MAX_SERVERS ? STATUS_MAX_SERVERS : s->n_servers;
}

static void json_server(FILE *f, const struct status_server *sv)
{
	fputs("{\"address\":", f);
	json_sockaddr(f, &sv->addr);
	fprintf(f, ",\"registered\":%s,\"silent\":%s,\"rtt_ms\":",
		sv->registered ? "true" : "false", sv->silent ? "true" : "false");
	if (sv->rtt_ms >= 0)
		fprintf(f, "%" PRId64, sv->rtt_ms);
	else
		fputs("null", f);
	fputs(",\"self\":", f);
	json_wgp_endpoint(f, &sv->self);
	fputs(",\"nat\":", f);
	json_string(f, sv->nat ? sv->nat : "unknown");
	fputc('}', f);
}

int status_write_json(FILE *f, const struct status_snapshot *s)
{
	fputs("{\"interface\":", f);
	json_buf(f, s->ifname, sizeof(s->ifname));
	fputs(",\"server\":", f);
	json_sockaddr(f, &s->server);
	fprintf(f, ",\"registered\":%s,\"self\":", s->registered ? "true" : "false");
	json_wgp_endpoint(f, &s->self);
	fputs(",\"nat\":", f);
	json_string(f, s->nat);
	fputs(",\"portmap\":{\"state\":", f);
	json_string(f, s->portmap ? s->portmap : "off");
	fputs(",\"protocol\":", f);
	if (s->portmap_proto)
		json_string(f, s->portmap_proto);
	else
		fputs("null", f);
	fputs(",\"external\":", f);
	json_wgp_endpoint(f, &s->portmap_ext);
	fprintf(f, ",\"lifetime_s\":%" PRIu32 ",\"error\":", s->portmap_lifetime);
	json_buf_or_null(f, s->portmap_error, sizeof(s->portmap_error));
	fputc('}', f);
	fprintf(f, ",\"raw_rx\":{\"server\":%" PRIu64 ",\"path\":%" PRIu64 "}",
		s->raw_rx_server, s->raw_rx_path);
	fputs(",\"servers\":[", f);
	for (unsigned int i = 0; i < server_count(s); i++) {
		if (i)
			fputc(',', f);
		json_server(f, &s->servers[i]);
	}
	fputs("],\"peers\":[", f);
	for (size_t i = 0; i < s->n_peers; i++) {
		if (i)
			fputc(',', f);
		json_peer(f, &s->peers[i]);
	}
	fputs("]}\n", f);
	return ferror(f) ? -EIO : 0;
}

/* ---- text ---------------------------------------------------------- */

/* s[0..len) with control characters shown as '?': a peer's data must
 * not drive the terminal. */
static void text_string_n(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

static void text_string(FILE *f, const char *s)
{
	if (s)
		text_string_n(f, s, strlen(s));
}

static void text_buf(FILE *f, const char *buf, size_t size)
{
	text_string_n(f, buf, strnlen(buf, size));
}

static void text_sockaddr(FILE *f, const struct sockaddr_storage *ss)
{
	char buf[ENDPOINT_STRLEN];

	fputs(sockaddr_is_set(ss) ?
	      endpoint_format((const struct sockaddr *)ss, buf) : "(none)", f);
}

/* "1 hour, 2 minutes, 3 seconds", as wg(8) says it. */
static void text_duration(FILE *f, long secs)
{
	static const struct {
		long secs;
		const char *unit;
	} units[] = {
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" },
	};
	bool first = true;

	if (secs == 0) {
		fputs("0 seconds", f);
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		long n = secs / units[i].secs;

		if (!n)
			continue;
		fprintf(f, "%s%ld %s%s", first ? "" : ", ", n, units[i].unit,
			n == 1 ? "" : "s");
		secs -= n * units[i].secs;
		first = false;
	}
}

/* With several servers, a line each: how it goes with that one. */
static void text_server(FILE *f, const struct status_server *sv)
{
	char buf[WGP_ENDPOINT_STRLEN];

	fputs("\n  server: ", f);
	text_sockaddr(f, &sv->addr);
	fputs(sv->registered ? " (registered" : " (not registered", f);
	if (sv->silent)
		fputs(", silent", f);
	if (sv->rtt_ms >= 0)
		fprintf(f, ", rtt %" PRId64 " ms", sv->rtt_ms);
	fputs(", nat ", f);
	text_string(f, sv->nat ? sv->nat : "unknown");
	if (sv->self.family == AF_INET || sv->self.family == AF_INET6)
		fprintf(f, ", sees us at %s", wgp_endpoint_format(&sv->self, buf));
	fputc(')', f);
}

static void text_interface(FILE *f, const struct status_snapshot *s)
{
	char buf[WGP_ENDPOINT_STRLEN];

	fputs("interface: ", f);
	text_buf(f, s->ifname, sizeof(s->ifname));
	if (server_count(s) > 1) {
		for (unsigned int i = 0; i < server_count(s); i++)
			text_server(f, &s->servers[i]);
	} else {
		fputs("\n  server: ", f);
		text_sockaddr(f, &s->server);
		fputs(s->registered ? " (registered)" : " (not registered)", f);
	}
	fputs("\n  our mapping: ", f);
	if (s->self.family == AF_INET || s->self.family == AF_INET6)
		fputs(wgp_endpoint_format(&s->self, buf), f);
	else
		fputs("unknown", f);
	fputs("\n  nat: ", f);
	text_string(f, s->nat);
	fputs("\n  port mapping: ", f);
	text_string(f, s->portmap ? s->portmap : "off");
	if (s->portmap_ext.family) {
		fputs(" by ", f);
		text_string(f, s->portmap_proto);
		fprintf(f, ": %s (lifetime %" PRIu32 " s)",
			wgp_endpoint_format(&s->portmap_ext, buf), s->portmap_lifetime);
	}
	if (strnlen(s->portmap_error, sizeof(s->portmap_error))) {
		fputs(": ", f);
		text_buf(f, s->portmap_error, sizeof(s->portmap_error));
	}
	fprintf(f, "\n  raw datagrams received: %" PRIu64 " from the server, %"
		PRIu64 " on peer paths\n", s->raw_rx_server, s->raw_rx_path);
}

static void text_cand(FILE *f, const struct status_cand *c)
{
	fputs("    ", f);
	text_sockaddr(f, &c->addr);
	fputs(" (", f);
	text_string(f, c->source);
	fputs(", ", f);
	text_string(f, c->path);
	fputs("): ", f);
	text_string(f, c->state);
	if (c->rtt_us >= 0) {
		fputs(", rtt ", f);
		write_thousandths(f, (uint64_t)c->rtt_us);
		fputs(" ms", f);
	}
	if (c->last_reply_ms >= 0) {
		fputs(", last reply ", f);
		write_thousandths(f, (uint64_t)c->last_reply_ms);
		fputs(" s ago", f);
	}
	if (strnlen(c->error, sizeof(c->error))) {
		fputs(", error: ", f);
		text_buf(f, c->error, sizeof(c->error));
	}
	fputc('\n', f);
}

static void text_peer(FILE *f, const struct status_peer *p)
{
	char b64[WGP_KEY_B64_SIZE];

	wgp_key_to_base64(b64, p->key);
	fprintf(f, "\npeer: %s\n  path: ", b64);
	text_string(f, p->path);
	if (sockaddr_is_set(&p->endpoint)) {
		fputs(" via ", f);
		text_sockaddr(f, &p->endpoint);
	}
	fputs("\n  why: ", f);
	text_buf(f, p->why, sizeof(p->why));
	if (sockaddr_is_set(&p->relay)) {
		fputs("\n  relay: ", f);
		text_sockaddr(f, &p->relay);
	}
	fputs("\n  latest handshake: ", f);
	if (p->handshake_age < 0) {
		fputs("never", f);
	} else {
		text_duration(f, p->handshake_age);
		fputs(" ago", f);
	}
	fputs("\n  peer's nat: ", f);
	text_string(f, p->peer_nat);
	if (strnlen(p->advice, sizeof(p->advice))) {
		fputs("\n  advice: ", f);
		text_buf(f, p->advice, sizeof(p->advice));
	}
	fputs(cand_count(p) ? "\n  candidates:\n" : "\n  candidates: none\n", f);
	for (unsigned int i = 0; i < cand_count(p); i++)
		text_cand(f, &p->cands[i]);
}

int status_write_text(FILE *f, const struct status_snapshot *s)
{
	text_interface(f, s);
	for (size_t i = 0; i < s->n_peers; i++)
		text_peer(f, &s->peers[i]);
	return ferror(f) ? -EIO : 0;
}

/* ---- the socket: paths and listening -------------------------------- */

const char *status_default_path(const char *ifname, char *buf, size_t len)
{
	int n;

	/* The name becomes a file name: never a path of its own. */
	if (!ifname[0] || strchr(ifname, '/'))
		return NULL;
	n = snprintf(buf, len, STATUS_DIR "/%s.sock", ifname);
	return n < 0 || (size_t)n >= len ? NULL : buf;
}

_Static_assert(STATUS_PATH_MAX == sizeof(((struct sockaddr_un *)NULL)->sun_path),
	       "STATUS_PATH_MAX is the size of sun_path");

static int fill_sun(struct sockaddr_un *sun, const char *path)
{
	size_t len = strlen(path);

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
	return 0;
}

/* mkdir -p of path's directory, 0755 for what it creates (the socket
 * itself is what is private). 0 or -errno. */
static int make_parent_dir(const struct sockaddr_un *sun)
{
	char dir[sizeof(sun->sun_path)];
	char *slash;

	memcpy(dir, sun->sun_path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (last)
			return 0;
		*p = '/';
	}
}

/* Bind sun to fd as a socket only its owner can connect to. The umask
 * closes the window between bind and chmod, in which another user
 * could otherwise connect; the chmod makes the mode exact whatever the
 * umask was. */
static int bind_private(int fd, const struct sockaddr_un *sun)
{
	mode_t old = umask(0177);
	int ret = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));

	umask(old);
	if (ret < 0)
		return -errno;
	if (chmod(sun->sun_path, 0600) < 0) {
		ret = -errno;
		unlink(sun->sun_path);
		return ret;
	}
	return 0;
}

/* Does a listener answer at sun? 1 yes, 0 no (refused), or -errno. */
static int someone_listens(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (ret == 0 || errno == EAGAIN || errno == EINPROGRESS)
		ret = 1;	/* EAGAIN: listening, with a full backlog */
	else if (errno == ECONNREFUSED)
		ret = 0;
	else
		ret = -errno;
	close(fd);
	return ret;
}

/* The path is taken: remove it if it is a socket left by a daemon that
 * died. Never a file of another kind, nor a live daemon's socket. */
static int remove_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int ret;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	ret = someone_listens(sun);
	if (ret)
		return ret > 0 ? -EADDRINUSE : ret;
	if (unlink(sun->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int status_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd, ret;

	ret = fill_sun(&sun, path);
	if (!ret)
		ret = make_parent_dir(&sun);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = bind_private(fd, &sun);
	if (ret == -EADDRINUSE) {
		ret = remove_stale(&sun);
		if (!ret)
			ret = bind_private(fd, &sun);
	}
	if (ret) {
		close(fd);
		return ret;
	}
	if (listen(fd, STATUS_BACKLOG) < 0) {
		ret = -errno;
		status_close(fd, path);
		return ret;
	}
	return fd;
}

void status_close(int lfd, const char *path)
{
	if (lfd >= 0)
		close(lfd);
	if (path)
		unlink(path);
}

/* ---- the socket: serving ------------------------------------------- */

/* The two answers, each rendered at most once per status_serve call. */
struct status_answers {
	const struct status_snapshot *snap;
	char *form[2];			/* [0] text, [1] JSON */
	size_t len[2];
	bool failed[2];
};

struct status_conn {
	int fd;				/* -1: done */
	uint64_t deadline_ms;		/* for the current direction */
	char req[STATUS_REQ_MAX];
	size_t req_len;
	const char *out;		/* the answer, once asked; not owned */
	size_t out_len, out_off;
};

/* The answer in the form asked for, or NULL if it cannot be made. */
static const char *answer(struct status_answers *a, bool json, size_t *len)
{
	int i = json;
	FILE *f;

	if (!a->form[i] && !a->failed[i]) {
		f = open_memstream(&a->form[i], &a->len[i]);
		if (!f || (json ? status_write_json(f, a->snap) :
				  status_write_text(f, a->snap)) < 0)
			a->failed[i] = true;
		if (f && fclose(f) != 0)
			a->failed[i] = true;
	}
	if (a->failed[i])
		return NULL;
	*len = a->len[i];
	return a->form[i];
}

static void conn_drop(struct status_conn *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Send what the socket takes; close once all is sent. */
static void conn_write(struct status_conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_drop(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	conn_drop(c);
}

/* The request line is complete: pick the answer and start sending. */
static void conn_request(struct status_conn *c, struct status_answers *a)
{
	bool json = !strcmp(c->req, "json\n");

	if (json || !strcmp(c->req, "text\n"))
		c->out = answer(a, json, &c->out_len);
	if (!c->out) {		/* an unknown request, or no memory */
		conn_drop(c);
		return;
	}
	c->deadline_ms = wgp_mono_ms() + STATUS_TIMEOUT_MS;
	conn_write(c);
}

/* Read what has come of the request line. */
static void conn_read(struct status_conn *c, struct status_answers *a)
{
	ssize_t n;

	do {
		n = recv(c->fd, c->req + c->req_len,
			 sizeof(c->req) - 1 - c->req_len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		conn_drop(c);
		return;
	}
	c->req_len += (size_t)n;
	c->req[c->req_len] = '\0';
	if (memchr(c->req, '\n', c->req_len))
		conn_request(c, a);
	else if (c->req_len == sizeof(c->req) - 1)
		conn_drop(c);		/* too long to be a request */
}

/* Accept up to max pending connections; how many. *err is set to the
 * error of an accept that failed for another reason than "none left". */
static size_t accept_batch(int lfd, struct status_conn *conns, size_t max,
			   int *err)
{
	uint64_t deadline = wgp_mono_ms() + STATUS_TIMEOUT_MS;
	size_t n = 0;
	int fd;

	while (n < max) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				*err = -errno;
			break;
		}
		memset(&conns[n], 0, sizeof(conns[n]));
		conns[n].fd = fd;
		conns[n].deadline_ms = deadline;
		n++;
	}
	return n;
}

/* Drop the connections whose time is up; fill pfd with the others. The
 * number of entries, and in *wait_ms the time to the next deadline. */
static nfds_t poll_set(struct status_conn *conns, size_t n, struct pollfd *pfd,
		       size_t *which, int *wait_ms)
{
	uint64_t now = wgp_mono_ms();
	nfds_t k = 0;

	*wait_ms = STATUS_TIMEOUT_MS;
	for (size_t i = 0; i < n; i++) {
		if (conns[i].fd < 0)
			continue;
		if (now >= conns[i].deadline_ms) {
			conn_drop(&conns[i]);
			continue;
		}
		if ((int)(conns[i].deadline_ms - now) < *wait_ms)
			*wait_ms = (int)(conns[i].deadline_ms - now);
		pfd[k].fd = conns[i].fd;
		pfd[k].events = conns[i].out ? POLLOUT : POLLIN;
		pfd[k].revents = 0;
		which[k++] = i;
	}
	return k;
}

static void serve_batch(struct status_conn *conns, size_t n,
			struct status_answers *a)
{
	struct pollfd pfd[STATUS_BATCH];
	size_t which[STATUS_BATCH];
	int wait_ms;
	nfds_t k;

	while ((k = poll_set(conns, n, pfd, which, &wait_ms)) > 0) {
		if (poll(pfd, k, wait_ms) < 0 && errno != EINTR) {
			log_warn("status socket: poll: %s", strerror(errno));
			break;
		}
		for (nfds_t j = 0; j < k; j++) {
			struct status_conn *c = &conns[which[j]];

			if (!pfd[j].revents)
				continue;
			if (c->out)
				conn_write(c);
			else
				conn_read(c, a);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (conns[i].fd >= 0)
			conn_drop(&conns[i]);
	}
}

int status_serve(int lfd, const struct status_snapshot *s)
{
	struct status_answers a = { .snap = s };
	struct status_conn conns[STATUS_BATCH];
	int err = 0;
	size_t n;

	/* A full batch may have left more behind it. */
	do {
		n = accept_batch(lfd, conns, STATUS_BATCH, &err);
		serve_batch(conns, n, &a);
	} while (n == STATUS_BATCH && !err);
	free(a.form[0]);
	free(a.form[1]);
	return err;
}

/* ---- the command's side -------------------------------------------- */

static int send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copy everything fd sends until it closes. 0 or -errno. */
static int copy_answer(int fd, FILE *out)
{
	char buf[4096];
	size_t total = 0;
	char last = '\0';
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			break;
		if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
			return -EIO;
		total += (size_t)n;
		last = buf[n - 1];
	}
	/* Both forms end in a newline: without one, the daemon dropped
	 * us half-way. */
	return total && last == '\n' ? 0 : -EPROTO;
}

static void set_timeouts(int fd, unsigned int secs)
{
	struct timeval tv = { .tv_sec = secs };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int status_fetch(const char *path, bool json, FILE *out)
{
	struct sockaddr_un sun;
	int fd, ret;

	ret = fill_sun(&sun, path);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Also bounds connect(): a daemon with a full backlog. */
	set_timeouts(fd, STATUS_FETCH_TIMEOUT_S);
	if (connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0)
		ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (!ret)
		ret = send_all(fd, json ? "json\n" : "text\n", 5);
	if (!ret)
		ret = copy_answer(fd, out);
	close(fd);
	return ret;
}
