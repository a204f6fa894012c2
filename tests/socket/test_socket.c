/* SPDX-License-Identifier: MIT */
/*
 * cbpf_attach() and friends against the running kernel, on AF_UNIX
 * datagram socketpairs (no root needed) and UDP on 127.0.0.1. The v*
 * tests pin the attach-path rules of doc/kernel-rules.md (section A) that live in
 * setsockopt() rather than in the program, so cbpf_validate() cannot
 * see them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/filter.h>

#include "cbpf/prog.h"
#include "cbpf/socket.h"

#define NOTHING (-1)

static const struct sock_filter accept_all[] = {
	BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
};

static const struct sock_filter drop_all[] = {
	BPF_STMT(BPF_RET | BPF_K, 0),
};

static const struct sock_filter trim_to_3[] = {
	BPF_STMT(BPF_RET | BPF_K, 3),
};

/* Accept datagrams whose first byte is 'A'. */
static const struct sock_filter first_byte_a[] = {
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 'A', 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
	BPF_STMT(BPF_RET | BPF_K, 0),
};

static struct cbpf_prog prog_of(const struct sock_filter *insns, size_t len)
{
	struct cbpf_prog prog;

	assert_int_equal(cbpf_prog_from_array(&prog, insns, len), 0);
	return prog;
}

#define PROG(array) prog_of(array, sizeof(array) / sizeof(array[0]))

struct pair {
	int tx, rx;
};

static struct pair pair_new(void)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
	return (struct pair){ .tx = fds[0], .rx = fds[1] };
}

static void pair_close(struct pair p)
{
	close(p.tx);
	close(p.rx);
}

static void send_str(struct pair p, const char *s)
{
	assert_int_equal(send(p.tx, s, strlen(s), 0), (ssize_t)strlen(s));
}

/* Bytes of the next queued datagram as delivered, or NOTHING. */
static int recv_len(int fd)
{
	char buf[256];
	ssize_t n;

	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0) {
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return NOTHING;
	}
	return (int)n;
}

static int attach(int fd, struct cbpf_prog prog, unsigned int flags)
{
	int ret = cbpf_attach(fd, &prog, flags);

	cbpf_prog_free(&prog);
	return ret;
}

static void test_attach_replace_detach(void **state)
{
	struct pair p = pair_new();

	(void)state;
	assert_int_equal(attach(p.rx, PROG(accept_all), 0), 0);
	send_str(p, "hello");
	assert_int_equal(recv_len(p.rx), 5);

	/* Replacing is one setsockopt: the new filter rules at once. */
	assert_int_equal(attach(p.rx, PROG(drop_all), 0), 0);
	send_str(p, "hello");
	assert_int_equal(recv_len(p.rx), NOTHING);

	assert_int_equal(attach(p.rx, PROG(trim_to_3), 0), 0);
	send_str(p, "hello");
	assert_int_equal(recv_len(p.rx), 3);

	/* Detach is idempotent. */
	assert_int_equal(cbpf_detach(p.rx), 0);
	send_str(p, "hello");
	assert_int_equal(recv_len(p.rx), 5);
	assert_int_equal(cbpf_detach(p.rx), 0);
	pair_close(p);
}

static void test_detach_none(void **state)
{
	struct pair p = pair_new();
	int dummy = 0;

	(void)state;
	/* The kernel says ENOENT; cbpf_detach() makes that success. */
	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_DETACH_FILTER,
				    &dummy, sizeof(dummy)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(cbpf_detach(p.rx), 0);
	pair_close(p);
}

static void test_bad_flags(void **state)
{
	struct pair p = pair_new();

	(void)state;
	assert_int_equal(attach(p.rx, PROG(drop_all), 1U << 7), -EINVAL);
	/* Nothing was attached. */
	send_str(p, "x");
	assert_int_equal(recv_len(p.rx), 1);
	pair_close(p);
}

