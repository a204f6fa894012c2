// SPDX-License-Identifier: MIT
/*
 * wgpunchd --metrics (suite 'kernel'): the real daemon on loopback with
 * its HTTP listener on an ephemeral port (read from its log), scraped by
 * this test with plain sockets; a real client registers and the
 * counters must move by exactly that. Also: the text format, 404/405,
 * a listener full of idle connections, no TCP port without the option,
 * and the option's errors. The summing over workers is checked directly
 * on two servers (metrics.c is compiled in).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "daemon.h"
#include "metrics.h"
#include "proto.h"
#include "refuse.h"
#include "testclient.h"

#define HTTP_TIMEOUT_MS	3000
#define RESPONSE_MAX	(64 * 1024)

static struct daemon srv = { .pid = -1, .log = -1 };
static uint8_t server_pub[WGP_KEY_LEN];
static char key_path[] = "/tmp/wgpunchd-metrics-key-XXXXXX";

static void kill_at_exit(void)
{
	daemon_kill(&srv);
}

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0 || daemon_key_file(key_path, server_pub) < 0)
		return -1;
	atexit(kill_at_exit);
	return daemon_start(&srv, true, key_path, "--metrics", "127.0.0.1:0",
			    NULL);
}

static int teardown(void **state)
{
	int ret;

	(void)state;
	ret = daemon_stop(&srv);
	unlink(key_path);
	return ret;
}

/* ---- HTTP, the client side ------------------------------------------- */

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

struct response {
	int status;
	char text[RESPONSE_MAX];	/* status line, headers, body */
	const char *body;
};

/* Send request (HTTP/1.0: the server closes after answering) and read
 * the answer to its end. */
static void http(uint16_t port, const char *request, struct response *r)
{
	int fd = tcp_connect(port);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	assert_int_equal(send(fd, request, strlen(request), MSG_NOSIGNAL),
			 (ssize_t)strlen(request));
	for (;;) {
		assert_int_equal(poll(&pfd, 1, HTTP_TIMEOUT_MS), 1);
		n = read(fd, r->text + len, sizeof(r->text) - 1 - len);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
		assert_true(len < sizeof(r->text) - 1);
	}
	close(fd);
	r->text[len] = '\0';
	assert_int_equal(sscanf(r->text, "HTTP/1.%*d %d ", &r->status), 1);
	r->body = strstr(r->text, "\r\n\r\n");
	assert_non_null(r->body);
	r->body += 4;
}

static void get(const char *path, struct response *r)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
		 path);
	http(srv.http_port, req, r);
}

/* Is this header line (name: value, name case-insensitive) there? */
static bool has_header(const struct response *r, const char *name,
		       const char *value)
{
	size_t nlen = strlen(name);
	const char *p = strstr(r->text, "\r\n");

	while (p && p < r->body - 2) {
		p += 2;
		if (!strncasecmp(p, name, nlen) && p[nlen] == ':') {
			const char *v = p + nlen + 1;

			while (*v == ' ')
				v++;
			if (!strncmp(v, value, strlen(value)))
				return true;
		}
		p = strstr(p, "\r\n");
	}
	return false;
}

static void expect_in(const char *text, const char *what)
{
	if (!strstr(text, what))
		fail_msg("missing \"%s\" in:\n%s", what, text);
}

/* ---- the exposition format ------------------------------------------- */

static bool name_char(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' || c == ':' ||
	       (!first && isdigit((unsigned char)c));
}

/* Length of the metric name at s, 0 if there is none. */
static size_t name_len(const char *s)
{
	size_t n = 0;

	while (name_char(s[n], n == 0))
		n++;
	return n;
}

/* One sample line: NAME[{label="value",...}] VALUE, VALUE a number.
 * Its family (the name, less _total for counters, is what TYPE said). */
