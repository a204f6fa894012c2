// SPDX-License-Identifier: MIT
/*
 * The kernel back-end: generic netlink family "wireguard" through libmnl,
 * laid out like wireguard-tools' ipc-linux.h (resolve the family, dump
 * the device, set one peer). Message building and parsing are separate
 * functions over buffers; only the last part of this file touches a
 * socket. Every receive has a timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <linux/genetlink.h>
#include <libmnl/libmnl.h>
#include "endpoint.h"
#include "wg_netlink.h"

#define NL_TIMEOUT_SEC 5
#define NL_RECV_SIZE 32768

/* struct __kernel_timespec: the WGPEER_A_LAST_HANDSHAKE_TIME payload. */
struct nl_timespec {
	int64_t tv_sec;
	int64_t tv_nsec;
};

static struct nlmsghdr *genl_start(void *buf, size_t size, uint16_t type,
				   uint16_t flags, uint32_t seq, uint8_t cmd,
				   uint8_t version)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	if (size < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*genl)))
		return NULL;
	memset(buf, 0, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*genl)));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = version;
	return nlh;
}

struct nlmsghdr *wgnl_build_getfamily(void *buf, size_t size, uint32_t seq)
{
	struct nlmsghdr *nlh = genl_start(buf, size, GENL_ID_CTRL,
					  NLM_F_REQUEST | NLM_F_ACK, seq,
					  CTRL_CMD_GETFAMILY, 1);

	if (!nlh || !mnl_attr_put_strz_check(nlh, size, CTRL_ATTR_FAMILY_NAME,
					     WG_GENL_NAME))
		return NULL;
	return nlh;
}

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	int *id = data;

	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID) {
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return MNL_CB_ERROR;
		*id = mnl_attr_get_u16(attr);
	}
	return MNL_CB_OK;
}

int wgnl_parse_family(const struct nlmsghdr *nlh)
{
	int id = -ENOENT;

	if (nlh->nlmsg_type != GENL_ID_CTRL ||
	    mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb,
			   &id) != MNL_CB_OK)
		return -EBADMSG;
	return id;
}

struct nlmsghdr *wgnl_build_get_device(void *buf, size_t size,
				       uint16_t family, uint32_t seq,
				       const char *ifname)
{
	struct nlmsghdr *nlh = genl_start(buf, size, family,
					  NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP,
					  seq, WG_CMD_GET_DEVICE,
					  WG_GENL_VERSION);

	if (!nlh || !mnl_attr_put_strz_check(nlh, size, WGDEVICE_A_IFNAME, ifname))
		return NULL;
	return nlh;
}

struct nlmsghdr *wgnl_build_set_peer(void *buf, size_t size,
				     uint16_t family, uint32_t seq,
				     const char *ifname,
				     const uint8_t key[static WG_KEY_LEN],
				     const struct sockaddr *endpoint,
				     uint16_t keepalive)
{
	socklen_t eplen = endpoint_len(endpoint);
	struct nlattr *peers, *peer;
	struct nlmsghdr *nlh;

	if (!eplen)
		return NULL;
	nlh = genl_start(buf, size, family, NLM_F_REQUEST | NLM_F_ACK, seq,
			 WG_CMD_SET_DEVICE, WG_GENL_VERSION);
	if (!nlh || !mnl_attr_put_strz_check(nlh, size, WGDEVICE_A_IFNAME, ifname))
		return NULL;
	peers = mnl_attr_nest_start_check(nlh, size, WGDEVICE_A_PEERS);
	if (!peers)
		return NULL;
	peer = mnl_attr_nest_start_check(nlh, size, 0);
	if (!peer ||
	    !mnl_attr_put_check(nlh, size, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key) ||
	    /* Never create a peer the user removed meanwhile. */
	    !mnl_attr_put_u32_check(nlh, size, WGPEER_A_FLAGS,
				    WGPEER_F_UPDATE_ONLY) ||
	    !mnl_attr_put_check(nlh, size, WGPEER_A_ENDPOINT, eplen, endpoint) ||
	    !mnl_attr_put_u16_check(nlh, size,
				    WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
				    keepalive))
		return NULL;
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	return nlh;
}

/* Parsing a dump. */

/*
 * libmnl's iterators stop quietly at an attribute that does not fit;
 * a reply cut short must not pass for a complete one, so walk the
 * attributes ourselves and require them to fill the payload exactly.
 */
static int walk_attrs(const void *start, size_t len, mnl_attr_cb_t cb,
		      void *data)
{
	const struct nlattr *attr = start;
	int ret;

	while (mnl_attr_ok(attr, (int)len)) {
		size_t step = MNL_ALIGN(attr->nla_len);

		ret = cb(attr, data);
		if (ret <= MNL_CB_STOP)
			return ret;
		if (step >= len) {
			len = 0;
			break;
		}
		len -= step;
		attr = (const struct nlattr *)((const char *)attr + step);
	}
	return len ? MNL_CB_ERROR : MNL_CB_OK;
}

