/* SPDX-License-Identifier: MIT */
/*
 * The kernel back-end's messages without a kernel module: requests are
 * built and walked attribute by attribute; replies are built by hand
 * the way the kernel lays out a WG_CMD_GET_DEVICE dump and parsed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/genetlink.h>
#include <libmnl/libmnl.h>

#include "wg_netlink.h"

#define FAMILY 0x1234

struct kts {
	int64_t sec, nsec;
};

static uint8_t key_a[WG_KEY_LEN], key_b[WG_KEY_LEN], key_dev[WG_KEY_LEN];

static int setup(void **state)
{
	(void)state;
	memset(key_a, 0xaa, sizeof(key_a));
	memset(key_b, 0xbb, sizeof(key_b));
	for (int i = 0; i < WG_KEY_LEN; i++)
		key_dev[i] = (uint8_t)i;
	return 0;
}

static const struct genlmsghdr *genl_of(const struct nlmsghdr *nlh)
{
	return mnl_nlmsg_get_payload(nlh);
}

static void test_getfamily(void **state)
{
	char buf[256];
	struct nlmsghdr *nlh = wgnl_build_getfamily(buf, sizeof(buf), 7);
	const struct nlattr *attr;
	bool found = false;

	(void)state;
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, GENL_ID_CTRL);
	assert_int_equal(nlh->nlmsg_seq, 7);
	assert_int_equal(genl_of(nlh)->cmd, CTRL_CMD_GETFAMILY);
	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_NAME) {
			assert_string_equal(mnl_attr_get_str(attr), "wireguard");
			found = true;
		}
	}
	assert_true(found);
	assert_null(wgnl_build_getfamily(buf, 20, 7));
}

static void test_family_reply(void **state)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	(void)state;
	nlh->nlmsg_type = GENL_ID_CTRL;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_NEWFAMILY;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "wireguard");
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 0x1d);
	assert_int_equal(wgnl_parse_family(nlh), 0x1d);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	mnl_attr_put_u32(nlh, CTRL_ATTR_FAMILY_ID, 0x1d);	/* wrong size */
	assert_int_equal(wgnl_parse_family(nlh), -EBADMSG);
}

static void test_get_device_request(void **state)
{
	char buf[256];
	struct nlmsghdr *nlh = wgnl_build_get_device(buf, sizeof(buf), FAMILY, 9, "wg0");
	const struct nlattr *attr;
	int n = 0;

	(void)state;
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_type, FAMILY);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
	assert_int_equal(genl_of(nlh)->cmd, WG_CMD_GET_DEVICE);
	assert_int_equal(genl_of(nlh)->version, WG_GENL_VERSION);
	mnl_attr_for_each(attr, nlh, sizeof(struct genlmsghdr)) {
		assert_int_equal(mnl_attr_get_type(attr), WGDEVICE_A_IFNAME);
		assert_string_equal(mnl_attr_get_str(attr), "wg0");
		n++;
	}
	assert_int_equal(n, 1);
}

struct set_seen {
	int ifname, peers, key, flags, endpoint, keepalive;
	uint32_t flag_value;
	uint16_t keepalive_value;
	struct sockaddr_in6 ep;
};

static int set_peer_attr(const struct nlattr *attr, void *data)
{
	struct set_seen *s = data;

	switch (mnl_attr_get_type(attr)) {
	case WGPEER_A_PUBLIC_KEY:
		assert_int_equal(mnl_attr_get_payload_len(attr), WG_KEY_LEN);
		assert_memory_equal(mnl_attr_get_payload(attr), key_a, WG_KEY_LEN);
		s->key++;
		break;
	case WGPEER_A_FLAGS:
		s->flag_value = mnl_attr_get_u32(attr);
		s->flags++;
		break;
	case WGPEER_A_ENDPOINT:
		assert_int_equal(mnl_attr_get_payload_len(attr), sizeof(s->ep));
		memcpy(&s->ep, mnl_attr_get_payload(attr), sizeof(s->ep));
		s->endpoint++;
		break;
	case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
		s->keepalive_value = mnl_attr_get_u16(attr);
		s->keepalive++;
		break;
	default:
		fail_msg("unexpected peer attribute %u", mnl_attr_get_type(attr));
	}
	return MNL_CB_OK;
}

