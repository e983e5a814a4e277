#!/bin/sh
# hackbench (`perf bench sched messaging`, pipes) under the agent without and with every opt-in eBPF
# signal kind (docs/performance.md, "eBPF signal kinds"), as root: R interleaved rounds, each
# starting the agent afresh; per run the CPU time of the benchmark (`perf stat -e task-clock`), its
# wall time and the context switches it caused (`/proc/stat` ctxt), then medians.
# Usage: scripts/bench-hackbench.sh BIN [R=8] [GROUPS=10] [LOOPS=1000]
set -eu
BIN=$1; R=${2:-8}; G=${3:-10}; L=${4:-1000}
KINDS=--enable_metrics=process_lifecycle,runqueue,tcp_retrans,reclaim
OUT=$(mktemp); STAT=$(mktemp)
A=""
cleanup() { [ -n "$A" ] && kill "$A" 2>/dev/null || true; rm -f "$OUT" "$STAT"; }
trap cleanup EXIT INT TERM
start_agent() {
  "$BIN" --listen_ip=127.0.0.1 --port 18952 --housekeeping_interval=1s \
    --allow_dynamic_housekeeping=false --docker_only=true \
    --raw_cgroup_prefix_whitelist=/bpfadvisor-hackbench-none "$@" >/dev/null 2>&1 &
  A=$!
  sleep 3
}
stop_agent() { kill "$A"; wait "$A" 2>/dev/null || true; A=""; }
ctxt() { awk '/^ctxt/ {print $2}' /proc/stat; }
for r in $(seq "$R"); do
  for label in without with; do
    if [ "$label" = with ]; then start_agent "$KINDS"; else start_agent; fi
    c0=$(ctxt)
    wall=$(perf stat -x, -e task-clock -o "$STAT" perf bench sched messaging -p -g "$G" -l "$L" \
      2>/dev/null | awk '/Total time/ {print $3}')
    c1=$(ctxt)
    cpu=$(awk -F, '/task-clock/ {printf "%.1f", $1}' "$STAT")
    echo "$r $label $cpu $wall $((c1 - c0)) $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT"
    stop_agent
  done
done
echo "## hackbench -p -g $G -l $L: median (min-max) over $R runs"
for label in without with; do
  for col in 3 4 5; do
    awk -v l="$label" -v c="$col" '$2 == l {print $c}' "$OUT" | sort -n | awk -v l="$label" -v c="$col" \
      '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
        n = (c == 3 ? "CPU ms" : (c == 4 ? "wall s" : "context switches"));
        printf "%s %s: %s (%s-%s)\n", l, n, m, a[1], a[NR]}'
  done
done
awk '{print $6}' "$OUT" | sort -n | awk '{a[NR] = $1} END {print "load " a[1] "-" a[NR]}'
