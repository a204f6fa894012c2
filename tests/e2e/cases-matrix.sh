# shellcheck shell=bash
# cases-matrix.sh - the NAT matrix: sourced by run-e2e.sh, whose helpers
# (fail, skip, need_binaries, since, tunnel_up, client_log, lab_*) the
# cases use.  Defines case_matrix_* and MATRIX_CASES.
#
# Each case builds a lab with one pairing of NAT behaviours (lab.sh:
# eim, none, reject, sym, symrand, pf; same NAT; double NAT; IPv6; a
# symmetric NAT whose router runs miniupnpd), runs wgpunchd with a relay
# and `wgpunch daemon` on both peers, and asserts a tunnel (a ping through
# it within 15 s) and the path kind that `wgpunch status wg0 --json`
# reports on each side: direct where a direct path exists, "mapped" to a
# peer behind a port mapping, "relayed" where nothing direct can cross.
# Without a relay on the server, such a pairing gets no tunnel, path
# "none", advice naming the relay, and a daemon log that says why.
# The peers have no global IPv6 unless the case is about IPv6: with it,
# every pairing has a direct IPv6 path (only stateful firewalls on it).
#
# matrix_lab checks the lab itself, with no wgpunch at all: each NAT
# behaviour, measured by hand with labtool.py.

MATRIX_TUNNEL_S=15
# wgpunchd's relay ports in the matrix (MATRIX_SERVER_ARGS overrides).
MATRIX_RELAY_PORTS=50000-50063
MATRIX_NO_TUNNEL_S=12
MATRIX_PATH_S=5
MATRIX_REFLECT_PORT=3478
# Words a daemon may use to say why no direct path can work.
MATRIX_WHY_RE='symmetric|endpoint-dependent|per.destination|relay'

# --- `wgpunch status` -------------------------------------------------------

matrix_other()
{
	if [ "$1" = A ]; then echo B; else echo A; fi
}

# Reads a status document on stdin; argv: the peer's public key ('' for the
# document itself) and a field.  Prints the field (null for JSON null,
# JSON for lists and objects), or exits 1 when the peer is not listed.
MATRIX_STATUS_PY='
import json, sys
doc = json.load(sys.stdin)
key, field = sys.argv[1], sys.argv[2]
if key:
    peers = [p for p in doc.get("peers") or [] if p.get("public_key") == key]
    if not peers:
        sys.exit(1)
    doc = peers[0]
value = doc.get(field)
if value is None:
    print("null")
elif isinstance(value, bool):
    print("true" if value else "false")
elif isinstance(value, (dict, list)):
    print(json.dumps(value))
else:
    print(value)
'

# matrix_status_json NODE: `wgpunch status wg0 --json` in NODE, kept in
# $LAB_DIR/NODE.status.json for the post-mortem too.
matrix_status_json()
{
	lab_exec "$1" "$WGPUNCH" status wg0 --json >"$LAB_DIR/$1.status.json" \
		2>"$LAB_DIR/$1.status.err" || return 1
	cat "$LAB_DIR/$1.status.json"
}

# status_field NODE FIELD: a top-level field of NODE's status.
status_field()
{
	local json
	json=$(matrix_status_json "$1") || return 1
	printf '%s' "$json" | "$LAB_PYTHON" -c "$MATRIX_STATUS_PY" '' "$2"
}

# status_peer_field NODE FIELD: a field of NODE's entry for the other peer.
status_peer_field()
{
	local json
	json=$(matrix_status_json "$1") || return 1
	printf '%s' "$json" | "$LAB_PYTHON" -c "$MATRIX_STATUS_PY" \
		"$(lab_pub "$(matrix_other "$1")")" "$2"
}

# status_path NODE: the path kind NODE uses to the other peer.
status_path()
{
	status_peer_field "$1" path
}

status_path_is()
{
	[ "$(status_path "$1")" = "$2" ]
}

# Why the status could not be read, for a failure message.
status_trouble()
{
	if [ -s "$LAB_DIR/$1.status.err" ]; then
		head -n 2 "$LAB_DIR/$1.status.err" | tr '\n' ' '
	elif [ -s "$LAB_DIR/$1.status.json" ]; then
		echo "path '$(status_path "$1")' in: $(head -c 600 "$LAB_DIR/$1.status.json")"
	else
		echo "no output"
	fi
}

