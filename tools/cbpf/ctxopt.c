// SPDX-License-Identifier: MIT
/* The options that describe the hook a packet is filtered at. */
#include <stdint.h>
#include <string.h>

#include "ctxopt.h"
#include "util.h"

void ctx_options_init(struct ctx_options *o)
{
	*o = (struct ctx_options){ .ctx = cbpf_ctx_unix() };
}

static uint32_t fixed_random(void *arg)
{
	return *(const uint32_t *)arg;
}

/* Largest value of each option, indexed by opt - CTX_OPT_FIRST. */
static const uint64_t option_max[] = {
	[CTX_OPT_IFINDEX - CTX_OPT_FIRST] = UINT32_MAX,
	[CTX_OPT_HATYPE - CTX_OPT_FIRST] = UINT16_MAX,
	[CTX_OPT_PROTOCOL - CTX_OPT_FIRST] = UINT16_MAX,
	[CTX_OPT_PKTTYPE - CTX_OPT_FIRST] = 7,	/* skb->pkt_type is 3 bits */
	[CTX_OPT_MARK - CTX_OPT_FIRST] = UINT32_MAX,
	[CTX_OPT_QUEUE - CTX_OPT_FIRST] = UINT16_MAX,
	[CTX_OPT_RXHASH - CTX_OPT_FIRST] = UINT32_MAX,
	[CTX_OPT_CPU - CTX_OPT_FIRST] = UINT32_MAX,
	[CTX_OPT_VLAN_TCI - CTX_OPT_FIRST] = UINT16_MAX,
	[CTX_OPT_VLAN_TPID - CTX_OPT_FIRST] = UINT16_MAX,
	[CTX_OPT_PAY_OFFSET - CTX_OPT_FIRST] = UINT32_MAX,
	[CTX_OPT_NET_OFF - CTX_OPT_FIRST] = INT32_MAX,
	[CTX_OPT_LL_OFF - CTX_OPT_FIRST] = INT32_MAX,
	[CTX_OPT_RANDOM - CTX_OPT_FIRST] = UINT32_MAX,
	[CTX_OPT_HEADROOM - CTX_OPT_FIRST] = UINT16_MAX,
};

static const char *option_name(int opt)
{
	static const struct option names[] = { CTX_LONG_OPTIONS };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].val == opt)
			return names[i].name;
	return "?";
}

/* --net-off/--ll-off: "none", or an offset from the first byte the
 * filter sees, negative when the header lies in the --headroom. */
static bool parse_header_offset(const char *arg, uint64_t *v)
{
	uint64_t magnitude;

	if (!strcmp(arg, "none")) {
		*v = (uint64_t)(int64_t)CBPF_NO_HEADER;
		return true;
	}
	if (arg[0] != '-')
		return parse_number(arg, INT32_MAX, v);
	if (!parse_number(arg + 1, UINT16_MAX, &magnitude))
		return false;
	*v = (uint64_t)-(int64_t)magnitude;
	return true;
}

bool ctx_option(struct ctx_options *o, int opt, const char *arg)
{
	struct cbpf_ctx *c = &o->ctx;
	uint64_t max = option_max[opt - CTX_OPT_FIRST], v;

	if (opt == CTX_OPT_NET_OFF || opt == CTX_OPT_LL_OFF) {
		if (!parse_header_offset(arg, &v)) {
			errorf("--%s: '%s' is not 'none' or an offset from "
			       "-65535 to %d", option_name(opt), arg, INT32_MAX);
			return false;
		}
	} else if (!parse_number(arg, max, &v)) {
		errorf("--%s: '%s' is not a number from 0 to %llu",
		       option_name(opt), arg, (unsigned long long)max);
		return false;
	}
	o->changed = true;
	switch (opt) {
	case CTX_OPT_IFINDEX:
		c->has_dev = true;
		c->ifindex = (uint32_t)v;
		break;
	case CTX_OPT_HATYPE:
		c->has_dev = true;
		c->hatype = (uint16_t)v;
		break;
	case CTX_OPT_PROTOCOL:
		c->protocol = (uint16_t)v;
		break;
	case CTX_OPT_PKTTYPE:
		c->pkt_type = (uint8_t)v;
		break;
	case CTX_OPT_MARK:
		c->mark = (uint32_t)v;
		break;
	case CTX_OPT_QUEUE:
		c->queue = (uint16_t)v;
		break;
	case CTX_OPT_RXHASH:
		c->rxhash = (uint32_t)v;
		break;
	case CTX_OPT_CPU:
		c->cpu = (uint32_t)v;
		break;
	case CTX_OPT_VLAN_TCI:
		/* A tag in skb metadata is what makes it "present". */
		c->vlan_tci = (uint16_t)v;
		c->vlan_present = true;
		break;
	case CTX_OPT_VLAN_TPID:
		c->vlan_tpid = (uint16_t)v;
		break;
	case CTX_OPT_PAY_OFFSET:
		c->pay_offset = (uint32_t)v;
		break;
	case CTX_OPT_NET_OFF:
		c->net_off = (int32_t)(int64_t)v;
		break;
	case CTX_OPT_LL_OFF:
		c->ll_off = (int32_t)(int64_t)v;
		break;
	case CTX_OPT_RANDOM:
		o->random_value = (uint32_t)v;
		c->random = fixed_random;
		c->random_arg = &o->random_value;
		break;
	case CTX_OPT_HEADROOM:
		c->headroom = (size_t)v;
		break;
	}
	return true;
}

bool ctx_split_packet(const struct ctx_options *o, const uint8_t **pkt,
		      size_t *len)
{
	if (*len < o->ctx.headroom)
		return false;
	*pkt += o->ctx.headroom;
	*len -= o->ctx.headroom;
	return true;
}

void ctx_usage(FILE *f)
{
	fputs("Context (default: a datagram on an AF_UNIX socket: no device, every\n"
	      "field 0, network header at byte 0, no link-layer header):\n"
	      "  --ifindex N       SKF_AD_IFINDEX; implies a device\n"
	      "  --hatype N        SKF_AD_HATYPE (ARPHRD_*); implies a device\n"
	      "  --protocol N      SKF_AD_PROTOCOL, e.g. 0x0800\n"
	      "  --pkttype N       SKF_AD_PKTTYPE, 0..7 (PACKET_HOST, ...)\n"
	      "  --mark N          SKF_AD_MARK\n"
	      "  --queue N         SKF_AD_QUEUE\n"
	      "  --rxhash N        SKF_AD_RXHASH\n"
	      "  --cpu N           SKF_AD_CPU\n"
	      "  --vlan-tci N      SKF_AD_VLAN_TAG; sets SKF_AD_VLAN_TAG_PRESENT\n"
	      "  --vlan-tpid N     SKF_AD_VLAN_TPID\n"
	      "  --pay-offset N    SKF_AD_PAY_OFFSET\n"
	      "  --net-off N|none  packet offset of the network header (SKF_NET_OFF)\n"
	      "  --ll-off N|none   packet offset of the link-layer header (SKF_LL_OFF)\n"
	      "  --random N        value of every SKF_AD_RANDOM load\n"
	      "  --headroom N      the first N bytes of each packet lie in front of\n"
	      "                    what the filter sees (a raw IPv6 socket's IPv6\n"
	      "                    header): only SKF_NET_OFF/SKF_LL_OFF loads reach\n"
	      "                    them, with a negative --net-off/--ll-off\n"
	      "Numbers are decimal or 0x-prefixed hexadecimal.\n", f);
}
