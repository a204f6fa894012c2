// SPDX-License-Identifier: MIT
/*
 * The seccomp sandbox: a classic BPF program over struct seccomp_data,
 * written with libcbpf's label builder:
 *
 *	ld  [arch]
 *	jne #AUDIT_ARCH_<build>, foreign
 *	ld  [nr]
 *	jeq #nr0, allow
 *	jeq #nr1, allow
 *	...
 *	ret #KILL_PROCESS
 * allow:
 *	ret #ALLOW
 * foreign:
 *	ret #KILL_PROCESS
 *
 * Why kill and not an errno for a call off the list: both programs run
 * forever and retry what fails (the client starts a new round, the server
 * drops the datagram), so an EPERM would turn a missing entry into a
 * quiet, permanent loss of function that looks like a network problem.
 * SIGSYS ends the process at once, the kernel logs the call's number
 * (audit type 1326), systemd restarts the unit and the operator sees what
 * to add (or to run with --no-seccomp meanwhile). It also gives code
 * that has taken over the process nothing to probe. The lists are
 * therefore generous: whole families (all of stat, all time variants)
 * rather than the one call this glibc happens to use today.
 *
 * Why the architecture check: on x86-64 a process can still enter the
 * kernel through the 32-bit int 0x80 gate, where the numbers mean other
 * calls (i386's 102 is socketcall, x86-64's 102 is getuid). The x32 ABI
 * shares x86-64's arch value but sets bit 30 in the number, so its calls
 * never equal an allowlist entry and fall through to the kill.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "cbpf/builder.h"
#include "cbpf/validate.h"
#include "log.h"
#include "sandbox.h"

#if defined(__x86_64__) && !defined(__ILP32__)
#define SANDBOX_ARCH	AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define SANDBOX_ARCH	AUDIT_ARCH_I386
#elif defined(__aarch64__) && !defined(__AARCH64EB__)
#define SANDBOX_ARCH	AUDIT_ARCH_AARCH64
#elif defined(__arm__) && !defined(__ARMEB__)
#define SANDBOX_ARCH	AUDIT_ARCH_ARM
#else
#define SANDBOX_ARCH	0	/* unknown: sandbox_apply() refuses */
#endif

/*
 * Both programs, after start-up: plain I/O on descriptors they hold,
 * memory, time, signals through a signalfd, randomness, and leaving.
 * Every filter allows these besides its program's list. Calls that only
 * exist on some architectures (32-bit time variants, mmap2, socketcall,
 * ...) are guarded by their number's macro.
 */
static const int base_calls[] = {
	/* descriptors already open: sockets, signalfd, timerfd, stderr */
	__NR_read, __NR_readv, __NR_write, __NR_writev, __NR_close,
	__NR_lseek, __NR_fcntl,
	/* malloc, and libsodium's guarded allocations */
	__NR_brk, __NR_munmap, __NR_mremap, __NR_mprotect, __NR_madvise,
	/* the signal mask around the loop; returning from a handler */
	__NR_rt_sigprocmask, __NR_rt_sigreturn, __NR_restart_syscall,
	/* clocks (usually the vDSO, but its fallback is the call) */
	__NR_clock_gettime, __NR_clock_getres, __NR_gettimeofday,
	__NR_clock_nanosleep, __NR_nanosleep,
	/* libsodium's randombytes; log lines carry the pid */
	__NR_getrandom, __NR_getpid, __NR_gettid,
	/* glibc's locks (stdio, malloc) */
	__NR_futex,
	/* qsort() may ask for the memory size */
	__NR_sysinfo,
	/* fstat family: stdio buffers, glibc's own checks */
	__NR_statx,
	/* datagrams and stream sockets already open */
	__NR_recvfrom, __NR_sendto, __NR_recvmsg, __NR_sendmsg,
	__NR_recvmmsg, __NR_sendmmsg, __NR_getsockopt, __NR_setsockopt,
	__NR_getsockname, __NR_getpeername, __NR_shutdown,
	/* the loop's timer */
	__NR_timerfd_settime, __NR_timerfd_gettime,
	/* the end (exit: a thread's) */
	__NR_exit, __NR_exit_group,
	/* the same jobs under the names each architecture has: fstat
	 * (stdio, glibc), mmap (large allocations), fcntl, lseek,
	 * returning from a handler */
#ifdef __NR_fstat
	__NR_fstat,
#endif
#ifdef __NR_newfstatat
	__NR_newfstatat,
#endif
#ifdef __NR_fstat64
	__NR_fstat64,
#endif
#ifdef __NR_fstatat64
	__NR_fstatat64,
#endif
#ifdef __NR_fcntl64
	__NR_fcntl64,
#endif
#ifdef __NR__llseek
	__NR__llseek,
#endif
#ifdef __NR_mmap
	__NR_mmap,
#endif
#ifdef __NR_mmap2
	__NR_mmap2,
#endif
#ifdef __NR_sigreturn
	__NR_sigreturn,
#endif
#ifdef __NR_time
	__NR_time,
#endif
	/* 32-bit architectures: the 64-bit time_t variants glibc prefers */
#ifdef __NR_clock_gettime64
	__NR_clock_gettime64,
#endif
#ifdef __NR_clock_getres_time64
	__NR_clock_getres_time64,
#endif
#ifdef __NR_clock_nanosleep_time64
	__NR_clock_nanosleep_time64,
#endif
#ifdef __NR_futex_time64
	__NR_futex_time64,
#endif
#ifdef __NR_recvmmsg_time64
	__NR_recvmmsg_time64,
#endif
#ifdef __NR_timerfd_settime64
	__NR_timerfd_settime64,
#endif
#ifdef __NR_timerfd_gettime64
	__NR_timerfd_gettime64,
#endif
	/* arm's send/recv; i386's multiplexer for every socket call */
#ifdef __NR_send
	__NR_send,
#endif
#ifdef __NR_recv
	__NR_recv,
#endif
#ifdef __NR_socketcall
	__NR_socketcall,
#endif
};

