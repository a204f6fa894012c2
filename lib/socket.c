/* SPDX-License-Identifier: MIT */
/*
 * Classic BPF on sockets: attach, detach, lock, read back, reuseport.
 *
 * Thin wrappers around setsockopt()/getsockopt() that hide the kernel's
 * quirks: queued datagrams bypass a newly attached filter (drain them),
 * SO_DETACH_FILTER wants an int optval and says ENOENT (or, on old
 * kernels, ENONET) when there is nothing to detach, and SO_GET_FILTER
 * counts its optlen in instructions, not bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/filter.h>

#include "cbpf/insn.h"
#include "cbpf/socket.h"

/* A datagram socket returns the same error at most this many times in a
 * row while draining (a pending ICMP error is reported once); more means
 * something is wrong with the socket and we give up. */
#define DRAIN_MAX_ERRORS 8

/* SO_GET_FILTER is a two-call protocol (count, then copy); the filter can
 * grow in between. Retry a few times before reporting EINVAL. */
#define GET_FILTER_TRIES 4

/* The kernel's struct sock_fprog holds the length in 16 bits: refuse what
 * would be truncated instead of silently attaching a prefix. Anything
 * above BPF_MAXINSNS gets the kernel's own answer for it (V2). */
static int prog_to_fprog(const struct cbpf_prog *prog, struct sock_fprog *fprog)
{
	if (prog->len > CBPF_MAXINSNS)
		return -EINVAL;
	fprog->len = (unsigned short)prog->len;
	fprog->filter = prog->insns;
	return 0;
}

static int set_opt(int fd, int opt, const void *val, socklen_t len)
{
	if (setsockopt(fd, SOL_SOCKET, opt, val, len) < 0)
		return -errno;
	return 0;
}

static int attach_fprog(int fd, int opt, const struct cbpf_prog *prog)
{
	struct sock_fprog fprog;
	int ret;

	ret = prog_to_fprog(prog, &fprog);
	if (ret)
		return ret;
	return set_opt(fd, opt, &fprog, sizeof(fprog));
}

/* Reading a stream would eat its data, and a stream's EOF reads as 0
 * forever; draining only makes sense for sockets that keep boundaries. */
static int check_drainable(int fd)
{
	int type;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (type == SOCK_STREAM)
		return -EOPNOTSUPP;
	return type;
}

/* recv() every queued datagram with a 1-byte buffer (MSG_TRUNC: the rest
 * is discarded by the kernel) until EAGAIN; returns how many. */
static int drain_queue(int fd, int type)
{
	unsigned char byte;
	int count = 0, errors = 0;
	ssize_t n;

	for (;;) {
		n = recv(fd, &byte, sizeof(byte), MSG_TRUNC | MSG_DONTWAIT);
		if (n >= 0) {
			/* A SEQPACKET peer's shutdown reads as 0 forever. */
			if (n == 0 && type == SOCK_SEQPACKET)
				return count;
			if (count == INT_MAX)
				return count;
			count++;
			errors = 0;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return count;
		if (errno == EINTR)
			continue;
		/* A pending asynchronous error (ECONNREFUSED from an ICMP
		 * message, say) is reported once and cleared: keep going. */
		if (++errors >= DRAIN_MAX_ERRORS)
			return -errno;
	}
}

/* Datagrams queued before an attach were never filtered, and the kernel
 * delivers them as they are. Put a drop-all filter in front so nothing
 * new gets queued, then throw away what is already there. */
static int drain(int fd, int type)
{
	static const struct sock_filter drop_all[] = {
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	const struct sock_fprog fprog = {
		.len = 1,
		.filter = (struct sock_filter *)drop_all,
	};
	int flags, count, ret;

	ret = set_opt(fd, SO_ATTACH_FILTER, &fprog, sizeof(fprog));
	if (ret)
		return ret;

	/* MSG_DONTWAIT alone would do, but like libpcap we also make the
	 * fd non-blocking for the duration, and put its flags back. */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	count = drain_queue(fd, type);
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags) < 0 &&
	    count >= 0)
		count = -errno;
	return count;
}

