// SPDX-License-Identifier: MIT
/*
 * Protocol and key tests: base64 keys, session derivation, seal/open of
 * every message type in both versions, tampering, wrong keys, exact
 * lengths, candidate blocks and which endpoints are usable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <sodium.h>

#include "key.h"
#include "proto.h"
#include "testclient.h"

static void hex(uint8_t *out, const char *s, size_t len)
{
	size_t bin_len;

	assert_int_equal(sodium_hex2bin(out, len, s, strlen(s), NULL,
					&bin_len, NULL), 0);
	assert_int_equal(bin_len, len);
}

/* ---- keys ---------------------------------------------------------- */

/* RFC 7748 section 6.1. */
static const char alice_priv[] =
	"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
static const char alice_pub[] =
	"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
static const char bob_priv[] =
	"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
static const char bob_pub[] =
	"de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";

static void test_key_public(void **state)
{
	uint8_t priv[32], pub[32], want[32];

	(void)state;
	hex(priv, alice_priv, 32);
	hex(want, alice_pub, 32);
	assert_int_equal(wgp_key_public(pub, priv), 0);
	assert_memory_equal(pub, want, 32);
	hex(priv, bob_priv, 32);
	hex(want, bob_pub, 32);
	assert_int_equal(wgp_key_public(pub, priv), 0);
	assert_memory_equal(pub, want, 32);
}

static void test_key_base64(void **state)
{
	uint8_t key[32], back[32];
	char b64[WGP_KEY_B64_SIZE], bad[WGP_KEY_B64_SIZE + 1];

	(void)state;
	hex(key, alice_pub, 32);
	wgp_key_to_base64(b64, key);
	assert_int_equal(strlen(b64), 44);
	assert_string_equal(b64, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
	assert_int_equal(wgp_key_from_base64(back, b64), 0);
	assert_memory_equal(back, key, 32);

	/* Wrong lengths, bad characters, bad padding: all -EINVAL. */
	assert_int_equal(wgp_key_from_base64(back, ""), -EINVAL);
	memcpy(bad, b64, 43);
	bad[43] = '\0';
	assert_int_equal(wgp_key_from_base64(back, bad), -EINVAL);
	assert_true(wgp_key_is_zero(back));
	snprintf(bad, sizeof(bad), "%sA", b64);
	assert_int_equal(wgp_key_from_base64(back, bad), -EINVAL);
	memcpy(bad, b64, 45);
	bad[10] = '*';
	assert_int_equal(wgp_key_from_base64(back, bad), -EINVAL);
	memcpy(bad, b64, 45);
	bad[43] = 'A';		/* no padding */
	assert_int_equal(wgp_key_from_base64(back, bad), -EINVAL);
	memcpy(bad, b64, 45);
	bad[42] = 'p';		/* non-zero bits beyond the 32 bytes */
	assert_int_equal(wgp_key_from_base64(back, bad), -EINVAL);
}

static void test_key_file(void **state)
{
	char path[] = "/tmp/wgp-test-key-XXXXXX";
	uint8_t key[32], want[32];
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "  hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n\n", 48), 48);
	close(fd);
	hex(want, alice_pub, 32);
	assert_int_equal(wgp_key_read_file(key, path), 0);
	assert_memory_equal(key, want, 32);

	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo= x\n", 47), 47);
	close(fd);
	assert_int_equal(wgp_key_read_file(key, path), -EINVAL);
	unlink(path);
	assert_int_equal(wgp_key_read_file(key, path), -ENOENT);
}

static void test_key_generate(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	wgp_key_generate(a);
	wgp_key_generate(b);
	assert_false(wgp_key_equal(a, b));
	assert_int_equal(a[0] & 7, 0);
	assert_int_equal(a[31] & 0xc0, 0x40);
}

/* ---- sessions ------------------------------------------------------ */

struct pair {
	uint8_t spriv[32], spub[32];
	struct tclient c;
	struct wgp_session server_side;
};

static void make_pair(struct pair *p)
{
	wgp_key_generate(p->spriv);
	assert_int_equal(wgp_key_public(p->spub, p->spriv), 0);
	tclient_init(&p->c, p->spub);
	assert_int_equal(wgp_session_server(&p->server_side, p->spriv,
					    p->spub, p->c.pub), 0);
}

static void test_session_agree(void **state)
{
	struct pair p;

	(void)state;
	make_pair(&p);
	assert_memory_equal(&p.c.sess, &p.server_side, sizeof(p.c.sess));
	assert_memory_not_equal(p.c.sess.up, p.c.sess.down, 32);
}

static void test_session_low_order(void **state)
{
	uint8_t priv[32], pub[32], zero[32] = { 0 };
	struct wgp_session s;

	(void)state;
	wgp_key_generate(priv);
	assert_int_equal(wgp_key_public(pub, priv), 0);
	/* The all-zero point (and u = 1) are of low order. */
	assert_int_equal(wgp_session_server(&s, priv, pub, zero), -EINVAL);
	zero[0] = 1;
	assert_int_equal(wgp_session_server(&s, priv, pub, zero), -EINVAL);
}

/* ---- messages ------------------------------------------------------ */

static void fill_endpoint(struct wgp_endpoint *ep, int family, uint8_t seed)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = (uint16_t)family;
	ep->port = (uint16_t)(51820 + seed);
	if (family == AF_INET) {
		ep->addr[0] = 198;
		ep->addr[1] = 18;
		ep->addr[3] = seed;
	} else {
		ep->addr[0] = 0x20;
		ep->addr[1] = 0x01;
		ep->addr[2] = 0x0d;
		ep->addr[3] = 0xb8;
		ep->addr[15] = seed;
	}
}

/* A candidate block as a client might report it: slots 0 and 2 used
 * (IPv4 host, IPv6 mapped), 1 and 3 empty, so "any order" and both
 * kinds are exercised. */
static void fill_cands(struct wgp_endpoint *cands, uint8_t seed)
{
	memset(cands, 0, WGP_MAX_CANDIDATES * sizeof(*cands));
	fill_endpoint(&cands[0], AF_INET, (uint8_t)(seed + 100));
	fill_endpoint(&cands[2], AF_INET6, (uint8_t)(seed + 101));
	cands[2].kind = WGP_CAND_MAPPED;
}

/*
 * Does a version have this rendezvous type? 9 and 10 (path messages)
 * are in none, RELAY and RELAY_GRANT only in version 2. Loops over
 * 1..WGP_TYPE_MAX skip the others.
 */
static bool has_type(uint8_t version, unsigned int type)
{
	if (type == 9 || type == 10)
		return false;
	if (type == WGP_RELAY || type == WGP_RELAY_GRANT)
		return version == 2;
	return type >= 1 && type <= WGP_TYPE_MAX;
}

/* The candidate block of a message type (NULL: the type has none). */
static struct wgp_endpoint *cands_of(struct wgp_msg *m)
{
	switch (m->type) {
	case WGP_REGISTER:
		return m->u.reg.cands;
	case WGP_LOOKUP:
		return m->u.lookup.cands;
	case WGP_LOOKUP_REPLY:
		return m->u.lookup_reply.cands;
	case WGP_NOTIFY:
		return m->u.notify.cands;
	}
	return NULL;
}

/* One example of every type in a version (0: v1 by default), with lists
 * of n entries; in v2 with candidates wherever the type has them. */
