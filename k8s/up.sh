#!/usr/bin/env bash
# Start a local Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (fake nodes/pods), all on 127.0.0.1 on free ports, with RBAC and a static
# admin token; and, where this machine can run one, a real node (kubelet + containerd + CNI, see
# k8s/node.sh) with the connector images loaded. Binaries come from k8s/build.sh (run it first; it
# is a no-op when cached); the images from docker/build-images.sh (run here when not cached).
#
# Usage: k8s/up.sh [STATE_DIR]        (default: $FLUVIO_K8S_STATE or $FLUVIO_K8S_CACHE/run)
# Env:   FLUVIO_K8S_NODES  number of fake nodes (default 2)
#        FLUVIO_K8S_UP_TIMEOUT  seconds allowed for each wait (default 120)
#        FLUVIO_K8S_SERVICE_CIDR / FLUVIO_K8S_POD_CIDR  default 127.64.0.0/16 / 127.65.0.0/16 (loopback,
#                              so stray connections stay local; Endpoints/EndpointSlices reject them)
#        FLUVIO_K8S_OWNER_PID  if set, a watchdog runs k8s/down.sh when that process exits
#                              (used by tests/system/kube_cluster.py, so a killed pytest leaves nothing)
#        FLUVIO_K8S_REAL_NODE  auto (default): a real node when node_missing finds nothing missing,
#                              else none (the reason goes to env as FLUVIO_K8S_REAL_NODE_SKIPPED);
#                              1: a real node or fail; 0: none
#        FLUVIO_K8S_NODE_IMAGES  image archives to load into the real node (default: the connector
#                              images of docker/build-images.sh --print)
# Writes into STATE_DIR:
#   kubeconfig            admin kubeconfig (token user in system:masters, CA-verified https)
#   env                   shell file: KUBECONFIG=..., FLUVIO_K8S_API_URL=..., ports
#   ports                 chosen ports (etcd, etcd_peer, apiserver)
#   pids/<name>.pid       "PID STARTTIME" of each started component (used by down.sh)
#   logs/<name>.log       component logs
# If STATE_DIR already holds a previous run (marker file .fluvio-k8s-state), that run is stopped first.
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=node.sh
. "$K8S_DIR/node.sh"

STATE="${1:-$K8S_STATE_DEFAULT}"
NODES="${FLUVIO_K8S_NODES:-2}"
TIMEOUT="${FLUVIO_K8S_UP_TIMEOUT:-120}"
MARKER=".fluvio-k8s-state"
T0=$(date +%s)

k8s_bin_dirs
for b in "$ETCD_BIN" "$KUBE_APISERVER_BIN" "$KUBE_CONTROLLER_MANAGER_BIN" "$KUBE_SCHEDULER_BIN" "$KWOK_BIN"; do
  [ -x "$b" ] || _k8s_die "missing binary $b - run k8s/build.sh first"
done
for tool in openssl curl python3 setsid flock; do
  command -v "$tool" >/dev/null 2>&1 || _k8s_die "required tool not found: $tool"
done

# --- previous run in the same state dir: stop it ------------------------------------------------
if [ -e "$STATE" ]; then
  if [ -f "$STATE/$MARKER" ]; then
    _k8s_log "stopping previous run in $STATE"
    "$K8S_DIR/down.sh" "$STATE"
  elif [ -n "$(ls -A "$STATE" 2>/dev/null)" ]; then
    _k8s_die "$STATE exists, is not empty and is not a k8s/up.sh state dir; refusing to use it"
  fi
fi
mkdir -p "$STATE"/{logs,pids,pki,etcd,kwok}
chmod 700 "$STATE/etcd" "$STATE/pki"
STATE="$(cd "$STATE" && pwd)"
echo "created by k8s/up.sh $(date -u +%FT%TZ)" > "$STATE/$MARKER"

