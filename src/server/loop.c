// SPDX-License-Identifier: MIT
/*
 * wgpunchd — event loop (see loop.h).
 *
 * On a wildcard address, replies leave from the address the request
 * arrived on (IP_PKTINFO / IPV6_PKTINFO): on a multi-homed host the
 * client's filter expects the server address it sent to, and NOTIFYs
 * likewise reuse the address each peer registered through. Bound to one
 * address, the kernel already does that, and the per-datagram control
 * messages (and the source check they cost) are skipped.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/sock_diag.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <cbpf/builder.h>
#include <cbpf/socket.h>

#include "log.h"
#include "loop.h"
#include "store.h"

#define CTL_LEN CMSG_SPACE(sizeof(struct in6_pktinfo))

/* Room for one datagram's control messages, aligned for cmsghdr. */
union ctl_space {
	char buf[CTL_LEN];
	struct cmsghdr align;
};

struct loop_rx {
	struct mmsghdr msg[LOOP_BATCH];
	struct iovec iov[LOOP_BATCH];
	struct sockaddr_in6 from[LOOP_BATCH];	/* large enough for v4 too */
	union ctl_space ctl[LOOP_BATCH];
	uint8_t buf[LOOP_BATCH][LOOP_RXBUF];
};

/* The relay's batch: datagrams are forwarded from where they were
 * received (the iovecs of the send batch point into buf). */
struct loop_relay_rx {
	struct mmsghdr msg[LOOP_BATCH];
	struct iovec iov[LOOP_BATCH];
	struct sockaddr_in6 from[LOOP_BATCH];
	union ctl_space ctl[LOOP_BATCH];
	uint8_t buf[LOOP_BATCH][LOOP_RELAY_RXBUF];
};

struct loop_tx {
	struct mmsghdr msg[LOOP_BATCH];
	struct iovec iov[LOOP_BATCH];
	struct sockaddr_storage to[LOOP_BATCH];
	union {
		char buf[CTL_LEN];
		struct cmsghdr align;
	} ctl[LOOP_BATCH];
};

