/* SPDX-License-Identifier: MIT */
/*
 * Running wgpunchd ($WGPUNCHD) with arguments it must refuse, for the
 * tests of its usage and start-up errors.
 */
#ifndef WGPUNCH_TEST_REFUSE_H
#define WGPUNCH_TEST_REFUSE_H

#include <stddef.h>

/*
 * Runs wgpunchd with the arguments given (NULL-terminated, at most 14)
 * and waits for it to exit, which it must do without starting to serve:
 * the test fails if it is still running after 15 s. Returns its exit
 * status, with what it wrote to stderr in err.
 */
int wgpunchd_refuses(char *err, size_t errlen, ...);

#endif
