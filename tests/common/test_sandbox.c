// SPDX-License-Identifier: MIT
/*
 * The seccomp sandbox (src/common/sandbox.c) against the running kernel.
 * Each case forks: the child installs a program's filter and then does
 * what that program does after start-up (it must exit 0), or a call
 * neither program needs (it must die of SIGSYS), or, on x86-64, enters
 * the kernel through the 32-bit int 0x80 gate (the architecture check
 * must kill it). The filters must also pass libcbpf's validator.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cbpf.h"
#include "sandbox.h"

struct udp_pair {
	int a, b;	/* two UDP sockets on 127.0.0.1, connected to each other */
};

/* The child's work; returns 0 if all went as expected. */
typedef int (*child_fn)(const int *allowed, size_t n);

/* Runs fn in a child that first installs the filter for allowed[0..n);
 * returns the child's wait status. No core files from the SIGSYS. */
static int run_sandboxed(const int *allowed, size_t n, child_fn fn)
{
	struct rlimit no_core = { 0, 0 };
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's handlers would turn a crash into a test report
		 * from the child; the parent must see the signal itself. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		signal(SIGSYS, SIG_DFL);
		setrlimit(RLIMIT_CORE, &no_core);
		_exit(fn(allowed, n) ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_exited_ok(int status)
{
	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d (SIGSYS is %d): a call the "
			 "program needs is not on its list", WTERMSIG(status), SIGSYS);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void assert_killed_by_filter(int status)
{
	if (WIFEXITED(status))
		fail_msg("child exited with %d: the forbidden call went through",
			 WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static int udp_bound(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return -1;
	return fd;
}

static int udp_connect(int fd, int to)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(to, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	return connect(fd, (struct sockaddr *)&sin, len);
}

static int udp_pair_open(struct udp_pair *p)
{
	p->a = udp_bound();
	p->b = udp_bound();
	if (p->a < 0 || p->b < 0)
		return -1;
	if (udp_connect(p->a, p->b) < 0 || udp_connect(p->b, p->a) < 0)
		return -1;
	return 0;
}

/* One datagram a -> b with sendmmsg/recvmmsg, as wgpunchd's loop does,
 * and one back with sendto/recvfrom. */
static int udp_exchange(const struct udp_pair *p)
{
	char out[] = "ping", in[16];
	struct iovec iov = { out, sizeof(out) };
	struct iovec riov = { in, sizeof(in) };
	struct mmsghdr msg = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	struct mmsghdr rmsg = { .msg_hdr = { .msg_iov = &riov, .msg_iovlen = 1 } };

	if (sendmmsg(p->a, &msg, 1, 0) != 1 || recvmmsg(p->b, &rmsg, 1, 0, NULL) != 1)
		return -1;
	if (rmsg.msg_len != sizeof(out) || memcmp(in, out, sizeof(out)))
		return -1;
	if (sendto(p->b, out, sizeof(out), 0, NULL, 0) != (ssize_t)sizeof(out) ||
	    recvfrom(p->a, in, sizeof(in), 0, NULL, NULL) != (ssize_t)sizeof(out))
		return -1;
	return 0;
}

/* What every program does: randomness, clocks, memory, a log line. */
static int common_work(int devnull)
{
	uint8_t buf[32];
	struct timespec ts;
	char line[64];
	void *big;
	int n;

	if (getrandom(buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return -1;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return -1;
	big = malloc(8 << 20);	/* mmap/munmap rather than brk */
	if (!big)
		return -1;
	memset(big, 1, 8 << 20);
	free(big);
	/* as the logs do it: one write() per line, no stdio */
	n = snprintf(line, sizeof(line), "log line from pid %d\n", (int)getpid());
	if (write(devnull, line, (size_t)n) != n)
		return -1;
	return 0;
}

/* wgpunchd after start-up: an epoll loop over sockets opened before. */
static int server_work(const int *allowed, size_t n)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct udp_pair p;
	int devnull, ep;

	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (devnull < 0 || ep < 0 || udp_pair_open(&p) < 0)
		return 1;
	if (sandbox_apply(allowed, n) < 0)
		return 2;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p.b, &ev) < 0)
		return 3;
	if (udp_exchange(&p) < 0 || common_work(devnull) < 0)
		return 4;
	if (epoll_wait(ep, &ev, 1, 0) < 0)
		return 5;
	close(p.a);
	close(p.b);
	return 0;
}

static void *thread_main(void *arg)
{
	int *fd = arg;

	/* The portmap worker: its own UDP socket toward a gateway. */
	*fd = udp_bound();
	return NULL;
}

/* wgpunch after start-up: it keeps opening sockets, reads
 * /proc/net/route and starts its port-mapping thread. */
static int client_work(const int *allowed, size_t n)
{
	struct udp_pair p;
	pthread_t thread;
	char route[256];
	int devnull, fd, thread_fd = -1;

	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0)
		return 1;
	if (sandbox_apply(allowed, n) < 0)
		return 2;
	if (udp_pair_open(&p) < 0 || udp_exchange(&p) < 0)
		return 3;
	fd = open("/proc/net/route", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, route, sizeof(route)) <= 0)
		return 4;
	close(fd);
	fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0 || eventfd_write(fd, 1) < 0)
		return 5;
	if (pthread_create(&thread, NULL, thread_main, &thread_fd) ||
	    pthread_join(thread, NULL) || thread_fd < 0)
		return 6;
	if (common_work(devnull) < 0)
		return 7;
	return 0;
}

