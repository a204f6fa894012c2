/* SPDX-License-Identifier: MIT */
/*
 * The wgpunch program end to end beside real wireguard-go, against a
 * rendezvous server played by this test (it holds the server key and
 * speaks the real protocol through src/common/proto.h), all in the
 * test's own network and mount namespaces (root).
 *
 * wga is the interface wgpunch runs on. Its peer B is wgb, a second
 * wireguard-go with a live handshake (fresh: must be left alone). Peer C
 * is wgc, a third one with no handshake yet (stale): test_up, which runs
 * first, has the fake server give wga wgc's real address, and the
 * handshake that follows is what proves C (a v1 server's peers answer
 * no path probes). After it, B and C are both fresh, so every later
 * test decides on the peers it adds itself (D, F, G, H; removed again
 * after each test).
 *
 * Peer H speaks version 2: the fake server reports it with
 * WGP_F_PROBES, and the test plays H's wgpunch at H's candidate
 * addresses, checking each path probe with H's keys and answering (or
 * not) as the case needs.
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "endpoint.h"
#include "key.h"
#include "pathmsg.h"
#include "proto.h"
#include "status.h"
#include "wg.h"
#include "wg_uapi.h"
#include "wglab.h"

#define SRV "198.18.0.1"

struct fake_peer {
	uint8_t key[WGP_KEY_LEN];
	uint8_t flags;
	const char *ep;
};

struct fake {
	int fd[2];			/* main port, probe port */
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN];
	char pub_b64[WGP_KEY_B64_SIZE];
	bool symmetric;			/* other mapping on the probe port */
	bool silent;
	bool probe_silent;		/* the probe port never answers */
	bool no_records;		/* only "available" bits: LOOKUP them */
	uint32_t ttl;
	struct fake_peer peers[4];
	unsigned int n_peers;
	unsigned int registers, probes[2], lookups;
	uint16_t register_sport;
	uint8_t register_flags;
	uint8_t client_key[WGP_KEY_LEN];
};

static const char *skip_why;
static pid_t wga = -1, wgb = -1;
static char a_priv[65], a_pub[65], a_b64[45];
static char b_priv[65], b_pub[65], b_b64[45];
static char c_priv[65], c_pub[65], c_b64[45];
static char d_priv[65], d_pub[65], d_b64[45];
static char f_priv[65], f_pub[65], f_b64[45];
static struct fake fake;
static pid_t child = -1;		/* the wgpunch under test, if running */
static enum { OUT_LOG, OUT_FULL, OUT_CLOSED } child_stdout;

#define NEED_LAB() do { if (skip_why) { print_message("skipped: %s\n", skip_why); skip(); } } while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int udp_bound(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, SRV, &sin.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
		return -1;
	return fd;
}

static bool handshake_done(void)
{
	struct wg_device dev;
	uint8_t key[WG_KEY_LEN];
	bool done = false;

	uapi_key_from_hex(key, b_pub, 64);
	if (wg_get_device("wga", &dev))
		return false;
	done = wg_find_peer(&dev, key) &&
	       wg_find_peer(&dev, key)->last_handshake.tv_sec != 0;
	wg_free_device(&dev);
	return done;
}

static int group_setup(void **state)
{
	char req[1024];

	(void)state;
	if (!getenv("WGPUNCH")) {
		skip_why = "WGPUNCH (the program under test) is not set";
		return 0;
	}
	skip_why = lab_enter();
	if (skip_why)
		return 0;
	if (lab_sh("ip addr add " SRV "/32 dev lo"))
		return -1;
	wga = lab_wggo_start("wga");
	wgb = lab_wggo_start("wgb");
	if (wga < 0 || wgb < 0 || lab_sh("ip link set wga up && ip link set wgb up"))
		return -1;
	lab_keypair(a_priv, a_pub, a_b64);
	lab_keypair(b_priv, b_pub, b_b64);
	lab_keypair(c_priv, c_pub, c_b64);
	lab_keypair(d_priv, d_pub, d_b64);
	lab_keypair(f_priv, f_pub, f_b64);
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\nlisten_port=51821\n"
		 "public_key=%s\nallowed_ip=198.19.0.1/32\n\n", b_priv, a_pub);
	if (lab_uapi("wgb", req))
		return -1;
	/* The keepalive makes wga handshake with wgb at once. */
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\nlisten_port=51820\n"
		 "public_key=%s\nendpoint=" SRV ":51821\nallowed_ip=198.19.0.2/32\n"
		 "persistent_keepalive_interval=1\n"
		 "public_key=%s\nallowed_ip=198.19.0.3/32\n\n", a_priv, b_pub, c_pub);
	if (lab_uapi("wga", req))
		return -1;
	for (int i = 0; i < 500 && !handshake_done(); i++)
		usleep(10000);
	if (!handshake_done())
		return -1;

	wgp_key_generate(fake.priv);
	wgp_key_public(fake.pub, fake.priv);
	wgp_key_to_base64(fake.pub_b64, fake.pub);
	fake.fd[0] = udp_bound(WGP_PORT);
	fake.fd[1] = udp_bound(WGP_PROBE_PORT);
	return fake.fd[0] < 0 || fake.fd[1] < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	lab_wggo_stop(wga);
	lab_wggo_stop(wgb);
	return 0;
}