/*
 * A build with AddressSanitizer checks for leaks at exit: it stops the
 * world by cloning a tracer thread that ptraces every thread and reads
 * /proc/self/task. Killing that would turn every exit of a sanitizer
 * build into SIGSYS, so those builds (never a release) allow it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

#ifdef SANDBOX_SANITIZER
static const int sanitizer_calls[] = {
	__NR_prctl, __NR_clone, __NR_ptrace, __NR_wait4, __NR_waitid,
	__NR_sched_yield, __NR_sigaltstack, __NR_rt_sigaction, __NR_openat,
	__NR_getdents64, __NR_readlinkat, __NR_kill, __NR_tgkill,
	__NR_sched_getaffinity, __NR_prlimit64, __NR_getppid,
#ifdef __NR_clone3
	__NR_clone3,
#endif
#ifdef __NR_open
	__NR_open,
#endif
#ifdef __NR_readlink
	__NR_readlink,
#endif
#ifdef __NR_getdents
	__NR_getdents,
#endif
};
#endif

/*
 * wgpunchd runs one epoll loop over sockets it bound at start-up: the
 * UDP ports (recvmmsg/sendmmsg, SO_MEMINFO), the timerfd, the signalfd,
 * and the --metrics listener, whose connections libmicrohttpd accepts,
 * reads, writes, shuts down and closes from the same loop (it also keeps
 * its own epoll set, and may create an eventfd or pipe to wake itself).
 * With --workers, every worker thread runs such a loop; all of them
 * exist before the filter. It opens no file and starts no program or
 * thread.
 */
const int sandbox_wgpunchd[] = {
	/* the loop and libmicrohttpd's epoll set */
	__NR_epoll_ctl, __NR_epoll_pwait, __NR_epoll_create1,
#ifdef __NR_epoll_wait
	__NR_epoll_wait,
#endif
#ifdef __NR_epoll_pwait2
	__NR_epoll_pwait2,
#endif
	/* libmicrohttpd: scrape connections, its inter-thread channel */
	__NR_accept4, __NR_eventfd2, __NR_pipe2,
#ifdef __NR_accept
	__NR_accept,
#endif
	/* libmicrohttpd's poll of a single connection */
	__NR_ppoll,
#ifdef __NR_poll
	__NR_poll,
#endif
#ifdef __NR_ppoll_time64
	__NR_ppoll_time64,
#endif
	/* --workers: the threads are made before the filter, which then
	 * lands on them all at once (TSYNC), maybe before a new thread
	 * has run glibc's start: registering its robust futex list and
	 * its restartable sequences area, which concern only itself. No
	 * clone: no thread is made after. */
	__NR_set_robust_list,
#ifdef __NR_rseq
	__NR_rseq,
#endif
};
const size_t sandbox_wgpunchd_n = sizeof(sandbox_wgpunchd) / sizeof(sandbox_wgpunchd[0]);

