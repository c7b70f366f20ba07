#!/usr/bin/env bash
# deploy/prometheus and deploy/grafana checked by the real tools: promtool on the config and the
# alert rules (with a unit test per alert), then a real Prometheus scraping a live coordinator
# while `mpirun -np 2` workers train, and every PromQL expression of the Grafana dashboard
# evaluated through Prometheus's HTTP API: each must return data.
set -euo pipefail
source_dir=$1
coordinator_bin=$2
ftl_bin=$3
data_root=$(realpath "$4")
deploy="$source_dir/deploy"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work" || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "--- promtool"
promtool check config "$deploy/prometheus/prometheus.yml"
promtool check rules "$deploy/prometheus/alerts.yml"
promtool test rules "$deploy/prometheus/alerts_test.yml"

echo "--- live coordinator, workers and Prometheus"
port=$(free_port); metrics_port=$(free_port); prom_port=$(free_port)
"$coordinator_bin" --listen 127.0.0.1:$port --metrics_listen 127.0.0.1:$metrics_port \
  --state_dir "$work/state" --data_root "$data_root" > "$work/coord.log" 2>&1 &
pids+=($!)
# The shipped config, pointed at this coordinator and scraping every second.
sed -e "s/127.0.0.1:9464/127.0.0.1:$metrics_port/" -e "s/scrape_interval: 15s/scrape_interval: 1s/" \
  -e "s/evaluation_interval: 15s/evaluation_interval: 1s/" "$deploy/prometheus/prometheus.yml" > "$work/prometheus.yml"
cp "$deploy/prometheus/alerts.yml" "$work/"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address=127.0.0.1:$prom_port > "$work/prometheus.log" 2>&1 &
pids+=($!)
export FTL_COORDINATOR=127.0.0.1:$port
for _ in $(seq 50); do "$ftl_bin" list > /dev/null 2>&1 && break; sleep 0.2; done
cat > "$work/job.json" <<JSON
{"name": "observe", "model": {"preset": "small", "input_size": 32},
 "data": {"path": "$data_root/yaleb-cropped", "cut_classes": 13, "cut_to_images": 5},
 "training": {"batch_size": 16, "pretrain_iterations": 60, "rounds": 1, "stage_iterations": 30},
 "runtime": {"ranks": 2}}
JSON
id=$("$ftl_bin" submit "$work/job.json")
"$ftl_bin" watch "$id" > "$work/watch.log" || { cat "$work/watch.log" "$work/coord.log"; fail "job failed"; }
sleep 4  # a few more scrapes after the end

echo "--- every dashboard expression returns data"
python3 - "$deploy/grafana/ftl-dashboard.json" "$prom_port" "$id" <<'PY'
import json, sys, urllib.parse, urllib.request
dashboard = json.load(open(sys.argv[1]))
base = "http://127.0.0.1:%s/api/v1/" % sys.argv[2]
def get(path, **params):
    with urllib.request.urlopen(base + path + "?" + urllib.parse.urlencode(params)) as r:
        return json.load(r)
rules = [r["name"] for g in get("rules")["data"]["groups"] for r in g["rules"]]
assert len(rules) == 4, "Prometheus loaded %s" % rules
exprs = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
assert len(exprs) >= 12
empty = []
for title, expr in exprs:
    q = expr.replace("$__rate_interval", "1m").replace("$__range", "5m").replace("$job_id", ".*")
    answer = get("query", query=q)
    assert answer["status"] == "success", (title, answer)
    n = len(answer["data"]["result"])
    print("%-45s %2d series  %s" % (title, n, q[:70]))
    if n == 0:
        empty.append(title)
if empty:
    print("FAIL: no data for", empty); sys.exit(1)
# Our job label survives Prometheus (which owns `job`: ours would become `exported_job`).
grouped = get("query", query="sum by (job_id) (ftl_phase_duration_seconds_count)")["data"]["result"]
ids = [r["metric"].get("job_id") for r in grouped]
assert ids == [sys.argv[3]], "grouped by job_id: %s, submitted %s" % (ids, sys.argv[3])
series = get("series", **{"match[]": "ftl_workers_attached"})["data"]
assert series and all("exported_job" not in s and s.get("job") == "ftl-coordinator" for s in series), series
print("job_id label: %s; Prometheus' own job label: ftl-coordinator" % ids[0])
PY
echo PASS
