/* SPDX-License-Identifier: MIT */
/*
 * The seccomp sandbox of wgpunchd and wgpunch: once a program has opened
 * what it needs at start-up, it gives up every system call not on its
 * allowlist. The filter is classic BPF written with libcbpf's builder and
 * checked with libcbpf's validator before the kernel sees it.
 *
 * The filter kills the process (SIGSYS) when
 *   - the call comes through a foreign system call convention (e.g. the
 *     32-bit int 0x80 entry from a 64-bit x86 process), whose numbers mean
 *     other calls than the allowlist's, or
 *   - the number is not on the allowlist.
 */
#ifndef WGP_SANDBOX_H
#define WGP_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cbpf_prog;

/* Each program's allowlist, in system call numbers of the build's
 * architecture. A filter allows these and the calls every program needs
 * (sandbox.c's base list: read, write, close, memory, clocks, ...).
 * Negative numbers are ignored. */
extern const int sandbox_wgpunchd[];
extern const size_t sandbox_wgpunchd_n;
/* ... and with --registry, besides: (re)connecting to Redis. */
extern const int sandbox_wgpunchd_store[];
extern const size_t sandbox_wgpunchd_store_n;
extern const int sandbox_wgpunch[];
extern const size_t sandbox_wgpunch_n;

/* The build's AUDIT_ARCH_* value, or 0 where the sandbox has no support
 * for this architecture. */
uint32_t sandbox_audit_arch(void);

/*
 * The filter for allowed[0..n) and the base list into prog (free with cbpf_prog_free()),
 * checked with cbpf_validate() and against seccomp's own rules (only
 * aligned 32-bit loads inside struct seccomp_data). 0, -EOPNOTSUPP on an
 * architecture without sandbox support, -ENOMEM, or -EINVAL if the
 * program does not pass the checks (a bug: the message goes to stderr).
 */
int sandbox_build(const int *allowed, size_t n, struct cbpf_prog *prog);

/*
 * Builds the filter and installs it for every thread of the process
 * (no_new_privs first, as an unprivileged process must). Irreversible.
 * 0, or a negative errno: -EOPNOTSUPP (architecture not supported: no
 * filter installed), -ENOSYS/-EINVAL (kernel without seccomp filters),
 * -EBUSY (a thread could not be synchronised), or sandbox_build()'s.
 */
int sandbox_apply(const int *allowed, size_t n);

/*
 * What both programs do once set up: install the filter for allowed,
 * unless off (--no-seccomp), and log what happened. An architecture
 * without a filter runs without one, with a warning. 0, or -errno when
 * the filter could not be installed: the program stops rather than run
 * without the protection it was asked for.
 */
int sandbox_enter(const int *allowed, size_t n, bool off);

#endif