static void example_v(struct wgp_msg *m, uint8_t type, unsigned int n,
		      const uint8_t *key, uint8_t version)
{
	unsigned int i;

	memset(m, 0, sizeof(*m));
	m->type = type;
	m->version = version;
	wgp_txid_new(m->txid);
	if (wgp_type_is_request(type))
		memcpy(m->key, key, 32);
	switch (type) {
	case WGP_REGISTER:
		m->u.reg.counter = 0x0102030405060708ULL;
		m->u.reg.flags = WGP_F_SYMMETRIC;
		m->u.reg.n_consent = (uint8_t)n;
		for (i = 0; i < n; i++)
			randombytes_buf(m->u.reg.consent[i], WGP_CONSENT_LEN);
		break;
	case WGP_REGISTER_REPLY:
		m->u.reg_reply.flags = WGP_RF_MORE;
		m->u.reg_reply.n_peers = (uint8_t)n;
		m->u.reg_reply.ttl = 120;
		m->u.reg_reply.available = 0x8000000000000001ULL;
		fill_endpoint(&m->u.reg_reply.self, AF_INET, 1);
		for (i = 0; i < n; i++) {
			m->u.reg_reply.peers[i].index = (uint8_t)(63 - i);
			m->u.reg_reply.peers[i].flags = WGP_F_SYMMETRIC;
			fill_endpoint(&m->u.reg_reply.peers[i].ep,
				      i % 2 ? AF_INET : AF_INET6, (uint8_t)i);
		}
		break;
	case WGP_LOOKUP:
		m->u.lookup.counter = 42;
		randombytes_buf(m->u.lookup.target, 32);
		break;
	case WGP_LOOKUP_REPLY:
		m->u.lookup_reply.status = WGP_LOOKUP_OK;
		m->u.lookup_reply.peer_flags = WGP_F_SYMMETRIC;
		m->u.lookup_reply.ttl = 7;
		fill_endpoint(&m->u.lookup_reply.self, AF_INET6, 2);
		fill_endpoint(&m->u.lookup_reply.peer, AF_INET, 3);
		break;
	case WGP_NOTIFY:
		randombytes_buf(m->u.notify.peer, 32);
		m->u.notify.ttl = 9;
		fill_endpoint(&m->u.notify.ep, AF_INET6, 4);
		break;
	case WGP_PROBE:
		m->u.probe.timestamp = wgp_now_ns();
		break;
	case WGP_PROBE_REPLY:
		fill_endpoint(&m->u.probe_reply.self, AF_INET, 5);
		m->u.probe_reply.local_port = 49919;
		break;
	case WGP_ERROR:
		m->u.error.code = WGP_ERR_COUNTER;
		m->u.error.server_time = 1;
		m->u.error.last_counter = 2;
		break;
	case WGP_RELAY:
		m->u.relay.counter = 0x1112131415161718ULL;
		randombytes_buf(m->u.relay.target, 32);
		break;
	case WGP_RELAY_GRANT:
		m->u.relay_grant.status = WGP_RELAY_OK;
		m->u.relay_grant.port = 40001;
		m->u.relay_grant.idle_s = 60;
		randombytes_buf(m->u.relay_grant.peer, 32);
		randombytes_buf(m->u.relay_grant.bind_key, 32);
		break;
	}
	if (version != 2)
		return;
	if (cands_of(m))
		fill_cands(cands_of(m), type);
	if (type == WGP_REGISTER)
		m->u.reg.flags = WGP_F_SYMMETRIC | WGP_F_PROBES;
	if (type == WGP_LOOKUP)
		m->u.lookup.flags = WGP_F_PROBES;
	for (i = 0; type == WGP_REGISTER_REPLY && i < n; i++)
		fill_cands(m->u.reg_reply.peers[i].cands, (uint8_t)i);
}

static void example(struct wgp_msg *m, uint8_t type, unsigned int n,
		    const uint8_t *key)
{
	example_v(m, type, n, key, 0);
}

static const unsigned int list_sizes[] = { 0, 1, 7, 63, 64 };

static void test_round_trip(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN + 64];
	struct wgp_msg m, back;
	struct pair p;
	unsigned int t, k;
	ssize_t len;

	(void)state;
	make_pair(&p);
	for (t = 1; t <= WGP_TYPE_MAX; t++) {
		if (!has_type(1, t))
			continue;
		for (k = 0; k < sizeof(list_sizes) / sizeof(list_sizes[0]); k++) {
			example(&m, (uint8_t)t, list_sizes[k], p.c.pub);
			len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
			assert_true(len > 0);
			assert_int_equal((size_t)len, wgp_msg_len(&m));
			assert_true((size_t)len <= WGP_MAX_MSG_LEN);
			memset(&back, 0, sizeof(back));
			assert_int_equal(wgp_open(&back, buf, (size_t)len,
						  &p.server_side), 0);
			assert_int_equal(back.type, t);
			assert_memory_equal(back.txid, m.txid, WGP_TXID_LEN);
			assert_memory_equal(&back.u, &m.u, sizeof(m.u));
			if (wgp_type_is_request((uint8_t)t))
				assert_memory_equal(back.key, p.c.pub, 32);
		}
	}
	/* Request sizes the no-amplification rule relies on: the largest
	 * request is a v2 REGISTER with 64 entries. */
	example(&m, WGP_REGISTER, 64, p.c.pub);
	assert_int_equal(wgp_msg_len(&m), 1116);
	example_v(&m, WGP_REGISTER, 64, p.c.pub, 2);
	assert_int_equal(wgp_msg_len(&m), WGP_MAX_REQUEST_LEN);
	assert_int_equal(WGP_MAX_REQUEST_LEN, 1196);
	assert_true(WGP_MAX_REQUEST_LEN <= 1280 - 48);
}

static void test_tamper_every_byte(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN], copy[WGP_MAX_MSG_LEN];
	struct wgp_msg m, back;
	struct pair p;
	unsigned int t;
	ssize_t len, i;
	int bit;

	(void)state;
	make_pair(&p);
	for (t = 1; t <= WGP_TYPE_MAX; t++) {
		if (!has_type(1, t))
			continue;
		example(&m, (uint8_t)t, 3, p.c.pub);
		len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
		assert_true(len > 0);
		for (i = 0; i < len; i++) {
			for (bit = 0; bit < 8; bit += 7) {
				memcpy(copy, buf, (size_t)len);
				copy[i] ^= (uint8_t)(1 << bit);
				assert_int_not_equal(wgp_open(&back, copy,
						(size_t)len, &p.server_side), 0);
			}
		}
	}
}

static void test_wrong_key(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_session other;
	struct wgp_msg m, back;
	struct pair p, q;
	ssize_t len;

	(void)state;
	make_pair(&p);
	make_pair(&q);
	example(&m, WGP_REGISTER, 2, p.c.pub);
	len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
	assert_true(len > 0);
	/* Another server's key, or the other direction's key: refused. */
	assert_int_equal(wgp_session_server(&other, q.spriv, q.spub, p.c.pub), 0);
	assert_int_equal(wgp_open(&back, buf, (size_t)len, &other), -EBADMSG);
	other = p.server_side;
	memcpy(other.up, p.server_side.down, 32);
	assert_int_equal(wgp_open(&back, buf, (size_t)len, &other), -EBADMSG);
	/* A client claiming p's key without p's private key. */
	struct tclient forger;

	tclient_init(&forger, p.spub);
	memcpy(forger.pub, p.c.pub, 32);
	len = tclient_register(&forger, buf, sizeof(buf), NULL, 0, 0);
	assert_int_equal(wgp_open(&back, buf, (size_t)len, &p.server_side),
			 -EBADMSG);
	assert_int_equal(wgp_open(&back, buf, (size_t)len, &p.c.sess), -EBADMSG);
}

static void test_lengths(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN + 64];
	struct wgp_msg m, back;
	struct pair p;
	unsigned int t;
	ssize_t len;

	(void)state;
	make_pair(&p);
	for (t = 1; t <= WGP_TYPE_MAX; t++) {
		if (!has_type(1, t))
			continue;
		example(&m, (uint8_t)t, 2, p.c.pub);
		len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
		assert_true(len > 0);
		assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), 0);
		/* One byte short, one byte long: not a message at all. */
		assert_int_equal(wgp_parse_header(&back, buf, (size_t)len - 1),
				 -EBADMSG);
		assert_int_equal(wgp_parse_header(&back, buf, (size_t)len + 1),
				 -EBADMSG);
		assert_int_equal(wgp_open(&back, buf, (size_t)len - 1,
					  &p.server_side), -EBADMSG);
		assert_int_equal(wgp_open(&back, buf, (size_t)len + 1,
					  &p.server_side), -EBADMSG);
		/* Every shorter prefix fails too (list types: down to one
		 * entry less, which is the valid length of a shorter list). */
		for (ssize_t l = t == WGP_REGISTER ? len - WGP_CONSENT_LEN + 1 :
				 t == WGP_REGISTER_REPLY ? len - WGP_PEER_REC_LEN + 1 :
				 0; l < len; l++)
			assert_int_not_equal(wgp_parse_header(&back, buf,
							      (size_t)l), 0);
	}
	/* A list datagram one entry longer parses (its length is a valid
	 * length) but cannot open: the count is sealed. */
	example(&m, WGP_REGISTER, 2, p.c.pub);
	len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len + 16), 0);
	assert_int_equal(wgp_open(&back, buf, (size_t)len + 16,
				  &p.server_side), -EBADMSG);
	/* More than 64 consent entries: no valid length. */
	assert_int_equal(wgp_parse_header(&back, buf,
					  WGP_MAX_REQUEST_LEN + 16), -EBADMSG);
	/* Sealing refuses a count it could not encode. */
	m.u.reg.n_consent = 65;
	assert_int_equal(wgp_seal(buf, sizeof(buf), &m, &p.c.sess), -EINVAL);
	m.u.reg.n_consent = 2;
	assert_int_equal(wgp_seal(buf, 50, &m, &p.c.sess), -ENOSPC);
}

