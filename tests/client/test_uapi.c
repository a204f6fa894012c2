/* SPDX-License-Identifier: MIT */
/*
 * The UAPI "get=1" parser and "set=1" formatter on text written the way
 * wireguard-go writes it, and on malformed, truncated and huge replies.
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
#include <arpa/inet.h>
#include <netinet/in.h>

#include "endpoint.h"
#include "wg_uapi.h"

#define HEX_A "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define HEX_P1 "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define HEX_P2 "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceae9e3f8a03b"

/* As wireguard-go 0.0.2022 answers "get=1" (keys from wg(8)'s manual). */
static const char reply_two_peers[] =
	"private_key=" HEX_A "\n"
	"listen_port=51820\n"
	"fwmark=4660\n"
	"public_key=" HEX_P1 "\n"
	"preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
	"protocol_version=1\n"
	"endpoint=198.18.0.7:51821\n"
	"last_handshake_time_sec=1700000000\n"
	"last_handshake_time_nsec=123456789\n"
	"tx_bytes=1000\n"
	"rx_bytes=2000\n"
	"persistent_keepalive_interval=25\n"
	"allowed_ip=198.19.0.2/32\n"
	"public_key=" HEX_P2 "\n"
	"protocol_version=1\n"
	"endpoint=[2001:db8::7]:4000\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"persistent_keepalive_interval=0\n"
	"errno=0\n"
	"\n";

static int parse(struct wg_device *dev, const char *text)
{
	return uapi_parse_reply(dev, text, strlen(text));
}

static void test_two_peers(void **state)
{
	struct wg_device dev;
	uint8_t key[WG_KEY_LEN];
	char buf[ENDPOINT_STRLEN];

	(void)state;
	assert_int_equal(parse(&dev, reply_two_peers), 0);
	assert_true(dev.has_private_key);
	assert_int_equal(uapi_key_from_hex(key, HEX_A, 64), 0);
	assert_memory_equal(dev.private_key, key, WG_KEY_LEN);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.fwmark, 4660);
	assert_int_equal(dev.num_peers, 2);

	assert_int_equal(uapi_key_from_hex(key, HEX_P1, 64), 0);
	assert_memory_equal(dev.peers[0].public_key, key, WG_KEY_LEN);
	assert_string_equal(endpoint_format((struct sockaddr *)&dev.peers[0].endpoint, buf),
			    "198.18.0.7:51821");
	assert_int_equal(dev.peers[0].last_handshake.tv_sec, 1700000000);
	assert_int_equal(dev.peers[0].last_handshake.tv_nsec, 123456789);
	assert_int_equal(dev.peers[0].persistent_keepalive, 25);

	assert_int_equal(uapi_key_from_hex(key, HEX_P2, 64), 0);
	assert_memory_equal(dev.peers[1].public_key, key, WG_KEY_LEN);
	assert_string_equal(endpoint_format((struct sockaddr *)&dev.peers[1].endpoint, buf),
			    "[2001:db8::7]:4000");
	assert_int_equal(dev.peers[1].last_handshake.tv_sec, 0);
	assert_int_equal(dev.peers[1].persistent_keepalive, 0);
	assert_ptr_equal(wg_find_peer(&dev, key), &dev.peers[1]);
	wg_free_device(&dev);
}

static void test_no_peers_no_key(void **state)
{
	struct wg_device dev;

	(void)state;
	assert_int_equal(parse(&dev, "listen_port=4\nerrno=0\n\n"), 0);
	assert_false(dev.has_private_key);
	assert_int_equal(dev.listen_port, 4);
	assert_int_equal(dev.num_peers, 0);
	wg_free_device(&dev);
	/* A zero private key is "no key". */
	assert_int_equal(parse(&dev, "private_key=0000000000000000000000000000"
			       "000000000000000000000000000000000000\nerrno=0\n\n"), 0);
	assert_false(dev.has_private_key);
	wg_free_device(&dev);
}

static void test_unknown_keys_skipped(void **state)
{
	struct wg_device dev;

	(void)state;
	assert_int_equal(parse(&dev, "listen_port=9\nfuture_thing=x=y\n"
			       "public_key=" HEX_P1 "\nnew_peer_key=1\nerrno=0\n\n"), 0);
	assert_int_equal(dev.num_peers, 1);
	wg_free_device(&dev);
}

static void test_remote_errno(void **state)
{
	struct wg_device dev;

	(void)state;
	assert_int_equal(parse(&dev, "errno=19\n\n"), -19);
	wg_free_device(&dev);
	assert_int_equal(parse(&dev, "errno=4096\n\n"), -ERANGE);
	wg_free_device(&dev);
}

