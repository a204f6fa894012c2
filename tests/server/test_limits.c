// SPDX-License-Identifier: MIT
/*
 * Fair limits: IPv6 sources aggregated by a configurable prefix (the
 * rate limiter, the server, and the --ipv6-prefix option).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "options.h"
#include "server.h"
#include "testclient.h"

static struct wgp_endpoint v6(const char *s, uint16_t port)
{
	struct wgp_endpoint ep = { .family = AF_INET6, .port = port };

	assert_int_equal(inet_pton(AF_INET6, s, ep.addr), 1);
	return ep;
}

static struct wgp_endpoint v4(uint8_t host)
{
	struct wgp_endpoint ep = { .family = AF_INET, .port = 9,
				   .addr = { 198, 18, 0, host } };

	return ep;
}

static bool allow(struct ratelimit *rl, struct wgp_endpoint src)
{
	return ratelimit_allow(rl, &src, 1000);
}

/* Empty src's bucket (burst 5, same millisecond). */
static void drain(struct ratelimit *rl, struct wgp_endpoint src)
{
	unsigned int i;

	for (i = 0; i < 5; i++)
		assert_true(ratelimit_allow(rl, &src, 1000));
	assert_false(ratelimit_allow(rl, &src, 1000));
}

static void test_prefix_default_64(void **state)
{
	struct ratelimit rl;

	(void)state;
	assert_int_equal(ratelimit_init(&rl, 64, 10, 5), 0);
	drain(&rl, v6("2001:db8:1:2::1", 1));
	/* Same /64, other host and port: the same bucket. */
	assert_false(allow(&rl, v6("2001:db8:1:2:ffff:1:2:3", 7)));
	/* The neighbouring /64: its own. */
	assert_true(allow(&rl, v6("2001:db8:1:3::1", 1)));
	/* IPv4: one address, one bucket. */
	drain(&rl, v4(1));
	assert_true(allow(&rl, v4(2)));
	ratelimit_free(&rl);
}

static void test_prefix_configured(void **state)
{
	struct ratelimit rl;

	(void)state;
	assert_int_equal(ratelimit_init(&rl, 64, 10, 5), 0);
	assert_int_equal(ratelimit_set_prefix6(&rl, 31), -EINVAL);
	assert_int_equal(ratelimit_set_prefix6(&rl, 129), -EINVAL);
	/* /52: not on a byte boundary; 2001:db8:1:2:: and 2001:db8:1:fff::
	 * share it, 2001:db8:1:1000:: does not. */
	assert_int_equal(ratelimit_set_prefix6(&rl, 52), 0);
	drain(&rl, v6("2001:db8:1:2::1", 1));
	assert_false(allow(&rl, v6("2001:db8:1:fff::1", 1)));
	assert_true(allow(&rl, v6("2001:db8:1:1000::1", 1)));
	ratelimit_free(&rl);

	/* /128: every address its own. */
	assert_int_equal(ratelimit_init(&rl, 64, 10, 5), 0);
	assert_int_equal(ratelimit_set_prefix6(&rl, 128), 0);
	drain(&rl, v6("2001:db8:1:2::1", 1));
	assert_false(allow(&rl, v6("2001:db8:1:2::1", 2)));
	assert_true(allow(&rl, v6("2001:db8:1:2::2", 1)));
	ratelimit_free(&rl);
}

/*
 * Through the server: unknown keys' PROBEs (each an X25519) from one
 * /64 share its burst; the next /64 is served. With prefix 128 the
 * second host is served too.
 */
static unsigned int probes_served(uint8_t prefix, const char *first,
				  const char *second)
{
	uint8_t priv[WGP_KEY_LEN], buf[WGP_MAX_MSG_LEN];
	struct out_msg msgs[4];
	struct outq q = { .msgs = msgs, .cap = 4 };
	struct server_config cfg;
	struct server srv;
	struct rx_info rx = { .port = PORT_MAIN };
	struct tclient x;
	unsigned int i, served = 0;

	server_config_defaults(&cfg);
	cfg.capacity = 16;
	cfg.rate = 1;
	cfg.burst = 4;
	cfg.ipv6_prefix = prefix;
	wgp_key_generate(priv);
	assert_int_equal(server_init(&srv, &cfg, priv, 1000), 0);
	for (i = 0; i < 2 * cfg.burst; i++) {
		tclient_init(&x, srv.pub);
		rx.len = tclient_probe(&x, buf, sizeof(buf));
		rx.pkt = buf;
		rx.src = v6(i < cfg.burst ? first : second, 5);
		q.n = 0;
		server_handle(&srv, &rx, 1000, wgp_now_ns(), &q);
		served += q.n;
	}
	server_free(&srv);
	return served;
}

static void test_server_prefix(void **state)
{
	(void)state;
	assert_int_equal(probes_served(0, "2001:db8:5::1", "2001:db8:5::2"), 4);
	assert_int_equal(probes_served(64, "2001:db8:5::1",
				       "2001:db8:5:0:8000::2"), 4);
	assert_int_equal(probes_served(64, "2001:db8:5::1", "2001:db8:5:1::1"),
			 8);
	assert_int_equal(probes_served(128, "2001:db8:5::1", "2001:db8:5::2"),
			 8);
	assert_int_equal(probes_served(48, "2001:db8:5::1", "2001:db8:5:1::1"),
			 4);
}

static int parse(struct options *o, const char *prefix)
{
	char *argv[] = { (char *)"wgpunchd", (char *)"-k", (char *)"/dev/null",
			 (char *)"--ipv6-prefix", (char *)prefix, NULL };

	return options_parse(o, prefix ? 5 : 3, argv);
}

static void test_option(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, NULL), OPTIONS_RUN);
	assert_int_equal(o.cfg.ipv6_prefix, 64);
	assert_int_equal(parse(&o, "48"), OPTIONS_RUN);
	assert_int_equal(o.cfg.ipv6_prefix, 48);
	assert_int_equal(parse(&o, "128"), OPTIONS_RUN);
	assert_int_equal(o.cfg.ipv6_prefix, 128);
	assert_int_equal(parse(&o, "32"), OPTIONS_RUN);
	assert_int_equal(parse(&o, "31"), OPTIONS_EXIT_USAGE);
	assert_int_equal(parse(&o, "129"), OPTIONS_EXIT_USAGE);
	assert_int_equal(parse(&o, "64x"), OPTIONS_EXIT_USAGE);
}

/* Without --dh-rate the budget is measured at start (main.c); with it,
 * the given rate stands. The measurement itself gives a plausible rate
 * (X25519 takes tens of microseconds, not milliseconds or nanoseconds). */
static void test_dh_rate_measured(void **state)
{
	char *argv[] = { (char *)"wgpunchd", (char *)"-k", (char *)"/dev/null",
			 (char *)"--dh-rate", (char *)"1234", NULL };
	struct options o;
	uint32_t rate;

	(void)state;
	assert_int_equal(parse(&o, NULL), OPTIONS_RUN);
	assert_false(o.dh_rate_set);
	assert_int_equal(options_parse(&o, 5, argv), OPTIONS_RUN);
	assert_true(o.dh_rate_set);
	assert_int_equal(o.cfg.dh_rate, 1234);
	rate = server_measure_dh_rate(SERVER_DH_MEASURE_N);
	assert_true(rate > 500 && rate < 10000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_default_64),
		cmocka_unit_test(test_prefix_configured),
		cmocka_unit_test(test_server_prefix),
		cmocka_unit_test(test_option),
		cmocka_unit_test(test_dh_rate_measured),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