/*
 * 64-byte datagrams on the rendezvous port are the contrib example's
 * requests (legacy.c): no v1 message of any type and list count may have
 * that length, or the two protocols could not be told apart by length.
 */
static void test_no_legacy_length(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN + 64], key[WGP_KEY_LEN] = { 1 };
	struct wgp_msg m, back;
	unsigned int t, n, max;
	size_t len, shortest = SIZE_MAX;

	(void)state;
	for (t = 1; t <= WGP_TYPE_MAX; t++) {
		max = t == WGP_REGISTER || t == WGP_REGISTER_REPLY ?
		      WGP_MAX_CONSENT : 0;
		for (n = 0; has_type(1, t) && n <= max; n++) {
			example(&m, (uint8_t)t, n, key);
			len = wgp_msg_len(&m);
			assert_true(len > 0);
			assert_int_not_equal(len, WGP_LEGACY_REQUEST_LEN);
			if (len < shortest)
				shortest = len;
		}
		/* A clear header of this type on a 64-byte datagram is no
		 * valid length either. */
		memset(buf, 0, sizeof(buf));
		memcpy(buf, WGP_MAGIC, 4);
		buf[WGP_OFF_VERSION] = WGP_VERSION;
		buf[WGP_OFF_TYPE] = (uint8_t)t;
		assert_int_equal(wgp_parse_header(&back, buf,
						  WGP_LEGACY_REQUEST_LEN),
				 -EBADMSG);
	}
	/* doc/protocol.md: "the shortest v1 message is 72 bytes". */
	assert_int_equal(shortest, 72);
	assert_true(shortest > WGP_LEGACY_REQUEST_LEN);
}

static void test_header_checks(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_msg m, back;
	struct pair p;
	ssize_t len;

	(void)state;
	make_pair(&p);
	example(&m, WGP_LOOKUP, 0, p.c.pub);
	len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), 0);
	assert_int_equal(back.type, WGP_LOOKUP);
	assert_memory_equal(back.key, p.c.pub, 32);
	assert_memory_equal(buf, WGP_MAGIC, 4);

	buf[WGP_OFF_VERSION] = WGP_VERSION_MAX + 1;
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len),
			 -EPROTONOSUPPORT);
	buf[WGP_OFF_VERSION] = 0;
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len),
			 -EPROTONOSUPPORT);
	/* A v1 LOOKUP's length under a v2 header is no v2 length. */
	buf[WGP_OFF_VERSION] = 2;
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), -EBADMSG);
	buf[WGP_OFF_VERSION] = WGP_VERSION;
	buf[WGP_OFF_TYPE] = 0;
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), -EBADMSG);
	buf[WGP_OFF_TYPE] = WGP_TYPE_MAX + 1;
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), -EBADMSG);
	buf[WGP_OFF_TYPE] = WGP_LOOKUP;
	buf[6] = 1;
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), -EBADMSG);
	buf[6] = 0;
	buf[0] = 'w';
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), -EBADMSG);
}

/* Payload checks after decryption: reserved bytes, families, counts. */
static void test_payload_checks(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN], plain[WGP_MAX_MSG_LEN];
	unsigned long long clen;
	struct wgp_msg m, back;
	const size_t pre = WGP_SRV_PREFIX_LEN;
	struct pair p;
	size_t len;

	(void)state;
	make_pair(&p);
	/* Build a LOOKUP_REPLY by hand with a bad address family. */
	example(&m, WGP_LOOKUP_REPLY, 0, NULL);
	len = (size_t)wgp_seal(buf, sizeof(buf), &m, &p.server_side);
	assert_int_equal(crypto_aead_chacha20poly1305_ietf_decrypt(plain,
			&clen, NULL, buf + pre, len - pre, buf, WGP_HDR_LEN,
			buf + WGP_HDR_LEN, p.c.sess.down), 0);
	plain[8] = 5;	/* self.family */
	crypto_aead_chacha20poly1305_ietf_encrypt(buf + pre, &clen, plain,
			WGP_LOOKUP_REPLY_LEN, buf, WGP_HDR_LEN, NULL,
			buf + WGP_HDR_LEN, p.c.sess.down);
	assert_int_equal(wgp_open(&back, buf, len, &p.c.sess), -EBADMSG);
	plain[8] = 4;	/* IPv4, but the 16 address bytes are IPv6's */
	crypto_aead_chacha20poly1305_ietf_encrypt(buf + pre, &clen, plain,
			WGP_LOOKUP_REPLY_LEN, buf, WGP_HDR_LEN, NULL,
			buf + WGP_HDR_LEN, p.c.sess.down);
	assert_int_equal(wgp_open(&back, buf, len, &p.c.sess), -EBADMSG);
	plain[8] = 6;
	crypto_aead_chacha20poly1305_ietf_encrypt(buf + pre, &clen, plain,
			WGP_LOOKUP_REPLY_LEN, buf, WGP_HDR_LEN, NULL,
			buf + WGP_HDR_LEN, p.c.sess.down);
	assert_int_equal(wgp_open(&back, buf, len, &p.c.sess), 0);
	/* Unknown flag bits in a REGISTER are refused when sealing. */
	example(&m, WGP_REGISTER, 0, p.c.pub);
	m.u.reg.flags = 0x80;
	assert_int_equal(wgp_seal(buf, sizeof(buf), &m, &p.c.sess), -EINVAL);
}

static void test_endpoints(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(1234) };
	struct sockaddr_storage ss;
	struct wgp_endpoint ep;
	char s[WGP_ENDPOINT_STRLEN];

	(void)state;
	sin6.sin6_addr.s6_addr[10] = sin6.sin6_addr.s6_addr[11] = 0xff;
	sin6.sin6_addr.s6_addr[12] = 198;
	sin6.sin6_addr.s6_addr[13] = 18;
	sin6.sin6_addr.s6_addr[15] = 7;
	assert_int_equal(wgp_endpoint_from_sockaddr(&ep, (void *)&sin6,
						    sizeof(sin6)), 0);
	assert_int_equal(ep.family, AF_INET);
	assert_string_equal(wgp_endpoint_format(&ep, s), "198.18.0.7:1234");
	assert_int_equal(wgp_endpoint_to_sockaddr(&ep, &ss),
			 sizeof(struct sockaddr_in));

	sin6.sin6_addr.s6_addr[0] = 0x20;
	sin6.sin6_addr.s6_addr[1] = 0x01;
	sin6.sin6_addr.s6_addr[2] = 0x0d;
	sin6.sin6_addr.s6_addr[3] = 0xb8;
	sin6.sin6_addr.s6_addr[10] = sin6.sin6_addr.s6_addr[11] = 0;
	assert_int_equal(wgp_endpoint_from_sockaddr(&ep, (void *)&sin6,
						    sizeof(sin6)), 0);
	assert_int_equal(ep.family, AF_INET6);
	assert_string_equal(wgp_endpoint_format(&ep, s),
			    "[2001:db8::c612:7]:1234");
	ss.ss_family = AF_UNIX;
	assert_int_equal(wgp_endpoint_from_sockaddr(&ep, (void *)&ss,
						    sizeof(ss)), -EAFNOSUPPORT);
	memset(&ep, 0, sizeof(ep));
	assert_string_equal(wgp_endpoint_format(&ep, s), "(none)");
}

