#!/usr/bin/env bash
# A private one-node Slurm cluster on this machine, for tests: Debian's munged, slurmctld and
# slurmd, started without systemd and without touching /etc. Everything (munge key and socket,
# slurm.conf, state, spool, logs, pid files) lives in one folder; the daemons listen on TCP
# ports picked free at run time and the node is addressed as 127.0.0.1.
#
#   tests/slurm/cluster.sh up DIR           start munged, slurmctld, slurmd; wait for the node
#                                           to be idle; prints `export SLURM_CONF=DIR/slurm.conf`
#   tests/slurm/cluster.sh down DIR         stop everything `up DIR` started (daemons, job steps
#                                           and their processes); idempotent, safe after failures
#   tests/slurm/cluster.sh with CMD ARGS..  up in a fresh temporary folder, run CMD with SLURM_CONF
#                                           and SLURM_TEST_DIR exported, down (trap: on any exit),
#                                           remove the folder; exits with CMD's status
#   tests/slurm/cluster.sh logs DIR         the tails of the daemons' logs
#
# Sourced (`. tests/slurm/cluster.sh`), it defines cluster_up, cluster_down, cluster_logs and
# with_cluster instead. Needs: munged, mungekey (or dd), slurmctld, slurmd, sinfo (packages
# munge, slurmctld, slurmd, slurm-client). Runs as root (SlurmUser=root) or as any user (then
# SlurmUser is that user, and jobs can only run as that user).
# Environment: SLURM_UP_TIMEOUT (seconds to wait for an idle node, default 60).

# Each daemon this harness starts carries SHAREDVIS_SLURM_DIR=<abs DIR> in its environment;
# slurmstepd inherits it from slurmd. `down` ends those processes and their descendants only.

_cl_die() { echo "cluster.sh: $*" >&2; return 1; }

