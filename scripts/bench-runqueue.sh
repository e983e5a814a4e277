#!/bin/sh
# Per-context-switch cost of the eBPF signal kinds (docs/performance.md, "eBPF signal kinds"), as
# root, on one CPU (CPU 1) so that every round trip is two context switches:
#  1. `perf bench sched pipe` (L round trips) without an agent ("off") and under each given agent
#     binary with every kind on, interleaved, R rounds of two runs each: wall time per round trip
#     (what perf prints) and CPU time per round trip (`perf stat -e task-clock`, less disturbed by
#     other processes on the CPU), medians;
#  2. ns per call of each program that ran during one sched pipe run (kernel.bpf_stats_enabled,
#     which itself adds ≈ 30 ns per call: compare with an agent whose program does nothing).
# Usage: scripts/bench-runqueue.sh R L label=BIN [label=BIN ...]
set -eu
R=$1; L=$2; shift 2
KINDS=--enable_metrics=process_lifecycle,runqueue,tcp_retrans,reclaim
OUT=$(mktemp); STAT=$(mktemp)
A=""
cleanup() {
  [ -n "$A" ] && kill "$A" 2>/dev/null || true
  sysctl -q kernel.bpf_stats_enabled=0
  rm -f "$OUT" "$STAT"
}
trap cleanup EXIT INT TERM
start_agent() {
  "$1" --listen_ip=127.0.0.1 --port 18951 --housekeeping_interval=1s \
    --allow_dynamic_housekeeping=false --docker_only=true \
    --raw_cgroup_prefix_whitelist=/bpfadvisor-runqueue-bench-none "$KINDS" >/dev/null 2>&1 &
  A=$!
  sleep 3
}
stop_agent() { kill "$A"; wait "$A" 2>/dev/null || true; A=""; }
sysctl -q kernel.bpf_stats_enabled=0
for r in $(seq "$R"); do
  for spec in off=off "$@"; do
    label=${spec%%=*}; bin=${spec#*=}
    [ "$bin" = off ] || start_agent "$bin"
    for k in 1 2; do
      wall=$(perf stat -x, -e task-clock -o "$STAT" taskset -c 1 perf bench sched pipe -l "$L" \
        2>/dev/null | awk '/usecs\/op/ {print $1}')
      cpu=$(awk -F, -v l="$L" '/task-clock/ {printf "%.4f", $1 * 1000 / l}' "$STAT")
      echo "$r $label $wall $cpu $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT"
    done
    [ "$bin" = off ] || stop_agent
  done
done
echo "## sched pipe, us per round trip: median (min-max); load average over the run"
for spec in off=off "$@"; do
  label=${spec%%=*}
  for col in 3 4; do
    awk -v l="$label" -v c="$col" '$2 == l {print $c}' "$OUT" | sort -n | awk -v l="$label" -v c="$col" \
      '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
        printf "%s %s: %.3f (%.3f-%.3f), %d runs\n", l, (c == 3 ? "wall" : "cpu"), m, a[1], a[NR], NR}'
  done
done
awk '{print $5}' "$OUT" | sort -n | awk '{a[NR] = $1} END {print "load " a[1] "-" a[NR]}'
echo "## ns per program call during sched pipe (programs with calls only)"
for spec in "$@"; do
  label=${spec%%=*}; bin=${spec#*=}
  start_agent "$bin"
  sysctl -q kernel.bpf_stats_enabled=1
  taskset -c 1 perf bench sched pipe -l "$L" >/dev/null 2>&1
  sysctl -q kernel.bpf_stats_enabled=0
  for fd in /proc/$A/fdinfo/*; do
    grep -q '^prog_type' "$fd" 2>/dev/null || continue
    awk -v l="$label" '/^prog_id/ {id = $2} /^run_time_ns/ {t = $2} /^run_cnt/ {c = $2}
      END {if (c > 0) printf "%s prog %s: %d calls, %.1f ns/call\n", l, id, c, t / c}' "$fd"
  done
  stop_agent
done
