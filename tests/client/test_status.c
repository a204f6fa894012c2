/* SPDX-License-Identifier: MIT */
/*
 * "wgpunch status": the snapshot as JSON (checked by Python's own
 * parser, field by field) and as text; the daemon's Unix socket served
 * and fetched for real in a temporary directory, a stale socket
 * replaced, a live one kept, and silent or slow clients dropped in time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sodium.h>

#include "endpoint.h"
#include "key.h"
#include "status.h"

/* ---- snapshots ----------------------------------------------------- */

static struct sockaddr_storage ep_of(const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(endpoint_parse(s, strlen(s), 0, &ss), 0);
	return ss;
}

static void snap_base(struct status_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->ifname, "wg0");
	s->server = ep_of("198.18.1.2:49918");
	s->registered = true;
	s->nat = "cone";
	s->raw_rx_server = 12;
	s->raw_rx_path = 3;
}

static void cand_set(struct status_cand *c, const char *addr, const char *source,
		     const char *path, const char *state, int64_t rtt_us,
		     int64_t last_reply_ms, const char *error)
{
	memset(c, 0, sizeof(*c));
	c->addr = ep_of(addr);
	c->source = source;
	c->path = path;
	c->state = state;
	c->rtt_us = rtt_us;
	c->last_reply_ms = last_reply_ms;
	snprintf(c->error, sizeof(c->error), "%s", error);
}

/* A peer on an IPv4 path: two candidates, one good, one failed. */
static void peer_ipv4(struct status_peer *p)
{
	memset(p, 0, sizeof(*p));
	memset(p->key, 0x11, sizeof(p->key));
	p->path = "ipv4";
	p->endpoint = ep_of("198.18.3.2:51820");
	strcpy(p->why, "the only candidate that answered");
	p->handshake_age = 3;
	p->peer_nat = "cone";
	p->n_cands = 2;
	cand_set(&p->cands[0], "198.18.3.2:51820", "server", "ipv4", "ok",
		 800, 1200, "");
	cand_set(&p->cands[1], "[2001:db8::3]:51820", "host", "ipv6", "failed",
		 -1, -1, "no reply");
}

/* A peer with no path, no handshake, advice, and odd strings. */
static void peer_none(struct status_peer *p)
{
	memset(p, 0, sizeof(*p));
	memset(p->key, 0x22, sizeof(p->key));
	p->path = "none";
	p->endpoint.ss_family = AF_UNSPEC;
	/* Quote, backslash, newline, tab, \x01, DEL, é, a lone 0xff and a
	 * sequence cut short. */
	strcpy(p->why, "q\"b\\n\nt\t\x01" "d\x7f" "\xc3\xa9" "x\xff" "y\xe2\x82");
	p->handshake_age = -1;
	p->peer_nat = NULL;		/* written as "" */
	strcpy(p->advice, "open UDP 51820");
	p->n_cands = 0;
}