# One line about NODE's view of the other peer, for the case's log.
status_summary()
{
	echo "$1: path $(status_peer_field "$1" path)," \
		"endpoint $(status_peer_field "$1" endpoint)," \
		"our NAT $(status_field "$1" nat), peer's $(status_peer_field "$1" peer_nat)"
}

# matrix_expect_path NODE PATH: NODE reports PATH to the other peer (within
# a few seconds: the tunnel may be up before the status has caught up).
# A daemon that cannot answer at all fails at once.
matrix_expect_path()
{
	local deadline
	deadline=$(($(lab_now_ms) + MATRIX_PATH_S * 1000))
	until status_path_is "$1" "$2"; do
		[ -s "$LAB_DIR/$1.status.json" ] && [ "$(lab_now_ms)" -lt "$deadline" ] ||
			fail "$1 reports no path '$2' to $(matrix_other "$1"): $(status_trouble "$1")"
		sleep 0.2
	done
}

# --- the two kinds of case ----------------------------------------------------

# matrix_start: wgpunchd (with a relay unless MATRIX_SERVER_ARGS says
# otherwise), then `wgpunch daemon` on A and B (with MATRIX_A_ARGS,
# MATRIX_B_ARGS).
matrix_start()
{
	local srv_args a_args b_args
	read -r -a srv_args <<<"${MATRIX_SERVER_ARGS---relay $MATRIX_RELAY_PORTS}"
	read -r -a a_args <<<"${MATRIX_A_ARGS:-}"
	read -r -a b_args <<<"${MATRIX_B_ARGS:-}"
	lab_server_start "$WGPUNCHD" "${srv_args[@]}" || fail "wgpunchd did not start"
	lab_client_start "$WGPUNCH" A daemon "${a_args[@]}" ||
		fail "cannot start wgpunch on A"
	MATRIX_PID_A=$LAB_LAST_PID
	lab_client_start "$WGPUNCH" B daemon "${b_args[@]}" ||
		fail "cannot start wgpunch on B"
	MATRIX_PID_B=$LAB_LAST_PID
}

# matrix_lab_up IPV6 SETUP...: build the lab with SETUP (lab_setup and its
# arguments, or another topology); without IPV6 (no), the peers lose
# their global IPv6 addresses; then the WireGuard pair.
matrix_lab_up()
{
	local ipv6=$1
	shift
	"$@" || fail "lab setup failed: $*"
	if [ "$ipv6" = no ]; then
		lab_no_ipv6 A B || fail "cannot remove the peers' IPv6"
	fi
	lab_wg_pair || fail "wireguard-go setup failed"
}

# matrix_tunnel2 PATH_A PATH_B IPV6 SETUP...: the tunnel comes up, and A
# reports PATH_A, B PATH_B. MATRIX_AFTER_LAB, when set, runs after the
# lab is built (starting miniupnpd, say).
matrix_tunnel2()
{
	local want_a=$1 want_b=$2 ipv6=$3 t0
	shift 3
	need_binaries wgpunchd wgpunch
	matrix_lab_up "$ipv6" "$@"
	if [ -n "${MATRIX_AFTER_LAB:-}" ]; then
		$MATRIX_AFTER_LAB || fail "$MATRIX_AFTER_LAB failed"
	fi
	t0=$(lab_now_ms)
	matrix_start
	lab_wait "$MATRIX_TUNNEL_S" tunnel_up ||
		fail "$*: no tunnel in $MATRIX_TUNNEL_S s;" \
			"A has B at $(lab_endpoint A B), B has A at $(lab_endpoint B A)"
	echo "  $*: tunnel up $(since "$t0") s after start;" \
		"A has B at $(lab_endpoint A B), B has A at $(lab_endpoint B A)" >&2
	matrix_expect_path A "$want_a"
	matrix_expect_path B "$want_b"
	echo "  $(status_summary A)" >&2
	echo "  $(status_summary B)" >&2
}

# matrix_tunnel PATH IPV6 SETUP...: the same path kind on both sides.
matrix_tunnel()
{
	local want=$1
	shift
	matrix_tunnel2 "$want" "$want" "$@"
}