static void expect_bad(const char *text, int err)
{
	struct wg_device dev;

	assert_int_equal(parse(&dev, text), err);
	wg_free_device(&dev);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("", -EBADMSG);
	expect_bad("\n", -EBADMSG);			/* empty before errno */
	expect_bad("listen_port\nerrno=0\n\n", -EBADMSG);	/* no '=' */
	expect_bad("=5\nerrno=0\n\n", -EBADMSG);		/* no key */
	expect_bad("listen_port=65536\nerrno=0\n\n", -ERANGE);
	expect_bad("listen_port=-1\nerrno=0\n\n", -EBADMSG);
	expect_bad("listen_port= 1\nerrno=0\n\n", -EBADMSG);
	expect_bad("listen_port=\nerrno=0\n\n", -EBADMSG);
	expect_bad("listen_port=99999999999999999999999\nerrno=0\n\n", -ERANGE);
	expect_bad("listen_port=18446744073709551616\nerrno=0\n\n", -ERANGE);
	expect_bad("fwmark=4294967296\nerrno=0\n\n", -ERANGE);
	expect_bad("private_key=" HEX_A "0\nerrno=0\n\n", -EBADMSG);
	expect_bad("private_key=zz4b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
		   "errno=0\n\n", -EBADMSG);
	/* Peer keys before any peer, device keys inside one. */
	expect_bad("endpoint=198.18.0.1:1\nerrno=0\n\n", -EBADMSG);
	expect_bad("last_handshake_time_sec=1\nerrno=0\n\n", -EBADMSG);
	expect_bad("public_key=" HEX_P1 "\nlisten_port=1\nerrno=0\n\n", -EBADMSG);
	expect_bad("public_key=" HEX_P1 "\nendpoint=198.18.0.1\nerrno=0\n\n", -EBADMSG);
	expect_bad("public_key=" HEX_P1 "\nendpoint=198.18.0.1:0\nerrno=0\n\n", -EBADMSG);
	expect_bad("public_key=" HEX_P1 "\nendpoint=[2001:db8::1:1\nerrno=0\n\n", -EBADMSG);
	expect_bad("public_key=" HEX_P1 "\nendpoint=example.org:1\nerrno=0\n\n", -EBADMSG);
	expect_bad("public_key=" HEX_P1 "\nlast_handshake_time_nsec=1000000000\n"
		   "errno=0\n\n", -ERANGE);
	expect_bad("public_key=" HEX_P1 "\npersistent_keepalive_interval=65536\n"
		   "errno=0\n\n", -ERANGE);
	/* Anything after the errno line but the blank line. */
	expect_bad("errno=0\nlisten_port=1\n\n", -EBADMSG);
	expect_bad("errno=0\n\nlisten_port=1\n", -EBADMSG);
	expect_bad("errno=x\n\n", -EBADMSG);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "listen_port=1\0\nerrno=0\n\n";
	struct wg_device dev;

	(void)state;
	assert_int_equal(uapi_parse_reply(&dev, text, sizeof(text) - 1), -EBADMSG);
	wg_free_device(&dev);
}

static void test_truncated(void **state)
{
	size_t len = strlen(reply_two_peers);
	struct wg_device dev;

	(void)state;
	/* Every proper prefix is incomplete, and must say so. */
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(uapi_parse_reply(&dev, reply_two_peers, i), -EBADMSG);
		wg_free_device(&dev);
	}
	assert_int_equal(uapi_parse_reply(&dev, reply_two_peers, len), 0);
	wg_free_device(&dev);
}

static void test_long_line(void **state)
{
	static char text[UAPI_MAX_LINE + 64];
	struct wg_device dev;

	(void)state;
	memcpy(text, "x=", 2);
	memset(text + 2, 'a', UAPI_MAX_LINE);
	strcpy(text + 2 + UAPI_MAX_LINE, "\nerrno=0\n\n");
	assert_int_equal(parse(&dev, text), -EMSGSIZE);
	wg_free_device(&dev);
	/* A line of exactly the limit is fine. */
	strcpy(text + UAPI_MAX_LINE, "\nerrno=0\n\n");
	assert_int_equal(parse(&dev, text), 0);
	wg_free_device(&dev);
}

/* A reply with more peers than WG_MAX_PEERS is refused without growing
 * past it; a merely large one parses. */
static void test_huge(void **state)
{
	const char *line = "public_key=" HEX_P1 "\n";
	size_t llen = strlen(line), n = WG_MAX_PEERS + 1;
	char *text = malloc(n * llen + 16);
	struct wg_device dev;

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		memcpy(text + i * llen, line, llen);
	strcpy(text + n * llen, "errno=0\n\n");
	assert_int_equal(uapi_parse_reply(&dev, text, strlen(text)), -E2BIG);
	assert_int_equal(dev.num_peers, WG_MAX_PEERS);
	wg_free_device(&dev);
	strcpy(text + 1000 * llen, "errno=0\n\n");
	assert_int_equal(uapi_parse_reply(&dev, text, strlen(text)), 0);
	assert_int_equal(dev.num_peers, 1000);
	wg_free_device(&dev);
	free(text);
}

