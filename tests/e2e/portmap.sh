#!/bin/bash
# portmap.sh PORTMAP_TOOL - the port-mapping module (src/client/portmap.c)
# against the real miniupnpd, one protocol at a time.
#
#   out (11.0.0.1) --- wan 11.0.0.2  gw  lan 198.19.7.1 --- cl (198.19.7.2)
#
# gw is a symmetric NAT (masquerade random, forward policy drop) running
# miniupnpd (lab.sh's lab_miniupnpd_start). For each of PCP, NAT-PMP and
# UPnP IGD the tool in cl gets a mapping of UDP 51820; a datagram from
# out to the external address:port must reach cl's port 51820; after
# SIGTERM the mapping must be gone (miniupnpd's DNAT rule and the path).
# Then: PCP renewal across a miniupnpd restart; a gateway without
# miniupnpd (refused) and one that drops port 5351 (silent) give state
# NONE within seconds; the tool stops promptly in every state.
#
# Exit 0 pass, 1 fail, 77 skipped (not root, or miniupnpd missing).
# LAB_KEEP_LOGS=1 keeps the lab directory; PORTMAP_VERBOSE=1 logs more.

E2E_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$E2E_DIR/lab.sh"

TOOL=${1:-${PORTMAP_TOOL:-}}
[ -n "$TOOL" ] && TOOL=$(realpath -m "$TOOL")

if [ "$(id -u)" -ne 0 ]; then
	echo "portmap: SKIP: needs root (network namespaces, nftables, miniupnpd)"
	exit 77
fi
for c in miniupnpd nft ip ss nsenter python3; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "portmap: SKIP: $c is missing (tools/install-deps installs it)"
		exit 77
	fi
done
if [ -z "$TOOL" ] || [ ! -x "$TOOL" ]; then
	echo "portmap: SKIP: portmap_tool not built (${TOOL:-no path given})"
	exit 77
fi

PORT=51820
GW_LAN=198.19.7.1
CL_IP=198.19.7.2
OUT_IP=11.0.0.1
WAN_IP=11.0.0.2
FAILED=0

say()
{
	echo "portmap: $*"
}

fail()
{
	say "FAIL: $*"
	FAILED=1
}

