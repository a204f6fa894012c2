# shellcheck shell=bash
# cases-redis.sh - two wgpunchd sharing one registry in a real redis-server:
# sourced by run-e2e.sh, whose helpers (fail, skip, need_binaries, since,
# tunnel_up, wait_exit, client_log, peers_ipv4_only, max_gap_ms, lab_*)
# the cases use.  Defines case_redis_* and REDIS_CASES.
#
# The lab (lab.sh) gets a second rendezvous host, srv2, beside srv, and a
# redis-server of its own on a Unix socket in the lab directory; both
# servers run with --registry unix://<that socket>, each with its own key.
#
#   redis_lab       the plumbing alone, any wgpunchd: Redis starts, is
#                   reachable by nobody, stops, restarts empty; two servers
#                   answer; one is killed by PID, the other carries on
#   redis_cross     A registers only with srv, B only with srv2, both
#                   behind endpoint-independent NATs: the punch works
#   redis_failover  A and B use both servers; srv is killed under their
#                   tunnel; C, a new peer of A's, finds A through srv2 and
#                   gets its tunnel; A-B's never stops
#   redis_restart   redis-server stopped under two servers and their
#                   peers: the servers keep answering; started again,
#                   empty: the registrations come back as the peers
#                   re-register; nothing crashed
#   redis_expiry    a registration's key carries a PTTL within the
#                   server's --ttl; Redis removes it when that runs out;
#                   once the record's own TTL has passed, the other
#                   server no longer finds the peer (in its REGISTER and
#                   LOOKUP replies; ~140 s: the shortest --ttl is 120 s)
#
# Skipped (77) when redis-server or redis-cli is missing, or when wgpunchd
# does not take --registry.  redis_failover needs a client that takes
# several servers: until it does, the case fails (it says so).

# shellcheck disable=SC2034  # read by run-e2e.sh
REDIS_CASES="redis_expiry redis_lab redis_cross redis_failover redis_restart"

# A and B's registrations go round at least this often (seconds), with
# room for a loaded machine.
REDIS_REREGISTER_S=30
# wgpunchd's shortest --ttl, its default.
REDIS_TTL_S=120

redis_need_tools()
{
	local missing
	missing=$(lab_redis_missing | tr '\n' ' ')
	[ -z "$missing" ] ||
		skip "missing on this machine: $missing(tools/install-deps installs them)"
}

# The cases that run wgpunchd against Redis: both binaries, Redis, and a
# wgpunchd whose --help knows --registry.
redis_need()
{
	need_binaries wgpunchd wgpunch
	redis_need_tools
	"$WGPUNCHD" --help 2>&1 | grep -q -- '--registry' ||
		skip "this wgpunchd has no --registry (issue 12 item 2 not built)"
}

# redis_servers_up [ARGS...]: Redis, then wgpunchd on srv (server.log)
# and on srv2 (server2.log), both with --registry and ARGS.
redis_servers_up()
{
	local url
	lab_redis_start || fail "redis-server did not start"
	url=$(lab_redis_url)
	lab_server_start "$WGPUNCHD" --registry "$url" "$@" ||
		fail "wgpunchd on srv did not start"
	lab_server_start_at srv2 server2 "$WGPUNCHD" --registry "$url" "$@" ||
		fail "wgpunchd on srv2 did not start"
}

# registers LOG NAT_IP: how many REGISTERs from NAT_IP's WireGuard port
# the server logged in LOG (server or server2).
registers()
{
	grep -c "REGISTER .* at $2:$LAB_WG_PORT" "$LAB_DIR/$1.log" 2>/dev/null
}

# finds LOG NAT_IP found|unavailable: how often the server (log LOG) told
# the one-peer client behind NAT_IP that its peer is there, or is not: in
# a REGISTER's reply ("1 available" / "0 available") or a LOOKUP's.
finds()
{
	local n=1
	[ "$3" = unavailable ] && n=0
	grep -Ec "REGISTER .* at $2:$LAB_WG_PORT.*: 1 consent, $n available|LOOKUP from $2:$LAB_WG_PORT: $3" \
		"$LAB_DIR/$1.log" 2>/dev/null
}

