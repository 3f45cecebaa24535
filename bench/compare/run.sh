#!/bin/bash
# netfs side by side with sshfs, rclone mount (sftp, --vfs-cache-mode full) and bindfs
# (a FUSE passthrough: the ceiling of any FUSE filesystem), in one run, on 127.0.0.1,
# every export a directory of the same disk. See docs/bench.md.
#
# Usage: bench/compare/run.sh [--seq-mib N] [--rand-mib N] [--files N]
#                             [--fs "bindfs netfs sshfs rclone"] [--build DIR]
#                             [--out FILE] [--profile DIR] [--keep]
#   --profile DIR  also record `perf record -g` of the netfs daemon and of diod during
#                  every netfs phase into DIR (reports: DIR/*.txt)
#   --keep         keep the work directory (logs, fio JSON) instead of removing it
# Needs root (drop_caches, FUSE mounts). Every process it starts is stopped by PID and
# every mount is unmounted (fusermount3 -u, then umount -l) on every exit path.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/bench/compare
PY=/usr/bin/python3
SEQ_MIB=512
RAND_MIB=64
FILES=2000
FSLIST="bindfs netfs sshfs rclone"
BUILD=build
OUT=""
PROFILE=""
KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --seq-mib) SEQ_MIB=$2; shift 2 ;;
    --rand-mib) RAND_MIB=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --fs) FSLIST=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --profile) PROFILE=$(realpath -m "$2"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (drop_caches, mounts)" >&2; exit 2; }
[ -x "$BUILD/netfs" ] || { echo "run.sh: $BUILD/netfs not built (make build)" >&2; exit 2; }
for t in fio sshfs rclone bindfs fusermount3 ssh-keygen; do
  command -v $t >/dev/null || { echo "run.sh: $t missing (make deps)" >&2; exit 2; }
done
[ -x $PY ] || { echo "run.sh: $PY missing" >&2; exit 2; }
[ -x /usr/sbin/sshd ] || { echo "run.sh: /usr/sbin/sshd missing (openssh-server)" >&2; exit 2; }
[ -z "$PROFILE" ] || command -v perf >/dev/null || { echo "run.sh: perf missing" >&2; exit 2; }

# Work directory on the disk the repository lives on (not tmpfs), so every export and
# the rclone cache are on the same disk.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/netfs-compare-XXXXXX")
# The netfs binary is copied: other work may rebuild $BUILD while this runs.
mkdir -p "$WORK/bin" "$WORK/ssh" "$WORK/log" "$WORK/fio"
cp "$BUILD/netfs" "$WORK/bin/netfs"
NETFS_BUILT=$(date -u -r "$BUILD/netfs" '+%Y-%m-%d %H:%M UTC')
NETFS=$WORK/bin/netfs
RESULTS=$WORK/results.tsv
: > "$RESULTS"
STARTED_PIDS=()   # every background process we started, stopped by PID at exit
MOUNTS=()         # every mountpoint we mounted on
PERF_PIDS=()

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

stop_pid() {  # stop_pid PID: TERM, wait up to 10 s, then KILL; only our own children
  local p=$1
  kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null || true; return 0; }
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null || true
}

