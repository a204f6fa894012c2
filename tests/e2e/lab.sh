# shellcheck shell=bash
# lab.sh - an emulated Internet with two NATs, for wgpunch's end-to-end
# tests and its demo.  Source it from bash; it defines lab_* functions and
# LAB_* variables and runs nothing by itself.
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
# Every node is a network namespace named $LAB_PREFIX-<node>; each link is
# a veth pair created straight inside the two namespaces, so nothing touches
# the root namespace's interfaces.  pub is a router (not a bridge) so TTL is
# decremented on the public segment like it would be on the Internet.
# natA and natB masquerade their LAN behind their "wan" address:
#   eim  plain masquerade: endpoint-independent mapping, keeps the port
#   sym  masquerade random: a fresh port per destination (symmetric NAT)
# Both drop unsolicited inbound packets on wan, so an early packet from
# the far side leaves no conntrack entry behind (see nat-traversal.md,
# "stray-conntrack deadlock").
#
# The WireGuard peers A and B also live in a private mount namespace with
# their own tmpfs on /run/wireguard: wireguard-go's UAPI socket path is not
# per network namespace, so two wg0 would otherwise clash.
#
# Addresses come only from 198.18.0.0/15 and 2001:db8::/32.

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
LAB_A_IP6=2001:db8:a::2
LAB_B_IP6=2001:db8:b::2
LAB_WG_PORT=51820
# Debian's python3 when there is one: a version manager's shim can take
# a tenth of a second to start, which is longer than some waits here.
# shellcheck disable=SC2034  # used by run-e2e.sh
LAB_PYTHON=$(command -v /usr/bin/python3 || command -v python3)

LAB_PREFIX=
LAB_DIR=
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

# A private mount namespace with a tmpfs on /run/wireguard, held open by
# a sleeping process whose PID is stored in $LAB_DIR/NODE.mnt.
lab_add_mntns()
{
	local node=$1
	mkdir -p /run/wireguard
	nsenter --net="/run/netns/$LAB_PREFIX-$node" \
		unshare --mount --propagation private \
		sh -c 'mount -t tmpfs -o mode=0700 tmpfs /run/wireguard &&
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

# nftables for a NAT router.  MODE is eim or sym.
lab_nat_rules()
{
	local mode=$1 masq=masquerade
	[ "$mode" = sym ] && masq="masquerade random"
	cat <<EOF
table inet lab {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		meta nfproto ipv4 oifname "wan" $masq
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wan" ct state new meta l4proto != ipv6-icmp drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		icmpv6 type { packet-too-big, time-exceeded, destination-unreachable } accept
		iifname "wan" ct state new drop
		iifname "lan" oifname "wan" accept
	}
}
EOF
}

lab_nat_mode()
{
	local node=$1 mode=$2
	lab_nat_rules "$mode" | nsenter --net="/run/netns/$LAB_PREFIX-$node" \
		nft -f - || return 1
	echo "$mode" >"$LAB_DIR/$node.mode"
}

