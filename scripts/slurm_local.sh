#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for tests and trying the slurm launcher:
#   eval "$(bash scripts/slurm_local.sh start DIR)"   # prints `export SLURM_CONF=...`
#   bash scripts/slurm_local.sh stop DIR
# Needs root and Debian's slurm-wlm and munge. Everything lives in DIR.
set -euo pipefail
action=$1
dir=$(realpath -m "$2")
host=$(hostname -s)
# munged runs as the munge user, which may not reach into DIR (mktemp folders are 0700).
munge_dir=/run/ftl-munge-$(echo "$dir" | md5sum | cut -c1-12)
case $action in
  start)
    mkdir -p "$dir"/{state,spool,log}
    install -d -o munge -g munge -m 0755 "$munge_dir"
    if [[ ! -s /etc/munge/munge.key ]]; then
      dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    install -d -o munge -g munge /run/munge
    sudo_munge=(setpriv --reuid=munge --regid=munge --init-groups)
    "${sudo_munge[@]}" munged --socket="$munge_dir/munge.socket" --pid-file="$munge_dir/munged.pid" \
      --log-file="$munge_dir/munged.log" --seed-file="$munge_dir/munged.seed" >&2
    cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc: it obeys OMP_NUM_THREADS
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    cat > "$dir/slurm.conf" <<CONF
ClusterName=ftl-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_dir/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=$(( 20000 + RANDOM % 20000 ))
SlurmdPort=$(( 40001 + RANDOM % 20000 ))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
    export SLURM_CONF="$dir/slurm.conf"
    # Daemons get a clean environment, not the caller's test settings.
    clean=(env -i PATH="$PATH" HOME="${HOME:-/root}" SLURM_CONF="$SLURM_CONF")
    "${clean[@]}" slurmctld -f "$SLURM_CONF" >&2
    "${clean[@]}" slurmd -f "$SLURM_CONF" >&2
    for _ in $(seq 60); do
      sinfo -h -o %T 2>/dev/null | grep -qE "^idle" && { echo "export SLURM_CONF=$dir/slurm.conf"; exit 0; }
      sleep 0.5
    done
    echo "slurm did not come up; logs in $dir/log" >&2
    cat "$dir"/log/*.log >&2 || true
    exit 1
    ;;
  stop)
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$munge_dir/munged.pid"; do
      [[ -f $pidfile ]] || continue
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || continue
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    done
    rm -rf "$munge_dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