/* ---- sockets ------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss,
			socklen_t *len)
{
	struct sockaddr_in6 *sin6 = (void *)ss;
	struct sockaddr_in *sin = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!listen)
		listen = "::";
	if (inet_pton(AF_INET6, listen, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
		return 0;
	}
	if (inet_pton(AF_INET, listen, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
		return 0;
	}
	return -EINVAL;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
			&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
	       htonl(INADDR_ANY);
}

static int open_socket(struct sockaddr_storage *ss, socklen_t len,
		       uint16_t *port, int size, bool reuseport)
{
	bool pktinfo = is_wildcard(ss);
	int fd, one = 1, zero = 0, ret;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);

	fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	if (ss->ss_family == AF_INET6) {
		/* One socket for both families; IPv4 sources show up as
		 * ::ffff:a.b.c.d and are reported as IPv4. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			       sizeof(zero)) < 0 ||
		    (pktinfo && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO,
					   &one, sizeof(one)) < 0))
			goto err;
	} else if (pktinfo && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one,
					 sizeof(one)) < 0) {
		goto err;
	}
	/* Bigger buffers absorb bursts. Past rmem_max/wmem_max only with
	 * CAP_NET_ADMIN (the FORCE variants); otherwise capped, fine. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	/* --workers: one socket per worker on the same port, joining a
	 * reuseport group in the order of the bind() calls. */
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				    sizeof(one)) < 0)
		goto err;
	set_port(ss, *port);
	if (bind(fd, (struct sockaddr *)ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
		goto err;
	*port = ntohs(bound.ss_family == AF_INET6 ?
		      ((struct sockaddr_in6 *)&bound)->sin6_port :
		      ((struct sockaddr_in *)&bound)->sin_port);
	return fd;
err:
	ret = -errno;
	close(fd);
	return ret;
}

/*
 * One socket per relay port needs that many descriptors: raise the soft
 * limit toward the hard one if it is short, and say so if even that is
 * not enough.
 */
static int relay_fd_budget(unsigned int n)
{
	rlim_t need = (rlim_t)n + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		log_error("--relay: %u ports need %llu file descriptors, the "
			  "limit is %llu (raise it: ulimit -n, or LimitNOFILE= "
			  "for a service)", n, (unsigned long long)need,
			  (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

/* The relay's ports, on the rendezvous sockets' address and family.
 * Smaller buffers than the rendezvous ports: there may be 8192. */
static int open_relay_sockets(struct loop *l, struct sockaddr_storage *ss,
			      socklen_t len)
{
	const struct relay *r = &l->srv->relay;
	unsigned int i, n = relay_ports(r);
	uint16_t port;
	int ret;

	if (!n)
		return 0;
	ret = relay_fd_budget(n);
	if (ret < 0)
		return ret;
	l->relay_fd = malloc(n * sizeof(*l->relay_fd));
	l->relay_rx = calloc(1, sizeof(*l->relay_rx));
	if (!l->relay_fd || !l->relay_rx)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		l->relay_fd[i] = -1;
	l->relay_n = n;
	for (i = 0; i < n; i++) {
		port = (uint16_t)(r->cfg.first + i);
		ret = open_socket(ss, len, &port, 1 << 20, false);
		if (ret < 0) {
			log_error("--relay: cannot bind port %u: %s",
				  r->cfg.first + i, strerror(-ret));
			return ret;
		}
		l->relay_fd[i] = ret;
	}
	return 0;
}

/*
 * Replies on the rendezvous ports are at most 120 bytes: send them with
 * DF set. Besides being right for datagrams that never need
 * fragmenting, it spares each one the kernel's shared IP ID generator,
 * which is a good part of the cost of answering a flood. (The relay's
 * ports forward WireGuard's datagrams as they are and keep the
 * default.) Level IP works on the dual-stack socket too, for its IPv4
 * peers; failing is harmless.
 */
static void set_dont_fragment(int fd)
{
	int probe = IP_PMTUDISC_PROBE;

	if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof(probe)))
		log_debug("IP_MTU_DISCOVER: %s", strerror(errno));
}

/*
 * The steering program of a reuseport group of n workers' sockets: the
 * worker of the client key (server_worker_of: its first four bytes,
 * big-endian, modulo n). A legacy request (no key; only worker 0 answers
 * legacy clients) goes to worker 0; anything else too short to hold a
 * key gets an index past the group, which makes the kernel pick a
 * socket by the flow hash: garbage spreads over all workers.
 */
int loop_steering(struct cbpf_prog *prog, unsigned int n)
{
	struct cbpf_builder *b = cbpf_builder_new();
	int ret;

	if (!b)
		return -ENOMEM;
	cbpf_ld_len(b);
	cbpf_jmp_k(b, CBPF_COND_EQ, WGP_LEGACY_REQUEST_LEN, "first", NULL);
	cbpf_jmp_k(b, CBPF_COND_LT, SERVER_STEER_OFFSET + WGP_KEY_LEN, "any",
		   NULL);
	cbpf_ld_abs(b, CBPF_SIZE_W, SERVER_STEER_OFFSET);
	cbpf_alu_k(b, CBPF_ALU_MOD, n);
	cbpf_ret_a(b);
	cbpf_label(b, "first");
	cbpf_ret_k(b, 0);
	cbpf_label(b, "any");
	cbpf_ret_k(b, UINT32_MAX);
	ret = cbpf_builder_finish(b, prog, NULL);
	cbpf_builder_free(b);
	return ret;
}

static int attach_steering(int fd, unsigned int n)
{
	struct cbpf_prog prog;
	int ret;

	ret = loop_steering(&prog, n);
	if (ret < 0)
		return ret;
	ret = cbpf_attach_reuseport(fd, &prog);
	cbpf_prog_free(&prog);
	return ret;
}

static bool have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return errno != EAFNOSUPPORT;
	close(fd);
	return true;
}

/*
 * A group's sockets would join any SO_REUSEPORT group already on the
 * port under the same user: a second wgpunchd --workers would take over
 * the first one's steering, and both would answer wrongly. So the first
 * worker binds once without SO_REUSEPORT: -EADDRINUSE if anyone holds
 * the port, else the port (*port, chosen now if 0) is free for the
 * group.
 */
static int claim_port(struct sockaddr_storage *ss, socklen_t len,
		      uint16_t *port)
{
	int fd = open_socket(ss, len, port, 0, false);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int open_sockets(struct loop *l, const char *listen)
{
	bool group = l->workers > 1;
	struct sockaddr_storage ss;
	socklen_t len;
	int i, ret;

	ret = parse_listen(listen, &ss, &len);
	if (ret < 0)
		return ret;
	/* "::" on a host without IPv6: IPv4. */
	if (!listen && !have_ipv6())
		parse_listen("0.0.0.0", &ss, &len);
	for (i = 0; i < PORT_COUNT; i++) {
		l->port[i] = l->srv->cfg.port[i];
		if (group && l->worker == 0) {
			ret = claim_port(&ss, len, &l->port[i]);
			if (ret < 0)
				return ret;
		}
		ret = open_socket(&ss, len, &l->port[i], 8 << 20, group);
		if (ret < 0)
			return ret;
		l->fd[i] = ret;
		l->srv->cfg.port[i] = l->port[i];
		set_dont_fragment(ret);
		/* The group's program, before any other worker joins. */
		if (group && l->worker == 0) {
			ret = attach_steering(l->fd[i], l->workers);
			if (ret < 0)
				return ret;
		}
	}
	l->family = ss.ss_family;
	l->pktinfo = is_wildcard(&ss);
	return open_relay_sockets(l, &ss, len);
}

/* ---- receive ------------------------------------------------------- */

static void local_address(struct msghdr *mh, struct wgp_endpoint *local)
{
	struct cmsghdr *cm;

	memset(local, 0, sizeof(*local));
	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IPV6 &&
		    cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			sin6.sin6_addr = pi.ipi6_addr;
			wgp_endpoint_from_sockaddr(local, (void *)&sin6,
						   sizeof(sin6));
		} else if (cm->cmsg_level == IPPROTO_IP &&
			   cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			struct sockaddr_in sin = { .sin_family = AF_INET };

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			sin.sin_addr = pi.ipi_addr;
			wgp_endpoint_from_sockaddr(local, (void *)&sin,
						   sizeof(sin));
		}
	}
	local->port = 0;
}