# A TCP port no socket on this machine uses, below the ephemeral range (so that no outgoing
# connection takes it meanwhile). Checked against /proc/net/tcp{,6}; a race with another
# process remains possible and shows as a bind error in the logs.
_cl_free_port() {
  local used port lo
  lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  used=$(awk 'FNR > 1 { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u |
         while read -r h; do echo $((16#$h)); done)
  for _ in $(seq 200); do
    port=$((10000 + RANDOM % (lo - 10000)))
    grep -qx "$port" <<<"$used" || grep -qx "$port" <<<"${_CL_TAKEN:-}" || { echo "$port"; return 0; }
  done
  return 1
}

cluster_logs() {
  local dir=$1 f
  for f in "$dir"/log/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
    [ -f "$f" ] || continue
    echo "---- tail of $f" >&2
    tail -n 25 "$f" >&2
  done
}

_cl_write_conf() {
  local dir=$1 host user node ctld_port slurmd_port
  host=$(hostname -s)
  user=$(id -un)
  # The node as slurmd sees it (CPUs, sockets, cores, threads, memory); else nproc and MemTotal.
  node=$(slurmd -C 2>/dev/null | grep -m1 '^NodeName=' || true)
  if [ -z "$node" ]; then
    node="NodeName=$host CPUs=$(nproc) RealMemory=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
  fi
  node=$(sed -E "s/^NodeName=[^ ]+/NodeName=$host/" <<<"$node")
  ctld_port=$(_cl_free_port) || return 1
  _CL_TAKEN=$ctld_port
  slurmd_port=$(_cl_free_port) || return 1
  [ "$ctld_port" != "$slurmd_port" ] || return 1
  # Listen on 127.0.0.1 only where the host name resolves to it alone (with these options Slurm
  # binds to the address gethostname() resolves to); else on every address, as by default.
  local comm
  comm="# The daemons listen on every address: $(hostname) does not resolve to 127.0.0.1 alone."
  if [ "$(getent ahosts "$(hostname)" | awk '{print $1}' | sort -u)" = 127.0.0.1 ]; then
    comm="CommunicationParameters=NoCtldInAddrAny,NoInAddrAny"
  fi
  : >"$dir/plugstack.conf"  # else /etc/slurm/plugstack.conf would be read
  cat >"$dir/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh: a private one-node test cluster on localhost.
ClusterName=sharedvis-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# Short timers: a test cluster, restarted often, jobs that end quickly.
KillWait=2
MinJobAge=600
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
SchedulerParameters=sched_interval=1
MailProg=/bin/true
$comm
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# cluster_up DIR: on failure, it shows the logs' tails and stops what it had started.
cluster_up() {
  local rc=0
  _cl_up "$@" || rc=$?
  [ "$rc" = 0 ] || [ -z "${1:-}" ] || cluster_down "$1"
  return "$rc"
}

_cl_up() {
  local dir=${1:-} timeout=${SLURM_UP_TIMEOUT:-60} t state="" p
  [ -n "$dir" ] || { _cl_die "usage: cluster_up DIR"; return 1; }
  for p in munged slurmctld slurmd sinfo; do
    command -v "$p" >/dev/null || { _cl_die "$p is not installed (Debian: munge slurmctld slurmd slurm-client)"; return 1; }
  done
  dir=$(realpath -m "$dir") || return 1
  # Unix socket paths (munge's, slurmd's and the job steps' in the spool) are limited to 107 bytes.
  [ "${#dir}" -le 64 ] || { _cl_die "$dir: too long a path for the sockets in it (at most 64 characters)"; return 1; }
  mkdir -p "$dir" || return 1
  # munged wants its socket's folders searchable by all and writable by the owner only.
  mkdir -p "$dir"/{munge,state,spool,log,run} && chmod 755 "$dir" "$dir/munge" || return 1
  export SLURM_CONF=$dir/slurm.conf
  # The daemons (only they) carry the mark `down` looks for.
  local mark=(env "SHAREDVIS_SLURM_DIR=$dir")

  # munge: its own key, socket, pid, log and seed files.
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$dir/munge/munge.key" --force 2>/dev/null || return 1
  else
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none || return 1
  fi
  chmod 600 "$dir/munge/munge.key"
  "${mark[@]}" munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" --num-threads=2 ||
    { cluster_logs "$dir"; _cl_die "munged did not start"; return 1; }

  _cl_write_conf "$dir" || { _cl_die "could not write slurm.conf (no free port?)"; return 1; }
  # Daemon mode: each forks, writes its pid file and returns. -i: ignore saved state.
  "${mark[@]}" slurmctld -f "$SLURM_CONF" -i ||
    { cluster_logs "$dir"; _cl_die "slurmctld did not start"; return 1; }
  "${mark[@]}" slurmd -f "$SLURM_CONF" ||
    { cluster_logs "$dir"; _cl_die "slurmd did not start"; return 1; }

  local d pid
  for ((t = 0; t < timeout * 2; t++)); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n1)
    [ "$state" = idle ] && break
    # A daemon that exited (a port taken meanwhile, a bad option) fails now, not at the timeout.
    for d in slurmctld slurmd; do
      pid=$(cat "$dir/run/$d.pid" 2>/dev/null || true)
      if { [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; } || { [ -z "$pid" ] && [ "$t" -ge 20 ]; }; then
        cluster_logs "$dir"
        _cl_die "$d exited or never wrote its pid file; see the logs above"
        return 1
      fi
    done
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    cluster_logs "$dir"
    _cl_die "the node is not idle after ${timeout} s (sinfo: '${state:-no answer}')"
    return 1
  fi
  echo "export SLURM_CONF=$SLURM_CONF"
}

# The pids of the processes whose environment marks them as this cluster's (not this shell's).
_cl_marked() {
  grep -lzxF "SHAREDVIS_SLURM_DIR=$1" /proc/[0-9]*/environ 2>/dev/null |
    sed -E 's|^/proc/([0-9]+)/environ$|\1|' | grep -vxE "$$|$BASHPID" || true
}

# Those pids and all their descendants.
_cl_tree() {
  local roots=" $* " added=1 pid ppid table
  [ -n "$*" ] || return 0
  table=$(sed -E 's/^([0-9]+) \(.*\) . ([0-9]+) .*/\1 \2/' /proc/[0-9]*/stat 2>/dev/null)
  while [ "$added" = 1 ]; do
    added=0
    while read -r pid ppid; do
      [[ $roots == *" $ppid "* && $roots != *" $pid "* ]] && { roots+="$pid "; added=1; }
    done <<<"$table"
  done
  echo "${roots# }"
}

cluster_down() {
  local dir=${1:-} pids f n p
  [ -n "$dir" ] || { _cl_die "usage: cluster_down DIR"; return 1; }
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  # Cancel the jobs while the controller still answers (their steps end cleanly), briefly.
  if [ -f "$dir/slurm.conf" ] && [ -f "$dir/run/slurmctld.pid" ]; then
    SLURM_CONF=$dir/slurm.conf timeout 5 scancel --user="$(id -un)" 2>/dev/null || true
  fi
  pids=$( { for f in "$dir"/run/*.pid; do [ -f "$f" ] && cat "$f"; done; _cl_marked "$dir"; } | sort -u)
  # Keep only live processes that really are ours (a pid file may be stale and its pid reused).
  local ours=""
  for p in $pids; do
    grep -qzxF "SHAREDVIS_SLURM_DIR=$dir" "/proc/$p/environ" 2>/dev/null && ours+="$p "
  done
  # shellcheck disable=SC2086  # pid lists, split on purpose
  pids=$(_cl_tree $ours)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for ((n = 0; n < 50; n++)); do
      local alive=""
      for p in $pids; do kill -0 "$p" 2>/dev/null && alive+="$p "; done
      [ -z "$alive" ] && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -n "$alive" ] && kill -KILL $alive 2>/dev/null
  fi
  rm -f "$dir"/run/*.pid
  return 0
}

# with_cluster CMD ARGS...: CMD runs with SLURM_CONF and SLURM_TEST_DIR (the cluster's folder)
# exported; the cluster goes down and its folder away on any exit. The logs' tails are shown
# when CMD fails; SLURM_KEEP=1 keeps the folder.
with_cluster() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/sharedvis-slurm.XXXXXX") || return 1
  # A subshell, so that the traps and the exports do not leak into the caller; CMD may exit.
  (
    _cl_dir=$dir _cl_up=0
    # shellcheck disable=SC2317  # run by the EXIT trap
    _cl_finish() {
      local rc=$?
      trap - EXIT
      [ "$rc" = 0 ] || [ "$_cl_up" = 0 ] || cluster_logs "$_cl_dir"  # cluster_up showed them
      cluster_down "$_cl_dir"
      if [ "${SLURM_KEEP:-0}" = 1 ]; then echo "cluster.sh: kept $_cl_dir" >&2; else rm -rf "$_cl_dir"; fi
      exit "$rc"
    }
    trap _cl_finish EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # A cluster that cannot start here (no daemons allowed, no loopback, ...) says why and
    # exits with SLURM_UP_FAILED_RC (default 1; the ctest passes 77, "skipped"): that is a fact
    # about the environment, while a wrong result after a good start always fails.
    cluster_up "$dir" >/dev/null || { echo "cluster.sh: the cluster did not come up (logs above)" >&2; exit "${SLURM_UP_FAILED_RC:-1}"; }
    _cl_up=1
    # A watchdog outside this process tree (double fork, own session): should this shell be
    # killed outright (SIGKILL, e.g. a ctest timeout), it takes the cluster down.
    local owner=$BASHPID
    ( setsid bash "$_CL_SELF" _watch "$owner" "$dir" "${SLURM_KEEP:-0}" </dev/null >/dev/null 2>&1 & )
    export SLURM_TEST_DIR=$dir
    "$@"
  )
}

# _watch OWNER DIR KEEP: once process OWNER is gone, take down the cluster in DIR if it is
# still there (with_cluster's own exit removes DIR first, unless KEEP=1; down is idempotent).
_cl_watch() {
  while kill -0 "$1" 2>/dev/null; do sleep 1; done
  if [ -d "$2" ]; then
    cluster_down "$2"
    [ "$3" = 1 ] || rm -rf "$2"
  fi
}

_CL_SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  cmd=${1:-}; shift || true
  case $cmd in
    up)   cluster_up "${1:?usage: cluster.sh up DIR}" ;;
    down) cluster_down "${1:?usage: cluster.sh down DIR}" ;;
    logs) cluster_logs "${1:?usage: cluster.sh logs DIR}" ;;
    _watch) _cl_watch "$@" ;;
    with) [ $# -gt 0 ] || { echo "usage: cluster.sh with CMD ARGS..." >&2; exit 2; }; with_cluster "$@" ;;
    *)    sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
fi