registered_at_both()
{
	local log nat
	for log in server server2; do
		for nat in "$@"; do
			[ "$(registers "$log" "$nat")" -gt 0 ] || return 1
		done
	done
}

# servers_sane NAME...: each server still runs and its log has no
# sanitizer report.
servers_sane()
{
	local name
	for name in "$@"; do
		lab_server_alive "$name" || fail "wgpunchd ($name) died: $(tail -n 5 "$LAB_DIR/$name.log")"
		! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$LAB_DIR/$name.log" ||
			fail "wgpunchd ($name) has a sanitizer report in its log"
	done
}

# forge_answers NODE: a genuine REGISTER (evil's own key) to the server on
# NODE is accepted; FORGE_OUT says what came back.
forge_answers()
{
	FORGE_OUT=$(lab_exec evil "$FORGE" "$(lab_server_ip "$1")" "$LAB_SRV_PORT" \
		"$(lab_pub "$1")" "$(lab_pub evil)" "$(lab_pub A)" \
		"$LAB_DIR/evil.key") || return 1
	[ "$FORGE_OUT" = accepted ]
}

tunnel_ac_up()
{
	lab_has_handshake A C && lab_has_handshake C A &&
		lab_ping A "$LAB_C_TUN" >/dev/null
}

# --- the plumbing ----------------------------------------------------------