static void fake_reset(void)
{
	fake.symmetric = fake.silent = fake.no_records = false;
	fake.probe_silent = false;
	fake.lookups = 0;
	fake.ttl = 120;
	fake.n_peers = 0;
	fake.registers = fake.probes[0] = fake.probes[1] = 0;
	fake.register_sport = 0;
}

static void fake_knows(const char *pub_hex, const char *ep, uint8_t flags)
{
	struct fake_peer *p = &fake.peers[fake.n_peers++];

	uapi_key_from_hex(p->key, pub_hex, 64);
	p->ep = ep;
	p->flags = flags;
}

static void ep_of(struct wgp_endpoint *ep, const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(endpoint_parse(s, strlen(s), 0, &ss), 0);
	assert_int_equal(wgp_endpoint_from_sockaddr(ep, (struct sockaddr *)&ss,
						    sizeof(ss)), 0);
}

static void fake_register(struct wgp_msg *out, const struct wgp_msg *in,
			  const struct sockaddr_in *src)
{
	struct wgp_register_reply *rr = &out->u.reg_reply;

	out->type = WGP_REGISTER_REPLY;
	fake.registers++;
	fake.register_sport = ntohs(src->sin_port);
	fake.register_flags = in->u.reg.flags;
	memcpy(fake.client_key, in->key, WGP_KEY_LEN);
	rr->ttl = fake.ttl;
	wgp_endpoint_from_sockaddr(&rr->self, (const struct sockaddr *)src, sizeof(*src));
	for (unsigned int i = 0; i < in->u.reg.n_consent; i++) {
		for (unsigned int j = 0; j < fake.n_peers; j++) {
			uint8_t digest[WGP_CONSENT_LEN];

			wgp_consent_digest(digest, fake.peers[j].key);
			if (memcmp(digest, in->u.reg.consent[i], WGP_CONSENT_LEN))
				continue;
			rr->available |= 1ULL << i;
			if (fake.no_records) {
				rr->flags |= WGP_RF_MORE;
				continue;
			}
			rr->peers[rr->n_peers].index = (uint8_t)i;
			rr->peers[rr->n_peers].flags = fake.peers[j].flags;
			ep_of(&rr->peers[rr->n_peers].ep, fake.peers[j].ep);
			rr->n_peers++;
		}
	}
}

static void fake_lookup(struct wgp_msg *out, const struct wgp_msg *in,
			const struct sockaddr_in *src)
{
	struct wgp_lookup_reply *lr = &out->u.lookup_reply;

	out->type = WGP_LOOKUP_REPLY;
	fake.lookups++;
	lr->ttl = fake.ttl;
	wgp_endpoint_from_sockaddr(&lr->self, (const struct sockaddr *)src, sizeof(*src));
	lr->status = WGP_LOOKUP_UNAVAILABLE;
	for (unsigned int j = 0; j < fake.n_peers; j++) {
		if (memcmp(fake.peers[j].key, in->u.lookup.target, WGP_KEY_LEN))
			continue;
		lr->status = WGP_LOOKUP_OK;
		lr->peer_flags = fake.peers[j].flags;
		ep_of(&lr->peer, fake.peers[j].ep);
	}
}

