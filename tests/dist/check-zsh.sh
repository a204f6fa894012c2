#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The zsh completions in completions/, driven by zsh's own completion
# system: an interactive "zsh -f" runs on a pseudo-terminal (zsh/zpty)
# with compinit on an fpath that starts with completions/. A line such as
# "wgpunch --log-level=" is typed into it followed by TAB, which is bound
# to a completion widget that runs _main_complete as a TAB would, while
# compadd is wrapped to write every match it adds to a file; the widget
# then prints a marker so that the driver knows the matches are complete.
# Every option and command the programs' --help lists must be offered,
# and nothing else. As root, IFACE completion is also checked in a
# network namespace of its own with a /run of its own.
#
# Usage: check-zsh.sh COMPLETIONS_DIR CBPF WGPUNCH WGPUNCHD

set -u
dir=$1
cbpf=$2
wgpunch=$3
wgpunchd=$4

# shellcheck source=common.sh
source "$(dirname -- "$0")/common.sh"
# shellcheck source=help-words.sh
source "$(dirname -- "$0")/help-words.sh"

export LC_ALL=C
if ! command -v zsh >/dev/null; then
	echo "SKIP: zsh is not installed (Debian: apt-get install zsh)"
	exit 77
fi
if ! zsh -fc 'zmodload zsh/zpty' 2>/dev/null; then
	echo "SKIP: this zsh has no zsh/zpty module to drive completion with"
	exit 77
fi

# Sourced by the interactive zsh under test.
cat > "$tmp/setup.zsh" <<'EOF'
PS1='%# ' RPS1= PS2=
fpath=("$COMPDIR" $fpath)
# A dump of its own: the first compinit takes seconds, later ones not.
autoload -Uz compinit && compinit -u -d "$CAPTURE.zcompdump"

# Record what each call that adds matches adds (-A: those that match
# what is on the line, as listed, less the empty ones -E adds); calls
# that only ask (-O, -A, -D) add nothing. (-A returns 1: it adds none.)
compadd()
{
	local -a found

	if (( ${@[(I)-[OAD]*]} )); then
		builtin compadd "$@"
		return
	fi
	builtin compadd -A found "$@"
	print -rl -- "${(@)found:#}" >> "$CAPTURE"
	builtin compadd "$@"
}

# Complete as TAB does, but neither insert nor list anything.
capture_complete()
{
	_main_complete
	compstate[insert]=
	compstate[list]=
}
zle -C capture-complete complete-word capture_complete

capture()
{
	: >| "$CAPTURE"
	zle capture-complete
	BUFFER=
	print -r -- CAPTURE-DONE
}
zle -N capture
bindkey '^I' capture
print -r -- CAPTURE-READY
EOF

# Reads lines from stdin and answers each with the matches that TAB at
# its end offers, sorted, on one line.
# Usage: driver.zsh SETUP CAPTURE COMMAND... (the shell to drive)
cat > "$tmp/driver.zsh" <<'EOF'
zmodload zsh/zpty || exit 1
setup=$1
export CAPTURE=$2
shift 2
TERM=dumb zpty completion ${(j: :)${(q)@}} || exit 1
zpty -w completion "source ${(q)setup}"
zpty -r -m completion junk '*CAPTURE-READY*' || exit 1
while IFS= read -r line; do
	zpty -w -n completion "$line"$'\t'
	zpty -r -m completion junk '*CAPTURE-DONE*' || exit 1
	print -r -- ${(j: :)${(ou)${(f)"$(<$CAPTURE)"}}}
done
zpty -d completion
EOF

export COMPDIR=$dir
zsh_pid=
netns=

# Whatever happens, end the zsh started and delete what was made.
# shellcheck disable=SC2317 # called by the trap
cleanup()
{
	[[ -n $zsh_pid ]] && kill "$zsh_pid" 2>/dev/null
	[[ -n $netns ]] && ip netns del "$netns"
	rm -rf "$tmp"
}
trap cleanup EXIT

# start COMMAND...: drive zsh as run by COMMAND; stop: end it.
start()
{
	coproc ZSH { exec timeout 60 zsh -f "$tmp/driver.zsh" \
		"$tmp/setup.zsh" "$tmp/capture" "$@"; }
	# shellcheck disable=SC2153 # ZSH_PID is set by coproc
	zsh_pid=$ZSH_PID
	zsh_out=${ZSH[0]}
	zsh_in=${ZSH[1]}
}

stop()
{
	exec {zsh_in}>&-
	wait "$zsh_pid"
	zsh_pid=
}

# complete_line LINE: $got is what TAB at the end of LINE offers. With
# no answer, the answers that may follow would be out of step: stop.
complete_line()
{
	if ! printf '%s\n' "$1" >&"$zsh_in" ||
		! IFS= read -r -t 10 got <&"$zsh_out"; then
		fail "'$1<TAB>': no answer from zsh"
		finish
	fi
}

# expect "WANTED" LINE: TAB at the end of LINE offers exactly WANTED.
expect()
{
	complete_line "$2"
	if [[ $got != "$1" ]]; then
		fail "'$2<TAB>': got '$got', want '$1'"
	else
		echo "ok: '$2<TAB>' -> $got"
	fi
}

# covers WHAT HELP_LIST LINE: each of HELP_LIST is offered by TAB at the
# end of LINE, and nothing is offered that --help does not list.
covers()
{
	complete_line "$3"
	same_words "$1" "$2" "$got"
}

