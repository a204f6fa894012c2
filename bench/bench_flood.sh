#!/bin/bash
# bench_flood.sh BUILD_DIR - how much service wgpunchd still gives while a
# third party floods it with spoofed UDP (issue 9, "What to build" 6).
#
# One lab (tests/e2e/lab.sh) for the whole run, wgpunchd restarted for
# every row.  On the public segment, next to srv:
#   A, B   an existing pair, each behind its own NAT, registered (naming
#          each other) before the flood; each sends LOOKUP_RATE LOOKUPs
#          of the other per second for the flood's duration
#   newc   198.18.5.2: NEW_RATE fresh keys per second arrive during the
#          flood, one REGISTER each
#   vic    198.18.6.2: the victim, a registered client at 198.18.6.2:51820
#          doing LOOKUP_RATE LOOKUPs per second (of itself: it has no
#          peer, so any LOOKUP_REPLY, UNAVAILABLE, is service); the
#          "victim" flood spoofs exactly that address and port
#   evil   runs bench/flood: raw IPv4 with spoofed sources, paced
# Kinds: junk, unknown (valid header, unknown key: one X25519 each),
# replay (A's captured genuine REGISTER), victim (unknown, from vic's
# address).  Sources for the first three: 1 address, 200 addresses,
# random ones in 198.18.0.0/15 (pub blackholes the replies to them).
#
# Per kind x sources x rate, one line: the rate asked and actually sent,
# the share of requests answered with service within 1 s (pair: LOOKUP
# OK; new: REGISTER_REPLY; victim: a LOOKUP_REPLY), the server's CPU % over
# the flood (from /proc/PID/stat), its RSS at the end (VmRSS), and how
# many datagrams the kernel dropped because the server's receive queue
# was full (qdrops: RcvbufErrors in srv's namespace).
# A client counts a request as served only if its reply came within 1 s
# (REPLY_TIMEOUT_MS). The pair and the victim send each LOOKUP once; a
# new client resends its REGISTER as wgpunch does (250 ms, then 500 ms
# later, the same transaction id), from a source port of its own.
#
# Environment (defaults: the whole run takes ~7-8 minutes):
#   KINDS="junk unknown replay victim"  SOURCES="1 200 random"
#   RATES="5000 10000 20000 40000 0"    (0: as fast as flood can send)
#   FLOOD_S=5  LOOKUP_RATE=20  NEW_RATE=10
#   SERVER_ARGS=""      more wgpunchd options, e.g. "--dh-rate 5000"
#   WGPUNCHD=, FLOOD=, FLOOD_CLIENT=   other binaries than BUILD_DIR's
#   REPLY_TIMEOUT_MS=1000  how long a client waits for each reply
#   CHECK=1             exit 1 unless, in every row, the pair and the
#                       victim got >= 99%, every new client registered and
#                       wgpunchd still runs (tests/e2e/flood.sh: the short
#                       version)
#
# Needs root; exits 77 (skipped) otherwise.  A benchmark: run it on the
# release build (make bench: build-bench) of an otherwise idle machine.

set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tests/e2e/lab.sh
. "$BENCH_DIR/../tests/e2e/lab.sh"

BUILD=${1:-build-bench}
WGPUNCHD=${WGPUNCHD:-$BUILD/src/server/wgpunchd}
FLOOD=${FLOOD:-$BUILD/bench/flood}
FLOOD_CLIENT=${FLOOD_CLIENT:-$BUILD/bench/flood_client}
KINDS=${KINDS:-junk unknown replay victim}
SOURCES=${SOURCES:-1 200 random}
RATES=${RATES:-5000 10000 20000 40000 0}
FLOOD_S=${FLOOD_S:-5}
LOOKUP_RATE=${LOOKUP_RATE:-20}
NEW_RATE=${NEW_RATE:-10}
SERVER_ARGS=${SERVER_ARGS:-}
CHECK=${CHECK:-}
REPLY_TIMEOUT_MS=${REPLY_TIMEOUT_MS:-1000}
# Time for the pair and the victim to register before the flood starts.
LEAD_MS=1500
NEWC_IP=198.18.5.2
VIC_IP=198.18.6.2
VIC_PORT=51820

if [ "$(id -u)" -ne 0 ]; then
	echo "bench_flood: skipped: needs root (network namespaces, raw sockets)"
	exit 77
fi
missing=$(lab_missing | tr '\n' ' ')
if [ -n "$missing" ]; then
	echo "bench_flood: skipped: missing $missing"
	exit 77
fi
for b in "$WGPUNCHD" "$FLOOD" "$FLOOD_CLIENT"; do
	if [ ! -x "$b" ]; then
		echo "bench_flood: skipped: $b not built"
		exit 77
	fi
done

# --- the lab ---------------------------------------------------------------

# flood_host NODE NET: a host on the public segment at NET.2, pub at NET.1.
flood_host()
{
	lab_add_node "$1" || return 1
	lab_link pub "$1" "$2.1/24" "$1" eth0 "$2.2/24" || return 1
	ip -n "$LAB_PREFIX-$1" route add default via "$2.1"
}