static void test_window(void **state)
{
	uint64_t now = wgp_now_ns();

	(void)state;
	assert_true(wgp_in_window(now, now));
	assert_true(wgp_in_window(now - WGP_COUNTER_WINDOW_NS, now));
	assert_true(wgp_in_window(now + WGP_COUNTER_WINDOW_NS, now));
	assert_false(wgp_in_window(now - WGP_COUNTER_WINDOW_NS - 1, now));
	assert_false(wgp_in_window(now + WGP_COUNTER_WINDOW_NS + 1, now));
	assert_false(wgp_in_window(0, now));
}


/* ---- version 2 ----------------------------------------------------- */

static const unsigned int list_sizes_v2[] = { 0, 1, 7, 10 };

static void test_v2_round_trip(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN + 64];
	struct wgp_msg m, back;
	struct pair p;
	unsigned int t, k, n;
	ssize_t len;

	(void)state;
	make_pair(&p);
	for (t = 1; t <= WGP_TYPE_MAX; t++) {
		if (!has_type(2, t))
			continue;
		for (k = 0; k < sizeof(list_sizes_v2) / sizeof(list_sizes_v2[0]); k++) {
			n = list_sizes_v2[k];
			example_v(&m, (uint8_t)t, n, p.c.pub, 2);
			len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
			assert_true(len > 0);
			assert_int_equal((size_t)len, wgp_msg_len(&m));
			assert_int_equal(buf[WGP_OFF_VERSION], 2);
			memset(&back, 0, sizeof(back));
			assert_int_equal(wgp_open(&back, buf, (size_t)len,
						  &p.server_side), 0);
			assert_int_equal(back.type, t);
			assert_int_equal(back.version, 2);
			assert_memory_equal(back.txid, m.txid, WGP_TXID_LEN);
			assert_memory_equal(&back.u, &m.u, sizeof(m.u));
		}
	}
	/* The candidates really travel (not merely zero on both sides). */
	example_v(&m, WGP_NOTIFY, 0, NULL, 2);
	len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
	assert_int_equal(wgp_open(&back, buf, (size_t)len, &p.c.sess), 0);
	assert_int_equal(back.u.notify.cands[0].family, AF_INET);
	assert_int_equal(back.u.notify.cands[1].family, 0);
	assert_int_equal(back.u.notify.cands[2].family, AF_INET6);
	assert_int_equal(back.u.notify.cands[2].port, 51820 + WGP_NOTIFY + 101);
}

/* doc/protocol.md §4, the v2 column, exactly. */
static void test_v2_lengths(void **state)
{
	static const struct { uint8_t type; size_t len; } fixed[] = {
		{ WGP_LOOKUP, 204 }, { WGP_LOOKUP_REPLY, 176 },
		{ WGP_NOTIFY, 188 }, { WGP_PROBE, 88 },
		{ WGP_PROBE_REPLY, 72 }, { WGP_ERROR, 72 },
		{ WGP_RELAY, 120 }, { WGP_RELAY_GRANT, 120 },
	};
	uint8_t buf[WGP_MAX_MSG_LEN + 64], key[WGP_KEY_LEN] = { 1 };
	struct wgp_msg m, back;
	struct pair p;
	unsigned int i, n;
	ssize_t len;

	(void)state;
	make_pair(&p);
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		example_v(&m, fixed[i].type, 0, key, 2);
		assert_int_equal(wgp_msg_len(&m), fixed[i].len);
	}
	for (n = 0; n <= WGP_MAX_CONSENT; n++) {
		example_v(&m, WGP_REGISTER, n, key, 2);
		assert_int_equal(wgp_msg_len(&m), 172 + 16 * n);
	}
	for (n = 0; n <= WGP_MAX_PEER_RECS_V2; n++) {
		example_v(&m, WGP_REGISTER_REPLY, n, key, 2);
		assert_int_equal(wgp_msg_len(&m), 84 + 104 * n);
		assert_int_equal(wgp_register_reply_len(2, n), 84 + 104 * n);
		assert_int_equal(wgp_register_reply_len(1, n), 84 + 24 * n);
	}
	/* Ten records is the most a reply no longer than the largest
	 * request can hold; an eleventh is neither sealed nor parsed. */
	assert_int_equal(WGP_MAX_PEER_RECS_V2, 10);
	assert_true(wgp_register_reply_len(2, 10) <= WGP_MAX_REQUEST_LEN);
	assert_true(84 + 104 * 11 > WGP_MAX_REQUEST_LEN);
	assert_int_equal(wgp_register_reply_len(2, 11), 0);
	assert_int_equal(wgp_register_reply_len(3, 1), 0);
	assert_int_equal(wgp_register_reply_len(0, 1), 0);
	example_v(&m, WGP_REGISTER_REPLY, 11, key, 2);
	assert_int_equal(wgp_msg_len(&m), 0);
	assert_int_equal(wgp_seal(buf, sizeof(buf), &m, &p.c.sess), -EINVAL);
	example_v(&m, WGP_REGISTER_REPLY, 10, key, 2);
	len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
	assert_true(len > 0);
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), 0);
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len + 104),
			 -EBADMSG);
	/* Version 3 and up are not sealed either. */
	m.version = 3;
	assert_int_equal(wgp_msg_len(&m), 0);
	assert_int_equal(wgp_seal(buf, sizeof(buf), &m, &p.c.sess), -EINVAL);

	/* Off by one byte, or by one v1 entry, in every v2 type. */
	for (i = 1; i <= WGP_TYPE_MAX; i++) {
		if (!has_type(2, i))
			continue;
		example_v(&m, (uint8_t)i, 2, p.c.pub, 2);
		len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
		assert_true(len > 0);
		assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), 0);
		assert_int_equal(back.version, 2);
		assert_int_equal(wgp_parse_header(&back, buf, (size_t)len - 1),
				 -EBADMSG);
		assert_int_equal(wgp_parse_header(&back, buf, (size_t)len + 1),
				 -EBADMSG);
		assert_int_equal(wgp_open(&back, buf, (size_t)len + 1,
					  &p.server_side), -EBADMSG);
		if (i == WGP_REGISTER_REPLY)
			assert_int_equal(wgp_parse_header(&back, buf,
					(size_t)len + WGP_PEER_REC_LEN), -EBADMSG);
	}
}

/* Types 9 and 10 belong to the peer-to-peer path messages, 13 is
 * RELAY_BIND (sent to a relay port): never a rendezvous message, in
 * either version, at any length. */
static void test_path_types_refused(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN + 64];
	struct wgp_msg back;
	struct pair p;
	unsigned int v, t;
	size_t len;

	(void)state;
	make_pair(&p);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, WGP_MAGIC, 4);
	for (v = 1; v <= WGP_VERSION_MAX; v++) {
		for (t = 9; t <= 13; t++) {
			if (t == WGP_RELAY || t == WGP_RELAY_GRANT)
				continue;
			buf[WGP_OFF_VERSION] = (uint8_t)v;
			buf[WGP_OFF_TYPE] = (uint8_t)t;
			for (len = 0; len <= sizeof(buf); len++) {
				assert_int_not_equal(wgp_parse_header(&back,
							buf, len), 0);
				assert_int_equal(wgp_open(&back, buf, len,
						&p.server_side), -EBADMSG);
			}
		}
	}
	assert_string_equal(wgp_type_name(9), "?");
	assert_string_equal(wgp_type_name(13), "?");
	assert_string_equal(wgp_type_name(WGP_RELAY), "RELAY");
	assert_string_equal(wgp_type_name(WGP_RELAY_GRANT), "RELAY_GRANT");
}

