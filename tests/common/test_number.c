// SPDX-License-Identifier: MIT
/*
 * The one strict number parser (src/common/number.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "number.h"

static int parse(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	return number_parse(s, strlen(s), min, max, v);
}

static void test_numbers(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(parse("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse("00065535", 1, 65535, &v), 0);
	assert_int_equal(v, 65535);
	assert_int_equal(parse("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	/* Only the len bytes given count. */
	assert_int_equal(number_parse("4096xyz", 4, 0, 4096, &v), 0);
	assert_int_equal(v, 4096);
}

static void test_not_numbers(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(parse("", 0, 10, &v), -EINVAL);
	assert_int_equal(parse("-1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse("+1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse("1 ", 0, 10, &v), -EINVAL);
	assert_int_equal(parse("0x10", 0, 100, &v), -EINVAL);
	/* Overflow first, then a non-digit: still not a number. */
	assert_int_equal(parse("99999999999999999999999x", 0, UINT64_MAX, &v),
			 -EINVAL);
	assert_int_equal(v, 7);
}

static void test_out_of_range(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(parse("65536", 1, 65535, &v), -ERANGE);
	assert_int_equal(parse("0", 1, 65535, &v), -ERANGE);
	/* 2^64 and 2^64 + 10^20 wrap to small numbers in 64 bits; never
	 * accepted, whatever the range. */
	assert_int_equal(parse("18446744073709551616", 0, UINT64_MAX, &v),
			 -ERANGE);
	assert_int_equal(parse("118446744073709551616", 0, UINT64_MAX, &v),
			 -ERANGE);
	/* 2^32 + 5: would wrap to 5 in a 32-bit unsigned long. */
	assert_int_equal(parse("4294967301", 0, 10, &v), -ERANGE);
	assert_int_equal(v, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_not_numbers),
		cmocka_unit_test(test_out_of_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
