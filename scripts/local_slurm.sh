#!/usr/bin/env bash
# A single-node SLURM on this machine: munged, slurmctld and slurmd on localhost, to try the
# `hydra/launcher=slurm` preset on a laptop and for the tests (tests/scenarios/test_slurm.py).
#
#   sudo apt-get install -y slurm-wlm munge      # Debian/Ubuntu packages (SLURM 22.05+)
#   sudo scripts/local_slurm.sh start            # prints the SLURM_CONF to export
#   export SLURM_CONF=/tmp/augsweep-slurm/slurm.conf
#   sinfo; .venv/bin/python train.py -m hydra/launcher=slurm hydra.launcher.gpus_per_task=null \
#       hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=2 augment=none,flip
#   sudo scripts/local_slurm.sh stop
#
# Everything lives under LOCAL_SLURM_DIR (default /tmp/augsweep-slurm): its own munge key and
# socket, the config, state, spool and logs; nothing under /etc is touched. The daemons run as
# root (slurmd must; SlurmUser=root keeps it simple), with no cgroups (proctrack/linuxproc,
# task/none) and no accounting (sacct has nothing to say: augsweep's launcher keeps submitit's
# warnings about it out of the log). `start` is idempotent: a SLURM already answering is left
# as it is. LOCAL_SLURM_CPUS (default: this machine's cores) is the CPUs the node offers;
# more than the cores runs more jobs at once, sharing them. LOCAL_SLURM_PORT (default 6817)
# is slurmctld's port, slurmd's the next one.
set -euo pipefail

DIR="${LOCAL_SLURM_DIR:-/tmp/augsweep-slurm}"
PORT="${LOCAL_SLURM_PORT:-6817}"
CPUS="${LOCAL_SLURM_CPUS:-$(nproc)}"
HOST="$(hostname -s)"
export SLURM_CONF="$DIR/slurm.conf"
sudo=""
as_munge="runuser -u munge --"
[ "$(id -u)" -eq 0 ] || { sudo="sudo"; as_munge="sudo -u munge"; }

need() {
    for binary in "$@"; do
        command -v "$binary" >/dev/null || [ -x "/usr/sbin/$binary" ] || {
            echo "local_slurm.sh: $binary not found: apt-get install -y slurm-wlm munge" >&2
            exit 2
        }
    done
}

answering() {
    [ -f "$SLURM_CONF" ] && timeout 5 sinfo -h -o %T >/dev/null 2>&1
}

write_config() {
    local memory
    memory=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)  # half the RAM, in MB
    cat >"$SLURM_CONF" <<EOF
ClusterName=augsweep-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
AuthType=auth/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
MessageTimeout=10
InactiveLimit=0
KillWait=5
MinJobAge=300
PreemptType=preempt/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start_munge() {
    [ -S "$DIR/munge/munge.socket" ] && munge -S "$DIR/munge/munge.socket" -n </dev/null \
        >/dev/null 2>&1 && return
    mkdir -p "$DIR/munge"
    [ -f "$DIR/munge/munge.key" ] || dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1 \
        count=1024 status=none
    chmod 700 "$DIR/munge"
    chmod 400 "$DIR/munge/munge.key"
    $sudo chown -R munge:munge "$DIR/munge"
    # --force: the socket's folder sits under /tmp (world-writable, sticky).
    $as_munge /usr/sbin/munged --force --key-file="$DIR/munge/munge.key" \
        --socket="$DIR/munge/munge.socket" --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
    chmod 755 "$DIR/munge" 2>/dev/null || $sudo chmod 755 "$DIR/munge"  # clients reach the socket
}

start() {
    need slurmctld slurmd munged sinfo sbatch
    if answering; then
        echo "local_slurm.sh: SLURM answers already ($SLURM_CONF)"
        return
    fi
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    write_config
    start_munge
    $sudo /usr/sbin/slurmctld -f "$SLURM_CONF"
    $sudo /usr/sbin/slurmd -f "$SLURM_CONF"
    for _ in $(seq 60); do
        if [ "$(timeout 5 sinfo -h -o %T 2>/dev/null)" = "idle" ]; then
            echo "local_slurm.sh: SLURM up on $HOST ($CPUS CPUs); export SLURM_CONF=$SLURM_CONF"
            return
        fi
        sleep 0.5
    done
    echo "local_slurm.sh: SLURM did not come up; logs in $DIR/log" >&2
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    exit 1
}

stop_pid() {
    local file="$1" pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    $sudo kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        $sudo kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    $sudo kill -9 "$pid" 2>/dev/null || true
}

stop() {
    [ -f "$SLURM_CONF" ] && timeout 10 scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    stop_pid "$DIR/slurmd.pid"
    stop_pid "$DIR/slurmctld.pid"
    stop_pid "$DIR/munge/munged.pid"
    $sudo rm -rf "$DIR/state" "$DIR/spool"
    echo "local_slurm.sh: stopped (logs kept in $DIR/log)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop (LOCAL_SLURM_DIR=$DIR)" >&2
        exit 2
        ;;
esac
