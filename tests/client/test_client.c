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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <sodium.h>

#include "endpoint.h"
#include "key.h"
#include "pathmsg.h"
#include "proto.h"
#include "status.h"
#include "wg.h"
#include "wg_uapi.h"
#include "wglab.h"

#define SRV "198.18.0.1"
/* An address of wgc's, i.e. of this host but not of wga: the host
 * candidate wgpunch must report for itself (lo's do not count). */
#define HOSTADDR "198.18.1.1"

struct fake_peer {
	uint8_t key[WGP_KEY_LEN];
	uint8_t flags;
	const char *ep;
	const char *cand;		/* a host candidate (v2 replies) */
};

/*
 * One candidate address of a peer whose wgpunch the test plays: every
 * datagram to it must be an authentic PATH_PROBE (opened with the peer's
 * keys) naming that address; answered from reply_fd, -1 for silence.
 */
struct fake_cand {
	int fd;
	int reply_fd;
	struct wgp_endpoint self;
	struct path_keys keys;
	uint64_t counter;
	unsigned int probes;		/* authentic probes */
	unsigned int wireguard;		/* WireGuard's own messages */
	unsigned int bad;		/* anything else, or the wrong address */
	uint16_t probe_sport;		/* of the latest probe */
};

struct fake {
	int fd[2];			/* main port, probe port */
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN];
	char pub_b64[WGP_KEY_B64_SIZE];
	uint8_t reply_version;		/* 0 (= 1, an older server) or 2 */
	bool symmetric;			/* other mapping on the probe port */
	bool silent;
	bool probe_silent;		/* the probe port never answers */
	bool v1_only;			/* drops version 2, as a wgpunchd
					 * older than it does */
	bool no_records;		/* only "available" bits: LOOKUP them */
	uint32_t ttl;
	struct fake_peer peers[4];
	unsigned int n_peers;
	unsigned int registers, probes[2], lookups, relays;
	unsigned int silent_registers;	/* REGISTERs while silent */
	unsigned int from_wgn;		/* datagrams from wgn's port */
	uint16_t register_sport;
	uint8_t register_flags, register_version;
	struct wgp_endpoint register_cands[WGP_MAX_CANDIDATES];
	uint8_t client_key[WGP_KEY_LEN];
	struct fake_cand cands[2];
	unsigned int n_cands;
	/* A hostile server: answers every REGISTER with this ERROR code
	 * (0: none) and this last_counter (0: the REGISTER's own). */
	uint8_t error_code;
	uint64_t error_last_counter;
	uint64_t max_counter;		/* highest REGISTER counter seen */
	bool count_strays;		/* count (not fail on) datagrams at
					 * the server ports that are not
					 * requests: WireGuard's, probes */
	unsigned int strays;
	/* Under load: REGISTERs without cookie_value get a COOKIE. */
	bool cookies;
	uint8_t cookie_value[WGP_COOKIE_LEN];
	unsigned int cookies_sent;	/* COOKIEs sent */
	unsigned int cookie_registers;	/* REGISTERs with the cookie */
	uint64_t cookie_sent_ms, cookie_back_ms;	/* first of each */
};

static const char *skip_why;
static pid_t wga = -1, wgb = -1, wgc = -1, wgn = -1;
static char a_priv[65], a_pub[65], a_b64[45];
static char b_priv[65], b_pub[65], b_b64[45];
static char c_priv[65], c_pub[65], c_b64[45];
static char d_priv[65], d_pub[65], d_b64[45];
static char f_priv[65], f_pub[65], f_b64[45];
static char g_priv[65], g_pub[65], g_b64[45];
static char h_priv[65], h_pub[65], h_b64[45];
static struct fake fake;

#define SETPRIV "/usr/bin/setpriv"
#define WGN_PORT 51829	/* listen port of wgn, the interface without peers */
static pid_t child = -1;		/* the wgpunch under test, if running */
static bool as_nobody;			/* run it as uid/gid 65534 */
static pid_t uapi_child = -1;		/* a slow fake UAPI server */
static enum { OUT_LOG, OUT_FULL, OUT_CLOSED } child_stdout;
/* This run's logs, apart from any other run's (one per build dir may
 * run at once); what a failed test leaves stays for a look. */
static char log_dir[] = "/tmp/wgpunch-test-client.XXXXXX";
/* Peers a test added to wga (public keys, hex): removed after it. */
static const char *added[8];
static unsigned int n_added;

#define NEED_LAB() do { if (skip_why) { print_message("skipped: %s\n", skip_why); skip(); } } while (0)

/* The log of one test (each test uses one at a time). */
static const char *log_path(const char *name)
{
	static char path[sizeof(log_dir) + 32];

	snprintf(path, sizeof(path), "%s/%s.log", log_dir, name);
	return path;
}

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

/* Has wga had a handshake with the peer pub_hex? */
static bool handshake_done(const char *pub_hex)
{
	struct wg_device dev;
	const struct wg_peer *p;
	uint8_t key[WG_KEY_LEN];
	bool done;

	uapi_key_from_hex(key, pub_hex, 64);
	if (wg_get_device("wga", &dev))
		return false;
	p = wg_find_peer(&dev, key);
	done = p && p->last_handshake.tv_sec != 0;
	wg_free_device(&dev);
	return done;
}

static bool wait_handshake(const char *pub_hex, unsigned int ms)
{
	for (unsigned int i = 0; i < ms / 10 && !handshake_done(pub_hex); i++)
		usleep(10000);
	return handshake_done(pub_hex);
}

/* A private status directory: the daemon's default socket must not
 * land on the host (or meet another test run's daemon there). */
