#!/usr/bin/env bash
# hack/images.sh [--tag REF] [--out FILE]
#
# Builds the multi-call stage binary (cmd/iter8-stage: static, CGO_ENABLED=0) and writes
# the all-in-one stages image as a tarball, without Docker or a registry:
# /ko-app/iter8-stage with the links /ko-app/{init-experiment,iterate,assess,finalize} to it
# (ko's layout, which the Tasks' commands use), user 65532, no shell, and the host's CA
# bundle at /etc/ssl/certs/ca-certificates.crt, where Go looks for the roots that verify
# HTTPS load targets (the binary carries none). The image writer is go-containerregistry's,
# through test/local-cluster/go/tools/mkimg.
#
#   hack/images.sh                                   # localhost/iter8-tekton/stages:dev -> bin/images/stages.tar
#   ctr -n k8s.io images import bin/images/stages.tar # into a containerd
#   crane push bin/images/stages.tar ghcr.io/ORG/iter8-tekton/stages:v0.1.0   # to a registry
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=localhost/iter8-tekton/stages:dev
OUT=$ROOT/bin/images/stages.tar
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--tag REF] [--out FILE]" >&2; exit 2 ;;
  esac
done
# A fixed tag: "latest" (or none) makes a kubelet pull the image instead of using the
# imported one.
case "${TAG##*/}" in
  *:latest|*@*) echo "images.sh: $TAG: use a fixed tag, not latest or a digest" >&2; exit 2 ;;
  *:*) ;;
  *) echo "images.sh: $TAG has no tag; use a fixed one" >&2; exit 2 ;;
esac

GO=${GO:-go}
# Debian's ca-certificates (hack/tools.sh installs it).
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [ ! -s "$CA_BUNDLE" ]; then
  echo "images.sh: no CA bundle at $CA_BUNDLE: install ca-certificates (hack/tools.sh) or set CA_BUNDLE" >&2
  exit 1
fi
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
STAGES="init-experiment iterate assess finalize"
(cd "$ROOT" && CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=auto -ldflags "-s -w" -o "$BUILD/iter8-stage" ./cmd/iter8-stage)
files=("$BUILD/iter8-stage:/ko-app/iter8-stage" "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:0644")
links=()
for s in $STAGES; do
  links+=(-symlink "/ko-app/$s=iter8-stage")
done

# The image writer: the kit's mkimg, built in its own module so go.mod stays clean.
MKIMG=$BUILD/mkimg
(cd "$ROOT/test/local-cluster/go/tools" && CGO_ENABLED=0 "$GO" build -o "$MKIMG" ./mkimg)

mkdir -p "$(dirname "$OUT")"
"$MKIMG" -tag "$TAG" -o "$OUT" -user 65532:65532 -entrypoint /ko-app/init-experiment \
  -dir /tmp:1777 "${links[@]}" "${files[@]}" >/dev/null
echo "$OUT ($TAG)"
