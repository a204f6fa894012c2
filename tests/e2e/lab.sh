# shellcheck shell=bash
# lab.sh - an emulated Internet with NATs, for wgpunch's end-to-end tests,
# its demo and its benchmark.  Source it from bash; it defines lab_* functions
# and LAB_* variables and runs nothing by itself.
#
# lab_setup MODE_A MODE_B: each peer behind its own NAT (the usual lab)
#
#                        +-------- pub (router) --------+
#                        |       |         |            |
#                       srv     natA      natB         evil
#                    198.18.1.2  |198.18.2.2 |198.18.3.2  198.18.4.2
#                                |          |
#                                A          B
#                          198.19.1.2   198.19.2.2
#                        wg0 198.19.255.1  wg0 198.19.255.2
#
# lab_setup_same_nat MODE: A (198.19.1.2) and B (198.19.1.3) on one LAN, a
# bridge in natA; there is no natB (LAB_NATB_IP is natA's address).
#
# lab_setup_double_nat MODE_HOME MODE_CARRIER MODE_B: A behind a home router
# (homeA, 198.19.100.2 on the carrier's inside segment 198.19.100.0/24)
# behind a carrier-grade NAT (natA: LAB_NATA_IP stays A's public address).
#
# Added to the usual lab, for several servers sharing one registry:
#   lab_add_server2: a second rendezvous host, srv2 (198.18.5.2,
#            2001:db8:5::2), on pub beside srv; lab_server_start_at runs a
#            wgpunchd there (lab_server_start is srv's).
#   lab_add_peer_c [MODE]: a third WireGuard peer C (198.19.3.2) behind its
#            own NAT router natC (198.18.6.2) in MODE; lab_wg_peer_c gives
#            it wireguard-go, wg0 198.19.255.3, and A as its peer (and A
#            it).
#   lab_redis_start: a redis-server of the lab's own, on a Unix socket in
#            the lab directory (no TCP), PID recorded for lab_teardown;
#            lab_redis_stop, lab_redis_cli, lab_redis_url, lab_redis_key.
#
# Every node is a network namespace named $LAB_PREFIX-<node>; each link is
# a veth pair created straight inside the two namespaces, so nothing touches
# the root namespace's interfaces.  pub is a router (not a bridge) so TTL is
# decremented on the public segment like it would be on the Internet.
#
# A NAT router masquerades its LAN behind its "wan" address.  Its mode
# (lab_nat_mode NODE MODE) says how:
#   eim      plain masquerade: endpoint-independent mapping, keeps the port;
#            unsolicited inbound packets to the router are dropped, so an
#            early packet from the far side leaves no conntrack entry behind
#   none     the same mapping, but no input firewall: the router itself
#            accepts an unsolicited packet (its kernel answers "port
#            unreachable"), and the conntrack entry that leaves makes the
#            masquerade give WireGuard another port later: the
#            "stray-conntrack" case
#   reject   like eim, but unsolicited inbound is rejected with ICMP port
#            unreachable instead of dropped (no conntrack entry is left)
#   sym      masquerade random: a fresh port per destination (symmetric)
#   symrand  masquerade fully-random: symmetric, with no port preservation
#            even for the first mapping
#   pf       like eim, plus a port forward: UDP 51820 on the wan address
#            goes to the LAN peer's 51820 (dnat), and inbound UDP 51820 to
#            the peer's IPv6 address is let through
# IPv6 is routed without NAT; in every mode (none included: its router
# keeps a stateful IPv6 forward firewall) new inbound IPv6 to the LAN is
# dropped, except UDP 51820 to the peer with pf.
# lab_nat_rebind NODE moves a NAT's masquerade to another port range and
# flushes its UDP conntrack entries: every mapping changes.
#
# A port-mapping gateway (miniupnpd: UPnP IGD, NAT-PMP and PCP):
#   LAB_PORTMAP_NODES="natA natB"  (set before lab_setup*) the NAT routers
#            that may run miniupnpd. miniupnpd refuses a reserved WAN
#            address, so such a router's wan gets one in 11.0.0.0/24
#            instead (natA 11.0.0.2/30 with pub at .1, natB 11.0.0.6/30
#            with pub at .5; LAB_NATA_IP / LAB_NATB_IP say so). That is
#            safe only because every lab link lives inside lab namespaces,
#            never touching the host's. Its forward firewall also accepts
#            inbound that a DNAT rule redirected (ct status dnat); the NAT
#            mode is kept (e.g. sym).
#   lab_miniupnpd_start NODE [CONFIG_LINE...]: create miniupnpd's nftables
#            table and chains in NODE, write its configuration (extra lines
#            appended) and run it, in the foreground, logging to
#            NODE.miniupnpd.log; PID in LAB_LAST_PID and NODE.miniupnpd.pid,
#            killed by lab_teardown. It maps for 198.19.0.0/16 only.
#   lab_miniupnpd_stop NODE: stop it (its chains stay, with its rules).
#
# The WireGuard peers A and B also live in a private mount namespace with
# their own tmpfs on /run/wireguard and /run/wgpunch: wireguard-go's UAPI
# socket and wgpunch's status socket paths are not per network namespace,
# so two wg0 would otherwise clash.
#
# Addresses come only from 198.18.0.0/15 and 2001:db8::/32.

# lab_defaults: the addresses of the usual lab; the other topologies
# change some of them, and every setup starts from these.
lab_defaults()
{
	LAB_SRV_IP=198.18.1.2
	LAB_NATA_IP=198.18.2.2
	LAB_NATB_IP=198.18.3.2
	LAB_EVIL_IP=198.18.4.2
	LAB_A_IP=198.19.1.2
	LAB_B_IP=198.19.2.2
	LAB_A_TUN=198.19.255.1
	LAB_B_TUN=198.19.255.2
	LAB_SRV_IP6=2001:db8:1::2
	LAB_NATA_IP6=2001:db8:2::2
	LAB_NATB_IP6=2001:db8:3::2
	LAB_EVIL_IP6=2001:db8:4::2
	# Only with lab_add_server2 and lab_add_peer_c.
	LAB_SRV2_IP=198.18.5.2
	LAB_SRV2_IP6=2001:db8:5::2
	LAB_NATC_IP=198.18.6.2
	LAB_NATC_IP6=2001:db8:6::2
	LAB_C_IP=198.19.3.2
	LAB_C_IP6=2001:db8:c::2
	LAB_C_TUN=198.19.255.3
	LAB_A_IP6=2001:db8:a::2
	LAB_B_IP6=2001:db8:b::2
	# Only with lab_setup_double_nat: the home router's carrier side.
	LAB_HOMEA_IP=
	LAB_HOMEA_IP6=
	# usual, same_nat or double_nat
	LAB_TOPOLOGY=usual
}
lab_defaults
LAB_WG_PORT=51820
# The port range lab_nat_rebind moves a NAT to first (then the next 1000).
LAB_REBIND_BASE=40000
# Debian's python3 when there is one: a version manager's shim can take
# a tenth of a second to start, which is longer than some waits here.
# shellcheck disable=SC2034  # used by run-e2e.sh
LAB_PYTHON=$(command -v /usr/bin/python3 || command -v python3)