static const char *status_dir_private(void)
{
	mkdir(STATUS_DIR, 0755);
	if (mount("wglab-status", STATUS_DIR, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0755"))
		return "tmpfs on " STATUS_DIR " failed";
	return NULL;
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
	if (!skip_why)
		skip_why = status_dir_private();
	if (skip_why)
		return 0;
	if (!mkdtemp(log_dir))
		return -1;
	if (lab_sh("ip addr add " SRV "/32 dev lo"))
		return -1;
	wga = lab_wggo_start("wga");
	wgb = lab_wggo_start("wgb");
	wgc = lab_wggo_start("wgc");
	if (wga < 0 || wgb < 0 || wgc < 0 ||
	    lab_sh("ip link set wga up && ip link set wgb up && ip link set wgc up "
		   "&& ip addr add " HOSTADDR "/32 dev wgc"))
		return -1;
	lab_keypair(a_priv, a_pub, a_b64);
	lab_keypair(b_priv, b_pub, b_b64);
	lab_keypair(c_priv, c_pub, c_b64);
	lab_keypair(d_priv, d_pub, d_b64);
	lab_keypair(f_priv, f_pub, f_b64);
	lab_keypair(g_priv, g_pub, g_b64);
	lab_keypair(h_priv, h_pub, h_b64);
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\nlisten_port=51821\n"
		 "public_key=%s\nallowed_ip=198.19.0.1/32\n\n", b_priv, a_pub);
	if (lab_uapi("wgb", req))
		return -1;
	/* wgc knows A but not where it is: no handshake until wga has
	 * an endpoint for C. */
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\nlisten_port=51822\n"
		 "public_key=%s\nallowed_ip=198.19.0.1/32\n\n", c_priv, a_pub);
	if (lab_uapi("wgc", req))
		return -1;
	/* The keepalive makes wga handshake with wgb at once. */
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\nlisten_port=51820\n"
		 "public_key=%s\nendpoint=" SRV ":51821\nallowed_ip=198.19.0.2/32\n"
		 "persistent_keepalive_interval=1\n"
		 "public_key=%s\nallowed_ip=198.19.0.3/32\n\n", a_priv, b_pub, c_pub);
	if (lab_uapi("wga", req))
		return -1;
	if (!wait_handshake(b_pub, 5000))
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
	lab_wggo_stop(wgc);
	rmdir(log_dir);		/* empty unless a test failed */
	return 0;
}

static void fake_reset(void)
{
	fake.symmetric = fake.silent = fake.no_records = false;
	fake.probe_silent = false;
	fake.v1_only = false;
	fake.reply_version = 0;
	fake.lookups = 0;
	fake.ttl = 120;
	fake.n_peers = 0;
	fake.registers = fake.probes[0] = fake.probes[1] = 0;
	fake.silent_registers = 0;
	fake.from_wgn = 0;
	fake.error_code = 0;
	fake.error_last_counter = fake.max_counter = 0;
	fake.count_strays = false;
	fake.strays = 0;
	fake.register_sport = 0;
	fake.register_flags = fake.register_version = 0;
	memset(fake.register_cands, 0, sizeof(fake.register_cands));
	fake.cookies = false;
	fake.cookies_sent = fake.cookie_registers = 0;
	fake.cookie_sent_ms = fake.cookie_back_ms = 0;
}

static struct fake_peer *fake_knows(const char *pub_hex, const char *ep, uint8_t flags)
{
	struct fake_peer *p = &fake.peers[fake.n_peers++];

	uapi_key_from_hex(p->key, pub_hex, 64);
	p->ep = ep;
	p->flags = flags;
	p->cand = NULL;
	return p;
}

static void ep_of(struct wgp_endpoint *ep, const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(endpoint_parse(s, strlen(s), 0, &ss), 0);
	assert_int_equal(wgp_endpoint_from_sockaddr(ep, (struct sockaddr *)&ss,
						    sizeof(ss)), 0);
}

/* The peer's host candidate, in replies that have room for it. */
static void cands_of(struct wgp_endpoint cands[WGP_MAX_CANDIDATES],
		     const struct fake_peer *p)
{
	if (fake.reply_version == 2 && p->cand)
		ep_of(&cands[0], p->cand);
}