/* The same 64-byte rule as v1: no v2 length may be the legacy one. */
static void test_v2_no_legacy_length(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN + 64], key[WGP_KEY_LEN] = { 1 };
	struct wgp_msg m, back;
	unsigned int t, n, max;
	size_t len;

	(void)state;
	for (t = 1; t <= WGP_TYPE_MAX; t++) {
		max = t == WGP_REGISTER ? WGP_MAX_CONSENT :
		      t == WGP_REGISTER_REPLY ? WGP_MAX_PEER_RECS_V2 : 0;
		for (n = 0; has_type(2, t) && n <= max; n++) {
			example_v(&m, (uint8_t)t, n, key, 2);
			len = wgp_msg_len(&m);
			assert_true(len >= 72);
			assert_int_not_equal(len, WGP_LEGACY_REQUEST_LEN);
			assert_true(len <= WGP_MAX_MSG_LEN);
		}
		memset(buf, 0, sizeof(buf));
		memcpy(buf, WGP_MAGIC, 4);
		buf[WGP_OFF_VERSION] = 2;
		buf[WGP_OFF_TYPE] = (uint8_t)t;
		assert_int_equal(wgp_parse_header(&back, buf,
						  WGP_LEGACY_REQUEST_LEN),
				 -EBADMSG);
	}
}

static void test_v2_tamper_every_byte(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN], copy[WGP_MAX_MSG_LEN];
	struct wgp_msg m, back;
	struct pair p;
	unsigned int t;
	ssize_t len, i;

	(void)state;
	make_pair(&p);
	for (t = 1; t <= WGP_TYPE_MAX; t++) {
		if (!has_type(2, t))
			continue;
		example_v(&m, (uint8_t)t, 2, p.c.pub, 2);
		len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
		assert_true(len > 0);
		for (i = 0; i < len; i++) {
			memcpy(copy, buf, (size_t)len);
			copy[i] ^= 0x01;
			assert_int_not_equal(wgp_open(&back, copy, (size_t)len,
						      &p.server_side), 0);
		}
	}
}

/*
 * Hand-made payloads behind a valid tag: open a sealed datagram, let
 * the test change the plaintext, seal it again under the same nonce.
 * What the decoder then refuses, it refuses for the content alone.
 */
struct crafted {
	uint8_t buf[WGP_MAX_MSG_LEN];
	uint8_t plain[WGP_MAX_MSG_LEN];
	size_t len, pre, plen;
	const uint8_t *key;
};

static void craft(struct crafted *c, const struct wgp_msg *m,
		  const struct wgp_session *s)
{
	unsigned long long plen;
	ssize_t len = wgp_seal(c->buf, sizeof(c->buf), m, s);

	assert_true(len > 0);
	c->len = (size_t)len;
	c->pre = wgp_type_is_request(m->type) ? WGP_REQ_PREFIX_LEN :
						WGP_SRV_PREFIX_LEN;
	c->key = wgp_type_is_request(m->type) ? s->up : s->down;
	assert_int_equal(crypto_aead_chacha20poly1305_ietf_decrypt(c->plain,
			&plen, NULL, c->buf + c->pre, c->len - c->pre, c->buf,
			c->pre - WGP_NONCE_LEN, c->buf + c->pre - WGP_NONCE_LEN,
			c->key), 0);
	c->plen = (size_t)plen;
}

/* Seal c->plain (as changed) and open the result. */
static int crafted_open(struct crafted *c, const struct wgp_session *s,
			struct wgp_msg *out)
{
	unsigned long long clen;

	crypto_aead_chacha20poly1305_ietf_encrypt(c->buf + c->pre, &clen,
			c->plain, c->plen, c->buf, c->pre - WGP_NONCE_LEN, NULL,
			c->buf + c->pre - WGP_NONCE_LEN, c->key);
	return wgp_open(out, c->buf, c->len, s);
}

/* Offset of the candidate block in a v2 payload. */
static size_t cands_off(uint8_t type)
{
	switch (type) {
	case WGP_REGISTER:
		return WGP_REGISTER_FIXED;
	case WGP_REGISTER_REPLY:	/* of the first record */
		return WGP_REGISTER_REPLY_FIXED + WGP_PEER_REC_LEN;
	case WGP_LOOKUP:
		return WGP_LOOKUP_LEN;
	case WGP_LOOKUP_REPLY:
		return WGP_LOOKUP_REPLY_LEN;
	case WGP_NOTIFY:
		return WGP_NOTIFY_LEN;
	}
	fail();
	return 0;
}

static void test_v2_bad_candidates(void **state)
{
	static const uint8_t types[] = { WGP_REGISTER, WGP_REGISTER_REPLY,
		WGP_LOOKUP, WGP_LOOKUP_REPLY, WGP_NOTIFY };
	struct wgp_msg m, back;
	struct crafted c;
	struct pair p;
	unsigned int i;
	uint8_t *slot;

	(void)state;
	make_pair(&p);
	for (i = 0; i < sizeof(types); i++) {
		example_v(&m, types[i], 1, p.c.pub, 2);
		craft(&c, &m, &p.c.sess);
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
		/* slot 0: IPv4 in use; slot 1: empty. */
		slot = c.plain + cands_off(types[i]);
		assert_int_equal(slot[0], 4);
		assert_int_equal(slot[WGP_ENDPOINT_LEN], 0);

		/* An empty slot with any non-zero byte. */
		for (size_t b = 1; b < WGP_ENDPOINT_LEN; b++) {
			slot[WGP_ENDPOINT_LEN + b] = 0x80;
			assert_int_equal(crafted_open(&c, &p.c.sess, &back),
					 -EBADMSG);
			slot[WGP_ENDPOINT_LEN + b] = 0;
		}
		/* Unknown families. */
		slot[0] = 5;
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
		slot[0] = AF_INET6;	/* 10: the OS value, not the wire's */
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
		slot[0] = 4;
		/* The kind byte of a used slot: host or mapped, nothing
		 * else. */
		slot[1] = WGP_CAND_MAPPED;
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
		assert_int_equal(cands_of(&back) ? cands_of(&back)[0].kind :
				 back.u.reg_reply.peers[0].cands[0].kind,
				 WGP_CAND_MAPPED);
		slot[1] = 2;
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
		slot[1] = 0xff;
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
		slot[1] = 0;
		/* IPv4 with bytes beyond its 4. */
		slot[4 + 15] = 1;
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
		slot[4 + 15] = 0;
		/* A used slot with port 0. */
		slot[2] = slot[3] = 0;
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
		slot[3] = 1;
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
		assert_int_equal(cands_of(&back) ? cands_of(&back)[0].port :
				 back.u.reg_reply.peers[0].cands[0].port, 1);
		/* Every slot empty is fine. */
		memset(slot, 0, WGP_CANDS_LEN);
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
	}
	/* Sealing refuses what opening would. */
	example_v(&m, WGP_NOTIFY, 0, NULL, 2);
	m.u.notify.cands[3].family = AF_INET;	/* port 0 */
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);
	m.u.notify.cands[3] = (struct wgp_endpoint){ .port = 1 };
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);
	m.u.notify.cands[3] = (struct wgp_endpoint){ .family = 5, .port = 1 };
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);
	fill_endpoint(&m.u.notify.cands[3], AF_INET, 9);
	m.u.notify.cands[3].kind = 2;
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);
	m.u.notify.cands[3] = (struct wgp_endpoint){ .kind = WGP_CAND_MAPPED };
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);

	/* UNAVAILABLE says nothing about the peer: no candidates either. */
	example_v(&m, WGP_LOOKUP_REPLY, 0, NULL, 2);
	m.u.lookup_reply.status = WGP_LOOKUP_UNAVAILABLE;
	memset(&m.u.lookup_reply.peer, 0, sizeof(m.u.lookup_reply.peer));
	craft(&c, &m, &p.c.sess);
	assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
	memset(c.plain + WGP_LOOKUP_REPLY_LEN, 0, WGP_CANDS_LEN);
	assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
	assert_int_equal(back.u.lookup_reply.status, WGP_LOOKUP_UNAVAILABLE);
}

