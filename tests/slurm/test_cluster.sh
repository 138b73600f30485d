#!/usr/bin/env bash
# The Slurm harness, end to end, on a private one-node cluster (tests/slurm/cluster.sh): the job
# pattern the staged `sharedvis explain` is to use (issue #14), with a toy stage in its place.
#  1. A stage as a job array (sbatch --array=0-3): task i of n writes its shard, using
#     SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT; a merge job with --dependency=afterok on
#     the array joins the shards. The result equals, byte for byte, a single-process run of
#     the same stage.
#  2. One array task is cancelled midway (scancel JOB_TASK, while it sleeps after writing half
#     its shard): its array's other tasks complete, the merge does not run (Slurm holds it
#     pending as DependencyNeverSatisfied; cancelled, were DependencyParameters=
#     kill_invalid_depend set); only that task index is resubmitted (sbatch --array=2, with the
#     shard count passed explicitly: the resubmitted job's SLURM_ARRAY_TASK_COUNT is 1), the
#     merge's dependency is pointed at the completed tasks and the resubmission, and the
#     result again equals the single-process run.
# The cluster goes down on any exit. Exit 77 (ctest: skipped) where Slurm or munge is not
# installed. Usage: tests/slurm/test_cluster.sh   (ctest runs it: slurm_cluster)
# Environment: SLURM_TEST_TIMEOUT (seconds per wait, default 60), SLURM_KEEP=1 (keep the folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

missing=""
for p in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
  command -v "$p" >/dev/null || missing+=" $p"
done
if [ -n "$missing" ]; then
  echo "SKIP: Slurm is not installed (missing:$missing); on Debian: apt-get install slurmctld slurmd slurm-client munge"
  exit 77
fi

# shellcheck source-path=SCRIPTDIR source=cluster.sh
. "$here/cluster.sh"

body() {
  set -euo pipefail
  # shellcheck disable=SC2031  # with_cluster exports it for this function
  local dir=$SLURM_TEST_DIR T=${SLURM_TEST_TIMEOUT:-60}
  fail() { echo "FAIL: $*" >&2; squeue -h -r -t all -o '%i %T %r' >&2 || true; exit 1; }

  # The toy stage: `stage.sh shard` writes shard SLURM_ARRAY_TASK_ID of
  # SHARD_COUNT (default: SLURM_ARRAY_TASK_COUNT) into part_<i>, via a temporary file (a task
  # killed midway leaves no part); it sleeps halfway when its index is SLOW_TASK.
  # `stage.sh merge` joins the parts.
  cat >"$dir/stage.sh" <<'EOF'
#!/bin/sh
set -eu
case $1 in
  shard)
    i=$SLURM_ARRAY_TASK_ID
    n=${SHARD_COUNT:-$SLURM_ARRAY_TASK_COUNT}
    : >"part_$i.tmp"
    k=$i
    while [ "$k" -lt 400 ]; do
      echo "$k $((k * k % 9973)) of $n" >>"part_$i.tmp"
      if [ "$k" -ge 200 ] && [ "${SLOW_TASK:-}" = "$i" ]; then
        touch "slow_$i.started"
        sleep 300
      fi
      k=$((k + n))
    done
    mv "part_$i.tmp" "part_$i"
    ;;
  merge)
    cat part_* | sort -n >merged
    ;;