LAB_PREFIX=
LAB_DIR=
LAB_REDIS_SOCK=
LAB_NODES=

# Milliseconds since the epoch, without forking where bash can help.
lab_now_ms()
{
	if [ -n "${EPOCHREALTIME:-}" ]; then
		local t=${EPOCHREALTIME/[.,]/}
		echo $((t / 1000))
	else
		date +%s%3N
	fi
}

lab_log()
{
	[ -n "${LAB_VERBOSE:-}" ] && echo "lab: $*" >&2
	return 0
}

lab_ns()
{
	echo "$LAB_PREFIX-$1"
}

# Run a command in a node: its network namespace, plus its own mount
# namespace for the WireGuard peers.  The working directory is kept.
lab_exec()
{
	local node=$1
	shift
	if [ -f "$LAB_DIR/$node.mnt" ]; then
		nsenter --net="/run/netns/$LAB_PREFIX-$node" \
			--mount="/proc/$(cat "$LAB_DIR/$node.mnt")/ns/mnt" \
			--wd="$PWD" "$@"
	else
		nsenter --net="/run/netns/$LAB_PREFIX-$node" "$@"
	fi
}

lab_record_pid()
{
	echo "$1" >>"$LAB_DIR/pids"
}

# lab_bg NODE LOGFILE CMD...: start CMD in NODE in the background, with
# stdout and stderr appended to LOGFILE.  nsenter execs CMD, so the PID
# left in LAB_LAST_PID (and recorded for teardown) is CMD's own.
lab_bg()
{
	local node=$1 log=$2
	shift 2
	if [ -f "$LAB_DIR/$node.mnt" ]; then
		nsenter --net="/run/netns/$LAB_PREFIX-$node" \
			--mount="/proc/$(cat "$LAB_DIR/$node.mnt")/ns/mnt" \
			--wd="$PWD" "$@" >>"$log" 2>&1 </dev/null &
	else
		nsenter --net="/run/netns/$LAB_PREFIX-$node" \
			"$@" >>"$log" 2>&1 </dev/null &
	fi
	LAB_LAST_PID=$!
	lab_record_pid "$LAB_LAST_PID"
}

# Stop one process we started, politely and then not.
lab_kill()
{
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.025
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

lab_sysctl()
{
	local node=$1
	shift
	nsenter --net="/run/netns/$LAB_PREFIX-$node" sysctl -qw "$@" >/dev/null
}

# lab_link NODE1 IF1 ADDR1 NODE2 IF2 ADDR2: a veth pair between two nodes.
lab_link()
{
	local n1=$1 if1=$2 a1=$3 n2=$4 if2=$5 a2=$6
	ip -n "$LAB_PREFIX-$n1" link add "$if1" type veth \
		peer name "$if2" netns "$LAB_PREFIX-$n2" || return 1
	ip -n "$LAB_PREFIX-$n1" addr add "$a1" dev "$if1" || return 1
	ip -n "$LAB_PREFIX-$n2" addr add "$a2" dev "$if2" || return 1
	ip -n "$LAB_PREFIX-$n1" link set "$if1" up || return 1
	ip -n "$LAB_PREFIX-$n2" link set "$if2" up
}

# lab_addr6 NODE1 IF1 ADDR1 NODE2 IF2 ADDR2: IPv6 on both ends of a link
# (/64, no duplicate address detection, so usable at once).
lab_addr6()
{
	ip -n "$LAB_PREFIX-$1" -6 addr add "$3/64" dev "$2" nodad || return 1
	ip -n "$LAB_PREFIX-$4" -6 addr add "$6/64" dev "$5" nodad
}

lab_add_node()
{
	ip netns add "$LAB_PREFIX-$1" || return 1
	LAB_NODES="$LAB_NODES $1"
	# No duplicate address detection: a link-local address stays
	# tentative for a second after the link comes up, and until then
	# neighbour discovery, hence the first IPv6 packets, fail.
	lab_sysctl "$1" net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_dad=0 || return 1
	ip -n "$LAB_PREFIX-$1" link set lo up
}

# A private mount namespace with a tmpfs on /run/wireguard (wireguard-go's
# UAPI socket) and one on /run/wgpunch (wgpunch's status socket), held open
# by a sleeping process whose PID is stored in $LAB_DIR/NODE.mnt.
lab_add_mntns()
{
	local node=$1
	mkdir -p /run/wireguard /run/wgpunch
	nsenter --net="/run/netns/$LAB_PREFIX-$node" \
		unshare --mount --propagation private \
		sh -c 'mount -t tmpfs -o mode=0700 tmpfs /run/wireguard &&
		       mount -t tmpfs -o mode=0755 tmpfs /run/wgpunch &&
		       : >"$1" && exec sleep 2147483647' \
		sh "$LAB_DIR/$node.mnt-ready" </dev/null &
	lab_record_pid $!
	for _ in $(seq 200); do
		[ -e "$LAB_DIR/$node.mnt-ready" ] && break
		sleep 0.005
	done
	[ -e "$LAB_DIR/$node.mnt-ready" ] || return 1
	echo $! >"$LAB_DIR/$node.mnt"
}

# --- NAT routers --------------------------------------------------------------

# lab_nat_rules MODE FWD4 FWD6 [PORTS] [PORTMAP]: the nftables ruleset of a
# NAT router in MODE (see the top of this file).  FWD4 and FWD6 are the LAN
# addresses that pf forwards UDP 51820 to; PORTS (FIRST-LAST), when given,
# is the range the masquerade maps UDP into (lab_nat_rebind); PORTMAP
# non-empty lets through what miniupnpd's DNAT rules redirect.  The ruleset
# replaces any previous one atomically: the table is declared, deleted and
# built again in one transaction.
lab_nat_rules()
{
	local mode=$1 fwd4=$2 fwd6=$3 ports=${4:-} portmap=${5:-}
	local flags='' input='' dnat='' masq_udp='' pf4='' pf6='' mapped=''
	case $mode in
	eim|pf) input=drop ;;
	none) ;;
	reject) input="reject with icmpx port-unreachable" ;;
	sym) input=drop flags=" random" ;;
	symrand) input=drop flags=" fully-random" ;;
	*) echo "lab: unknown NAT mode '$mode'" >&2; return 1 ;;
	esac
	[ -n "$input" ] &&
		input="iifname \"wan\" ct state new meta l4proto != ipv6-icmp $input"
	[ -n "$ports" ] &&
		masq_udp="meta nfproto ipv4 oifname \"wan\" meta l4proto udp masquerade to :$ports$flags"
	if [ "$mode" = pf ]; then
		dnat="iifname \"wan\" meta nfproto ipv4 udp dport $LAB_WG_PORT dnat ip to $fwd4:$LAB_WG_PORT"
		pf4="iifname \"wan\" ip daddr $fwd4 udp dport $LAB_WG_PORT ct status dnat accept"
		pf6="iifname \"wan\" ip6 daddr $fwd6 udp dport $LAB_WG_PORT accept"
	fi
	[ -n "$portmap" ] && mapped='iifname "wan" ct status dnat accept'
	cat <<EOT
