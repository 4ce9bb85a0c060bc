# env.sh - settings of the local cluster, sourced by every script of this kit.
#
# Source it in a shell to talk to a running cluster with the kit's kubectl:
#     source ./env.sh && kubectl get pods -A
#
# Every value can be overridden from the environment before a script runs, for example
#     CL=$HOME/.cache/cluster2 LC_API_PORT=46443 ./up.sh --control-plane
# Running two clusters on one host needs a different CL and different values for every
# LC_*_PORT, LC_BRIDGE, LC_BRIDGE_IP, LC_POD_CIDR and LC_SERVICE_CIDR.

# shellcheck disable=SC2034  # the variables below are used by the scripts that source this

# Where the kit's own files are (the directory of this file).
KIT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Work directory: binaries, images, certificates, generated configs, logs, pids and all
# cluster state live below it (the path must not contain spaces). Outside it, only the
# full mode changes the host, as listed in lib/host.sh, and down.sh reverts that.
# iter8-tekton: $ITER8_CLUSTER_CACHE, default $HOME/.cache/iter8-tekton/cluster (hack/tools.sh
# and test/harness use the same); test/harness runs its control planes in $CL/cp/*.
export CL=${CL:-${ITER8_CLUSTER_CACHE:-$HOME/.cache/iter8-tekton/cluster}}

# --- Network ------------------------------------------------------------------------
# Control-plane mode: etcd and kube-apiserver listen on 127.0.0.1 only.
# Full mode: a private bridge carries the pods. The apiserver and the kubelet listen on
# the bridge address, because pods must reach the apiserver through the `kubernetes`
# Service and its endpoint may not be a loopback address. Everything else stays on
# 127.0.0.1. Nothing listens on a public interface.
: "${LC_BRIDGE:=k8sbr0}"                # bridge created by up.sh, removed by down.sh
: "${LC_BRIDGE_IP:=10.244.0.1}"         # host side of the bridge, gateway of the pods
: "${LC_POD_CIDR:=10.244.0.0/24}"       # pod addresses (CNI host-local IPAM)
: "${LC_SERVICE_CIDR:=10.96.0.0/24}"    # ClusterIP range
: "${LC_KUBERNETES_SVC_IP:=10.96.0.1}"  # first address of LC_SERVICE_CIDR (certificate SAN)

# --- Ports --------------------------------------------------------------------------
: "${LC_API_PORT:=36443}"               # kube-apiserver
: "${LC_ETCD_PORT:=32379}"              # etcd clients (127.0.0.1)
: "${LC_ETCD_PEER_PORT:=32380}"         # etcd peers (127.0.0.1)
: "${LC_KUBELET_PORT:=10250}"           # kubelet API (bridge address; logs, exec)
: "${LC_KUBELET_HEALTHZ_PORT:=10248}"   # 127.0.0.1
: "${LC_KCM_PORT:=10257}"               # kube-controller-manager (127.0.0.1)
: "${LC_SCHEDULER_PORT:=10259}"         # kube-scheduler (127.0.0.1)
: "${LC_PROXY_METRICS_PORT:=10249}"     # kube-proxy (127.0.0.1)
: "${LC_PROXY_HEALTHZ_PORT:=10256}"     # kube-proxy (127.0.0.1)

# --- Node ---------------------------------------------------------------------------
: "${LC_NODE_NAME:=local-node}"
: "${LC_CNI_BIN_DIR:=/usr/lib/cni}"     # Debian's containernetworking-plugins
: "${LC_RUNC:=$(command -v runc || echo /usr/sbin/runc)}"

# 1 (default): the Tekton controller and webhook readiness probes run every second
# instead of after 5 s and every 10 s, which shortens the Tekton install by about 10 s.
# 0: the stock manifests.
: "${LC_FAST_PROBES:=1}"

export LC_BRIDGE LC_BRIDGE_IP LC_POD_CIDR LC_SERVICE_CIDR LC_KUBERNETES_SVC_IP \
  LC_API_PORT LC_ETCD_PORT LC_ETCD_PEER_PORT LC_KUBELET_PORT LC_KUBELET_HEALTHZ_PORT \
  LC_KCM_PORT LC_SCHEDULER_PORT LC_PROXY_METRICS_PORT LC_PROXY_HEALTHZ_PORT \
  LC_NODE_NAME LC_CNI_BIN_DIR LC_RUNC LC_FAST_PROBES

# --- Versions (read from the build modules, so go.mod is the single source) -----------
# modver GOMOD MODULE: the version MODULE is required at in GOMOD.
modver() { awk -v m="$2" '($1 == m && $2 ~ /^v/) {print $2; exit} ($1 == "require" && $2 == m) {print $3; exit}' "$1"; }
K8S_VERSION=$(modver "$KIT/go/k8s/go.mod" k8s.io/kubernetes)            # e.g. v1.32.8
TEKTON_VERSION=$(modver "$KIT/go/tekton/go.mod" github.com/tektoncd/pipeline) # e.g. v1.6.0
KNATIVE_VERSION=$(modver "$KIT/go/knative/go.mod" knative.dev/serving)  # e.g. v0.45.0

# Local image names. Tags are never "latest", so the pull policy defaults to IfNotPresent
# and the images imported by up.sh are used as they are.
PAUSE_IMAGE=localhost/pause:v1
BUSYBOX_IMAGE=localhost/busybox:v1
HELLO_IMAGE=localhost/hello:v1
TEKTON_IMAGE_PREFIX=localhost/tekton     # + /<command>:$TEKTON_VERSION
KNATIVE_IMAGE_PREFIX=localhost/knative   # + /<command>:$KNATIVE_VERSION

export KUBECONFIG=$CL/etc/admin.kubeconfig
case ":$PATH:" in *":$CL/bin:"*) ;; *) export PATH=$CL/bin:$PATH ;; esac