any_handshake()
{
	lab_has_handshake A B || lab_has_handshake B A
}

# matrix_no_relay SETUP...: no direct path exists (IPv4 only, a symmetric
# NAT against a NAT that filters) and the server runs no relay: no
# tunnel, and both sides say so.
matrix_no_relay()
{
	local node advice t0
	need_binaries wgpunchd wgpunch
	matrix_lab_up no "$@"
	t0=$(lab_now_ms)
	MATRIX_SERVER_ARGS='' matrix_start
	# A handshake, once made, stays in `wg show`: one look at the end
	# sees any, and spares the machine 12 s of polling.
	sleep "$MATRIX_NO_TUNNEL_S"
	if any_handshake; then
		fail "$*: a handshake within $(since "$t0") s where no direct path" \
			"should exist: the lab is wrong"
	fi
	echo "  $*: no handshake in $MATRIX_NO_TUNNEL_S s, as expected" >&2
	for node in A B; do
		matrix_expect_path "$node" none
		advice=$(status_peer_field "$node" advice)
		echo "$advice" | grep -qi relay ||
			fail "$node: advice '$advice' does not mention a relay"
		client_log "$node" | grep -Eiq "$MATRIX_WHY_RE" ||
			fail "$node: the daemon log does not say why: $(client_log "$node" | tail -n 3)"
		echo "  $node: advice: $advice" >&2
		echo "  $node: log: $(client_log "$node" | grep -Ei "$MATRIX_WHY_RE" | head -n 1)" >&2
	done
}

# --- the cases --------------------------------------------------------------------

case_matrix_eim_eim()		{ matrix_tunnel ipv4 no lab_setup eim eim; }
# The stray-conntrack case: each router accepts the other's early packet,
# and its masquerade later maps WireGuard's port elsewhere.
case_matrix_none_none()		{ matrix_tunnel ipv4 no lab_setup none none; }
case_matrix_none_eim()		{ matrix_tunnel ipv4 no lab_setup none eim; }
case_matrix_reject_eim()	{ matrix_tunnel ipv4 no lab_setup reject eim; }
# A symmetric side reaches the other's forwarded port.
case_matrix_sym_pf()		{ matrix_tunnel ipv4 no lab_setup sym pf; }
case_matrix_pf_sym()		{ matrix_tunnel ipv4 no lab_setup pf sym; }
case_matrix_symrand_pf()	{ matrix_tunnel ipv4 no lab_setup symrand pf; }
case_matrix_pf_eim()		{ matrix_tunnel ipv4 no lab_setup pf eim; }
case_matrix_reject_none()	{ matrix_tunnel ipv4 no lab_setup reject none; }
# No direct path: a symmetric NAT against one that filters by endpoint.
# The relay carries the tunnel.
case_matrix_eim_sym()		{ matrix_tunnel relayed no lab_setup eim sym; }
case_matrix_sym_eim()		{ matrix_tunnel relayed no lab_setup sym eim; }
# A router that answers unsolicited packets itself is still no way in
# for a symmetric peer's probes.
case_matrix_none_sym()		{ matrix_tunnel relayed no lab_setup none sym; }
case_matrix_symrand_symrand()	{ matrix_tunnel relayed no lab_setup symrand symrand; }
case_matrix_sym_sym()		{ matrix_tunnel relayed no lab_setup sym sym; }
case_matrix_symrand_sym()	{ matrix_tunnel relayed no lab_setup symrand sym; }
case_matrix_symrand_eim()	{ matrix_tunnel relayed no lab_setup symrand eim; }
case_matrix_symrand_none()	{ matrix_tunnel relayed no lab_setup symrand none; }
# The same pairing with no relay on the server: no tunnel, said why.
case_matrix_sym_sym_no_relay()	{ matrix_no_relay lab_setup sym sym; }

# A symmetric NAT whose router runs miniupnpd, and a wgpunch on A that
# may use only one port-mapping protocol: B, symmetric too, reaches A's
# mapping directly ("mapped"), and A answers B's NAT mapping toward it
# (a peer-reflexive "ipv4" path). The relay is there, but not needed.
matrix_portmap_up()
{
	lab_miniupnpd_start natA
}