esac
EOF
  chmod +x "$dir/stage.sh"

  # The single-process run: every shard in turn, then the merge.
  mkdir "$dir/single"
  (cd "$dir/single" && for i in 0 1 2 3; do SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=4 ../stage.sh shard; done &&
     ../stage.sh merge)
  [ "$(wc -l <"$dir/single/merged")" = 400 ] || fail "the single-process run did not write 400 lines"

  # shellcheck source-path=SCRIPTDIR source=jobs.sh
  . "$here/jobs.sh"  # state, reason, is_state, wait_for

  # 1. Array + afterok merge, compared with the single-process run.
  local w=$dir/run1 A M
  mkdir "$w"
  A=$(sbatch --parsable --job-name=stage --array=0-3 -D "$w" -o "$w/slurm_%A_%a.out" --wrap "$dir/stage.sh shard")
  M=$(sbatch --parsable --job-name=merge --dependency=afterok:"$A" -D "$w" -o "$w/slurm_merge.out" --wrap "$dir/stage.sh merge")
  wait_for "the merge job $M" is_state "$M" COMPLETED
  [ "$(state "$A")" = "COMPLETED COMPLETED COMPLETED COMPLETED" ] || fail "array $A: $(state "$A")"
  cmp "$w/merged" "$dir/single/merged" || fail "the Slurm run's merged result differs from the single-process run"
  [ "$(grep -c ' of 4$' "$w/merged")" = 400 ] || fail "not every task saw SLURM_ARRAY_TASK_COUNT=4"
  echo "ok 1 - array $A (4 tasks) + afterok merge $M equals the single-process run"

  # 2. Cancel task 2 midway, check the merge is held, resubmit only task 2, merge again.
  w=$dir/run2
  mkdir "$w"
  A=$(sbatch --parsable --job-name=stage --array=0-3 --export=ALL,SLOW_TASK=2 -D "$w" -o "$w/slurm_%A_%a.out" \
    --wrap "$dir/stage.sh shard")
  M=$(sbatch --parsable --job-name=merge --dependency=afterok:"$A" -D "$w" -o "$w/slurm_merge.out" --wrap "$dir/stage.sh merge")
  wait_for "task ${A}_2 to be midway" test -f "$w/slow_2.started"
  [ "$(state "${A}_2")" = RUNNING ] || fail "task ${A}_2 is $(state "${A}_2"), not RUNNING"
  scancel "${A}_2"
  wait_for "task ${A}_2 to be cancelled" is_state "${A}_2" CANCELLED
  wait_for "the other tasks of $A" is_state "$A" "CANCELLED COMPLETED COMPLETED COMPLETED"
  if [ -e "$w/part_2" ] || [ ! -e "$w/part_2.tmp" ]; then fail "the cancelled task left a part_2, or never started it"; fi
  # afterok can no longer be satisfied: the merge must not run. Slurm keeps it pending as
  # DependencyNeverSatisfied (or cancels it under kill_invalid_depend).
  # shellcheck disable=SC2317  # run by wait_for
  merge_held() { [ "$(state "$M") $(reason "$M")" = "PENDING DependencyNeverSatisfied" ] || is_state "$M" CANCELLED; }
  wait_for "the merge to be held or cancelled" merge_held
  [ ! -e "$w/merged" ] || fail "the merge ran although task 2 was cancelled"
  echo "ok 2 - task ${A}_2 cancelled midway; merge $M: $(state "$M") ($(reason "$M")), not run"

  local R
  R=$(sbatch --parsable --job-name=stage --array=2 --export=ALL,SHARD_COUNT=4 -D "$w" -o "$w/slurm_%A_%a.out" \
    --wrap "$dir/stage.sh shard")
  if is_state "$M" PENDING; then
    scontrol update JobId="$M" Dependency="afterok:${A}_0:${A}_1:${A}_3:$R"
  else
    M=$(sbatch --parsable --job-name=merge --dependency="afterok:$R" -D "$w" -o "$w/slurm_merge.out" --wrap "$dir/stage.sh merge")
  fi
  wait_for "the merge job $M after the resubmission" is_state "$M" COMPLETED
  [ "$(state "$R")" = COMPLETED ] || fail "resubmission $R: $(state "$R")"
  [ "$(squeue -h -r -t all -j "$R" -o '%K')" = 2 ] || fail "resubmission $R is not task 2 alone"
  cmp "$w/merged" "$dir/single/merged" || fail "after the resubmission the merged result differs from the single-process run"
  echo "ok 3 - only task 2 resubmitted ($R); merge $M equals the single-process run"
}

start=$SECONDS
with_cluster body
echo "slurm_cluster: passed in $((SECONDS - start)) s (cluster up, two runs, cluster down)"