unmount() {  # unmount MP: the filesystem's own way first, fusermount3 -u, then lazily
  local mp=$1
  mountpoint -q "$mp" || return 0
  if [ "${2:-}" = netfs ]; then "$NETFS" umount "$mp" >>"$WORK/log/netfs-umount.log" 2>&1 || true; fi
  mountpoint -q "$mp" && fusermount3 -u "$mp" 2>/dev/null
  for _ in $(seq 50); do mountpoint -q "$mp" || return 0; sleep 0.1; done
  fusermount3 -u -z "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  for p in "${PERF_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for mp in "${MOUNTS[@]}"; do unmount "$mp"; done
  # The netfs daemon forks away from us: it exits when its mount goes; wait for it.
  for p in ${NETFS_DAEMONS:-}; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  for ((i=${#STARTED_PIDS[@]}-1; i>=0; i--)); do stop_pid "${STARTED_PIDS[$i]}"; done
  if [ $KEEP -eq 1 ] || [ $rc -ne 0 ]; then
    # Keep logs, drop the data.
    rm -rf "$WORK"/export "$WORK"/rclone-cache
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  [ $rc -eq 0 ] || log "run.sh: FAILED (exit $rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  for _ in $(seq 100); do
    local p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}
wait_port() {  # wait_port PORT PID
  local deadline=$((SECONDS + 15))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || return 1
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}
wait_mounted() {  # wait_mounted MP PID
  local deadline=$((SECONDS + 30))
  until mountpoint -q "$1"; do
    kill -0 "$2" 2>/dev/null || return 1
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

# --- servers ---------------------------------------------------------------------------
EXP=$WORK/export
mkdir -p "$EXP"/{netfs,sshfs,rclone,bindfs} "$WORK"/mnt/{netfs,sshfs,rclone,bindfs}

need() { case " $FSLIST " in *" $1 "*) return 0 ;; esac; return 1; }

DIOD_PID=""
if need netfs; then
  DIOD=$(command -v diod || echo /usr/sbin/diod)
  for _ in 1 2 3; do
    DIOD_PORT=$(free_port)
    "$DIOD" -f -n -N -L "$WORK/log/diod.log" -l "127.0.0.1:$DIOD_PORT" -e "$EXP/netfs" &
    DIOD_PID=$!
    if wait_port "$DIOD_PORT" "$DIOD_PID"; then STARTED_PIDS+=("$DIOD_PID"); break; fi
    stop_pid "$DIOD_PID"; DIOD_PID=""
  done
  [ -n "$DIOD_PID" ] || { cat "$WORK/log/diod.log" >&2; exit 1; }
  log "diod pid $DIOD_PID on 127.0.0.1:$DIOD_PORT"
fi

SSHD_PID=""
if need sshfs || need rclone; then
  S=$WORK/ssh
  ssh-keygen -q -t ed25519 -N '' -f "$S/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -f "$S/id_ed25519"
  cp "$S/id_ed25519.pub" "$S/authorized_keys"
  SFTP_SERVER=/usr/lib/openssh/sftp-server
  mkdir -p /run/sshd   # sshd's privilege separation directory
  for _ in 1 2 3; do
    SSH_PORT=$(free_port)
    cat > "$S/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $S/host_ed25519
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
X11Forwarding no
LogLevel ERROR
Subsystem sftp $SFTP_SERVER
EOF
    /usr/sbin/sshd -D -e -f "$S/sshd_config" 2>>"$WORK/log/sshd.log" &
    SSHD_PID=$!
    if wait_port "$SSH_PORT" "$SSHD_PID"; then STARTED_PIDS+=("$SSHD_PID"); break; fi
    stop_pid "$SSHD_PID"; SSHD_PID=""
  done
  [ -n "$SSHD_PID" ] || { cat "$WORK/log/sshd.log" >&2; exit 1; }
  log "sshd pid $SSHD_PID on 127.0.0.1:$SSH_PORT"
  SSH_OPTS="-o IdentityFile=$S/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
  RC_PORT=$(free_port)
  cat > "$WORK/rclone.conf" <<EOF
[lo]
type = sftp
host = 127.0.0.1
port = $SSH_PORT
user = root
key_file = $S/id_ed25519
EOF
fi

# --- mounts ----------------------------------------------------------------------------
declare -A FSP      # FSP[fs]: PIDs whose process trees are fs's processes (both sides)
declare -A CLIENT   # CLIENT[fs]: the FUSE daemon
NETFS_DAEMONS=""
mount_fs() {  # mount_fs FS: mounts, sets FSP[FS] and CLIENT[FS]
  local fs=$1 mp=$WORK/mnt/$1 p
  case $fs in
    netfs)
      "$NETFS" mount "9p://127.0.0.1:$DIOD_PORT$EXP/netfs" "$mp" -o log="$WORK/log/netfs.log" \
        >>"$WORK/log/netfs-mount.log" 2>&1
      MOUNTS+=("$mp")
      p=$($PY "$HERE/compare.py" pids-of "$mp")
      [ -n "$p" ] || { log "netfs daemon not found"; exit 1; }
      NETFS_DAEMONS="$NETFS_DAEMONS $p"
      FSP[$fs]="$DIOD_PID $p" ;;
    sshfs)
      # shellcheck disable=SC2086
      sshfs -f -p "$SSH_PORT" $SSH_OPTS "root@127.0.0.1:$EXP/sshfs" "$mp" 2>>"$WORK/log/sshfs.log" &
      p=$!; STARTED_PIDS+=("$p"); MOUNTS+=("$mp")
      wait_mounted "$mp" "$p" || { cat "$WORK/log/sshfs.log" >&2; exit 1; }
      FSP[$fs]="$SSHD_PID $p" ;;
    rclone)
      rclone mount "lo:$EXP/rclone" "$mp" --config "$WORK/rclone.conf" \
        --vfs-cache-mode full --vfs-write-back 0s --cache-dir "$WORK/rclone-cache" \
        --rc --rc-addr "127.0.0.1:$RC_PORT" --rc-no-auth \
        --log-file "$WORK/log/rclone.log" --log-level NOTICE &
      p=$!; STARTED_PIDS+=("$p"); MOUNTS+=("$mp")
      wait_mounted "$mp" "$p" || { cat "$WORK/log/rclone.log" >&2; exit 1; }
      FSP[$fs]="$SSHD_PID $p" ;;
    bindfs)
      bindfs -f "$EXP/bindfs" "$mp" 2>>"$WORK/log/bindfs.log" &
      p=$!; STARTED_PIDS+=("$p"); MOUNTS+=("$mp")
      wait_mounted "$mp" "$p" || { cat "$WORK/log/bindfs.log" >&2; exit 1; }
      FSP[$fs]="$p" ;;
  esac
  CLIENT[$fs]=$p
}
umount_fs() {
  local fs=$1 mp=$WORK/mnt/$1
  unmount "$mp" "$fs"
  # The client process ends with its mount.
  local p=${CLIENT[$fs]}
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  # ours (not netfs's: it forked away from us and is gone with its mount)
  [ "$fs" = netfs ] || stop_pid "$p"
}