table inet lab
delete table inet lab
table inet lab {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		$dnat
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		$masq_udp
		meta nfproto ipv4 oifname "wan" masquerade$flags
	}
	chain input {
		type filter hook input priority filter; policy accept;
		$input
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		icmpv6 type { packet-too-big, time-exceeded, destination-unreachable } accept
		$pf4
		$pf6
		$mapped
		iifname "wan" ct state new drop
		iifname "lan" oifname "wan" accept
	}
}
EOT
}

# lab_nat_apply NODE MODE [PORTS]: load NODE's ruleset and remember it.
lab_nat_apply()
{
	local node=$1 mode=$2 ports=${3:-} fwd4 fwd6 rules portmap=''
	read -r fwd4 fwd6 <"$LAB_DIR/$node.fwd" || return 1
	lab_is_portmap_node "$node" && portmap=yes
	rules=$(lab_nat_rules "$mode" "$fwd4" "$fwd6" "$ports" "$portmap") || return 1
	printf '%s\n' "$rules" |
		nsenter --net="/run/netns/$LAB_PREFIX-$node" nft -f - || return 1
	echo "$mode" >"$LAB_DIR/$node.mode"
	echo "$ports" >"$LAB_DIR/$node.ports"
}

# lab_nat_mode NODE MODE: (re)configure a NAT router; its existing
# conntrack entries, hence mappings, stay.
lab_nat_mode()
{
	local node=$1 mode=$2 ports=''
	[ -f "$LAB_DIR/$node.ports" ] && ports=$(cat "$LAB_DIR/$node.ports")
	lab_nat_apply "$node" "$mode" "$ports"
}

# lab_nat_rebind NODE: the NAT forgets every UDP mapping and makes new ones
# in a port range it never used before (40000-40999, then 41000-41999...),
# keeping its mode: the next datagram from WireGuard's port leaves from a
# new public port, as after a NAT reboot or a carrier's mapping timeout.
lab_nat_rebind()
{
	local node=$1 mode ports first n=0
	mode=$(cat "$LAB_DIR/$node.mode") || return 1
	ports=$(cat "$LAB_DIR/$node.ports" 2>/dev/null)
	if [ -n "$ports" ]; then
		first=${ports%-*}
		n=$(((first - LAB_REBIND_BASE) / 1000 + 1))
	fi
	first=$((LAB_REBIND_BASE + n * 1000))
	lab_nat_apply "$node" "$mode" "$first-$((first + 999))" || return 1
	# conntrack exits 1 when there was nothing to delete: not an error.
	command -v conntrack >/dev/null 2>&1 || return 1
	nsenter --net="/run/netns/$LAB_PREFIX-$node" \
		conntrack -D -f ipv4 -p udp >/dev/null 2>&1
	return 0
}

# lab_nat_router NODE MODE FWD4 FWD6: make NODE a NAT router in MODE whose
# pf mode forwards to FWD4/FWD6.
lab_nat_router()
{
	local node=$1 mode=$2
	echo "$3 $4" >"$LAB_DIR/$node.fwd"
	rm -f "$LAB_DIR/$node.ports"
	lab_sysctl "$node" net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 || return 1
	lab_nat_apply "$node" "$mode"
}

# --- port-mapping gateways (miniupnpd) -----------------------------------------