static void fake_register(struct wgp_msg *out, const struct wgp_msg *in,
			  const struct sockaddr_in *src)
{
	struct wgp_register_reply *rr = &out->u.reg_reply;

	out->type = WGP_REGISTER_REPLY;
	fake.registers++;
	fake.register_sport = ntohs(src->sin_port);
	fake.register_flags = in->u.reg.flags;
	fake.register_version = in->version;
	memcpy(fake.register_cands, in->u.reg.cands, sizeof(fake.register_cands));
	memcpy(fake.client_key, in->key, WGP_KEY_LEN);
	rr->ttl = fake.ttl;
	wgp_endpoint_from_sockaddr(&rr->self, (const struct sockaddr *)src, sizeof(*src));
	for (unsigned int i = 0; i < in->u.reg.n_consent; i++) {
		for (unsigned int j = 0; j < fake.n_peers; j++) {
			struct wgp_peer_rec *rec = &rr->peers[rr->n_peers];
			uint8_t digest[WGP_CONSENT_LEN];

			wgp_consent_digest(digest, fake.peers[j].key);
			if (memcmp(digest, in->u.reg.consent[i], WGP_CONSENT_LEN))
				continue;
			rr->available |= 1ULL << i;
			if (fake.no_records) {
				rr->flags |= WGP_RF_MORE;
				continue;
			}
			rec->index = (uint8_t)i;
			rec->flags = fake.peers[j].flags;
			ep_of(&rec->ep, fake.peers[j].ep);
			cands_of(rec->cands, &fake.peers[j]);
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
		cands_of(lr->cands, &fake.peers[j]);
	}
}

static void fake_error(struct wgp_msg *out, const struct wgp_msg *in)
{
	fake.registers++;
	out->type = WGP_ERROR;
	out->u.error.code = fake.error_code;
	out->u.error.server_time = wgp_now_ns();
	out->u.error.last_counter = fake.error_last_counter ?
				    fake.error_last_counter : in->u.reg.counter;
}

/* Count what a silent server would have answered. */
static void fake_note_silent(const uint8_t *buf, size_t n)
{
	struct wgp_msg in;

	if (!wgp_parse_header(&in, buf, n) && in.type == WGP_REGISTER)
		fake.silent_registers++;
}

/*
 * A loaded wgpunchd: a REGISTER without our cookie gets a COOKIE (from
 * the port it came to) instead of an answer. True when it did.
 */
static bool fake_cookie(int i, const struct wgp_msg *in,
			const struct sockaddr_in *src, socklen_t slen)
{
	uint8_t out[WGP_COOKIE_MSG_LEN];

	if (!fake.cookies || in->type != WGP_REGISTER)
		return false;
	if (in->has_cookie &&
	    !memcmp(in->cookie, fake.cookie_value, WGP_COOKIE_LEN)) {
		if (!fake.cookie_registers++)
			fake.cookie_back_ms = wgp_mono_ms();
		return false;
	}
	if (!fake.cookies_sent++)
		fake.cookie_sent_ms = wgp_mono_ms();
	wgp_cookie_msg(out, in->txid, fake.cookie_value);
	assert_int_equal(sendto(fake.fd[i], out, sizeof(out), 0,
				(const struct sockaddr *)src, slen),
			 (ssize_t)sizeof(out));
	return true;
}

/* Answer one datagram on socket i. */
static void fake_one(int i)
{
	uint8_t buf[2048], out[2048];
	struct sockaddr_in src;
	socklen_t slen = sizeof(src);
	struct wgp_session sess;
	struct wgp_msg in, reply = { .version = fake.reply_version };
	ssize_t n, len;

	n = recvfrom(fake.fd[i], buf, sizeof(buf), 0, (struct sockaddr *)&src, &slen);
	if (n > 0 && ntohs(src.sin_port) == WGN_PORT)
		fake.from_wgn++;
	if (n > 0 && fake.silent)
		fake_note_silent(buf, (size_t)n);
	if (n <= 0 || fake.silent || (fake.probe_silent && i == 1))
		return;
	if (fake.v1_only && buf[WGP_OFF_VERSION] != 1)
		return;
	if (fake.count_strays && wgp_parse_header(&in, buf, (size_t)n)) {
		fake.strays++;
		return;
	}
	assert_int_equal(wgp_parse_header(&in, buf, (size_t)n), 0);
	assert_int_equal(wgp_session_server(&sess, fake.priv, fake.pub, in.key), 0);
	/* Authentic: sealed with the interface's own private key. */
	assert_int_equal(wgp_open(&in, buf, (size_t)n, &sess), 0);
	if (fake_cookie(i, &in, &src, slen))
		return;
	memcpy(reply.txid, in.txid, WGP_TXID_LEN);
	switch (in.type) {
	case WGP_REGISTER:
		assert_int_equal(i, 0);
		if (in.u.reg.counter > fake.max_counter)
			fake.max_counter = in.u.reg.counter;
		if (fake.error_code) {
			fake_error(&reply, &in);
			break;
		}
		fake_register(&reply, &in, &src);
		break;
	case WGP_LOOKUP:
		assert_int_equal(i, 0);
		fake_lookup(&reply, &in, &src);
		break;
	case WGP_RELAY:
		/* A server without a relay. */
		assert_int_equal(i, 0);
		fake.relays++;
		reply.type = WGP_RELAY_GRANT;
		reply.u.relay_grant.status = WGP_RELAY_NONE;
		memcpy(reply.u.relay_grant.peer, in.u.relay.target, WGP_KEY_LEN);
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

/*
 * Play the wgpunch of the peer (priv_hex, pub_hex) at SRV:port, one of
 * its candidates. reply_port: 0 answers from that address, another port
 * answers from SRV:reply_port (not the address probed: must not count),
 * -1 never answers.
 */
static struct fake_cand *fake_cand_add(uint16_t port, int reply_port,
				       const char *priv_hex, const char *pub_hex)
{
	struct fake_cand *fc = &fake.cands[fake.n_cands];
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN], a[WGP_KEY_LEN];
	char addr[32];

	assert_true(fake.n_cands < sizeof(fake.cands) / sizeof(fake.cands[0]));
	memset(fc, 0, sizeof(*fc));
	fc->fd = udp_bound(port);
	assert_true(fc->fd >= 0);
	fake.n_cands++;
	fc->reply_fd = reply_port < 0 ? -1 :
		       reply_port == 0 ? fc->fd : udp_bound((uint16_t)reply_port);
	if (reply_port > 0)
		assert_true(fc->reply_fd >= 0);
	snprintf(addr, sizeof(addr), SRV ":%u", port);
	ep_of(&fc->self, addr);
	uapi_key_from_hex(priv, priv_hex, 64);
	uapi_key_from_hex(pub, pub_hex, 64);
	uapi_key_from_hex(a, a_pub, 64);
	assert_int_equal(path_keys_derive(&fc->keys, priv, pub, a), 0);
	return fc;
}

static void fake_cands_close(void)
{
	for (unsigned int i = 0; i < fake.n_cands; i++) {
		struct fake_cand *fc = &fake.cands[i];

		if (fc->reply_fd >= 0 && fc->reply_fd != fc->fd)
			close(fc->reply_fd);
		close(fc->fd);
	}
	fake.n_cands = 0;
}

/* A WireGuard message: type 1-4 as a little-endian 32-bit word. */
static bool is_wireguard(const uint8_t *buf, size_t n)
{
	return n >= 32 && buf[0] >= 1 && buf[0] <= 4 && !buf[1] && !buf[2] && !buf[3];
}

static void fake_cand_one(struct fake_cand *fc)
{
	uint8_t buf[2048], out[PATH_MSG_LEN], id[PATH_ID_LEN];
	struct path_msg m, r = { .type = PATH_REPLY };
	struct sockaddr_in src;
	socklen_t slen = sizeof(src);
	ssize_t n;

	n = recvfrom(fc->fd, buf, sizeof(buf), 0, (struct sockaddr *)&src, &slen);
	if (n <= 0)
		return;
	/* Once the endpoint is set, WireGuard's handshakes come here too. */
	if (is_wireguard(buf, (size_t)n)) {
		fc->wireguard++;
		return;
	}
	if (!path_peek(buf, (size_t)n, id) || path_open(&m, buf, (size_t)n, &fc->keys) ||
	    m.type != PATH_PROBE || !wgp_endpoint_equal(&m.addr, &fc->self)) {
		fc->bad++;
		return;
	}
	fc->probes++;
	fc->probe_sport = ntohs(src.sin_port);
	/* An opener is not meant to arrive; a real peer would not be
	 * asked to answer it. */
	if (fc->reply_fd < 0 || (m.flags & PATH_F_TTL_LIMITED))
		return;
	memcpy(r.txid, m.txid, PATH_TXID_LEN);
	assert_int_equal(wgp_endpoint_from_sockaddr(&r.addr, (struct sockaddr *)&src,
						    slen), 0);
	r.counter = path_counter_next(&fc->counter, wgp_now_ns());
	assert_int_equal(path_seal(out, &r, &fc->keys), PATH_MSG_LEN);
	assert_int_equal(sendto(fc->reply_fd, out, sizeof(out), 0,
				(struct sockaddr *)&src, slen), PATH_MSG_LEN);
}

static void fake_serve(int ms)
{
	struct pollfd p[4] = {
		{ .fd = fake.fd[0], .events = POLLIN },
		{ .fd = fake.fd[1], .events = POLLIN },
	};
	nfds_t n = 2;

	for (unsigned int i = 0; i < fake.n_cands; i++)
		p[n++] = (struct pollfd){ .fd = fake.cands[i].fd, .events = POLLIN };
	if (poll(p, n, ms) <= 0)
		return;
	for (int i = 0; i < 2; i++) {
		if (p[i].revents & POLLIN)
			fake_one(i);
	}
	for (unsigned int i = 0; i < fake.n_cands; i++) {
		if (p[2 + i].revents & POLLIN)
			fake_cand_one(&fake.cands[i]);
	}
}

/* Add a peer (no endpoint, no handshake) to wga for this test only. */
static void wga_add_peer(const char *pub_hex, const char *allowed_ip)
{
	char req[256];

	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nallowed_ip=%s\n\n",
		 pub_hex, allowed_ip);
	assert_int_equal(lab_uapi("wga", req), 0);
	added[n_added++] = pub_hex;
}

static void wga_remove_added(void)
{
	char req[256];

	for (unsigned int i = 0; i < n_added; i++) {
		snprintf(req, sizeof(req), "set=1\npublic_key=%s\nremove=true\n\n",
			 added[i]);
		lab_uapi("wga", req);
	}
	n_added = 0;
}

/*
 * Tests after test_up expect B and C fresh, so that the peers they add
 * are the only ones left to decide on. If test_up did not get there,
 * set C's endpoint here, so that its failure does not cascade.
 */
static void need_c_fresh(void)
{
	char req[256];

	if (handshake_done(c_pub))
		return;
	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nendpoint=" SRV ":51822\n"
		 "persistent_keepalive_interval=25\n\n", c_pub);
	assert_int_equal(lab_uapi("wga", req), 0);
	assert_true(wait_handshake(c_pub, 5000));
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
	/* A log left by an earlier run must not pass for this one's
	 * (log_shows() may look before the child has opened it). */
	unlink(out_path);
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
		if (as_nobody) {
			const char *sp[28] = { "setpriv", "--reuid=65534",
					       "--regid=65534", "--clear-groups",
					       getenv("WGPUNCH") };

			for (int i = 1; i <= argc; i++)	/* with the NULL */
				sp[4 + i] = argv[i];
			execv(SETPRIV, (char *const *)sp);
			_exit(127);
		}
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

/* ... and wga, the fake server and wgn back as the next test expects. */
static int test_teardown(void **state)
{
	kill_child(state);
	if (skip_why)
		return 0;
	wga_remove_added();
	fake_cands_close();
	child_stdout = OUT_LOG;
	as_nobody = false;
	chmod(WG_UAPI_DIR, 0755);
	if (uapi_child > 0) {
		kill(uapi_child, SIGKILL);
		waitpid(uapi_child, NULL, 0);
		uapi_child = -1;
		unlink(WG_UAPI_DIR "/wgs.sock");
	}
	if (wgn > 0) {
		lab_wggo_stop(wgn);
		wgn = -1;
	}
	return 0;
}

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
	static char buf[65536];
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

static void expect_not_in(const char *text, const char *what)
{
	if (strstr(text, what))
		fail_msg("unexpected \"%s\" in:\n%s", what, text);
}

static unsigned int count_in(const char *text, const char *what)
{
	unsigned int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
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

static void peer_state(const char *b64, char ep[80], char ka[16])
{
	if (lab_wg_peer("wga", b64, ep, ka))
		fail_msg("peer %s not on wga", b64);
}

/* The line "up" printed for a peer (up to its newline), or NULL. */
static const char *peer_line(const char *out, const char *b64, char *buf, size_t len)
{
	char head[80];
	const char *p, *nl;

	snprintf(head, sizeof(head), "peer %s: ", b64);
	for (p = strstr(out, head); p; p = strstr(p + 1, head)) {
		if (p == out || p[-1] == '\n')
			break;
	}
	if (!p)
		return NULL;
	p += strlen(head);
	nl = strchr(p, '\n');
	snprintf(buf, len, "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
	return buf;
}

static void expect_peer_line(const char *out, const char *b64, const char *what)
{
	char line[512];

	if (!peer_line(out, b64, line, sizeof(line)))
		fail_msg("no line for peer %s in:\n%s", b64, out);
	if (!strstr(line, what))
		fail_msg("peer %s: \"%s\" lacks \"%s\"; output:\n%s", b64, line,
			 what, out);
}

/* A peer without path probes whose endpoint is set: "up" cannot call
 * it resolved before a handshake, and must say that it waits for one. */
static void expect_waiting(const char *out, const char *b64, const char *ep)
{
	char what[128];

	snprintf(what, sizeof(what), "endpoint %s, keepalive 25 s", ep);
	expect_peer_line(out, b64, what);
	expect_peer_line(out, b64, "waiting for a handshake");
}

static bool cands_hold(const struct wgp_endpoint cands[WGP_MAX_CANDIDATES],
		       const char *s)
{
	struct wgp_endpoint ep;

	ep_of(&ep, s);
	for (unsigned int i = 0; i < WGP_MAX_CANDIDATES; i++) {
		if (wgp_endpoint_equal(&cands[i], &ep))
			return true;
	}
	return false;
}

/*
 * B is fresh (left alone, whatever the server says); C is stale, and
 * the server, speaking version 1 (no path probes), gives wgc's real
 * address: wgpunch sets it, WireGuard handshakes, and that handshake is
 * what lets "up" count C as resolved.
 */
static void test_up(void **state)
{
	const char *log = log_path("up");
	uint8_t key[WGP_KEY_LEN];
	char ep[80], ka[16], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	assert_false(handshake_done(c_pub));
	fake_reset();
	fake_knows(b_pub, "198.18.0.50:7000", 0);	/* fresh: must not be used */
	fake_knows(c_pub, SRV ":51822", 0);		/* wgc, for real */
	pid = wgpunch_start(log, "--timeout", "10", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 15000), 0);
	out = slurp(log);
	/* It spoke version 2 from WireGuard's port, as wga, after a
	 * mapping check on both ports; it answers path probes, its NAT is
	 * not symmetric, and it named its host address as a candidate. */
	assert_int_equal(fake.register_sport, 51820);
	assert_true(fake.registers >= 1);
	assert_true(fake.probes[0] >= 1 && fake.probes[1] >= 1);
	assert_int_equal(fake.register_version, 2);
	assert_int_equal(fake.register_flags & WGP_F_ALL_V2, WGP_F_PROBES);
	if (!cands_hold(fake.register_cands, HOSTADDR ":51820"))
		fail_msg("the REGISTER's candidates lack " HOSTADDR ":51820");
	assert_false(cands_hold(fake.register_cands, SRV ":51820"));	/* lo's */
	uapi_key_from_hex(key, a_pub, 64);
	assert_memory_equal(fake.client_key, key, WGP_KEY_LEN);
	/* C: set, and proven by a real handshake. */
	peer_state(c_b64, ep, ka);
	assert_string_equal(ep, SRV ":51822");
	assert_string_equal(ka, "25");
	assert_true(handshake_done(c_pub));
	expect_in(out, "endpoint " SRV ":51822, keepalive 25 s (the peer answers no "
		  "path probes: waiting for a handshake)");
	/* The report line may say either: the handshake came, or the
	 * endpoint is set (when no round ran since). */
	{
		char line[512];

		if (!peer_line(out, c_b64, line, sizeof(line)))
			fail_msg("no line for C in:\n%s", out);
		if (!strstr(line, "latest handshake") && !strstr(line, SRV ":51822"))
			fail_msg("C: \"%s\" says neither the handshake nor the "
				 "endpoint", line);
	}
	/* B: untouched. */
	peer_state(b_b64, ep, ka);
	assert_string_equal(ep, SRV ":51821");
	assert_string_equal(ka, "1");
	expect_peer_line(out, b_b64, "left alone");
	unlink(log);
}

/* The server leaves the records out (as it does when they would make
 * its reply longer than the request): each stale peer is looked up.
 * They answer no path probes and nothing handshakes at the addresses
 * given: the endpoints are set, and "up" waits for handshakes until its
 * --timeout, then says so and exits 3. */
static void test_up_lookup(void **state)
{
	const char *log = log_path("lookup");
	char ep[80], ka[16], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	wga_add_peer(d_pub, "198.19.0.4/32");
	wga_add_peer(g_pub, "198.19.0.7/32");
	fake_reset();
	fake.no_records = true;
	fake_knows(d_pub, "198.18.0.67:7000", 0);
	fake_knows(g_pub, "198.18.0.68:7000", 0);
	pid = wgpunch_start(log, "--timeout", "3", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 8000), 3);
	out = slurp(log);
	assert_true(fake.lookups >= 2);
	peer_state(d_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.67:7000");
	assert_string_equal(ka, "25");
	peer_state(g_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.68:7000");
	assert_string_equal(ka, "25");
	expect_waiting(out, d_b64, "198.18.0.67:7000");
	expect_waiting(out, g_b64, "198.18.0.68:7000");
	expect_in(out, "2 of 4 peers not resolved");
	unlink(log);
}

/* A symmetric NAT on either side vetoes nothing any more: the endpoint
 * is set and WireGuard may try. Our own finding still travels in the
 * flags of the registration, for the peers' diagnosis. */
static void test_up_symmetric(void **state)
{
	const char *log = log_path("sym");
	char ep[80], ka[16], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	/* F, a new peer with no endpoint; our NAT is symmetric. G is not
	 * registered with the server: unresolved when the timeout comes. */
	wga_add_peer(f_pub, "198.19.0.6/32");
	wga_add_peer(g_pub, "198.19.0.7/32");
	fake_reset();
	fake.symmetric = true;
	fake_knows(f_pub, "198.18.0.77:7000", 0);
	pid = wgpunch_start(log, "--timeout", "3", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 8000), 3);
	out = slurp(log);
	expect_in(out, "our NAT maps per destination (symmetric): the server saw "
		  SRV ":51820 on port 49918 and " SRV ":52820 on port 49919");
	expect_waiting(out, f_b64, "198.18.0.77:7000");
	expect_peer_line(out, g_b64, "unresolved: not registered with the server");
	/* The registration carried the finding, for the peers' sake. */
	assert_int_equal(fake.register_flags & WGP_F_ALL_V2,
			 WGP_F_SYMMETRIC | WGP_F_PROBES);
	peer_state(f_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.77:7000");
	assert_string_equal(ka, "25");
	peer_state(g_b64, ep, ka);
	assert_string_equal(ep, "(none)");

	/* The peer's NAT symmetric instead, at a new address. */
	fake_reset();
	fake_knows(f_pub, "198.18.0.78:7000", WGP_F_SYMMETRIC);
	fake_knows(g_pub, "198.18.0.79:7000", 0);
	pid = wgpunch_start(log, "--timeout", "3", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 8000), 3);
	out = slurp(log);
	expect_not_in(out, "maps per destination");
	assert_int_equal(fake.register_flags & WGP_F_ALL_V2, WGP_F_PROBES);
	expect_waiting(out, f_b64, "198.18.0.78:7000");
	peer_state(f_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.78:7000");
	unlink(log);
}

/*
 * H speaks version 2 and answers path probes (the test plays its
 * wgpunch at SRV:7000). The probes must be authentic, come from
 * WireGuard's port and name the address probed; the reply is what gets
 * the endpoint set, and it proves the path: "up" is done at once.
 */
static void test_up_path(void **state)
{
	const char *log = log_path("path");
	struct fake_cand *fc;
	uint64_t t0 = now_ms();
	char ep[80], ka[16], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	wga_add_peer(h_pub, "198.19.0.8/32");
	fake_reset();
	fake.reply_version = 2;
	fake_knows(h_pub, SRV ":7000", WGP_F_PROBES);
	fc = fake_cand_add(7000, 0, h_priv, h_pub);
	pid = wgpunch_start(log, "--timeout", "8", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 12000), 0);
	assert_in_range(now_ms() - t0, 0, 4000);
	out = slurp(log);
	assert_true(fc->probes >= 1);
	assert_int_equal(fc->bad, 0);
	assert_int_equal(fc->probe_sport, 51820);
	peer_state(h_b64, ep, ka);
	assert_string_equal(ep, SRV ":7000");
	assert_string_equal(ka, "25");
	expect_peer_line(out, h_b64, "path " SRV ":7000 answers");
	expect_peer_line(out, h_b64, "endpoint set");
	/* WireGuard itself now goes there (the keepalive starts a
	 * handshake at once). */
	for (int i = 0; i < 50 && !fc->wireguard; i++)
		fake_serve(20);
	assert_true(fc->wireguard >= 1);
	unlink(log);
}

/*
 * H answers path probes, but nothing answers at its candidates: its
 * public mapping stays silent, and the host candidate's replies come
 * from another address than the one probed (authentic, yet no proof of
 * that path). No endpoint may be set; "up" says no path answered, keeps
 * listening for the peer until its --timeout, and exits 3.
 */
static void test_up_no_path(void **state)
{
	const char *log = log_path("nopath");
	struct fake_cand *silent, *elsewhere;
	struct fake_peer *p;
	char ep[80], ka[16], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	wga_add_peer(h_pub, "198.19.0.8/32");
	fake_reset();
	fake.reply_version = 2;
	p = fake_knows(h_pub, SRV ":7000", WGP_F_PROBES);
	p->cand = SRV ":7002";
	silent = fake_cand_add(7000, -1, h_priv, h_pub);
	elsewhere = fake_cand_add(7002, 7003, h_priv, h_pub);
	pid = wgpunch_start(log, "--timeout", "8", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 13000), 3);
	out = slurp(log);
	/* Both candidates were really probed, several times. */
	assert_true(silent->probes >= 2);
	assert_true(elsewhere->probes >= 2);
	assert_int_equal(silent->bad + elsewhere->bad, 0);
	peer_state(h_b64, ep, ka);
	assert_string_equal(ep, "(none)");
	expect_peer_line(out, h_b64, "no path answered");
	expect_in(out, "1 of 3 peers not resolved");
	/* Nothing direct answered, so it asked for the relay, once: this
	 * server runs none, and it said so. */
	assert_int_equal(fake.relays, 1);
	expect_in(out, "the server runs no relay");
	unlink(log);
}

/* An interface without peers: "up" has nothing to do and says so
 * (exit 1, nothing sent); the daemon says so and waits for peers. */
static void test_up_no_peers(void **state)
{
	const char *log = log_path("nopeers");
	char req[256], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	wgn = lab_wggo_start("wgn");
	assert_true(wgn > 0);
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\nlisten_port=%u\n\n", d_priv,
		 WGN_PORT);
	assert_int_equal(lab_uapi("wgn", req), 0);
	assert_int_equal(lab_sh("ip link set wgn up"), 0);
	fake_reset();
	pid = wgpunch_start(log, "up", "wgn", NULL);
	assert_int_equal(serve_until_exit(pid, 5000), 1);
	out = slurp(log);
	expect_in(out, "the interface wgn has no peers");
	/* Nothing from wgn's port (another test's late retransmission
	 * may still arrive from elsewhere). */
	assert_int_equal(fake.from_wgn, 0);

	pid = wgpunch_start(log, "daemon", "wgn", NULL);
	if (!log_shows(log, "has no peers", 3000))
		fail_msg("the daemon did not say wgn has no peers:\n%s", slurp(log));
	fake_serve(500);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);	/* still running */
	/* A peer arrives; SIGHUP has it looked at now. */
	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nallowed_ip=198.19.1.1/32\n\n",
		 g_pub);
	assert_int_equal(lab_uapi("wgn", req), 0);
	kill(pid, SIGHUP);
	if (!log_shows(log, "registered with " SRV ":49918", 5000))
		fail_msg("no registration once wgn had a peer:\n%s", slurp(log));
	assert_true(fake.registers >= 1);
	assert_int_equal(fake.register_sport, WGN_PORT);
	kill(pid, SIGTERM);
	assert_int_equal(serve_until_exit(pid, 2000), 0);
	out = slurp(log);
	assert_int_equal(count_in(out, "has no peers"), 1);	/* said once */
	unlink(log);
}

