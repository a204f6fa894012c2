// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sodium.h>

#include "key.h"
#include "wg_uapi.h"
#include "wglab.h"

static const char *find_wggo(void)
{
	static const char *const paths[] = {
		"/usr/bin/wireguard-go", "/usr/local/bin/wireguard-go",
		"/usr/sbin/wireguard-go",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (!access(paths[i], X_OK))
			return paths[i];
	}
	return NULL;
}

const char *lab_enter_net(void)
{
	if (geteuid() != 0)
		return "needs root (network namespace, raw sockets)";
	if (unshare(CLONE_NEWNET))
		return "unshare(CLONE_NEWNET) failed";
	if (lab_sh("ip link set lo up"))
		return "ip link set lo up failed";
	return NULL;
}

const char *lab_enter(void)
{
	if (geteuid() != 0)
		return "needs root (network and mount namespaces, raw sockets)";
	if (!find_wggo())
		return "wireguard-go is not installed";
	if (access("/dev/net/tun", R_OK | W_OK))
		return "no /dev/net/tun";
	if (sodium_init() < 0)
		return "libsodium failed";
	if (unshare(CLONE_NEWNET | CLONE_NEWNS))
		return "unshare(CLONE_NEWNET | CLONE_NEWNS) failed";
	/* Our mounts must not leak back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return "making / private failed";
	mkdir(WG_UAPI_DIR, 0755);
	if (mount("wglab", WG_UAPI_DIR, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0755"))
		return "tmpfs on /run/wireguard failed";
	if (lab_sh("ip link set lo up"))
		return "ip link set lo up failed";
	return NULL;
}

static int vrun(const char *fmt, va_list ap, char *out, size_t size)
	__attribute__((format(printf, 1, 0)));

static int vrun(const char *fmt, va_list ap, char *out, size_t size)
{
	char cmd[1024];
	FILE *f;
	size_t n = 0;
	int st;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (out) {
		n = fread(out, 1, size - 1, f);
		out[n] = '\0';
	} else {
		char sink[256];

		while (fread(sink, 1, sizeof(sink), f) > 0)
			;
	}
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int lab_sh(const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vrun(fmt, ap, NULL, 0);
	va_end(ap);
	return ret;
}

int lab_capture(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vrun(fmt, ap, buf, size);
	va_end(ap);
	return ret;
}

int lab_uapi(const char *name, const char *request)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char reply[4096], *e;
	size_t len = 0;
	int fd, ret = -EIO;

	snprintf(addr.sun_path, sizeof(addr.sun_path), WG_UAPI_DIR "/%s.sock", name);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while (len < sizeof(reply) - 1) {
		ssize_t n = read(fd, reply + len, sizeof(reply) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		reply[len] = '\0';
		if (strstr(reply, "\n\n"))
			break;
	}
	close(fd);
	reply[len] = '\0';
	e = strstr(reply, "errno=");
	if (!e || sscanf(e, "errno=%d", &ret) != 1)
		return -EPROTO;
	return ret;
}

pid_t lab_wggo_start(const char *name)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		/* Foreground, and no "use the kernel module" banner. */
		setenv("WG_PROCESS_FOREGROUND", "1", 1);
		setenv("LOG_LEVEL", "error", 1);
		execl(find_wggo(), "wireguard-go", "-f", name, (char *)NULL);
		_exit(127);
	}
	/* Ready when the socket answers (a few ms; allow 5 s). */
	for (int i = 0; i < 500; i++) {
		if (lab_uapi(name, "get=1\n\n") == 0)
			return pid;
		usleep(10000);
	}
	lab_wggo_stop(pid);
	return -1;
}

void lab_wggo_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

void lab_keypair(char priv_hex[65], char pub_hex[65], char pub_b64[45])
{
	uint8_t priv[WGP_KEY_LEN], pub[WGP_KEY_LEN];

	wgp_key_generate(priv);
	wgp_key_public(pub, priv);
	uapi_key_to_hex(priv_hex, priv);
	uapi_key_to_hex(pub_hex, pub);
	wgp_key_to_base64(pub_b64, pub);
	sodium_memzero(priv, sizeof(priv));
}

int lab_wg_peer(const char *iface, const char *b64, char endpoint[80],
		char keepalive[16])
{
	char out[8192], *line, *save = NULL;

	if (lab_capture(out, sizeof(out), "wg show %s dump", iface))
		return -1;
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char key[64], psk[64], ep[80], aips[256], hs[32], rx[32], tx[32], ka[16];

		if (sscanf(line, "%63s %63s %79s %255s %31s %31s %31s %15s", key,
			   psk, ep, aips, hs, rx, tx, ka) == 8 && !strcmp(key, b64)) {
			strcpy(endpoint, ep);
			strcpy(keepalive, ka);
			return 0;
		}
	}
	return -1;
}