static void test_lock(void **state)
{
	struct pair p = pair_new();
	struct cbpf_prog got;

	(void)state;
	assert_int_equal(cbpf_is_locked(p.rx), 0);
	assert_int_equal(attach(p.rx, PROG(trim_to_3), CBPF_ATTACH_LOCK), 0);
	assert_int_equal(cbpf_is_locked(p.rx), 1);

	assert_int_equal(attach(p.rx, PROG(accept_all), 0), -EPERM);
	assert_int_equal(cbpf_detach(p.rx), -EPERM);
	/* SO_LOCK_FILTER = 0 (unlocking) is refused too. */
	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_LOCK_FILTER,
				    &(int){ 0 }, sizeof(int)), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(cbpf_is_locked(p.rx), 1);

	/* The locked filter still runs and can still be read. */
	send_str(p, "hello");
	assert_int_equal(recv_len(p.rx), 3);
	assert_int_equal(cbpf_get_filter(p.rx, &got), 0);
	assert_int_equal(got.len, 1);
	assert_memory_equal(got.insns, trim_to_3, sizeof(trim_to_3));
	cbpf_prog_free(&got);
	pair_close(p);
}

/* V0: a locked socket refuses every attach with EPERM, before any other
 * check (so even an empty program gets EPERM, not EINVAL), also when it
 * was locked while it had no filter. */
static void test_v0_locked_eperm(void **state)
{
	struct pair p = pair_new();
	struct sock_fprog empty = { .len = 0, .filter = NULL };
	struct cbpf_prog none = { 0 };

	(void)state;
	assert_int_equal(cbpf_lock(p.rx), 0);
	assert_int_equal(cbpf_is_locked(p.rx), 1);
	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_ATTACH_FILTER,
				    &empty, sizeof(empty)), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(attach(p.rx, PROG(accept_all), 0), -EPERM);
	assert_int_equal(cbpf_attach(p.rx, &none, 0), -EPERM);
	assert_int_equal(cbpf_detach(p.rx), -EPERM);
	/* Nothing got attached. */
	send_str(p, "hello");
	assert_int_equal(recv_len(p.rx), 5);
	pair_close(p);
}

/* V1: optlen must be exactly sizeof(struct sock_fprog). */
static void test_v1_optlen_einval(void **state)
{
	struct pair p = pair_new();
	struct {
		struct sock_fprog fprog;
		char slack[8];
	} big = { .fprog = { .len = 1,
			     .filter = (struct sock_filter *)accept_all } };
	socklen_t lens[] = { 0, sizeof(int), sizeof(big.fprog) - 1,
			     sizeof(big.fprog) + 1, sizeof(big) };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_ATTACH_FILTER,
					    &big, lens[i]), -1);
		assert_int_equal(errno, EINVAL);
	}
	/* The right size works. */
	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_ATTACH_FILTER,
				    &big.fprog, sizeof(big.fprog)), 0);
	pair_close(p);
}

/* ld #0, ..., ret #len: a valid program of any length. */
static struct cbpf_prog long_prog(size_t len)
{
	struct cbpf_prog prog;
	size_t i;

	prog.insns = calloc(len, sizeof(*prog.insns));
	assert_non_null(prog.insns);
	prog.len = len;
	for (i = 0; i + 1 < len; i++)
		prog.insns[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM,
							      (uint32_t)i);
	prog.insns[len - 1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
							    (uint32_t)len);
	return prog;
}

/* V2: len 0 and len > 4096 are EINVAL; 4096 is fine. A length that does
 * not fit sock_fprog's 16 bits must not wrap into a short program. */
static void test_v2_len_zero_and_4097(void **state)
{
	struct pair p = pair_new();
	struct cbpf_prog prog;
	struct sock_fprog fprog;

	(void)state;
	prog = long_prog(1);
	prog.len = 0;
	assert_int_equal(cbpf_attach(p.rx, &prog, 0), -EINVAL);
	cbpf_prog_free(&prog);

	prog = long_prog(4097);
	assert_int_equal(cbpf_attach(p.rx, &prog, 0), -EINVAL);
	/* The kernel agrees. */
	fprog = (struct sock_fprog){ .len = 4097, .filter = prog.insns };
	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_ATTACH_FILTER,
				    &fprog, sizeof(fprog)), -1);
	assert_int_equal(errno, EINVAL);
	cbpf_prog_free(&prog);

	/* 65537 would be 1 in 16 bits: insns[0] is ld #0, not a valid
	 * program, so use a RET first to make a wrap observable. */
	prog = long_prog(65537);
	prog.insns[0] = accept_all[0];
	assert_int_equal(cbpf_attach(p.rx, &prog, 0), -EINVAL);
	cbpf_prog_free(&prog);

	prog = long_prog(4096);
	assert_int_equal(cbpf_attach(p.rx, &prog, 0), 0);
	cbpf_prog_free(&prog);
	send_str(p, "hello");
	assert_int_equal(recv_len(p.rx), 5);	/* ret #4096 */
	pair_close(p);
}