/* PROBES exists only in v2; unknown bits in neither. */
static void test_flags_per_version(void **state)
{
	struct wgp_msg m, back;
	struct crafted c;
	struct pair p;

	(void)state;
	make_pair(&p);
	assert_int_equal(wgp_flags_mask(1), WGP_F_SYMMETRIC);
	assert_int_equal(wgp_flags_mask(2), WGP_F_SYMMETRIC | WGP_F_PROBES);
	assert_int_equal(wgp_flags_mask(0), 0);
	assert_int_equal(wgp_flags_mask(3), 0);

	/* Sealing a v1 REGISTER or LOOKUP with PROBES: refused. */
	example(&m, WGP_REGISTER, 1, p.c.pub);
	m.u.reg.flags = WGP_F_PROBES;
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);
	m.version = 2;
	assert_true(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess) > 0);
	m.u.reg.flags = 1U << 2;
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);
	example(&m, WGP_LOOKUP, 0, p.c.pub);
	m.u.lookup.flags = WGP_F_PROBES;
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);

	/* On the wire: a v1 REGISTER and LOOKUP with bit 1 are dropped. */
	example(&m, WGP_REGISTER, 1, p.c.pub);
	craft(&c, &m, &p.c.sess);
	c.plain[8] = WGP_F_PROBES;
	assert_int_equal(crafted_open(&c, &p.server_side, &back), -EBADMSG);
	c.plain[8] = WGP_F_SYMMETRIC;
	assert_int_equal(crafted_open(&c, &p.server_side, &back), 0);
	example(&m, WGP_LOOKUP, 0, p.c.pub);
	craft(&c, &m, &p.c.sess);
	c.plain[8] = WGP_F_PROBES;
	assert_int_equal(crafted_open(&c, &p.server_side, &back), -EBADMSG);

	/* v2: PROBES fine, bit 2 dropped. */
	example_v(&m, WGP_LOOKUP, 0, p.c.pub, 2);
	craft(&c, &m, &p.c.sess);
	c.plain[8] = WGP_F_PROBES | WGP_F_SYMMETRIC;
	assert_int_equal(crafted_open(&c, &p.server_side, &back), 0);
	assert_int_equal(back.u.lookup.flags, WGP_F_PROBES | WGP_F_SYMMETRIC);
	c.plain[8] = 1U << 2;
	assert_int_equal(crafted_open(&c, &p.server_side, &back), -EBADMSG);
}

/* Version 1 is what it was: candidates set in the struct do not leak
 * onto the wire, come back as zero, and the header says 1. */
static void test_v1_ignores_cands(void **state)
{
	static const uint8_t types[] = { WGP_REGISTER, WGP_LOOKUP,
		WGP_LOOKUP_REPLY, WGP_NOTIFY };
	uint8_t buf[WGP_MAX_MSG_LEN], plain[WGP_MAX_MSG_LEN];
	struct wgp_msg m, back;
	struct pair p;
	unsigned int i, v;
	size_t lens[2];

	(void)state;
	make_pair(&p);
	for (i = 0; i < sizeof(types); i++) {
		for (v = 0; v <= 1; v++) {
			struct crafted c;

			example(&m, types[i], 1, p.c.pub);
			m.version = (uint8_t)v;
			/* Garbage, even invalid: v1 never looks at it. */
			memset(cands_of(&m), 0xee,
			       WGP_MAX_CANDIDATES * sizeof(struct wgp_endpoint));
			craft(&c, &m, &p.c.sess);
			lens[v] = c.len;
			assert_int_equal(c.buf[WGP_OFF_VERSION], 1);
			memcpy(plain, c.plain, c.plen);
			assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
			assert_int_equal(back.version, 1);
			assert_true(cands_of(&back)[0].family == 0 &&
				    cands_of(&back)[3].family == 0 &&
				    cands_of(&back)[3].port == 0);
			/* Same plaintext as without the candidates. */
			memset(cands_of(&m), 0,
			       WGP_MAX_CANDIDATES * sizeof(struct wgp_endpoint));
			craft(&c, &m, &p.c.sess);
			assert_memory_equal(c.plain, plain, c.plen);
		}
		assert_int_equal(lens[0], lens[1]);
	}
	example(&m, WGP_REGISTER_REPLY, 2, NULL);
	memset(m.u.reg_reply.peers[1].cands, 0xee,
	       sizeof(m.u.reg_reply.peers[1].cands));
	assert_int_equal(wgp_seal(buf, sizeof(buf), &m, &p.c.sess), 84 + 48);
	assert_int_equal(wgp_open(&back, buf, 84 + 48, &p.c.sess), 0);
	assert_int_equal(back.u.reg_reply.peers[1].cands[0].family, 0);
}

/* wgp_open_parsed decodes by m->version: it must be the datagram's. */
static void test_open_parsed_version(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN];
	struct wgp_msg m, back;
	struct pair p;
	ssize_t len;

	(void)state;
	make_pair(&p);
	example_v(&m, WGP_PROBE, 0, p.c.pub, 2);
	len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), 0);
	assert_int_equal(back.version, 2);
	assert_int_equal(wgp_open_parsed(&back, buf, (size_t)len,
					 &p.server_side), 0);
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), 0);
	back.version = 1;
	assert_int_equal(wgp_open_parsed(&back, buf, (size_t)len,
					 &p.server_side), -EBADMSG);
}

static struct wgp_endpoint ep4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
			       uint16_t port)
{
	return (struct wgp_endpoint){ .family = AF_INET, .port = port,
				      .addr = { a, b, c, d } };
}

static struct wgp_endpoint ep6(const char *text, uint16_t port)
{
	struct wgp_endpoint ep = { .family = AF_INET6, .port = port };

	assert_int_equal(inet_pton(AF_INET6, text, ep.addr), 1);
	return ep;
}

