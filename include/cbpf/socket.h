/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — classic BPF on sockets (SO_ATTACH_FILTER and friends).
 * Every function returns 0 (or the count or flag it documents) on success
 * and a negative errno on failure (the setsockopt()/getsockopt() errno,
 * negated); none prints or exits.
 */
#ifndef CBPF_SOCKET_H
#define CBPF_SOCKET_H

#include <stddef.h>
#include "attr.h"
#include "prog.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cbpf_attach_flags {
	/* Attach a drop-all filter, drain what is already queued (packets
	 * queued before an attach bypass the filter), then attach prog. */
	CBPF_ATTACH_DRAIN = 1U << 0,
	/* SO_LOCK_FILTER after attaching: no later change is possible. */
	CBPF_ATTACH_LOCK = 1U << 1,
};

/* Attach (or atomically replace) the socket filter. With DRAIN, returns
 * the number of datagrams drained (>= 0). prog is attached once before
 * the drain too, so a program the kernel refuses (or a locked socket)
 * leaves the socket unchanged. DRAIN on a SOCK_STREAM socket (whose data
 * it would eat) is -EOPNOTSUPP; unknown flags are -EINVAL. */
CBPF_MUST_CHECK CBPF_NONNULL(2)
int cbpf_attach(int fd, const struct cbpf_prog *prog, unsigned int flags);

/* Remove the filter; 0 also when there was none (ENOENT, old ENONET). */
CBPF_MUST_CHECK
int cbpf_detach(int fd);

/* SO_LOCK_FILTER: attach, detach and unlock then fail with -EPERM. */
CBPF_MUST_CHECK
int cbpf_lock(int fd);

/* 1 if the filter is locked, 0 if not (or if there is no filter). */
CBPF_MUST_CHECK
int cbpf_is_locked(int fd);

/* Read back the attached program (SO_GET_FILTER) into a fresh prog; with
 * no filter attached, returns 0 and prog->len == 0. -EACCES for an eBPF
 * filter, which has no classic form. */
CBPF_MUST_CHECK CBPF_NONNULL(2)
int cbpf_get_filter(int fd, struct cbpf_prog *prog);

/* SO_ATTACH_REUSEPORT_CBPF: the program sees the UDP payload and returns
 * the index of the socket in the reuseport group. */
CBPF_MUST_CHECK CBPF_NONNULL(2)
int cbpf_attach_reuseport(int fd, const struct cbpf_prog *prog);
/* 0 also when no program was attached (ENOENT). */
CBPF_MUST_CHECK
int cbpf_detach_reuseport(int fd);

/* SO_BPF_EXTENSIONS: the kernel's ancillary-load count (SKF_AD_MAX). */
CBPF_MUST_CHECK
int cbpf_extensions(int fd);

#ifdef __cplusplus
}
#endif

#endif