/* Point a receive batch's headers at its buffers (buf: LOOP_BATCH
 * buffers of buflen bytes each), as recvmmsg() needs them every time. */
static void batch_prepare(struct mmsghdr *msg, struct iovec *iov,
			  struct sockaddr_in6 *from, union ctl_space *ctl,
			  uint8_t *buf, size_t buflen, bool pktinfo)
{
	unsigned int i;

	for (i = 0; i < LOOP_BATCH; i++) {
		struct msghdr *mh = &msg[i].msg_hdr;

		iov[i].iov_base = buf + i * buflen;
		iov[i].iov_len = buflen;
		mh->msg_name = &from[i];
		mh->msg_namelen = sizeof(from[i]);
		mh->msg_iov = &iov[i];
		mh->msg_iovlen = 1;
		/* Bound to one address: no control messages to look at. */
		mh->msg_control = pktinfo ? ctl[i].buf : NULL;
		mh->msg_controllen = pktinfo ? CTL_LEN : 0;
		mh->msg_flags = 0;
	}
}

static void rx_prepare(struct loop_rx *rx, bool pktinfo)
{
	batch_prepare(rx->msg, rx->iov, rx->from, rx->ctl, &rx->buf[0][0],
		      LOOP_RXBUF, pktinfo);
}

static void flush(struct outq *q, void *ctx);

/*
 * How much work no key pays for the next batch from fd may get: all of
 * it while at most an eighth of the receive buffer waits; a quarter of
 * the batch (and only for sources seen lately: handler.c) while up to
 * half waits; none beyond that, when even that quarter would keep the
 * queue growing. Only asked after a full batch; a short one means the
 * queue was just emptied.
 */