static void test_endpoint_usable(void **state)
{
	struct wgp_endpoint ep;

	(void)state;
	/* Addresses a peer elsewhere might reach. */
	ep = ep4(198, 18, 0, 1, 51820);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep4(198, 19, 255, 254, 1);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep4(1, 0, 0, 0, 1);	/* just past 0/8 */
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep4(126, 255, 255, 255, 1);	/* just before 127/8 */
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep4(128, 0, 0, 1, 1);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep4(169, 253, 0, 1, 1);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep4(169, 255, 0, 1, 1);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep4(223, 255, 255, 255, 1);	/* just before 224/4 */
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep4(255, 255, 255, 254, 1);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep6("2001:db8::1", 51820);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep6("::2", 1);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep6("fec0::1", 1);		/* just past fe80::/10 */
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep6("fe7f::1", 1);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep6("feff::1", 1);
	assert_true(wgp_endpoint_usable(&ep));
	ep = ep6("::fffe:c612:1", 1);	/* not quite IPv4-mapped */
	assert_true(wgp_endpoint_usable(&ep));

	/* Never another host. */
	ep = ep4(0, 0, 0, 0, 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep4(0, 1, 2, 3, 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep4(127, 0, 0, 1, 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep4(127, 255, 255, 254, 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep4(169, 254, 7, 7, 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep4(224, 0, 0, 1, 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep4(239, 255, 255, 250, 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep4(255, 255, 255, 255, 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("::", 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("::1", 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("fe80::1", 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("febf:ffff::1", 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("ff02::1", 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("ff0e::1", 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("::ffff:198.18.0.1", 1);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("::ffff:127.0.0.1", 1);
	assert_false(wgp_endpoint_usable(&ep));

	/* No port, no family, unknown family. */
	ep = ep4(198, 18, 0, 1, 0);
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep6("2001:db8::1", 0);
	assert_false(wgp_endpoint_usable(&ep));
	memset(&ep, 0, sizeof(ep));
	assert_false(wgp_endpoint_usable(&ep));
	ep = ep4(198, 18, 0, 1, 1);
	ep.family = 5;
	assert_false(wgp_endpoint_usable(&ep));
}

/*
 * Outside candidate blocks, byte 1 of an endpoint is reserved: a kind
 * there is refused by the decoder and by the encoder, in both versions.
 */
static void test_kind_only_in_candidates(void **state)
{
	static const struct { uint8_t type; size_t off; } eps[] = {
		{ WGP_LOOKUP_REPLY, 8 }, { WGP_LOOKUP_REPLY, 28 },
		{ WGP_NOTIFY, 40 }, { WGP_PROBE_REPLY, 0 },
		{ WGP_REGISTER_REPLY, 16 },
		{ WGP_REGISTER_REPLY, WGP_REGISTER_REPLY_FIXED + 4 },
	};
	struct wgp_msg m, back;
	struct crafted c;
	struct pair p;
	unsigned int i, v;

	(void)state;
	make_pair(&p);
	for (v = 1; v <= 2; v++) {
		for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
			example_v(&m, eps[i].type, 1, NULL, (uint8_t)v);
			craft(&c, &m, &p.c.sess);
			assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
			assert_int_not_equal(c.plain[eps[i].off], 0);
			c.plain[eps[i].off + 1] = WGP_CAND_MAPPED;
			assert_int_equal(crafted_open(&c, &p.c.sess, &back),
					 -EBADMSG);
		}
		example_v(&m, WGP_LOOKUP_REPLY, 0, NULL, (uint8_t)v);
		m.u.lookup_reply.peer.kind = WGP_CAND_MAPPED;
		assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess),
				 -EINVAL);
		example_v(&m, WGP_NOTIFY, 0, NULL, (uint8_t)v);
		m.u.notify.ep.kind = WGP_CAND_HOST + 1;
		assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess),
				 -EINVAL);
	}
	/* _equal compares where, not what kind. */
	fill_endpoint(&m.u.notify.ep, AF_INET, 1);
	back.u.notify.ep = m.u.notify.ep;
	back.u.notify.ep.kind = WGP_CAND_MAPPED;
	assert_true(wgp_endpoint_equal(&m.u.notify.ep, &back.u.notify.ep));
}

/* RELAY and RELAY_GRANT: version 2 only, 120 bytes each (so a grant is
 * never longer than the request it answers), fields exactly. */
static void test_relay_round_trip(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN], key[WGP_KEY_LEN] = { 1 };
	struct wgp_msg m, back;
	struct pair p;
	ssize_t len;

	(void)state;
	make_pair(&p);
	example_v(&m, WGP_RELAY, 0, p.c.pub, 2);
	len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
	assert_int_equal(len, WGP_REQ_PREFIX_LEN + WGP_RELAY_LEN + WGP_TAG_LEN);
	assert_int_equal(len, 120);
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), 0);
	assert_memory_equal(back.key, p.c.pub, 32);
	assert_int_equal(wgp_open(&back, buf, (size_t)len, &p.server_side), 0);
	assert_int_equal(back.u.relay.counter, m.u.relay.counter);
	assert_memory_equal(back.u.relay.target, m.u.relay.target, 32);
	/* Sealed with the up key: the down key does not open it. */
	{
		struct wgp_session swapped = p.server_side;

		memcpy(swapped.up, p.server_side.down, 32);
		assert_int_equal(wgp_open(&back, buf, (size_t)len, &swapped),
				 -EBADMSG);
	}

	example_v(&m, WGP_RELAY_GRANT, 0, key, 2);
	len = wgp_seal(buf, sizeof(buf), &m, &p.server_side);
	assert_int_equal(len, WGP_SRV_PREFIX_LEN + WGP_RELAY_GRANT_LEN +
			 WGP_TAG_LEN);
	assert_int_equal(len, 120);
	memset(&back, 0, sizeof(back));
	assert_int_equal(wgp_open(&back, buf, (size_t)len, &p.c.sess), 0);
	assert_memory_equal(&back.u.relay_grant, &m.u.relay_grant,
			    sizeof(m.u.relay_grant));
	assert_int_equal(back.u.relay_grant.port, 40001);
	assert_int_equal(back.u.relay_grant.idle_s, 60);
}

static void test_relay_v1_refused(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN + 64];
	struct wgp_msg m, back;
	struct pair p;
	unsigned int t;
	size_t len;
	ssize_t n;

	(void)state;
	make_pair(&p);
	for (t = WGP_RELAY; t <= WGP_RELAY_GRANT; t++) {
		/* Not sealed as version 1 (0 means 1). */
		example_v(&m, (uint8_t)t, 0, p.c.pub, 1);
		assert_int_equal(wgp_msg_len(&m), 0);
		assert_int_equal(wgp_seal(buf, sizeof(buf), &m, &p.c.sess),
				 -EINVAL);
		example_v(&m, (uint8_t)t, 0, p.c.pub, 0);
		assert_int_equal(wgp_seal(buf, sizeof(buf), &m, &p.c.sess),
				 -EINVAL);
		/* A version 2 datagram relabelled 1: no v1 length fits. */
		example_v(&m, (uint8_t)t, 0, p.c.pub, 2);
		n = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
		assert_true(n > 0);
		buf[WGP_OFF_VERSION] = 1;
		for (len = 0; len <= sizeof(buf); len++)
			assert_int_not_equal(wgp_parse_header(&back, buf, len),
					     0);
		assert_int_equal(wgp_open(&back, buf, (size_t)n,
					  &p.server_side), -EBADMSG);
		assert_int_equal(wgp_open(&back, buf, (size_t)n, &p.c.sess),
				 -EBADMSG);
	}
}

static void test_relay_grant_checks(void **state)
{
	struct wgp_msg m, back;
	struct crafted c;
	struct pair p;
	uint8_t status;
	size_t b;

	(void)state;
	make_pair(&p);
	example_v(&m, WGP_RELAY_GRANT, 0, NULL, 2);
	craft(&c, &m, &p.c.sess);
	assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
	/* The reserved byte; an unknown status; OK without a port. */
	c.plain[1] = 1;
	assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
	c.plain[1] = 0;
	c.plain[0] = WGP_RELAY_FULL + 1;
	assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);
	c.plain[0] = WGP_RELAY_OK;
	c.plain[2] = c.plain[3] = 0;
	assert_int_equal(crafted_open(&c, &p.c.sess, &back), -EBADMSG);

	/* A refusal carries the status and the peer, nothing else: any
	 * non-zero byte of port, idle_s or bind_key is refused. */
	for (status = WGP_RELAY_UNAVAILABLE; status <= WGP_RELAY_FULL;
	     status++) {
		example_v(&m, WGP_RELAY_GRANT, 0, NULL, 2);
		m.u.relay_grant.status = status;
		/* Sealing writes zeros whatever the struct holds. */
		craft(&c, &m, &p.c.sess);
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
		assert_int_equal(back.u.relay_grant.status, status);
		assert_int_equal(back.u.relay_grant.port, 0);
		assert_int_equal(back.u.relay_grant.idle_s, 0);
		assert_true(wgp_key_is_zero(back.u.relay_grant.bind_key));
		assert_memory_equal(back.u.relay_grant.peer,
				    m.u.relay_grant.peer, 32);
		for (b = 2; b < WGP_RELAY_GRANT_LEN; b++) {
			if (b >= 8 && b < 40)	/* peer */
				continue;
			c.plain[b] = 0x20;
			assert_int_equal(crafted_open(&c, &p.c.sess, &back),
					 -EBADMSG);
			c.plain[b] = 0;
		}
		assert_int_equal(crafted_open(&c, &p.c.sess, &back), 0);
	}
	/* Sealing refuses what opening would. */
	example_v(&m, WGP_RELAY_GRANT, 0, NULL, 2);
	m.u.relay_grant.port = 0;
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);
	m.u.relay_grant.port = 1;
	m.u.relay_grant.status = WGP_RELAY_FULL + 1;
	assert_int_equal(wgp_seal(c.buf, sizeof(c.buf), &m, &p.c.sess), -EINVAL);
}

/* ---- cookies ------------------------------------------------------- */

/*
 * A request with a cookie: byte 6 is 1 and 16 bytes follow the sealed
 * datagram. It parses, the cookie comes out, and it opens (the cookie is
 * not sealed). Without the 16 bytes, with them but byte 6 clear, or with
 * any other byte-6 value it is not a message; dropping the cookie and
 * clearing byte 6 breaks the AEAD (byte 6 is associated data).
 */
static void test_cookie_request(void **state)
{
	uint8_t buf[WGP_MAX_REQUEST_COOKIE_LEN], cookie[WGP_COOKIE_LEN];
	struct wgp_msg m, back;
	unsigned int v, t, b;
	struct pair p;
	ssize_t len;
	size_t plain;

	(void)state;
	make_pair(&p);
	randombytes_buf(cookie, sizeof(cookie));
	for (v = 1; v <= WGP_VERSION_MAX; v++) {
		for (t = 1; t <= WGP_TYPE_MAX; t++) {
			if (!wgp_type_is_request((uint8_t)t) ||
			    (t == WGP_RELAY && v == 1))
				continue;
			example_v(&m, (uint8_t)t, 3, p.c.pub, (uint8_t)v);
			plain = wgp_msg_len(&m);
			len = wgp_seal_cookie(buf, sizeof(buf), &m, &p.c.sess,
					      cookie);
			assert_int_equal(len, plain + WGP_COOKIE_LEN);
			assert_int_equal(buf[6], 1);
			assert_int_equal(wgp_parse_header(&back, buf,
							  (size_t)len), 0);
			assert_true(back.has_cookie);
			assert_memory_equal(back.cookie, cookie,
					    WGP_COOKIE_LEN);
			assert_int_equal(wgp_open(&back, buf, (size_t)len,
						  &p.server_side), 0);
			assert_int_equal(back.type, t);
			assert_true(back.has_cookie);
			/* The cookie is not sealed: another one still
			 * opens (the server checks it on its own). */
			buf[len - 1] ^= 1;
			assert_int_equal(wgp_open(&back, buf, (size_t)len,
						  &p.server_side), 0);
			/* Without the cookie's 16 bytes: no length, but for
			 * a REGISTER, whose consent entries are 16 bytes too
			 * (one fewer, then); it never opens. */
			if (t != WGP_REGISTER)
				assert_int_equal(wgp_parse_header(&back, buf,
							plain), -EBADMSG);
			assert_int_equal(wgp_open(&back, buf, plain,
						  &p.server_side), -EBADMSG);
			/* Other values of byte 6. */
			for (b = 2; b < 256; b++) {
				buf[6] = (uint8_t)b;
				assert_int_equal(wgp_parse_header(&back, buf,
							(size_t)len), -EBADMSG);
				assert_int_equal(wgp_parse_header(&back, buf,
							plain), -EBADMSG);
				assert_int_equal(wgp_open(&back, buf,
					(size_t)len, &p.server_side), -EBADMSG);
			}
			/* Cookie dropped, byte 6 cleared: the length is
			 * right, the AEAD is not. */
			buf[6] = 0;
			assert_int_equal(wgp_parse_header(&back, buf, plain), 0);
			assert_false(back.has_cookie);
			assert_int_equal(wgp_open(&back, buf, plain,
						  &p.server_side), -EBADMSG);
			/* Byte 6 clear with the 16 bytes: no length (or,
			 * for a REGISTER, one more entry), never opens. */
			if (t != WGP_REGISTER)
				assert_int_equal(wgp_parse_header(&back, buf,
						(size_t)len), -EBADMSG);
			assert_int_equal(wgp_open(&back, buf, (size_t)len,
						  &p.server_side), -EBADMSG);
		}
	}
	/* Without a cookie, byte 6 stays 0 and has_cookie false. */
	example_v(&m, WGP_REGISTER, 1, p.c.pub, 2);
	len = wgp_seal(buf, sizeof(buf), &m, &p.c.sess);
	assert_int_equal(buf[6], 0);
	assert_int_equal(wgp_parse_header(&back, buf, (size_t)len), 0);
	assert_false(back.has_cookie);
	/* No room for it. */
	assert_int_equal(wgp_seal_cookie(buf, (size_t)len, &m, &p.c.sess,
					 cookie), -ENOSPC);
}

/* Server messages never carry a cookie: not sealed with one, not
 * parsed with one. */
static void test_cookie_not_on_replies(void **state)
{
	uint8_t buf[WGP_MAX_MSG_LEN + WGP_COOKIE_LEN];
	uint8_t cookie[WGP_COOKIE_LEN] = { 7 };
	struct wgp_msg m, back;
	struct pair p;
	ssize_t len;

	(void)state;
	make_pair(&p);
	example_v(&m, WGP_LOOKUP_REPLY, 0, p.c.pub, 2);
	assert_int_equal(wgp_seal_cookie(buf, sizeof(buf), &m,
					 &p.server_side, cookie), -EINVAL);
	len = wgp_seal(buf, sizeof(buf), &m, &p.server_side);
	assert_true(len > 0);
	memcpy(buf + len, cookie, WGP_COOKIE_LEN);
	buf[6] = 1;
	assert_int_equal(wgp_parse_header(&back, buf,
					  (size_t)len + WGP_COOKIE_LEN), -EBADMSG);
	assert_int_equal(wgp_open(&back, buf, (size_t)len + WGP_COOKIE_LEN,
				  &p.c.sess), -EBADMSG);
}

/* COOKIE: version 2, exactly 36 bytes, byte 6 and 7 zero; it parses
 * (txid and cookie out) but never opens: it is not sealed. */
static void test_cookie_msg(void **state)
{
	uint8_t buf[WGP_COOKIE_MSG_LEN + 16], txid[WGP_TXID_LEN];
	uint8_t cookie[WGP_COOKIE_LEN];
	struct wgp_msg back;
	struct pair p;
	size_t len;

	(void)state;
	make_pair(&p);
	wgp_txid_new(txid);
	randombytes_buf(cookie, sizeof(cookie));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(wgp_cookie_msg(buf, txid, cookie), WGP_COOKIE_MSG_LEN);
	assert_int_equal(WGP_COOKIE_MSG_LEN, 36);
	assert_int_equal(buf[WGP_OFF_TYPE], WGP_COOKIE);
	assert_int_equal(buf[WGP_OFF_VERSION], 2);
	assert_int_equal(wgp_parse_header(&back, buf, WGP_COOKIE_MSG_LEN), 0);
	assert_int_equal(back.type, WGP_COOKIE);
	assert_false(wgp_type_is_request(back.type));
	assert_memory_equal(back.txid, txid, WGP_TXID_LEN);
	assert_memory_equal(back.cookie, cookie, WGP_COOKIE_LEN);
	assert_int_equal(wgp_open(&back, buf, WGP_COOKIE_MSG_LEN, &p.c.sess),
			 -EBADMSG);
	assert_string_equal(wgp_type_name(WGP_COOKIE), "COOKIE");
	for (len = 0; len <= sizeof(buf); len++)
		if (len != WGP_COOKIE_MSG_LEN)
			assert_int_equal(wgp_parse_header(&back, buf, len),
					 -EBADMSG);
	buf[WGP_OFF_VERSION] = 1;
	assert_int_equal(wgp_parse_header(&back, buf, WGP_COOKIE_MSG_LEN),
			 -EBADMSG);
	buf[WGP_OFF_VERSION] = 2;
	buf[6] = 1;
	assert_int_equal(wgp_parse_header(&back, buf, WGP_COOKIE_MSG_LEN),
			 -EBADMSG);
	buf[6] = 0;
	buf[7] = 1;
	assert_int_equal(wgp_parse_header(&back, buf, WGP_COOKIE_MSG_LEN),
			 -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_public),
		cmocka_unit_test(test_key_base64),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_key_generate),
		cmocka_unit_test(test_session_agree),
		cmocka_unit_test(test_session_low_order),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tamper_every_byte),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_no_legacy_length),
		cmocka_unit_test(test_header_checks),
		cmocka_unit_test(test_payload_checks),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_v2_round_trip),
		cmocka_unit_test(test_v2_lengths),
		cmocka_unit_test(test_path_types_refused),
		cmocka_unit_test(test_v2_no_legacy_length),
		cmocka_unit_test(test_v2_tamper_every_byte),
		cmocka_unit_test(test_v2_bad_candidates),
		cmocka_unit_test(test_flags_per_version),
		cmocka_unit_test(test_v1_ignores_cands),
		cmocka_unit_test(test_open_parsed_version),
		cmocka_unit_test(test_endpoint_usable),
		cmocka_unit_test(test_kind_only_in_candidates),
		cmocka_unit_test(test_relay_round_trip),
		cmocka_unit_test(test_relay_v1_refused),
		cmocka_unit_test(test_relay_grant_checks),
		cmocka_unit_test(test_cookie_request),
		cmocka_unit_test(test_cookie_not_on_replies),
		cmocka_unit_test(test_cookie_msg),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