static void check_sample(const char *line, size_t len, const char *family)
{
	char buf[512], *end;
	size_t n = name_len(line);
	const char *p = line + n;

	assert_true(n > 0);
	if (strlen(family) != n || strncmp(line, family, n))
		fail_msg("sample without its # TYPE: %.*s", (int)len, line);
	if (*p == '{') {
		while (p < line + len && *p != '}') {
			p++;
			n = name_len(p);
			assert_true(n > 0);
			p += n;
			assert_true(p[0] == '=' && p[1] == '"');
			p = strchr(p + 2, '"');
			assert_non_null(p);
			p++;
			assert_true(*p == ',' || *p == '}');
		}
		assert_true(*p == '}');
		p++;
	}
	assert_true(*p == ' ');
	p++;
	assert_true(line + len - p < (ptrdiff_t)sizeof(buf));
	memcpy(buf, p, (size_t)(line + len - p));
	buf[line + len - p] = '\0';
	strtod(buf, &end);
	if (end == buf || *end)
		fail_msg("not a number: %.*s", (int)len, line);
}

/* Every line a HELP, a TYPE or a sample of the family just typed; every
 * family has its HELP and TYPE before its samples. Returns the number
 * of samples. */
static unsigned int check_format(const char *body)
{
	char family[128] = "", help[128] = "";
	unsigned int samples = 0;
	const char *line = body, *nl;

	assert_true(*body);
	for (; *line; line = nl + 1) {
		size_t len;

		nl = strchr(line, '\n');
		assert_non_null(nl);	/* the last line ends too */
		len = (size_t)(nl - line);
		if (!strncmp(line, "# HELP ", 7)) {
			size_t n = name_len(line + 7);

			assert_true(n > 0 && n < sizeof(help) && line[7 + n] == ' ');
			memcpy(help, line + 7, n);
			help[n] = '\0';
		} else if (!strncmp(line, "# TYPE ", 7)) {
			size_t n = name_len(line + 7);
			const char *type = line + 7 + n + 1;

			assert_true(n > 0 && n < sizeof(family));
			memcpy(family, line + 7, n);
			family[n] = '\0';
			assert_string_equal(family, help);
			assert_true(!strncmp(type, "counter\n", 8) ||
				    !strncmp(type, "gauge\n", 6));
		} else {
			check_sample(line, len, family);
			samples++;
		}
	}
	return samples;
}

