#!/bin/bash
# run-e2e.sh [WGPUNCHD [WGPUNCH [E2E_FORGE]]] - wgpunch's end-to-end tests.
#
# Every case builds its own emulated network (lab.sh: namespaces, veths,
# nftables NATs, wireguard-go) and tears it down on the way out, pass or
# fail.  Cases that need wgpunchd or wgpunch are skipped when the binary
# is not given or does not exist.
#
#   E2E_ONLY="case1 case2"   run only these cases
#   E2E_JOBS=N               run up to N cases at once (default 3: most of
#                            a case is waiting on WireGuard's timers)
#   LAB_KEEP_LOGS=1          keep each case's lab directory for a post-mortem
#
# Exit: 0 all ran cases passed, 1 a case failed, 77 (meson's "skipped")
# when this machine cannot run the lab at all.

E2E_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$E2E_DIR/lab.sh"
LABTOOL=${LABTOOL:-$E2E_DIR/labtool.py}

WGPUNCHD=${1:-${WGPUNCHD:-}}
WGPUNCH=${2:-${WGPUNCH:-}}
FORGE=${3:-${E2E_FORGE:-}}
[ -n "$WGPUNCHD" ] && WGPUNCHD=$(realpath -m "$WGPUNCHD")
[ -n "$WGPUNCH" ] && WGPUNCH=$(realpath -m "$WGPUNCH")
[ -n "$FORGE" ] && FORGE=$(realpath -m "$FORGE")

REFLECT_PORT=3478

if [ "$(id -u)" -ne 0 ]; then
	echo "e2e: SKIP: needs root (network namespaces, nftables, wireguard-go)"
	exit 77
fi
missing=$(lab_missing | tr '\n' ' ')
if [ -n "$missing" ]; then
	echo "e2e: SKIP: missing on this machine: $missing(tools/install-deps installs them)"
	exit 77
fi

# --- helpers for the cases --------------------------------------------------

fail()
{
	echo "  $*" >&2
	exit 1
}

skip()
{
	echo "  $*" >&2
	exit 77
}

need_binaries()
{
	local b
	for b in "$@"; do
		case $b in
		wgpunchd) [ -n "$WGPUNCHD" ] && [ -x "$WGPUNCHD" ] ||
			skip "wgpunchd not built (${WGPUNCHD:-no path given})" ;;
		wgpunch) [ -n "$WGPUNCH" ] && [ -x "$WGPUNCH" ] ||
			skip "wgpunch not built (${WGPUNCH:-no path given})" ;;
		forge) [ -n "$FORGE" ] && [ -x "$FORGE" ] ||
			skip "e2e-forge not built (${FORGE:-no path given})" ;;
		esac
	done
}

# Seconds, with milliseconds, since T0 (ms): for the case's own log lines.
since()
{
	local d=$(($(lab_now_ms) - $1))
	printf '%d.%03d' $((d / 1000)) $((d % 1000))
}