# rclone's fsync reaches only its local cache; the upload follows (write-back 0s). Wait
# until its VFS reports no upload in progress or queued.
rclone_wait_uploads() {
  local deadline=$((SECONDS + 600)) j
  sleep 0.2
  while :; do
    j=$(rclone rc --rc-addr "127.0.0.1:$RC_PORT" vfs/stats 2>/dev/null || echo '{}')
    if [ "$(echo "$j" | $PY -c 'import json,sys; d=json.load(sys.stdin).get("diskCache", {}); print(d.get("uploadsInProgress", 1) + d.get("uploadsQueued", 1))' 2>/dev/null)" = 0 ]; then
      return 0
    fi
    [ $SECONDS -lt $deadline ] || { log "rclone uploads did not finish"; return 1; }
    sleep 0.1
  done
}

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }  # calc EXPR [DECIMALS]
now() { date +%s.%N; }
cpu() { $PY "$HERE/compare.py" cpu ${FSP[$1]}; }  # cpu FS

PERF_CUR=""
perf_start() {  # perf_start FS PHASE
  [ -n "$PROFILE" ] && [ "$1" = netfs ] || return 0
  mkdir -p "$PROFILE"
  perf record -q -g -F 999 -p "${CLIENT[netfs]}" -o "$PROFILE/netfs-$2.data" >/dev/null 2>&1 &
  PERF_CUR="$!"
  perf record -q -g -F 999 -p "$DIOD_PID" -o "$PROFILE/diod-$2.data" >/dev/null 2>&1 &
  PERF_CUR="$PERF_CUR $!"
  PERF_PIDS=($PERF_CUR)
  sleep 0.5
}
perf_stop() {
  [ -n "$PERF_CUR" ] || return 0
  local p
  for p in $PERF_CUR; do kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PERF_CUR=""; PERF_PIDS=()
}