/*
 * V2/V3: a NULL filter pointer is caught by the basic checks (EINVAL);
 * a pointer the kernel cannot read is EFAULT, as is an unreadable
 * sock_fprog itself. Verified on this kernel, asserted here.
 */
static void test_v3_efault(void **state)
{
	struct pair p = pair_new();
	struct sock_fprog fprog = { .len = 1, .filter = NULL };
	struct cbpf_prog prog = { .len = 1, .insns = NULL };
	long page = sysconf(_SC_PAGESIZE);
	void *gone;

	(void)state;
	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_ATTACH_FILTER,
				    &fprog, sizeof(fprog)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cbpf_attach(p.rx, &prog, 0), -EINVAL);

	/* An address that is certainly not mapped. */
	gone = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(gone != MAP_FAILED);
	assert_int_equal(munmap(gone, (size_t)page), 0);

	fprog.filter = gone;
	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_ATTACH_FILTER,
				    &fprog, sizeof(fprog)), -1);
	assert_int_equal(errno, EFAULT);
	prog.insns = gone;
	assert_int_equal(cbpf_attach(p.rx, &prog, 0), -EFAULT);

	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_ATTACH_FILTER,
				    gone, sizeof(fprog)), -1);
	assert_int_equal(errno, EFAULT);
	pair_close(p);
}

static void test_get_filter_round_trip(void **state)
{
	/* jt/jf/k on instructions that ignore them are kept as given:
	 * SO_GET_FILTER returns the original, not a canonical form. */
	static const struct sock_filter odd[] = {
		{ BPF_LD | BPF_W | BPF_LEN, 7, 9, 0xdead },
		{ BPF_MISC | BPF_TAX, 1, 2, 3 },
		BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 10, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
		{ BPF_RET | BPF_A, 0, 0, 0x1234 },
	};
	struct pair p = pair_new();
	struct cbpf_prog prog, got;

	(void)state;
	assert_int_equal(attach(p.rx, PROG(odd), 0), 0);
	assert_int_equal(cbpf_get_filter(p.rx, &got), 0);
	assert_int_equal(got.len, 5);
	assert_memory_equal(got.insns, odd, sizeof(odd));
	cbpf_prog_free(&got);

	prog = long_prog(4096);
	assert_int_equal(cbpf_attach(p.rx, &prog, 0), 0);
	assert_int_equal(cbpf_get_filter(p.rx, &got), 0);
	assert_int_equal(got.len, 4096);
	assert_memory_equal(got.insns, prog.insns, 4096 * sizeof(*got.insns));
	cbpf_prog_free(&got);
	cbpf_prog_free(&prog);

	assert_int_equal(cbpf_detach(p.rx), 0);
	assert_int_equal(cbpf_get_filter(p.rx, &got), 0);
	assert_int_equal(got.len, 0);
	assert_null(got.insns);
	pair_close(p);
}

