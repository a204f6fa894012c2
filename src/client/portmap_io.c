// SPDX-License-Identifier: MIT
/*
 * What the PCP and NAT-PMP exchanges share: the clock, a wait that a
 * stop request cuts short, and the socket toward the gateway.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "portmap_int.h"

uint64_t portmap_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *portmap_addr_str(struct in_addr addr, char *buf)
{
	if (!inet_ntop(AF_INET, &addr, buf, INET_ADDRSTRLEN))
		strcpy(buf, "?");
	return buf;
}

int portmap_wait(int fd, int cancel_fd, uint64_t deadline_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = cancel_fd, .events = POLLIN },
	};

	for (;;) {
		uint64_t now = portmap_now_ms();
		int ret;

		if (now >= deadline_ms)
			return 0;
		/* poll ignores a negative fd: no cancel_fd, no cancelling. */
		ret = poll(pfd, 2, (int)(deadline_ms - now));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (pfd[1].revents)
			return -ECANCELED;
		if (pfd[0].revents)
			return 1;
	}
}

int portmap_udp_socket(struct in_addr gateway, uint16_t port, uint32_t fwmark,
		       struct in_addr *local)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr = gateway,
	};
	socklen_t len = sizeof(sin);
	int fd, ret;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Marked like WireGuard's own packets, so a full-tunnel policy
	 * route sends them to the gateway, not into the tunnel. */
	if (fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)))
		goto fail;
	/* Connected: the kernel picks our source address toward the
	 * gateway, and an ICMP port unreachable comes back as an error. */
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		goto fail;
	if (local) {
		if (getsockname(fd, (struct sockaddr *)&sin, &len))
			goto fail;
		*local = sin.sin_addr;
	}
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}
