# shellcheck shell=bash
# The real node of the local cluster: a kubelet (built by build.sh), containerd from Debian as its
# container runtime, the Debian CNI plugins on a bridge of its own, and a pause image built here
# (no registry can serve one). Sourced by up.sh (node_up) and down.sh (node_down), after lib.sh.
#
# Everything lives under STATE/node/ (containerd root/state/sockets, runc state, CNI config and
# leases, kubelet root, pod logs, network namespaces), except what the kubelet and the CNI library
# put in fixed host paths whatever they are told: /var/lib/kubelet/device-plugins,
# /var/log/containers (symlinks to our pod logs), /var/lib/cni/{results,cache} (files named after
# our network) and /run/containerd/s (shim sockets). node_down removes ours, and the shared
# directories once no other real node of this kind is running (the host-wide list in
# $NODE_REGISTRY).
#
# Pod networking: a bridge flk8sN with 10.213.N.1/24 (N picked free per cluster), host-local IPs
# from that subnet, no gateway, no masquerade, no port mapping: pod traffic stays on the bridge, and
# the host firewall is not touched. The node's address is the bridge's (the kubelet refuses a
# loopback one); kubelet and containerd's stream server listen there and on 127.0.0.1 only.
# Connector pods that must reach services on the host's 127.0.0.1 (the Fluvio cluster, an MQTT
# broker) use the host network (the Kubernetes runtime's host_network option).
#
# The kubelet signs in as system:node:NAME (group system:nodes, the Node authorizer) with a token;
# the API server reaches it with a client certificate of system:masters, checked by the kubelet
# against the cluster CA, and authorized by webhook.

NODE_NAME="fluvio-real-node"
NODE_LABEL="fluvio.test/node"              # real on this node, kwok on the fake ones
NODE_TAINT="fluvio.test/real-node"         # NoSchedule: only pods that tolerate it land here
NODE_NET_PREFIX="${FLUVIO_K8S_NODE_NET_PREFIX:-10.213}"
NODE_REGISTRY="/run/fluvio-k8s-nodes"      # one file per running real node: its state dir
PAUSE_REV=1

# node_missing: prints why a real node cannot run on this machine (nothing if it can).
node_missing() {
  local missing=() tool
  [ "$(id -u)" = 0 ] || { echo "not root (the kubelet and containerd need root)"; return; }
  for tool in containerd containerd-shim-runc-v2 ctr runc ip podman buildah mmdebstrap gcc go; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  for tool in bridge host-local loopback; do
    [ -x "/usr/lib/cni/$tool" ] || missing+=("/usr/lib/cni/$tool")
  done
  [ -x "${KUBELET_BIN:-}" ] || missing+=("kubelet (k8s/build.sh)")
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=("libc6-dev (static libc for the pause binary)")
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || missing+=("a cgroup file system")
  [ ${#missing[@]} -eq 0 ] ||
    echo "missing ${missing[*]} (apt-get install containerd runc containernetworking-plugins podman buildah mmdebstrap gcc libc6-dev iproute2)"
}

# pause_archive: build (cached) the pause image from the k8s.io/kubernetes module's pause.c; prints
# "IMAGE ARCHIVE" (an OCI archive that ctr imports).
pause_archive() {
  local src dir key tag archive tmp
  dir="$(cd "$K8S_DIR/go/kube" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' k8s.io/kubernetes 2>/dev/null)" || true
  if [ -z "$dir" ] || [ ! -f "$dir/build/pause/linux/pause.c" ]; then
    (cd "$K8S_DIR/go/kube" && go mod download k8s.io/kubernetes) >&2 || _k8s_die "cannot download k8s.io/kubernetes (for pause.c)"
    dir="$(cd "$K8S_DIR/go/kube" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)"
  fi
  src="$dir/build/pause/linux/pause.c"
  tag="$(awk -F'[ ?=]+' '/^TAG/{print $2; exit}' "$dir/build/pause/Makefile")"
  key="$( { cat "$src"; gcc --version | head -1; echo "$tag $PAUSE_REV"; } | sha256sum | cut -c1-12)"
  archive="$K8S_CACHE/pause/pause-$tag-$key.oci.tar"
  if [ ! -f "$archive" ]; then
    tmp="$(mktemp -d)"
    mkdir -p "$K8S_CACHE/pause"
    gcc -Os -Wall -Werror -static -DVERSION="v$tag-fluvio" -o "$tmp/pause" "$src" ||
      { rm -rf "$tmp"; _k8s_die "gcc -static of pause.c failed"; }
    strip "$tmp/pause" 2>/dev/null || true
    printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$tmp/Containerfile"
    buildah bud --quiet --isolation oci --runtime runc --network none --layers=false \
      --file "$tmp/Containerfile" --tag "localhost/fluvio-k8s/pause:$tag" "$tmp" >/dev/null &&
    podman save --quiet --format oci-archive --output "$archive.tmp" "localhost/fluvio-k8s/pause:$tag" ||
      { rm -rf "$tmp" "$archive.tmp"; _k8s_die "building the pause image failed"; }
    mv "$archive.tmp" "$archive"
    rm -rf "$tmp"
    _k8s_log "pause image built: $archive"
  fi
  echo "localhost/fluvio-k8s/pause:$tag $archive"
}

# The registry's lock is on /run itself (a directory can be flock'ed), so that no lock file is left.
_node_registry_lock() { exec 8</run; flock -w 60 8 && mkdir -p "$NODE_REGISTRY"; }
_node_registry_unlock() { rmdir "$NODE_REGISTRY" 2>/dev/null || true; flock -u 8; exec 8<&-; }

# _node_pick_net: first free bridge flk8sN / subnet PREFIX.N.0/24 (under the registry lock)
_node_pick_net() {
  local i
  local owner
  for i in $(seq 0 63); do
    if [ -e "$NODE_REGISTRY/$i" ]; then
      owner="$(cat "$NODE_REGISTRY/$i")"
      # a node whose state dir is gone (its run was killed before down.sh) left only its bridge
      [ -f "$owner/.fluvio-k8s-state" ] && continue
      ip link del "flk8s$i" 2>/dev/null || true
      rm -f "$NODE_REGISTRY/$i"
    fi
    ip link show "flk8s$i" >/dev/null 2>&1 && continue
    ip -4 -o addr show | grep -q " inet $NODE_NET_PREFIX\.$i\." && continue
    echo "$i"; return 0
  done
  return 1
}

node_up() {
  local N="$STATE/node" idx bridge ip kport hport pause_ref pause_tar line
  mkdir -p "$N"/{containerd,cni/net.d,cni/leases,kubelet,pod-logs,volume-plugins,runc}

  # --- network: our own bridge ----------------------------------------------------------------
  _node_registry_lock || fail "timed out waiting for the lock on /run (another real node starting or stopping)"
  idx="$(_node_pick_net)" || { _node_registry_unlock; fail "no free bridge flk8s0..63 / $NODE_NET_PREFIX.N.0/24"; }
  bridge="flk8s$idx"; ip="$NODE_NET_PREFIX.$idx.1"
  echo "$STATE" > "$NODE_REGISTRY/$idx"
  printf 'index=%s\nbridge=%s\nip=%s\n' "$idx" "$bridge" "$ip" > "$N/net"
  ip link add "$bridge" type bridge && ip addr add "$ip/24" dev "$bridge" && ip link set "$bridge" up ||
    { _node_registry_unlock; fail "could not create bridge $bridge"; }
  _node_registry_unlock
  cat > "$N/cni/net.d/10-fluvio.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "fluvio-k8s-$idx",
 "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": false, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$N/cni/leases",
            "ranges": [[{"subnet": "$NODE_NET_PREFIX.$idx.0/24", "gateway": "$ip"}]]}},
  {"type": "loopback"}
 ]}