static void test_get_filter_none(void **state)
{
	struct pair p = pair_new();
	struct cbpf_prog got = { .len = 99 };
	socklen_t len = 5;
	struct sock_filter buf[5];

	(void)state;
	/* The kernel: 0 and optlen 0. */
	assert_int_equal(getsockopt(p.rx, SOL_SOCKET, SO_GET_FILTER, buf,
				    &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(cbpf_get_filter(p.rx, &got), 0);
	assert_int_equal(got.len, 0);
	assert_null(got.insns);
	pair_close(p);
}

/* SO_GET_FILTER counts instructions: too small a buffer is EINVAL,
 * which is what cbpf_get_filter() retries on. */
static void test_get_filter_optlen_counts_insns(void **state)
{
	struct pair p = pair_new();
	struct sock_filter buf[4];
	socklen_t len = 0;

	(void)state;
	assert_int_equal(attach(p.rx, PROG(first_byte_a), 0), 0);
	assert_int_equal(getsockopt(p.rx, SOL_SOCKET, SO_GET_FILTER, NULL,
				    &len), 0);
	assert_int_equal(len, 4);
	len = 3;
	assert_int_equal(getsockopt(p.rx, SOL_SOCKET, SO_GET_FILTER, buf,
				    &len), -1);
	assert_int_equal(errno, EINVAL);
	pair_close(p);
}

struct flipper {
	int fd;
	struct cbpf_prog big, small;
	atomic_bool stop;
	atomic_int err;		/* cmocka asserts belong to the main thread */
};

/* Swaps a 1-insn and a 4096-insn filter as fast as it can. */
static void *flip_filters(void *arg)
{
	struct flipper *f = arg;
	int ret;

	while (!atomic_load(&f->stop)) {
		ret = cbpf_attach(f->fd, &f->big, 0);
		if (!ret)
			ret = cbpf_attach(f->fd, &f->small, 0);
		if (ret) {
			atomic_store(&f->err, ret);
			break;
		}
	}
	return NULL;
}

/* The filter changes between the count and the copy: every answer is
 * still one whole program (or, if it kept growing under us, EINVAL). */
static void test_get_filter_race(void **state)
{
	struct pair p = pair_new();
	struct flipper f = { .fd = p.rx };
	struct cbpf_prog got;
	pthread_t t;
	int i, ret, whole = 0;

	(void)state;
	f.big = long_prog(4096);
	f.small = PROG(trim_to_3);
	assert_int_equal(pthread_create(&t, NULL, flip_filters, &f), 0);
	for (i = 0; i < 2000; i++) {
		ret = cbpf_get_filter(p.rx, &got);
		if (ret == -EINVAL)
			continue;
		assert_int_equal(ret, 0);
		if (got.len == 1) {
			assert_memory_equal(got.insns, trim_to_3,
					    sizeof(trim_to_3));
		} else if (got.len != 0) {
			assert_int_equal(got.len, 4096);
			assert_int_equal(got.insns[4095].k, 4096);
		}
		whole++;
		cbpf_prog_free(&got);
	}
	atomic_store(&f.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&f.err), 0);
	assert_true(whole > 0);
	cbpf_prog_free(&f.big);
	cbpf_prog_free(&f.small);
	pair_close(p);
}

static int bpf_syscall(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* An eBPF socket filter has no classic form to read back. */
static void test_get_filter_ebpf_eacces(void **state)
{
	static const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr;
	struct pair p;
	struct cbpf_prog got;
	int prog_fd;

	(void)state;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uintptr_t)insns;
	attr.insn_cnt = 2;
	attr.license = (uintptr_t)"GPL";
	prog_fd = bpf_syscall(BPF_PROG_LOAD, &attr);
	if (prog_fd < 0)
		skip();		/* unprivileged eBPF is off here */

	p = pair_new();
	assert_int_equal(setsockopt(p.rx, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd,
				    sizeof(prog_fd)), 0);
	assert_int_equal(cbpf_get_filter(p.rx, &got), -EACCES);
	assert_int_equal(got.len, 0);
	assert_null(got.insns);
	/* cbpf_detach() removes an eBPF filter just the same. */
	assert_int_equal(cbpf_detach(p.rx), 0);
	assert_int_equal(cbpf_get_filter(p.rx, &got), 0);
	assert_int_equal(got.len, 0);
	close(prog_fd);
	pair_close(p);
}

static void test_extensions(void **state)
{
	struct pair p = pair_new();
	int n;

	(void)state;
	n = cbpf_extensions(p.rx);
	assert_true(n > 0);
	/* The kernel reports its SKF_AD_MAX, 64 since Linux 4.1. */
	assert_int_equal(n, SKF_AD_MAX);
	assert_int_equal(cbpf_extensions(-1), -EBADF);
	pair_close(p);
}

/* Packets queued before an attach bypass the new filter. */
static void test_drain_without_flag(void **state)
{
	struct pair p = pair_new();

	(void)state;
	send_str(p, "one");
	send_str(p, "two");
	assert_int_equal(attach(p.rx, PROG(drop_all), 0), 0);
	assert_int_equal(recv_len(p.rx), 3);
	assert_int_equal(recv_len(p.rx), 3);
	send_str(p, "three");
	assert_int_equal(recv_len(p.rx), NOTHING);
	pair_close(p);
}

static void test_drain(void **state)
{
	struct pair p = pair_new();
	int flags;

	(void)state;
	send_str(p, "A queued");
	send_str(p, "B queued");
	assert_int_equal(send(p.tx, "", 0, 0), 0);	/* empty counts too */
	flags = fcntl(p.rx, F_GETFL);
	assert_false(flags & O_NONBLOCK);

	assert_int_equal(attach(p.rx, PROG(first_byte_a), CBPF_ATTACH_DRAIN),
			 3);
	/* Queued ones are gone; the fd is blocking again. */
	assert_int_equal(recv_len(p.rx), NOTHING);
	assert_int_equal(fcntl(p.rx, F_GETFL), flags);

	/* Later ones meet the real filter. */
	send_str(p, "B later");
	send_str(p, "A later");
	assert_int_equal(recv_len(p.rx), 7);
	assert_int_equal(recv_len(p.rx), NOTHING);

	/* Nothing queued: 0. A non-blocking fd stays non-blocking. */
	assert_int_equal(fcntl(p.rx, F_SETFL, flags | O_NONBLOCK), 0);
	assert_int_equal(attach(p.rx, PROG(accept_all), CBPF_ATTACH_DRAIN), 0);
	assert_int_equal(fcntl(p.rx, F_GETFL), flags | O_NONBLOCK);
	send_str(p, "B");
	assert_int_equal(recv_len(p.rx), 1);
	pair_close(p);
}

/* A program the kernel refuses leaves the socket as it was: the queue
 * is not drained and the old filter stays. */
static void test_drain_refused_prog(void **state)
{
	static const struct sock_filter no_ret[] = {
		BPF_STMT(BPF_LD | BPF_IMM, 1),
	};
	struct pair p = pair_new();

	(void)state;
	assert_int_equal(attach(p.rx, PROG(first_byte_a), 0), 0);
	send_str(p, "A queued");
	assert_int_equal(attach(p.rx, PROG(no_ret), CBPF_ATTACH_DRAIN),
			 -EINVAL);
	assert_int_equal(recv_len(p.rx), 8);
	send_str(p, "B");
	send_str(p, "A");
	assert_int_equal(recv_len(p.rx), 1);
	assert_int_equal(recv_len(p.rx), NOTHING);
	pair_close(p);
}

static void test_drain_lock(void **state)
{
	struct pair p = pair_new();

	(void)state;
	send_str(p, "A queued");
	assert_int_equal(attach(p.rx, PROG(first_byte_a),
				CBPF_ATTACH_DRAIN | CBPF_ATTACH_LOCK), 1);
	assert_int_equal(cbpf_is_locked(p.rx), 1);
	assert_int_equal(recv_len(p.rx), NOTHING);
	send_str(p, "A");
	assert_int_equal(recv_len(p.rx), 1);
	pair_close(p);
}

/* Draining a stream would eat its bytes: refused, nothing attached. */
static void test_drain_stream(void **state)
{
	int fds[2];
	char c;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(send(fds[0], "x", 1, 0), 1);
	assert_int_equal(attach(fds[1], PROG(drop_all), CBPF_ATTACH_DRAIN),
			 -EOPNOTSUPP);
	assert_int_equal(recv(fds[1], &c, 1, MSG_DONTWAIT), 1);
	assert_int_equal(cbpf_get_filter(fds[1], &(struct cbpf_prog){ 0 }), 0);
	close(fds[0]);
	close(fds[1]);
}

/* A SEQPACKET socket whose peer is gone reads EOF (0) forever: the drain
 * must still end. */
static void test_drain_seqpacket_eof(void **state)
{
	int fds[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
	assert_int_equal(send(fds[0], "ab", 2, 0), 2);
	close(fds[0]);
	assert_int_equal(attach(fds[1], PROG(drop_all), CBPF_ATTACH_DRAIN), 1);
	close(fds[1]);
}

static int udp_reuseport_socket(uint16_t port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				    sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

/* Send n datagrams of payload byte c, each from a fresh socket (a fresh
 * source port) so that hashing alone would spread them. */
static void send_udp(uint16_t port, char c, int n)
{
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int i, fd;

	for (i = 0; i < n; i++) {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		assert_true(fd >= 0);
		assert_int_equal(sendto(fd, &c, 1, 0, (struct sockaddr *)&to,
					sizeof(to)), 1);
		close(fd);
	}
}

static int count_queued(int fd)
{
	int n = 0;

	while (recv_len(fd) != NOTHING)
		n++;
	return n;
}

static void test_reuseport(void **state)
{
	/* Socket index = first payload byte: the program sees the UDP
	 * payload, not the UDP header. */
	static const struct sock_filter by_first_byte[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	static const struct sock_filter to_second[] = {
		BPF_STMT(BPF_RET | BPF_K, 1),
	};
	struct cbpf_prog prog;
	int s0, s1;
	uint16_t port;

	(void)state;
	s0 = udp_reuseport_socket(0);
	port = local_port(s0);
	s1 = udp_reuseport_socket(port);

	prog = PROG(to_second);
	assert_int_equal(cbpf_attach_reuseport(s0, &prog), 0);
	cbpf_prog_free(&prog);
	send_udp(port, 0, 16);
	assert_int_equal(count_queued(s0), 0);
	assert_int_equal(count_queued(s1), 16);

	/* Replace it. */
	prog = PROG(by_first_byte);
	assert_int_equal(cbpf_attach_reuseport(s1, &prog), 0);
	cbpf_prog_free(&prog);
	send_udp(port, 0, 8);
	send_udp(port, 1, 4);
	assert_int_equal(count_queued(s0), 8);
	assert_int_equal(count_queued(s1), 4);

	/* Detached: hashing again; everything still arrives somewhere. */
	assert_int_equal(cbpf_detach_reuseport(s0), 0);
	assert_int_equal(cbpf_detach_reuseport(s0), 0);
	send_udp(port, 1, 8);
	assert_int_equal(count_queued(s0) + count_queued(s1), 8);

	prog = PROG(drop_all);
	prog.len = 0;
	assert_int_equal(cbpf_attach_reuseport(s0, &prog), -EINVAL);
	cbpf_prog_free(&prog);
	close(s0);
	close(s1);
}

static void test_bad_fd(void **state)
{
	struct cbpf_prog prog = PROG(accept_all), got;

	(void)state;
	assert_int_equal(cbpf_attach(-1, &prog, 0), -EBADF);
	assert_int_equal(cbpf_attach(-1, &prog, CBPF_ATTACH_DRAIN), -EBADF);
	assert_int_equal(cbpf_detach(-1), -EBADF);
	assert_int_equal(cbpf_lock(-1), -EBADF);
	assert_int_equal(cbpf_is_locked(-1), -EBADF);
	assert_int_equal(cbpf_get_filter(-1, &got), -EBADF);
	cbpf_prog_free(&prog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_replace_detach),
		cmocka_unit_test(test_detach_none),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_v0_locked_eperm),
		cmocka_unit_test(test_v1_optlen_einval),
		cmocka_unit_test(test_v2_len_zero_and_4097),
		cmocka_unit_test(test_v3_efault),
		cmocka_unit_test(test_get_filter_round_trip),
		cmocka_unit_test(test_get_filter_none),
		cmocka_unit_test(test_get_filter_optlen_counts_insns),
		cmocka_unit_test(test_get_filter_race),
		cmocka_unit_test(test_get_filter_ebpf_eacces),
		cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_drain_without_flag),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_drain_refused_prog),
		cmocka_unit_test(test_drain_lock),
		cmocka_unit_test(test_drain_stream),
		cmocka_unit_test(test_drain_seqpacket_eof),
		cmocka_unit_test(test_reuseport),
		cmocka_unit_test(test_bad_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
