# Following Slurm jobs in the tests (sourced inside a test's body, after it defines
# `fail MESSAGE` and T, the seconds one wait may take).
#   state JOB        the states of a job's records (one per array task), sorted, on one line
#   reason JOB       the reason squeue gives for a pending job
#   is_state JOB S   whether `state JOB` is S
#   wait_for WHAT CMD...   polls CMD until it succeeds, at most T seconds, else fails naming WHAT
state() { squeue -h -r -t all -j "$1" -o '%T' | sort | tr '\n' ' ' | sed 's/ $//'; }
reason() { squeue -h -t all -j "$1" -o '%r'; }
is_state() { [ "$(state "$1")" = "$2" ]; }
wait_for() {
  local what=$1 t
  shift
  for ((t = 0; t < T * 5; t++)); do "$@" && return 0; sleep 0.2; done
  fail "timed out after $T s waiting for $what"
}
