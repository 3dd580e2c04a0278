#!/usr/bin/env bash
# kiln sweep --slurm on a one-node Slurm started (and always stopped) by this test: a 12-cell CPU sweep as a
# 3-task job array lands each cell once; a task cancelled mid-run is finished by a --resume resubmission
# without rewriting finished cells; the results and the report match the same sweep run without Slurm.
# Needs root and Debian's slurm-wlm + munge (scripts/setup); otherwise it exits 77 (ctest: skipped) saying why.
# Usage: slurm_test.sh KILN_BINARY
set -uo pipefail

KILN="$1"
SKIP=77
skip() {
  echo "SKIP: $*"
  exit $SKIP
}
fail() {
  echo "FAIL: $*"
  exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root to run slurmctld/slurmd as SlurmUser=root"
for tool in munged slurmctld slurmd sbatch squeue sinfo scancel python3; do
  command -v "$tool" >/dev/null || skip "$tool not found (install slurm-wlm and munge: scripts/setup)"
done
[ -x "$KILN" ] || fail "kiln binary $KILN not found"

T="$(mktemp -d /tmp/kiln_slurm_test.XXXXXX)"
chmod 755 "$T"
PIDS=()
cleanup() {
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
    scancel --quiet --user=root >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do  # let slurmd's step daemons finish with their jobs
      [ -z "$(squeue -h 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for _ in $(seq 1 50); do  # the jobs' step daemons (reparented to init) exit after their job; look, never kill
    pgrep -x slurmstepd >/dev/null || break
    sleep 0.1
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

START=$(date +%s)
elapsed() { echo $(($(date +%s) - START)); }

# munge with its own key and socket, so the host's munge (if any) is left alone.
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 status=none
chmod 600 "$T/munge.key"
mkdir -p "$T/munge"
chmod 755 "$T/munge"  # munged wants the socket's folder searchable by all
munged --foreground --force --key-file="$T/munge.key" --socket="$T/munge/munge.sock" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" \
  >"$T/munge/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$T/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge/munge.sock" ] || skip "munged did not start: $(tail -3 "$T/munge/munged.log" 2>/dev/null)"

PORT=$((20000 + $$ % 20000))
mkdir -p "$T/state" "$T/spool"
export SLURM_CONF="$T/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=kilntest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -i -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N localhost >"$T/slurmd.out" 2>&1 &
PIDS+=($!)
state=""
for _ in $(seq 1 150); do
  state="$(sinfo -h -n localhost -o %T 2>/dev/null)"
  [ "$state" = idle ] && break
  sleep 0.2
done
if [ "$state" != idle ]; then
  echo "--- slurmctld.log"; tail -20 "$T/slurmctld.log" "$T/slurmctld.out" 2>/dev/null
  echo "--- slurmd.log"; tail -20 "$T/slurmd.log" "$T/slurmd.out" 2>/dev/null
  skip "the one-node Slurm did not come up (node state '$state'); logs above"
fi
echo "slurm up after $(elapsed) s (node localhost idle, $(nproc) CPUs)"

# 12 CPU cells, each ~1 s of timing, so a task (4 cells) can be cancelled between cells.
cat >"$T/c.yaml" <<EOF
name: tiny_cnn
inputs:
  - name: input
    shapes:
      dims_names: [batch, c, h, w]
      runtime: [-1, 3, 16, 16]
sweep:
  model: zoo:tiny_cnn
  batches: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
  iterations: 3
  warmup_ms: 0
  duration_s: 1.0
EOF
IDS=$(for b in $(seq 1 12); do echo "cpu_fp32_b$b"; done)

wait_array() {  # wait_array LIMIT_S: until no job is queued or running (this Slurm runs only ours)
  local limit=$1
  for _ in $(seq 1 $((limit * 5))); do
    [ -z "$(squeue -h 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  squeue
  fail "the job array did not finish within $limit s"
}
complete_cells() {  # complete_cells RESULTS: ids with a complete JSON
  python3 - "$1" <<'EOF'
import json, os, sys
d = sys.argv[1]
for b in range(1, 13):
    i = "cpu_fp32_b%d" % b
    try:
        doc = json.load(open(os.path.join(d, i + ".json")))
    except Exception:
        continue
    if doc.get("cell", {}).get("id") == i and doc["cell"].get("complete") and doc.get("cases"):
        print(i)
EOF
}

# --- 1: the whole sweep as a 3-task array.
R1="$T/r1"
"$KILN" sweep "$T/c.yaml" -o "$R1" --slurm --array-tasks 3 --gpus-per-task 0 --time 00:05:00 >"$T/submit1.log" 2>&1 ||
  fail "submission failed: $(cat "$T/submit1.log")"
cat "$T/submit1.log"
wait_array 90
[ "$(complete_cells "$R1")" = "$IDS" ] || fail "scenario 1: cells complete: $(complete_cells "$R1" | tr '\n' ' ')"
# Each cell ran once: exactly one task log has its result line, and it is task k mod 3's.
for b in $(seq 1 12); do
  n=$(grep -l "sweep: cpu_fp32_b$b: median" "$R1"/slurm/*.log | wc -l)
  [ "$n" = 1 ] || fail "cell cpu_fp32_b$b ran $n times"
  task=$(((b - 1) % 3))
  grep -q "sweep: cpu_fp32_b$b: median" "$R1"/slurm/*_"$task".log || fail "cell cpu_fp32_b$b did not run in task $task"
done
"$KILN" sweep "$T/c.yaml" -o "$R1" --slurm --status >"$T/status1.log" 2>&1 || fail "--status: $(cat "$T/status1.log")"
grep -q "12 of 12 cells complete" "$T/status1.log" || fail "--status: $(cat "$T/status1.log")"
echo "scenario 1 (12 cells, 3 tasks): ok at $(elapsed) s"

# --- 2: task 1 cancelled mid-run, then resubmitted with --resume.
R2="$T/r2"
"$KILN" sweep "$T/c.yaml" -o "$R2" --slurm --array-tasks 3 --gpus-per-task 0 >"$T/submit2.log" 2>&1 ||
  fail "submission failed: $(cat "$T/submit2.log")"
JOB=$(sed -n 's/^sweep: submitted job array \([0-9]*\) .*/\1/p' "$T/submit2.log")
[ -n "$JOB" ] || fail "no job id in: $(cat "$T/submit2.log")"
task1_done() { complete_cells "$R2" | grep -cE '^cpu_fp32_b(2|5|8|11)$'; }
for _ in $(seq 1 1200); do  # a cell file appears by rename, complete: its presence is enough here (cheap)
  ls "$R2"/cpu_fp32_b2.json >/dev/null 2>&1 && break
  sleep 0.05
done
scancel "${JOB}_1"
wait_array 90
BEFORE=$(complete_cells "$R2")
n1=$(task1_done)
if [ "$n1" -lt 1 ] || [ "$n1" -ge 4 ]; then
  fail "task 1 had finished $n1 of its 4 cells when cancelled (want 1..3)"
fi
declare -A MTIME
for id in $BEFORE; do MTIME[$id]=$(stat -c %Y.%y "$R2/$id.json"); done
"$KILN" sweep "$T/c.yaml" -o "$R2" --slurm --status >"$T/status2.log" 2>&1
grep -q "task 1: $n1/4 cells complete (missing:" "$T/status2.log" || fail "--status after the cancel: $(cat "$T/status2.log")"
"$KILN" sweep "$T/c.yaml" -o "$R2" --slurm --resume --array-tasks 3 --gpus-per-task 0 >"$T/submit3.log" 2>&1 ||
  fail "resubmission failed: $(cat "$T/submit3.log")"
wait_array 90
[ "$(complete_cells "$R2")" = "$IDS" ] || fail "scenario 2: cells complete: $(complete_cells "$R2" | tr '\n' ' ')"
for id in $BEFORE; do
  [ "$(stat -c %Y.%y "$R2/$id.json")" = "${MTIME[$id]}" ] || fail "$id was rewritten by the resubmission"
done
echo "scenario 2 (task 1 cancelled after $n1 of 4 cells, --resume resubmission): ok at $(elapsed) s"

# --- 3: the same sweep without Slurm; same cells, same statistics fields, same report table.
R3="$T/r3"
"$KILN" sweep "$T/c.yaml" -o "$R3" >"$T/plain.log" 2>&1 || fail "plain sweep failed: $(cat "$T/plain.log")"
ASSETS="$(cd "$(dirname "$0")/../.." && pwd)/report"
[ -f "$ASSETS/node_modules/vega/build/vega.min.js" ] ||
  skip "scenarios 1 and 2 passed; the report comparison needs the report's JavaScript (make report-deps)"
for r in "$R1" "$R2" "$R3"; do
  "$KILN" report "$r" -o "$r.html" --assets "$ASSETS" >"$r.report.log" 2>&1 || fail "kiln report $r: $(cat "$r.report.log")"
done
python3 - "$R1" "$R2" "$R3" <<'EOF' || fail "the Slurm results differ from the plain run's (above)"
import glob, json, os, re, sys

def shape(x):  # the fields and their types, recursively (numbers differ between runs; the structure may not)
    if isinstance(x, dict):
        return {k: shape(v) for k, v in x.items() if k not in ("samples", "latencies_ms", "environment", "peer_environment")}
    if isinstance(x, list):
        return [shape(x[0])] if x and isinstance(x[0], (dict, list)) else "list"
    return "number" if isinstance(x, (int, float)) and not isinstance(x, bool) else type(x).__name__

def cells(d):
    out = {}
    for p in sorted(glob.glob(os.path.join(d, "cpu_fp32_b*.json"))):
        doc = json.load(open(p))
        out[doc["cell"]["id"]] = (doc["cell"], [shape(c) for c in doc["cases"]])
    return out

def table(d):  # the Markdown table with every number masked
    text = open(d + ".md").read() if os.path.exists(d + ".md") else ""
    return [re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", l) for l in text.splitlines() if l.startswith("|")]

plain = cells(sys.argv[3])
ok = True
for d in sys.argv[1:3]:
    got = cells(d)
    if sorted(got) != sorted(plain):
        print("cells differ:", d, sorted(got), sorted(plain)); ok = False; continue
    for k in plain:
        if got[k] != plain[k]:
            print("cell", k, "differs in", d); print(got[k]); print(plain[k]); ok = False
    if table(d) != table(sys.argv[3]) or not table(d):
        print("report tables differ:", d); print("\n".join(table(d))); print("\n".join(table(sys.argv[3]))); ok = False
sys.exit(0 if ok else 1)
EOF
echo "scenario 3 (same cells, statistics fields and report table as without Slurm): ok at $(elapsed) s"
echo "PASS in $(elapsed) s"