# lab_is_portmap_node NODE: NODE is listed in LAB_PORTMAP_NODES.
lab_is_portmap_node()
{
	case " ${LAB_PORTMAP_NODES:-} " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# miniupnpd's own table: a forward chain that jumps to the chain it fills
# with accept rules, and NAT hooks that jump to its DNAT/SNAT chains.  The
# lab's table keeps its forward policy drop; it accepts what was DNAT'd.
lab_miniupnpd_nft()
{
	cat <<'EOT'
table inet miniupnpd
delete table inet miniupnpd
table inet miniupnpd {
	chain forward {
		type filter hook forward priority filter; policy accept;
		jump miniupnpd
	}
	chain miniupnpd {
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump prerouting_miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		jump postrouting_miniupnpd
	}
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
}
EOT
}

lab_miniupnpd_conf()
{
	local line
	cat <<'EOT'
ext_ifname=wan
listening_ip=lan
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=no
upnp_table_name=miniupnpd
upnp_nat_table_name=miniupnpd
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
uuid=9b2f6c1e-4d7a-4e0b-8c3f-5a1d2e3f4b6c
allow 1024-65535 198.19.0.0/16 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOT
	for line in "$@"; do
		echo "$line"
	done
}

lab_miniupnpd_start()
{
	local node=$1 pid
	shift
	command -v miniupnpd >/dev/null 2>&1 || {
		echo "lab: miniupnpd is not installed" >&2
		return 1
	}
	lab_miniupnpd_nft | nsenter --net="/run/netns/$LAB_PREFIX-$node" nft -f - ||
		return 1
	lab_miniupnpd_conf "$@" >"$LAB_DIR/$node.miniupnpd.conf" || return 1
	: >>"$LAB_DIR/$node.miniupnpd.log"
	# Its own pid file is its lock ("already running" when it names a
	# live process), so ours is another file.
	rm -f "$LAB_DIR/$node.miniupnpd.lock"
	lab_bg "$node" "$LAB_DIR/$node.miniupnpd.log" miniupnpd -d \
		-f "$LAB_DIR/$node.miniupnpd.conf" -P "$LAB_DIR/$node.miniupnpd.lock"
	pid=$LAB_LAST_PID
	echo "$pid" >"$LAB_DIR/$node.miniupnpd.pid"
	# Ready when it listens for NAT-PMP/PCP (UPnP's HTTP comes before).
	if ! lab_wait 10 lab_udp_bound "$node" 5351; then
		echo "lab: miniupnpd in $node did not start" >&2
		cat "$LAB_DIR/$node.miniupnpd.log" >&2
		return 1
	fi
	LAB_LAST_PID=$pid
}

lab_miniupnpd_stop()
{
	[ -f "$LAB_DIR/$1.miniupnpd.pid" ] || return 0
	lab_kill "$(cat "$LAB_DIR/$1.miniupnpd.pid")"
	rm -f "$LAB_DIR/$1.miniupnpd.pid"
}

# --- topologies ------------------------------------------------------------------

# lab_begin: a fresh prefix, scratch directory and address set.
lab_begin()
{
	lab_defaults
	lab_is_portmap_node natA && LAB_NATA_IP=11.0.0.2
	lab_is_portmap_node natB && LAB_NATB_IP=11.0.0.6
	# BASHPID: cases run in parallel subshells, which share $$.
	LAB_PREFIX="wgp-${BASHPID:-$$}-$RANDOM"
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/$LAB_PREFIX.XXXXXX") || return 1
	: >"$LAB_DIR/pids"
	LAB_NODES=
	LAB_T0=$(lab_now_ms)
}

# lab_internet: pub, the public router, with srv and evil on it and
# forwarding on; IPv4 and IPv6 both.
lab_internet()
{
	local n
	for n in pub srv evil; do
		lab_add_node "$n" || return 1
	done
	lab_sysctl pub net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 || return 1
	lab_link pub srv  198.18.1.1/24 srv  eth0 "$LAB_SRV_IP/24"  || return 1
	lab_link pub evil 198.18.4.1/24 evil eth0 "$LAB_EVIL_IP/24" || return 1
	lab_addr6 pub srv 2001:db8:1::1 srv eth0 "$LAB_SRV_IP6" || return 1
	lab_addr6 pub evil 2001:db8:4::1 evil eth0 "$LAB_EVIL_IP6" || return 1
	for n in srv evil; do
		ip -n "$LAB_PREFIX-$n" route add default via \
			"$(lab_subnet_gw "$n")" || return 1
		ip -n "$LAB_PREFIX-$n" -6 route add default via \
			"$(lab_subnet_gw6 "$n")" || return 1
	done
}

# The public router's address on each public subnet, by the node there.
lab_subnet_gw()
{
	if lab_is_portmap_node "$1"; then
		case $1 in natA) echo 11.0.0.1 ;; natB) echo 11.0.0.5 ;; esac
		return
	fi
	case $1 in
	srv) echo 198.18.1.1 ;; natA) echo 198.18.2.1 ;;
	natB) echo 198.18.3.1 ;; evil) echo 198.18.4.1 ;;
	srv2) echo 198.18.5.1 ;; natC) echo 198.18.6.1 ;;
	esac
}

lab_subnet_gw6()
{
	case $1 in
	srv) echo 2001:db8:1::1 ;; natA) echo 2001:db8:2::1 ;;
	natB) echo 2001:db8:3::1 ;; evil) echo 2001:db8:4::1 ;;
	srv2) echo 2001:db8:5::1 ;; natC) echo 2001:db8:6::1 ;;
	esac
}

# lab_wan NODE IP IP6: connect NAT router NODE's "wan" to pub.
lab_wan()
{
	local node=$1 ip=$2 ip6=$3 gw gw6 len=24
	gw=$(lab_subnet_gw "$node")
	gw6=$(lab_subnet_gw6 "$node")
	lab_is_portmap_node "$node" && len=30
	lab_add_node "$node" || return 1
	lab_link pub "$node" "$gw/$len" "$node" wan "$ip/$len" || return 1
	lab_addr6 pub "$node" "$gw6" "$node" wan "$ip6" || return 1
	ip -n "$LAB_PREFIX-$node" route add default via "$gw" || return 1
	ip -n "$LAB_PREFIX-$node" -6 route add default via "$gw6"
}

# lab_lan ROUTER PEER NET NET6: PEER behind ROUTER's "lan", on NET.0/24
# (router .1, peer .2) and NET6::/64 (router ::1, peer ::2).
lab_lan()
{
	local router=$1 peer=$2 net=$3 net6=$4
	lab_add_node "$peer" || return 1
	lab_link "$router" lan "$net.1/24" "$peer" eth0 "$net.2/24" || return 1
	lab_addr6 "$router" lan "$net6::1" "$peer" eth0 "$net6::2" || return 1
	ip -n "$LAB_PREFIX-$peer" route add default via "$net.1" || return 1
	ip -n "$LAB_PREFIX-$peer" -6 route add default via "$net6::1"
}

# lab_peers_ready: the WireGuard peers' mount namespaces.
lab_peers_ready()
{
	lab_add_mntns A || return 1
	lab_add_mntns B || return 1
	lab_log "$LAB_TOPOLOGY lab ready in $(($(lab_now_ms) - LAB_T0)) ms ($LAB_PREFIX)"
}

# lab_setup [MODE_A] [MODE_B]: build the usual lab, A behind natA and B
# behind natB.  Defaults: eim eim.  Call lab_teardown when done (lab_setup
# installs no trap itself; see lab_trap).
lab_setup()
{
	local mode_a=${1:-eim} mode_b=${2:-eim}

	lab_begin || return 1
	lab_internet || return 1
	lab_wan natA "$LAB_NATA_IP" "$LAB_NATA_IP6" || return 1
	lab_wan natB "$LAB_NATB_IP" "$LAB_NATB_IP6" || return 1
	lab_lan natA A 198.19.1 2001:db8:a || return 1
	lab_lan natB B 198.19.2 2001:db8:b || return 1
	ip -n "$LAB_PREFIX-pub" -6 route add 2001:db8:a::/64 via "$LAB_NATA_IP6" || return 1
	ip -n "$LAB_PREFIX-pub" -6 route add 2001:db8:b::/64 via "$LAB_NATB_IP6" || return 1
	lab_nat_router natA "$mode_a" "$LAB_A_IP" "$LAB_A_IP6" || return 1
	lab_nat_router natB "$mode_b" "$LAB_B_IP" "$LAB_B_IP6" || return 1
	lab_peers_ready
}

