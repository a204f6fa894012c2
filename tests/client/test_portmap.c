/* SPDX-License-Identifier: MIT */
/*
 * The port-mapping module's decisions (portmap_sched.c) driven with
 * made-up clocks and route tables, and the worker itself against
 * loopback, where nothing answers port 5351: NONE, promptly, and a
 * prompt stop. The real gateway (miniupnpd) is tests/e2e/portmap.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "portmap.h"
#include "portmap_int.h"

static void test_pcp_retransmit(void **state)
{
	(void)state;
	/* RT = 500 ms * 2^attempt * (1 + RAND), RAND in -0.1 .. +0.1 */
	assert_int_equal(portmap_pcp_retransmit_ms(0, 0), 450);
	assert_int_equal(portmap_pcp_retransmit_ms(0, 200), 550);
	assert_int_equal(portmap_pcp_retransmit_ms(0, 100), 500);
	assert_int_equal(portmap_pcp_retransmit_ms(1, 100), 1000);
	assert_int_equal(portmap_pcp_retransmit_ms(2, 100), 2000);
	for (uint32_t r = 0; r < 5000; r += 7) {
		uint32_t rt = portmap_pcp_retransmit_ms(1, r * 2654435761u);

		assert_in_range(rt, 900, 1100);
	}
	/* Capped: no overflow however long it runs. */
	assert_int_equal(portmap_pcp_retransmit_ms(1000, 100), 500u << 10);
}

static void test_renew_at(void **state)
{
	(void)state;
	assert_int_equal(portmap_renew_at(1000, 7200), 1000 + 3600 * 1000);
	assert_int_equal(portmap_renew_at(1000, 120), 1000 + 60 * 1000);
	/* A gateway granting a second or nothing is not asked in a loop. */
	assert_int_equal(portmap_renew_at(1000, 1), 2000);
	assert_int_equal(portmap_renew_at(1000, 0), 2000);
}

static void test_renew_retry(void **state)
{
	const uint64_t now = 100000, expires = now + 3600 * 1000;

	(void)state;
	assert_int_equal(portmap_renew_retry_at(now, expires, 1), now + 2000);
	assert_int_equal(portmap_renew_retry_at(now, expires, 2), now + 4000);
	assert_int_equal(portmap_renew_retry_at(now, expires, 3), now + 8000);
	assert_int_equal(portmap_renew_retry_at(now, expires, 6), now + 64000);
	assert_int_equal(portmap_renew_retry_at(now, expires, 7), now + 64000);
	assert_int_equal(portmap_renew_retry_at(now, expires, 1000), now + 64000);
	/* Never past the expiry: the loss is published on time. */
	assert_int_equal(portmap_renew_retry_at(now, now + 3000, 2), now + 3000);
	assert_int_equal(portmap_renew_retry_at(now, now, 1), now);
	assert_int_equal(portmap_renew_retry_at(now + 5, now, 1), now + 5);
}

static void test_idle_retry(void **state)
{
	const uint64_t min = 60 * 1000;

	(void)state;
	assert_int_equal(portmap_idle_retry_ms(1), 5 * min);
	assert_int_equal(portmap_idle_retry_ms(2), 10 * min);
	assert_int_equal(portmap_idle_retry_ms(3), 20 * min);
	assert_int_equal(portmap_idle_retry_ms(4), 30 * min);
	assert_int_equal(portmap_idle_retry_ms(5), 30 * min);
	assert_int_equal(portmap_idle_retry_ms(100000), 30 * min);
}

static void test_epoch(void **state)
{
	(void)state;
	/* Both clocks advanced an hour. */
	assert_true(portmap_epoch_ok(1000, 0, 4600, 3600 * 1000));
	/* Within 2 s + 1/16 of each other. */
	assert_true(portmap_epoch_ok(1000, 0, 1012, 10 * 1000));
	assert_true(portmap_epoch_ok(1000, 0, 4600 + 200, 3600 * 1000));
	assert_true(portmap_epoch_ok(1000, 0, 1000, 0));
	/* A second backwards is rounding; more is a restart. */
	assert_true(portmap_epoch_ok(1000, 5000, 999, 5000));
	assert_false(portmap_epoch_ok(1000, 5000, 998, 5000));
	/* Restarted an hour later: its clock says 30 s. */
	assert_false(portmap_epoch_ok(1000, 0, 30, 3600 * 1000));
	assert_false(portmap_epoch_ok(1000, 0, 1030, 3600 * 1000));
	/* The server's clock ran far ahead of ours: not the same epoch. */
	assert_false(portmap_epoch_ok(1000, 0, 1100, 10 * 1000));
	/* Epochs near the top of the range do not wrap the arithmetic. */
	assert_true(portmap_epoch_ok(UINT32_MAX - 10, 0, UINT32_MAX, 10 * 1000));
	assert_false(portmap_epoch_ok(UINT32_MAX, 0, 0, 10 * 1000));
}

/* A /proc/net/route line, the address printed as the kernel does. */
static void route_line(char *buf, size_t size, const char *ifname, const char *dst,
		       const char *gw, unsigned int flags, unsigned int metric,
		       const char *mask)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len,
		 "%s\t%08X\t%08X\t%04X\t0\t0\t%u\t%08X\t0\t0\t0\n", ifname,
		 inet_addr(dst), inet_addr(gw), flags, metric, inet_addr(mask));
}

static const char route_header[] =
	"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