/* G is stale and the server never answers. */
static void test_up_silent_server(void **state)
{
	const char *log = log_path("silent");
	uint64_t t0;
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	wga_add_peer(g_pub, "198.19.0.7/32");
	fake_reset();
	fake.silent = true;
	t0 = now_ms();
	pid = wgpunch_start(log, "--timeout", "2", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 6000), 3);
	/* It gave up at its deadline, not later. */
	assert_in_range(now_ms() - t0, 1900, 3500);
	out = slurp(log);
	expect_peer_line(out, g_b64, "unresolved: no answer from the rendezvous server");
	expect_peer_line(out, b_b64, "left alone");
	unlink(log);
}

/* A wgpunchd from before version 2 answers the (version 1) mapping
 * probes but drops version 2 registrations: "up" says so, not "no
 * answer". */
static void test_up_old_server(void **state)
{
	const char *log = log_path("old");
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	wga_add_peer(g_pub, "198.19.0.7/32");
	fake_reset();
	fake.v1_only = true;
	pid = wgpunch_start(log, "--timeout", "3", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 7000), 3);
	assert_true(fake.probes[0] >= 1);
	assert_int_equal(fake.registers, 0);
	out = slurp(log);
	expect_peer_line(out, g_b64, "older than protocol version 2");
	unlink(log);
}