dump()
{
	local f
	for f in "$LAB_DIR"/*.log "$LAB_DIR"/*.out "$LAB_DIR"/*.err; do
		[ -s "$f" ] || continue
		echo "--- $f" >&2
		tail -n 40 "$f" >&2
	done
}

# --- the lab ------------------------------------------------------------------

setup()
{
	# shellcheck disable=SC2034  # read by lab.sh
	LAB_PORTMAP_NODES=gw
	lab_begin || return 1
	lab_add_node out && lab_add_node gw && lab_add_node cl || return 1
	# 11.0.0.0/24: miniupnpd refuses reserved WAN addresses; these
	# veths exist only between the test's own namespaces.
	lab_link out eth0 "$OUT_IP/24" gw wan "$WAN_IP/24" || return 1
	lab_link gw lan "$GW_LAN/24" cl eth0 "$CL_IP/24" || return 1
	ip -n "$(lab_ns cl)" route add default via "$GW_LAN" || return 1
	ip -n "$(lab_ns gw)" route add default via "$OUT_IP" || return 1
	lab_nat_router gw sym "$CL_IP" 2001:db8:7::2 || return 1
	# What the client's WireGuard would be: a socket on its port that
	# logs every datagram's payload.
	lab_bg cl "$LAB_DIR/received.log" python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    print(s.recv(2048).decode(errors="replace"), flush=True)
' "$PORT"
	lab_wait 5 lab_udp_bound cl "$PORT"
}

# send TOKEN IP PORT: one datagram from out, from a fresh source port (so
# no earlier conntrack entry decides where it goes).
send()
{
	lab_exec out python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(sys.argv[1].encode(), (sys.argv[2], int(sys.argv[3])))
' "$1" "$2" "$3"
}

arrived()
{
	grep -qx -- "$1" "$LAB_DIR/received.log"
}

# reaches TOKEN IP PORT: a datagram sent to IP:PORT arrives at cl's port
# (a few tries: the first may race the rule being installed).
reaches()
{
	local i
	for i in 1 2 3 4 5; do
		send "$1.$i" "$2" "$3"
		if lab_wait 1 arrived "$1.$i"; then
			return 0
		fi
	done
	return 1
}

# never_reaches TOKEN IP PORT: two datagrams, a second to arrive: none.
never_reaches()
{
	send "$1.1" "$2" "$3"
	send "$1.2" "$2" "$3"
	sleep 1
	! arrived "$1.1" && ! arrived "$1.2"
}

dnat_rule_for()
{
	nsenter --net="/run/netns/$(lab_ns gw)" \
		nft list chain inet miniupnpd prerouting_miniupnpd 2>/dev/null |
		grep -q "dport $1 dnat"
}

# --- the tool -----------------------------------------------------------------

TOOL_PID=
TOOL_OUT=

# tool_start NAME ARGS...: run the tool in cl; its lines go to NAME.out.
tool_start()
{
	local name=$1
	shift
	TOOL_OUT=$LAB_DIR/$name.out
	: >"$TOOL_OUT"
	[ -n "${PORTMAP_VERBOSE:-}" ] && set -- "$@" --verbose
	# nsenter execs the tool: $! is the tool's own PID, for SIGTERM.
	nsenter --net="/run/netns/$(lab_ns cl)" "$TOOL" --port "$PORT" "$@" \
		>"$TOOL_OUT" 2>"$LAB_DIR/$name.err" </dev/null &
	TOOL_PID=$!
	lab_record_pid "$TOOL_PID"
}

tool_line()
{
	grep -E -m 1 -- "$1" "$TOOL_OUT"
}

has_line()
{
	grep -qE -- "$1" "$TOOL_OUT"
}

# tool_stop: SIGTERM, and the tool must be gone within 2.5 s.
tool_stop()
{
	local t0 i
	t0=$(lab_now_ms)
	kill -TERM "$TOOL_PID" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$TOOL_PID" 2>/dev/null || break
		sleep 0.025
	done
	if kill -0 "$TOOL_PID" 2>/dev/null; then
		fail "the tool did not exit within 2.5 s of SIGTERM"
		kill -KILL "$TOOL_PID" 2>/dev/null
	fi
	wait "$TOOL_PID" 2>/dev/null
	STOP_MS=$(($(lab_now_ms) - t0))
}

# --- cases --------------------------------------------------------------------

# case_protocol PROTO NAME: map, prove, stop, prove the mapping gone.
case_protocol()
{
	local proto=$1 name=$2 line ext ip port ms
	tool_start "$proto" --proto "$proto"
	if ! lab_wait 10 has_line '^(mapped|none)'; then
		fail "$proto: no mapping within 10 s"
		tool_stop
		return
	fi
	line=$(tool_line '^(mapped|none)')
	read -r _ name_got ext _ _ _ ms _ <<<"$line"
	if [ "${line%% *}" != mapped ] || [ "$name_got" != "$name" ]; then
		fail "$proto: $line"
		tool_stop
		return
	fi
	ip=${ext%:*}
	port=${ext##*:}
	say "$proto: $line"
	[ "$ip" = "$WAN_IP" ] || fail "$proto: external address $ip, not $WAN_IP"
	dnat_rule_for "$port" || fail "$proto: no DNAT rule for port $port in miniupnpd's chain"
	reaches "$proto-mapped" "$ip" "$port" ||
		fail "$proto: a datagram to $ip:$port did not reach the client"
	tool_stop
	say "$proto: stopped in $STOP_MS ms ($(tool_line '^stopped'))"
	! dnat_rule_for "$port" || fail "$proto: the DNAT rule for $port is still there after stop"
	never_reaches "$proto-deleted" "$ip" "$port" ||
		fail "$proto: a datagram to $ip:$port still arrives after stop"
}

# PCP with a short lifetime across a miniupnpd restart: the renewal finds
# the epoch reset, and the mapping works again without the tool restarting.
case_restart()
{
	local line ext port
	tool_start pcp-restart --proto pcp --lifetime 10 --verbose
	if ! lab_wait 10 has_line '^mapped pcp'; then
		fail "restart: no PCP mapping"
		tool_stop
		return
	fi
	line=$(tool_line '^mapped')
	ext=$(echo "$line" | cut -d' ' -f3)
	port=${ext##*:}
	lab_miniupnpd_stop gw
	# A restart loses its rules too: the chains are flushed, as a
	# rebooted router's would be.
	nsenter --net="/run/netns/$(lab_ns gw)" nft flush chain inet miniupnpd prerouting_miniupnpd
	nsenter --net="/run/netns/$(lab_ns gw)" nft flush chain inet miniupnpd miniupnpd
	never_reaches restart-lost "$WAN_IP" "$port" ||
		fail "restart: the mapping survived the gateway's restart (test broken)"
	lab_miniupnpd_start gw min_lifetime=5 >/dev/null || { fail "restart: miniupnpd"; return; }
	# Renewal at half of 10 s after the mapping.
	if lab_wait 12 grep -q 'gateway restarted' "$LAB_DIR/pcp-restart.err"; then
		say "restart: $(grep -m 1 'gateway restarted' "$LAB_DIR/pcp-restart.err")"
	else
		fail "restart: the renewal did not notice the restart"
	fi
	lab_wait 3 dnat_rule_for "$port" || fail "restart: no DNAT rule after the renewal"
	reaches restart-back "$WAN_IP" "$port" ||
		fail "restart: the mapping did not come back"
	tool_stop
	! dnat_rule_for "$port" || fail "restart: the DNAT rule is still there after stop"
}

# case_none NAME LIMIT_MS: with no mapping gateway, NONE within LIMIT_MS.
case_none()
{
	local name=$1 limit=$2 line ms
	tool_start "$name" --proto all
	if ! lab_wait $((limit / 1000 + 2)) has_line '^(none|mapped)'; then
		fail "$name: no state NONE"
		tool_stop
		return
	fi
	line=$(tool_line '^(none|mapped)')
	say "$name: $line"
	case $line in none:*) ;; *) fail "$name: $line" ;; esac
	ms=$(echo "$line" | sed -n 's/.* after \([0-9]*\) ms$/\1/p')
	if [ -z "$ms" ] || [ "$ms" -gt "$limit" ]; then
		fail "$name: NONE took ${ms:-?} ms (> $limit)"
	fi
	tool_stop
	say "$name: stopped in $STOP_MS ms"
}

# Stopped in the middle of asking a silent gateway.
case_stop_while_trying()
{
	tool_start stop-trying --proto all
	sleep 0.5
	has_line '^trying' || fail "stop-trying: not trying after 0.5 s"
	tool_stop
	say "stop while trying: stopped in $STOP_MS ms"
	[ "$STOP_MS" -le 1500 ] || fail "stop-trying: took $STOP_MS ms"
}

main()
{
	local t0
	t0=$(lab_now_ms)
	lab_trap
	if ! setup; then
		dump
		echo "portmap: FAIL: lab setup"
		exit 1
	fi
	if ! lab_miniupnpd_start gw min_lifetime=5; then
		dump
		echo "portmap: FAIL: miniupnpd did not start"
		exit 1
	fi
	case_protocol pcp pcp
	case_protocol natpmp natpmp
	case_protocol upnp upnp
	case_restart

	lab_miniupnpd_stop gw
	case_none refused 4000
	# Nothing answers on 5351 or 1900 now: every protocol times out.
	nsenter --net="/run/netns/$(lab_ns gw)" nft add rule inet lab input \
		iifname lan udp dport '{ 1900, 5351 }' drop
	case_stop_while_trying
	case_none silent 8000

	[ "$FAILED" -eq 0 ] || dump
	say "$([ "$FAILED" -eq 0 ] && echo PASS || echo FAIL) in $(($(lab_now_ms) - t0)) ms"
	exit "$FAILED"
}

main
