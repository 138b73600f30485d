#!/usr/bin/env bash
# The staged `sharedvis explain` (apps/explain_work.h) as Slurm job arrays on a private
# one-node cluster (tests/slurm/cluster.sh), against a single-process run of the same options:
#  1. features (3 tasks), fit (2 tasks) and pairs (3 tasks) as job arrays, each chained to the
#     previous with --dependency=afterok, the tasks taking their shard from
#     SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT; a report job after the pairs. The merged
#     results.json equals the single run's (every number; the timings left out: they differ by
#     construction) and every other file (maps, readouts, figures) is byte for byte the same.
#  2. Again in a second work folder, with pairs task 1 cancelled midway (it leaves a partial
#     maps file and no record): the report is held, only task 1 is resubmitted with an
#     explicit --shard 1/3 (a resubmitted task sees SLURM_ARRAY_TASK_COUNT=1), it redoes the
#     partial shard, the report runs and again equals the single run.
# The cluster goes down on any exit. Exit 77 (ctest: skipped) where Slurm, munge or the
# Fashion-MNIST files are missing. Usage: tests/slurm/test_explain.sh path/to/sharedvis
# Environment: SLURM_TEST_TIMEOUT (seconds per wait, default 300), SLURM_KEEP=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

missing=""
for p in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo python3; do
  command -v "$p" >/dev/null || missing+=" $p"
done
if [ -n "$missing" ]; then
  echo "SKIP: Slurm is not installed (missing:$missing); on Debian: apt-get install slurmctld slurmd slurm-client munge"
  exit 77