# Spoofed sources must reach the server: no reverse-path filter on the
# way (the kernel's default may differ between namespaces).
flood_no_rp_filter()
{
	# shellcheck disable=SC2016  # expanded by that sh, in the namespace
	lab_exec "$1" sh -c \
		'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 >"$f"; done'
}

flood_lab()
{
	lab_setup eim eim || return 1
	flood_host newc "${NEWC_IP%.*}" || return 1
	flood_host vic "${VIC_IP%.*}" || return 1
	flood_no_rp_filter pub && flood_no_rp_filter srv || return 1
	# Replies to spoofed sources end here, silently (the lab's own
	# subnets are more specific and still routed).
	ip -n "$LAB_PREFIX-pub" route add blackhole 198.18.0.0/15 || return 1
	lab_server_keys && lab_wg_keys A && lab_wg_keys B && lab_wg_keys vic
}

# --- one row ---------------------------------------------------------------

# cpu_ticks PID: utime + stime of a process, in clock ticks.
cpu_ticks()
{
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	# Fields after the command name, which may hold spaces: ") S ppid..."
	stat=${stat##*) }
	# shellcheck disable=SC2086  # split into fields on purpose
	set -- $stat
	echo $((${12} + ${13}))
}

# rcvbuf_errors: datagrams srv's UDP sockets dropped, their queue full
# (the namespace's RcvbufErrors, IPv4 and IPv6).
rcvbuf_errors()
{
	lab_exec srv cat /proc/net/snmp /proc/net/snmp6 2>/dev/null | awk '
		/^Udp: InDatagrams/ { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") f = i; next }
		/^Udp: / && f { n += $f }
		/^Udp6RcvbufErrors/ { n += $2 }
		END { print n + 0 }'
}

rss_kb()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

sleep_until_ms()
{
	local left=$(($1 - $(lab_now_ms)))
	[ "$left" -gt 0 ] && sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
	return 0
}

# field NAME FILE: the value of NAME=... on the last line of FILE.
field()
{
	tail -n 1 "$2" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# percent OK SENT: "99.5" (one decimal), or "-" when nothing was sent.
# count NAME FILE: the same, 0 when missing.
count()
{
	local v
	v=$(field "$1" "$2")
	echo "${v:-0}"
}

percent()
{
	awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN {
		if (b + 0 == 0) print "-"; else printf "%.1f\n", 100 * a / b }'
}

# client NODE NAME ARGS...: a flood_client in NODE, output in NAME.out.
client()
{
	local node=$1 name=$2
	shift 2
	: >"$LAB_DIR/$name.out"
	lab_bg "$node" "$LAB_DIR/$name.out" "$FLOOD_CLIENT" "$@" \
		--server "$LAB_SRV_IP:$LAB_SRV_PORT" --server-key "$(lab_pub srv)" \
		--seconds "$FLOOD_S" --timeout-ms "$REPLY_TIMEOUT_MS"
	CLIENT_PIDS="$CLIENT_PIDS $LAB_LAST_PID"
}

start_clients()
{
	local start=$1
	CLIENT_PIDS=
	rm -f "$LAB_DIR/A.register"
	client A A lookup --key "$LAB_DIR/A.key" --peer "$(lab_pub B)" \
		--rate "$LOOKUP_RATE" --start "$start" \
		--capture "$LAB_DIR/A.register"
	client B B lookup --key "$LAB_DIR/B.key" --peer "$(lab_pub A)" \
		--rate "$LOOKUP_RATE" --start "$start"
	client vic vic lookup --key "$LAB_DIR/vic.key" --bind-port "$VIC_PORT" \
		--rate "$LOOKUP_RATE" --start "$start"
	client newc new new --rate "$NEW_RATE" --start "$start"
}

# run_flood KIND SOURCES RATE: bench/flood from evil, for FLOOD_S.
run_flood()
{
	local kind=$1 sources=$2 rate=$3
	set -- --to "$LAB_SRV_IP:$LAB_SRV_PORT" --kind "$kind" --rate "$rate" \
		--seconds "$FLOOD_S"
	case $kind in
	replay) set -- "$@" --replay "$LAB_DIR/A.register" --sources "$sources" ;;
	victim) set -- "$@" --victim "$VIC_IP:$VIC_PORT" ;;
	*) set -- "$@" --sources "$sources" ;;
	esac
	lab_exec evil "$FLOOD" "$@" >"$LAB_DIR/flood.out" 2>&1
}

FAILED_ROWS=0

