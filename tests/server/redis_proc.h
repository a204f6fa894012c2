/* SPDX-License-Identifier: MIT */
/*
 * A private redis-server for what tests and measures --registry
 * (tests/server/test_store.c, bench/bench_registry.c): on a Unix
 * socket in a temporary directory of its own, no TCP port, nothing
 * saved to disk, so started again on the same socket (a restart) it
 * comes back empty.
 */
#ifndef WGPUNCH_TEST_REDIS_PROC_H
#define WGPUNCH_TEST_REDIS_PROC_H

#include <stdbool.h>
#include <sys/types.h>

struct redis_proc {
	char dir[32];		/* /tmp/wgp-redis-XXXXXX */
	char sock[64];		/* dir/redis.sock */
	char log[64];		/* dir/redis.log */
	pid_t pid;		/* -1: not running */
};

/* Whether there is a redis-server to run (Debian: redis-server). */
bool redis_proc_installed(void);

/* A fresh directory for it; nothing runs yet. 0 or -errno. */
int redis_proc_init(struct redis_proc *r);

/* Run it, and wait until it accepts connections on r->sock: 0, or
 * -errno (-ETIMEDOUT: it never did; it is stopped then). */
int redis_proc_start(struct redis_proc *r);

/* Kill it (SIGKILL: as a crash would, with nothing saved) and wait for
 * it; r->dir stays, for a restart. */
void redis_proc_stop(struct redis_proc *r);

/* Stop it and remove r->dir. 0 or -errno. */
int redis_proc_remove(struct redis_proc *r);

#endif
