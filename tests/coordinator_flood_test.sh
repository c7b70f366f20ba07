#!/usr/bin/env bash
# Load: 1000 queued submissions and 50 concurrent WatchJob streams on one coordinator (external
# launcher: jobs stay queued). Nothing may be dropped (bench/coordinator_flood checks submissions,
# listing, and that every watcher sees its job's cancellation), and the coordinator's memory must
# stay bounded: peak RSS is reported and must stay under 512 MiB.
set -euo pipefail
coordinator=$1
flood=$2
data_root=$(realpath "$3")  # admission refuses paths with ".."
work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [[ -f $work/log ]] && tail -20 "$work/log"; exit 1; }
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$coordinator" --listen 127.0.0.1:$port --metrics_listen "" --state_dir "$work/state" \
  --data_root "$data_root" --launcher external --attach_timeout 3600 > "$work/log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "listening" "$work/log" 2>/dev/null && break; sleep 0.2; done
cat > "$work/job.json" <<JSON
{"name": "flood", "data": {"path": "$data_root/yaleb-cropped"}, "training": {"pretrain_iterations": 10}}
JSON
rss() { awk -v k="$1" '$1 == k":" {print $2}' /proc/$pid/status; }
echo "coordinator RSS before: $(rss VmRSS) kB"
"$flood" --coordinator 127.0.0.1:$port --job_json "$work/job.json" --submissions 1000 --watchers 50 \
  | tee "$work/flood.out" || fail "coordinator_flood reported a loss"
grep -q "nothing dropped" "$work/flood.out" || fail "no verdict"
grep -q "watchers that saw CANCELLED: 50 of 50" "$work/flood.out" || fail "a watcher missed its job's end"
peak=$(rss VmHWM)
echo "coordinator RSS after: $(rss VmRSS) kB, peak $peak kB"
(( peak < 524288 )) || fail "peak RSS $peak kB above 512 MiB"
kill -0 $pid || fail "the coordinator died"
echo PASS