/* Calls neither program makes: the child must not survive them. */
static int call_ptrace(const int *allowed, size_t n)
{
	if (sandbox_apply(allowed, n) < 0)
		return 2;
	syscall(__NR_ptrace, PTRACE_TRACEME, 0, 0, 0);
	return 0;
}

static int call_execve(const int *allowed, size_t n)
{
	char *const argv[] = { "true", NULL };

	if (sandbox_apply(allowed, n) < 0)
		return 2;
	execve("/bin/true", argv, NULL);
	return 0;
}

/* wgpunchd opens no socket after start-up; the client does. */
static int call_socket(const int *allowed, size_t n)
{
	if (sandbox_apply(allowed, n) < 0)
		return 2;
	socket(AF_INET, SOCK_DGRAM, 0);
	return 0;
}

/* An architecture without sandbox support gets no filter at all. */
static void need_sandbox(void)
{
	if (!sandbox_audit_arch()) {
		print_message("no seccomp sandbox for this architecture: "
			      "skipped\n");
		skip();
	}
}

static void test_filters_validate(void **state)
{
	const struct {
		const int *list;
		size_t n;
	} progs[] = {
		{ sandbox_wgpunchd, sandbox_wgpunchd_n },
		{ sandbox_wgpunch, sandbox_wgpunch_n },
	};
	struct cbpf_prog prog;
	struct cbpf_error error;
	size_t i;

	(void)state;
	need_sandbox();
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		assert_int_equal(sandbox_build(progs[i].list, progs[i].n, &prog), 0);
		if (cbpf_validate(&prog, &error) < 0)
			fail_msg("%s", error.msg);
		/* ld [arch]; jeq #ARCH; ... ret #kill at the end */
		assert_int_equal(prog.insns[0].code, BPF_LD | BPF_W | BPF_ABS);
		assert_int_equal(prog.insns[0].k, offsetof(struct seccomp_data, arch));
		assert_int_equal(prog.insns[1].code, BPF_JMP | BPF_JEQ | BPF_K);
		assert_int_equal(prog.insns[1].k, sandbox_audit_arch());
		assert_int_equal(prog.insns[2].k, offsetof(struct seccomp_data, nr));
		assert_int_equal(prog.insns[prog.len - 1].code, BPF_RET | BPF_K);
		assert_int_equal(prog.insns[prog.len - 1].k, SECCOMP_RET_KILL_PROCESS);
		cbpf_prog_free(&prog);
	}
}

/* The verdict of prog for one call, from libcbpf's VM. The VM reads
 * words in network order (as a socket filter does) where seccomp reads
 * them in host order, so the fields are stored big-endian. */
static uint32_t verdict(const struct cbpf_prog *prog, uint32_t arch, uint32_t nr)
{
	uint8_t data[sizeof(struct seccomp_data)] = { 0 };
	uint32_t be;

	be = htonl(arch);
	memcpy(data + offsetof(struct seccomp_data, arch), &be, sizeof(be));
	be = htonl(nr);
	memcpy(data + offsetof(struct seccomp_data, nr), &be, sizeof(be));
	return cbpf_run(prog, data, sizeof(data), NULL);
}

