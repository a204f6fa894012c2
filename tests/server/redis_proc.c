// SPDX-License-Identifier: MIT
/*
 * A private redis-server (redis_proc.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_proc.h"

#define START_WAIT_MS	5000
#define START_POLL_MS	10

bool redis_proc_installed(void)
{
	return system("command -v redis-server >/dev/null 2>&1") == 0;
}

int redis_proc_init(struct redis_proc *r)
{
	memset(r, 0, sizeof(*r));
	r->pid = -1;
	snprintf(r->dir, sizeof(r->dir), "/tmp/wgp-redis-XXXXXX");
	if (!mkdtemp(r->dir))
		return -errno;
	snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/redis.log", r->dir);
	return 0;
}

/* Whether something accepts connections on path. */
static bool accepting(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

int redis_proc_start(struct redis_proc *r)
{
	struct timespec pause = { 0, START_POLL_MS * 1000000L };
	int i;

	unlink(r->sock);	/* a killed one's is left behind */
	r->pid = fork();
	if (r->pid < 0)
		return -errno;
	if (r->pid == 0) {
		execlp("redis-server", "redis-server", "--port", "0",
		       "--unixsocket", r->sock, "--save", "",
		       "--appendonly", "no", "--logfile", r->log,
		       (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < START_WAIT_MS / START_POLL_MS; i++) {
		if (accepting(r->sock))
			return 0;
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
			r->pid = -1;	/* it gave up: r->log says why */
			return -ECHILD;
		}
		nanosleep(&pause, NULL);
	}
	redis_proc_stop(r);
	return -ETIMEDOUT;
}

void redis_proc_stop(struct redis_proc *r)
{
	if (r->pid <= 0)
		return;
	kill(r->pid, SIGKILL);
	waitpid(r->pid, NULL, 0);
	r->pid = -1;
}

int redis_proc_remove(struct redis_proc *r)
{
	redis_proc_stop(r);
	if (!r->dir[0])
		return 0;
	unlink(r->sock);
	unlink(r->log);
	if (rmdir(r->dir) < 0)
		return -errno;
	r->dir[0] = '\0';
	return 0;
}