EOF

  # --- containerd -----------------------------------------------------------------------------
  cat > "$N/containerd/config.toml" <<EOF
version = 2
root = "$N/containerd/root"
state = "$N/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$N/containerd.sock"
[ttrpc]
  address = "$N/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$N/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "@PAUSE@"
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$N/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$N/cni/net.d"
    max_conf_num = 1
EOF
  read -r pause_ref pause_tar < <(pause_archive)
  sed -i "s|@PAUSE@|$pause_ref|" "$N/containerd/config.toml"
  start containerd "$(command -v containerd)" --config "$N/containerd/config.toml" --log-level warn
  ctr_ok() { ctr --address "$N/containerd.sock" version; }
  wait_for "containerd" ctr_ok
  node_ctr images import --no-unpack "$pause_tar" >/dev/null || fail "ctr import of the pause image failed"
  if [ -n "${FLUVIO_K8S_NODE_IMAGES:-}" ]; then
    while read -r line; do
      [ -n "$line" ] || continue
      node_ctr images import "$line" >/dev/null || fail "ctr import of $line failed"
      _k8s_log "loaded $(basename "$line") into the node's containerd"
    done < <(tr ' :' '\n\n' <<<"$FLUVIO_K8S_NODE_IMAGES" | grep .)
  fi

  # --- kubelet --------------------------------------------------------------------------------
  read -r kport hport < <(python3 - <<'EOF'
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
EOF
)
  cat > "$N/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $kport
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $hport
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$N/containerd.sock
imageServiceEndpoint: unix://$N/containerd.sock
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
podLogsDir: $N/pod-logs
cgroupRoot: /fluvio-k8s-$idx
resolvConf: /etc/resolv.conf
maxPods: 32
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
registerWithTaints:
- {key: $NODE_TAINT, value: "true", effect: NoSchedule}
EOF
  cat > "$N/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fluvio-test
  cluster: {server: $API_URL, certificate-authority: $PKI/ca.crt}
users:
- name: node
  user: {token: $NODE_TOKEN}
contexts:
- name: node
  context: {cluster: fluvio-test, user: node}
