#!/bin/sh
# Overhead of the opt-in eBPF signal kinds (docs/performance.md, "eBPF signal kinds"), as root:
#  1. agent CPU per container-sample: N raw cgroups (each with one sleeping task) under a parent of
#     this run's own, the agent told to track only those (N + the parent + the root, fixed 1 s
#     housekeeping), its utime+stime over S seconds, alternately without and with every eBPF kind,
#     R rounds;
#  2. `perf bench sched pipe` (both tasks on CPU 1) under the agent without and with every kind;
#  3. the per-call run time of each attached program (kernel.bpf_stats_enabled) during that bench.
# Usage: scripts/bench-signals.sh BIN [N=300] [S=30] [R=3]
set -eu
BIN=$1; N=${2:-300}; S=${3:-30}; R=${4:-3}
KINDS=--enable_metrics=process_lifecycle,runqueue,tcp_retrans,reclaim
PARENT=bpfadvisor-signals-bench-$$
CG=/sys/fs/cgroup
HIER="cpu cpuacct memory pids unified"
PIDS=""
cleanup() {
  for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
  sleep 0.5
  for h in $HIER; do
    for i in $(seq 0 $((N - 1))); do rmdir "$CG/$h/$PARENT/c$i" 2>/dev/null || true; done
    rmdir "$CG/$h/$PARENT" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM
for h in $HIER; do mkdir "$CG/$h/$PARENT"; done
for i in $(seq 0 $((N - 1))); do
  sleep 100000 &
  p=$!; PIDS="$PIDS $p"
  for h in $HIER; do mkdir "$CG/$h/$PARENT/c$i"; echo "$p" > "$CG/$h/$PARENT/c$i/cgroup.procs"; done
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run_agent() {
  "$BIN" --listen_ip=127.0.0.1 --port 18950 --housekeeping_interval=1s \
    --allow_dynamic_housekeeping=false --docker_only=true \
    --raw_cgroup_prefix_whitelist="/$PARENT" "$@" >/dev/null 2>&1 &
  echo $!
}
echo "## agent CPU per container-sample ($N containers, ${S} s windows)"
for r in $(seq "$R"); do
  for mode in off on; do
    if [ "$mode" = on ]; then a=$(run_agent "$KINDS"); else a=$(run_agent); fi
    sleep 15
    t0=$(ticks "$a"); sleep "$S"; t1=$(ticks "$a")
    kill "$a"; wait "$a" 2>/dev/null || true
    echo "$mode $(echo "$t0 $t1" | awk -v hz="$hz" -v n="$N" -v s="$S" \
      '{printf "%.1f us", ($2 - $1) / hz * 1e6 / ((n + 2) * s)}')"
  done
done
echo "## perf bench sched pipe, usecs/op"
for r in $(seq "$R"); do
  for mode in off on; do
    if [ "$mode" = on ]; then a=$(run_agent "$KINDS"); else a=$(run_agent); fi
    sleep 5
    echo "$mode $(taskset -c 1 perf bench sched pipe -l 300000 2>/dev/null | awk '/usecs\/op/ {print $1}')"
    kill "$a"; wait "$a" 2>/dev/null || true
  done
done
echo "## eBPF program run time per call (kernel.bpf_stats_enabled), during sched pipe"
sysctl -q kernel.bpf_stats_enabled=1
a=$(run_agent "$KINDS")
sleep 5
taskset -c 1 perf bench sched pipe -l 300000 >/dev/null 2>&1
for fd in /proc/$a/fdinfo/*; do
  grep -q '^prog_type' "$fd" 2>/dev/null || continue
  awk '/^prog_id/ {id=$2} /^run_time_ns/ {t=$2} /^run_cnt/ {c=$2}
    END {if (c > 0) printf "prog %s: %d calls, %.1f ns/call\n", id, c, t / c}' "$fd"
done
kill "$a"; wait "$a" 2>/dev/null || true
sysctl -q kernel.bpf_stats_enabled=0