int cbpf_attach(int fd, const struct cbpf_prog *prog, unsigned int flags)
{
	int type = 0, count = 0, ret;

	if (flags & ~(unsigned int)(CBPF_ATTACH_DRAIN | CBPF_ATTACH_LOCK))
		return -EINVAL;
	if (flags & CBPF_ATTACH_DRAIN) {
		type = check_drainable(fd);
		if (type < 0)
			return type;
	}

	/* Attach first: a program the kernel refuses (or a locked socket)
	 * then leaves the socket exactly as it was, instead of stuck with
	 * the drop-all filter of the drain. */
	ret = attach_fprog(fd, SO_ATTACH_FILTER, prog);
	if (ret)
		return ret;

	if (flags & CBPF_ATTACH_DRAIN) {
		count = drain(fd, type);
		if (count < 0)
			return count;
		/* Replacing is atomic: from here on every datagram that is
		 * queued has been through prog. If this fails, the drop-all
		 * filter stays: failing closed. */
		ret = attach_fprog(fd, SO_ATTACH_FILTER, prog);
		if (ret)
			return ret;
	}

	if (flags & CBPF_ATTACH_LOCK) {
		ret = cbpf_lock(fd);
		if (ret)
			return ret;
	}
	return count;
}

int cbpf_detach(int fd)
{
	/* The generic setsockopt path reads an int even for options that
	 * take no value. */
	int dummy = 0;
	int ret;

	ret = set_opt(fd, SO_DETACH_FILTER, &dummy, sizeof(dummy));
	if (ret == -ENOENT || ret == -ENONET)
		return 0;
	return ret;
}

int cbpf_lock(int fd)
{
	int one = 1;

	return set_opt(fd, SO_LOCK_FILTER, &one, sizeof(one));
}

int cbpf_is_locked(int fd)
{
	int val = 0;
	socklen_t len = sizeof(val);

	if (getsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &val, &len) < 0)
		return -errno;
	return val != 0;
}

/* optlen 0 asks for the instruction count without copying anything. */
static int get_filter_count(int fd, socklen_t *count)
{
	*count = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, count) < 0)
		return -errno;
	return 0;
}

int cbpf_get_filter(int fd, struct cbpf_prog *prog)
{
	struct sock_filter *insns;
	socklen_t count, got;
	int tries, ret;

	prog->len = 0;
	prog->insns = NULL;

	for (tries = 0; tries < GET_FILTER_TRIES; tries++) {
		ret = get_filter_count(fd, &count);
		if (ret)
			return ret;
		if (count == 0)
			return 0;

		insns = calloc(count, sizeof(*insns));
		if (!insns)
			return -ENOMEM;
		/* Here optlen is the room we have, in instructions. */
		got = count;
		ret = getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, insns, &got);
		if (ret == 0 && got == 0) {	/* detached meanwhile */
			free(insns);
			return 0;
		}
		if (ret == 0) {
			prog->len = got;
			prog->insns = insns;
			return 0;
		}
		ret = -errno;
		free(insns);
		/* EINVAL: a longer filter replaced it since we asked. */
		if (ret != -EINVAL)
			return ret;
	}
	return ret;
}

int cbpf_attach_reuseport(int fd, const struct cbpf_prog *prog)
{
	return attach_fprog(fd, SO_ATTACH_REUSEPORT_CBPF, prog);
}

int cbpf_detach_reuseport(int fd)
{
	int dummy = 0;
	int ret;

	ret = set_opt(fd, SO_DETACH_REUSEPORT_BPF, &dummy, sizeof(dummy));
	/* Like cbpf_detach(): nothing attached is not an error. */
	if (ret == -ENOENT)
		return 0;
	return ret;
}

int cbpf_extensions(int fd)
{
	int val = 0;
	socklen_t len = sizeof(val);

	if (getsockopt(fd, SOL_SOCKET, SO_BPF_EXTENSIONS, &val, &len) < 0)
		return -errno;
	return val;
}