/*
 * wgpunchd --registry: the Redis thread makes a new connection whenever
 * the last one was lost, to the address resolved at start-up (no name
 * is looked up, no file opened), and waits in poll().
 */
const int sandbox_wgpunchd_store[] = {
	__NR_socket, __NR_connect,
};
const size_t sandbox_wgpunchd_store_n = sizeof(sandbox_wgpunchd_store) /
					sizeof(sandbox_wgpunchd_store[0]);

/*
 * wgpunch keeps opening sockets for as long as it runs: each round may
 * reopen the raw sockets (new source address or port), the path sockets
 * and hops.c's ICMP socket; every exchange with WireGuard is a new
 * netlink socket or a new connection to /run/wireguard/<if>.sock;
 * getifaddrs() and the route lookup are netlink too. The port-mapping
 * worker thread (started in a round, so after the filter: it inherits it)
 * talks NAT-PMP/PCP over UDP and UPnP (SSDP multicast, then HTTP over
 * TCP), reads /proc/net/route, and is woken through eventfds. The status
 * socket accepts connections, and its file is unlinked on the way out.
 */
const int sandbox_wgpunch[] = {
	/* new sockets: raw, UDP, ICMP, netlink, unix (UAPI), TCP (UPnP) */
	__NR_socket, __NR_bind, __NR_connect, __NR_listen, __NR_accept4,
#ifdef __NR_accept
	__NR_accept,
#endif
	/* interface indexes (if_nametoindex), SIOCGIFINDEX and friends */
	__NR_ioctl,
	/* /proc/net/route for the gateway; name service files if the
	 * UPnP gateway's URL names a host */
	__NR_openat,
#ifdef __NR_open
	__NR_open,
#endif
	/* the status socket's file at exit */
	__NR_unlinkat,
#ifdef __NR_unlink
	__NR_unlink,
#endif
	/* the main loop, the portmap worker, libnatpmp and miniupnpc */
	__NR_ppoll, __NR_pselect6, __NR_eventfd2, __NR_pipe2,
	__NR_epoll_ctl, __NR_epoll_pwait, __NR_epoll_create1,
#ifdef __NR_poll
	__NR_poll,
#endif
#ifdef __NR_select
	__NR_select,
#endif
#ifdef __NR__newselect
	__NR__newselect,
#endif
#ifdef __NR_epoll_wait
	__NR_epoll_wait,
#endif
#ifdef __NR_ppoll_time64
	__NR_ppoll_time64,
#endif
#ifdef __NR_pselect6_time64
	__NR_pselect6_time64,
#endif
	/* the portmap worker thread: creation, its stack, its exit; glibc
	 * installs its cancellation handler at the first pthread_create(),
	 * which comes in a round, after the filter */
	__NR_clone, __NR_set_robust_list, __NR_sched_yield, __NR_rt_sigaction,
#ifdef __NR_clone3
	__NR_clone3,
#endif
#ifdef __NR_rseq
	__NR_rseq,
#endif
	/* who we are, for messages and miniupnpc's user agent */
	__NR_uname, __NR_getuid, __NR_geteuid, __NR_getgid, __NR_getegid,
#ifdef __NR_getuid32
	__NR_getuid32, __NR_geteuid32, __NR_getgid32, __NR_getegid32,
#endif
};
const size_t sandbox_wgpunch_n = sizeof(sandbox_wgpunch) / sizeof(sandbox_wgpunch[0]);

uint32_t sandbox_audit_arch(void)
{
	return SANDBOX_ARCH;
}

static void emit_allow_list(struct cbpf_builder *b, const int *nr, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (nr[i] >= 0)
			cbpf_jmp_k(b, CBPF_COND_EQ, (uint32_t)nr[i], "allow",
				   NULL);
}

static void emit_filter(struct cbpf_builder *b, const int *allowed, size_t n)
{
	cbpf_ld_abs(b, CBPF_SIZE_W, offsetof(struct seccomp_data, arch));
	cbpf_jmp_k(b, CBPF_COND_NE, SANDBOX_ARCH, "foreign", NULL);
	cbpf_ld_abs(b, CBPF_SIZE_W, offsetof(struct seccomp_data, nr));
	emit_allow_list(b, base_calls,
			sizeof(base_calls) / sizeof(base_calls[0]));
	emit_allow_list(b, allowed, n);
#ifdef SANDBOX_SANITIZER
	emit_allow_list(b, sanitizer_calls,
			sizeof(sanitizer_calls) / sizeof(sanitizer_calls[0]));
#endif
	cbpf_ret_k(b, SECCOMP_RET_KILL_PROCESS);
	cbpf_label(b, "allow");
	cbpf_ret_k(b, SECCOMP_RET_ALLOW);
	cbpf_label(b, "foreign");
	cbpf_ret_k(b, SECCOMP_RET_KILL_PROCESS);
}