# check_row PAIR_OK PAIR_SENT NEW_OK NEW_SENT ALIVE VIC_OK VIC_SENT:
# CHECK's assertions.
check_row()
{
	local why=
	[ "$2" -gt 0 ] && [ $(($1 * 100)) -ge $(($2 * 99)) ] ||
		why="$why pair $1/$2 (< 99%);"
	[ "$4" -gt 0 ] && [ "$3" -eq "$4" ] || why="$why new clients $3/$4;"
	[ "$5" = yes ] || why="$why wgpunchd died;"
	[ "$7" -gt 0 ] && [ $(($6 * 100)) -ge $(($7 * 99)) ] ||
		why="$why victim $6/$7 (< 99%);"
	[ -z "$why" ] && return 0
	echo "  FAIL:$why"
	FAILED_ROWS=$((FAILED_ROWS + 1))
}

# row KIND SOURCES RATE: one measurement, one line.
row()
{
	local kind=$1 sources=$2 rate=$3 pid start c0 c1 t0 t1 rss alive=yes
	local pair_ok pair_sent new_ok new_sent vic_ok vic_sent sent pps cpu pid_c
	local ticks q0 q1
	ticks=$(getconf CLK_TCK)
	# shellcheck disable=SC2086  # options, split on purpose
	LAB_SRV_LOG_LEVEL=warn lab_server_start "$WGPUNCHD" $SERVER_ARGS || {
		echo "bench_flood: wgpunchd did not start" >&2
		return 1
	}
	pid=$LAB_LAST_PID
	start=$(($(lab_now_ms) + LEAD_MS))
	start_clients "$start"
	sleep_until_ms "$start"
	c0=$(cpu_ticks "$pid")
	q0=$(rcvbuf_errors)
	t0=$(lab_now_ms)
	run_flood "$kind" "$sources" "$rate"
	t1=$(lab_now_ms)
	c1=$(cpu_ticks "$pid")
	q1=$(rcvbuf_errors)
	rss=$(rss_kb "$pid")
	kill -0 "$pid" 2>/dev/null || alive=no
	for pid_c in $CLIENT_PIDS; do
		wait "$pid_c" 2>/dev/null
	done
	lab_server_stop

	sent=$(field sent "$LAB_DIR/flood.out")
	pps=$(field pps "$LAB_DIR/flood.out")
	if [ -z "$sent" ]; then
		echo "bench_flood: flood failed: $(tail -n 2 "$LAB_DIR/flood.out")" >&2
		sent=0 pps=0
	fi
	pair_ok=$(($(count ok "$LAB_DIR/A.out") + $(count ok "$LAB_DIR/B.out")))
	pair_sent=$(($(count sent "$LAB_DIR/A.out") + $(count sent "$LAB_DIR/B.out")))
	new_ok=$(count ok "$LAB_DIR/new.out")
	new_sent=$(count sent "$LAB_DIR/new.out")
	vic_ok=$(count answered "$LAB_DIR/vic.out")
	vic_sent=$(count sent "$LAB_DIR/vic.out")
	cpu=$(awk -v c=$((c1 - c0)) -v hz="$ticks" -v ms=$((t1 - t0)) \
		'BEGIN { printf "%.0f", (ms > 0 ? 100 * c / hz / (ms / 1000) : 0) }')
	[ "$rate" = 0 ] && rate=max
	printf '%-8s %-7s %6s %7s %7s%% %7s%% %7s%% %5s%% %7s %8s %s\n' \
		"$kind" "$sources" "$rate" "$pps" \
		"$(percent "$pair_ok" "$pair_sent")" \
		"$(percent "$new_ok" "$new_sent")" \
		"$(percent "$vic_ok" "$vic_sent")" \
		"$cpu" "$(awk -v k="${rss:-0}" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$((q1 - q0))" "$([ "$alive" = yes ] || echo '(wgpunchd died)')"
	[ -n "$CHECK" ] && check_row "$pair_ok" "$pair_sent" "$new_ok" \
		"$new_sent" "$alive" "$vic_ok" "$vic_sent"
	return 0
}

# --- main --------------------------------------------------------------------------

lab_trap
T_BEGIN=$(lab_now_ms)
if ! flood_lab; then
	echo "bench_flood: the lab could not be built" >&2
	exit 1
fi
echo "bench_flood: wgpunchd $WGPUNCHD ${SERVER_ARGS:+($SERVER_ARGS) }on $(nproc) CPUs;" \
	"${FLOOD_S} s of flood per line; pair and victim $LOOKUP_RATE LOOKUPs/s" \
	"each, $NEW_RATE new clients/s; served = answered OK within" \
	"$REPLY_TIMEOUT_MS ms"
printf '%-8s %-7s %6s %7s %8s %8s %8s %6s %7s %8s\n' \
	kind sources asked sent/s pair new victim cpu rss/MB qdrops
for rate in $RATES; do
	for kind in $KINDS; do
		sets=$SOURCES
		[ "$kind" = victim ] && sets=victim
		for sources in $sets; do
			row "$kind" "$sources" "$rate" || exit 1
		done
	done
done
echo "bench_flood: $(( ($(lab_now_ms) - T_BEGIN) / 1000 )) s"
if [ -n "$CHECK" ] && [ "$FAILED_ROWS" -gt 0 ]; then
	echo "bench_flood: service did not hold in $FAILED_ROWS row(s)"
	exit 1
fi
exit 0
