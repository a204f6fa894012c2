// SPDX-License-Identifier: MIT
/*
 * The real wgpunchd run by a test (daemon.h).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "daemon.h"

#define LOG_TIMEOUT_MS	5000
#define MAX_ARGS	32

int daemon_key_file(char *path, uint8_t pub[WGP_KEY_LEN])
{
	char b64[WGP_KEY_B64_SIZE];
	uint8_t priv[WGP_KEY_LEN];
	int fd;

	wgp_key_generate(priv);
	wgp_key_public(pub, priv);
	wgp_key_to_base64(b64, priv);
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, b64, 44) != 44 || write(fd, "\n", 1) != 1) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

void daemon_kill(struct daemon *d)
{
	int status;

	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
		d->pid = -1;
	}
	if (d->log >= 0) {
		close(d->log);
		d->log = -1;
	}
}

const char *daemon_log_wait(struct daemon *d, const char *what)
{
	struct pollfd pfd = { .fd = d->log, .events = POLLIN };
	size_t len = strlen(d->text);
	const char *p;
	ssize_t n;

	for (;;) {
		p = strstr(d->text, what);
		if (p && strchr(p, '\n'))
			return p;
		if (len >= sizeof(d->text) - 1 ||
		    poll(&pfd, 1, LOG_TIMEOUT_MS) != 1)
			return NULL;
		n = read(d->log, d->text + len, sizeof(d->text) - 1 - len);
		if (n <= 0)
			return NULL;
		len += (size_t)n;
		d->text[len] = '\0';
	}
}

static int wait_ports(struct daemon *d, bool metrics)
{
	unsigned int port;
	const char *p;

	p = daemon_log_wait(d, "listening on :: port ");
	if (!p || sscanf(p, "listening on :: port %u", &port) != 1)
		return -1;
	d->udp_port = (uint16_t)port;
	if (!metrics)
		return 0;
	p = daemon_log_wait(d, "metrics at http://127.0.0.1:");
	if (!p || sscanf(p, "metrics at http://127.0.0.1:%u/metrics",
			 &port) != 1 || !port)
		return -1;
	d->http_port = (uint16_t)port;
	return 0;
}

int daemon_start(struct daemon *d, bool metrics, const char *key_path, ...)
{
	const char *argv[MAX_ARGS] = {
		getenv("WGPUNCHD"), "--private-key", key_path, "--port", "0",
		"--probe-port", "0", "--rate", "0", "--capacity", "100",
	};
	int argc = 11, pipefd[2];
	va_list ap;

	va_start(ap, key_path);
	while (argc < MAX_ARGS - 1 &&
	       (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	memset(d, 0, sizeof(*d));
	d->pid = d->log = -1;
	if (!argv[0] || pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	d->log = pipefd[0];
	if (wait_ports(d, metrics) == 0)
		return 0;
	fprintf(stderr, "wgpunchd did not start:\n%s\n", d->text);
	daemon_kill(d);
	return -1;
}

int daemon_stop(struct daemon *d)
{
	int status = -1, i;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	for (i = 0; i < 50; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = -1;
			break;
		}
		usleep(100000);
	}
	daemon_kill(d);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