/* The value of the sample named exactly (labels included), or fail. */
static double sample(const char *body, const char *name)
{
	size_t n = strlen(name);
	const char *p = body;

	while ((p = strstr(p, name))) {
		if ((p == body || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	fail_msg("no sample %s in:\n%s", name, body);
	return -1;
}

static void scrape(struct response *r)
{
	get("/metrics", r);
	if (r->status != 200)
		fail_msg("scrape: %s", r->text);
	assert_true(has_header(r, "Content-Type", "text/plain; version=0.0.4"));
}

/* ---- a client -------------------------------------------------------- */

static int udp_client(void)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* One REGISTER, and its REGISTER_REPLY. */
static void do_register(struct tclient *c, int fd)
{
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_port = htons(srv.udp_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_msg m;
	size_t len;
	ssize_t n;

	len = tclient_register(c, buf, sizeof(buf), NULL, 0, 0);
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&to,
				sizeof(to)), (ssize_t)len);
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	n = recv(fd, buf, sizeof(buf), 0);
	assert_true(n > 0);
	assert_int_equal(tclient_open(c, &m, buf, (size_t)n), 0);
	assert_int_equal(m.type, WGP_REGISTER_REPLY);
}

/* ---- tests ----------------------------------------------------------- */

static const char *const expected_samples[] = {
	"wgpunchd_requests_total{type=\"register\"}",
	"wgpunchd_requests_total{type=\"lookup\"}",
	"wgpunchd_requests_total{type=\"probe\"}",
	"wgpunchd_requests_total{type=\"relay\"}",
	"wgpunchd_notifies_total",
	"wgpunchd_errors_total",
	"wgpunchd_dropped_total{reason=\"bad\"}",
	"wgpunchd_dropped_total{reason=\"ratelimited\"}",
	"wgpunchd_dropped_total{reason=\"key_limited\"}",
	"wgpunchd_dropped_total{reason=\"notify_limited\"}",
	"wgpunchd_dropped_total{reason=\"forged\"}",
	"wgpunchd_dropped_total{reason=\"dh_budget\"}",
	"wgpunchd_dropped_total{reason=\"shed\"}",
	"wgpunchd_dropped_total{reason=\"tx\"}",
	"wgpunchd_x25519_total",
	"wgpunchd_dh_budget_tokens",
	"wgpunchd_dh_budget_rate",
	"wgpunchd_cookies_sent_total",
	"wgpunchd_cookies_valid_total",
	"wgpunchd_registered",
	"wgpunchd_capacity",
	"wgpunchd_relay_allocations",
	"wgpunchd_relay_forwarded_packets_total",
	"wgpunchd_relay_forwarded_bytes_total",
	"wgpunchd_rx_datagrams_total",
	"wgpunchd_under_load",
	"wgpunchd_start_time_seconds",
};

/* A scrape is 200, text format 0.0.4, and has every metric. */
static void test_format(void **state)
{
	struct response *r = malloc(sizeof(*r));
	size_t i;

	(void)state;
	assert_non_null(r);
	scrape(r);
	assert_true(check_format(r->body) >= sizeof(expected_samples) /
		    sizeof(expected_samples[0]));
	for (i = 0; i < sizeof(expected_samples) / sizeof(expected_samples[0]); i++)
		assert_true(sample(r->body, expected_samples[i]) >= 0);
	assert_true(sample(r->body, "wgpunchd_capacity") == 100);
	assert_true(sample(r->body, "wgpunchd_start_time_seconds") > 1.6e9);
	free(r);
}

/* A client registers: the counters move by exactly what it sent. */
static void test_counters_move(void **state)
{
	struct response *r = malloc(sizeof(*r));
	double reg0, rx0, lookup0;
	struct tclient c;
	int fd, i;

	(void)state;
	assert_non_null(r);
	scrape(r);
	reg0 = sample(r->body, "wgpunchd_requests_total{type=\"register\"}");
	rx0 = sample(r->body, "wgpunchd_rx_datagrams_total");
	lookup0 = sample(r->body, "wgpunchd_requests_total{type=\"lookup\"}");
	assert_true(sample(r->body, "wgpunchd_registered") == 0);

	tclient_init(&c, server_pub);
	fd = udp_client();
	for (i = 0; i < 3; i++)
		do_register(&c, fd);
	close(fd);

	scrape(r);
	assert_true(sample(r->body,
			   "wgpunchd_requests_total{type=\"register\"}") ==
		    reg0 + 3);
	assert_true(sample(r->body, "wgpunchd_rx_datagrams_total") == rx0 + 3);
	assert_true(sample(r->body, "wgpunchd_requests_total{type=\"lookup\"}") ==
		    lookup0);
	assert_true(sample(r->body, "wgpunchd_registered") == 1);
	/* A new key: one X25519, within the budget. */
	assert_true(sample(r->body, "wgpunchd_x25519_total") == 1);
	free(r);
}

/* Another path is 404; another method 405, saying which are allowed. */
static void test_not_found_not_allowed(void **state)
{
	struct response *r = malloc(sizeof(*r));

	(void)state;
	assert_non_null(r);
	get("/", r);
	assert_int_equal(r->status, 404);
	get("/metricsx", r);
	assert_int_equal(r->status, 404);
	get("/metrics?x=1", r);		/* a query is not another path */
	assert_int_equal(r->status, 200);
	http(srv.http_port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n"
	     "\r\nabc", r);
	assert_int_equal(r->status, 405);
	assert_true(has_header(r, "Allow", "GET, HEAD"));
	http(srv.http_port, "DELETE /metrics HTTP/1.0\r\n\r\n", r);
	assert_int_equal(r->status, 405);
	http(srv.http_port, "HEAD /metrics HTTP/1.0\r\n\r\n", r);
	assert_int_equal(r->status, 200);
	assert_string_equal(r->body, "");
	free(r);
}

/* utime + stime of pid, in clock ticks. */
static unsigned long long cpu_ticks(pid_t pid)
{
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	p = strrchr(buf, ')');
	assert_non_null(p);
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime */
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %llu %llu", &ut, &st), 2);
	return ut + st;
}

/*
 * Scrapers that connect and send nothing fill the listener (4
 * connections): the daemon neither spins nor stops serving UDP, and
 * scrapes work again once they are gone.
 */
static void test_idle_connections(void **state)
{
	struct response *r = malloc(sizeof(*r));
	int fds[METRICS_MAX_CONNECTIONS], fd, i;
	unsigned long long before;
	struct tclient c;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < METRICS_MAX_CONNECTIONS; i++)
		fds[i] = tcp_connect(srv.http_port);
	usleep(100000);
	before = cpu_ticks(srv.pid);
	usleep(500000);
	/* 100 ticks a second: a spinning loop would take ~50. */
	assert_true(cpu_ticks(srv.pid) - before < 20);

	tclient_init(&c, server_pub);
	fd = udp_client();
	do_register(&c, fd);
	close(fd);

	for (i = 0; i < METRICS_MAX_CONNECTIONS; i++)
		close(fds[i]);
	scrape(r);
	check_format(r->body);
	free(r);
}

/* Socket inodes of pid that are TCP sockets (from /proc/net/tcp{,6})
 * in LISTEN state. */
static unsigned int tcp_listeners(pid_t pid)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char path[64], link[64], line[512];
	unsigned long inodes[256], inode;
	unsigned int n = 0, found = 0, t, i, st;
	struct dirent *de;
	DIR *dir;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)) && n < 256) {
		ssize_t len = readlinkat(dirfd(dir), de->d_name, link,
					 sizeof(link) - 1);

		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inode) == 1)
			inodes[n++] = inode;
	}
	closedir(dir);
	for (t = 0; t < 2; t++) {
		f = fopen(tables[t], "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			/* sl local rem st tx:rx tr:when retr uid timeout inode */
			if (sscanf(line, " %*s %*s %*s %x %*s %*s %*s %*u %*u %lu",
				   &st, &inode) != 2)
				continue;
			for (i = 0; i < n; i++)
				if (inodes[i] == inode && st == 0x0A)
					found++;
		}
		fclose(f);
	}
	return found;
}

