# SPDX-License-Identifier: MIT
#
# Sourced by the completion checks (bash and zsh): what a program's --help
# lists, and the comparison of that with what a completion offers.
# Needs fail() and $failures from common.sh.

# The options of an option table in --help (lines that begin with
# blanks and a dash: "  -s, --server HOST  text").
help_options()
{
	"$@" --help | grep -E '^[[:space:]]+-' |
		sed -E 's/^[[:space:]]+//; s/  .*//' | tr ' ' '\n' |
		grep -E '^-' | sed 's/,$//' | sort -u
}

# The commands of a "  name   text" table in --help.
help_commands()
{
	"$@" --help | sed -nE 's/^  ([a-z]+)  +[A-Za-z].*/\1/p' | sort -u
}

# same_words WHAT HELP_LIST OFFERED_LIST: each word of HELP_LIST is
# offered, and nothing is offered that --help does not list.
same_words()
{
	local what=$1 word help offered before=$failures

	help=" $(echo $2) "
	offered=" $(echo $3) "
	for word in $help; do
		[[ $offered == *" $word "* ]] ||
			fail "$what: '$word' from --help is not offered"
	done
	for word in $offered; do
		[[ $help == *" $word "* ]] ||
			fail "$what: '$word' offered but not in --help"
	done
	((failures == before)) &&
		echo "ok: $what: the $(echo $2 | wc -w) words of --help are offered"
}