static void set_behind(struct server *srv, int fd, int n)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);
	uint32_t queued, size;

	srv->behind = false;
	srv->unpaid_left = LOOP_BATCH;
	if (n < LOOP_BATCH ||
	    getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 ||
	    len < sizeof(mem))
		return;
	queued = mem[SK_MEMINFO_RMEM_ALLOC];
	size = mem[SK_MEMINFO_RCVBUF];
	if (queued <= size / 8)
		return;
	srv->behind = true;
	srv->unpaid_left = queued <= size / 2 ? LOOP_BATCH / 4 : 0;
}

/* Drain up to a few batches from one socket; level-triggered epoll
 * brings us back for the rest, so both ports get their turn. */
static int receive(struct loop *l, enum server_port port)
{
	struct loop_rx *rx = l->rx;
	struct rx_info info;
	uint64_t now, now_ns;
	int n, i, round;

	for (round = 0; round < 8; round++) {
		rx_prepare(rx, l->pktinfo);
		n = recvmmsg(l->fd[port], rx->msg, LOOP_BATCH, MSG_DONTWAIT,
			     NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* e.g. ECONNREFUSED from an ICMP error: not fatal */
			log_debug("recvmmsg: %s", strerror(errno));
			break;
		}
		now = wgp_mono_ms();
		now_ns = wgp_now_ns();
		set_behind(l->srv, l->fd[port], n);
		for (i = 0; i < n; i++) {
			struct msghdr *mh = &rx->msg[i].msg_hdr;

			if (mh->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
				l->srv->st.bad++;
				continue;
			}
			if (wgp_endpoint_from_sockaddr(&info.src,
					mh->msg_name, mh->msg_namelen) < 0)
				continue;
			local_address(mh, &info.local);
			info.pkt = rx->buf[i];
			info.len = rx->msg[i].msg_len;
			info.port = port;
			server_handle(l->srv, &info, now, now_ns, &l->q);
		}
		flush(&l->q, l);
		if (n < LOOP_BATCH)
			break;
	}
	/* What the batches gave the Redis thread to write: one wake-up. */
	if (l->srv->store)
		store_kick(l->srv->store, l->srv->store_w);
	return 0;
}

