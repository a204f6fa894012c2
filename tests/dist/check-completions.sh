#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The bash completions in completions/, driven as bash drives them: each
# file is sourced in a plain bash (no bash-completion package), its
# function is called with COMP_WORDS/COMP_CWORD set as bash sets them,
# and COMPREPLY is compared with what is expected. Every option and
# command the programs' --help lists must be offered.
#
# Usage: check-completions.sh COMPLETIONS_DIR CBPF WGPUNCH WGPUNCHD

set -u
dir=$1
cbpf=$2
wgpunch=$3
wgpunchd=$4

# shellcheck source=common.sh
source "$(dirname -- "$0")/common.sh"
# shellcheck source=help-words.sh
source "$(dirname -- "$0")/help-words.sh"

for f in cbpf wgpunch wgpunchd; do
	# shellcheck source=/dev/null
	source "$dir/$f" || { echo "cannot source $dir/$f"; exit 1; }
done

# Prints the sorted completions of the words given (the last one is the
# word being completed), one line, separated by spaces.
complete_words()
{
	local fn

	fn=$(complete -p "$1" 2>/dev/null | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
	[[ -n $fn ]] || { echo "<no completion for $1>"; return; }
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

# expect "WANTED" WORD... : the completions must be exactly WANTED.
expect()
{
	local want=$1 got
	shift

	got=$(complete_words "$@")
	if [[ $got != "$want" ]]; then
		fail "'$*<TAB>': got '$got', want '$want'"
	else
		echo "ok: '$*<TAB>' -> $got"
	fi
}

# Every option and command of --help is offered.
same_words "wgpunch options" "$(help_options "$wgpunch")" \
	"$(complete_words wgpunch -)"
same_words "wgpunch commands" "$(help_commands "$wgpunch")" \
	"$(complete_words wgpunch '')"
same_words "wgpunchd options" "$(help_options "$wgpunchd")" \
	"$(complete_words wgpunchd -)"
same_words "cbpf commands" "$(help_commands "$cbpf") help" \
	"$(complete_words cbpf '')"
for c in check run trace asm disasm compile; do
	same_words "cbpf $c options" "$(help_options "$cbpf" "$c")" \
		"$(complete_words cbpf "$c" -)"
done

# Commands, option values, and where options may stand.
expect "daemon status up" wgpunch ''
expect "daemon status up" wgpunch -l debug ''
expect "daemon status up" wgpunch --log-level = debug ''
expect "debug error info warning" wgpunch --log-level ''
expect "debug" wgpunch -l d
expect "debug error info warning" wgpunch status --log-level = ''
expect "debug" wgpunch --log-level = de
expect "all natpmp none pcp upnp" wgpunch --portmap ''
expect "pcp,natpmp pcp,upnp" wgpunch --portmap pcp,
expect "upnp,natpmp,pcp" wgpunch --portmap upnp,natpmp,p
expect "" wgpunch --portmap pcp,natpmp,upnp,
expect "--json" wgpunch status wg0 --j
expect "" wgpunch up wg0 ''
expect "" wgpunch --server ''
expect "--relay --relay-idle --relay-per-key --relay-rate" wgpunchd --rel
expect "debug error info warning" wgpunchd -v ''
expect "warning" wgpunchd --log-level = w
expect "" wgpunchd --port ''
expect "asm check compile disasm help run trace" cbpf ''
expect "asm c comma dd ddd dot raw tcpdump" cbpf disasm --format ''
expect "asm c comma dd ddd dot raw tcpdump" cbpf compile -f ''
expect "ether ipv4 ipv6 raw sll" cbpf compile --link ''
expect "none" cbpf run --net-off n
expect "--no-trailing-blanks --no-validate" cbpf asm --no-
expect "" cbpf trace -n ''
expect "asm check compile disasm run trace" cbpf help ''
expect "--help --version" cbpf --

# File names where a file is read.
: > "$tmp/server.key"
: > "$tmp/prog.bpf"
expect "$tmp/server.key" wgpunch -K "$tmp/se"
expect "$tmp/server.key" wgpunch --config = "$tmp/se"
expect "$tmp/server.key" wgpunchd --private-key "$tmp/s"
expect "$tmp/prog.bpf" cbpf check "$tmp/p"
expect "$tmp/prog.bpf" cbpf asm -n "$tmp/p"
expect "$tmp/prog.bpf" cbpf run -p "$tmp/p"

# The completion is not fooled by a value that looks like a command.
expect "" wgpunch -c up daemon wg0 ''
expect "" wgpunch daemon wg0 ''

finish "all completions as expected"