/*
 * A server under load answers the first REGISTER with a COOKIE: the
 * client sends the REGISTER again at once with the cookie attached and
 * is registered.
 */
static void test_up_cookie(void **state)
{
	const char *log = log_path("cookie");
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	wga_add_peer(g_pub, "198.19.0.7/32");
	fake_reset();
	fake.cookies = true;
	randombytes_buf(fake.cookie_value, sizeof(fake.cookie_value));
	pid = wgpunch_start(log, "--timeout", "3", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 7000), 3);
	out = slurp(log);
	assert_true(fake.cookies_sent >= 1);
	assert_true(fake.cookie_registers >= 1);
	/* At once, not after a retransmission interval. */
	assert_true(fake.cookie_back_ms - fake.cookie_sent_ms < 500);
	expect_in(out, "registered with");
	unlink(log);
}

static void test_daemon(void **state)
{
	const char *log = log_path("daemon");
	static char e_priv[65], e_pub[65], e_b64[45];
	char ep[80], ka[16];
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
	wga_add_peer(e_pub, "198.19.0.5/32");
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

/* The probe port is firewalled, the main port answers: the NAT type is
 * unknown, which is said (naming the probe port), and registering goes
 * ahead without the symmetric flag, promptly. Every peer is fresh, so
 * what the server says about them changes nothing. */
static void test_up_probe_port_silent(void **state)
{
	const char *log = log_path("probe");
	uint64_t t0;
	char ep[80], ka[16], *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	fake_reset();
	fake.probe_silent = true;
	fake_knows(c_pub, "198.18.0.69:7000", 0);
	t0 = now_ms();
	pid = wgpunch_start(log, "--timeout", "4", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 8000), 0);
	assert_in_range(now_ms() - t0, 0, 3000);
	out = slurp(log);
	expect_in(out, "no answer from the server's probe port 49919: cannot "
		  "check whether our NAT is symmetric; registering anyway");
	assert_null(strstr(out, "no answer from the rendezvous server"));
	assert_true(fake.registers >= 1);
	assert_int_equal(fake.register_flags & WGP_F_ALL_V2, WGP_F_PROBES);
	assert_int_equal(fake.probes[1], 0);
	peer_state(c_b64, ep, ka);
	assert_string_equal(ep, SRV ":51822");
	expect_peer_line(out, c_b64, "left alone");
	unlink(log);
}

