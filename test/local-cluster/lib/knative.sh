# lib/knative.sh - installs Knative Serving from $CL/knative/serving.yaml (see build.sh)
# and waits until it really serves. Sourced by up.sh; used with LC_KNATIVE=1.

# A Knative Service that is only validated (server-side dry run): it is accepted once the
# webhook defaults and validates it.
knative_probe_service() {
  cat <<EOF2
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: webhook-probe
  namespace: default
spec:
  template:
    spec:
      containers:
      - image: dev.local/probe:v1
EOF2
}

# Ready means: the controller and the autoscaler pods are Ready and the webhook accepts a
# Knative Service.
knative_ready() {
  local ready
  for app in controller autoscaler webhook; do
    ready=$(kubectl -n knative-serving get pods -l app="$app" \
      -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}') && [[ $ready == *True* ]] || return 1
  done
  knative_probe_service | kubectl create --dry-run=server -f - >/dev/null 2>&1
}

# knative_apply: the YAML, without waiting for the Deployments (so that they come up while
# Tekton does). The CRDs go first: serving.yaml also holds a custom resource (an Image).
knative_apply() {
  local yaml=$CL/knative/serving.yaml
  [ -f "$yaml" ] && [ -f "$CL/knative/crds.yaml" ] || die "$yaml missing; run ./build.sh"
  # Server-side apply, as for Tekton: some CRDs are too large for the last-applied annotation.
  if [ "$LC_FAST_PROBES" = 1 ]; then
    # As for Tekton: the readiness probes of the three Deployments run every second (the
    # controller's every 5 s, the autoscaler's every 10 s as shipped).
    sed -E -e '/^        readinessProbe:$/,/^        [a-zA-Z]/ { /^          periodSeconds:/d }' \
      -e 's/^(        readinessProbe:)$/\1\n          periodSeconds: 1/' "$yaml" > "$CL/run/knative-serving.yaml"
    yaml=$CL/run/knative-serving.yaml
  fi
  kubectl apply --server-side --force-conflicts -f "$CL/knative/crds.yaml" >/dev/null
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
  kubectl apply --server-side --force-conflicts -f "$yaml" >/dev/null
  step "Knative Serving $KNATIVE_VERSION applied"
}

knative_wait() {
  kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
  wait_for 180 "Knative controller, autoscaler and webhook" knative_ready
  step "Knative Serving controller, autoscaler and webhook ready"
}
