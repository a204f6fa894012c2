// SPDX-License-Identifier: MIT
/*
 * wgpunchd refusing its arguments (see refuse.h).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "refuse.h"

/* Refusing takes milliseconds; the bound (x 20 ms) is for a machine so
 * loaded that starting a process takes seconds. */
#define REFUSE_POLLS	750
#define MAX_ARGS	16

/* The exit status of pid, which must come within REFUSE_POLLS. */
static int wait_refusal(pid_t pid, const char *const *argv)
{
	int status = -1, i;

	for (i = 0; i < REFUSE_POLLS; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(20000);
	}
	if (i == REFUSE_POLLS) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("wgpunchd %s %s started instead of refusing",
			 argv[1] ? argv[1] : "", argv[1] && argv[2] ? argv[2] : "");
	}
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

int wgpunchd_refuses(char *err, size_t errlen, ...)
{
	const char *argv[MAX_ARGS] = { getenv("WGPUNCHD") };
	int argc = 1, pipefd[2], status;
	size_t len = 0;
	va_list ap;
	ssize_t n;
	pid_t pid;

	assert_non_null(argv[0]);
	va_start(ap, errlen);
	while ((argv[argc] = va_arg(ap, const char *)))
		if (++argc == MAX_ARGS - 1)
			fail_msg("wgpunchd_refuses: more than %d arguments",
				 MAX_ARGS - 2);
	va_end(ap);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	status = wait_refusal(pid, argv);
	while (len < errlen - 1 &&
	       (n = read(pipefd[0], err + len, errlen - 1 - len)) > 0)
		len += (size_t)n;
	err[len] = '\0';
	close(pipefd[0]);
	return status;
}