/* Answer one datagram on socket i. */
static void fake_one(int i)
{
	uint8_t buf[2048], out[2048];
	struct sockaddr_in src;
	socklen_t slen = sizeof(src);
	struct wgp_session sess;
	struct wgp_msg in, reply = { 0 };
	ssize_t n, len;

	n = recvfrom(fake.fd[i], buf, sizeof(buf), 0, (struct sockaddr *)&src, &slen);
	if (n <= 0 || fake.silent || (fake.probe_silent && i == 1))
		return;
	assert_int_equal(wgp_parse_header(&in, buf, (size_t)n), 0);
	assert_int_equal(wgp_session_server(&sess, fake.priv, fake.pub, in.key), 0);
	/* Authentic: sealed with the interface's own private key. */
	assert_int_equal(wgp_open(&in, buf, (size_t)n, &sess), 0);
	memcpy(reply.txid, in.txid, WGP_TXID_LEN);
	switch (in.type) {
	case WGP_REGISTER:
		assert_int_equal(i, 0);
		fake_register(&reply, &in, &src);
		break;
	case WGP_LOOKUP:
		assert_int_equal(i, 0);
		fake_lookup(&reply, &in, &src);
		break;
	case WGP_PROBE:
		fake.probes[i]++;
		reply.type = WGP_PROBE_REPLY;
		if (fake.symmetric && i == 1)
			src.sin_port = htons((uint16_t)(ntohs(src.sin_port) + 1000));
		wgp_endpoint_from_sockaddr(&reply.u.probe_reply.self,
					   (struct sockaddr *)&src, sizeof(src));
		reply.u.probe_reply.local_port = i ? WGP_PROBE_PORT : WGP_PORT;
		if (fake.symmetric && i == 1)
			src.sin_port = htons((uint16_t)(ntohs(src.sin_port) - 1000));
		break;
	default:
		fail_msg("unexpected %s", wgp_type_name(in.type));
	}
	len = wgp_seal(out, sizeof(out), &reply, &sess);
	assert_true(len > 0);
	assert_int_equal(sendto(fake.fd[i], out, (size_t)len, 0, (struct sockaddr *)&src,
				slen), len);
}

static void fake_serve(int ms)
{
	struct pollfd p[2] = {
		{ .fd = fake.fd[0], .events = POLLIN },
		{ .fd = fake.fd[1], .events = POLLIN },
	};

	if (poll(p, 2, ms) <= 0)
		return;
	for (int i = 0; i < 2; i++) {
		if (p[i].revents & POLLIN)
			fake_one(i);
	}
}

/* Start wgpunch with args (NULL-terminated), output into out_path. */
static pid_t wgpunch_start(const char *out_path, ...)
{
	const char *argv[20] = { "wgpunch", "--server", SRV, "--server-key",
				 fake.pub_b64, "--log-level", "debug" };
	int argc = 7;
	va_list ap;
	pid_t pid;

	va_start(ap, out_path);
	while ((argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* Never outlive the test, even if it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 2);
		if (child_stdout == OUT_LOG)
			dup2(fd, 1);
		else if (child_stdout == OUT_FULL)
			dup2(open("/dev/full", O_WRONLY), 1);
		else
			close(1);
		close(fd);
		execv(getenv("WGPUNCH"), (char *const *)argv);
		_exit(127);
	}
	child = pid;
	return pid;
}

/* After each test, pass or fail: no wgpunch left running. */
static int kill_child(void **state)
{
	(void)state;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	return 0;
}

static int kill_child(void **state);

/* Serve until the child exits (its exit status) or ms pass (-1, and
 * the child is killed: it must not outlive its test). */
static int serve_until_exit(pid_t pid, unsigned int ms)
{
	uint64_t end = now_ms() + ms;
	int st;

	while (now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			child = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		fake_serve(20);
	}
	kill_child(NULL);
	return -1;
}