start zsh -f -i

# Every option and command of --help is offered.
covers "wgpunch options" "$(help_options "$wgpunch")" "wgpunch -"
covers "wgpunch commands" "$(help_commands "$wgpunch")" "wgpunch "
covers "wgpunchd options" "$(help_options "$wgpunchd")" "wgpunchd -"
covers "cbpf commands" "$(help_commands "$cbpf") help" "cbpf "
for c in check run trace asm disasm compile; do
	covers "cbpf $c options" "$(help_options "$cbpf" "$c")" "cbpf $c -"
done

# Commands, option values, and where options may stand.
expect "daemon status up" "wgpunch -l debug "
expect "daemon status up" "wgpunch --log-level=debug "
expect "debug error info warning" "wgpunch --log-level "
expect "debug error info warning" "wgpunch -l"
expect "debug" "wgpunch -l d"
expect "debug error info warning" "wgpunch status --log-level="
expect "debug" "wgpunch --log-level=de"
expect "all natpmp none pcp upnp" "wgpunch --portmap "
expect "natpmp upnp" "wgpunch --portmap pcp,"
expect "pcp" "wgpunch --portmap=upnp,natpmp,p"
expect "" "wgpunch --portmap pcp,natpmp,upnp,"
expect "--json" "wgpunch status wg0 --j"
expect "" "wgpunch up wg0 d"
expect "--relay --relay-idle --relay-per-key --relay-rate" "wgpunchd --rel"
expect "debug error info warning" "wgpunchd -v "
expect "warning" "wgpunchd --log-level=w"
expect "" "wgpunchd x"
expect "root" "wgpunchd --user roo"
expect "asm check compile disasm help run trace" "cbpf "
expect "asm c comma dd ddd dot raw tcpdump" "cbpf disasm --format "
expect "asm c comma dd ddd dot raw tcpdump" "cbpf compile -f "
expect "asm c comma dd ddd dot raw tcpdump" "cbpf asm --format="
expect "ether ipv4 ipv6 raw sll" "cbpf compile --link "
expect "none" "cbpf run --net-off n"
expect "--no-trailing-blanks --no-validate" "cbpf asm --no-"
expect "asm check compile disasm run trace" "cbpf help "
expect "--help --version" "cbpf --"
expect "udp" "cbpf compile ud"

# File names where a file is read; capture files first for --pcap.
files=$tmp/files
mkdir "$files"
: > "$files/server.key"
: > "$files/prog.bpf"
: > "$files/trace.pcap"
: > "$files/trace.txt"
expect "server.key" "wgpunch -K $files/se"
expect "server.key" "wgpunch --config=$files/se"
expect "server.key" "wgpunchd --private-key $files/s"
expect "prog.bpf" "cbpf check $files/p"
expect "prog.bpf" "cbpf asm -n $files/p"
expect "prog.bpf" "cbpf run -p $files/p"
expect "trace.pcap" "cbpf trace --pcap $files/tr"
stop

# IFACE: the WireGuard interfaces, seen in a namespace holding only the
# ones made here, or every interface when there are none.

# add_link NAME TYPE: in the namespace; a bridge if TYPE is not built.
add_link()
{
	ip -n "$netns" link add "$1" type "$2" 2>/dev/null ||
		ip -n "$netns" link add "$1" type bridge
}

# sh in the namespace (where ip netns exec mounted a /sys of its own)
# gets a /run of its own with the UAPI and status sockets named from $2
# on, and a file that is not a socket; $1, if not empty, is bound over
# the uevent of wgpz-kernel.
# shellcheck disable=SC2016 # expanded by that sh
in_netns='mount -t tmpfs tmpfs /run &&
	mkdir /run/wireguard /run/wgpunch &&
	: > /run/wireguard/not-a-socket.sock &&
	if [ -n "$1" ]; then
		mount --bind "$1" /sys/class/net/wgpz-kernel/uevent || exit
	fi &&
	shift &&
	for s in "$@"; do
		zsh -fc "zmodload zsh/net/socket; zsocket -l $s" || exit
	done &&
	exec zsh -f -i'

if ((EUID != 0)); then
	echo "skip: interface completion needs root (a network namespace)"
elif ! ip netns add "wgpunch-zsh-$$"; then
	echo "skip: interface completion: cannot add a network namespace"
else
	netns=wgpunch-zsh-$$
	add_link wgpz-other dummy
	start ip netns exec "$netns" sh -c "$in_netns" sh ''
	expect "lo wgpz-other" "wgpunch up "
	stop

	uevent=
	if ! ip -n "$netns" link add wgpz-kernel type wireguard 2>/dev/null
	then
		echo "note: no WireGuard in this kernel: an interface whose" \
			"uevent says DEVTYPE=wireguard stands in for one"
		add_link wgpz-kernel dummy
		uevent=$tmp/uevent
		printf 'DEVTYPE=wireguard\nINTERFACE=wgpz-kernel\n' > "$uevent"
	fi
	start ip netns exec "$netns" sh -c "$in_netns" sh "$uevent" \
		/run/wireguard/wgpz-go.sock /run/wgpunch/wgpz-daemon.sock
	expect "wgpz-daemon wgpz-go wgpz-kernel" "wgpunch status "
	expect "wgpz-go" "wgpunch -c x up --json wgpz-g"
	expect "wgpz-kernel" "wgpunch daemon -l info wgpz-k"
	stop
fi

finish "all zsh completions as expected"
