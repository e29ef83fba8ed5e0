#!/usr/bin/env bash
# Validates the deployment files with the tools that will read them, without a Docker engine or a cluster:
#   docker-compose.yml      docker compose config (the Compose schema, volumes, depends_on)
#   deploy/prometheus/      promtool check config / check rules / test rules (alerts_test.yml)
#   deploy/grafana/         dashboard JSON parses; every panel query parses as PromQL (promtool); provisioning YAML
#   deploy/k8s/             Kubernetes OpenAPI schemas (kubernetes-models, installed from npm into deploy/validate)
# then checks that each validator rejects a deliberately broken copy of its input, so a validator that silently
# accepts everything fails here. tests/RecService.Deploy.Tests adds the strict unknown-field check of the
# manifests and the cross-file checks (selectors, probes, ports, volumes, Dockerfile projects).
#
# Needs: docker-compose (apt docker-compose) or the docker compose plugin, promtool (apt prometheus), node + npm,
# python3 with PyYAML. .ci/run installs them. Exit status: 0 when everything passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ok=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass() { ok=$((ok + 1)); echo "  ok    $1"; }
fail() { failed=$((failed + 1)); echo "  FAIL  $1"; }
# check NAME COMMAND...: the command must succeed; its output is shown only when it fails.
check() {
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/        /' "$tmp/out"; fi
}
# reject NAME COMMAND...: the command must fail (a broken input must be refused).
reject() {
  local name=$1; shift
  if "$@" >"$tmp/out" 2>&1; then fail "$name (a broken input was accepted)"; sed 's/^/        /' "$tmp/out";
  else pass "$name"; grep -v -e '^[[:space:]]*$' -e '^dashboards:' -e '^Checking' -e '^Unit Testing' -e '^ok ' "$tmp/out" | head -n 4 | tr -s ' \n' ' ' | cut -c1-230 | sed 's/^/          rejected: /'; fi
}

# --- tools -------------------------------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose)
else compose=(); fi
python=/usr/bin/python3
[ -x "$python" ] || python=python3