static void test_route_parse(void **state)
{
	struct in_addr gw;
	char text[2048];

	(void)state;
	strcpy(text, route_header);
	route_line(text, sizeof(text), "eth0", "198.19.7.0", "0.0.0.0", 0x1, 0, "255.255.255.0");
	assert_int_equal(portmap_route_parse(text, &gw), -ENOENT);
	route_line(text, sizeof(text), "eth0", "0.0.0.0", "198.19.7.1", 0x3, 100, "0.0.0.0");
	assert_int_equal(portmap_route_parse(text, &gw), 0);
	assert_int_equal(gw.s_addr, inet_addr("198.19.7.1"));
	/* The lowest metric wins; a default without a gateway is skipped. */
	route_line(text, sizeof(text), "eth1", "0.0.0.0", "198.19.8.1", 0x3, 50, "0.0.0.0");
	route_line(text, sizeof(text), "wg0", "0.0.0.0", "0.0.0.0", 0x1, 0, "0.0.0.0");
	route_line(text, sizeof(text), "eth2", "0.0.0.0", "198.19.9.1", 0x2, 1, "0.0.0.0");
	route_line(text, sizeof(text), "eth3", "198.18.0.0", "198.19.9.1", 0x3, 1, "255.254.0.0");
	assert_int_equal(portmap_route_parse(text, &gw), 0);
	assert_int_equal(gw.s_addr, inet_addr("198.19.8.1"));

	assert_int_equal(portmap_route_parse(route_header, &gw), -ENOENT);
	assert_int_equal(portmap_route_parse("", &gw), -EBADMSG);
	assert_int_equal(portmap_route_parse("garbage\n", &gw), -EBADMSG);
	strcpy(text, route_header);
	strcat(text, "eth0\tnot hex\n");
	assert_int_equal(portmap_route_parse(text, &gw), -EBADMSG);
}

static void test_config_checked(void **state)
{
	struct portmap_config cfg = { .internal_port = 51820, .protos = PORTMAP_ALL };
	struct portmap *pm = NULL;

	(void)state;
	cfg.internal_port = 0;
	assert_int_equal(portmap_start(&pm, &cfg), -EINVAL);
	cfg.internal_port = 51820;
	cfg.protos = 0;
	assert_int_equal(portmap_start(&pm, &cfg), -EINVAL);
	cfg.protos = 8;
	assert_int_equal(portmap_start(&pm, &cfg), -EINVAL);
	assert_null(pm);
	portmap_stop(NULL);
	assert_string_equal(portmap_proto_name(PORTMAP_NATPMP), "natpmp");
	assert_string_equal(portmap_status_name(PORTMAP_NONE), "none");
}

static uint64_t now_ms(void)
{
	return portmap_now_ms();
}

/*
 * The worker asks 127.0.0.3, where nothing listens on 5351: both PCP and
 * NAT-PMP are refused at once, and the state turns NONE well within the
 * protocols' budgets, with the reason.
 */
static void test_worker_none_and_stop(void **state)
{
	struct portmap_config cfg = {
		.internal_port = 51820,
		.protos = PORTMAP_PCP | PORTMAP_NATPMP,
		.gateway = { htonl(0x7f000003) },	/* 127.0.0.3 */
	};
	struct portmap_state st = { 0 };
	struct portmap *pm;
	uint64_t t0 = now_ms(), t;
	struct pollfd pfd;

	(void)state;
	assert_int_equal(portmap_start(&pm, &cfg), 0);
	pfd.fd = portmap_fd(pm);
	pfd.events = POLLIN;
	while (st.state != PORTMAP_NONE && now_ms() - t0 < 5000) {
		if (poll(&pfd, 1, 5000) == 1)
			portmap_get(pm, &st);
	}
	assert_int_equal(st.state, PORTMAP_NONE);
	assert_in_range(now_ms() - t0, 0, 2500);
	assert_non_null(strstr(st.error, "pcp: refused"));
	assert_non_null(strstr(st.error, "nat-pmp:"));
	assert_int_equal(st.gateway.s_addr, htonl(0x7f000003));
	/* Read: the fd is quiet until the next change. */
	assert_int_equal(poll(&pfd, 1, 0), 0);

	t = now_ms();
	portmap_stop(pm);
	assert_in_range(now_ms() - t, 0, 500);
}

/*
 * Stopped while waiting for an answer that never comes: the test binds
 * the gateway's port 5351 on 127.0.0.2 and reads nothing.
 */
static void test_stop_while_trying(void **state)
{
	struct sockaddr_in silent = {
		.sin_family = AF_INET,
		.sin_port = htons(5351),
	};
	struct portmap_config cfg = {
		.internal_port = 51820,
		.protos = PORTMAP_PCP,
	};
	struct portmap_state st;
	struct portmap *pm;
	uint64_t t;
	int fd;

	(void)state;
	inet_pton(AF_INET, "127.0.0.2", &silent.sin_addr);
	cfg.gateway = silent.sin_addr;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (bind(fd, (struct sockaddr *)&silent, sizeof(silent))) {
		close(fd);
		skip();
	}
	assert_int_equal(portmap_start(&pm, &cfg), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 300 * 1000 * 1000 }, NULL);
	portmap_get(pm, &st);
	assert_int_equal(st.state, PORTMAP_TRYING);
	t = now_ms();
	portmap_stop(pm);
	assert_in_range(now_ms() - t, 0, 500);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcp_retransmit),
		cmocka_unit_test(test_renew_at),
		cmocka_unit_test(test_renew_retry),
		cmocka_unit_test(test_idle_retry),
		cmocka_unit_test(test_epoch),
		cmocka_unit_test(test_route_parse),
		cmocka_unit_test(test_config_checked),
		cmocka_unit_test(test_worker_none_and_stop),
		cmocka_unit_test(test_stop_while_trying),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
