# SPDX-License-Identifier: MIT
#
# Sourced by the dist checks: a scratch directory removed on exit, fail()
# that counts instead of stopping (so one run reports every problem), and
# finish() that turns the count into the exit status.

failures=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# finish MESSAGE: exit 1 if anything failed, else print MESSAGE, exit 0.
finish()
{
	if ((failures)); then
		echo "$failures failure(s)"
		exit 1
	fi
	echo "$1"
	exit 0
}
