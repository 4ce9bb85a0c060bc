#!/usr/bin/env bash
# hack/sizes.sh: the sizes of what ships, against the 40 MB target of issue 6.
#
# Builds the multi-call stage binary that the image ships (iter8-stage), the four stage
# binaries, iter8ctl and sample-app as releases build them (static, CGO_ENABLED=0,
# -trimpath, stripped with -ldflags "-s -w") and writes the stages image
# tarball with hack/images.sh, then prints each size in bytes and MB (10^6 bytes and MiB)
# and whether it is under the target.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
LIMIT_MB=${LIMIT_MB:-40}
LIMIT=$((LIMIT_MB * 1000 * 1000))
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

for c in iter8-stage init-experiment iterate assess finalize iter8ctl sample-app; do
  (cd "$ROOT" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o "$OUT/$c" "./cmd/$c")
done
GO=$GO bash "$ROOT/hack/images.sh" --out "$OUT/stages.tar" >/dev/null

over=0
printf '%-22s %12s %9s %9s  %s\n' FILE BYTES MB MiB "UNDER ${LIMIT_MB} MB"
for f in iter8-stage init-experiment iterate assess finalize iter8ctl sample-app stages.tar; do
  n=$(stat -c %s "$OUT/$f")
  ok=yes
  if [ "$n" -ge "$LIMIT" ]; then ok=no; over=$((over + 1)); fi
  awk -v f="$f" -v n="$n" -v ok="$ok" 'BEGIN { printf "%-22s %12d %9.1f %9.1f  %s\n", f, n, n / 1e6, n / 1048576, ok }'
done
echo "$over of 8 over ${LIMIT_MB} MB"