record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RESULTS"; }

# run_fio FS PHASE JOB VAR=VALUE...: one fio run, its figures and the CPU it cost
run_fio() {
  local fs=$1 phase=$2 job=$3; shift 3
  local c0 c1 out=$WORK/fio/$fs-$phase.json
  perf_start "$fs" "$phase"
  c0=$(cpu "$fs")
  env "$@" fio --output-format=json --output="$out" "$HERE/$job" >/dev/null
  c1=$(cpu "$fs")
  perf_stop
  read -r nbytes secs iops < <($PY "$HERE/compare.py" fio "$out")
  record "$fs" "$phase" "$nbytes" "$secs" "$iops" "$(calc "$c1 - $c0" 2)"
  log "$fs $phase: $(calc "$nbytes / $secs / 1048576" 1) MiB/s, $(calc "$c1 - $c0" 2) CPU s"
}

# after_write FS PHASE BYTES T0 C0: for rclone, the time and CPU until its upload is done
after_write() {
  local fs=$1 phase=$2 nbytes=$3 t0=$4 c0=$5
  [ "$fs" = rclone ] || return 0
  rclone_wait_uploads
  local t1 c1 c_fio
  t1=$(now); c1=$(cpu "$fs")
  # The fio phase's own CPU was recorded already; this row holds the upload's.
  c_fio=$(awk -v f="$fs" -v p="$phase" '$1==f && $2==p {print $6}' "$RESULTS" | tail -1)
  record "$fs" "${phase}_server" "$nbytes" "$(calc "$t1 - $t0" 6)" 0 "$(calc "$c1 - $c0 - $c_fio" 2)"
  log "$fs $phase on the server: $(calc "$nbytes / ($t1 - $t0) / 1048576" 1) MiB/s"
}

run_meta() {  # run_meta FS OP
  local fs=$1 op=$2 c0 c1
  perf_start "$fs" "$op"
  c0=$(cpu "$fs")
  read -r n secs < <($PY "$HERE/compare.py" meta "$op" "$WORK/mnt/$fs/meta" "$FILES")
  c1=$(cpu "$fs")
  perf_stop
  record "$fs" "$op" 0 "$secs" "$n" "$(calc "$c1 - $c0" 2)"
  log "$fs $op: $(calc "$n / $secs" 0) files/s"
}