/* Every peer of wgb (only A) has a fresh handshake: "up" registers
 * anyway (a wrong server setting shows at once), prints each peer once,
 * and a silent server is a warning, not a failure. */
static void test_up_all_fresh(void **state)
{
	const char *log = log_path("fresh");
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
	const char *log = log_path("stdout");
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
	const char *log = log_path("usage");
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

/*
 * The daemon says when the server goes silent and when it is back (not
 * every retry), keeps one REGISTER going every ~2 s while it is silent
 * (no back-off to minutes), and SIGHUP makes it look again at once. It
 * serves "wgpunch status" on its default socket meanwhile, and removes
 * the socket when it stops.
 */
static void test_daemon_server_states(void **state)
{
	const char *log = log_path("states");
	const char *sock = STATUS_DIR "/wgb.sock";
	struct stat st;
	uint64_t end;
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	fake.silent = true;
	pid = wgpunch_start(log, "--log-level", "info", "daemon", "wgb", NULL);
	if (!log_shows(log, "warning: no answer from the rendezvous server at "
		       SRV ":49918 (wrong --server-key, server down, or UDP "
		       "blocked?); registering again every 2 s", 20000))
		fail_msg("no warning about the silent server:\n%s", slurp(log));
	out = slurp(log);
	expect_in(out, "daemon started: rendezvous server " SRV ":49918, probe port 49919");
	assert_null(strstr(out, "registered with"));
	assert_int_equal(stat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* Still trying, about every SILENT_RETRY_MS (2 s +-25 %). */
	fake.silent_registers = 0;
	end = now_ms() + 5200;
	while (now_ms() < end)
		fake_serve(20);
	if (fake.silent_registers < 2)
		fail_msg("%u REGISTERs in 5.2 s while the server was silent; "
			 "expected one every ~2 s", fake.silent_registers);
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
	assert_int_equal(access(sock, F_OK), -1);
	unlink(log);
}

/* A second rendezvous server that never answers (an address of ours
 * where nothing listens), with a key of its own. */
#define DEAD "198.18.0.99"

static const char *dead_key(void)
{
	static char b64[WGP_KEY_B64_SIZE];
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN];

	if (!b64[0]) {
		wgp_key_generate(priv);
		wgp_key_public(pub, priv);
		wgp_key_to_base64(b64, pub);
	}
	return b64;
}

/* "up" with two servers, the second dead: every peer resolved and the
 * first registered us, so it does not wait for the dead one (its
 * mapping check alone takes about 4 s), and names it in a warning. */
static void test_up_two_servers(void **state)
{
	const char *log = log_path("two");
	uint64_t t0;
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	assert_int_equal(lab_sh("ip addr replace " DEAD "/32 dev lo"), 0);
	fake_reset();
	t0 = now_ms();
	pid = wgpunch_start(log, "-s", DEAD, "-k", dead_key(), "--timeout", "15",
			    "--log-level", "info", "up", "wgb", NULL);
	assert_int_equal(serve_until_exit(pid, 10000), 0);
	assert_in_range(now_ms() - t0, 0, 2500);
	/* (Two when the port-mapping news restarts the one in flight.) */
	assert_in_range(fake.registers, 1, 2);
	out = slurp(log);
	expect_in(out, "registered with " SRV ":49918");
	expect_in(out, "warning: no answer from the rendezvous server at " DEAD
		  ":49918 (wrong --server-key, server down, or UDP blocked?)");
	expect_not_in(out, "no answer from the rendezvous server at " SRV);
	assert_int_equal(count_in(out, "left alone"), 1);
	unlink(log);
}

/* The daemon with the same two servers: registered with the first, the
 * second found silent and backed off alone (the first carries on), and
 * the status shows one entry each. */
static void test_daemon_two_servers(void **state)
{
	const char *log = log_path("two-daemon");
	const char *sock = STATUS_DIR "/wgb.sock";
	char *json = NULL;
	size_t len = 0;
	FILE *f;
	pid_t pid;

	(void)state;
	NEED_LAB();
	assert_int_equal(lab_sh("ip addr replace " DEAD "/32 dev lo"), 0);
	fake_reset();
	pid = wgpunch_start(log, "-s", DEAD, "-k", dead_key(), "--log-level",
			    "info", "daemon", "wgb", NULL);
	if (!log_shows(log, "warning: no answer from the rendezvous server at "
		       DEAD ":49918 (wrong --server-key, server down, or UDP "
		       "blocked?); registering again every 2 s until it answers "
		       "(the other servers carry on)", 20000))
		fail_msg("no warning about the dead server:\n%s", slurp(log));
	expect_in(slurp(log), "daemon started: rendezvous servers " SRV
		  ":49918 (probe port 49919), " DEAD ":49918 (probe port 49919)");
	expect_in(slurp(log), "registered with " SRV ":49918");
	f = open_memstream(&json, &len);
	assert_non_null(f);
	assert_int_equal(status_fetch(sock, true, f), 0);
	fclose(f);
	expect_in(json, "\"server\":\"" SRV ":49918\",\"registered\":true");
	expect_in(json, "\"servers\":[{\"address\":\"" SRV ":49918\",\"registered\":"
		  "true,\"silent\":false,\"rtt_ms\":");
	expect_in(json, "{\"address\":\"" DEAD ":49918\",\"registered\":false,"
		  "\"silent\":true,\"rtt_ms\":null,\"self\":null,");
	free(json);
	kill(pid, SIGTERM);
	assert_int_equal(serve_until_exit(pid, 2000), 0);
	unlink(log);
}

/*
 * A hostile server aims peers at the server itself, at loopback, at a
 * link-local address (a peer without probes: nothing could prove it)
 * and, for a peer with probes, at a multicast group and the server's
 * probe port. Nothing may be set or probed there; each refusal is
 * logged with its reason.
 */
static void test_up_hostile_endpoints(void **state)
{
	const char *log = log_path("hostile");
	char ep[80], ka[16], srv_ep[32], *out;
	struct fake_peer *h;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	wga_add_peer(d_pub, "198.19.0.4/32");
	wga_add_peer(f_pub, "198.19.0.6/32");
	wga_add_peer(g_pub, "198.19.0.7/32");
	wga_add_peer(h_pub, "198.19.0.8/32");
	fake_reset();
	fake.reply_version = 2;
	fake.count_strays = true;
	snprintf(srv_ep, sizeof(srv_ep), SRV ":%u", WGP_PORT);
	fake_knows(d_pub, srv_ep, 0);
	fake_knows(f_pub, "127.0.0.1:7000", 0);
	fake_knows(g_pub, "169.254.7.7:7000", 0);
	h = fake_knows(h_pub, "224.0.0.9:7000", WGP_F_PROBES);
	h->cand = SRV ":49919";
	pid = wgpunch_start(log, "--timeout", "2", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 6000), 3);
	out = slurp(log);
	peer_state(d_b64, ep, ka);
	assert_string_equal(ep, "(none)");
	peer_state(f_b64, ep, ka);
	assert_string_equal(ep, "(none)");
	peer_state(g_b64, ep, ka);
	assert_string_equal(ep, "(none)");
	peer_state(h_b64, ep, ka);
	assert_string_equal(ep, "(none)");
	/* Nothing went to the server's ports but requests. */
	fake_serve(300);
	assert_int_equal(fake.strays, 0);
	expect_in(out, "endpoint " SRV ":49918, the rendezvous server itself: refused");
	expect_in(out, "endpoint 127.0.0.1:7000, a loopback address: refused");
	expect_in(out, "endpoint 169.254.7.7:7000, a link-local address: refused");
	expect_in(out, "endpoint 224.0.0.9:7000, a multicast address: refused");
	expect_in(out, "candidate " SRV ":49919, the rendezvous server itself: refused");
	expect_peer_line(out, f_b64, "endpoint 127.0.0.1:7000 refused: a loopback address");
	unlink(log);
}

