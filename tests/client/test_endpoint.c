/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "endpoint.h"

static int parse(const char *s, uint16_t def, struct sockaddr_storage *ss)
{
	return endpoint_parse(s, strlen(s), def, ss);
}

static void round_trip(const char *s)
{
	struct sockaddr_storage ss;
	char buf[ENDPOINT_STRLEN];

	assert_int_equal(parse(s, 0, &ss), 0);
	assert_string_equal(endpoint_format((struct sockaddr *)&ss, buf), s);
}

static void test_round_trip(void **state)
{
	(void)state;
	round_trip("198.18.0.1:51820");
	round_trip("198.19.255.255:1");
	round_trip("[2001:db8::1]:65535");
	round_trip("[::ffff:198.18.0.1]:5");
	round_trip("[fe80::1%1]:51820");
}

static void test_default_port(void **state)
{
	struct sockaddr_storage ss;

	(void)state;
	assert_int_equal(parse("198.18.0.1", 49918, &ss), 0);
	assert_int_equal(endpoint_port((struct sockaddr *)&ss), 49918);
	assert_int_equal(parse("[2001:db8::2]", 49918, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(parse("2001:db8::2", 49918, &ss), 0);
	assert_int_equal(endpoint_port((struct sockaddr *)&ss), 49918);
	/* Without a default, the port is required. */
	assert_int_equal(parse("198.18.0.1", 0, &ss), -EINVAL);
	assert_int_equal(parse("2001:db8::2", 0, &ss), -EINVAL);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"", ":1", "198.18.0.1:", "198.18.0.1:0", "198.18.0.1:65536",
		"198.18.0.1:+1", "198.18.0.1: 1", "198.18.1:1", "198.18.0.256:1",
		"0x7f.0.0.1:1", "[2001:db8::1:1", "[2001:db8::1]1", "[2001:db8::1]:",
		"[]:1", "[198.18.0.1]:1", "host:1", "[fe80::1%]:1",
		"[fe80::1%nosuchinterface0]:1", "2001:db8::1:1:1:1:1:1:1",
	};
	struct sockaddr_storage ss;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], 0, &ss) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* Embedded NUL within the given length. */
	assert_int_equal(endpoint_parse("198.18.0.1\0:1", 13, 0, &ss), -EINVAL);
}

static void test_equal(void **state)
{
	struct sockaddr_storage a, b;

	(void)state;
	assert_int_equal(parse("198.18.0.1:1", 0, &a), 0);
	assert_int_equal(parse("198.18.0.1:1", 0, &b), 0);
	assert_true(endpoint_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	assert_int_equal(parse("198.18.0.1:2", 0, &b), 0);
	assert_false(endpoint_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	assert_int_equal(parse("[::ffff:198.18.0.1]:1", 0, &b), 0);
	assert_false(endpoint_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	assert_int_equal(endpoint_len((struct sockaddr *)&a), sizeof(struct sockaddr_in));
	assert_int_equal(endpoint_len((struct sockaddr *)&b), sizeof(struct sockaddr_in6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_default_port),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