static int walk_nested(const struct nlattr *nest, mnl_attr_cb_t cb, void *data)
{
	return walk_attrs(mnl_attr_get_payload(nest),
			  mnl_attr_get_payload_len(nest), cb, data);
}

struct parse_ctx {
	struct wg_device *dev;
	struct wg_peer *peer;
	int err;
};

static int fail(struct parse_ctx *ctx, int err)
{
	ctx->err = err;
	return MNL_CB_ERROR;
}

static int parse_endpoint(const struct nlattr *attr, struct wg_peer *peer)
{
	uint16_t len = mnl_attr_get_payload_len(attr);
	const struct sockaddr *sa = mnl_attr_get_payload(attr);
	sa_family_t family;

	if (len < sizeof(family))
		return -EBADMSG;
	memcpy(&family, sa, sizeof(family));
	if ((family == AF_INET && len == sizeof(struct sockaddr_in)) ||
	    (family == AF_INET6 && len == sizeof(struct sockaddr_in6))) {
		memset(&peer->endpoint, 0, sizeof(peer->endpoint));
		memcpy(&peer->endpoint, sa, len);
		return 0;
	}
	return -EBADMSG;
}

static int parse_handshake(const struct nlattr *attr, struct wg_peer *peer)
{
	struct nl_timespec ts;

	if (mnl_attr_get_payload_len(attr) != sizeof(ts))
		return -EBADMSG;
	memcpy(&ts, mnl_attr_get_payload(attr), sizeof(ts));
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec > 999999999)
		return -EBADMSG;
	peer->last_handshake.tv_sec = (time_t)ts.tv_sec;
	peer->last_handshake.tv_nsec = (long)ts.tv_nsec;
	return 0;
}

/* Attributes of one peer after its public key. */
static int peer_attr_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *ctx = data;
	struct wg_peer *peer = ctx->peer;
	int ret = 0;

	switch (mnl_attr_get_type(attr)) {
	case WGPEER_A_ENDPOINT:
		ret = parse_endpoint(attr, peer);
		break;
	case WGPEER_A_LAST_HANDSHAKE_TIME:
		ret = parse_handshake(attr, peer);
		break;
	case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			ret = -EBADMSG;
		else
			peer->persistent_keepalive = mnl_attr_get_u16(attr);
		break;
	}
	return ret ? fail(ctx, ret) : MNL_CB_OK;
}

static int peer_key_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **key = data;

	if (mnl_attr_get_type(attr) == WGPEER_A_PUBLIC_KEY)
		*key = attr;
	return MNL_CB_OK;
}

static int peer_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *ctx = data;
	struct wg_device *dev = ctx->dev;
	const struct nlattr *key = NULL;
	const uint8_t *k;

	/* The key first, whatever the attribute order: it says which
	 * peer the other attributes belong to. */
	if (walk_nested(attr, peer_key_cb, &key) != MNL_CB_OK ||
	    !key || mnl_attr_get_payload_len(key) != WG_KEY_LEN)
		return fail(ctx, -EBADMSG);
	k = mnl_attr_get_payload(key);
	if (dev->num_peers &&
	    !memcmp(dev->peers[dev->num_peers - 1].public_key, k, WG_KEY_LEN)) {
		ctx->peer = &dev->peers[dev->num_peers - 1];
	} else {
		ctx->peer = wg_add_peer(dev);
		if (!ctx->peer)
			return fail(ctx, -errno);
		memcpy(ctx->peer->public_key, k, WG_KEY_LEN);
	}
	if (walk_nested(attr, peer_attr_cb, ctx) != MNL_CB_OK)
		return fail(ctx, ctx->err ? ctx->err : -EBADMSG);
	return MNL_CB_OK;
}

static int parse_key(const struct nlattr *attr, uint8_t key[static WG_KEY_LEN],
		     bool *has)
{
	if (mnl_attr_get_payload_len(attr) != WG_KEY_LEN)
		return -EBADMSG;
	memcpy(key, mnl_attr_get_payload(attr), WG_KEY_LEN);
	*has = true;
	return 0;
}

static int device_attr_cb(const struct nlattr *attr, void *data)
{
	struct parse_ctx *ctx = data;
	struct wg_device *dev = ctx->dev;
	int ret = 0;

	switch (mnl_attr_get_type(attr)) {
	case WGDEVICE_A_PRIVATE_KEY:
		ret = parse_key(attr, dev->private_key, &dev->has_private_key);
		break;
	case WGDEVICE_A_PUBLIC_KEY:
		ret = parse_key(attr, dev->public_key, &dev->has_public_key);
		break;
	case WGDEVICE_A_LISTEN_PORT:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
			return fail(ctx, -EBADMSG);
		dev->listen_port = mnl_attr_get_u16(attr);
		break;
	case WGDEVICE_A_FWMARK:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return fail(ctx, -EBADMSG);
		dev->fwmark = mnl_attr_get_u32(attr);
		break;
	case WGDEVICE_A_PEERS:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return fail(ctx, -EBADMSG);
		if (walk_nested(attr, peer_cb, ctx) != MNL_CB_OK)
			return fail(ctx, ctx->err ? ctx->err : -EBADMSG);
		break;
	}
	return ret ? fail(ctx, ret) : MNL_CB_OK;
}