static char *slurp(const char *path)
{
	static char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void expect_in(const char *text, const char *what)
{
	if (!strstr(text, what))
		fail_msg("missing \"%s\" in:\n%s", what ? what : "", text ? text : "");
}

static void peer_state(const char *b64, char ep[80], char ka[16])
{
	if (lab_wg_peer("wga", b64, ep, ka))
		fail_msg("peer %s not on wga", b64);
}

static void test_up(void **state)
{
	const char *log = "/tmp/wgpunch-test-up.log";
	char ep[80], ka[16], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	fake_knows(b_pub, "198.18.0.50:7000", 0);	/* fresh: must not be used */
	fake_knows(c_pub, "198.18.0.66:7000", 0);
	pid = wgpunch_start(log, "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 10000), 0);
	out = slurp(log);
	/* It spoke from WireGuard's port, as wga, after a mapping check on
	 * both ports. */
	assert_int_equal(fake.register_sport, 51820);
	assert_true(fake.registers >= 1);
	assert_true(fake.probes[0] >= 1 && fake.probes[1] >= 1);
	assert_int_equal(fake.register_flags, 0);
	{
		uint8_t key[WGP_KEY_LEN];

		uapi_key_from_hex(key, a_pub, 64);
		assert_memory_equal(fake.client_key, key, WGP_KEY_LEN);
	}
	peer_state(c_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.66:7000");
	assert_string_equal(ka, "25");
	peer_state(b_b64, ep, ka);
	assert_string_equal(ep, SRV ":51821");
	assert_string_equal(ka, "1");
	expect_in(out, "left alone");
	expect_in(out, "endpoint 198.18.0.66:7000, keepalive 25 s");
	unlink(log);
}

/* The server leaves the records out (as it does when they would make
 * its reply longer than the request): each peer is looked up. */
static void test_up_lookup(void **state)
{
	const char *log = "/tmp/wgpunch-test-lookup.log";
	char ep[80], ka[16], req[256];
	pid_t pid;

	(void)state;
	NEED_LAB();
	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nallowed_ip=198.19.0.4/32\n\n", d_pub);
	assert_int_equal(lab_uapi("wga", req), 0);
	fake_reset();
	fake.no_records = true;
	fake_knows(c_pub, "198.18.0.67:7000", 0);
	fake_knows(d_pub, "198.18.0.68:7000", 0);
	pid = wgpunch_start(log, "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 10000), 0);
	assert_true(fake.lookups >= 2);
	peer_state(c_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.67:7000");
	peer_state(d_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.68:7000");
	assert_string_equal(ka, "25");
	unlink(log);
}

static void test_up_symmetric(void **state)
{
	const char *log = "/tmp/wgpunch-test-sym.log";
	char ep[80], ka[16], *out, req[256];
	pid_t pid;

	(void)state;
	NEED_LAB();
	/* F, a new peer with no endpoint; our NAT is symmetric. */
	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nallowed_ip=198.19.0.6/32\n\n", f_pub);
	assert_int_equal(lab_uapi("wga", req), 0);
	fake_reset();
	fake.symmetric = true;
	fake_knows(f_pub, "198.18.0.77:7000", 0);
	/* C went stale and the server does not know it now: unresolved
	 * when the timeout comes. */
	pid = wgpunch_start(log, "--timeout", "3", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 10000), 3);
	out = slurp(log);
	expect_in(out, "cannot be punched directly: our NAT uses endpoint-dependent "
		  "mapping (symmetric); a relay is needed");
	expect_in(out, "unresolved: not registered with the server");
	/* The registration carried the finding, for the peers' sake. */
	assert_int_equal(fake.register_flags, WGP_F_SYMMETRIC);
	peer_state(f_b64, ep, ka);
	assert_string_equal(ep, "(none)");

	/* The peer's NAT symmetric instead. */
	fake_reset();
	fake_knows(f_pub, "198.18.0.77:7000", WGP_F_SYMMETRIC);
	pid = wgpunch_start(log, "--timeout", "3", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 10000), 3);
	out = slurp(log);
	expect_in(out, "cannot be punched directly: the peer's NAT uses "
		  "endpoint-dependent mapping (symmetric); a relay is needed");
	peer_state(f_b64, ep, ka);
	assert_string_equal(ep, "(none)");
	unlink(log);
}

static void test_up_silent_server(void **state)
{
	const char *log = "/tmp/wgpunch-test-silent.log";
	uint64_t t0 = now_ms();
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	fake.silent = true;
	pid = wgpunch_start(log, "--timeout", "2", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 6000), 3);
	/* It gave up at its deadline, not later. */
	assert_in_range(now_ms() - t0, 1900, 3500);
	out = slurp(log);
	expect_in(out, "unresolved: no answer from the rendezvous server");
	expect_in(out, f_b64);
	unlink(log);
}

static void test_daemon(void **state)
{
	const char *log = "/tmp/wgpunch-test-daemon.log";
	char ep[80], ka[16], req[256], e_priv[65], e_pub[65], e_b64[45];
	uint64_t end;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	fake.ttl = 2;			/* rounds every second */
	lab_keypair(e_priv, e_pub, e_b64);
	fake_knows(e_pub, "198.18.0.88:7000", 0);
	pid = wgpunch_start(log, "daemon", "wga", NULL);
	/* A peer added while it runs is picked up by a later round. */
	end = now_ms() + 1500;
	while (now_ms() < end)
		fake_serve(20);
	assert_true(fake.registers >= 1);
	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nallowed_ip=198.19.0.5/32\n\n", e_pub);
	assert_int_equal(lab_uapi("wga", req), 0);
	end = now_ms() + 5000;
	do {
		fake_serve(20);
		peer_state(e_b64, ep, ka);
	} while (strcmp(ep, "198.18.0.88:7000") && now_ms() < end);
	assert_string_equal(ep, "198.18.0.88:7000");
	assert_string_equal(ka, "25");
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);	/* still running */
	/* SIGTERM: a clean, prompt exit. */
	kill(pid, SIGTERM);
	assert_int_equal(serve_until_exit(pid, 2000), 0);
	unlink(log);
}

static unsigned int count_in(const char *text, const char *what)
{
	unsigned int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* The probe port is firewalled, the main port answers: the NAT type is
 * unknown, which is said (naming the probe port), and registering goes
 * ahead without the symmetric flag, promptly. */
static void test_up_probe_port_silent(void **state)
{
	const char *log = "/tmp/wgpunch-test-probe.log";
	uint64_t t0 = now_ms();
	char ep[80], ka[16], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	fake.probe_silent = true;
	fake_knows(c_pub, "198.18.0.69:7000", 0);
	pid = wgpunch_start(log, "--timeout", "4", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 8000), 0);
	assert_in_range(now_ms() - t0, 0, 3000);
	out = slurp(log);
	expect_in(out, "no answer from the server's probe port 49919: cannot "
		  "check whether our NAT is symmetric; registering anyway");
	assert_null(strstr(out, "no answer from the rendezvous server"));
	assert_true(fake.registers >= 1);
	assert_int_equal(fake.register_flags, 0);
	assert_int_equal(fake.probes[1], 0);
	peer_state(c_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.69:7000");
	unlink(log);
}

/* Every peer of wgb (only A) has a fresh handshake: "up" registers
 * anyway (a wrong server setting shows at once), prints each peer once,
 * and a silent server is a warning, not a failure. */
static void test_up_all_fresh(void **state)
{
	const char *log = "/tmp/wgpunch-test-fresh.log";
	uint64_t t0;
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	pid = wgpunch_start(log, "--log-level", "info", "up", "wgb", NULL);
	assert_int_equal(serve_until_exit(pid, 8000), 0);
	assert_int_equal(fake.registers, 1);
	assert_int_equal(fake.register_sport, 51821);
	out = slurp(log);
	expect_in(out, "registered with " SRV ":49918");
	/* One line per peer, on stdout; not repeated in the log. */
	assert_int_equal(count_in(out, "left alone"), 1);
	expect_in(out, a_b64);

	fake.silent = true;
	t0 = now_ms();
	pid = wgpunch_start(log, "--timeout", "15", "up", "wgb", NULL);
	assert_int_equal(serve_until_exit(pid, 10000), 0);
	/* It stopped once the mapping check showed nobody answers, long
	 * before its --timeout. */
	assert_in_range(now_ms() - t0, 2000, 7000);
	out = slurp(log);
	expect_in(out, "warning: no answer from the rendezvous server at " SRV
		  ":49918 (wrong --server-key, server down, or UDP blocked?); "
		  "every peer has a fresh handshake");
	unlink(log);
}

/* The report on stdout must reach it: a full disk or a closed stdout
 * is a failure, said on stderr. */
static void test_up_stdout_errors(void **state)
{
	const char *log = "/tmp/wgpunch-test-stdout.log";
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	child_stdout = OUT_FULL;
	pid = wgpunch_start(log, "up", "wgb", NULL);
	assert_int_equal(serve_until_exit(pid, 8000), 1);
	out = slurp(log);
	expect_in(out, "wgpunch: writing the report to standard output: No space left on device");
	child_stdout = OUT_CLOSED;
	pid = wgpunch_start(log, "up", "wgb", NULL);
	assert_int_equal(serve_until_exit(pid, 8000), 1);
	child_stdout = OUT_LOG;
	out = slurp(log);
	expect_in(out, "wgpunch: writing the report to standard output: Bad file descriptor");
	/* It still did its work: nothing was written anywhere else. */
	assert_int_equal(fake.registers, 2);
	unlink(log);
}

/* Usage errors exit 2 (unresolved peers are 3), say "wgpunch:" and what
 * is wrong; nothing is sent. */
static void test_usage_errors(void **state)
{
	static const struct {
		const char *args[4];
		const char *msg;
	} cases[] = {
		{ { "up", "wga", "extra" }, "wgpunch: unexpected argument 'extra'" },
		{ { "up" }, "expected a command (up or daemon) and an interface" },
		{ { "--bogus", "up", "wga" }, "wgpunch: unrecognized option '--bogus'" },
		{ { "-t", "0", "up", "wga" }, "timeout must be" },
		{ { "-K", "/nonexistent", "up", "wga" },
		  "both --server-key and --server-key-file given: use one" },
		{ { "-s", "2001:db8::1:49918", "up", "wga" },
		  "server '2001:db8::1:49918' is neither an IPv4/IPv6 address nor "
		  "a resolvable name (IPv6 with a port: [2001:db8::1]:49918)" },
		{ { "sideways", "wga" }, "unknown command" },
	};
	const char *log = "/tmp/wgpunch-test-usage.log";
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid = wgpunch_start(log, cases[i].args[0], cases[i].args[1],
				    cases[i].args[2], cases[i].args[3], NULL);
		assert_int_equal(serve_until_exit(pid, 3000), 2);
		out = slurp(log);
		expect_in(out, cases[i].msg);
		assert_null(strstr(out, "/wgpunch"));
		assert_true(!strncmp(out, "wgpunch: ", 9));
	}
	assert_int_equal(fake.registers + fake.probes[0] + fake.probes[1], 0);
	unlink(log);
}

/* Wait until the file at path holds what (true), or ms pass. */
static bool log_shows(const char *path, const char *what, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	do {
		/* The child may not have created it yet. */
		if (access(path, F_OK) == 0 && strstr(slurp(path), what))
			return true;
		fake_serve(20);
	} while (now_ms() < end);
	return false;
}

/* The daemon says when the server goes silent and when it is back (not
 * every retry); SIGHUP makes it look again at once, and it lives on. */
static void test_daemon_server_states(void **state)
{
	const char *log = "/tmp/wgpunch-test-states.log";
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	fake.silent = true;
	pid = wgpunch_start(log, "--log-level", "info", "daemon", "wgb", NULL);
	if (!log_shows(log, "warning: no answer from the rendezvous server at "
		       SRV ":49918 (wrong --server-key, server down, or UDP "
		       "blocked?); trying again in", 20000))
		fail_msg("no warning about the silent server:\n%s", slurp(log));
	out = slurp(log);
	expect_in(out, "daemon started: rendezvous server " SRV ":49918, probe port 49919");
	assert_null(strstr(out, "registered with"));
	fake.silent = false;
	kill(pid, SIGHUP);
	if (!log_shows(log, "registered with " SRV ":49918", 3000))
		fail_msg("SIGHUP did not bring a registration:\n%s", slurp(log));
	out = slurp(log);
	expect_in(out, "SIGHUP: reading the interface and registering again now");
	expect_in(out, "the rendezvous server at " SRV ":49918 answers again");
	assert_int_equal(count_in(out, "no answer from the rendezvous server"), 1);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);	/* still running */
	kill(pid, SIGTERM);
	assert_int_equal(serve_until_exit(pid, 2000), 0);
	unlink(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_up, kill_child),
		cmocka_unit_test_teardown(test_up_probe_port_silent, kill_child),
		cmocka_unit_test_teardown(test_up_all_fresh, kill_child),
		cmocka_unit_test_teardown(test_up_stdout_errors, kill_child),
		cmocka_unit_test_teardown(test_usage_errors, kill_child),
		cmocka_unit_test_teardown(test_daemon_server_states, kill_child),
		cmocka_unit_test_teardown(test_up_lookup, kill_child),
		cmocka_unit_test_teardown(test_up_symmetric, kill_child),
		cmocka_unit_test_teardown(test_up_silent_server, kill_child),
		cmocka_unit_test_teardown(test_daemon, kill_child),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