# lab_bridge_port NODE IF PEER ADDR ADDR6: PEER's eth0 as port IF of NODE's
# bridge "lan", with ADDR/24 and ADDR6/64 on eth0.
lab_bridge_port()
{
	local node=$1 port=$2 peer=$3
	lab_add_node "$peer" || return 1
	ip -n "$LAB_PREFIX-$node" link add "$port" type veth \
		peer name eth0 netns "$LAB_PREFIX-$peer" || return 1
	ip -n "$LAB_PREFIX-$node" link set "$port" master lan up || return 1
	ip -n "$LAB_PREFIX-$peer" addr add "$4/24" dev eth0 || return 1
	ip -n "$LAB_PREFIX-$peer" -6 addr add "$5/64" dev eth0 nodad || return 1
	ip -n "$LAB_PREFIX-$peer" link set eth0 up || return 1
	ip -n "$LAB_PREFIX-$peer" route add default via 198.19.1.1 || return 1
	ip -n "$LAB_PREFIX-$peer" -6 route add default via 2001:db8:a::1
}

# lab_setup_same_nat [MODE]: A and B on one LAN behind natA (a bridge
# named "lan" in natA).  natA does no hairpin NAT: a packet from the LAN
# to natA's public address stays with natA.  No natB; LAB_NATB_IP and
# LAB_NATB_IP6 name natA, LAB_B_IP is 198.19.1.3.  pf forwards to A.
lab_setup_same_nat()
{
	local mode=${1:-eim}

	lab_begin || return 1
	LAB_TOPOLOGY=same_nat
	LAB_B_IP=198.19.1.3
	LAB_B_IP6=2001:db8:a::3
	LAB_NATB_IP=$LAB_NATA_IP
	LAB_NATB_IP6=$LAB_NATA_IP6
	lab_internet || return 1
	lab_wan natA "$LAB_NATA_IP" "$LAB_NATA_IP6" || return 1
	# A plain switch: br_netfilter (where the kernel has it) would pass
	# the LAN's own traffic through natA's IP firewall.
	lab_sysctl natA net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 2>/dev/null
	ip -n "$LAB_PREFIX-natA" link add lan type bridge forward_delay 0 || return 1
	ip -n "$LAB_PREFIX-natA" addr add 198.19.1.1/24 dev lan || return 1
	ip -n "$LAB_PREFIX-natA" -6 addr add 2001:db8:a::1/64 dev lan nodad || return 1
	ip -n "$LAB_PREFIX-natA" link set lan up || return 1
	lab_bridge_port natA lanA A "$LAB_A_IP" "$LAB_A_IP6" || return 1
	lab_bridge_port natA lanB B "$LAB_B_IP" "$LAB_B_IP6" || return 1
	ip -n "$LAB_PREFIX-pub" -6 route add 2001:db8:a::/64 via "$LAB_NATA_IP6" || return 1
	lab_nat_router natA "$mode" "$LAB_A_IP" "$LAB_A_IP6" || return 1
	lab_peers_ready
}

# lab_setup_double_nat [MODE_HOME] [MODE_CARRIER] [MODE_B]: A behind a home
# router, homeA, whose "wan" (LAB_HOMEA_IP, 198.19.100.2) sits on the
# inside segment of a carrier-grade NAT, natA; B behind natB as usual.
# LAB_NATA_IP is the carrier's public address.  IPv6 is routed through
# both (2001:db8:64::/64 inside the carrier), firewalled by both.  The
# carrier's pf forwards to homeA, homeA's to A.
lab_setup_double_nat()
{
	local home=${1:-eim} carrier=${2:-eim} mode_b=${3:-eim}

	lab_begin || return 1
	LAB_TOPOLOGY=double_nat
	LAB_HOMEA_IP=198.19.100.2
	LAB_HOMEA_IP6=2001:db8:64::2
	lab_internet || return 1
	lab_wan natA "$LAB_NATA_IP" "$LAB_NATA_IP6" || return 1
	lab_wan natB "$LAB_NATB_IP" "$LAB_NATB_IP6" || return 1
	lab_add_node homeA || return 1
	lab_link natA lan 198.19.100.1/24 homeA wan "$LAB_HOMEA_IP/24" || return 1
	lab_addr6 natA lan 2001:db8:64::1 homeA wan "$LAB_HOMEA_IP6" || return 1
	ip -n "$LAB_PREFIX-homeA" route add default via 198.19.100.1 || return 1
	ip -n "$LAB_PREFIX-homeA" -6 route add default via 2001:db8:64::1 || return 1
	lab_lan homeA A 198.19.1 2001:db8:a || return 1
	lab_lan natB B 198.19.2 2001:db8:b || return 1
	ip -n "$LAB_PREFIX-pub" -6 route add 2001:db8:a::/64 via "$LAB_NATA_IP6" || return 1
	ip -n "$LAB_PREFIX-pub" -6 route add 2001:db8:b::/64 via "$LAB_NATB_IP6" || return 1
	ip -n "$LAB_PREFIX-natA" -6 route add 2001:db8:a::/64 via "$LAB_HOMEA_IP6" || return 1
	lab_nat_router homeA "$home" "$LAB_A_IP" "$LAB_A_IP6" || return 1
	lab_nat_router natA "$carrier" "$LAB_HOMEA_IP" "$LAB_A_IP6" || return 1
	lab_nat_router natB "$mode_b" "$LAB_B_IP" "$LAB_B_IP6" || return 1
	lab_peers_ready
}

# lab_add_server2: a second rendezvous host, srv2, on the public router
# beside srv (after any lab_setup*).
lab_add_server2()
{
	lab_add_node srv2 || return 1
	lab_link pub srv2 198.18.5.1/24 srv2 eth0 "$LAB_SRV2_IP/24" || return 1
	lab_addr6 pub srv2 2001:db8:5::1 srv2 eth0 "$LAB_SRV2_IP6" || return 1
	ip -n "$LAB_PREFIX-srv2" route add default via 198.18.5.1 || return 1
	ip -n "$LAB_PREFIX-srv2" -6 route add default via 2001:db8:5::1
}