fi
if [ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  echo "SKIP: Fashion-MNIST is not installed (Debian: dataset-fashion-mnist)"
  exit 77
fi

# shellcheck source-path=SCRIPTDIR source=cluster.sh
. "$here/cluster.sh"

# The run's options: small (120 images, 3 neurons), every stage has work for each shard.
OPTS=(--dataset fashion-mnist --limit 120 --synthetic Bag,Sandal,Trouser --top-ooc 2 --device cpu --threads 1
      --faith-steps 3 --no-progress)

body() {
  set -euo pipefail
  # shellcheck disable=SC2031  # with_cluster exports it for this function
  local dir=$SLURM_TEST_DIR T=${SLURM_TEST_TIMEOUT:-300}
  fail() { echo "FAIL: $*" >&2; squeue -h -r -t all -o '%i %j %T %r' >&2 || true; tail -n 5 "$dir"/*/slurm_*.out >&2 || true; exit 1; }
  # shellcheck source-path=SCRIPTDIR source=jobs.sh
  . "$here/jobs.sh"  # state, reason, is_state, wait_for
  all_done() { [ -z "$(squeue -h -r -t all -j "$1" -o '%T' | grep -v COMPLETED)" ]; }

  # The task script: `task.sh STAGE WORK [SHARD]` runs one stage of the staged explain; the
  # task whose index is SLOW_TASK writes a partial maps file and sleeps (it is cancelled).
  cat >"$dir/task.sh" <<EOF
#!/bin/sh
set -eu
stage=\$1 work=\$2
if [ -n "\${SLOW_TASK:-}" ] && [ "\${SLOW_TASK:-}" = "\${SLURM_ARRAY_TASK_ID:-}" ]; then
  mkdir -p "\$work/pairs"
  head -c 1000 /dev/urandom >"\$work/pairs/0000\${SLURM_ARRAY_TASK_ID}-of-00003.maps.npy"
  touch "\$work/slow.started"
  sleep 600
fi
exec "$B" explain ${OPTS[*]} --work "\$work" --stage "\$stage" \${3:+--shard "\$3"} --out "\$work/report"
EOF
  chmod +x "$dir/task.sh"

  "$B" explain "${OPTS[@]}" --out "$dir/single" >/dev/null
  compare() {  # compare OUT: the merged report against the single run
    "$here/../compare_outputs.py" "$dir/single" "$1" --min-files 21 ||
      fail "the merged report in $1 differs from the single-process run"
  }
  # submit WORK [SLOW]: the three arrays and the report, chained; prints "F A P R" job ids.
  submit() {
    local w=$1 slow=${2:-} F A P R
    mkdir -p "$w"
    F=$(sbatch --parsable -J features --array=0-2 -D "$w" -o "$w/slurm_%x_%a.out" --wrap "$dir/task.sh features $w")
    A=$(sbatch --parsable -J fit --array=0-1 --dependency=afterok:"$F" -D "$w" -o "$w/slurm_%x_%a.out" \
      --wrap "$dir/task.sh fit $w")
    P=$(sbatch --parsable -J pairs --array=0-2 --dependency=afterok:"$A" --export=ALL,SLOW_TASK="$slow" -D "$w" \
      -o "$w/slurm_%x_%a.out" --wrap "$dir/task.sh pairs $w")
    R=$(sbatch --parsable -J report --dependency=afterok:"$P" -D "$w" -o "$w/slurm_%x.out" --wrap "$dir/task.sh report $w")
    echo "$F $A $P $R"
  }

  # 1. The stages as arrays, merged, equal to the single run.
  local F A P R
  read -r F A P R < <(submit "$dir/run1")
  wait_for "the report job $R" is_state "$R" COMPLETED
  for j in "$F" "$A" "$P"; do all_done "$j" || fail "job $j: $(state "$j")"; done
  compare "$dir/run1/report"
  echo "ok 1 - features $F (3 tasks), fit $A (2), pairs $P (3), report $R: equal to the single-process run"

  # 2. Pairs task 1 cancelled midway; only it resubmitted with --shard 1/3.
  read -r F A P R < <(submit "$dir/run2" 1)
  wait_for "pairs task ${P}_1 to be midway" test -f "$dir/run2/slow.started"
  scancel "${P}_1"
  wait_for "task ${P}_1 to be cancelled" is_state "${P}_1" CANCELLED
  wait_for "the other pairs tasks" is_state "$P" "CANCELLED COMPLETED COMPLETED"
  [ ! -e "$dir/run2/pairs/00001-of-00003.json" ] || fail "the cancelled task left a record"
  # shellcheck disable=SC2317  # run by wait_for
  held() { [ "$(state "$R") $(reason "$R")" = "PENDING DependencyNeverSatisfied" ] || is_state "$R" CANCELLED; }
  wait_for "the report to be held" held
  [ ! -e "$dir/run2/report" ] || fail "the report ran although pairs task 1 was cancelled"
  echo "ok 2 - pairs task ${P}_1 cancelled midway (a partial maps file, no record); report $R held"
  local S
  S=$(sbatch --parsable -J pairs --array=1 -D "$dir/run2" -o "$dir/run2/slurm_resubmit.out" \
    --wrap "$dir/task.sh pairs $dir/run2 1/3")
  if is_state "$R" PENDING; then
    scontrol update JobId="$R" Dependency="afterok:${P}_0:${P}_2:$S"
  else
    R=$(sbatch --parsable -J report --dependency=afterok:"$S" -D "$dir/run2" -o "$dir/run2/slurm_report.out" \
      --wrap "$dir/task.sh report $dir/run2")
  fi
  wait_for "the report $R after the resubmission" is_state "$R" COMPLETED
  grep -q "pairs shard 1/3: fitted neurons" "$dir/run2/slurm_resubmit.out" || fail "the resubmitted task did not redo shard 1/3"
  compare "$dir/run2/report"
  echo "ok 3 - only pairs task 1 resubmitted ($S, --shard 1/3); report $R equal to the single-process run"
}

start=$SECONDS
with_cluster body
echo "slurm_explain: passed in $((SECONDS - start)) s (cluster up, single run, two staged runs, cluster down)"