echo "deploy validation"
if [ ${#compose[@]} -eq 0 ]; then fail "docker compose / docker-compose is installed"; else pass "compose tool: $("${compose[@]}" version 2>/dev/null | head -n 1)"; fi
if command -v promtool >/dev/null 2>&1; then pass "promtool: $(promtool --version 2>&1 | head -n 1)"; else fail "promtool is installed"; fi
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then pass "node $(node --version)"; else fail "node and npm are installed"; fi
check "python3 with PyYAML" "$python" -c "import yaml"

compose_config() { "${compose[@]}" --project-directory "$root" -f "$1" config -q; }
yaml_parse() { "$python" -c 'import sys, yaml; [list(yaml.safe_load_all(open(p))) for p in sys.argv[1:]]' "$@"; }
dashboards() { "$python" deploy/validate/dashboard-rules.py "$tmp/dashboard-rules.yml" "$@" && promtool check rules "$tmp/dashboard-rules.yml"; }
k8s_schema() { node deploy/validate/k8s-schema.mjs "$@"; }

# --- docker compose ----------------------------------------------------------------------------------------
if [ ${#compose[@]} -gt 0 ]; then
  check "docker-compose.yml: compose config" compose_config docker-compose.yml
fi

# --- Prometheus --------------------------------------------------------------------------------------------
if command -v promtool >/dev/null 2>&1; then
  check "prometheus.yml: promtool check config" promtool check config deploy/prometheus/prometheus.yml
  check "prometheus-k8s.yml: promtool check config" promtool check config deploy/prometheus/prometheus-k8s.yml
  check "alerts.yml: promtool check rules" promtool check rules deploy/prometheus/alerts.yml
  check "alerts_test.yml: promtool test rules" promtool test rules deploy/prometheus/alerts_test.yml
fi

# --- Grafana -----------------------------------------------------------------------------------------------
check "grafana provisioning: YAML parses" yaml_parse deploy/grafana/provisioning/*/*.yml
if command -v promtool >/dev/null 2>&1; then
  check "grafana dashboards: JSON parses, every panel query is valid PromQL" dashboards deploy/grafana/dashboards/*.json
fi

# --- Kubernetes --------------------------------------------------------------------------------------------
if command -v npm >/dev/null 2>&1; then
  if [ ! -d deploy/validate/node_modules/kubernetes-models ]; then
    check "npm ci (kubernetes-models, yaml)" npm ci --prefix deploy/validate --no-audit --no-fund --loglevel=error
  fi
  if [ -d deploy/validate/node_modules/kubernetes-models ]; then
    if k8s_schema >"$tmp/k8s" 2>&1; then pass "deploy/k8s: Kubernetes schemas ($(tail -n 1 "$tmp/k8s"))"
    else fail "deploy/k8s: Kubernetes schemas"; sed 's/^/        /' "$tmp/k8s"; fi
  fi
fi

# --- the validators reject broken inputs -------------------------------------------------------------------
echo "broken inputs must be rejected"
mutate() { # mutate SRC DEST SED-EXPRESSION: DEST is SRC with the expression applied, which must change it
  mkdir -p "$(dirname "$2")"; sed -e "$3" "$1" >"$2"
  if cmp -s "$1" "$2"; then fail "self-test set-up: '$3' no longer changes $1 (update the mutation)"; return 1; fi
}
if [ ${#compose[@]} -gt 0 ]; then
  mutate docker-compose.yml "$tmp/c1.yml" 's/^    image: redis:/    imagee: redis:/' \
    && reject "compose: unknown service key" compose_config "$tmp/c1.yml"
  mutate docker-compose.yml "$tmp/c2.yml" 's/- models:\/models:ro/- modelz:\/models:ro/' \
    && reject "compose: undeclared volume" compose_config "$tmp/c2.yml"
fi
if command -v promtool >/dev/null 2>&1; then
  mutate deploy/prometheus/prometheus.yml "$tmp/prom/prometheus.yml" 's/scrape_interval: 15s/scrape_interval: often/' \
    && cp deploy/prometheus/alerts.yml "$tmp/prom/" \
    && reject "prometheus: bad duration" promtool check config "$tmp/prom/prometheus.yml"
  mutate deploy/prometheus/alerts.yml "$tmp/alerts.yml" 's/> 0.01$/> > 0.01/' \
    && reject "alerts: bad PromQL" promtool check rules "$tmp/alerts.yml"
  mutate deploy/prometheus/alerts.yml "$tmp/rt/alerts.yml" 's/for: 10m/for: 30m/' \
    && cp deploy/prometheus/alerts_test.yml "$tmp/rt/" \
    && reject "alerts: rule unit test catches a changed rule" promtool test rules "$tmp/rt/alerts_test.yml"
  mutate deploy/grafana/dashboards/recservice.json "$tmp/d1.json" '0,/"expr": "sum(rate(/s//"expr": "sum(rate((/' \
    && reject "dashboard: bad PromQL in a panel" dashboards "$tmp/d1.json"
  mutate deploy/grafana/dashboards/recservice.json "$tmp/d2.json" '0,/"panels": \[/s//"panels": [,/' \
    && reject "dashboard: broken JSON" dashboards "$tmp/d2.json"
fi
if [ -d deploy/validate/node_modules/kubernetes-models ]; then
  cp -r deploy/k8s "$tmp/k1" && mutate deploy/k8s/replica.yaml "$tmp/k1/replica.yaml" 's/^        - name: replica$/        - terminationMessagePolicy: File/' \
    && reject "k8s: container without a name" k8s_schema "$tmp/k1"
  cp -r deploy/k8s "$tmp/k2" && mutate deploy/k8s/replica-hpa.yaml "$tmp/k2/replica-hpa.yaml" 's/minReplicas: 2/minReplicas: two/' \
    && reject "k8s: string where an integer belongs" k8s_schema "$tmp/k2"
  cp -r deploy/k8s "$tmp/k3" && mutate deploy/k8s/storage.yaml "$tmp/k3/storage.yaml" 's/\[ReadWriteMany\]/[ReadWriteLots]/' \
    && reject "k8s: access mode not in the enum" k8s_schema "$tmp/k3"
  cp -r deploy/k8s "$tmp/k4" && mutate deploy/k8s/replica.yaml "$tmp/k4/replica.yaml" 's/memory: 2Gi/memory: two-gigs/' \
    && reject "k8s: malformed quantity" k8s_schema "$tmp/k4"
fi

echo "deploy validation: $ok checks ok, $failed failed"
[ "$failed" -eq 0 ]