/* The filter's logic on every architecture: an allowed number passes
 * only with the build's arch value; others, and x32's numbers, die. */
static void test_filter_verdicts(void **state)
{
	uint32_t arch = sandbox_audit_arch();
	struct cbpf_prog prog;

	(void)state;
	need_sandbox();
	assert_int_equal(sandbox_build(sandbox_wgpunchd, sandbox_wgpunchd_n,
				       &prog), 0);
	assert_int_equal(verdict(&prog, arch, __NR_read), SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(&prog, arch, __NR_recvmmsg), SECCOMP_RET_ALLOW);
	assert_int_equal(verdict(&prog, arch, __NR_ptrace), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(verdict(&prog, arch, __NR_socket), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(verdict(&prog, arch ^ 1, __NR_read), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(verdict(&prog, 0, __NR_read), SECCOMP_RET_KILL_PROCESS);
	assert_int_equal(verdict(&prog, arch, 0x40000000U | __NR_read),
			 SECCOMP_RET_KILL_PROCESS);
	cbpf_prog_free(&prog);
}

static void test_server_allowed(void **state)
{
	(void)state;
	need_sandbox();
	assert_exited_ok(run_sandboxed(sandbox_wgpunchd, sandbox_wgpunchd_n,
				       server_work));
}

static void test_client_allowed(void **state)
{
	(void)state;
	need_sandbox();
	assert_exited_ok(run_sandboxed(sandbox_wgpunch, sandbox_wgpunch_n,
				       client_work));
}

static void test_server_forbidden(void **state)
{
	(void)state;
	need_sandbox();
	assert_killed_by_filter(run_sandboxed(sandbox_wgpunchd, sandbox_wgpunchd_n,
					      call_ptrace));
	assert_killed_by_filter(run_sandboxed(sandbox_wgpunchd, sandbox_wgpunchd_n,
					      call_execve));
	assert_killed_by_filter(run_sandboxed(sandbox_wgpunchd, sandbox_wgpunchd_n,
					      call_socket));
}

static void test_client_forbidden(void **state)
{
	(void)state;
	need_sandbox();
	assert_killed_by_filter(run_sandboxed(sandbox_wgpunch, sandbox_wgpunch_n,
					      call_ptrace));
	assert_killed_by_filter(run_sandboxed(sandbox_wgpunch, sandbox_wgpunch_n,
					      call_execve));
}

#ifdef __x86_64__
/* i386's getpid (20) through the 32-bit gate; as an x86-64 number 20 is
 * writev, which both lists allow: only the arch check can stop it. */
static long int80_getpid(void)
{
	long ret;

	__asm__ volatile ("int $0x80"
			  : "=a" (ret)
			  : "a" (20L)
			  : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static int call_int80(const int *allowed, size_t n)
{
	if (allowed && sandbox_apply(allowed, n) < 0)
		return 2;
	return int80_getpid() == (long)getpid() ? 0 : 3;
}

static void test_foreign_arch(void **state)
{
	int status;

	(void)state;
	need_sandbox();
	/* Without a filter first: the kernel may lack 32-bit emulation. */
	status = run_sandboxed(NULL, 0, call_int80);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_message("int 0x80 does not work here (no IA-32 emulation): "
			      "skipped\n");
		skip();
	}
	assert_killed_by_filter(run_sandboxed(sandbox_wgpunch, sandbox_wgpunch_n,
					      call_int80));
	assert_killed_by_filter(run_sandboxed(sandbox_wgpunchd, sandbox_wgpunchd_n,
					      call_int80));
}
#else
static void test_foreign_arch(void **state)
{
	(void)state;
	print_message("the foreign-arch case needs x86-64's int 0x80: skipped\n");
	skip();
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filters_validate),
		cmocka_unit_test(test_filter_verdicts),
		cmocka_unit_test(test_server_allowed),
		cmocka_unit_test(test_client_allowed),
		cmocka_unit_test(test_server_forbidden),
		cmocka_unit_test(test_client_forbidden),
		cmocka_unit_test(test_foreign_arch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
