// SPDX-License-Identifier: MIT
/*
 * Loopback datagrams for the daemon tests (see loopback.h).
 */
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "loopback.h"

int loopback_udp(int family, struct wgp_endpoint *ep)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *sin6 = (void *)&ss;
	struct sockaddr_in *sin = (void *)&ss;
	socklen_t len;
	int fd;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	assert_int_equal(bind(fd, (void *)&ss, len), 0);
	len = sizeof(ss);
	assert_int_equal(getsockname(fd, (void *)&ss, &len), 0);
	if (ep)
		assert_int_equal(wgp_endpoint_from_sockaddr(ep, (void *)&ss,
							    len), 0);
	return fd;
}

void loopback_send(int fd, int family, uint16_t port, const void *buf,
		   size_t len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(port),
				     .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	ssize_t n;

	if (family == AF_INET)
		n = sendto(fd, buf, len, 0, (void *)&sin, sizeof(sin));
	else
		n = sendto(fd, buf, len, 0, (void *)&sin6, sizeof(sin6));
	assert_int_equal(n, (ssize_t)len);
}

ssize_t loopback_receive(int fd, void *buf, size_t cap, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	return recv(fd, buf, cap, 0);
}

void loopback_receive_msg(int fd, struct tclient *c, uint8_t type,
			  struct wgp_msg *m)
{
	uint8_t buf[4096];
	ssize_t n = loopback_receive(fd, buf, sizeof(buf), 3000);

	assert_true(n > 0);
	assert_int_equal(tclient_open(c, m, buf, (size_t)n), 0);
	assert_int_equal(m->type, type);
}
