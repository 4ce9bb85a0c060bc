#!/usr/bin/env bash
# hack/tools.sh [--full]
#
# Installs what the integration tests start, from Debian apt and the Go module proxy only
# (no container registry, no downloaded release binaries). `make tools` runs it, and
# `make test` runs `make tools` first, so a second run must be fast: it installs or builds
# only what is missing or out of date (a few seconds).
#
#   1. Debian packages: etcd-server prometheus chromium (the report's screenshot test)
#      openssl iproute2 procps ca-certificates
#      (and make when it is missing); with --full also the node's packages: containerd
#      runc containernetworking-plugins iptables busybox-static. `apt-get update` runs
#      once, only when something has to be installed. Needs root (or password-less sudo)
#      for that step only.
#   2. test/local-cluster/build.sh --control-plane: kube-apiserver, kubectl and
#      kube-state-metrics, built from k8s.io/kubernetes and k8s.io/kube-state-metrics (one
#      module, test/local-cluster/go/k8s, so they share their compiles) into the cluster
#      cache (about 6 minutes on 2 cores the first time, about 2 s when up to date); with
#      --full everything the node, Tekton and Knative Serving need (about 15 more minutes
#      the first time).
#
# The cluster cache is $ITER8_CLUSTER_CACHE, default $HOME/.cache/iter8-tekton/cluster
# (the harness in test/harness reads the same variable). Cache its bin/ directory and the
# Go module and build caches in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIT=$ROOT/test/local-cluster

MODE=control-plane
case "${1:-}" in
  "") ;;
  --full) MODE=full ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--full]" >&2; exit 2 ;;
esac

T0=$(date +%s%N)
elapsed() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }
log() { echo "tools [$(elapsed)]: $*" >&2; }
die() { echo "tools: error: $*" >&2; exit 1; }

# --- Go -----------------------------------------------------------------------------------
command -v go >/dev/null || die "go not found on PATH; install Go 1.25 or newer (https://go.dev/dl/)"
GOV=$(go env GOVERSION)              # go1.26.8
GOV=${GOV#go}
GOMAJOR=${GOV%%.*}; GOMINOR=${GOV#*.}; GOMINOR=${GOMINOR%%[!0-9]*}
if [ "$GOMAJOR" -lt 1 ] || { [ "$GOMAJOR" = 1 ] && [ "$GOMINOR" -lt 25 ]; }; then
  die "Go $GOV is too old; the cluster kit needs Go 1.25 or newer"
fi

# --- Debian packages ----------------------------------------------------------------------
PKGS="etcd-server prometheus chromium openssl iproute2 procps ca-certificates"
command -v make >/dev/null || PKGS="$PKGS make"
[ $MODE = control-plane ] || PKGS="$PKGS containerd runc containernetworking-plugins iptables busybox-static"

if command -v dpkg-query >/dev/null; then
  missing=""
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null && sudo -n true 2>/dev/null \
        || die "installing$missing needs root; run as root, or: sudo apt-get install$missing"
      SUDO="sudo -n"
    fi
    # Package scripts must not start the system services of etcd and prometheus (the
    # latter would listen on all interfaces); the tests run their own instances on
    # 127.0.0.1. A policy-rc.d that denies every start, only for this install, unless the
    # host has one already.
    POLICY=/usr/sbin/policy-rc.d
    remove_policy() { $SUDO rm -f "$POLICY"; }
    created_policy=0
    if [ ! -e "$POLICY" ]; then
      $SUDO sh -c "printf '#!/bin/sh\n# hack/tools.sh: no service starts during its apt-get install\nexit 101\n' > $POLICY && chmod 755 $POLICY"
      created_policy=1
      trap remove_policy EXIT
    fi
    log "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
    if [ $created_policy = 1 ]; then remove_policy; trap - EXIT; fi
    log "installed:$missing"
  else
    log "Debian packages present:$(printf ' %s' $PKGS)"
  fi
else
  # Not Debian: check the commands and say which are missing.
  for c in etcd prometheus chromium openssl ss sysctl; do
    command -v "$c" >/dev/null || die "'$c' not found and this is not a Debian system; install the equivalent of: $PKGS"
  done
  log "not a Debian system; the commands are present"
fi

# --- Kubernetes (and Tekton) binaries -----------------------------------------------------
export CL=${ITER8_CLUSTER_CACHE:-$HOME/.cache/iter8-tekton/cluster}
case "$CL" in *[[:space:]]*) die "cluster cache '$CL' contains white space; set ITER8_CLUSTER_CACHE" ;; esac
mkdir -p "$CL"
# One build at a time per cache: test runs and engineers share it.
if command -v flock >/dev/null; then
  exec 9>"$CL/.build.lock"
  flock -n 9 || { log "waiting for another build in $CL"; flock 9; }
fi
if [ $MODE = control-plane ]; then
  log "building kube-apiserver, kubectl and kube-state-metrics into $CL/bin (first time: ~6 min on 2 cores)"
  "$KIT/build.sh" --control-plane
else
  log "building the node, Tekton and images into $CL (first time: ~10 min on 2 cores)"
  "$KIT/build.sh"
fi

log "tools ready (mode $MODE; cluster cache $CL)"