static void test_hex(void **state)
{
	uint8_t key[WG_KEY_LEN], back[WG_KEY_LEN];
	char hex[65];

	(void)state;
	for (int i = 0; i < WG_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 37 + 11);
	uapi_key_to_hex(hex, key);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(uapi_key_from_hex(back, hex, 64), 0);
	assert_memory_equal(key, back, WG_KEY_LEN);
	/* Upper case is accepted, every non-hex byte refused. */
	assert_int_equal(uapi_key_from_hex(back, "E84B5A6D2717C1003A13B431570353DB"
					   "ACA9146CF150C5F8575680FEBA52027A", 64), 0);
	assert_int_equal(uapi_key_from_hex(key, HEX_A, 64), 0);
	assert_memory_equal(key, back, WG_KEY_LEN);
	for (int c = 0; c < 256; c++) {
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			  (c >= 'A' && c <= 'F');

		memset(hex, '0', 64);
		hex[17] = (char)c;
		assert_int_equal(uapi_key_from_hex(key, hex, 64) == 0, ok);
	}
	assert_int_equal(uapi_key_from_hex(key, HEX_A, 63), -EINVAL);
}

static void test_format_set(void **state)
{
	struct sockaddr_storage ss;
	uint8_t key[WG_KEY_LEN];
	char buf[512];
	int n;

	(void)state;
	assert_int_equal(uapi_key_from_hex(key, HEX_P1, 64), 0);
	assert_int_equal(endpoint_parse("198.18.0.9:51820", 16, 0, &ss), 0);
	n = uapi_format_set_endpoint(buf, sizeof(buf), key, (struct sockaddr *)&ss, 25);
	assert_true(n > 0);
	assert_string_equal(buf, "set=1\npublic_key=" HEX_P1 "\nupdate_only=true\n"
			    "endpoint=198.18.0.9:51820\npersistent_keepalive_interval=25\n\n");
	assert_int_equal(uapi_format_set_endpoint(buf, 40, key, (struct sockaddr *)&ss, 25),
			 -ENOSPC);
	assert_int_equal(endpoint_parse("[2001:db8::9]:7", 15, 0, &ss), 0);
	n = uapi_format_set_endpoint(buf, sizeof(buf), key, (struct sockaddr *)&ss, 0);
	assert_non_null(strstr(buf, "\nendpoint=[2001:db8::9]:7\npersistent_keepalive_interval=0\n\n"));
}

/* Sorted, a lookup is a binary search; every peer is still found, and
 * an unknown key is not. */
static void test_sort_find(void **state)
{
	struct wg_device dev;
	uint8_t key[WG_KEY_LEN];

	(void)state;
	memset(&dev, 0, sizeof(dev));
	for (unsigned int i = 0; i < 1000; i++) {
		struct wg_peer *p = wg_add_peer(&dev);

		assert_non_null(p);
		p->public_key[0] = (uint8_t)(i * 37);
		p->public_key[1] = (uint8_t)(i >> 8);
		p->persistent_keepalive = (uint16_t)i;
	}
	assert_false(dev.sorted);
	wg_sort_peers(&dev);
	assert_true(dev.sorted);
	for (size_t i = 1; i < dev.num_peers; i++)
		assert_true(memcmp(dev.peers[i - 1].public_key, dev.peers[i].public_key,
				   WG_KEY_LEN) < 0);
	for (unsigned int i = 0; i < 1000; i++) {
		const struct wg_peer *p;

		memset(key, 0, sizeof(key));
		key[0] = (uint8_t)(i * 37);
		key[1] = (uint8_t)(i >> 8);
		p = wg_find_peer(&dev, key);
		assert_non_null(p);
		assert_int_equal(p->persistent_keepalive, i);
	}
	memset(key, 0xee, sizeof(key));
	assert_null(wg_find_peer(&dev, key));
	/* Adding one makes it unsorted again: still found. */
	wg_add_peer(&dev)->public_key[0] = 0xee;
	assert_false(dev.sorted);
	key[0] = 0xee;
	memset(key + 1, 0, sizeof(key) - 1);
	assert_non_null(wg_find_peer(&dev, key));
	wg_free_device(&dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sort_find),
		cmocka_unit_test(test_two_peers),
		cmocka_unit_test(test_no_peers_no_key),
		cmocka_unit_test(test_unknown_keys_skipped),
		cmocka_unit_test(test_remote_errno),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_huge),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_format_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