static int set_peers_attr(const struct nlattr *attr, void *data)
{
	return mnl_attr_parse_nested(attr, set_peer_attr, data);
}

static int set_dev_attr(const struct nlattr *attr, void *data)
{
	struct set_seen *s = data;

	switch (mnl_attr_get_type(attr)) {
	case WGDEVICE_A_IFNAME:
		assert_string_equal(mnl_attr_get_str(attr), "wg7");
		s->ifname++;
		break;
	case WGDEVICE_A_PEERS:
		assert_true(mnl_attr_get_type(attr) == WGDEVICE_A_PEERS);
		s->peers++;
		return mnl_attr_parse_nested(attr, set_peers_attr, data);
	default:
		fail_msg("unexpected device attribute %u", mnl_attr_get_type(attr));
	}
	return MNL_CB_OK;
}

static void test_set_peer_request(void **state)
{
	struct sockaddr_in6 ep = { .sin6_family = AF_INET6, .sin6_port = htons(4242) };
	struct set_seen seen = { 0 };
	struct nlmsghdr *nlh;
	char buf[512];

	(void)state;
	inet_pton(AF_INET6, "2001:db8::42", &ep.sin6_addr);
	nlh = wgnl_build_set_peer(buf, sizeof(buf), FAMILY, 3, "wg7", key_a,
				  (struct sockaddr *)&ep, 25);
	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	assert_int_equal(genl_of(nlh)->cmd, WG_CMD_SET_DEVICE);
	assert_int_equal(mnl_attr_parse(nlh, sizeof(struct genlmsghdr), set_dev_attr,
					&seen), MNL_CB_OK);
	assert_int_equal(seen.ifname, 1);
	assert_int_equal(seen.peers, 1);
	assert_int_equal(seen.key, 1);
	assert_int_equal(seen.flags, 1);
	assert_int_equal(seen.flag_value, WGPEER_F_UPDATE_ONLY);
	assert_int_equal(seen.endpoint, 1);
	assert_memory_equal(&seen.ep, &ep, sizeof(ep));
	assert_int_equal(seen.keepalive, 1);
	assert_int_equal(seen.keepalive_value, 25);

	/* Too small a buffer, or no usable endpoint: no message. */
	assert_null(wgnl_build_set_peer(buf, 64, FAMILY, 3, "wg7", key_a,
					(struct sockaddr *)&ep, 25));
	ep.sin6_family = AF_UNIX;
	assert_null(wgnl_build_set_peer(buf, sizeof(buf), FAMILY, 3, "wg7", key_a,
					(struct sockaddr *)&ep, 25));
}

/* A dump message as the kernel writes one. */
static struct nlmsghdr *dump_start(char *buf, bool device_attrs)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = WG_CMD_GET_DEVICE;
	g->version = WG_GENL_VERSION;
	if (device_attrs) {
		mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
		mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, 0xca6c);
		mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, 5);
		mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg0");
		mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, key_dev);
		mnl_attr_put(nlh, WGDEVICE_A_PUBLIC_KEY, WG_KEY_LEN, key_dev);
	}
	return nlh;
}

static void put_peer_a(struct nlmsghdr *nlh)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(51821) };
	struct kts ts = { 1700000000, 5 };
	struct nlattr *peer, *aips;

	inet_pton(AF_INET, "198.18.0.5", &sin.sin_addr);
	peer = mnl_attr_nest_start(nlh, 0);
	/* Key not first: order must not matter. */
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(sin), &sin);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key_a);
	mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), &ts);
	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 1);
	aips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	mnl_attr_nest_end(nlh, aips);
	mnl_attr_nest_end(nlh, peer);
}