# Phase by phase, every filesystem in turn, so that all of them meet about the same load
# on a shared machine (a phase takes about a minute for all four).
SEQ=$((SEQ_MIB << 20))
RND=$((RAND_MIB << 20))
run_all() {
  local fs mp t0 c0
  for fs in $FSLIST; do mount_fs "$fs"; done
  log "== sequential write"
  for fs in $FSLIST; do
    mp=$WORK/mnt/$fs
    t0=$(now); c0=$(cpu "$fs")
    run_fio "$fs" seqwrite seqwrite.fio FILE="$mp/seq.bin" SIZE=$SEQ
    after_write "$fs" seqwrite $SEQ "$t0" "$c0"
    # the file the random writes go to, written now and not timed
    env FILE="$mp/rand.bin" SIZE=$RND fio --output="$WORK/fio/$fs-layout.txt" "$HERE/seqwrite.fio" >/dev/null
    [ "$fs" != rclone ] || rclone_wait_uploads
  done
  log "== cold sequential read (all unmounted, caches dropped once, all mounted again)"
  # One drop for all: a drop between two filesystems' reads would make the first one's
  # warm read below cold again.
  for fs in $FSLIST; do umount_fs "$fs"; done
  rm -rf "$WORK/rclone-cache"
  drop_caches
  for fs in $FSLIST; do mount_fs "$fs"; done
  for fs in $FSLIST; do
    run_fio "$fs" coldread seqread.fio FILE="$WORK/mnt/$fs/seq.bin" SIZE=$SEQ INVALIDATE=1
  done
  log "== warm sequential read"
  for fs in $FSLIST; do
    run_fio "$fs" warmread seqread.fio FILE="$WORK/mnt/$fs/seq.bin" SIZE=$SEQ INVALIDATE=0
  done
  log "== random 4 KiB reads (warm)"
  for fs in $FSLIST; do
    run_fio "$fs" randread randread.fio FILE="$WORK/mnt/$fs/seq.bin" SIZE=$RND
  done
  log "== random 4 KiB writes + fsync"
  for fs in $FSLIST; do
    t0=$(now); c0=$(cpu "$fs")
    run_fio "$fs" randwrite randwrite.fio FILE="$WORK/mnt/$fs/rand.bin" SIZE=$RND
    after_write "$fs" randwrite $RND "$t0" "$c0"
  done
  log "== metadata: create, stat, unlink"
  for fs in $FSLIST; do run_meta "$fs" create; [ "$fs" != rclone ] || rclone_wait_uploads; done
  for fs in $FSLIST; do run_meta "$fs" stat; done
  for fs in $FSLIST; do run_meta "$fs" unlink; [ "$fs" != rclone ] || rclone_wait_uploads; done
  # check: each server holds what was written (sizes)
  local got
  for fs in $FSLIST; do
    got=$(stat -c %s "$EXP/$fs/seq.bin")
    [ "$got" = "$SEQ" ] || { log "$fs: server's seq.bin is $got bytes, want $SEQ"; exit 1; }
    got=$(stat -c %s "$EXP/$fs/rand.bin")
    [ "$got" = "$RND" ] || { log "$fs: server's rand.bin is $got bytes, want $RND"; exit 1; }
    # the randomly written file reads the same through the mount and on the server
    cmp -s "$WORK/mnt/$fs/rand.bin" "$EXP/$fs/rand.bin" || { log "$fs: rand.bin differs between the mount and the server"; exit 1; }
  done
  for fs in $FSLIST; do umount_fs "$fs"; rm -rf "${EXP:?}/$fs"/*; done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$SECONDS
run_all

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || COMMIT="$COMMIT (+ uncommitted changes in src/include)"
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit=$COMMIT; netfs binary $BUILD/netfs built $NETFS_BUILT"
  echo "host=$(uname -n), $(uname -r)"
  echo "cpus=$(nproc)"
  echo "load_before=$LOAD_BEFORE"
  echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "seq_mib=$SEQ_MIB"
  echo "rand_mib=$RAND_MIB"
  echo "files=$FILES"
  echo "workdir_fs=$WORK ($(df --output=source "$WORK" | tail -1), $(df --output=fstype "$WORK" | tail -1 | tr -d ' '))"
  echo "versions=diod $(dpkg-query -W -f='${Version}' diod 2>/dev/null), sshfs $(dpkg-query -W -f='${Version}' sshfs 2>/dev/null), openssh $(dpkg-query -W -f='${Version}' openssh-server 2>/dev/null), rclone $(dpkg-query -W -f='${Version}' rclone 2>/dev/null), bindfs $(dpkg-query -W -f='${Version}' bindfs 2>/dev/null), fio $(dpkg-query -W -f='${Version}' fio 2>/dev/null); total run $((SECONDS - T_START)) s"
} > "$WORK/meta.txt"
REPORT=$($PY "$HERE/compare.py" report "$RESULTS" "$WORK/meta.txt")
echo "$REPORT"
if [ -n "$OUT" ]; then
  { echo "$REPORT"; echo; echo '<!-- raw: fs phase bytes seconds ops cpu_s -->'; echo '```'; cat "$RESULTS"; echo '```'; } > "$OUT"
  log "written to $OUT"
fi
if [ -n "$PROFILE" ]; then
  for d in "$PROFILE"/*.data; do
    [ -e "$d" ] || continue
    perf report -i "$d" --no-children --stdio --percent-limit 1.5 2>/dev/null | head -150 > "${d%.data}.txt" || true
    perf report -i "$d" --no-children --stdio -g none --sort dso,sym --percent-limit 0.7 2>/dev/null | head -80 > "${d%.data}.flat.txt" || true
  done
  log "profiles in $PROFILE"
fi