UP_OK=0
exec 3>&2  # the caller's stderr, for on_exit (which may fire while a wait_for has output on /dev/null)
on_exit() {
  local rc=$?
  [ "$UP_OK" = 1 ] && return 0
  exec 1>&3 2>&3
  [ "$rc" != 0 ] || rc=1
  for f in "$STATE"/logs/*.log; do
    [ -f "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 25 "$f" >&2 || true
  done
  _k8s_log "up.sh failed; stopping what was started (logs kept in $STATE/logs; next up.sh or down.sh cleans up)"
  "$K8S_DIR/down.sh" --keep "$STATE" >&2 || true
  exit "$rc"
}
fail() { _k8s_log "ERROR: $*"; exit 1; }
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- owner watchdog ---------------------------------------------------------------------------
if [ -n "${FLUVIO_K8S_OWNER_PID:-}" ]; then
  owner_st="$(k8s_proc_starttime "$FLUVIO_K8S_OWNER_PID")"
  [ -n "$owner_st" ] || fail "FLUVIO_K8S_OWNER_PID=$FLUVIO_K8S_OWNER_PID is not a running process"
  # polls every 2s while the state dir exists; when the owner is gone it becomes (exec) down.sh
  setsid bash -c '
    . "$1/lib.sh"
    while [ -f "$3/'"$MARKER"'" ]; do
      [ "$(k8s_proc_starttime "$2")" = "$4" ] || exec "$1/down.sh" "$3"
      sleep 2
    done' k8s-watchdog "$K8S_DIR" "$FLUVIO_K8S_OWNER_PID" "$STATE" "$owner_st" \
    >"$STATE/logs/watchdog.log" 2>&1 </dev/null 3>&- &
  echo "$! $(k8s_proc_starttime $!) watchdog" > "$STATE/pids/watchdog.pid"
fi

# --- ports ------------------------------------------------------------------------------------
read -r ETCD_PORT ETCD_PEER_PORT API_PORT < <(python3 - <<'EOF'
import socket
ss = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(3)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss:
    s.close()
EOF
)
API_URL="https://127.0.0.1:$API_PORT"
printf 'etcd=%s\netcd_peer=%s\napiserver=%s\n' "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" > "$STATE/ports"

# --- PKI, tokens, kubeconfigs -----------------------------------------------------------------
PKI="$STATE/pki"
(
  cd "$PKI"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
    -subj "/CN=fluvio-test-k8s-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
  cat > apiserver.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt \
    -days 3650 -extfile apiserver.ext 2>/dev/null
  # the API server's client identity towards kubelets (logs, exec): system:masters, signed by the CA
  openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr \
    -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > kubelet-client.ext
  openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-client.crt \
    -days 3650 -extfile kubelet-client.ext 2>/dev/null
  chmod 600 ./*.key
)

tok() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
ADMIN_TOKEN="$(tok)"; KCM_TOKEN="$(tok)"; SCHED_TOKEN="$(tok)"; KWOK_TOKEN="$(tok)"; NODE_TOKEN="$(tok)"
umask 077
cat > "$PKI/tokens.csv" <<EOF
$ADMIN_TOKEN,admin,admin,"system:masters"
$NODE_TOKEN,system:node:$NODE_NAME,system:node:$NODE_NAME,"system:nodes"
$KCM_TOKEN,system:kube-controller-manager,system:kube-controller-manager
$SCHED_TOKEN,system:kube-scheduler,system:kube-scheduler
$KWOK_TOKEN,kwok-controller,kwok-controller,"system:masters"
EOF
CA_DATA="$(base64 -w0 < "$PKI/ca.crt")"
write_kubeconfig() { # file user token
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fluvio-test
  cluster:
    server: $API_URL
    certificate-authority-data: $CA_DATA
users:
- name: $2
  user:
    token: $3
contexts:
- name: fluvio-test
  context:
    cluster: fluvio-test
    user: $2
    namespace: default
current-context: fluvio-test
EOF
}
write_kubeconfig "$STATE/kubeconfig" admin "$ADMIN_TOKEN"
write_kubeconfig "$PKI/kcm.kubeconfig" system:kube-controller-manager "$KCM_TOKEN"
write_kubeconfig "$PKI/scheduler.kubeconfig" system:kube-scheduler "$SCHED_TOKEN"
write_kubeconfig "$PKI/kwok.kubeconfig" kwok-controller "$KWOK_TOKEN"
umask 022

# --- process helpers --------------------------------------------------------------------------
start() { # name binary args...
  local name="$1" bin="$2"; shift 2
  # setsid: own session, so the components survive the caller's shell and terminal signals;
  # it does not fork here (a background job is not a process-group leader), so $! is the component.
  setsid "$bin" "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null 3>&- &
  local pid=$!
  local st
  st="$(k8s_proc_starttime "$pid")"
  echo "$pid $st $bin" > "$STATE/pids/$name.pid"
  echo "$name" >> "$STATE/pids/order"
  _k8s_log "started $name (pid $pid)"
}
alive() { local pid; read -r pid _ < "$STATE/pids/$1.pid"; kill -0 "$pid" 2>/dev/null; }
# wait_for <what> <command...>: retries the command every 0.25s until it succeeds or TIMEOUT passes,
# failing early if any started component died.
wait_for() {
  local what="$1"; shift
  local deadline=$(( $(date +%s) + TIMEOUT )) n
  while ! "$@" >/dev/null 2>&1; do
    for n in $(cat "$STATE/pids/order"); do alive "$n" || fail "$n exited while waiting for $what"; done
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.25
  done
  _k8s_log "$what: ok ($(( $(date +%s) - T0 ))s)"
}
api() { # method path [json-body]
  local args=(-sS --fail --max-time 10 --cacert "$PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN"
              -X "$1" "$API_URL$2")
  [ $# -lt 3 ] || args+=(-H "Content-Type: application/json" --data-binary "$3")
  curl "${args[@]}"
}

# --- etcd -------------------------------------------------------------------------------------
start etcd "$ETCD_BIN" \
  --name=fluvio-test --data-dir="$STATE/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="fluvio-test=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync --log-level=warn
etcd_healthy() { curl -sS --fail --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
wait_for "etcd /health" etcd_healthy

# --- kube-apiserver ---------------------------------------------------------------------------
# Service and pod IP ranges are in 127.0.0.0/8 so that any accidental connection to a ClusterIP or
# fake pod IP stays on this machine.
start kube-apiserver "$KUBE_APISERVER_BIN" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --cert-dir="$PKI/apiserver-generated" \
  --token-auth-file="$PKI/tokens.csv" \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=PodNodeSelector,PodTolerationRestriction \
  --kubelet-client-certificate="$PKI/kubelet-client.crt" --kubelet-client-key="$PKI/kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range="${FLUVIO_K8S_SERVICE_CIDR:-127.64.0.0/16}" \
  --endpoint-reconciler-type=none \
  --allow-privileged=true --profiling=false \
  --v=1
api_ready() { api GET /readyz | grep -qx ok; }
wait_for "kube-apiserver /readyz" api_ready

# --- controller-manager, scheduler, kwok ------------------------------------------------------
start kube-controller-manager "$KUBE_CONTROLLER_MANAGER_BIN" \
  --kubeconfig="$PKI/kcm.kubeconfig" --leader-elect=false \
  --bind-address=127.0.0.1 --secure-port=0 \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --flex-volume-plugin-dir="$STATE/kcm-flexvolume" \
  --profiling=false --v=1
start kube-scheduler "$KUBE_SCHEDULER_BIN" \
  --kubeconfig="$PKI/scheduler.kubeconfig" --leader-elect=false \
  --bind-address=127.0.0.1 --secure-port=0 --profiling=false --v=1
KWOK_WORKDIR="$STATE/kwok" start kwok "$KWOK_BIN" \
  --kubeconfig="$PKI/kwok.kubeconfig" --config="$K8S_DIR/stages.yaml" \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-ip=127.0.0.1 --cidr="${FLUVIO_K8S_POD_CIDR:-127.65.0.0/16}" --node-lease-duration-seconds=40

# --- fake nodes -------------------------------------------------------------------------------
for i in $(seq 0 $(( NODES - 1 ))); do
  node="kwok-node-$i"
  body="$(cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$node",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"type":"kwok","$NODE_LABEL":"kwok","kubernetes.io/hostname":"$node","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}},
 "spec":{},
 "status":{"allocatable":{"cpu":"32","memory":"64Gi","pods":"110"},"capacity":{"cpu":"32","memory":"64Gi","pods":"110"}}}
EOF
)"
  create_node() { api POST /api/v1/nodes "$body" >/dev/null 2>&1 || api GET "/api/v1/nodes/$node" >/dev/null; }
  wait_for "create node $node" create_node
done
nodes_ready() {
  local i
  for i in $(seq 0 $(( NODES - 1 ))); do
    api GET "/api/v1/nodes/kwok-node-$i" |
      python3 -c 'import json,sys; n=json.load(sys.stdin); c=[x for x in n.get("status",{}).get("conditions",[]) if x["type"]=="Ready"]; t=[x for x in n.get("spec",{}).get("taints",[]) if x.get("effect")=="NoSchedule"]; sys.exit(0 if c and c[0]["status"]=="True" and not t else 1)' ||
      return 1
  done
}
wait_for "$NODES node(s) Ready and untainted" nodes_ready
default_sa() { api GET /api/v1/namespaces/default/serviceaccounts/default >/dev/null; }
wait_for "default ServiceAccount (controller-manager working)" default_sa

# --- the real node ----------------------------------------------------------------------------
REAL_NODE=""; REAL_NODE_SKIPPED=""
case "${FLUVIO_K8S_REAL_NODE:-auto}" in
  0) REAL_NODE_SKIPPED="FLUVIO_K8S_REAL_NODE=0" ;;
  1|auto)
    REAL_NODE_SKIPPED="$(node_missing)"
    if [ -n "$REAL_NODE_SKIPPED" ] && [ "${FLUVIO_K8S_REAL_NODE:-auto}" = 1 ]; then
      fail "FLUVIO_K8S_REAL_NODE=1 but no real node can run here: $REAL_NODE_SKIPPED"
    fi ;;
  *) fail "FLUVIO_K8S_REAL_NODE must be auto, 1 or 0, got ${FLUVIO_K8S_REAL_NODE}" ;;
esac
if [ -z "$REAL_NODE_SKIPPED" ]; then
  if [ -z "${FLUVIO_K8S_NODE_IMAGES+set}" ]; then
    FLUVIO_K8S_NODE_IMAGES="$("$K8S_DIR/../docker/build-images.sh" --print | awk '{print $4}' | tr '\n' ' ')" ||
      fail "docker/build-images.sh failed: the real node would have no connector images"
  fi
  node_up
  REAL_NODE="$NODE_NAME"
else
  _k8s_log "no real node: $REAL_NODE_SKIPPED"
fi

cat > "$STATE/env" <<EOF
export KUBECONFIG=$STATE/kubeconfig
export FLUVIO_K8S_STATE=$STATE
export FLUVIO_K8S_API_URL=$API_URL
export FLUVIO_K8S_ETCD_PORT=$ETCD_PORT
export FLUVIO_K8S_API_PORT=$API_PORT
export FLUVIO_K8S_REAL_NODE=$REAL_NODE
export FLUVIO_K8S_REAL_NODE_SKIPPED=$(printf '%q' "$REAL_NODE_SKIPPED")
EOF
UP_OK=1
_k8s_log "cluster up in $(( $(date +%s) - T0 ))s: KUBECONFIG=$STATE/kubeconfig ($API_URL)"
echo "$STATE/kubeconfig"