/* With --metrics, one TCP listener; without, none. */
static void test_no_option_no_tcp(void **state)
{
	struct daemon other;

	(void)state;
	assert_int_equal(tcp_listeners(srv.pid), 1);
	assert_int_equal(daemon_start(&other, false, key_path, NULL), 0);
	assert_int_equal(tcp_listeners(other.pid), 0);
	assert_null(strstr(other.text, "metrics at"));
	assert_int_equal(daemon_stop(&other), 0);
}

/* --metrics [::1]:0 listens on IPv6 loopback. */
static void test_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct daemon other;
	unsigned int port;
	const char *p;
	char buf[256];
	ssize_t n;
	int fd;

	(void)state;
	assert_int_equal(daemon_start(&other, false, key_path, "--metrics",
				      "[::1]:0", NULL), 0);
	p = daemon_log_wait(&other, "metrics at http://[::1]:");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "metrics at http://[::1]:%u/", &port), 1);
	sin6.sin6_port = htons((uint16_t)port);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	assert_int_equal(send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, 0), 25);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
	assert_true(n > 12);
	buf[n] = '\0';
	assert_true(!strncmp(buf, "HTTP/1.1 200 ", 13) ||
		    !strncmp(buf, "HTTP/1.0 200 ", 13));
	close(fd);
	assert_int_equal(daemon_stop(&other), 0);
}

/* Bad --metrics values: exit 2 and the value named; a port in use:
 * exit 1 and why. */