matrix_portmap()
{
	MATRIX_AFTER_LAB=matrix_portmap_up MATRIX_A_ARGS="--portmap $1" \
		LAB_PORTMAP_NODES=natA matrix_tunnel2 ipv4 mapped no lab_setup sym sym
	grep -q "port mapping" "$LAB_DIR/A.client.log" ||
		fail "A's log does not mention its port mapping"
	echo "  A: $(grep -m1 'port mapping' "$LAB_DIR/A.client.log")" >&2
	[ "$(status_field A portmap | "$LAB_PYTHON" -c \
		'import json,sys; d=json.load(sys.stdin); print(d["state"], d["protocol"])')" \
		= "mapped $1" ] || fail "A's status: portmap $(status_field A portmap), want mapped by $1"
}

# matrix_dnat NODE PORT: miniupnpd on NODE forwards PORT.
matrix_dnat()
{
	nsenter --net="/run/netns/$LAB_PREFIX-$1" \
		nft list chain inet miniupnpd prerouting_miniupnpd 2>/dev/null |
		grep -q "dport $2 dnat"
}

# The daemon, stopped, deletes its mapping at the gateway.
matrix_portmap_deleted()
{
	local ext port
	ext=$(status_field A portmap | "$LAB_PYTHON" -c \
		'import json,sys; print(json.load(sys.stdin)["external"])')
	port=${ext##*:}
	matrix_dnat natA "$port" || fail "no DNAT rule for $ext on natA while mapped"
	kill -TERM "$MATRIX_PID_A"
	wait_exit "$MATRIX_PID_A" 5
	[ "$EXIT_RC" -eq 0 ] || fail "wgpunch daemon on A exited $EXIT_RC on SIGTERM"
	! matrix_dnat natA "$port" ||
		fail "the mapping of $ext is still on natA after the daemon stopped"
	echo "  A's daemon stopped: its mapping $ext deleted at natA" >&2
}

case_matrix_sym_pcp_sym()	{ matrix_portmap pcp; matrix_portmap_deleted; }
case_matrix_sym_natpmp_sym()	{ matrix_portmap natpmp; matrix_portmap_deleted; }
case_matrix_sym_upnp_sym()	{ matrix_portmap upnp; matrix_portmap_deleted; }
# Both behind natA, which does no hairpin NAT: only the LAN path works.
case_matrix_same_nat()		{ matrix_tunnel lan no lab_setup_same_nat eim; }
case_matrix_double_nat()	{ matrix_tunnel ipv4 no lab_setup_double_nat eim eim eim; }

# IPv6 all the way, server included: stateful firewalls on both sides.
case_matrix_ipv6()
{
	LAB_SERVER_ADDR="[$LAB_SRV_IP6]:$LAB_SRV_PORT" \
		matrix_tunnel ipv6 yes lab_setup eim eim
}

# An IPv4 server, but both peers have global IPv6 addresses: their host
# candidates give a direct IPv6 path, preferred to the NATed IPv4 one.
case_matrix_ipv6_host()		{ matrix_tunnel ipv6 yes lab_setup eim eim; }

# --- matrix_lab: the lab's NATs, measured by hand ------------------------------

# ml_reflector NODE: labtool's reflector on NODE's MATRIX_REFLECT_PORT.
ml_reflector()
{
	lab_bg "$1" "$LAB_DIR/reflect-$1.log" "$LAB_PYTHON" "$LABTOOL" \
		reflect "$MATRIX_REFLECT_PORT"
	lab_wait 3 lab_udp_bound "$1" "$MATRIX_REFLECT_PORT" ||
		fail "the reflector on $1 did not start"
}

# ml_probe NODE HOST: the public ip:port of NODE's WireGuard port as the
# reflector on HOST sees it.
ml_probe()
{
	lab_exec "$1" "$LAB_PYTHON" "$LABTOOL" probe "$2" \
		"$MATRIX_REFLECT_PORT" "$LAB_WG_PORT" ||
		fail "probe from $1 to $2 got no answer"
}

# ml_knock NODE HOST PORT [SPORT [SECONDS]]: reply, refused or timeout.
ml_knock()
{
	lab_exec "$1" "$LAB_PYTHON" "$LABTOOL" knock "$2" "$3" "${4:-0}" "${5:-1}"
}

# ml_send NODE HOST PORT [SPORT]: one datagram, answer or not.
ml_send()
{
	ml_knock "$1" "$2" "$3" "${4:-0}" 0.05 >/dev/null
}

# ml_recv_start NODE SECONDS: wait for a datagram to NODE's WireGuard port
# (nothing else is bound to it in matrix_lab).  ML_RECV_PID, ML_RECV_LOG.
ml_recv_start()
{
	ML_RECV_LOG="$LAB_DIR/recv-$1-$(lab_now_ms).log"
	lab_bg "$1" "$ML_RECV_LOG" "$LAB_PYTHON" "$LABTOOL" recv \
		"$LAB_WG_PORT" "$2"
	ML_RECV_PID=$LAB_LAST_PID
	lab_wait 3 grep -qs listening "$ML_RECV_LOG" ||
		fail "the receiver on $1 did not start"
}

# ml_recv_result: what the receiver printed: ip:port or "timeout".
ml_recv_result()
{
	wait_exit "$ML_RECV_PID" 5
	grep -v listening "$ML_RECV_LOG" | tail -n 1
}

ml_port()
{
	echo "${1##*:}"
}

# ml_in_range ENDPOINT FIRST: the endpoint's port is in FIRST..FIRST+999.
ml_in_range()
{
	local port
	port=$(ml_port "$1")
	[ "$port" -ge "$2" ] && [ "$port" -le $(($2 + 999)) ]
}

ml_ok()
{
	echo "  ok: $*" >&2
}

# eim keeps one mapping (and the port) for every destination, drops
# unsolicited IPv4 and IPv6, and a rebind moves it to 40000-40999, then
# 41000-41999; sym gives one port per destination, and keeps doing so
# after a rebind.
ml_eim_sym()
{
	local a1 a2 b1 b2 out
	lab_setup eim sym || fail "lab setup failed"
	ml_reflector srv
	ml_reflector evil
	a1=$(ml_probe A "$LAB_SRV_IP")
	a2=$(ml_probe A "$LAB_EVIL_IP")
	[ "$a1" = "$LAB_NATA_IP:$LAB_WG_PORT" ] && [ "$a2" = "$a1" ] ||
		fail "eim: mappings $a1 (to srv) and $a2 (to evil), want $LAB_NATA_IP:$LAB_WG_PORT twice"
	ml_ok "eim: one mapping for two destinations, port kept: $a1"
	b1=$(ml_probe B "$LAB_SRV_IP")
	b2=$(ml_probe B "$LAB_EVIL_IP")
	[ "${b1%:*}" = "$LAB_NATB_IP" ] && [ "${b2%:*}" = "$LAB_NATB_IP" ] &&
		[ "$b1" != "$b2" ] ||
		fail "sym: mappings $b1 (to srv) and $b2 (to evil), want two ports of $LAB_NATB_IP"
	ml_ok "sym: a port per destination: $b1 (to srv), $b2 (to evil)"
	# Both at once: each waits a second for an answer that must not come.
	ml_knock evil "$LAB_A_IP6" "$LAB_WG_PORT" >"$LAB_DIR/knock6.out" &
	out=$(ml_knock evil "$LAB_NATA_IP" "$LAB_WG_PORT")
	wait $!
	[ "$out" = timeout ] || fail "eim: unsolicited packet to its port 51820: $out, want timeout (dropped)"
	out=$(cat "$LAB_DIR/knock6.out")
	[ "$out" = timeout ] || fail "eim: unsolicited IPv6 to A: $out, want timeout (firewalled)"
	ml_ok "eim: unsolicited IPv4 to the router and IPv6 to A dropped"
	lab_nat_rebind natA || fail "cannot rebind natA"
	a1=$(ml_probe A "$LAB_SRV_IP")
	[ "${a1%:*}" = "$LAB_NATA_IP" ] && ml_in_range "$a1" "$LAB_REBIND_BASE" ||
		fail "eim rebound: mapping $a1, want $LAB_NATA_IP:40000-40999"
	lab_nat_rebind natA || fail "cannot rebind natA again"
	a2=$(ml_probe A "$LAB_SRV_IP")
	ml_in_range "$a2" $((LAB_REBIND_BASE + 1000)) ||
		fail "eim rebound twice: mapping $a2, want port 41000-41999"
	ml_ok "eim: rebinding gives new ports: $a1, then $a2"
	lab_nat_rebind natB || fail "cannot rebind natB"
	b1=$(ml_probe B "$LAB_SRV_IP")
	b2=$(ml_probe B "$LAB_EVIL_IP")
	ml_in_range "$b1" "$LAB_REBIND_BASE" && ml_in_range "$b2" "$LAB_REBIND_BASE" &&
		[ "$b1" != "$b2" ] ||
		fail "sym rebound: mappings $b1 and $b2, want two ports in 40000-40999"
	ml_ok "sym: rebound, still a port per destination: $b1, $b2"
	lab_teardown
}

# symrand gives one port per destination; pf keeps the port and forwards
# unsolicited UDP 51820, IPv4 (to the peer, source kept) and IPv6.
ml_symrand_pf()
{
	local a1 a2 b1 out
	lab_setup symrand pf || fail "lab setup failed"
	ml_reflector srv
	ml_reflector evil
	a1=$(ml_probe A "$LAB_SRV_IP")
	a2=$(ml_probe A "$LAB_EVIL_IP")
	[ "${a1%:*}" = "$LAB_NATA_IP" ] && [ "${a2%:*}" = "$LAB_NATA_IP" ] &&
		[ "$a1" != "$a2" ] ||
		fail "symrand: mappings $a1 (to srv) and $a2 (to evil), want two ports of $LAB_NATA_IP"
	ml_ok "symrand: a port per destination: $a1 (to srv), $a2 (to evil)"
	b1=$(ml_probe B "$LAB_SRV_IP")
	[ "$b1" = "$LAB_NATB_IP:$LAB_WG_PORT" ] ||
		fail "pf: mapping $b1, want $LAB_NATB_IP:$LAB_WG_PORT"
	ml_recv_start B 3
	ml_send evil "$LAB_NATB_IP" "$LAB_WG_PORT"
	out=$(ml_recv_result)
	[ "${out%:*}" = "$LAB_EVIL_IP" ] ||
		fail "pf: unsolicited packet to $LAB_NATB_IP:$LAB_WG_PORT: B got '$out', want one from $LAB_EVIL_IP"
	ml_recv_start B 3
	ml_send evil "$LAB_B_IP6" "$LAB_WG_PORT"
	out=$(ml_recv_result)
	[ "${out%:*}" = "[$LAB_EVIL_IP6]" ] ||
		fail "pf: unsolicited IPv6 to [$LAB_B_IP6]:$LAB_WG_PORT: B got '$out', want one from $LAB_EVIL_IP6"
	ml_ok "pf: port kept ($b1), unsolicited UDP $LAB_WG_PORT forwarded to B over IPv4 and IPv6"
	lab_teardown
}

# none: the router itself takes an unsolicited packet (its kernel answers
# port unreachable) and the conntrack entry left behind moves WireGuard's
# later mapping off 51820; reject answers port unreachable and leaves
# nothing behind.
ml_none_reject()
{
	local a b out
	lab_setup none reject || fail "lab setup failed"
	# From the reflector's port, before it runs: the very tuple the probe
	# below would use, arriving first.
	out=$(ml_knock evil "$LAB_NATA_IP" "$LAB_WG_PORT" "$MATRIX_REFLECT_PORT")
	[ "$out" = refused ] ||
		fail "none: unsolicited packet to the router: $out, want refused (accepted, no socket)"
	out=$(ml_knock evil "$LAB_NATB_IP" "$LAB_WG_PORT" "$MATRIX_REFLECT_PORT")
	[ "$out" = refused ] ||
		fail "reject: unsolicited packet to the router: $out, want refused (ICMP port unreachable)"
	ml_reflector evil
	a=$(ml_probe A "$LAB_EVIL_IP")
	[ "${a%:*}" = "$LAB_NATA_IP" ] && [ "$(ml_port "$a")" != "$LAB_WG_PORT" ] ||
		fail "none: mapping $a after the early packet, want $LAB_NATA_IP with a port other than $LAB_WG_PORT (stray conntrack)"
	ml_ok "none: early packet accepted by the router; WireGuard's port then maps to $a"
	b=$(ml_probe B "$LAB_EVIL_IP")
	[ "$b" = "$LAB_NATB_IP:$LAB_WG_PORT" ] ||
		fail "reject: mapping $b after the early packet, want $LAB_NATB_IP:$LAB_WG_PORT (nothing left behind)"
	ml_ok "reject: early packet refused, nothing left behind: $b"
	lab_teardown
}

# Same NAT: both peers map through natA, and a packet from B to A's public
# mapping is not reflected back into the LAN (no hairpin); the LAN works.
ml_same_nat()
{
	local a b out
	lab_setup_same_nat eim || fail "lab setup failed"
	[ "$LAB_B_IP" = 198.19.1.3 ] || fail "same NAT: LAB_B_IP is $LAB_B_IP"
	ml_reflector srv
	a=$(ml_probe A "$LAB_SRV_IP")
	b=$(ml_probe B "$LAB_SRV_IP")
	[ "${a%:*}" = "$LAB_NATA_IP" ] && [ "${b%:*}" = "$LAB_NATA_IP" ] &&
		[ "$a" != "$b" ] ||
		fail "same NAT: mappings A=$a B=$b, want two ports of $LAB_NATA_IP"
	ml_recv_start A 1
	ml_send B "$LAB_NATA_IP" "$(ml_port "$a")" "$LAB_WG_PORT"
	out=$(ml_recv_result)
	[ "$out" = timeout ] ||
		fail "same NAT: B -> A's public mapping $a reached A (from $out): hairpin NAT"
	ml_recv_start A 3
	ml_send B "$LAB_A_IP" "$LAB_WG_PORT" "$LAB_WG_PORT"
	out=$(ml_recv_result)
	[ "$out" = "$LAB_B_IP:$LAB_WG_PORT" ] ||
		fail "same NAT: B -> A on the LAN: A got '$out', want $LAB_B_IP:$LAB_WG_PORT"
	ml_ok "same NAT: A=$a B=$b; no hairpin; the LAN carries B -> A"
	lab_teardown
}

# Double NAT: A's mapping is the carrier's address, the port kept through
# both; rebinding the home router changes it.
ml_double_nat()
{
	local a
	lab_setup_double_nat eim eim eim || fail "lab setup failed"
	ml_reflector srv
	a=$(ml_probe A "$LAB_SRV_IP")
	[ "$a" = "$LAB_NATA_IP:$LAB_WG_PORT" ] ||
		fail "double NAT: mapping $a, want $LAB_NATA_IP:$LAB_WG_PORT"
	lab_exec A ping -6 -n -c 1 -W 1 "$LAB_SRV_IP6" >/dev/null ||
		fail "double NAT: no IPv6 from A to srv"
	lab_nat_rebind homeA || fail "cannot rebind homeA"
	a=$(ml_probe A "$LAB_SRV_IP")
	[ "${a%:*}" = "$LAB_NATA_IP" ] && ml_in_range "$a" "$LAB_REBIND_BASE" ||
		fail "double NAT, home rebound: mapping $a, want $LAB_NATA_IP:40000-40999"
	ml_ok "double NAT: $LAB_NATA_IP:$LAB_WG_PORT through home and carrier; after a home rebind $a"
	lab_teardown
}

case_matrix_lab()
{
	ml_eim_sym
	ml_symrand_pf
	ml_none_reject
	ml_same_nat
	ml_double_nat
}

# shellcheck disable=SC2034  # read by run-e2e.sh
MATRIX_CASES="matrix_lab matrix_eim_eim matrix_none_none matrix_none_eim
matrix_reject_eim matrix_reject_none matrix_pf_eim matrix_sym_pf matrix_pf_sym
matrix_symrand_pf matrix_eim_sym matrix_sym_eim matrix_none_sym matrix_sym_sym
matrix_symrand_sym matrix_symrand_eim matrix_symrand_none matrix_symrand_symrand
matrix_sym_sym_no_relay matrix_sym_pcp_sym matrix_sym_natpmp_sym
matrix_sym_upnp_sym matrix_same_nat matrix_double_nat matrix_ipv6
matrix_ipv6_host"