static char *render(int (*write)(FILE *, const struct status_snapshot *),
		    const struct status_snapshot *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(write(f, s), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/*
 * Python's json module parses the document (strictly: it must be one
 * document) as d, then runs the checks, asserts in single-quote-free
 * Python. Fails the test unless Python exits 0.
 */
static void py_check(const char *json, const char *checks)
{
	char *cmd;
	FILE *p;
	int st;

	assert_true(asprintf(&cmd, "python3 -c 'import json, sys\n"
			     "d = json.loads(sys.stdin.buffer.read().decode(\"utf-8\"))\n"
			     "%s'", checks) > 0);
	p = popen(cmd, "w");
	assert_non_null(p);
	fputs(json, p);
	st = pclose(p);
	free(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("python3 rejected or failed the checks on: %s", json);
}

/* ---- JSON ---------------------------------------------------------- */

static void test_json_no_peers(void **state)
{
	struct status_snapshot s;
	char *json;

	(void)state;
	snap_base(&s);
	json = render(status_write_json, &s);
	/* The exact bytes: key order is part of the schema. */
	assert_string_equal(json,
		"{\"interface\":\"wg0\",\"server\":\"198.18.1.2:49918\","
		"\"registered\":true,\"self\":null,\"nat\":\"cone\","
		"\"portmap\":{\"state\":\"off\",\"protocol\":null,\"external\":null,"
		"\"lifetime_s\":0,\"error\":null},"
		"\"raw_rx\":{\"server\":12,\"path\":3},\"servers\":[],\"peers\":[]}\n");
	py_check(json, "assert d[\"self\"] is None and d[\"peers\"] == []\n");
	free(json);
}

static void test_json_one_peer(void **state)
{
	struct status_snapshot s;
	struct status_peer p;
	char *json;

	(void)state;
	snap_base(&s);
	s.self.family = AF_INET;
	s.self.port = 51820;
	memcpy(s.self.addr, (uint8_t[]){ 198, 18, 2, 2 }, 4);
	s.portmap = "mapped";
	s.portmap_proto = "pcp";
	s.portmap_ext.family = AF_INET;
	s.portmap_ext.port = 1024;
	memcpy(s.portmap_ext.addr, (uint8_t[]){ 11, 0, 0, 2 }, 4);
	s.portmap_lifetime = 7200;
	peer_ipv4(&p);
	p.relay = ep_of("198.18.1.2:40001");
	s.n_peers = 1;
	s.peers = &p;
	json = render(status_write_json, &s);
	assert_non_null(strstr(json, "\"rtt_ms\":0.8,\"last_reply_ago_s\":1.2,"));
	py_check(json,
		"assert list(d) == [\"interface\", \"server\", \"registered\", \"self\", "
		"\"nat\", \"portmap\", \"raw_rx\", \"servers\", \"peers\"]\n"
		"assert d[\"portmap\"] == {\"state\": \"mapped\", \"protocol\": \"pcp\", "
		"\"external\": \"11.0.0.2:1024\", \"lifetime_s\": 7200, \"error\": None}\n"
		"assert d[\"self\"] == \"198.18.2.2:51820\"\n"
		"assert d[\"registered\"] is True\n"
		"assert d[\"raw_rx\"] == {\"server\": 12, \"path\": 3}\n"
		"p = d[\"peers\"][0]\n"
		"assert list(p) == [\"public_key\", \"path\", \"endpoint\", \"why\", "
		"\"relay\", \"handshake_age\", \"peer_nat\", \"advice\", \"candidates\"]\n"
		"assert p[\"relay\"] == \"198.18.1.2:40001\"\n"
		"assert p[\"public_key\"] == \"ERERERERERERERERERERERERERERERERERERERERERE=\"\n"
		"assert p[\"path\"] == \"ipv4\" and p[\"endpoint\"] == \"198.18.3.2:51820\"\n"
		"assert p[\"why\"] == \"the only candidate that answered\"\n"
		"assert p[\"handshake_age\"] == 3 and p[\"peer_nat\"] == \"cone\"\n"
		"assert p[\"advice\"] is None\n"
		"c = p[\"candidates\"]\n"
		"assert list(c[0]) == [\"address\", \"source\", \"path\", \"state\", "
		"\"rtt_ms\", \"last_reply_ago_s\", \"error\"]\n"
		"assert c[0] == {\"address\": \"198.18.3.2:51820\", \"source\": \"server\", "
		"\"path\": \"ipv4\", \"state\": \"ok\", \"rtt_ms\": 0.8, "
		"\"last_reply_ago_s\": 1.2, \"error\": None}\n"
		"assert c[1] == {\"address\": \"[2001:db8::3]:51820\", \"source\": \"host\", "
		"\"path\": \"ipv6\", \"state\": \"failed\", \"rtt_ms\": None, "
		"\"last_reply_ago_s\": None, \"error\": \"no reply\"}\n");
	free(json);
}

static void test_json_two_peers_odd_strings(void **state)
{
	struct status_snapshot s;
	struct status_peer p[2];
	char *json;

	(void)state;
	snap_base(&s);
	s.registered = false;
	s.nat = "untested";
	peer_ipv4(&p[0]);
	/* Exact thousandths, and zero. */
	p[0].cands[0].rtt_us = 12345;
	p[0].cands[0].last_reply_ms = 0;
	p[0].cands[1].rtt_us = 2000;
	/* A full error field without its NUL stays inside the field. */
	memset(p[0].cands[1].error, 'e', sizeof(p[0].cands[1].error));
	peer_none(&p[1]);
	/* The interface name is a full array, too. */
	memset(s.ifname, 'i', sizeof(s.ifname));
	s.n_peers = 2;
	s.peers = p;
	json = render(status_write_json, &s);
	py_check(json,
		"assert d[\"interface\"] == \"i\" * 16\n"
		"assert d[\"registered\"] is False and d[\"nat\"] == \"untested\"\n"
		"assert len(d[\"peers\"]) == 2\n"
		"c = d[\"peers\"][0][\"candidates\"]\n"
		"assert c[0][\"rtt_ms\"] == 12.345 and c[0][\"last_reply_ago_s\"] == 0\n"
		"assert c[1][\"rtt_ms\"] == 2 and c[1][\"error\"] == \"e\" * 96\n"
		"p = d[\"peers\"][1]\n"
		"assert p[\"public_key\"] == \"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\"\n"
		"assert p[\"path\"] == \"none\" and p[\"endpoint\"] is None\n"
		"assert p[\"why\"] == \"q\\\"b\\\\n\\nt\\t\\x01d\\x7f\\u00e9x\\ufffdy\\ufffd\\ufffd\", "
		"repr(p[\"why\"])\n"
		"assert p[\"handshake_age\"] is None and p[\"peer_nat\"] == \"\"\n"
		"assert p[\"advice\"] == \"open UDP 51820\" and p[\"candidates\"] == []\n");
	/* Control characters are escaped, never raw. */
	for (const char *c = json; *c && c[1]; c++)
		assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
	free(json);
}

static void test_json_candidates_capped(void **state)
{
	struct status_snapshot s;
	struct status_peer p;
	char *json;

	(void)state;
	snap_base(&s);
	peer_ipv4(&p);
	for (unsigned int i = 0; i < STATUS_MAX_CANDS; i++)
		p.cands[i] = p.cands[0];
	p.n_cands = STATUS_MAX_CANDS + 5;	/* a filler's mistake */
	s.n_peers = 1;
	s.peers = &p;
	json = render(status_write_json, &s);
	py_check(json, "assert len(d[\"peers\"][0][\"candidates\"]) == 12\n");
	free(json);
}

/* ---- text ---------------------------------------------------------- */

static void expect_line(const char *text, const char *line)
{
	if (!text)
		fail_msg("no text rendered");
	else if (!strstr(text, line))
		fail_msg("no \"%s\" in:\n%s", line, text);
}

static void test_text(void **state)
{
	struct status_snapshot s;
	struct status_peer p[2];
	char *text;

	(void)state;
	snap_base(&s);
	s.self.family = AF_INET;
	s.self.port = 51820;
	memcpy(s.self.addr, (uint8_t[]){ 198, 18, 2, 2 }, 4);
	s.portmap = "mapped";
	s.portmap_proto = "natpmp";
	s.portmap_ext.family = AF_INET;
	s.portmap_ext.port = 51820;
	memcpy(s.portmap_ext.addr, (uint8_t[]){ 11, 0, 0, 2 }, 4);
	s.portmap_lifetime = 3600;
	peer_ipv4(&p[0]);
	p[0].handshake_age = 3723;
	p[0].relay = ep_of("198.18.1.2:40001");
	peer_none(&p[1]);
	s.n_peers = 2;
	s.peers = p;
	text = render(status_write_text, &s);
	expect_line(text, "  port mapping: mapped by natpmp: 11.0.0.2:51820 "
		    "(lifetime 3600 s)\n");
	expect_line(text, "  why: the only candidate that answered\n  relay: "
		    "198.18.1.2:40001\n");
	expect_line(text, "interface: wg0\n");
	expect_line(text, "  server: 198.18.1.2:49918 (registered)\n");
	expect_line(text, "  our mapping: 198.18.2.2:51820\n");
	expect_line(text, "  nat: cone\n");
	expect_line(text, "12 from the server, 3 on peer paths\n");
	expect_line(text, "\npeer: ERERERERERERERERERERERERERERERERERERERERERE=\n");
	expect_line(text, "  path: ipv4 via 198.18.3.2:51820\n");
	expect_line(text, "  why: the only candidate that answered\n");
	expect_line(text, "  latest handshake: 1 hour, 2 minutes, 3 seconds ago\n");
	expect_line(text, "  peer's nat: cone\n");
	expect_line(text, "    198.18.3.2:51820 (server, ipv4): ok, rtt 0.8 ms, "
		    "last reply 1.2 s ago\n");
	expect_line(text, "    [2001:db8::3]:51820 (host, ipv6): failed, error: no reply\n");
	expect_line(text, "\npeer: IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\n  path: none\n");
	expect_line(text, "  latest handshake: never\n");
	expect_line(text, "  advice: open UDP 51820\n");
	expect_line(text, "  candidates: none\n");
	/* A peer's text cannot drive the terminal. */
	expect_line(text, "  why: q\"b\\n?t??d?");
	assert_null(strchr(text, '\x01'));
	/* No advice, no line: the first advice is the second peer's. */
	assert_true(strstr(text, "advice:") > strstr(text, "peer: IiIi"));
	free(text);
}

/* Several servers: one entry each in "servers", and a line each in the
 * text, where one server keeps the single "server:" line. */
static void test_servers(void **state)
{
	struct status_snapshot s;
	char *json, *text;

	(void)state;
	snap_base(&s);
	s.n_servers = 2;
	s.servers[0].addr = ep_of("198.18.1.2:49918");
	s.servers[0].registered = true;
	s.servers[0].rtt_ms = 12;
	s.servers[0].nat = "cone";
	s.servers[0].self.family = AF_INET;
	s.servers[0].self.port = 51820;
	memcpy(s.servers[0].self.addr, (uint8_t[]){ 198, 18, 2, 2 }, 4);
	s.servers[1].addr = ep_of("[2001:db8::5]:7000");
	s.servers[1].silent = true;
	s.servers[1].rtt_ms = -1;
	s.servers[1].nat = "untested";
	json = render(status_write_json, &s);
	assert_non_null(strstr(json, "\"servers\":[{\"address\":\"198.18.1.2:49918\","
			       "\"registered\":true,\"silent\":false,\"rtt_ms\":12,"
			       "\"self\":\"198.18.2.2:51820\",\"nat\":\"cone\"},"));
	py_check(json,
		"v = d[\"servers\"]\n"
		"assert len(v) == 2\n"
		"assert list(v[1]) == [\"address\", \"registered\", \"silent\", "
		"\"rtt_ms\", \"self\", \"nat\"]\n"
		"assert v[1] == {\"address\": \"[2001:db8::5]:7000\", \"registered\": "
		"False, \"silent\": True, \"rtt_ms\": None, \"self\": None, "
		"\"nat\": \"untested\"}\n");
	free(json);

	text = render(status_write_text, &s);
	expect_line(text, "  server: 198.18.1.2:49918 (registered, rtt 12 ms, nat "
		    "cone, sees us at 198.18.2.2:51820)\n");
	expect_line(text, "  server: [2001:db8::5]:7000 (not registered, silent, "
		    "nat untested)\n");
	assert_null(strstr(text, "(registered)"));
	free(text);

	/* One server: the line as it always was. */
	s.n_servers = 1;
	text = render(status_write_text, &s);
	expect_line(text, "  server: 198.18.1.2:49918 (registered)\n");
	free(text);
}

static void test_default_path(void **state)
{
	char buf[STATUS_PATH_MAX];

	(void)state;
	assert_string_equal(status_default_path("wg0", buf, sizeof(buf)),
			    "/run/wgpunch/wg0.sock");
	assert_null(status_default_path("wg0", buf, 21));
	assert_non_null(status_default_path("wg0", buf, 22));
	assert_null(status_default_path("", buf, sizeof(buf)));
	assert_null(status_default_path("a/b", buf, sizeof(buf)));
}

/* ---- the socket ---------------------------------------------------- */

static char tmpdir[64];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* name in the test's run directory (made by status_listen). */
static const char *sock_path(char path[static STATUS_PATH_MAX], const char *name)
{
	snprintf(path, STATUS_PATH_MAX, "%s/run/%s", tmpdir, name);
	return path;
}

/* A child that serves snap on lfd until it is killed. */
static pid_t serve_in_child(int lfd, const struct status_snapshot *snap)
{
	pid_t pid = fork();
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	assert_true(pid >= 0);
	if (pid)
		return pid;
	for (;;) {
		if (poll(&pfd, 1, 10000) <= 0)
			_exit(1);
		status_serve(lfd, snap);
	}
}

static void stop_child(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

static char *fetch(const char *path, bool json, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*ret = status_fetch(path, json, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void two_peer_snapshot(struct status_snapshot *s, struct status_peer p[2])
{
	snap_base(s);
	peer_ipv4(&p[0]);
	peer_none(&p[1]);
	s->n_peers = 2;
	s->peers = p;
}

static void test_round_trip(void **state)
{
	char path[STATUS_PATH_MAX], dir[STATUS_PATH_MAX];
	struct status_snapshot s;
	struct status_peer p[2];
	char *want, *got;
	struct stat st;
	int lfd, ret, fl;
	pid_t pid;

	(void)state;
	sock_path(path, "wg0.sock");
	two_peer_snapshot(&s, p);
	/* The directory does not exist yet: it is made, 0755. */
	lfd = status_listen(path);
	assert_true(lfd >= 0);
	fl = fcntl(lfd, F_GETFL);
	assert_true(fl & O_NONBLOCK);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(sock_path(dir, ""), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	pid = serve_in_child(lfd, &s);
	want = render(status_write_json, &s);
	got = fetch(path, true, &ret);
	assert_int_equal(ret, 0);
	assert_string_equal(got, want);
	free(want);
	free(got);
	want = render(status_write_text, &s);
	got = fetch(path, false, &ret);
	assert_int_equal(ret, 0);
	assert_string_equal(got, want);
	free(want);
	free(got);
	stop_child(pid);

	/* Nobody listens now: the socket is stale, connecting is refused. */
	status_close(lfd, NULL);
	free(fetch(path, true, &ret));
	assert_int_equal(ret, -ECONNREFUSED);
	status_close(-1, path);
	assert_int_equal(access(path, F_OK), -1);
	free(fetch(path, true, &ret));
	assert_int_equal(ret, -ENOENT);
}

/* A socket file left by a daemon that died is replaced; a file of
 * another kind never is. */
static void test_stale_socket(void **state)
{
	char path[STATUS_PATH_MAX], dir[STATUS_PATH_MAX];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct status_snapshot s;
	struct status_peer p[2];
	int fd, lfd, ret;
	char *got;
	pid_t pid;

	(void)state;
	sock_path(path, "stale.sock");
	two_peer_snapshot(&s, p);
	mkdir(sock_path(dir, ""), 0755);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);			/* the file stays, nobody listens */
	lfd = status_listen(path);
	assert_true(lfd >= 0);
	pid = serve_in_child(lfd, &s);
	got = fetch(path, true, &ret);
	assert_int_equal(ret, 0);
	py_check(got, "assert d[\"interface\"] == \"wg0\"\n");
	free(got);
	stop_child(pid);
	status_close(lfd, path);

	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(status_listen(path), -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
}

/* A second daemon for the same socket is refused, and the first keeps
 * its socket. */
static void test_live_socket(void **state)
{
	char path[STATUS_PATH_MAX], longp[STATUS_PATH_MAX + 1];
	struct status_snapshot s;
	struct status_peer p[2];
	int lfd, ret;
	char *got;
	pid_t pid;

	(void)state;
	sock_path(path, "live.sock");
	two_peer_snapshot(&s, p);
	lfd = status_listen(path);
	assert_true(lfd >= 0);
	assert_int_equal(status_listen(path), -EADDRINUSE);
	pid = serve_in_child(lfd, &s);
	got = fetch(path, false, &ret);
	assert_int_equal(ret, 0);
	assert_non_null(strstr(got, "interface: wg0\n"));
	free(got);
	stop_child(pid);
	status_close(lfd, path);

	assert_int_equal(status_listen(""), -EINVAL);
	/* sun_path holds 107 characters and the NUL: 108 are too many. */
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(status_listen(longp), -ENAMETOOLONG);
	assert_int_equal(status_fetch(longp, true, stdout), -ENAMETOOLONG);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(sun.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Everything fd has, until the daemon closes it. */
static size_t drain(int fd)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	assert_int_equal(n, 0);
	return total;
}

/*
 * Clients that say nothing, say nonsense, or take a big answer too
 * slowly: status_serve drops each in about STATUS_TIMEOUT_MS, all
 * together, and still answers the good client among them in full.
 */
static void test_bad_clients(void **state)
{
	char path[STATUS_PATH_MAX];
	struct status_snapshot s;
	struct status_peer *peers;
	int lfd, silent[3], bogus, slow, good;
	size_t want_len;
	uint64_t t0, took;
	char *want;

	(void)state;
	sock_path(path, "slow.sock");
	/* An answer far larger than the socket buffers. */
	snap_base(&s);
	s.n_peers = 1000;
	peers = calloc(s.n_peers, sizeof(*peers));
	assert_non_null(peers);
	for (size_t i = 0; i < s.n_peers; i++) {
		peer_ipv4(&peers[i]);
		for (unsigned int j = 2; j < STATUS_MAX_CANDS; j++)
			peers[i].cands[j] = peers[i].cands[1];
		peers[i].n_cands = STATUS_MAX_CANDS;
	}
	s.peers = peers;
	want = render(status_write_json, &s);
	want_len = strlen(want);
	assert_true(want_len > 1024 * 1024);

	lfd = status_listen(path);
	assert_true(lfd >= 0);
	for (int i = 0; i < 3; i++)
		silent[i] = connect_to(path);
	bogus = connect_to(path);
	assert_int_equal(write(bogus, "hello\n", 6), 6);
	slow = connect_to(path);
	assert_int_equal(write(slow, "json\n", 5), 5);
	t0 = now_ms();
	status_serve(lfd, &s);		/* nothing reads: all dropped */
	took = now_ms() - t0;
	print_message("status_serve with silent, bogus and slow clients: %llu ms\n",
		      (unsigned long long)took);
	assert_true(took >= STATUS_TIMEOUT_MS - 20);
	assert_true(took < 350);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(drain(silent[i]), 0);
		close(silent[i]);
	}
	assert_int_equal(drain(bogus), 0);
	close(bogus);
	/* The slow client got part of the answer, never all of it. */
	assert_true(drain(slow) < want_len);
	close(slow);

	/* A good client in the same crowd is answered in full. */
	silent[0] = connect_to(path);
	good = connect_to(path);
	assert_int_equal(write(good, "json\n", 5), 5);
	if (fork() == 0) {
		/* Reads as fast as it can, then says how much it got. */
		size_t n = drain(good);

		_exit(n == want_len ? 0 : 1);
	}
	t0 = now_ms();
	status_serve(lfd, &s);
	took = now_ms() - t0;
	assert_true(took < 350);
	close(good);
	close(silent[0]);
	{
		int st;

		assert_true(wait(&st) > 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* Nothing pending: returns at once. */
	t0 = now_ms();
	status_serve(lfd, &s);
	assert_true(now_ms() - t0 < 50);

	status_close(lfd, path);
	free(want);
	free(peers);
}

static int group_setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_status.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char *cmd;
	int ret;

	(void)state;
	if (asprintf(&cmd, "rm -rf '%s'", tmpdir) < 0)
		return -1;
	ret = system(cmd);
	free(cmd);
	return ret == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_no_peers),
		cmocka_unit_test(test_json_one_peer),
		cmocka_unit_test(test_json_two_peers_odd_strings),
		cmocka_unit_test(test_json_candidates_capped),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_servers),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_stale_socket),
		cmocka_unit_test(test_live_socket),
		cmocka_unit_test(test_bad_clients),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
