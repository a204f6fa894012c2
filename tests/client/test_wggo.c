/* SPDX-License-Identifier: MIT */
/*
 * The WireGuard back-end against a real wireguard-go, in the test's own
 * network and mount namespaces. wireguard-go is configured through its
 * UAPI socket; wg(8) is the independent witness of what it holds.
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
#include "key.h"
#include "wg.h"
#include "wg_uapi.h"
#include "wglab.h"

#define IFACE "wgt0"

static pid_t wggo = -1;
static char dev_priv[65], dev_pub[65], dev_pub_b64[45];
static char p1_priv[65], p1_pub[65], p1_b64[45];
static char p2_priv[65], p2_pub[65], p2_b64[45];
static const char *skip_why;

static int group_setup(void **state)
{
	char req[1024];

	(void)state;
	skip_why = lab_enter();
	if (skip_why)
		return 0;
	wggo = lab_wggo_start(IFACE);
	if (wggo < 0) {
		skip_why = "wireguard-go did not start";
		return 0;
	}
	lab_keypair(dev_priv, dev_pub, dev_pub_b64);
	lab_keypair(p1_priv, p1_pub, p1_b64);
	lab_keypair(p2_priv, p2_pub, p2_b64);
	snprintf(req, sizeof(req),
		 "set=1\nprivate_key=%s\nlisten_port=51820\nfwmark=4660\n"
		 "public_key=%s\nendpoint=198.18.0.9:5000\nallowed_ip=198.19.0.2/32\n"
		 "public_key=%s\npersistent_keepalive_interval=7\n\n",
		 dev_priv, p1_pub, p2_pub);
	return lab_uapi(IFACE, req) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	lab_wggo_stop(wggo);
	return 0;
}

#define NEED_LAB() do { if (skip_why) { print_message("skipped: %s\n", skip_why); skip(); } } while (0)

static void hex_key(uint8_t key[WG_KEY_LEN], const char *hex)
{
	assert_int_equal(uapi_key_from_hex(key, hex, 64), 0);
}

static void wg_dump_peer(const char *b64, char *endpoint, char *keepalive)
{
	if (lab_wg_peer(IFACE, b64, endpoint, keepalive))
		fail_msg("peer %s not in wg show dump", b64);
}

static void test_get_device(void **state)
{
	struct wg_device dev;
	uint8_t key[WG_KEY_LEN];
	char shown[128], ep[ENDPOINT_STRLEN];

	(void)state;
	NEED_LAB();
	assert_true(wg_uapi_available(IFACE));
	assert_int_equal(wg_get_device(IFACE, &dev), 0);
	assert_string_equal(dev.name, IFACE);
	assert_true(dev.has_private_key);
	hex_key(key, dev_priv);
	assert_memory_equal(dev.private_key, key, WG_KEY_LEN);
	/* The public key is derived (UAPI does not report it): wg agrees. */
	assert_true(dev.has_public_key);
	assert_int_equal(lab_capture(shown, sizeof(shown), "wg show " IFACE " public-key"), 0);
	shown[strcspn(shown, "\n")] = '\0';
	assert_string_equal(shown, dev_pub_b64);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.fwmark, 4660);
	assert_int_equal(dev.num_peers, 2);

	hex_key(key, p1_pub);
	assert_non_null(wg_find_peer(&dev, key));
	assert_string_equal(endpoint_format((struct sockaddr *)&wg_find_peer(&dev, key)->endpoint, ep),
			    "198.18.0.9:5000");
	hex_key(key, p2_pub);
	assert_non_null(wg_find_peer(&dev, key));
	assert_int_equal(wg_find_peer(&dev, key)->endpoint.ss_family, AF_UNSPEC);
	assert_int_equal(wg_find_peer(&dev, key)->persistent_keepalive, 7);
	assert_int_equal(wg_find_peer(&dev, key)->last_handshake.tv_sec, 0);
	wg_free_device(&dev);
}

static void test_set_endpoint(void **state)
{
	struct sockaddr_storage ss;
	struct wg_device dev;
	uint8_t key[WG_KEY_LEN];
	char ep[80], ka[16];

	(void)state;
	NEED_LAB();
	hex_key(key, p2_pub);
	assert_int_equal(endpoint_parse("198.18.0.77:6000", 16, 0, &ss), 0);
	assert_int_equal(wg_set_peer_endpoint(IFACE, key, (struct sockaddr *)&ss, 25), 0);
	wg_dump_peer(p2_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.77:6000");
	assert_string_equal(ka, "25");
	/* The other peer is untouched. */
	wg_dump_peer(p1_b64, ep, ka);
	assert_string_equal(ep, "198.18.0.9:5000");
	assert_string_equal(ka, "off");

	/* IPv6, and our own reader sees it too. */
	assert_int_equal(endpoint_parse("[2001:db8::5]:51820", 19, 0, &ss), 0);
	assert_int_equal(wg_set_peer_endpoint(IFACE, key, (struct sockaddr *)&ss, 9), 0);
	wg_dump_peer(p2_b64, ep, ka);
	assert_string_equal(ep, "[2001:db8::5]:51820");
	assert_string_equal(ka, "9");
	assert_int_equal(wg_get_device(IFACE, &dev), 0);
	assert_true(endpoint_equal((struct sockaddr *)&wg_find_peer(&dev, key)->endpoint,
				   (struct sockaddr *)&ss));
	assert_int_equal(wg_find_peer(&dev, key)->persistent_keepalive, 9);
	wg_free_device(&dev);
}

/* A peer that is not configured is never created. */
static void test_set_unknown_peer(void **state)
{
	struct sockaddr_storage ss;
	uint8_t key[WG_KEY_LEN];
	char out[1024];

	(void)state;
	NEED_LAB();
	memset(key, 0x42, sizeof(key));
	assert_int_equal(endpoint_parse("198.18.0.78:6000", 16, 0, &ss), 0);
	assert_int_equal(wg_set_peer_endpoint(IFACE, key, (struct sockaddr *)&ss, 25), -ENOENT);
	assert_int_equal(lab_capture(out, sizeof(out), "wg show " IFACE " peers | wc -l"), 0);
	assert_int_equal(atoi(out), 2);
}

static void test_no_such_device(void **state)
{
	struct sockaddr_storage ss;
	struct wg_device dev;
	uint8_t key[WG_KEY_LEN] = { 1 };

	(void)state;
	NEED_LAB();
	/* No UAPI socket, and no kernel module: nobody knows it. */
	assert_false(wg_uapi_available("wgnone0"));
	assert_int_equal(wg_get_device("wgnone0", &dev), -ENODEV);
	assert_int_equal(endpoint_parse("198.18.0.78:6000", 16, 0, &ss), 0);
	assert_int_equal(wg_set_peer_endpoint("wgnone0", key, (struct sockaddr *)&ss, 1),
			 -ENODEV);
	/* Names that could escape the socket directory never get that far. */
	assert_int_equal(wg_get_device("../x", &dev), -EINVAL);
	assert_int_equal(wg_get_device("", &dev), -EINVAL);
	assert_int_equal(wg_get_device("a-name-far-too-long", &dev), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_device),
		cmocka_unit_test(test_set_endpoint),
		cmocka_unit_test(test_set_unknown_peer),
		cmocka_unit_test(test_no_such_device),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