int wgnl_parse_device(const struct nlmsghdr *nlh, struct wg_device *dev)
{
	struct parse_ctx ctx = { .dev = dev };

	size_t off = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct genlmsghdr));

	if (nlh->nlmsg_len < off)
		return -EBADMSG;
	if (walk_attrs((const char *)nlh + off, nlh->nlmsg_len - off,
		       device_attr_cb, &ctx) != MNL_CB_OK)
		return ctx.err ? ctx.err : -EBADMSG;
	return 0;
}

/* The socket. */

struct nl_conn {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

static int conn_open(struct nl_conn *c)
{
	struct timeval tv = { .tv_sec = NL_TIMEOUT_SEC };

	c->nl = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!c->nl)
		return -errno;
	if (setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		       sizeof(tv)) ||
	    mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int ret = -errno;

		mnl_socket_close(c->nl);
		return ret;
	}
	c->portid = mnl_socket_get_portid(c->nl);
	c->seq = (uint32_t)time(NULL);
	return 0;
}

typedef int (*reply_fn)(const struct nlmsghdr *nlh, void *arg);

struct reply_ctx {
	reply_fn fn;
	void *arg;
	int err;
};

static int reply_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reply_ctx *r = data;
	int ret = r->fn ? r->fn(nlh, r->arg) : 0;

	if (ret < 0) {
		r->err = ret;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

/* Send nlh and feed every reply message to fn until the ACK or DONE. */
static int transact(struct nl_conn *c, struct nlmsghdr *nlh, reply_fn fn,
		    void *arg)
{
	/* Large enough for any dump message (the kernel makes them at
	 * most a page, or 8 KiB); static to keep it off the stack. */
	static char buf[NL_RECV_SIZE];
	struct reply_ctx r = { .fn = fn, .arg = arg };
	uint32_t seq = nlh->nlmsg_seq;
	int ret;

	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		/* A dump of many peers is many messages: between them, a
		 * SIGTERM or the deadline ends it. */
		ssize_t n = wg_limits_check();

		if (n < 0)
			return (int)n;
		n = mnl_socket_recvfrom(c->nl, buf, sizeof(buf));
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, c->portid, reply_cb, &r);
	} while (ret == MNL_CB_OK);
	if (ret == MNL_CB_ERROR)
		return r.err ? r.err : -errno;
	return 0;
}

static int family_reply(const struct nlmsghdr *nlh, void *arg)
{
	int *id = arg, ret = wgnl_parse_family(nlh);

	if (ret < 0)
		return ret;
	*id = ret;
	return 0;
}

static int resolve_family(struct nl_conn *c, uint16_t *family)
{
	char buf[256];
	struct nlmsghdr *nlh = wgnl_build_getfamily(buf, sizeof(buf), ++c->seq);
	int id = -1, ret;

	if (!nlh)
		return -ENOSPC;
	ret = transact(c, nlh, family_reply, &id);
	/* No such family: the module is not loaded, so no such device. */
	if (ret == -ENOENT)
		return -ENODEV;
	if (ret)
		return ret;
	if (id < 0)
		return -EPROTO;
	*family = (uint16_t)id;
	return 0;
}

static int device_reply(const struct nlmsghdr *nlh, void *arg)
{
	return wgnl_parse_device(nlh, arg);
}

int wg_netlink_get_device(const char *name, struct wg_device *dev)
{
	char buf[256];
	struct nl_conn c;
	struct nlmsghdr *nlh;
	uint16_t family;
	int ret;

	ret = conn_open(&c);
	if (ret)
		return ret;
	memset(dev, 0, sizeof(*dev));
	ret = resolve_family(&c, &family);
	if (!ret) {
		nlh = wgnl_build_get_device(buf, sizeof(buf), family, ++c.seq, name);
		ret = nlh ? transact(&c, nlh, device_reply, dev) : -ENOSPC;
	}
	mnl_socket_close(c.nl);
	return wg_device_finish(dev, name, ret);
}

int wg_netlink_set_peer_endpoint(const char *name,
				 const uint8_t key[static WG_KEY_LEN],
				 const struct sockaddr *endpoint,
				 uint16_t keepalive)
{
	char buf[512];
	struct nl_conn c;
	struct nlmsghdr *nlh;
	uint16_t family;
	int ret;

	ret = conn_open(&c);
	if (ret)
		return ret;
	ret = resolve_family(&c, &family);
	if (!ret) {
		nlh = wgnl_build_set_peer(buf, sizeof(buf), family, ++c.seq, name,
					  key, endpoint, keepalive);
		ret = nlh ? transact(&c, nlh, NULL, NULL) : -ENOSPC;
	}
	mnl_socket_close(c.nl);
	return ret;
}