# Dump every log of the lab to stderr: called when a case fails.
dump_logs()
{
	local f
	[ -n "$LAB_DIR" ] || return 0
	for f in "$LAB_DIR"/*.log; do
		[ -s "$f" ] || continue
		echo "  --- $(basename "$f") (last 30 lines)" >&2
		tail -n 30 "$f" | sed 's/^/  | /' >&2
	done
}

# The tunnel works if both sides have a handshake and a ping goes through.
tunnel_up()
{
	lab_has_handshake A B && lab_has_handshake B A &&
		lab_ping A "$LAB_B_TUN" >/dev/null
}

# --- the contrib mechanism by hand: proves the lab itself ------------------

# Learn each peer's NAT mapping the way a rendezvous server sees it (a
# reflector on srv, probed from WireGuard's own port through a raw socket)
# and install it as the other side's endpoint.  WireGuard's handshakes then
# punch the hole, or not.
manual_punch()
{
	local ep_a ep_b
	lab_bg srv "$LAB_DIR/reflect.log" "$LAB_PYTHON" "$LABTOOL" reflect "$REFLECT_PORT"
	ep_a=$(lab_exec A "$LAB_PYTHON" "$LABTOOL" probe "$LAB_SRV_IP" \
		"$REFLECT_PORT" "$LAB_WG_PORT") || fail "probe from A failed"
	ep_b=$(lab_exec B "$LAB_PYTHON" "$LABTOOL" probe "$LAB_SRV_IP" \
		"$REFLECT_PORT" "$LAB_WG_PORT") || fail "probe from B failed"
	echo "  mappings: A=$ep_a B=$ep_b" >&2
	lab_exec A wg set wg0 peer "$(lab_pub B)" endpoint "$ep_b" \
		persistent-keepalive 25 || fail "wg set on A"
	lab_exec B wg set wg0 peer "$(lab_pub A)" endpoint "$ep_a" \
		persistent-keepalive 25 || fail "wg set on B"
}

case_lab_manual()
{
	local t0

	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	t0=$(lab_now_ms)
	manual_punch
	lab_wait 10 tunnel_up ||
		fail "EIM<->EIM: no tunnel 10 s after endpoints were set by hand"
	echo "  EIM<->EIM: tunnel up $(since "$t0") s after the endpoints" >&2
	lab_teardown

	lab_setup eim sym || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	t0=$(lab_now_ms)
	manual_punch
	if lab_wait 10 lab_has_handshake A B; then
		fail "EIM<->symmetric: handshake after $(since "$t0") s," \
			"the symmetric NAT is not symmetric"
	fi
	echo "  EIM<->symmetric: no handshake in 10 s, as expected" >&2
}

# --- wgpunchd and wgpunch ------------------------------------------------

# wait_exit PID TIMEOUT_S: wait for a child started with lab_bg; its exit
# status in EXIT_RC (124 after the timeout, when it is still running).
wait_exit()
{
	local pid=$1 deadline
	deadline=$(($(lab_now_ms) + $2 * 1000))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$(lab_now_ms)" -ge "$deadline" ]; then
			EXIT_RC=124
			return 1
		fi
		sleep 0.05
	done
	wait "$pid"
	EXIT_RC=$?
}

# Client log lines without their stamps.
client_log()
{
	cut -d' ' -f2- "$LAB_DIR/$1.client.log" 2>/dev/null
}

# punch_up [UP_ARGS...]: server, then `wgpunch up` on A and B at once.
# PIDs in PID_A and PID_B.
punch_up()
{
	lab_server_start "$WGPUNCHD" || fail "wgpunchd did not start"
	lab_client_start "$WGPUNCH" A up "$@" || fail "cannot start wgpunch on A"
	PID_A=$LAB_LAST_PID
	lab_client_start "$WGPUNCH" B up "$@" || fail "cannot start wgpunch on B"
	PID_B=$LAB_LAST_PID
}

# (a) two endpoint-independent NATs: both `wgpunch up` succeed and the
# tunnel carries a ping.
case_punch_eim()
{
	local t0 rc_a rc_b
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	t0=$(lab_now_ms)
	punch_up --timeout 15
	wait_exit "$PID_A" 20; rc_a=$EXIT_RC
	wait_exit "$PID_B" 20; rc_b=$EXIT_RC
	[ "$rc_a" -eq 0 ] || fail "wgpunch up on A exited $rc_a"
	[ "$rc_b" -eq 0 ] || fail "wgpunch up on B exited $rc_b"
	echo "  both wgpunch up exited 0 after $(since "$t0") s" >&2
	lab_wait 10 tunnel_up || fail "no tunnel 10 s after wgpunch up succeeded"
	echo "  tunnel up, ping through it, $(since "$t0") s after start;" \
		"A has B at $(lab_endpoint A B), B has A at $(lab_endpoint B A)" >&2
}

# The words a client may use to say a symmetric NAT is in the way.
SYMMETRIC_RE='symmetric|endpoint-dependent|per.destination|cannot be punched|can.t be punched|not punchable'

# (b) one symmetric NAT: `wgpunch up` gives up within its --timeout, says
# why, and exits non-zero on both sides.
case_punch_symmetric()
{
	local t0 node pid rc timeout=8 bound
	need_binaries wgpunchd wgpunch
	lab_setup eim sym || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	# Over IPv6 there is a direct path (and up would succeed).
	peers_ipv4_only || fail "cannot remove the IPv6 addresses"
	t0=$(lab_now_ms)
	punch_up --timeout "$timeout"
	bound=$((timeout + 3))
	for node in A B; do
		pid=$PID_A
		[ "$node" = B ] && pid=$PID_B
		wait_exit "$pid" "$bound"
		rc=$EXIT_RC
		[ "$rc" -ne 124 ] ||
			fail "wgpunch up on $node still running $bound s after start (--timeout $timeout)"
		# 3: some peers unresolved (2 would be a usage error).
		[ "$rc" -eq 3 ] || fail "wgpunch up on $node exited $rc with a symmetric NAT, want 3"
		client_log "$node" | grep -Eiq "$SYMMETRIC_RE" ||
			fail "wgpunch up on $node (exit $rc) did not say why: $(client_log "$node" | tail -n 3)"
		echo "  $node: exit $rc after $(since "$t0") s:" \
			"$(client_log "$node" | grep -Ei "$SYMMETRIC_RE" | head -n 1)" >&2
	done
	if lab_has_handshake A B; then
		fail "a handshake happened across a symmetric NAT: the lab is wrong"
	fi
}

# The same pairing with a relay on the server: `wgpunch up` gets the
# tunnel through it and exits 0; the tunnel outlives it (WireGuard's
# keepalive keeps the allocation and both NAT mappings in use).
case_punch_relayed()
{
	local t0 rc node
	need_binaries wgpunchd wgpunch
	lab_setup eim sym || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	peers_ipv4_only || fail "cannot remove the IPv6 addresses"
	t0=$(lab_now_ms)
	lab_server_start "$WGPUNCHD" --relay 50000-50063 || fail "wgpunchd did not start"
	lab_client_start "$WGPUNCH" A up --timeout 15 || fail "cannot start wgpunch on A"
	PID_A=$LAB_LAST_PID
	lab_client_start "$WGPUNCH" B up --timeout 15 || fail "cannot start wgpunch on B"
	PID_B=$LAB_LAST_PID
	for node in A B; do
		if [ "$node" = A ]; then wait_exit "$PID_A" 20; else wait_exit "$PID_B" 20; fi
		rc=$EXIT_RC
		[ "$rc" -eq 0 ] || fail "wgpunch up on $node exited $rc: $(client_log "$node" | tail -n 3)"
		client_log "$node" | grep -q "relay granted" ||
			fail "wgpunch up on $node did not use the relay"
	done
	echo "  both wgpunch up exited 0 after $(since "$t0") s, through the relay" >&2
	lab_wait 10 tunnel_up || fail "no tunnel after wgpunch up succeeded"
	sleep 30
	lab_ping A "$LAB_B_TUN" >/dev/null ||
		fail "the relayed tunnel died within 30 s of wgpunch up's exit"
	echo "  the relayed tunnel still works 30 s after wgpunch up exited" >&2
}

# Forget the peer on both WireGuard sides: remove it and add it back with
# no endpoint, no session and no keepalive.  Only a rendezvous can bring
# the tunnel back now.
forget_peers()
{
	lab_exec A wg set wg0 peer "$(lab_pub B)" remove &&
	lab_exec A wg set wg0 peer "$(lab_pub B)" allowed-ips "$LAB_B_TUN/32" &&
	lab_exec B wg set wg0 peer "$(lab_pub A)" remove &&
	lab_exec B wg set wg0 peer "$(lab_pub A)" allowed-ips "$LAB_A_TUN/32"
}

# (c) wgpunchd restarted mid-run. While it is down, WireGuard forgets the
# peers (removed and added back, no endpoint): the daemons still hold a
# path that answers their probes, and set it again without any server.
# Then the restarted, empty server is used again within seconds.
count_registers()
{
	grep -c "REGISTER .* at $1:$LAB_WG_PORT" "$LAB_DIR/server.log" 2>/dev/null
}

both_registered()
{
	[ "$(count_registers "$LAB_NATA_IP")" -gt 0 ] &&
		[ "$(count_registers "$LAB_NATB_IP")" -gt 0 ]
}

case_server_restart()
{
	local t0
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	peers_ipv4_only || fail "cannot remove the IPv6 addresses"
	daemons_up

	lab_server_stop
	t0=$(lab_now_ms)
	forget_peers || fail "cannot reset the peers"
	lab_wait 10 tunnel_up ||
		fail "the daemons did not set the proven path again without a server"
	echo "  peers forgotten by WireGuard, server down: tunnel back" \
		"$(since "$t0") s later, from the paths the daemons hold" >&2

	: >"$LAB_DIR/server.log"
	t0=$(lab_now_ms)
	lab_server_start "$WGPUNCHD" || fail "wgpunchd did not restart"
	# A round every 20 s at the latest; the paths' recovery sooner.
	lab_wait 25 both_registered ||
		fail "the daemons did not register with the restarted wgpunchd in 25 s"
	echo "  both registered again $(since "$t0") s after the restart" >&2
	lab_ping A "$LAB_B_TUN" >/dev/null || fail "the tunnel broke"
}

# (d) a forged registration for B's key, from a third host, is rejected
# and leaves the tunnel alone; so does a replay of B's real one.
case_forged_registration()
{
	local out ep_a ep_b cap_pid
	need_binaries wgpunchd wgpunch forge
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_wg_keys evil || fail "no key for evil"

	# Record B's first REGISTER as it crosses the public router.
	lab_bg pub "$LAB_DIR/capture.log" "$LAB_PYTHON" "$LABTOOL" capture natB \
		"$LAB_SRV_PORT" "$LAB_DIR/b-register.bin" 20 1
	cap_pid=$LAB_LAST_PID
	lab_wait 5 grep -q capturing "$LAB_DIR/capture.log" ||
		fail "the capture did not start"
	lab_server_start "$WGPUNCHD" || fail "wgpunchd did not start"
	lab_client_start "$WGPUNCH" A daemon || fail "cannot start wgpunch on A"
	lab_client_start "$WGPUNCH" B daemon || fail "cannot start wgpunch on B"
	lab_wait 15 tunnel_up || fail "no tunnel to begin with"
	wait_exit "$cap_pid" 5
	[ "$EXIT_RC" -eq 0 ] || fail "did not capture B's REGISTER (exit $EXIT_RC: $(cat "$LAB_DIR/capture.log"))"
	ep_a=$(lab_endpoint A B)
	ep_b=$(lab_endpoint B A)

	# The forging tool is right: with evil's own key it is accepted.
	out=$(lab_exec evil "$FORGE" "$LAB_SRV_IP" "$LAB_SRV_PORT" \
		"$(lab_pub srv)" "$(lab_pub evil)" "$(lab_pub A)" \
		"$LAB_DIR/evil.key") || fail "e2e-forge failed"
	[ "$out" = accepted ] ||
		fail "a genuine REGISTER from evil's own key got: $out"

	# B's public key, a random private key.
	out=$(lab_exec evil "$FORGE" "$LAB_SRV_IP" "$LAB_SRV_PORT" \
		"$(lab_pub srv)" "$(lab_pub B)" "$(lab_pub A)") ||
		fail "e2e-forge failed"
	[ "$out" != accepted ] || fail "a forged REGISTER for B was accepted"
	echo "  forged REGISTER for B (random private key): $out" >&2

	# B's genuine REGISTER, replayed from evil (same port as WireGuard's).
	lab_exec evil "$LAB_PYTHON" "$LABTOOL" send "$LAB_SRV_IP" "$LAB_SRV_PORT" \
		"$LAB_DIR/b-register.bin" "$LAB_WG_PORT" || fail "replay failed"
	echo "  replayed B's REGISTER ($(wc -c <"$LAB_DIR/b-register.bin") bytes) from $LAB_EVIL_IP" >&2

	# Had either worked, wgpunchd would now hand out evil's address for B.
	sleep 3
	[ "$(lab_endpoint A B)" = "$ep_a" ] ||
		fail "A's endpoint for B moved: $ep_a -> $(lab_endpoint A B)"
	[ "$(lab_endpoint B A)" = "$ep_b" ] ||
		fail "B's endpoint for A moved: $ep_b -> $(lab_endpoint B A)"
	lab_ping A "$LAB_B_TUN" >/dev/null || fail "the tunnel broke"
	echo "  tunnel undisturbed: A has B at $ep_a, B has A at $ep_b" >&2
}

# (e) wgpunchd --legacy answers the contrib example's 64-byte requests
# with the 6-byte ip:port the other key registered from.
case_legacy()
{
	local out zero=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
	need_binaries wgpunchd
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_keys A && lab_wg_keys B || fail "no keys"
	lab_server_start "$WGPUNCHD" --legacy || fail "wgpunchd --legacy did not start"

	legacy()
	{
		lab_exec "$1" "$LAB_PYTHON" "$LABTOOL" legacy "$LAB_SRV_IP" \
			"$LAB_LEGACY_PORT" "$(lab_pub "$1")" "$2" "$LAB_WG_PORT"
	}
	out=$(legacy A "$(lab_pub B)")
	[ "$out" = empty ] || fail "A asking for unknown B: '$out', want empty"
	out=$(legacy B "$(lab_pub A)")
	[ "$out" = "$LAB_NATA_IP:$LAB_WG_PORT" ] ||
		fail "B asking for A: '$out', want $LAB_NATA_IP:$LAB_WG_PORT"
	out=$(legacy A "$(lab_pub B)")
	[ "$out" = "$LAB_NATB_IP:$LAB_WG_PORT" ] ||
		fail "A asking for B: '$out', want $LAB_NATB_IP:$LAB_WG_PORT"
	# contrib's zero-key bug: an empty slot must not match.
	out=$(legacy A "$zero")
	[ "$out" = empty ] || fail "all-zero key: '$out', want empty"
	echo "  unknown key -> 0 bytes; known -> 6 bytes ip:port; zero key -> 0 bytes" >&2
}

# (f) the rendezvous loses a quarter of its datagrams each way (on the
# public router; WireGuard's own traffic is spared): the clients'
# retransmissions still get both peers through.
case_lossy()
{
	local t0 rc_a rc_b
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_exec pub nft -f - <<EOF || fail "cannot add the loss rules"
table inet loss {
	chain forward {
		type filter hook forward priority filter; policy accept;
		udp dport { $LAB_SRV_PORT, $((LAB_SRV_PORT + 1)) } numgen random mod 100 < 25 counter drop
		udp sport { $LAB_SRV_PORT, $((LAB_SRV_PORT + 1)) } numgen random mod 100 < 25 counter drop
	}
}
EOF
	t0=$(lab_now_ms)
	punch_up --timeout 30
	wait_exit "$PID_A" 35; rc_a=$EXIT_RC
	wait_exit "$PID_B" 35; rc_b=$EXIT_RC
	echo "  dropped: $(lab_exec pub nft list table inet loss |
		grep -o 'packets [0-9]*' | awk '{ n += $2 } END { print n + 0 }') rendezvous datagrams" >&2
	[ "$rc_a" -eq 0 ] || fail "wgpunch up on A exited $rc_a"
	[ "$rc_b" -eq 0 ] || fail "wgpunch up on B exited $rc_b"
	lab_wait 15 tunnel_up || fail "no tunnel after wgpunch up succeeded"
	echo "  tunnel up $(since "$t0") s after start" >&2
}

# (f2) a firewall lets only the rendezvous port through, not the probe
# port: the clients cannot check their NATs, say so naming the probe
# port, and register anyway; the punch works (both NATs are cone).
case_probe_port_blocked()
{
	local t0 rc_a rc_b
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_exec pub nft -f - <<EOF || fail "cannot add the firewall rule"
table inet noprobe {
	chain forward {
		type filter hook forward priority filter; policy accept;
		udp dport $((LAB_SRV_PORT + 1)) counter drop
	}
}
EOF
	t0=$(lab_now_ms)
	punch_up --timeout 15
	wait_exit "$PID_A" 20; rc_a=$EXIT_RC
	wait_exit "$PID_B" 20; rc_b=$EXIT_RC
	[ "$rc_a" -eq 0 ] || fail "wgpunch up on A exited $rc_a: $(client_log A | tail -n 3)"
	[ "$rc_b" -eq 0 ] || fail "wgpunch up on B exited $rc_b: $(client_log B | tail -n 3)"
	client_log A | grep -q "probe port $((LAB_SRV_PORT + 1)): cannot check" ||
		fail "wgpunch up on A did not name the silent probe port: $(client_log A | tail -n 3)"
	lab_wait 10 tunnel_up || fail "no tunnel 10 s after wgpunch up succeeded"
	echo "  both exited 0 after $(since "$t0") s; tunnel up;" \
		"$(client_log A | grep -m 1 'probe port')" >&2
}

# (g) no server: `wgpunch up` gives up at its --timeout, non-zero, and
# says the server did not answer.
SILENT_RE='no answer|not answer|unreachable|timed? ?out'
case_server_down()
{
	local t0 rc
	need_binaries wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_server_keys || fail "no server key"
	t0=$(lab_now_ms)
	lab_client_start "$WGPUNCH" A up --timeout 3 || fail "cannot start wgpunch"
	wait_exit "$LAB_LAST_PID" 6
	rc=$EXIT_RC
	[ "$rc" -ne 124 ] || fail "wgpunch up still running 6 s after start (--timeout 3)"
	[ "$rc" -eq 3 ] || fail "wgpunch up exited $rc without a server, want 3 (unresolved)"
	client_log A | grep -Eiq "$SILENT_RE" ||
		fail "wgpunch up (exit $rc) did not say the server is silent: $(client_log A | tail -n 3)"
	echo "  exit $rc after $(since "$t0") s:" \
		"$(client_log A | grep -Ei "$SILENT_RE" | tail -n 1)" >&2
}

# (h) the client has the wrong server key: the server cannot open its
# requests (nor can it tell it anything), the client gives up at its
# --timeout, and no endpoint is set.
case_wrong_server_key()
{
	local rc other
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_server_start "$WGPUNCHD" || fail "wgpunchd did not start"
	other=$(wg genkey | wg pubkey)
	lab_client_start "$WGPUNCH" A up --timeout 3 --server-key "$other" ||
		fail "cannot start wgpunch on A"
	PID_A=$LAB_LAST_PID
	lab_client_start "$WGPUNCH" B up --timeout 3 --server-key "$other" ||
		fail "cannot start wgpunch on B"
	wait_exit "$PID_A" 6; rc=$EXIT_RC
	[ "$rc" -ne 124 ] || fail "wgpunch up still running 6 s after start (--timeout 3)"
	[ "$rc" -eq 3 ] || fail "wgpunch up exited $rc with the wrong server key, want 3 (unresolved)"
	client_log A | grep -q 'wrong --server-key' ||
		fail "wgpunch up did not name a wrong server key as a cause: $(client_log A | tail -n 3)"
	wait_exit "$LAB_LAST_PID" 3
	if lab_has_endpoint A B || lab_has_endpoint B A; then
		fail "an endpoint was set through a server whose key is wrong"
	fi
	echo "  exit $rc; wgpunchd: $(grep -c 'authentication failed' "$LAB_DIR/server.log") requests failed authentication" >&2
}

# (i) IPv6: no NAT, but each router's stateful firewall drops unsolicited
# inbound; the rendezvous over IPv6 gives each side the other's address
# and WireGuard's simultaneous open gets through both firewalls.
case_ipv6()
{
	local t0 rc_a rc_b
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	# The firewalls really are closed to unsolicited inbound IPv6.
	if lab_exec srv ping -n -c 1 -W 1 "$LAB_A_IP6" >/dev/null 2>&1; then
		fail "natA lets unsolicited IPv6 in: the lab is wrong"
	fi
	t0=$(lab_now_ms)
	LAB_SERVER_ADDR="[$LAB_SRV_IP6]:$LAB_SRV_PORT" punch_up --timeout 15
	wait_exit "$PID_A" 20; rc_a=$EXIT_RC
	wait_exit "$PID_B" 20; rc_b=$EXIT_RC
	[ "$rc_a" -eq 0 ] || fail "wgpunch up on A exited $rc_a"
	[ "$rc_b" -eq 0 ] || fail "wgpunch up on B exited $rc_b"
	[ "$(lab_endpoint A B)" = "[$LAB_B_IP6]:$LAB_WG_PORT" ] ||
		fail "A has B at $(lab_endpoint A B), want [$LAB_B_IP6]:$LAB_WG_PORT"
	[ "$(lab_endpoint B A)" = "[$LAB_A_IP6]:$LAB_WG_PORT" ] ||
		fail "B has A at $(lab_endpoint B A), want [$LAB_A_IP6]:$LAB_WG_PORT"
	lab_wait 10 tunnel_up || fail "no tunnel 10 s after wgpunch up succeeded"
	echo "  tunnel up over IPv6 $(since "$t0") s after start;" \
		"A has B at $(lab_endpoint A B)" >&2
}

# --- issue 7: paths, recovery, the raw socket's silence ---------------------

# Take the peers' global IPv6 addresses away: their host candidates would
# give a direct IPv6 path, and these cases are about the IPv4 NATs.
peers_ipv4_only()
{
	local n
	for n in A B; do
		ip -n "$(lab_ns "$n")" -6 addr flush dev eth0 scope global || return 1
	done
}

# status_json NODE: `wgpunch status wg0 --json` from NODE's daemon.
status_json()
{
	lab_exec "$1" "$WGPUNCH" status wg0 --json
}

# json_get EXPR: evaluate a Python expression over the JSON on stdin
# (bound to j) and print the result.
json_get()
{
	"$LAB_PYTHON" -c 'import json, sys
j = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}

# daemons_up: wgpunchd, then `wgpunch daemon` on A and B, then a tunnel.
daemons_up()
{
	lab_server_start "$WGPUNCHD" || fail "wgpunchd did not start"
	lab_client_start "$WGPUNCH" A daemon || fail "cannot start wgpunch on A"
	lab_client_start "$WGPUNCH" B daemon || fail "cannot start wgpunch on B"
	lab_wait 15 tunnel_up || fail "no tunnel to begin with"
}

# max_gap_ms LOG FROM_MS: the longest time without a ping reply in the
# `ping -D` output LOG from FROM_MS (epoch ms) to its last reply.
max_gap_ms()
{
	awk -v from="$2" '
		/bytes from/ {
			t = substr($1, 2, length($1) - 2) * 1000
			if (t < from - 1000) { last = t; next }
			if (last && t - last > gap) gap = t - last
			last = t
		}
		END { printf "%d\n", gap }' "$1"
}

# A NAT gives WireGuard's port a new public port under a running tunnel
# (eim both sides, ping every 0.2 s): the heartbeat probes notice within
# seconds, the server learns the new mapping and tells the peer, and the
# tunnel is back within 5 s. Either side.
case_rebind()
{
	local side t gap log
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	peers_ipv4_only || fail "cannot remove the IPv6 addresses"
	daemons_up
	for side in natB natA; do
		log=$LAB_DIR/ping-$side.log
		lab_bg A "$log" ping -n -D -i 0.2 -W 1 "$LAB_B_TUN"
		local ping_pid=$LAB_LAST_PID
		sleep 2
		t=$(lab_now_ms)
		lab_nat_rebind "$side" || fail "cannot rebind $side"
		sleep 10
		lab_kill "$ping_pid"
		gap=$(max_gap_ms "$log" "$t")
		echo "  $side rebound: longest gap between replies $gap ms;" \
			"A has B at $(lab_endpoint A B), B has A at $(lab_endpoint B A)" >&2
		[ "$gap" -le 5000 ] || fail "$side rebinding cost $gap ms without replies (want <= 5000)"
		lab_ping A "$LAB_B_TUN" >/dev/null || fail "no tunnel after $side rebound"
	done
}

# wgpunchd is down when the daemons start and comes back 65 s later:
# they use it again within seconds (no back-off that doubled meanwhile),
# and the tunnel comes up.
case_server_return()
{
	local t0
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_server_keys || fail "no server key"
	lab_client_start "$WGPUNCH" A daemon || fail "cannot start wgpunch on A"
	lab_client_start "$WGPUNCH" B daemon || fail "cannot start wgpunch on B"
	sleep 65
	lab_has_endpoint A B && fail "an endpoint without a server"
	t0=$(lab_now_ms)
	lab_server_start "$WGPUNCHD" || fail "wgpunchd did not start"
	lab_wait 5 tunnel_up ||
		fail "no tunnel within 5 s of the server's return ($(since "$t0") s)"
	echo "  tunnel up $(since "$t0") s after the server came back" >&2
}

# During a WireGuard transfer the raw sockets get none of WireGuard's
# packets: their filters pass only the server's replies and path
# messages. Counted by the daemons themselves (wgpunch status).
case_raw_quiet()
{
	local a0 b0 a1 b1 out got t0 secs
	need_binaries wgpunchd wgpunch
	lab_setup eim eim || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	daemons_up
	a0=$(status_json A | json_get 'j["raw_rx"]["server"] + j["raw_rx"]["path"]') ||
		fail "no status from A"
	b0=$(status_json B | json_get 'j["raw_rx"]["server"] + j["raw_rx"]["path"]') ||
		fail "no status from B"
	t0=$(lab_now_ms)
	out=$(lab_exec A ping -n -q -f -c 3000 -s 1200 "$LAB_B_TUN" 2>&1)
	got=$(echo "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
	[ "${got:-0}" -ge 2900 ] || fail "the transfer did not happen: $out"
	a1=$(status_json A | json_get 'j["raw_rx"]["server"] + j["raw_rx"]["path"]')
	b1=$(status_json B | json_get 'j["raw_rx"]["server"] + j["raw_rx"]["path"]')
	secs=$((($(lab_now_ms) - t0) / 1000 + 2))
	echo "  $got of 3000 pings of 1200 bytes each way through the tunnel in" \
		"$(since "$t0") s; the raw sockets received A: $((a1 - a0)), B: $((b1 - b0))" \
		"datagrams (path heartbeats only)" >&2
	# A heartbeat a second each way, and its reply: 2 per second per side.
	[ $((a1 - a0)) -le $((secs * 4)) ] || fail "A's raw sockets received $((a1 - a0))"
	[ $((b1 - b0)) -le $((secs * 4)) ] || fail "B's raw sockets received $((b1 - b0))"
	# The counters do count: the heartbeats alone move them.
	a0=$(status_json A | json_get 'j["raw_rx"]["path"]')
	sleep 3
	a1=$(status_json A | json_get 'j["raw_rx"]["path"]')
	[ "$a1" -gt "$a0" ] || fail "A's path socket counted no heartbeats in 3 s ($a0 -> $a1)"
}

# Path probes cannot be forged or replayed: B sits behind a port forward
# so anyone can reach its WireGuard port; evil replays a probe A really
# sent (captured on the wire), sends one with A's sender id and a
# tampered seal, and a reply to a probe nobody sent. B answers none of
# them, learns no candidate from them, and its endpoint for A stays.
case_forged_probe()
{
	local cap_pid ep_b f
	need_binaries wgpunchd wgpunch
	lab_setup eim pf || fail "lab setup failed"
	lab_wg_pair || fail "wireguard-go setup failed"
	peers_ipv4_only || fail "cannot remove the IPv6 addresses"
	lab_bg pub "$LAB_DIR/capture.log" "$LAB_PYTHON" "$LABTOOL" capture natB \
		"$LAB_WG_PORT" "$LAB_DIR/a-probe.bin" 20 9 "$LAB_NATA_IP"
	cap_pid=$LAB_LAST_PID
	lab_wait 5 grep -q capturing "$LAB_DIR/capture.log" ||
		fail "the capture did not start"
	daemons_up
	wait_exit "$cap_pid" 5
	[ "$EXIT_RC" -eq 0 ] || fail "did not capture A's probe: $(cat "$LAB_DIR/capture.log")"
	ep_b=$(lab_endpoint B A)
	# The same probe with one byte of its seal changed, and as a reply.
	"$LAB_PYTHON" - "$LAB_DIR" <<'PY' || fail "cannot forge"
import sys
d = sys.argv[1]
p = bytearray(open(d + "/a-probe.bin", "rb").read())
t = bytearray(p); t[60] ^= 1
open(d + "/tampered.bin", "wb").write(t)
r = bytearray(p); r[5] = 10
open(d + "/reply.bin", "wb").write(r)
PY
	sleep 2.5	# past the replay window's reordering slack
	for f in a-probe tampered reply; do
		lab_exec evil "$LAB_PYTHON" "$LABTOOL" send "$LAB_NATB_IP" "$LAB_WG_PORT" \
			"$LAB_DIR/$f.bin" "$LAB_WG_PORT" || fail "cannot send $f"
	done
	sleep 2
	[ "$(lab_endpoint B A)" = "$ep_b" ] ||
		fail "B's endpoint for A moved: $ep_b -> $(lab_endpoint B A)"
	status_json B | grep -q "$LAB_EVIL_IP" &&
		fail "B took evil's address as a candidate: $(status_json B)"
	client_log B | grep -q "replayed path message from $LAB_EVIL_IP" ||
		fail "B did not refuse the replay: $(client_log B | tail -n 5)"
	client_log B | grep -q "forged path message from $LAB_EVIL_IP" ||
		fail "B did not refuse the tampered probe: $(client_log B | tail -n 5)"
	lab_ping A "$LAB_B_TUN" >/dev/null || fail "the tunnel broke"
	echo "  replayed, tampered and unsolicited path messages from evil:" \
		"refused; B still has A at $ep_b" >&2
}

# --- the relay ------------------------------------------------------------------

E2E_RELAY_PORTS=50000-50063

# relay_up SETUP...: the lab (IPv4 only), wgpunchd with a relay, both
# daemons, and a tunnel that both sides report relayed.
relay_up()
{
	"$@" || fail "lab setup failed: $*"
	lab_no_ipv6 A B || fail "cannot remove the peers' IPv6"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_server_start "$WGPUNCHD" --relay "$E2E_RELAY_PORTS" ||
		fail "wgpunchd did not start"
	lab_client_start "$WGPUNCH" A daemon || fail "cannot start wgpunch on A"
	lab_client_start "$WGPUNCH" B daemon || fail "cannot start wgpunch on B"
	lab_wait 15 tunnel_up || fail "no relayed tunnel in 15 s"
	matrix_expect_path A relayed
	matrix_expect_path B relayed
}

both_paths()
{
	status_path_is A "$1" && status_path_is B "$1"
}

# wgpunchd, and its relay with it, restarts under a relayed tunnel
# (symmetric NATs on both sides: nothing direct): the allocation is gone,
# the daemons notice, ask the new server, and the tunnel comes back.
case_relay_restart()
{
	local t0
	need_binaries wgpunchd wgpunch
	relay_up lab_setup sym sym
	lab_server_stop
	t0=$(lab_now_ms)
	sleep 1
	lab_ping A "$LAB_B_TUN" >/dev/null &&
		fail "the tunnel works with the relay down: it was not relayed"
	lab_server_start "$WGPUNCHD" --relay "$E2E_RELAY_PORTS" ||
		fail "wgpunchd did not restart"
	lab_wait 30 tunnel_up ||
		fail "the relayed tunnel did not come back in 30 s after the restart"
	echo "  relay restarted: tunnel back $(since "$t0") s after it went down" >&2
	lab_wait 5 both_paths relayed ||
		fail "after the restart: A $(status_path A), B $(status_path B), want relayed"
}

# A third party with a genuine key of its own, which A and B do not list:
# its RELAY for A is refused; its flood of the relay ports (junk, datagrams
# shaped like WireGuard's and like RELAY_BIND) moves nothing, and the
# relayed tunnel carries on through it.
case_relay_third_party()
{
	local out t gap log ping_pid
	need_binaries wgpunchd wgpunch forge
	relay_up lab_setup sym sym
	lab_wg_keys evil || fail "no key for evil"
	out=$(lab_exec evil "$FORGE" "$LAB_SRV_IP" "$LAB_SRV_PORT" \
		"$(lab_pub srv)" "$(lab_pub evil)" "$(lab_pub A)" \
		"$LAB_DIR/evil.key" relay) || fail "e2e-forge failed"
	[ "$(echo "$out" | tr '\n' ' ')" = "accepted relay 1 " ] ||
		fail "evil's RELAY for A: '$out', want accepted, then relay 1 (unavailable)"
	echo "  evil registered, listing A; its RELAY for A: refused (unavailable)" >&2

	log=$LAB_DIR/ping-flood.log
	lab_bg A "$log" ping -n -D -i 0.2 -W 1 "$LAB_B_TUN"
	ping_pid=$LAB_LAST_PID
	sleep 1
	t=$(lab_now_ms)
	out=$(lab_exec evil "$LAB_PYTHON" - "$LAB_SRV_IP" "${E2E_RELAY_PORTS%-*}" \
		"${E2E_RELAY_PORTS#*-}" <<'PY'
import os, socket, struct, sys, time
host, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
n, end = 0, time.time() + 3
while time.time() < end:
    for port in range(first, last + 1):
        # junk; a WireGuard initiation's shape; a RELAY_BIND's shape
        for pkt in (os.urandom(64),
                    b"\x01\x00\x00\x00" + os.urandom(144),
                    b"WGPN\x02\x0d\x00\x00" + struct.pack(">Q", time.time_ns()) + os.urandom(16)):
            try:
                s.sendto(pkt, (host, port))
                n += 1
            except BlockingIOError:
                time.sleep(0.001)
print(n)
PY
	) || fail "the flood did not run"
	sleep 3
	lab_kill "$ping_pid"
	gap=$(max_gap_ms "$log" "$t")
	echo "  $out datagrams from evil to the relay ports in 3 s; longest gap" \
		"between ping replies through the relay: $gap ms" >&2
	[ "$gap" -le 1500 ] || fail "the flood cost the relayed tunnel $gap ms without replies"
	lab_ping A "$LAB_B_TUN" >/dev/null || fail "no tunnel after the flood"
	both_paths relayed || fail "after the flood: A $(status_path A), B $(status_path B)"
}

# Upgrade and fall back. Direct UDP between the two NATs is blocked on the
# public router: the peers go through the relay. Unblocked, they move to
# the direct path (the coordinated retry while relayed); blocked again,
# the direct path dies and the relay, kept alive meanwhile, takes over.
pub_block()
{
	nsenter --net="/run/netns/$LAB_PREFIX-pub" nft -f - <<EOT
table inet e2eblock {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr $LAB_NATA_IP ip daddr $LAB_NATB_IP drop
		ip saddr $LAB_NATB_IP ip daddr $LAB_NATA_IP drop
	}
}
EOT
}

pub_unblock()
{
	nsenter --net="/run/netns/$LAB_PREFIX-pub" nft delete table inet e2eblock
}

case_relay_upgrade()
{
	local t0
	need_binaries wgpunchd wgpunch
	relay_up eval 'lab_setup eim eim && pub_block'
	echo "  direct path blocked: relayed" >&2
	pub_unblock || fail "cannot unblock"
	t0=$(lab_now_ms)
	lab_wait 60 both_paths ipv4 ||
		fail "unblocked, but still A $(status_path A), B $(status_path B) after 60 s"
	lab_ping A "$LAB_B_TUN" >/dev/null || fail "no tunnel on the direct path"
	echo "  unblocked: direct (ipv4) on both sides $(since "$t0") s later" >&2
	pub_block || fail "cannot block again"
	t0=$(lab_now_ms)
	lab_wait 15 both_paths relayed ||
		fail "blocked again, but A $(status_path A), B $(status_path B) after 15 s"
	lab_wait 10 tunnel_up || fail "no tunnel back through the relay"
	echo "  blocked again: back on the relay, tunnel up $(since "$t0") s later" >&2
}

# The NAT matrix (cases-matrix.sh): every pairing of NAT behaviours that
# differs, asserting the tunnel and the path kind `wgpunch status` reports.
MATRIX_CASES=
if [ -f "$E2E_DIR/cases-matrix.sh" ]; then
	# shellcheck source=cases-matrix.sh
	. "$E2E_DIR/cases-matrix.sh"
fi

# Two wgpunchd sharing a registry in a real redis-server (cases-redis.sh).
REDIS_CASES=
if [ -f "$E2E_DIR/cases-redis.sh" ]; then
	# shellcheck source=cases-redis.sh
	. "$E2E_DIR/cases-redis.sh"
fi

# --- runner -------------------------------------------------------------------

ALL_CASES="lab_manual punch_eim punch_symmetric server_restart forged_registration legacy lossy probe_port_blocked server_down wrong_server_key ipv6 rebind server_return raw_quiet forged_probe punch_relayed relay_restart relay_third_party relay_upgrade $REDIS_CASES $MATRIX_CASES"

run_case()
{
	local name=$1 out=$2
	(
		lab_trap
		# A failing case shows its logs before the trap removes them.
		trap 'rc=$?; [ $rc -ne 0 ] && [ $rc -ne 77 ] && dump_logs; lab_teardown; exit $rc' EXIT
		"case_$name"
	) >"$out" 2>&1
}

main()
{
	local tmp name rc pass=0 failed=0 skipped=0 t0 jobs=${E2E_JOBS:-3}
	local cases=${E2E_ONLY:-$ALL_CASES} running=0
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/wgp-e2e.XXXXXX") || exit 1
	trap 'rm -rf "$tmp"' EXIT

	for name in $cases; do
		if ! declare -F "case_$name" >/dev/null; then
			echo "e2e: no such case: $name" >&2
			exit 2
		fi
	done
	for name in $cases; do
		(
			t0=$(lab_now_ms)
			run_case "$name" "$tmp/$name.out"
			echo "$? $(since "$t0")" >"$tmp/$name.rc"
		) &
		running=$((running + 1))
		if [ "$running" -ge "$jobs" ]; then
			wait -n
			running=$((running - 1))
		fi
	done
	wait

	for name in $cases; do
		read -r rc secs <"$tmp/$name.rc"
		case $rc in
		0) echo "PASS $name (${secs} s)"; pass=$((pass + 1)) ;;
		77) echo "SKIP $name"; skipped=$((skipped + 1)) ;;
		*) echo "FAIL $name (${secs} s, exit $rc)"; failed=$((failed + 1)) ;;
		esac
		cat "$tmp/$name.out"
	done
	echo "e2e: $pass passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ] || exit 1
	[ "$pass" -eq 0 ] && [ "$skipped" -gt 0 ] && exit 77
	exit 0
}

main
