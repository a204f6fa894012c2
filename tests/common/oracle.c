/* SPDX-License-Identifier: MIT */
/* The kernel as the oracle, through an AF_UNIX datagram socketpair. */
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>
#include "oracle.h"

int oracle_open(struct oracle *o)
{
	int fds[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, fds) < 0)
		return -errno;
	o->tx = fds[0];
	o->rx = fds[1];
	return 0;
}

void oracle_close(struct oracle *o)
{
	close(o->tx);
	close(o->rx);
	o->tx = o->rx = -1;
}

int oracle_attach(struct oracle *o, const struct sock_filter *insns,
		  size_t len)
{
	struct sock_fprog fprog = {
		.len = (unsigned short)len,
		.filter = (struct sock_filter *)insns,
	};

	if (len > 0xffff)
		return -EINVAL;
	if (setsockopt(o->rx, SOL_SOCKET, SO_ATTACH_FILTER, &fprog,
		       sizeof(fprog)) < 0)
		return -errno;
	return 0;
}

long oracle_run(struct oracle *o, const uint8_t *pkt, size_t len)
{
	uint8_t buf[1];
	ssize_t n;

	/* The filter runs inside send(): once it returns, the datagram is
	 * either queued on rx or gone. */
	if (send(o->tx, pkt, len, 0) != (ssize_t)len)
		return -(errno ? errno : EIO);
	n = recv(o->rx, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return ORACLE_DROPPED;
	return -errno;
}

long oracle_expect(uint32_t verdict, size_t len)
{
	if (verdict == 0)
		return ORACLE_DROPPED;
	return verdict < len ? (long)verdict : (long)len;
}