static void test_parse_dump(void **state)
{
	static char buf1[4096], buf2[4096];
	struct nlmsghdr *m1 = dump_start(buf1, true), *m2;
	struct nlattr *peers, *peer;
	struct wg_device dev = { 0 };
	struct sockaddr_in *sin;

	(void)state;
	peers = mnl_attr_nest_start(m1, WGDEVICE_A_PEERS);
	put_peer_a(m1);
	mnl_attr_nest_end(m1, peers);

	/* The second message continues peer A (its allowed IPs did not
	 * fit), then peer B. */
	m2 = dump_start(buf2, false);
	peers = mnl_attr_nest_start(m2, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(m2, 0);
	mnl_attr_put(m2, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key_a);
	mnl_attr_nest_end(m2, peer);
	peer = mnl_attr_nest_start(m2, 0);
	mnl_attr_put(m2, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key_b);
	mnl_attr_nest_end(m2, peer);
	mnl_attr_nest_end(m2, peers);

	assert_int_equal(wgnl_parse_device(m1, &dev), 0);
	assert_int_equal(wgnl_parse_device(m2, &dev), 0);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.fwmark, 0xca6c);
	assert_true(dev.has_private_key && dev.has_public_key);
	assert_memory_equal(dev.private_key, key_dev, WG_KEY_LEN);
	assert_int_equal(dev.num_peers, 2);
	assert_memory_equal(dev.peers[0].public_key, key_a, WG_KEY_LEN);
	sin = (struct sockaddr_in *)&dev.peers[0].endpoint;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 51821);
	assert_int_equal(dev.peers[0].last_handshake.tv_sec, 1700000000);
	assert_int_equal(dev.peers[0].last_handshake.tv_nsec, 5);
	assert_int_equal(dev.peers[0].persistent_keepalive, 25);
	assert_memory_equal(dev.peers[1].public_key, key_b, WG_KEY_LEN);
	assert_int_equal(dev.peers[1].endpoint.ss_family, AF_UNSPEC);
	wg_free_device(&dev);
}

/* One bad attribute inside a peer, built by put. */
static int parse_bad_peer(void (*put)(struct nlmsghdr *nlh))
{
	static char buf[4096];
	struct nlmsghdr *nlh = dump_start(buf, true);
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0);
	struct wg_device dev = { 0 };
	int ret;

	put(nlh);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	ret = wgnl_parse_device(nlh, &dev);
	wg_free_device(&dev);
	return ret;
}

static void put_short_key(struct nlmsghdr *nlh)
{
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN - 1, key_a);
}

static void put_no_key(struct nlmsghdr *nlh)
{
	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
}

static void put_bad_endpoint(struct nlmsghdr *nlh)
{
	struct sockaddr_in sin = { .sin_family = AF_INET6 };

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key_a);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(sin), &sin);
}

static void put_bad_nsec(struct nlmsghdr *nlh)
{
	struct kts ts = { 1, 1000000000 };

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key_a);
	mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), &ts);
}

static void put_short_time(struct nlmsghdr *nlh)
{
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key_a);
	mnl_attr_put_u64(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, 1);
}

static void put_wide_keepalive(struct nlmsghdr *nlh)
{
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key_a);
	mnl_attr_put_u32(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
}

static void test_parse_malformed(void **state)
{
	static char buf[4096];
	struct nlmsghdr *nlh;
	struct wg_device dev = { 0 };

	(void)state;
	assert_int_equal(parse_bad_peer(put_short_key), -EBADMSG);
	assert_int_equal(parse_bad_peer(put_no_key), -EBADMSG);
	assert_int_equal(parse_bad_peer(put_bad_endpoint), -EBADMSG);
	assert_int_equal(parse_bad_peer(put_bad_nsec), -EBADMSG);
	assert_int_equal(parse_bad_peer(put_short_time), -EBADMSG);
	assert_int_equal(parse_bad_peer(put_wide_keepalive), -EBADMSG);

	/* Device-level: a key of the wrong size, a u32 port. */
	nlh = dump_start(buf, false);
	mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, 16, key_dev);
	assert_int_equal(wgnl_parse_device(nlh, &dev), -EBADMSG);
	wg_free_device(&dev);
	nlh = dump_start(buf, false);
	mnl_attr_put_u32(nlh, WGDEVICE_A_LISTEN_PORT, 1);
	assert_int_equal(wgnl_parse_device(nlh, &dev), -EBADMSG);
	wg_free_device(&dev);
	/* An attribute running past the message. */
	nlh = dump_start(buf, true);
	((struct nlattr *)((char *)nlh + nlh->nlmsg_len - 36))->nla_len = 200;
	assert_int_equal(wgnl_parse_device(nlh, &dev), -EBADMSG);
	wg_free_device(&dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getfamily),
		cmocka_unit_test(test_family_reply),
		cmocka_unit_test(test_get_device_request),
		cmocka_unit_test(test_set_peer_request),
		cmocka_unit_test(test_parse_dump),
		cmocka_unit_test(test_parse_malformed),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
