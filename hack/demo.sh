#!/usr/bin/env bash
# make demo: two iter8 experiments on this machine, with nothing but Go.
#
# Builds iter8ctl and sample-app into bin/, starts two versions of the sample app on free
# loopback ports (a healthy "current", and a "candidate" that answers 80 ms late and
# fails one request in five), and runs with `iter8ctl run`:
#
#   1. examples/conformance.yaml against current: it passes, after 7 iterations;
#   2. examples/canary.yaml, current against candidate: the candidate violates the
#      rollback objective on the error rate and is rolled back at the first iteration;
#      current is recommended for promotion;
#   3. examples/progressive.yaml, current against a healthy candidate, with the traffic
#      modelled locally: every iteration moves 10 % more to the candidate (90/10 ... 50/50),
#      and the candidate is promoted;
#   4. examples/comparison.yaml, two versions with 20-30 ms latencies, the candidate 3 ms
#      slower: the objectives pass both, the comparison of their latency distributions
#      finds the candidate shifted by about +12 % and rolls it back.
#
# It prints the describes and exits 0 only when every outcome is the expected one. Each run
# also writes its HTML report (iter8ctl run --report) into $REPORTS (default bin/demo): open
# bin/demo/progressive.html or bin/demo/comparison.html in a browser; their paths are printed
# at the end. Whatever happens, the sample apps are stopped and the temporary files removed.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
BIN=${BIN:-$PWD/bin}
# One second per iteration keeps the demo short; the examples say 2.
INTERVAL=${INTERVAL:-1}
# The reports outlive the demo: they are what a person opens afterwards.
REPORTS=${REPORTS:-$BIN/demo}
mkdir -p "$REPORTS"

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n=== %s\n' "$*" >&2; }

step "building iter8ctl and sample-app into $BIN"
"$GO" build -o "$BIN/" ./cmd/iter8ctl ./cmd/sample-app

# start_app NAME FLAGS... starts a sample app on a free port and sets url to its URL.
start_app() {
	local name=$1
	shift
	# The log exists before the app starts: the loop below may read it before the
	# background shell has opened it (sed on a missing file would end the demo).
	: >"$work/$name.log"
	"$BIN/sample-app" --version "$name" --listen 127.0.0.1:0 "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	url=
	for _ in $(seq 100); do
		url=$(sed -n 's|.*listening on \(http://[0-9.:]*\).*|\1/|p' "$work/$name.log")
		[ -n "$url" ] && break
		if ! kill -0 "${pids[-1]}" 2>/dev/null; then
			cat "$work/$name.log" >&2
			echo "demo: sample-app $name exited" >&2
			exit 1
		fi
		sleep 0.1
	done
	if [ -z "$url" ]; then
		echo "demo: sample-app $name did not start within 10s" >&2
		exit 1
	fi
	echo "sample-app $name: $url${*:+ ($*)}" >&2
}

step "starting the sample app: current (healthy), candidate (slow and erroring) and a healthy candidate"
start_app current
current_url=$url
start_app candidate --latency 80ms --error-rate 0.2
candidate_url=$url
start_app good
good_url=$url
start_app steady --latency 20ms --latency-jitter 10ms
steady_url=$url
start_app slower --latency 23ms --latency-jitter 10ms
slower_url=$url

# The examples name the ports 18080, 18081 and 18082; point them at the apps just started.
for f in conformance canary progressive comparison; do
	sed -e "s|http://127.0.0.1:18080/|$current_url|" -e "s|http://127.0.0.1:18081/|$candidate_url|" \
		-e "s|http://127.0.0.1:18082/|$good_url|" -e "s|http://127.0.0.1:18083/|$steady_url|" \
		-e "s|http://127.0.0.1:18084/|$slower_url|" "examples/$f.yaml" >"$work/$f.yaml"
done

# run_experiment NAME runs $work/NAME.yaml, prints its describe and sets rc to the exit
# status. The describe goes through a file rather than a pipe: a Ctrl-C reaches every
# process of the group, and iter8ctl must outlive it to finalize and print.
run_experiment() {
	set +e
	"$BIN/iter8ctl" run -f "$work/$1.yaml" --interval-seconds "$INTERVAL" --out "$work/$1.out.yaml" --report "$REPORTS/$1.html" >"$work/$1.txt"
	rc=$?
	set -e
	cat "$work/$1.txt"
	# iter8ctl handles the Ctrl-C itself (it finalizes the experiment as cancelled), so the
	# shell does not see it; the experiment says so.
	if grep -q 'pipeline tasks Cancelled' "$work/$1.out.yaml" 2>/dev/null; then
		step "demo: interrupted"
		exit 130
	fi
}