# lab_add_peer_c [MODE]: a third peer, C, behind its own NAT router natC
# in MODE (default eim), with a mount namespace like A's and B's.  After
# lab_setup (the usual topology).
lab_add_peer_c()
{
	local mode=${1:-eim}
	lab_wan natC "$LAB_NATC_IP" "$LAB_NATC_IP6" || return 1
	lab_lan natC C 198.19.3 2001:db8:c || return 1
	ip -n "$LAB_PREFIX-pub" -6 route add 2001:db8:c::/64 via "$LAB_NATC_IP6" || return 1
	lab_nat_router natC "$mode" "$LAB_C_IP" "$LAB_C_IP6" || return 1
	lab_add_mntns C
}

# lab_no_ipv6 NODE...: take the global IPv6 address and route away from
# peers, so that the only way between them is IPv4 (link-local stays).
lab_no_ipv6()
{
	local node addr
	for node in "$@"; do
		addr=$LAB_A_IP6
		[ "$node" = B ] && addr=$LAB_B_IP6
		[ "$node" = C ] && addr=$LAB_C_IP6
		ip -n "$LAB_PREFIX-$node" -6 route del default 2>/dev/null
		ip -n "$LAB_PREFIX-$node" -6 addr del "$addr/64" dev eth0 || return 1
	done
}

