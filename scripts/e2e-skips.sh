#!/bin/sh
# The closing lines of `make test`: how many end-to-end cases were skipped
# and why. Each skip() in tests/src/lib.rs appends one line
# "<test binary>::<test>\t<why>" to the file named by NSLAUNCH_TEST_SKIPS,
# which the Makefile sets to FILE.
#
#   scripts/e2e-skips.sh FILE
#
# As root nothing may be skipped (scripts/test-deps.sh all installs what
# the tests need): a skip then makes this exit 1.
set -eu

file=${1:?usage: scripts/e2e-skips.sh FILE}
if [ ! -s "$file" ]; then
    echo "end-to-end: none skipped"
    exit 0
fi
count=$(wc -l < "$file" | tr -d ' ')
echo "end-to-end: $count skipped:"
# One line per reason, the most frequent first: "  12 x <why>".
cut -f2- "$file" | sort | uniq -c | sort -rn | sed 's/^ *\([0-9][0-9]*\) /  \1 x /'
if [ "$(id -u)" = 0 ]; then
    echo "end-to-end: as root nothing may be skipped (scripts/test-deps.sh all installs what the tests need)" >&2
    exit 1
fi
