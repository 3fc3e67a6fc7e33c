#!/bin/sh
# Replays every saved fuzz input through its target (sanitizers catch faults).
set -eu
b=${CF_BUILDDIR:-.}
s=${CF_SRCDIR:-.}
for t in frame pem target techzone acme cname esc_term esc_log esc_utf8 esc_mail; do
	set -- "$s"/tests/fuzz/corpus/$t/*
	[ -e "$1" ] || { echo "no corpus for $t"; exit 1; }
	"$b/tests/fuzz/replay_$t" "$@"
done
