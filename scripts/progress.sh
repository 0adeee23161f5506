#!/usr/bin/env bash
# Run a long, quiet command and say that it is still running: one line every PROGRESS_EVERY
# seconds (default 15) with the time so far, then how long it took. The command's output and exit
# status pass through. Usage: scripts/progress.sh "what it does" command [args...]
set -uo pipefail
what="$1"; shift
every="${PROGRESS_EVERY:-15}"
start=$(date +%s)
"$@" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid"; exit 130' INT TERM
(
    while sleep "$every"; do
        kill -0 "$pid" 2>/dev/null || exit 0
        echo "    ... $what: $(( $(date +%s) - start )) s so far"
    done
) &
ticker=$!
wait "$pid"
status=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null
if [ "$status" = 0 ]; then
    echo "    $what: done in $(( $(date +%s) - start )) s"
else
    echo "    $what: failed (exit $status) after $(( $(date +%s) - start )) s" >&2
fi
exit "$status"
