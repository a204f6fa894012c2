/* SPDX-License-Identifier: MIT */
/*
 * libcbpf — the two function attributes of the API rule set (rule 6 of
 * include/cbpf.h), defined once for every public header.
 *
 * CBPF_MUST_CHECK marks a function whose result is its only report of a
 * failure: ignoring it is a bug, so the compiler warns. (GCC warns even
 * through a (void) cast; test the result instead.)
 * CBPF_NONNULL(n, ...) names the 1-based pointer arguments that must not
 * be NULL: passing NULL is undefined, not an error the function reports.
 *
 * Both are empty for a compiler that lacks the attribute.
 */
#ifndef CBPF_ATTR_H
#define CBPF_ATTR_H

#ifdef __has_attribute
#define CBPF_HAS_ATTRIBUTE_(x) __has_attribute(x)
#else
#define CBPF_HAS_ATTRIBUTE_(x) 0
#endif

#if CBPF_HAS_ATTRIBUTE_(warn_unused_result)
#define CBPF_MUST_CHECK __attribute__((warn_unused_result))
#else
#define CBPF_MUST_CHECK
#endif

#if CBPF_HAS_ATTRIBUTE_(nonnull)
#define CBPF_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define CBPF_NONNULL(...)
#endif

#endif
