#!/bin/bash
# Throughput and CPU seconds per GiB (netfs daemon + diod, from /proc/PID/stat) of a
# sequential write + fsync and a cold sequential read through a real mount on a loopback
# diod, for several mount configurations and with or without `stress-ng --cpu N` beside
# it, all in one run so that the figures compare (the machine is shared).
#
# Usage: bench/cpu_per_gib.sh [--mib N] [--build DIR] [--export DIR]
#                             [--config "NAME:OPTIONS" ...] [--load N] [--quiet-too]
#                             [--rounds R] [--profile DIR]
#   --config   "NAME:OPTIONS[:BINARY]": a named set of mount options, optionally with
#              another netfs binary (repeatable; default "default:" only)
#   --load N   run stress-ng --cpu N beside every measurement (0: none; default 0)
#   --quiet-too  with --load: measure each configuration quiet and loaded, interleaved
#   --rounds R   repeat the whole set R times (default 1); each round prints its lines
#   --profile DIR  perf record -g of the daemon and diod during each phase into DIR
#   --write-only   skip the cold read
# Needs root. Every process it starts is stopped by PID, every mount it made unmounted.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=1024
BUILD=build
EXPORT=""
CONFIGS=()
LOAD=0
QUIET_TOO=0
ROUNDS=1
PROFILE=""
WRITE_ONLY=0
while [ $# -gt 0 ]; do
  case $1 in
    --mib) MIB=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --export) EXPORT=$2; shift 2 ;;
    --config) CONFIGS+=("$2"); shift 2 ;;
    --load) LOAD=$2; shift 2 ;;
    --quiet-too) QUIET_TOO=1; shift ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --profile) PROFILE=$(realpath -m "$2"); mkdir -p "$PROFILE"; shift 2 ;;
    --write-only) WRITE_ONLY=1; shift ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "cpu_per_gib.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=("default:")
[ "$(id -u)" -eq 0 ] || { echo "cpu_per_gib.sh: needs root" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/netfs-cpu-XXXXXX")
cp "$BUILD/netfs" "$WORK/netfs"
[ -n "$EXPORT" ] || EXPORT=$WORK/export
mkdir -p "$EXPORT" "$WORK/mnt"
PIDS=()
MOUNTED=0
cleanup() {
  set +e
  [ $MOUNTED = 1 ] && { "$WORK/netfs" umount "$WORK/mnt" >/dev/null 2>&1 || umount -l "$WORK/mnt"; }
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
diod -f -n -N -l 127.0.0.1:$PORT -e "$EXPORT" >"$WORK/diod.log" 2>&1 &
DIOD=$!
PIDS+=($DIOD)
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

# utime+stime of a process in seconds.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' /proc/$1/stat; }
now() { date +%s.%N; }
# Context switches (voluntary + involuntary) of all threads of a process.
ctxsw() { cat /proc/$1/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'; }

mount_it() {
  local opts=$1 bin=${2:-$WORK/netfs}
  "$bin" mount "9p://127.0.0.1:$PORT$EXPORT" "$WORK/mnt" ${opts:+-o "$opts"} >"$WORK/mount.log" 2>&1
  MOUNTED=1
  NPID=$(pgrep -n -f "$bin mount 9p://127.0.0.1:$PORT" || true)
}
umount_it() { "$WORK/netfs" umount "$WORK/mnt" >/dev/null; MOUNTED=0; }

# One phase: runs "$@", prints MiB/s and CPU s/GiB of daemon + diod.
phase() {
  local name=$1; shift
  local c0 d0 t0 c1 d1 t1 x0 x1 perf_pid=""
  [ -n "$PROFILE" ] && { perf record -g -o "$PROFILE/$name.data" -p "$NPID,$DIOD" >/dev/null 2>&1 & perf_pid=$!; }
  x0=$(ctxsw $NPID); c0=$(cpu $NPID); d0=$(cpu $DIOD); t0=$(now)
  "$@"
  t1=$(now); c1=$(cpu $NPID); d1=$(cpu $DIOD); x1=$(ctxsw $NPID)
  [ -n "$perf_pid" ] && { kill -INT $perf_pid; wait $perf_pid 2>/dev/null || true; }
  python3 - "$name" "$MIB" "$t0" "$t1" "$c0" "$c1" "$d0" "$d1" "$x0" "$x1" <<'PY'
import sys
name, mib, t0, t1, c0, c1, d0, d1, x0, x1 = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:])
secs = t1 - t0; gib = mib / 1024
print(f"{name:32s} {mib / secs:7.1f} MiB/s  netfs {(c1 - c0) / gib:5.2f}  diod {(d1 - d0) / gib:5.2f}  "
      f"total {(c1 - c0 + d1 - d0) / gib:5.2f} CPU s/GiB  netfs {(x1 - x0) / mib:5.1f} ctxsw/MiB")
PY
}

run_config() {
  local tag=$1 name=${2%%:*} opts=${2#*:} bin=""
  if [[ $opts == *:* ]]; then
    bin=${opts#*:}
    opts=${opts%%:*}
  fi
  mount_it "$opts" $bin
  phase "$tag $name write+fsync" dd if=/dev/zero of="$WORK/mnt/big" bs=1M count=$MIB conv=fsync status=none
  umount_it
  if [ $WRITE_ONLY = 0 ]; then
    mount_it "$opts" $bin
    phase "$tag $name cold read" dd if="$WORK/mnt/big" of=/dev/null bs=1M status=none
    umount_it
  fi
  rm -f "$EXPORT/big"
}

with_load() {
  stress-ng --cpu "$LOAD" --timeout 3600 >/dev/null 2>&1 &
  local sp=$!
  PIDS+=($sp)
  "$@"
  kill $sp; wait $sp 2>/dev/null || true
}

echo "# $MIB MiB, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), netfs built $(date -u -r "$BUILD/netfs" '+%F %H:%M UTC')"
for r in $(seq "$ROUNDS"); do
  for c in "${CONFIGS[@]}"; do
    if [ "$LOAD" -gt 0 ]; then
      [ $QUIET_TOO = 1 ] && run_config quiet "$c"
      with_load run_config "loaded($LOAD)" "$c"
    else
      run_config quiet "$c"
    fi
  done
done