current-context: node
EOF
  chmod 600 "$N/kubelet.kubeconfig"
  # the pods' cgroups go under a root of this node's own (QoS classes below it), made here as the
  # kubelet requires it to exist; a new cpuset cgroup starts with no CPUs, so it gets its parent's
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -e "$h/cgroup.procs" ] || continue
    mkdir -p "$h/fluvio-k8s-$idx"
    if [ -e "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" > "$h/fluvio-k8s-$idx/cpuset.cpus"; cat "$h/cpuset.mems" > "$h/fluvio-k8s-$idx/cpuset.mems"
    fi
  done
  start kubelet "$KUBELET_BIN" --config="$N/kubelet.yaml" --kubeconfig="$N/kubelet.kubeconfig" \
    --root-dir="$N/kubelet" --cert-dir="$N/kubelet/pki" --volume-plugin-dir="$N/volume-plugins" \
    --hostname-override="$NODE_NAME" --node-ip="$ip" \
    --node-labels="$NODE_LABEL=real,type=real" --v=1
  node_ready() {
    api GET "/api/v1/nodes/$NODE_NAME" | python3 -c '
import json, sys
n = json.load(sys.stdin)
ready = [c for c in n.get("status", {}).get("conditions", []) if c["type"] == "Ready" and c["status"] == "True"]
sys.exit(0 if ready and n["metadata"]["labels"].get(sys.argv[1]) == "real" else 1)' "$NODE_LABEL"
  }
  wait_for "real node $NODE_NAME Ready ($bridge $ip)" node_ready
}

node_ctr() { ctr --address "$STATE/node/containerd.sock" --namespace k8s.io "$@"; }

# node_down: stop the node's containers, kubelet and containerd, unmount and remove what they made.
node_down() {
  local N="$STATE/node" idx="" bridge="" id pidf pid mnt
  [ -d "$N" ] || return 0
  if [ -f "$N/net" ]; then
    idx="$(sed -n 's/^index=//p' "$N/net")"; bridge="$(sed -n 's/^bridge=//p' "$N/net")"
  fi
  [ -f "$STATE/pids/kubelet.pid" ] && stop_group kubelet
  # every container (pods and their sandboxes) while containerd still answers
  if [ -f "$STATE/pids/containerd.pid" ] && same_proc "$STATE/pids/containerd.pid"; then
    for id in $(node_ctr tasks ls -q 2>/dev/null); do node_ctr tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $(node_ctr tasks ls -q 2>/dev/null); do
      for _ in 1 2 3 4 5 6 7 8 9 10; do node_ctr tasks delete "$id" >/dev/null 2>&1 && break; sleep 0.2; done
    done
    for id in $(node_ctr containers ls -q 2>/dev/null); do
      node_ctr containers delete "$id" >/dev/null 2>&1 || true
      # what the CNI library cached for this sandbox (its loopback network is containerd's own)
      rm -f /var/lib/cni/results/*-"$id"-* /var/lib/cni/cache/results/*-"$id"-* 2>/dev/null || true
    done
    stop_group containerd
  fi
  # containers containerd could not reach (it died first) and the shims it started
  if [ -d "$N/runc" ]; then
    for id in $(runc --root "$N/runc" list -q 2>/dev/null); do
      runc --root "$N/runc" kill "$id" KILL >/dev/null 2>&1 || true
      runc --root "$N/runc" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  for pidf in "$N"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -f "$pidf" ] || continue
    pid="$(cat "$pidf")"
    # only a shim of this containerd: its command line names our socket
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$N/containerd.sock"; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # mounts under the state dir (volumes, overlays, shm, netns), deepest first
  for mnt in $(awk -v p="$STATE/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || _k8s_log "could not unmount $mnt"
  done
  [ -z "$bridge" ] || ! ip link show "$bridge" >/dev/null 2>&1 || ip link del "$bridge" || true
  # the cgroups of the pods (kubelet cgroupRoot), deepest first
  [ -z "$idx" ] || find /sys/fs/cgroup/*/"fluvio-k8s-$idx" -depth -type d -exec rmdir {} + 2>/dev/null || true
  # host paths the kubelet and CNI use whatever their configuration says
  local logs="$N/pod-logs/"
  for id in /var/log/containers/*.log; do
    [ -L "$id" ] && case "$(readlink "$id")" in "$logs"*) rm -f "$id" ;; esac
  done
  if [ -n "$idx" ]; then
    rm -f /var/lib/cni/results/"fluvio-k8s-$idx"-* /var/lib/cni/cache/results/"fluvio-k8s-$idx"-* 2>/dev/null || true
    if _node_registry_lock; then
      rm -f "$NODE_REGISTRY/$idx"
      if [ -z "$(ls "$NODE_REGISTRY" 2>/dev/null)" ]; then
        # no other real node left on this host: the shared directories go too (the CNI ones only
        # when empty: podman uses them as well)
        rm -rf /var/lib/kubelet/device-plugins
        rmdir /var/lib/kubelet /var/log/containers /var/lib/cni/cache/results /var/lib/cni/cache \
          /var/lib/cni/results /var/lib/cni /run/containerd/s /run/containerd 2>/dev/null || true
      fi
      _node_registry_unlock
    fi
  fi
}