case_redis_lab()
{
	local pid k v
	need_binaries wgpunchd forge
	redis_need_tools
	lab_setup eim eim || fail "lab setup failed"
	lab_add_server2 || fail "cannot add srv2"
	lab_wg_keys A && lab_wg_keys evil || fail "no keys"

	lab_redis_start || fail "redis-server did not start"
	pid=$(cat "$LAB_DIR/redis.pid")
	[ -S "$LAB_REDIS_SOCK" ] || fail "no socket at $LAB_REDIS_SOCK"
	k=$(lab_redis_key A)
	[ ${#k} -eq $((14 + 64)) ] || fail "bad key name: $k"
	lab_redis_cli SET "$k" x PX 1500 >/dev/null || fail "SET failed"
	v=$(lab_redis_cli PTTL "$k")
	[ "$v" -gt 0 ] && [ "$v" -le 1500 ] || fail "PTTL $v after SET PX 1500"
	sleep 2
	[ "$(lab_redis_cli EXISTS "$k")" = 0 ] || fail "the key outlived its PX"
	# wgpunchd, set up, is nobody: it must reach the socket.
	v=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
		redis-cli -s "$LAB_REDIS_SOCK" PING 2>&1)
	[ "$v" = PONG ] || fail "nobody cannot use the socket: $v"
	echo "  redis-server (PID $pid) on $LAB_REDIS_SOCK: keys expire," \
		"nobody reaches it" >&2

	lab_redis_cli SET "$k" y >/dev/null || fail "SET failed"
	lab_redis_stop
	kill -0 "$pid" 2>/dev/null && fail "redis-server $pid still runs after the stop"
	lab_redis_up && fail "Redis answers after the stop"
	lab_redis_start || fail "redis-server did not restart"
	[ "$(lab_redis_cli EXISTS "$k")" = 0 ] || fail "the restarted Redis is not empty"
	echo "  stopped, restarted (PID $(cat "$LAB_DIR/redis.pid")): empty" >&2

	# Two servers, each its own key, both answer; srv2 killed by PID.
	lab_server_start "$WGPUNCHD" || fail "wgpunchd on srv did not start"
	lab_server_start_at srv2 server2 "$WGPUNCHD" || fail "wgpunchd on srv2 did not start"
	[ "$(lab_pub srv)" != "$(lab_pub srv2)" ] || fail "the servers share a key"
	forge_answers srv || fail "srv: $FORGE_OUT"
	forge_answers srv2 || fail "srv2: $FORGE_OUT"
	lab_server_kill server2 || fail "cannot kill srv2's wgpunchd"
	lab_server_alive server2 && fail "srv2's wgpunchd survived SIGKILL"
	forge_answers srv2 && fail "srv2 answers after it was killed"
	forge_answers srv || fail "srv stopped answering: $FORGE_OUT"
	servers_sane server
	echo "  two servers answered a REGISTER; srv2 killed, srv still answers" >&2
}

# --- the cases ---------------------------------------------------------------

# A peer registered only on srv is found by a peer asking srv2, and the
# NOTIFY for it reaches A from srv (through Redis).
case_redis_cross()
{
	local t0 rc_a rc_b
	redis_need
	lab_setup eim eim || fail "lab setup failed"
	lab_add_server2 || fail "cannot add srv2"
	lab_wg_pair || fail "wireguard-go setup failed"
	peers_ipv4_only || fail "cannot remove the IPv6 addresses"
	redis_servers_up
	t0=$(lab_now_ms)
	LAB_CLIENT_SERVERS=srv lab_client_start "$WGPUNCH" A up --timeout 15 ||
		fail "cannot start wgpunch on A"
	PID_A=$LAB_LAST_PID
	LAB_CLIENT_SERVERS=srv2 lab_client_start "$WGPUNCH" B up --timeout 15 ||
		fail "cannot start wgpunch on B"
	PID_B=$LAB_LAST_PID
	wait_exit "$PID_A" 20; rc_a=$EXIT_RC
	wait_exit "$PID_B" 20; rc_b=$EXIT_RC
	[ "$rc_a" -eq 0 ] || fail "wgpunch up on A (srv only) exited $rc_a: $(client_log A | tail -n 3)"
	[ "$rc_b" -eq 0 ] || fail "wgpunch up on B (srv2 only) exited $rc_b: $(client_log B | tail -n 3)"
	echo "  A via srv, B via srv2: both wgpunch up exited 0 after $(since "$t0") s" >&2
	lab_wait 10 tunnel_up || fail "no tunnel 10 s after wgpunch up succeeded"
	echo "  tunnel up $(since "$t0") s after start; A has B at $(lab_endpoint A B)," \
		"B has A at $(lab_endpoint B A)" >&2
	# Each peer really spoke to its own server only.
	[ "$(registers server "$LAB_NATB_IP")" -eq 0 ] || fail "B registered with srv"
	[ "$(registers server2 "$LAB_NATA_IP")" -eq 0 ] || fail "A registered with srv2"
	lab_redis_has A B || fail "A's or B's registration is not in Redis:" \
		"$(lab_redis_cli --scan --pattern 'wgpunch:*' | tr '\n' ' ')"
	servers_sane server server2
}

# Both peers use both servers; srv is killed under their tunnel. C, a new
# peer of A's, starts with both servers listed (srv now silent), finds A
# through srv2 and gets a tunnel; A-B's tunnel carries on throughout.
case_redis_failover()
{
	local t0 log ping_pid gap
	redis_need
	lab_setup eim eim || fail "lab setup failed"
	lab_add_server2 || fail "cannot add srv2"
	lab_add_peer_c eim || fail "cannot add C"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_wg_peer_c || fail "wireguard-go setup failed on C"
	lab_no_ipv6 A B C || fail "cannot remove the IPv6 addresses"
	redis_servers_up
	LAB_CLIENT_SERVERS="srv srv2" lab_client_start "$WGPUNCH" A daemon ||
		fail "cannot start wgpunch on A"
	LAB_CLIENT_SERVERS="srv srv2" lab_client_start "$WGPUNCH" B daemon ||
		fail "cannot start wgpunch on B"
	lab_wait 20 tunnel_up || fail "no A-B tunnel to begin with"
	lab_wait "$REDIS_REREGISTER_S" registered_at_both "$LAB_NATA_IP" "$LAB_NATB_IP" ||
		fail "A and B did not register with both servers (srv: A $(registers server "$LAB_NATA_IP")," \
			"B $(registers server "$LAB_NATB_IP"); srv2: A $(registers server2 "$LAB_NATA_IP")," \
			"B $(registers server2 "$LAB_NATB_IP")): does wgpunch take several -s yet?"
	echo "  A and B registered with both servers; tunnel up" >&2

	log=$LAB_DIR/ping-failover.log
	lab_bg A "$log" ping -n -D -i 0.2 -W 1 "$LAB_B_TUN"
	ping_pid=$LAB_LAST_PID
	sleep 1
	t0=$(lab_now_ms)
	lab_server_kill server || fail "cannot kill srv's wgpunchd"
	LAB_CLIENT_SERVERS="srv srv2" lab_client_start "$WGPUNCH" C daemon ||
		fail "cannot start wgpunch on C"
	lab_wait 30 tunnel_ac_up ||
		fail "srv killed: C got no tunnel with A through srv2 in 30 s"
	echo "  srv killed; C (-s srv -s srv2) has a tunnel with A $(since "$t0") s later" >&2
	[ "$(registers server2 "$LAB_NATC_IP")" -gt 0 ] || fail "C did not register with srv2"
	sleep 3
	lab_kill "$ping_pid"
	gap=$(max_gap_ms "$log" "$t0")
	lab_ping A "$LAB_B_TUN" >/dev/null || fail "the A-B tunnel broke after srv died"
	echo "  A-B tunnel throughout: longest gap between replies $gap ms" >&2
	[ "$gap" -le 2000 ] || fail "srv's death cost the A-B tunnel $gap ms without replies"
	servers_sane server2
}

# Redis goes away under two servers and their peers, and comes back empty.
case_redis_restart()
{
	local t0 k
	redis_need
	need_binaries forge
	lab_setup eim eim || fail "lab setup failed"
	lab_add_server2 || fail "cannot add srv2"
	lab_wg_pair || fail "wireguard-go setup failed"
	lab_wg_keys evil || fail "no key for evil"
	peers_ipv4_only || fail "cannot remove the IPv6 addresses"
	redis_servers_up
	LAB_CLIENT_SERVERS=srv lab_client_start "$WGPUNCH" A daemon ||
		fail "cannot start wgpunch on A"
	LAB_CLIENT_SERVERS=srv2 lab_client_start "$WGPUNCH" B daemon ||
		fail "cannot start wgpunch on B"
	lab_wait 20 tunnel_up || fail "no tunnel to begin with (A via srv, B via srv2)"
	lab_wait 5 lab_redis_has A B || fail "A's and B's registrations are not in Redis"

	lab_redis_stop
	t0=$(lab_now_ms)
	sleep 1
	forge_answers srv || fail "Redis down: srv does not answer a REGISTER ($FORGE_OUT)"
	forge_answers srv2 || fail "Redis down: srv2 does not answer a REGISTER ($FORGE_OUT)"
	servers_sane server server2
	lab_ping A "$LAB_B_TUN" >/dev/null || fail "Redis down: the tunnel broke"
	echo "  Redis stopped: both servers still answer a REGISTER; tunnel up" >&2
	sleep 2

	lab_redis_start || fail "redis-server did not restart"
	k=$(lab_redis_cli DBSIZE)
	t0=$(lab_now_ms)
	lab_wait "$REDIS_REREGISTER_S" lab_redis_has A B ||
		fail "Redis back (empty, $k keys at start): A's and B's registrations" \
			"not back in $REDIS_REREGISTER_S s:" \
			"$(lab_redis_cli --scan --pattern 'wgpunch:*' | tr '\n' ' ')"
	echo "  Redis restarted ($k keys at start): A's and B's registrations back" \
		"$(since "$t0") s later" >&2
	forge_answers srv || fail "srv does not answer after Redis' restart ($FORGE_OUT)"
	forge_answers srv2 || fail "srv2 does not answer after Redis' restart ($FORGE_OUT)"
	lab_ping A "$LAB_B_TUN" >/dev/null || fail "the tunnel broke"
	servers_sane server server2
}

# The key of a registration expires in Redis by itself; the other
# server's cached copy follows the record's own expiry.
case_redis_expiry()
{
	local k pttl t_reg n_found n_unavail wait_ms
	redis_need
	lab_setup eim eim || fail "lab setup failed"
	lab_add_server2 || fail "cannot add srv2"
	lab_wg_pair || fail "wireguard-go setup failed"
	peers_ipv4_only || fail "cannot remove the IPv6 addresses"
	redis_servers_up --ttl "$REDIS_TTL_S"

	# A registers with srv, once: B is not there, up gives up (3).
	LAB_CLIENT_SERVERS=srv lab_client_start "$WGPUNCH" A up --timeout 3 ||
		fail "cannot start wgpunch on A"
	wait_exit "$LAB_LAST_PID" 8
	[ "$EXIT_RC" -ne 124 ] || fail "wgpunch up on A still runs 8 s after start (--timeout 3)"
	t_reg=$(lab_now_ms)	# A's last REGISTER or LOOKUP was before this
	k=$(lab_redis_key A)
	pttl=$(lab_redis_cli PTTL "$k")
	[ "$pttl" -gt 0 ] && [ "$pttl" -le $((REDIS_TTL_S * 1000)) ] ||
		fail "A's key $k: PTTL $pttl, want within (0, $((REDIS_TTL_S * 1000))]"
	echo "  A registered with srv: its key has PTTL $pttl ms (--ttl $REDIS_TTL_S)" >&2

	# srv2 finds A (from Redis) for B.
	LAB_CLIENT_SERVERS=srv2 lab_client_start "$WGPUNCH" B up --timeout 3 ||
		fail "cannot start wgpunch on B"
	wait_exit "$LAB_LAST_PID" 8
	[ "$(finds server2 "$LAB_NATB_IP" found)" -gt 0 ] ||
		fail "srv2 did not find A for B: $(grep -E 'REGISTER|LOOKUP' "$LAB_DIR/server2.log" | tail -n 3)"
	echo "  srv2 finds A (registered with srv) for B" >&2

	# Redis expires the key when its time is up.
	[ "$(lab_redis_cli PEXPIRE "$k" 1500)" = 1 ] || fail "PEXPIRE on $k failed"
	sleep 2
	[ "$(lab_redis_cli EXISTS "$k")" = 0 ] || fail "A's key outlived a PEXPIRE of 1.5 s"
	echo "  with PEXPIRE 1500 the key is gone 2 s later" >&2

	# Past A's record's own TTL, srv2 no longer finds A.
	wait_ms=$((t_reg + REDIS_TTL_S * 1000 + 4000 - $(lab_now_ms)))
	[ "$wait_ms" -gt 0 ] && sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
	n_found=$(finds server2 "$LAB_NATB_IP" found)
	n_unavail=$(finds server2 "$LAB_NATB_IP" unavailable)
	LAB_CLIENT_SERVERS=srv2 lab_client_start "$WGPUNCH" B up --timeout 3 ||
		fail "cannot start wgpunch on B"
	wait_exit "$LAB_LAST_PID" 8
	[ "$EXIT_RC" -eq 3 ] || fail "B's wgpunch up exited $EXIT_RC with A expired, want 3"
	[ "$(finds server2 "$LAB_NATB_IP" found)" -eq "$n_found" ] &&
		[ "$(finds server2 "$LAB_NATB_IP" unavailable)" -gt "$n_unavail" ] ||
		fail "srv2 still finds A $REDIS_TTL_S s after its last REGISTER:" \
			"$(grep -E 'REGISTER|LOOKUP' "$LAB_DIR/server2.log" | tail -n 3)"
	lab_redis_has A && fail "A's key is back in Redis"
	echo "  $((REDIS_TTL_S + 4)) s after A's last REGISTER: srv2 tells B" \
		"that A is not there" >&2
	servers_sane server server2
}