/*
 * A server that answers every REGISTER with ERROR COUNTER: one resend
 * at once, then the retransmission schedule, not a resend per error
 * (thousands a second). Then one that claims a last counter near 2^64:
 * ignored, our counters stay near the clock (they would wrap).
 */
static void test_up_error_backoff(void **state)
{
	const char *log = log_path("errors");
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	need_c_fresh();
	wga_add_peer(g_pub, "198.19.0.7/32");	/* keeps "up" going */
	fake_reset();
	fake.error_code = WGP_ERR_COUNTER;
	pid = wgpunch_start(log, "--timeout", "3", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 7000), 3);
	/* 0, at once, +0.25, +0.5, +1, +2 s with jitter: at most 6. */
	if (fake.registers < 2 || fake.registers > 7)
		fail_msg("%u REGISTERs in 3 s of ERROR COUNTER", fake.registers);

	fake_reset();
	fake.error_code = WGP_ERR_COUNTER;
	fake.error_last_counter = UINT64_MAX - 1;
	pid = wgpunch_start(log, "--timeout", "2", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 6000), 3);
	out = slurp(log);
	if (fake.registers < 2 || fake.registers > 6)
		fail_msg("%u REGISTERs in 2 s of hostile ERROR COUNTER", fake.registers);
	if (fake.max_counter > wgp_now_ns() + 86400ULL * 1000000000ULL)
		fail_msg("counter pushed to %llu", (unsigned long long)fake.max_counter);
	expect_in(out, "far ahead of its clock: ignored");
	unlink(log);
}