/* NOTIFYs other servers asked this worker to send (--registry). */
static void store_input(struct loop *l)
{
	struct store *st = l->srv->store;
	unsigned int w = l->srv->store_w;
	const struct store_msg *m;
	uint64_t now = wgp_mono_ms(), now_ns = wgp_now_ns(), v;

	if (read(st->w[w].in_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("registry eventfd: %s", strerror(errno));
	while ((m = store_next_notify(st, w))) {
		server_store_notify(l->srv, m, now, now_ns, &l->q);
		store_release(st, w);
	}
	flush(&l->q, l);
}

/* ---- send ---------------------------------------------------------- */

static socklen_t tx_address(const struct loop *l, const struct wgp_endpoint *ep,
			    struct sockaddr_storage *ss)
{
	struct wgp_endpoint mapped;

	if (l->family == AF_INET6 && ep->family == AF_INET) {
		/* ::ffff:a.b.c.d through the dual-stack socket. */
		memset(&mapped, 0, sizeof(mapped));
		mapped.family = AF_INET6;
		mapped.port = ep->port;
		mapped.addr[10] = mapped.addr[11] = 0xff;
		memcpy(mapped.addr + 12, ep->addr, 4);
		ep = &mapped;
	} else if (l->family == AF_INET && ep->family != AF_INET) {
		return 0;
	}
	return wgp_endpoint_to_sockaddr(ep, ss);
}

static size_t tx_control(const struct loop *l, const struct wgp_endpoint *src,
			 char *buf)
{
	struct cmsghdr *cm = (struct cmsghdr *)buf;

	if (!src->family || !l->pktinfo)
		return 0;
	if (l->family == AF_INET6) {
		struct in6_pktinfo pi = { 0 };

		if (src->family == AF_INET) {
			pi.ipi6_addr.s6_addr[10] = 0xff;
			pi.ipi6_addr.s6_addr[11] = 0xff;
			memcpy(pi.ipi6_addr.s6_addr + 12, src->addr, 4);
		} else {
			memcpy(pi.ipi6_addr.s6_addr, src->addr, 16);
		}
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	if (src->family != AF_INET)
		return 0;
	{
		struct in_pktinfo pi = { 0 };

		memcpy(&pi.ipi_spec_dst, src->addr, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
}

/* sendmmsg msg[0..k) on fd; count in *dropped what the kernel refuses
 * (a full buffer drops the rest: UDP). */
static void send_batch(int fd, struct mmsghdr *msg, unsigned int k,
		       uint64_t *dropped)
{
	unsigned int done;
	int ret;

	for (done = 0; done < k;) {
		ret = sendmmsg(fd, msg + done, k - done, MSG_DONTWAIT);
		if (ret > 0) {
			done += (unsigned int)ret;
			continue;
		}
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			*dropped += k - done;
			return;
		}
		/* This one datagram is refused (unreachable, bad source
		 * address...): skip it, keep the rest. */
		log_debug("sendmmsg: %s", strerror(errno));
		(*dropped)++;
		done++;
	}
}

/* Send msgs[0..n) (all for one port); drop what the kernel refuses. */
static void send_run(struct loop *l, enum server_port port,
		     struct out_msg **msgs, unsigned int n)
{
	struct loop_tx *tx = l->tx;
	unsigned int i, k = 0;

	for (i = 0; i < n; i++) {
		struct msghdr *mh = &tx->msg[k].msg_hdr;
		socklen_t alen = tx_address(l, &msgs[i]->dst, &tx->to[k]);

		if (!alen) {
			l->srv->st.tx_dropped++;
			continue;
		}
		memset(mh, 0, sizeof(*mh));
		tx->iov[k].iov_base = msgs[i]->buf;
		tx->iov[k].iov_len = msgs[i]->len;
		mh->msg_name = &tx->to[k];
		mh->msg_namelen = alen;
		mh->msg_iov = &tx->iov[k];
		mh->msg_iovlen = 1;
		mh->msg_controllen = tx_control(l, &msgs[i]->src,
						tx->ctl[k].buf);
		mh->msg_control = mh->msg_controllen ? tx->ctl[k].buf : NULL;
		k++;
	}
	send_batch(l->fd[port], tx->msg, k, &l->srv->st.tx_dropped);
}

static void flush(struct outq *q, void *ctx)
{
	struct loop *l = ctx;
	struct out_msg *run[LOOP_BATCH];
	unsigned int i, n = 0;
	enum server_port port = PORT_MAIN;

	for (i = 0; i < q->n; i++) {
		if (n && (q->msgs[i].port != port || n == LOOP_BATCH)) {
			send_run(l, port, run, n);
			n = 0;
		}
		port = q->msgs[i].port;
		run[n++] = &q->msgs[i];
	}
	if (n)
		send_run(l, port, run, n);
	q->n = 0;
}

/* ---- relay data path ---------------------------------------------- */

static void relay_rx_prepare(struct loop_relay_rx *rx, bool pktinfo)
{
	batch_prepare(rx->msg, rx->iov, rx->from, rx->ctl, &rx->buf[0][0],
		      LOOP_RELAY_RXBUF, pktinfo);
}

/* Queue datagram i of the batch for dst (from src) as send slot k:
 * the payload is not copied, the iovec points at the receive buffer. */
static bool relay_tx_add(struct loop *l, unsigned int k, struct iovec *iov,
			 const struct relay_route *route)
{
	struct loop_tx *tx = l->tx;
	struct msghdr *mh = &tx->msg[k].msg_hdr;
	socklen_t alen = tx_address(l, &route->dst, &tx->to[k]);

	if (!alen)
		return false;
	tx->iov[k] = *iov;
	mh->msg_name = &tx->to[k];
	mh->msg_namelen = alen;
	mh->msg_iov = &tx->iov[k];
	mh->msg_iovlen = 1;
	mh->msg_controllen = tx_control(l, &route->src, tx->ctl[k].buf);
	mh->msg_control = mh->msg_controllen ? tx->ctl[k].buf : NULL;
	mh->msg_flags = 0;
	return true;
}

/*
 * A relay port is readable: decide each datagram of a batch
 * (relay_input) and send the forwarded ones, all at once, from the
 * partner port (every datagram received on a port leaves from the same
 * partner). The local address is read only for binds: it is what the
 * side's forwards will leave from.
 */
static void relay_receive(struct loop *l, unsigned int idx)
{
	struct loop_relay_rx *rx = l->relay_rx;
	struct relay *r = &l->srv->relay;
	struct wgp_endpoint src, local = { 0 };
	struct relay_route route = { .out = idx ^ 1 };
	unsigned int k;
	uint64_t now;
	int n, i, round;

	for (round = 0; round < 8; round++) {
		relay_rx_prepare(rx, l->pktinfo);
		n = recvmmsg(l->relay_fd[idx], rx->msg, LOOP_BATCH,
			     MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("recvmmsg: %s", strerror(errno));
			break;
		}
		now = wgp_mono_ms();
		for (i = 0, k = 0; i < n; i++) {
			struct msghdr *mh = &rx->msg[i].msg_hdr;
			size_t len = rx->msg[i].msg_len;

			if (mh->msg_flags & MSG_TRUNC ||
			    wgp_endpoint_from_sockaddr(&src, mh->msg_name,
						       mh->msg_namelen) < 0)
				continue;
			if (l->pktinfo && relay_bind_shaped(rx->buf[i], len))
				local_address(mh, &local);
			if (relay_input(r, idx, &src, &local, rx->buf[i], len,
					now, &route) != RELAY_FORWARD)
				continue;
			rx->iov[i].iov_len = len;
			if (relay_tx_add(l, k, &rx->iov[i], &route))
				k++;
			else
				r->st.tx_dropped++;
		}
		/* route.out is the same for every datagram of the port. */
		if (k)
			send_batch(l->relay_fd[route.out], l->tx->msg, k,
				   &r->st.tx_dropped);
		if (n < LOOP_BATCH)
			break;
	}
}

/* ---- setup and run -------------------------------------------------- */

static int epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Relay port i is tagged TAG_RELAY + i. */
enum {
	TAG_MAIN = PORT_MAIN,
	TAG_PROBE = PORT_PROBE,
	TAG_TIMER,
	TAG_STOP,
	TAG_FAILED,
	TAG_WATCH,
	TAG_STORE,
	TAG_RELAY = 16,
};

static int epoll_add_store(struct loop *l)
{
	const struct server *srv = l->srv;

	if (!srv->store)
		return 0;
	return epoll_add(l->epfd, srv->store->w[srv->store_w].in_fd,
			 TAG_STORE);
}

static int epoll_add_relay(struct loop *l)
{
	unsigned int i;
	int ret;

	for (i = 0; i < l->relay_n; i++) {
		ret = epoll_add(l->epfd, l->relay_fd[i], TAG_RELAY + i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int loop_init(struct loop *l, struct server *srv, const char *listen)
{
	return loop_init_worker(l, srv, listen, 0, 1);
}

int loop_init_worker(struct loop *l, struct server *srv, const char *listen,
		     unsigned int worker, unsigned int workers)
{
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };
	int ret;

	memset(l, 0, sizeof(*l));
	l->srv = srv;
	l->worker = worker;
	l->workers = workers;
	l->fd[PORT_MAIN] = l->fd[PORT_PROBE] = -1;
	l->epfd = l->timerfd = -1;
	l->rx = calloc(1, sizeof(*l->rx));
	l->tx = calloc(1, sizeof(*l->tx));
	l->q.msgs = calloc(LOOP_OUTQ, sizeof(*l->q.msgs));
	if (!l->rx || !l->tx || !l->q.msgs) {
		ret = -ENOMEM;
		goto err;
	}
	l->q.cap = LOOP_OUTQ;
	l->q.flush = flush;
	l->q.ctx = l;
	ret = open_sockets(l, listen);
	if (ret < 0)
		goto err;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->timerfd = timerfd_create(CLOCK_MONOTONIC,
				    TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->epfd < 0 || l->timerfd < 0 ||
	    timerfd_settime(l->timerfd, 0, &its, NULL) < 0) {
		ret = -errno;
		goto err;
	}
	if ((ret = epoll_add(l->epfd, l->fd[PORT_MAIN], TAG_MAIN)) < 0 ||
	    (ret = epoll_add(l->epfd, l->fd[PORT_PROBE], TAG_PROBE)) < 0 ||
	    (ret = epoll_add(l->epfd, l->timerfd, TAG_TIMER)) < 0 ||
	    (ret = epoll_add_store(l)) < 0 ||
	    (ret = epoll_add_relay(l)) < 0)
		goto err;
	return 0;
err:
	loop_free(l);
	return ret;
}

void loop_log_group(struct loop *l, const struct server *const *group,
		    unsigned int n)
{
	l->group = group;
	l->group_n = n;
}

/* ---- another module's descriptor (metrics) --------------------------- */

int loop_watch(struct loop *l, int fd, void (*run)(void *ctx), void *ctx)
{
	int ret;

	if (l->watch_run)
		return -EBUSY;
	ret = epoll_add(l->epfd, fd, TAG_WATCH);
	if (ret < 0)
		return ret;
	l->watch_run = run;
	l->watch_ctx = ctx;
	return 0;
}

static void watch_run(struct loop *l)
{
	if (l->watch_run)
		l->watch_run(l->watch_ctx);
}

static void log_relay_stats(const struct server *srv)
{
	const struct relay_stats *s = &srv->relay.st;

	log_info("relay: %u of %u allocations live, requests %llu, "
		 "grants %llu (new %llu), full %llu, expired %llu, "
		 "binds ok %llu bad %llu, forwarded %llu packets %llu bytes, "
		 "dropped: unbound source %llu, peer unbound %llu, "
		 "rate %llu, bind rate %llu, no allocation %llu, tx %llu",
		 srv->relay.live, srv->relay.n_allocs,
		 (unsigned long long)srv->st.relays,
		 (unsigned long long)s->grants, (unsigned long long)s->created,
		 (unsigned long long)s->full, (unsigned long long)s->expired,
		 (unsigned long long)s->binds_ok,
		 (unsigned long long)s->binds_bad,
		 (unsigned long long)s->fwd_packets,
		 (unsigned long long)s->fwd_bytes,
		 (unsigned long long)s->drop_unbound,
		 (unsigned long long)s->drop_peer_unbound,
		 (unsigned long long)s->drop_rate,
		 (unsigned long long)s->drop_bind_rate,
		 (unsigned long long)s->drop_free,
		 (unsigned long long)s->tx_dropped);
}

/* --registry: the Redis thread's counters and state, read while it
 * runs (each current to within one of its rounds). */
SERVER_RACY_READER
static void log_store_stats(const struct store *st)
{
	struct store_stats s;

	store_stats_read(st, &s);
	log_info("registry: %s, %u cached, written %llu, dropped %llu, "
		 "received %llu (cache full %llu), notify out %llu in %llu, "
		 "bad %llu, connections %llu",
		 st->state == STORE_UP ? "connected" : "NOT connected",
		 st->cache.live, (unsigned long long)s.written,
		 (unsigned long long)s.dropped, (unsigned long long)s.cached,
		 (unsigned long long)s.cache_full,
		 (unsigned long long)s.notify_out,
		 (unsigned long long)s.notify_in, (unsigned long long)s.bad,
		 (unsigned long long)s.connects);
}

/*
 * The counters: this loop's server's, or with loop_log_group() the sum
 * over the group (read while the other workers run: each counter is
 * current to within a batch).
 */
SERVER_RACY_READER
static void log_stats(const struct loop *l)
{
	const struct server *srv = l->srv;
	struct server_stats sum = { 0 };
	const struct server_stats *s = &srv->st;
	uint32_t live = srv->reg.live;
	unsigned int i;

	/* In a group, worker 0 speaks for all. */
	if (l->workers > 1 && !l->group)
		return;
	if (l->group) {
		live = 0;
		for (i = 0; i < l->group_n; i++) {
			server_stats_add(&sum, &l->group[i]->st);
			live += l->group[i]->reg.live;
		}
		s = &sum;
	}
	log_info("stats: %u registered, rx %llu, bad %llu, rate-limited %llu "
		 "(by source), %llu (by key), %llu (notify), "
		 "forged %llu, dh %llu (dropped %llu), cookies %llu "
		 "(proven %llu), shed %llu, register %llu, "
		 "lookup %llu, probe %llu, notify %llu, error %llu, "
		 "legacy %llu, tx dropped %llu",
		 live, (unsigned long long)s->rx,
		 (unsigned long long)s->bad, (unsigned long long)s->ratelimited,
		 (unsigned long long)s->key_limited,
		 (unsigned long long)s->notify_limited,
		 (unsigned long long)s->forged, (unsigned long long)s->dh,
		 (unsigned long long)s->dh_dropped,
		 (unsigned long long)s->cookies,
		 (unsigned long long)s->cookie_ok,
		 (unsigned long long)s->shed,
		 (unsigned long long)s->registers,
		 (unsigned long long)s->lookups, (unsigned long long)s->probes,
		 (unsigned long long)s->notifies, (unsigned long long)s->errors,
		 (unsigned long long)s->legacy,
		 (unsigned long long)s->tx_dropped);
	if (relay_enabled(&srv->relay))
		log_relay_stats(srv);
	if (srv->store)
		log_store_stats(srv->store);
}

/* The stop descriptor became readable: true to stop. A signalfd is
 * read, so SIGHUP (which systemd and terminals send, and operators use
 * to mean "reload") can be logged and survived; there is nothing to
 * reload, the settings come from the command line. */
static bool stop_now(struct loop *l, int stop_fd, bool is_signalfd)
{
	struct signalfd_siginfo si;
	bool stop = false;

	if (!is_signalfd)
		return true;
	while (read(stop_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo != SIGHUP) {
			stop = true;
			continue;
		}
		log_info("SIGHUP: nothing to reload (restart to change "
			 "settings); counters follow");
		log_stats(l);
	}
	return stop;
}

static int run(struct loop *l, int stop_fd, bool is_signalfd)
{
	struct epoll_event ev[64];
	unsigned int ticks = 0;
	uint64_t expirations;
	int n, i, ret;

	ret = epoll_add(l->epfd, stop_fd, TAG_STOP);
	if (ret < 0)
		return ret;
	for (;;) {
		n = epoll_wait(l->epfd, ev, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 >= TAG_RELAY) {
				relay_receive(l, (unsigned int)
					      (ev[i].data.u64 - TAG_RELAY));
				continue;
			}
			switch (ev[i].data.u64) {
			case TAG_MAIN:
			case TAG_PROBE:
				receive(l, (enum server_port)ev[i].data.u64);
				break;
			case TAG_TIMER:
				if (read(l->timerfd, &expirations,
					 sizeof(expirations)) < 0)
					break;
				server_tick(l->srv, wgp_mono_ms());
				if (++ticks % 300 == 0)
					log_stats(l);
				watch_run(l);
				break;
			case TAG_WATCH:
				watch_run(l);
				break;
			case TAG_STORE:
				store_input(l);
				break;
			case TAG_FAILED:
				ret = -ECANCELED;
				goto out;
			case TAG_STOP:
				if (!stop_now(l, stop_fd, is_signalfd))
					break;
				ret = 0;
				goto out;
			}
		}
	}
out:
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
	log_stats(l);
	return ret;
}

int loop_stop_on(struct loop *l, int fd)
{
	return epoll_add(l->epfd, fd, TAG_FAILED);
}

int loop_run(struct loop *l, int stop_fd)
{
	return run(l, stop_fd, false);
}

int loop_run_signals(struct loop *l, int sigfd)
{
	return run(l, sigfd, true);
}

void loop_free(struct loop *l)
{
	int i;

	for (i = 0; i < PORT_COUNT; i++)
		if (l->fd[i] >= 0)
			close(l->fd[i]);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->timerfd >= 0)
		close(l->timerfd);
	for (i = 0; l->relay_fd && i < (int)l->relay_n; i++)
		if (l->relay_fd[i] >= 0)
			close(l->relay_fd[i]);
	free(l->relay_fd);
	free(l->relay_rx);
	free(l->rx);
	free(l->tx);
	free(l->q.msgs);
	memset(l, 0, sizeof(*l));
	l->fd[PORT_MAIN] = l->fd[PORT_PROBE] = l->epfd = l->timerfd = -1;
}