failed=0
expect() {
	if ! "$@"; then
		failed=1
	fi
}

step "experiment 1: Conformance of current (iter8ctl run -f examples/conformance.yaml --interval-seconds $INTERVAL)"
run_experiment conformance
step "experiment 1: iter8ctl run exited $rc"
if [ "$rc" -ne 0 ]; then
	echo "demo: FAIL: the Conformance experiment should pass (exit 0), exited $rc" >&2
	failed=1
fi
expect "$BIN/iter8ctl" assert -f "$work/conformance.out.yaml" -c completed -c noFailure -c baselineWon
if ! grep -q '^Number of completed iterations: 7$' "$work/conformance.txt"; then
	echo "demo: FAIL: the Conformance experiment should complete 7 iterations" >&2
	failed=1
fi

step "experiment 2: Canary, current against candidate (iter8ctl run -f examples/canary.yaml --interval-seconds $INTERVAL)"
run_experiment canary
step "experiment 2: iter8ctl run exited $rc (3 is expected: the candidate was rolled back)"
if [ "$rc" -ne 3 ]; then
	echo "demo: FAIL: the Canary experiment should roll the candidate back (exit 3, RolledBack), exited $rc" >&2
	failed=1
fi
expect "$BIN/iter8ctl" assert -f "$work/canary.out.yaml" -c completed -c rolledBack -c baselineWon
if ! grep -q '^Version recommended for promotion: current$' "$work/canary.txt"; then
	echo "demo: FAIL: the Canary experiment should recommend the baseline, current" >&2
	failed=1
fi
for objective in 'mean-latency <= 50.000' 'error-rate <= 0.010'; do
	if ! grep -q "^- candidate fails $objective" "$work/canary.txt"; then
		echo "demo: FAIL: the Canary describe should say the candidate fails $objective" >&2
		failed=1
	fi
done

step "experiment 3: Progressive canary, current against a healthy candidate (iter8ctl run -f examples/progressive.yaml --interval-seconds $INTERVAL)"
run_experiment progressive
step "experiment 3: iter8ctl run exited $rc"
if [ "$rc" -ne 0 ]; then
	echo "demo: FAIL: the Progressive canary should promote the candidate (exit 0), exited $rc" >&2
	failed=1
fi
expect "$BIN/iter8ctl" assert -f "$work/progressive.out.yaml" -c completed -c noFailure -c candidateWon
if ! grep -q '^Version recommended for promotion: candidate$' "$work/progressive.txt"; then
	echo "demo: FAIL: the Progressive canary should recommend the candidate" >&2
	failed=1
fi

step "experiment 4: Canary judged by comparing latency distributions (iter8ctl run -f examples/comparison.yaml --interval-seconds $INTERVAL)"
run_experiment comparison
step "experiment 4: iter8ctl run exited $rc (3 is expected: the comparison rolled the candidate back)"
if [ "$rc" -ne 3 ]; then
	echo "demo: FAIL: the comparison should roll the 12 % slower candidate back (exit 3, RolledBack), exited $rc" >&2
	failed=1
fi
expect "$BIN/iter8ctl" assert -f "$work/comparison.out.yaml" -c completed -c rolledBack -c baselineWon
if ! grep -q '^- High: iter8-system/mean-latency shifted +' "$work/comparison.txt"; then
	echo "demo: FAIL: the comparison describe should say the candidate's latency shifted up" >&2
	failed=1
fi

# The report says what describe says: the outcome, and the charts have every version.
for f in progressive comparison; do
	if [ ! -s "$REPORTS/$f.html" ]; then
		echo "demo: FAIL: iter8ctl run --report wrote no $REPORTS/$f.html" >&2
		failed=1
	fi
done
if ! grep -q 'id="outcome">Succeeded<' "$REPORTS/progressive.html" 2>/dev/null; then
	echo "demo: FAIL: the Progressive canary's report should say Succeeded" >&2
	failed=1
fi
if ! grep -q 'id="outcome">RolledBack<' "$REPORTS/comparison.html" 2>/dev/null; then
	echo "demo: FAIL: the comparison's report should say RolledBack" >&2
	failed=1
fi
step "reports (open in a browser): $REPORTS/progressive.html (the weights moving to the candidate), $REPORTS/comparison.html (the slower candidate rolled back); also $REPORTS/conformance.html, $REPORTS/canary.html"

if [ "$failed" -ne 0 ]; then
	step "demo: FAILED: an outcome was not the expected one (see above)"
	exit 1
fi
step "demo: OK: the Conformance experiment passed after 7 iterations; the Canary rolled the candidate back and recommends current; the Progressive canary moved the traffic to the healthy candidate and promotes it; the comparison caught the 12 % slower candidate the objectives passed"