# Kill every process the lab started (by PID), then delete the namespaces
# and the scratch directory.  Safe to call twice, and after a failed setup.
lab_teardown()
{
	local pid n
	[ -n "$LAB_DIR" ] || return 0
	if [ -f "$LAB_DIR/pids" ]; then
		# Newest first: clients before wireguard-go before the holders.
		for pid in $(tac "$LAB_DIR/pids"); do
			kill -TERM "$pid" 2>/dev/null
		done
		for pid in $(tac "$LAB_DIR/pids"); do
			lab_kill "$pid"
		done
	fi
	# Anything still inside a lab namespace was started by the lab (a
	# child a program forked, say): kill those PIDs too.
	for n in $LAB_NODES; do
		for pid in $(ip netns pids "$LAB_PREFIX-$n" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	for n in $LAB_NODES; do
		ip netns del "$LAB_PREFIX-$n" 2>/dev/null
	done
	if [ -n "${LAB_KEEP_LOGS:-}" ]; then
		echo "lab: logs kept in $LAB_DIR" >&2
	else
		rm -rf "$LAB_DIR"
	fi
	LAB_DIR=
	LAB_NODES=
	LAB_REDIS_SOCK=
}

# Tear down on any exit of the current (sub)shell.
lab_trap()
{
	trap 'lab_teardown' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# --- WireGuard peers ------------------------------------------------------

# lab_wg_keys NODE: a key pair in $LAB_DIR/NODE.key and NODE.pub.
lab_wg_keys()
{
	local node=$1
	(umask 077 && wg genkey >"$LAB_DIR/$node.key") || return 1
	wg pubkey <"$LAB_DIR/$node.key" >"$LAB_DIR/$node.pub"
}

lab_pub()
{
	cat "$LAB_DIR/$1.pub"
}

# lab_wg_start NODE: run wireguard-go for wg0 in NODE and wait for its
# UAPI socket.  PID in LAB_LAST_PID and $LAB_DIR/NODE.wgpid.
lab_wg_start()
{
	local node=$1 sock
	sock="/proc/$(cat "$LAB_DIR/$node.mnt")/root/run/wireguard/wg0.sock"
	rm -f "$LAB_DIR/$node.wgready"
	WG_PROCESS_FOREGROUND=1 LOG_LEVEL=${LAB_WG_LOG_LEVEL:-error} \
		lab_bg_stamped "$node" "$node.wg" wireguard-go -f wg0
	echo "$LAB_LAST_PID" >"$LAB_DIR/$node.wgpid"
	for _ in $(seq 400); do
		[ -S "$sock" ] && return 0
		kill -0 "$LAB_LAST_PID" 2>/dev/null || break
		sleep 0.005
	done
	echo "lab: wireguard-go in $node did not start" >&2
	cat "$LAB_DIR/$node.wg.log" >&2
	return 1
}

lab_wg_stop()
{
	lab_kill "$(cat "$LAB_DIR/$1.wgpid")"
}

# lab_wg_config NODE TUNADDR PEER PEER_TUNADDR: key, listen port, the
# other peer WITHOUT an endpoint, and the tunnel address.  IPv6 is off on
# wg0 so the kernel sends nothing into the tunnel by itself: any packet
# sent before the peer has an endpoint stamps a handshake attempt and
# delays the real one by REKEY_TIMEOUT (5 s).
lab_wg_config()
{
	local node=$1 addr=$2 peer=$3 peer_addr=$4
	lab_exec "$node" wg set wg0 private-key "$LAB_DIR/$node.key" \
		listen-port "$LAB_WG_PORT" \
		peer "$(lab_pub "$peer")" allowed-ips "$peer_addr/32" || return 1
	lab_sysctl "$node" net.ipv6.conf.wg0.disable_ipv6=1
	ip -n "$LAB_PREFIX-$node" addr add "$addr/24" dev wg0 || return 1
	ip -n "$LAB_PREFIX-$node" link set wg0 up
}

# lab_wg_pair: keys, wireguard-go and configuration for A and B.
lab_wg_pair()
{
	lab_wg_keys A && lab_wg_keys B || return 1
	lab_wg_start A && lab_wg_start B || return 1
	lab_wg_config A "$LAB_A_TUN" B "$LAB_B_TUN" || return 1
	lab_wg_config B "$LAB_B_TUN" A "$LAB_A_TUN"
}

# lab_wg_peer_c: keys, wireguard-go and configuration for C, whose one
# peer is A; A gets C as a second peer (after lab_wg_pair).
lab_wg_peer_c()
{
	lab_wg_keys C && lab_wg_start C || return 1
	lab_wg_config C "$LAB_C_TUN" A "$LAB_A_TUN" || return 1
	lab_exec A wg set wg0 peer "$(lab_pub C)" allowed-ips "$LAB_C_TUN/32"
}

# lab_handshake NODE PEER: latest handshake time (epoch s, 0 if none).
lab_handshake()
{
	local node=$1 peer=$2 k t
	lab_exec "$node" wg show wg0 latest-handshakes 2>/dev/null |
	while read -r k t; do
		[ "$k" = "$(lab_pub "$peer")" ] && echo "$t" && return
	done
}

# lab_endpoint NODE PEER: the endpoint NODE has for PEER, or "(none)".
lab_endpoint()
{
	local node=$1 peer=$2 k e
	lab_exec "$node" wg show wg0 endpoints 2>/dev/null |
	while read -r k e; do
		[ "$k" = "$(lab_pub "$peer")" ] && echo "$e" && return
	done
}

# lab_wait TIMEOUT_S CMD...: poll CMD every 50 ms until it succeeds.
lab_wait()
{
	local deadline
	deadline=$(($(lab_now_ms) + $1 * 1000))
	shift
	while ! "$@"; do
		[ "$(lab_now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

lab_has_handshake()
{
	local t
	t=$(lab_handshake "$1" "$2")
	[ -n "$t" ] && [ "$t" != 0 ]
}

lab_has_endpoint()
{
	local e
	e=$(lab_endpoint "$1" "$2")
	[ -n "$e" ] && [ "$e" != "(none)" ]
}

# lab_ping NODE ADDR: one ping, 1 s; prints the RTT in ms on success.
lab_ping()
{
	local out
	out=$(lab_exec "$1" ping -n -c 1 -W 1 "$2" 2>&1) || return 1
	echo "$out" | sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p'
}

# --- timestamped logs ------------------------------------------------------

# Copy stdin to stdout, each line prefixed with the epoch time in ms at
# which it was read.  perl (always there on Debian) reads a pipe in blocks;
# bash's read takes a system call per byte and lags behind busy writers.
lab_stamp()
{
	local line t
	if command -v perl >/dev/null 2>&1; then
		# Ahead of the programs it stamps: a stamp is only as good as
		# the delay between the write and this read.
		exec nice -n -10 perl -MTime::HiRes=time -ne \
			'$| = 1; printf "%d %s", time() * 1000, $_'
	fi
	while IFS= read -r line; do
		if [ -n "${EPOCHREALTIME:-}" ]; then
			t=${EPOCHREALTIME/[.,]/}	# no fork: lines keep their time
			t=${t%???}
		else
			t=$(date +%s%3N)
		fi
		printf '%s %s\n' "$t" "$line"
	done
}

# lab_bg_stamped NODE NAME CMD...: like lab_bg, but the output goes to
# $LAB_DIR/NAME.log with each line stamped as it arrives (through a fifo,
# so LAB_LAST_PID is still CMD's own PID).
lab_bg_stamped()
{
	local node=$1 name=$2
	shift 2
	rm -f "$LAB_DIR/$name.fifo"
	mkfifo "$LAB_DIR/$name.fifo" || return 1
	lab_stamp <"$LAB_DIR/$name.fifo" >>"$LAB_DIR/$name.log" &
	lab_record_pid $!
	lab_bg "$node" "$LAB_DIR/$name.fifo" "$@"
}

# lab_first_line NAME REGEX: the stamp (epoch ms) of the first line of
# NAME.log matching the extended REGEX, or nothing.
lab_first_line()
{
	[ -f "$LAB_DIR/$1.log" ] || return 1
	grep -E -m 1 -- "$2" "$LAB_DIR/$1.log" | cut -d' ' -f1
}

# lab_udp_bound NODE PORT: something listens on UDP PORT in NODE.
lab_udp_bound()
{
	[ -n "$(nsenter --net="/run/netns/$LAB_PREFIX-$1" \
		ss -Hlun "sport = :$2" 2>/dev/null)" ]
}

# --- wgpunchd and wgpunch ---------------------------------------------------

LAB_SRV_PORT=49918
# shellcheck disable=SC2034  # used by run-e2e.sh
LAB_LEGACY_PORT=49918	# --legacy shares the port (64-byte datagrams)

# lab_server_keys: the rendezvous server's key pair, srv.key and srv.pub.
lab_server_keys()
{
	lab_wg_keys srv
}

# lab_server_start_at NODE NAME WGPUNCHD [ARGS...]: run wgpunchd on NODE
# with NODE's own key (NODE.key, made when missing), logging (stamped) to
# NAME.log, and wait until it listens.  PID in LAB_LAST_PID and
# $LAB_DIR/NAME.pid.
lab_server_start_at()
{
	local node=$1 name=$2 bin=$3 pid
	shift 3
	[ -f "$LAB_DIR/$node.key" ] || lab_wg_keys "$node" || return 1
	lab_bg_stamped "$node" "$name" "$bin" --private-key "$LAB_DIR/$node.key" \
		--port "$LAB_SRV_PORT" --log-level "${LAB_SRV_LOG_LEVEL:-debug}" \
		"$@" || return 1
	pid=$LAB_LAST_PID
	echo "$pid" >"$LAB_DIR/$name.pid"
	# Generous: on a loaded machine a fork and an ss take their time.
	if ! lab_wait 20 lab_udp_bound "$node" "$LAB_SRV_PORT"; then
		echo "lab: wgpunchd on $node did not start listening" >&2
		return 1
	fi
	kill -0 "$pid" 2>/dev/null || return 1
	LAB_LAST_PID=$pid
}

# lab_server_start WGPUNCHD [ARGS...]: the usual server, on srv, logging
# to server.log, PID in server.pid.
lab_server_start()
{
	lab_server_start_at srv server "$@"
}

# lab_server_stop [NAME]: stop the server started as NAME (default server).
lab_server_stop()
{
	lab_kill "$(cat "$LAB_DIR/${1:-server}.pid")"
}

# lab_server_kill [NAME]: SIGKILL, a crash or a machine gone: no chance to
# say goodbye to anyone (its Redis connection is just dropped).
lab_server_kill()
{
	local pid
	pid=$(cat "$LAB_DIR/${1:-server}.pid") || return 1
	kill -KILL "$pid" 2>/dev/null || return 1
	wait "$pid" 2>/dev/null
	return 0
}

# lab_server_alive [NAME]: the server started as NAME still runs.
lab_server_alive()
{
	kill -0 "$(cat "$LAB_DIR/${1:-server}.pid" 2>/dev/null)" 2>/dev/null
}

# lab_server_ip NODE: the address a server node listens on.
lab_server_ip()
{
	case $1 in
	srv) echo "$LAB_SRV_IP" ;;
	srv2) echo "$LAB_SRV2_IP" ;;
	*) return 1 ;;
	esac
}

# lab_client_start WGPUNCH NODE COMMAND [ARGS...]: run "wgpunch COMMAND
# wg0 --server ... --server-key ..." in NODE, logging (stamped) to
# NODE.client.log.  PID in LAB_LAST_PID.  LAB_CLIENT_SERVERS="srv srv2"
# (server nodes) gives one --server and --server-key pair per node, in
# that order, instead of srv's (or LAB_SERVER_ADDR with srv's key).
lab_client_start()
{
	local bin=$1 node=$2 cmd=$3 n
	local -a servers=()
	shift 3
	if [ -n "${LAB_CLIENT_SERVERS:-}" ]; then
		for n in $LAB_CLIENT_SERVERS; do
			servers+=(--server "$(lab_server_ip "$n"):$LAB_SRV_PORT"
				  --server-key "$(lab_pub "$n")")
		done
	else
		servers=(--server "${LAB_SERVER_ADDR:-$LAB_SRV_IP:$LAB_SRV_PORT}"
			 --server-key "$(lab_pub srv)")
	fi
	lab_bg_stamped "$node" "$node.client" "$bin" "$cmd" wg0 "${servers[@]}" \
		--log-level "${LAB_CLIENT_LOG_LEVEL:-debug}" "$@"
}

# --- Redis ------------------------------------------------------------------

# lab_redis_start: run redis-server for the lab, in srv's namespace (it
# listens on nothing but a Unix socket, $LAB_DIR/redis/redis.sock, which
# any namespace reaches by its path), in the foreground, logging to
# redis.log, persisting nothing: a restart comes back empty.  Waits until
# it answers.  PID in LAB_LAST_PID and redis.pid, killed by lab_teardown.
# wgpunchd runs as nobody once set up and must reach the socket then too
# (to reconnect): the lab directory, 0700 from mktemp, gets search
# permission for others (nothing in it can be listed; keys stay 0600) and
# the socket is 0777.
lab_redis_start()
{
	local dir=$LAB_DIR/redis pid
	command -v redis-server >/dev/null 2>&1 || {
		echo "lab: redis-server is not installed" >&2
		return 1
	}
	mkdir -p "$dir" && chmod 0755 "$dir" && chmod o+x "$LAB_DIR" || return 1
	LAB_REDIS_SOCK=$dir/redis.sock
	rm -f "$LAB_REDIS_SOCK"
	lab_bg srv "$LAB_DIR/redis.log" redis-server --port 0 \
		--unixsocket "$LAB_REDIS_SOCK" --unixsocketperm 777 \
		--save '' --appendonly no --daemonize no --dir "$dir"
	pid=$LAB_LAST_PID
	echo "$pid" >"$LAB_DIR/redis.pid"
	if ! lab_wait 10 lab_redis_up; then
		echo "lab: redis-server did not start" >&2
		tail -n 20 "$LAB_DIR/redis.log" >&2
		return 1
	fi
	LAB_LAST_PID=$pid
}

# lab_redis_stop: stop the lab's redis-server (SIGTERM, then SIGKILL).
lab_redis_stop()
{
	[ -f "$LAB_DIR/redis.pid" ] || return 0
	lab_kill "$(cat "$LAB_DIR/redis.pid")"
	rm -f "$LAB_DIR/redis.pid"
}

# lab_redis_cli ARGS...: redis-cli on the lab's socket (raw output).
lab_redis_cli()
{
	redis-cli -s "$LAB_REDIS_SOCK" "$@"
}

# lab_redis_up: the lab's redis-server answers.
lab_redis_up()
{
	[ "$(lab_redis_cli PING 2>/dev/null)" = PONG ]
}

# lab_redis_url: what wgpunchd --registry takes for it.
lab_redis_url()
{
	echo "unix://$LAB_REDIS_SOCK"
}

# lab_key_hex BASE64: a WireGuard key as 64 lowercase hex digits.
lab_key_hex()
{
	printf '%s' "$1" | base64 -d | od -An -v -tx1 | tr -d ' \n'
}

# lab_redis_key NODE: the Redis key of NODE's registration (database
# LAB_REDIS_DB, default 0): wgpunch:<db>:reg:<hex of the public key>.
lab_redis_key()
{
	echo "wgpunch:${LAB_REDIS_DB:-0}:reg:$(lab_key_hex "$(lab_pub "$1")")"
}

# lab_redis_has NODE...: every NODE's registration is in Redis.
lab_redis_has()
{
	local n
	for n in "$@"; do
		[ "$(lab_redis_cli EXISTS "$(lab_redis_key "$n")" 2>/dev/null)" = 1 ] ||
			return 1
	done
}

# lab_redis_missing: print what the Redis cases lack on this machine.
lab_redis_missing()
{
	local c
	for c in redis-server redis-cli; do
		command -v "$c" >/dev/null 2>&1 || echo "$c"
	done
}

# --- the wire ---------------------------------------------------------------

# lab_wire_start: tcpdump on every link of the public router, each UDP
# datagram listed once as it comes in, with the kernel's receive time
# (exact however busy the machine is) in $LAB_DIR/wire.log.  Fails when
# tcpdump is missing or does not start.
lab_wire_start()
{
	command -v tcpdump >/dev/null 2>&1 || return 1
	lab_bg pub "$LAB_DIR/wire.log" tcpdump -i any -B 8192 -n -tt -l -q -Q in \
		--immediate-mode udp
	lab_wait 3 grep -qs 'listening on' "$LAB_DIR/wire.log"
}

# lab_wire_first SRC DST [LEN]: ms time of the first datagram SRC -> DST
# (ip.port as tcpdump prints them) of LEN bytes of payload, if any.
# WireGuard's sizes: initiation 148, response 92, keepalive 32.
lab_wire_first()
{
	awk -v s="$1" -v d="$2:" -v l="${3:-}" '
		$5 == s && $7 == d && (l == "" || $NF == l) {
			split($1, t, "."); printf "%d%03d\n", t[1], substr(t[2], 1, 3)
			exit
		}' "$LAB_DIR/wire.log"
}

# lab_wire_handshake: ms time of the first handshake response between the
# two NATs' WireGuard ports, either way, if any.
lab_wire_handshake()
{
	local a b
	a=$(lab_wire_first "$LAB_NATA_IP.$LAB_WG_PORT" "$LAB_NATB_IP.$LAB_WG_PORT" 92)
	b=$(lab_wire_first "$LAB_NATB_IP.$LAB_WG_PORT" "$LAB_NATA_IP.$LAB_WG_PORT" 92)
	if [ -n "$a" ] && { [ -z "$b" ] || [ "$a" -le "$b" ]; }; then
		echo "$a"
	elif [ -n "$b" ]; then
		echo "$b"
	else
		return 1
	fi
}

# lab_missing: print what this machine lacks for the lab, if anything.
lab_missing()
{
	local c
	for c in ip ss nft conntrack nsenter unshare mkfifo wireguard-go wg ping python3; do
		command -v "$c" >/dev/null 2>&1 || echo "$c"
	done
	[ -c /dev/net/tun ] || echo /dev/net/tun
}