/*
 * seccomp's rules on top of the socket filter's (kernel/seccomp.c,
 * seccomp_check_filter()): loads from the data only as aligned words
 * inside struct seccomp_data, no ancillary or indirect loads, no MOD.
 * This file emits only LD W ABS, JEQ K and RET K; the check makes sure a
 * change here cannot hand the kernel something it would refuse anyway.
 */
static int check_seccomp_insn(const struct sock_filter *f)
{
	switch (f->code) {
	case BPF_LD | BPF_W | BPF_ABS:
		if (f->k >= sizeof(struct seccomp_data) || (f->k & 3))
			return -EINVAL;
		return 0;
	case BPF_JMP | BPF_JA:
	case BPF_JMP | BPF_JEQ | BPF_K:
	case BPF_JMP | BPF_JGE | BPF_K:
	case BPF_JMP | BPF_JGT | BPF_K:
	case BPF_JMP | BPF_JSET | BPF_K:
	case BPF_RET | BPF_K:
		return 0;
	default:
		return -EINVAL;
	}
}

static int check_filter(const struct cbpf_prog *prog)
{
	struct cbpf_error error;
	size_t i;

	if (cbpf_validate(prog, &error) < 0) {
		fprintf(stderr, "sandbox: filter refused: %s\n", error.msg);
		return -EINVAL;
	}
	for (i = 0; i < prog->len; i++) {
		if (check_seccomp_insn(&prog->insns[i]) < 0) {
			fprintf(stderr, "sandbox: insn %zu (code 0x%02x) is not "
				"allowed in a seccomp filter\n", i,
				prog->insns[i].code);
			return -EINVAL;
		}
	}
	return 0;
}

int sandbox_build(const int *allowed, size_t n, struct cbpf_prog *prog)
{
	struct cbpf_builder *b;
	struct cbpf_error error;
	int ret;

	if (!SANDBOX_ARCH)
		return -EOPNOTSUPP;
	b = cbpf_builder_new();
	if (!b)
		return -ENOMEM;
	emit_filter(b, allowed, n);
	ret = cbpf_builder_finish(b, prog, &error);
	cbpf_builder_free(b);
	if (ret < 0) {
		if (ret != -ENOMEM)
			fprintf(stderr, "sandbox: %s\n", error.msg);
		return ret;
	}
	ret = check_filter(prog);
	if (ret < 0)
		cbpf_prog_free(prog);
	return ret;
}

/*
 * seccomp(2) with TSYNC puts the filter on every thread at once (the
 * client may already run its port-mapping worker). Kernels before 3.17
 * lack seccomp(2): prctl() then filters this thread only, and threads
 * created later inherit it.
 */
static int install(struct sock_fprog *fprog)
{
	long ret;

	ret = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
		      SECCOMP_FILTER_FLAG_TSYNC, fprog);
	if (ret == 0)
		return 0;
	if (ret > 0)
		return -EBUSY;	/* ret names a thread that could not sync */
	if (errno != ENOSYS)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog, 0, 0) < 0)
		return -errno;
	return 0;
}

int sandbox_apply(const int *allowed, size_t n)
{
	struct cbpf_prog prog = { 0 };
	struct sock_fprog fprog;
	int ret;

	ret = sandbox_build(allowed, n, &prog);
	if (ret < 0)
		return ret;
	/* Required without CAP_SYS_ADMIN; and neither program executes
	 * anything, so nothing is lost. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		goto out;
	}
	fprog = cbpf_prog_fprog(&prog);
	ret = install(&fprog);
out:
	cbpf_prog_free(&prog);
	return ret;
}

int sandbox_enter(const int *allowed, size_t n, bool off)
{
	int ret;

	if (off) {
		log_info("seccomp: off (--no-seccomp)");
		return 0;
	}
	ret = sandbox_apply(allowed, n);
	if (ret == -EOPNOTSUPP) {
		log_warn("seccomp: no filter for this architecture; running "
			 "without one");
		return 0;
	}
	if (ret < 0) {
		log_error("seccomp: cannot install the filter: %s "
			  "(--no-seccomp runs without it)", strerror(-ret));
		return ret;
	}
	log_debug("seccomp: filter installed, %zu system calls allowed", n);
	return 0;
}
