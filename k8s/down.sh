#!/usr/bin/env bash
# Stop the control plane started by k8s/up.sh and remove its state dir; the real node first, with
# everything it made on the host (k8s/node.sh: containers, mounts, its bridge, host-path leftovers).
# Only the PIDs recorded by up.sh are signalled, and only if they are still the same processes
# (same start time in /proc); SIGTERM first, SIGKILL after FLUVIO_K8S_STOP_TIMEOUT seconds (default 15).
#
# Usage: k8s/down.sh [--keep] [STATE_DIR]     (default: $FLUVIO_K8S_STATE or $FLUVIO_K8S_CACHE/run)
#   --keep   stop the processes but keep the state dir (logs) for inspection
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=node.sh
. "$K8S_DIR/node.sh"

KEEP=0
if [ "${1:-}" = "--keep" ]; then KEEP=1; shift; fi
STATE="${1:-$K8S_STATE_DEFAULT}"
STOP_TIMEOUT="${FLUVIO_K8S_STOP_TIMEOUT:-15}"
MARKER=".fluvio-k8s-state"
T0=$(date +%s)

if [ ! -e "$STATE" ]; then
  _k8s_log "nothing to stop: $STATE does not exist"
  exit 0
fi
[ -f "$STATE/$MARKER" ] || _k8s_die "$STATE is not a k8s/up.sh state dir (no $MARKER); not touching it"

# same_proc PIDFILE: true if the recorded PID is alive and is the process up.sh started
same_proc() {
  local pid st bin cur
  read -r pid st bin < "$1" || return 1
  [ -n "$pid" ] || return 1
  cur="$(k8s_proc_starttime "$pid")"
  [ -n "$cur" ] || return 1
  if [ -n "$st" ] && [ "$st" != "0" ]; then
    [ "$cur" = "$st" ]
  else # start time unknown: require the same executable
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$bin" ]
  fi
}
pid_of() { local pid; read -r pid _ < "$1"; echo "$pid"; }

# the owner watchdog (unless it is this very process, exec'ed into down.sh): no need to wait for it
if [ -f "$STATE/pids/watchdog.pid" ] && same_proc "$STATE/pids/watchdog.pid" &&
   [ "$(pid_of "$STATE/pids/watchdog.pid")" != "$$" ]; then
  kill -TERM "$(pid_of "$STATE/pids/watchdog.pid")" 2>/dev/null || true
fi

names=()
if [ -f "$STATE/pids/order" ]; then
  mapfile -t names < <(tac "$STATE/pids/order")
fi
stop_group() { # names...: SIGTERM, wait, SIGKILL
  local n live=() deadline
  for n in "$@"; do
    local f="$STATE/pids/$n.pid"
    [ -f "$f" ] && same_proc "$f" || continue
    kill -TERM "$(pid_of "$f")" 2>/dev/null || true
    live+=("$n")
  done
  [ ${#live[@]} -gt 0 ] || return 0
  deadline=$(( $(date +%s) + STOP_TIMEOUT ))
  while :; do
    local still=()
    for n in "${live[@]}"; do same_proc "$STATE/pids/$n.pid" && still+=("$n"); done
    [ ${#still[@]} -gt 0 ] || break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      for n in "${still[@]}"; do
        _k8s_log "$n did not stop after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$(pid_of "$STATE/pids/$n.pid")" 2>/dev/null || true
      done
      local kdl=$(( $(date +%s) + 5 ))
      while [ "$(date +%s)" -lt "$kdl" ]; do
        local left=0
        for n in "${still[@]}"; do same_proc "$STATE/pids/$n.pid" && left=1; done
        [ $left = 1 ] || break
        sleep 0.1
      done
      break
    fi
    sleep 0.1
  done
  for n in "${live[@]}"; do _k8s_log "stopped $n"; done
}
node_down
# stop clients of the apiserver first, then the apiserver and etcd together (the data is discarded)
clients=()
for n in "${names[@]}"; do
  case "$n" in kube-apiserver|etcd) ;; *) clients+=("$n") ;; esac
done
[ ${#clients[@]} -eq 0 ] || stop_group "${clients[@]}"
stop_group kube-apiserver etcd

if [ "$KEEP" = 1 ]; then
  _k8s_log "stopped in $(( $(date +%s) - T0 ))s; state kept in $STATE"
else
  rm -rf "$STATE"
  _k8s_log "stopped and removed $STATE in $(( $(date +%s) - T0 ))s"
fi