# lab_setup [MODE_A] [MODE_B]: build the whole network.  Defaults: eim eim.
# Call lab_teardown when done (lab_setup installs no trap itself; see
# lab_trap).
lab_setup()
{
	local mode_a=${1:-eim} mode_b=${2:-eim} n

	# BASHPID: cases run in parallel subshells, which share $$.
	LAB_PREFIX="wgp-${BASHPID:-$$}-$RANDOM"
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/$LAB_PREFIX.XXXXXX") || return 1
	: >"$LAB_DIR/pids"
	LAB_NODES=
	LAB_T0=$(lab_now_ms)

	for n in pub srv natA natB evil A B; do
		lab_add_node "$n" || return 1
	done

	lab_link pub srv  198.18.1.1/24 srv  eth0 "$LAB_SRV_IP/24"  || return 1
	lab_link pub natA 198.18.2.1/24 natA wan  "$LAB_NATA_IP/24" || return 1
	lab_link pub natB 198.18.3.1/24 natB wan  "$LAB_NATB_IP/24" || return 1
	lab_link pub evil 198.18.4.1/24 evil eth0 "$LAB_EVIL_IP/24" || return 1
	lab_link natA lan 198.19.1.1/24 A eth0 "$LAB_A_IP/24" || return 1
	lab_link natB lan 198.19.2.1/24 B eth0 "$LAB_B_IP/24" || return 1

	# IPv6 everywhere, routed end to end: the NAT routers do no NAT66,
	# only their stateful firewall applies (as for most IPv6 at home).
	lab_addr6 pub srv 2001:db8:1::1 srv eth0 "$LAB_SRV_IP6" || return 1
	lab_addr6 pub natA 2001:db8:2::1 natA wan "$LAB_NATA_IP6" || return 1
	lab_addr6 pub natB 2001:db8:3::1 natB wan "$LAB_NATB_IP6" || return 1
	lab_addr6 pub evil 2001:db8:4::1 evil eth0 "$LAB_EVIL_IP6" || return 1
	lab_addr6 natA lan 2001:db8:a::1 A eth0 "$LAB_A_IP6" || return 1
	lab_addr6 natB lan 2001:db8:b::1 B eth0 "$LAB_B_IP6" || return 1
	ip -n "$LAB_PREFIX-pub" -6 route add 2001:db8:a::/64 via "$LAB_NATA_IP6" || return 1
	ip -n "$LAB_PREFIX-pub" -6 route add 2001:db8:b::/64 via "$LAB_NATB_IP6" || return 1
	ip -n "$LAB_PREFIX-srv"  -6 route add default via 2001:db8:1::1 || return 1
	ip -n "$LAB_PREFIX-natA" -6 route add default via 2001:db8:2::1 || return 1
	ip -n "$LAB_PREFIX-natB" -6 route add default via 2001:db8:3::1 || return 1
	ip -n "$LAB_PREFIX-evil" -6 route add default via 2001:db8:4::1 || return 1
	ip -n "$LAB_PREFIX-A"    -6 route add default via 2001:db8:a::1 || return 1
	ip -n "$LAB_PREFIX-B"    -6 route add default via 2001:db8:b::1 || return 1

	ip -n "$LAB_PREFIX-srv"  route add default via 198.18.1.1 || return 1
	ip -n "$LAB_PREFIX-natA" route add default via 198.18.2.1 || return 1
	ip -n "$LAB_PREFIX-natB" route add default via 198.18.3.1 || return 1
	ip -n "$LAB_PREFIX-evil" route add default via 198.18.4.1 || return 1
	ip -n "$LAB_PREFIX-A"    route add default via 198.19.1.1 || return 1
	ip -n "$LAB_PREFIX-B"    route add default via 198.19.2.1 || return 1

	for n in pub natA natB; do
		lab_sysctl "$n" net.ipv4.ip_forward=1 \
			net.ipv6.conf.all.forwarding=1 || return 1
	done

	lab_nat_mode natA "$mode_a" || return 1
	lab_nat_mode natB "$mode_b" || return 1

	lab_add_mntns A || return 1
	lab_add_mntns B || return 1
	lab_log "ready in $(($(lab_now_ms) - LAB_T0)) ms ($LAB_PREFIX)"
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

# lab_server_start WGPUNCHD [ARGS...]: run wgpunchd on srv with its key,
# logging (stamped) to server.log, and wait until it listens.  PID in
# LAB_LAST_PID and $LAB_DIR/server.pid.
lab_server_start()
{
	local bin=$1 pid
	shift
	[ -f "$LAB_DIR/srv.key" ] || lab_server_keys || return 1
	lab_bg_stamped srv server "$bin" --private-key "$LAB_DIR/srv.key" \
		--port "$LAB_SRV_PORT" --log-level "${LAB_SRV_LOG_LEVEL:-debug}" \
		"$@" || return 1
	pid=$LAB_LAST_PID
	echo "$pid" >"$LAB_DIR/server.pid"
	if ! lab_wait 3 lab_udp_bound srv "$LAB_SRV_PORT"; then
		echo "lab: wgpunchd did not start listening" >&2
		return 1
	fi
	kill -0 "$pid" 2>/dev/null || return 1
	LAB_LAST_PID=$pid
}

lab_server_stop()
{
	lab_kill "$(cat "$LAB_DIR/server.pid")"
}

# lab_client_start WGPUNCH NODE COMMAND [ARGS...]: run "wgpunch COMMAND
# wg0 --server ... --server-key ..." in NODE, logging (stamped) to
# NODE.client.log.  PID in LAB_LAST_PID.
lab_client_start()
{
	local bin=$1 node=$2 cmd=$3
	shift 3
	lab_bg_stamped "$node" "$node.client" "$bin" "$cmd" wg0 \
		--server "${LAB_SERVER_ADDR:-$LAB_SRV_IP:$LAB_SRV_PORT}" \
		--server-key "$(lab_pub srv)" \
		--log-level "${LAB_CLIENT_LOG_LEVEL:-debug}" "$@"
}

# --- the wire ---------------------------------------------------------------

# lab_wire_start: tcpdump on every link of the public router, each UDP
# datagram listed once as it comes in, with the kernel's receive time
# (exact however busy the machine is) in $LAB_DIR/wire.log.  Fails when
# tcpdump is missing or does not start.
lab_wire_start()
{
	command -v tcpdump >/dev/null 2>&1 || return 1
	lab_bg pub "$LAB_DIR/wire.log" tcpdump -i any -n -tt -l -q -Q in \
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
	for c in ip ss nft nsenter unshare mkfifo wireguard-go wg ping python3; do
		command -v "$c" >/dev/null 2>&1 || echo "$c"
	done
	[ -c /dev/net/tun ] || echo /dev/net/tun
}