static void test_usage_errors(void **state)
{
	static const char *const bad[] = {
		"", "nonsense", "localhost:9100", "::1:9100", "[::1]",
		"198.18.0.1", "[198.18.0.1]:9100", "198.18.0.1:", "127.0.0.1:x",
		"[::1]:-1", "[]:9100", ":9100", "9100 ",
	};
	char err[4096], want[160], port[8];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wgpunchd_refuses(err, sizeof(err),
						  "--private-key", key_path,
						  "--metrics", bad[i], NULL), 2);
		snprintf(want, sizeof(want), "wgpunchd: --metrics: expected "
			 "[ADDR:]PORT with a numeric address (9100, "
			 "198.18.0.1:9100 or [::1]:9100), got '%s'\n", bad[i]);
		if (strcmp(err, want))
			fail_msg("--metrics '%s': got \"%s\"", bad[i], err);
	}
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "--private-key",
					  key_path, "--metrics",
					  "127.0.0.1:65536", NULL), 2);
	expect_in(err, "wgpunchd: --metrics PORT: expected a number from 0 "
		  "to 65535, got '65536'");
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "--private-key",
					  key_path, "--metrics", NULL), 2);
	expect_in(err, "--metrics");

	snprintf(port, sizeof(port), "%u", srv.http_port);
	assert_int_equal(wgpunchd_refuses(err, sizeof(err), "--private-key",
					  key_path, "-p", "0", "-P", "0",
					  "--metrics", port, NULL), 1);
	snprintf(want, sizeof(want), "--metrics %s: cannot listen: Address "
		 "already in use", port);
	expect_in(err, want);
}

/* Two workers' counters and gauges add up on a scrape. */
static void test_sum_workers(void **state)
{
	struct server *w[2];
	const struct server *workers[2];
	struct server_config cfg;
	uint8_t priv[WGP_KEY_LEN];
	char *body = malloc(METRICS_BODY_MAX);
	int i, len;

	(void)state;
	assert_non_null(body);
	server_config_defaults(&cfg);
	cfg.capacity = 50;
	cfg.dh_rate = 100;
	for (i = 0; i < 2; i++) {
		w[i] = calloc(1, sizeof(*w[i]));
		assert_non_null(w[i]);
		wgp_key_generate(priv);
		assert_int_equal(server_init(w[i], &cfg, priv, wgp_mono_ms()), 0);
		workers[i] = w[i];
	}
	w[0]->st.registers = 5;
	w[1]->st.registers = 7;
	w[0]->st.dh_dropped = 1;
	w[1]->st.dh_dropped = 2;
	w[1]->relay.st.fwd_bytes = 1000;
	w[0]->load_until = wgp_mono_ms() + 60000;

	len = metrics_render(body, METRICS_BODY_MAX, workers, 2, wgp_mono_ms());
	assert_true(len > 0);
	check_format(body);
	assert_true(sample(body, "wgpunchd_requests_total{type=\"register\"}") == 12);
	assert_true(sample(body, "wgpunchd_dropped_total{reason=\"dh_budget\"}") == 3);
	assert_true(sample(body, "wgpunchd_relay_forwarded_bytes_total") == 1000);
	assert_true(sample(body, "wgpunchd_capacity") == 100);
	assert_true(sample(body, "wgpunchd_dh_budget_rate") == 200);
	assert_true(sample(body, "wgpunchd_dh_budget_tokens") == 200);
	assert_true(sample(body, "wgpunchd_under_load") == 1);
	/* Too small a buffer is an error, not a cut-off scrape. */
	assert_int_equal(metrics_render(body, (size_t)len, workers, 2,
					wgp_mono_ms()), -ENOSPC);
	for (i = 0; i < 2; i++) {
		server_free(w[i]);
		free(w[i]);
	}
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_counters_move),
		cmocka_unit_test(test_not_found_not_allowed),
		cmocka_unit_test(test_idle_connections),
		cmocka_unit_test(test_no_option_no_tcp),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_sum_workers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