/*
 * A UAPI socket that answers "get" one valid line every 100 ms, never
 * ending: every read makes progress, so a per-read timeout never fires.
 * Serves until killed.
 */
static void slow_uapi_serve(int lfd)
{
	static const char line[] = "listen_port=51830\n";

	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		char req[256];
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			_exit(1);
		if (read(fd, req, sizeof(req)) <= 0) {
			close(fd);
			continue;
		}
		while (write(fd, line, sizeof(line) - 1) > 0)
			usleep(100000);
		close(fd);
	}
}

static void slow_uapi_start(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), WG_UAPI_DIR "/wgs.sock");
	unlink(addr.sun_path);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 8), 0);
	uapi_child = fork();
	assert_true(uapi_child >= 0);
	if (uapi_child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		slow_uapi_serve(fd);
	}
	close(fd);
}

/* A WireGuard implementation that trickles its answer: "up" still ends
 * at its --timeout, and the daemon at SIGTERM. */
static void test_slow_uapi(void **state)
{
	const char *log = log_path("slowuapi");
	uint64_t t0;
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	fake_reset();
	slow_uapi_start();
	t0 = now_ms();
	pid = wgpunch_start(log, "--timeout", "2", "up", "wgs", NULL);
	assert_int_equal(serve_until_exit(pid, 6000), 1);
	assert_in_range(now_ms() - t0, 1500, 4000);
	out = slurp(log);
	expect_in(out, "reading the WireGuard interface: no complete answer in time");

	pid = wgpunch_start(log, "daemon", "wgs", NULL);
	if (!log_shows(log, "daemon started", 3000))
		fail_msg("the daemon did not start:\n%s", slurp(log));
	fake_serve(300);	/* well inside its first read */
	t0 = now_ms();
	kill(pid, SIGTERM);
	assert_int_equal(serve_until_exit(pid, 4000), 0);
	assert_in_range(now_ms() - t0, 0, 1500);
	expect_in(slurp(log), "stopping");
	unlink(log);
}

/* /run/wireguard readable only by root: an unprivileged wgpunch says
 * permission denied, not "no such WireGuard interface", and exits 1. */
static void test_up_permission_denied(void **state)
{
	const char *log = log_path("perm");
	char *out;
	pid_t pid;

	(void)state;
	NEED_LAB();
	if (access(SETPRIV, X_OK)) {
		print_message("skipped: no " SETPRIV "\n");
		skip();
	}
	fake_reset();
	assert_int_equal(chmod(WG_UAPI_DIR, 0700), 0);
	as_nobody = true;
	pid = wgpunch_start(log, "--timeout", "2", "up", "wga", NULL);
	assert_int_equal(serve_until_exit(pid, 5000), 1);
	out = slurp(log);
	expect_in(out, "permission denied reading " WG_UAPI_DIR "/wga.sock");
	expect_not_in(out, "no such WireGuard interface");
	unlink(log);
}

int main(void)
{
	/* test_up first: it needs C stale, and leaves it fresh for the
	 * rest (need_c_fresh() covers for it if it failed). */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_up, test_teardown),
		cmocka_unit_test_teardown(test_up_probe_port_silent, test_teardown),
		cmocka_unit_test_teardown(test_up_all_fresh, test_teardown),
		cmocka_unit_test_teardown(test_up_stdout_errors, test_teardown),
		cmocka_unit_test_teardown(test_usage_errors, test_teardown),
		cmocka_unit_test_teardown(test_daemon_server_states, test_teardown),
		cmocka_unit_test_teardown(test_up_two_servers, test_teardown),
		cmocka_unit_test_teardown(test_daemon_two_servers, test_teardown),
		cmocka_unit_test_teardown(test_up_no_peers, test_teardown),
		cmocka_unit_test_teardown(test_up_lookup, test_teardown),
		cmocka_unit_test_teardown(test_up_symmetric, test_teardown),
		cmocka_unit_test_teardown(test_up_path, test_teardown),
		cmocka_unit_test_teardown(test_up_no_path, test_teardown),
		cmocka_unit_test_teardown(test_up_silent_server, test_teardown),
		cmocka_unit_test_teardown(test_up_old_server, test_teardown),
		cmocka_unit_test_teardown(test_up_cookie, test_teardown),
		cmocka_unit_test_teardown(test_daemon, test_teardown),
		cmocka_unit_test_teardown(test_up_hostile_endpoints, test_teardown),
		cmocka_unit_test_teardown(test_up_error_backoff, test_teardown),
		cmocka_unit_test_teardown(test_slow_uapi, test_teardown),
		cmocka_unit_test_teardown(test_up_permission_denied, test_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
