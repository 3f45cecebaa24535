#!/bin/bash
# A/B of netfs binaries on one diod, alternating round by round so that every binary
# sees the same load on a shared machine. Per round and binary: sequential write + fsync,
# read after a remount (server cache warm), random 4 KiB writes after a remount (the
# folios not in memory), then create / stat (after the entry timeout) / unlink of N files.
# Prints one line per round and binary with the figures, the diod + daemon CPU seconds
# and the 9P RPCs per file operation. See docs/bench.md.
#
# Usage: bench/compare/ab.sh [--rounds N] [--seq-mib N] [--rand-mib N] [--files N] NETFS_BINARY...
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=$PWD/bench/compare
PY=/usr/bin/python3
C=$HERE/compare.py
ROUNDS=3 SEQ_MIB=512 RAND_MIB=64 FILES=2000
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --seq-mib) SEQ_MIB=$2; shift 2 ;;
    --rand-mib) RAND_MIB=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: ab.sh [options] NETFS_BINARY..." >&2; exit 2; }
WORK=$(mktemp -d /tmp/netfs-ab-XXXXXX)
mkdir -p "$WORK"/{exp,mnt,bin}
BINS=()
i=0
for b in "$@"; do cp "$b" "$WORK/bin/$i"; BINS+=("$WORK/bin/$i"); i=$((i + 1)); done
DIOD_PID=""
cleanup() {
  local rc=$?
  set +e
  if mountpoint -q "$WORK/mnt"; then fusermount3 -u "$WORK/mnt" || umount -l "$WORK/mnt"; fi
  if [ -n "$DIOD_PID" ]; then kill "$DIOD_PID"; wait "$DIOD_PID"; fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in 1 2 3; do
  PORT=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && continue
  diod -f -n -N -L "$WORK/diod.log" -l "127.0.0.1:$PORT" -e "$WORK/exp" &
  DIOD_PID=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
  kill -0 "$DIOD_PID" 2>/dev/null && break
  DIOD_PID=""
done
[ -n "$DIOD_PID" ] || { echo "ab.sh: diod did not start" >&2; exit 1; }

MP=$WORK/mnt
mnt() { "$1" mount "9p://127.0.0.1:$PORT$WORK/exp" "$MP" -o log="$WORK/netfs.log"; D=$($PY "$C" pids-of "$MP"); }
umnt() { "$1" umount "$MP"; for _ in $(seq 100); do kill -0 "$D" 2>/dev/null || break; sleep 0.1; done; }
cpu() { $PY "$C" cpu "$D" "$DIOD_PID"; }
rpcs() { "$1" stats --json "$MP" | $PY -c 'import json,sys; print(json.load(sys.stdin)["p9_rpcs"])'; }
mibs() { $PY "$C" fio "$1" | awk '{printf "%.0f", $1 / $2 / 1048576}'; }
rate() { awk '{printf "%.0f", $1 / $2}' <<<"$1"; }

printf '%-5s %-3s %9s %6s %9s %6s %9s %6s %8s %6s %8s %6s %8s %6s\n' round bin \
  "seqw MiB/s" cpu "read MiB/s" cpu "randw MiB/s" cpu "create/s" rpc "stat/s" rpc "unlink/s" rpc
for r in $(seq "$ROUNDS"); do
  for i in "${!BINS[@]}"; do
    N=${BINS[$i]}
    rm -f "$WORK"/exp/*.bin
    mnt "$N"
    c0=$(cpu); env FILE="$MP/s.bin" SIZE=$((SEQ_MIB << 20)) fio --output-format=json --output="$WORK/w.json" "$HERE/seqwrite.fio" >/dev/null; c1=$(cpu)
    env FILE="$MP/r.bin" SIZE=$((RAND_MIB << 20)) fio --output="$WORK/l.txt" "$HERE/seqwrite.fio" >/dev/null
    umnt "$N"; mnt "$N"
    c2=$(cpu); env FILE="$MP/s.bin" SIZE=$((SEQ_MIB << 20)) INVALIDATE=1 fio --output-format=json --output="$WORK/r.json" "$HERE/seqread.fio" >/dev/null; c3=$(cpu)
    umnt "$N"; mnt "$N"
    c4=$(cpu); env FILE="$MP/r.bin" SIZE=$((RAND_MIB << 20)) fio --output-format=json --output="$WORK/rw.json" "$HERE/randwrite.fio" >/dev/null; c5=$(cpu)
    p0=$(rpcs "$N"); cr=$($PY "$C" meta create "$MP/meta" "$FILES"); p1=$(rpcs "$N")
    sleep 1.2  # past the default entry and attribute timeouts: stat asks the server
    st=$($PY "$C" meta stat "$MP/meta" "$FILES"); p2=$(rpcs "$N")
    un=$($PY "$C" meta unlink "$MP/meta" "$FILES"); p3=$(rpcs "$N")
    umnt "$N"
    printf '%-5s %-3s %9s %6.2f %9s %6.2f %9s %6.2f %8s %6.2f %8s %6.2f %8s %6.2f\n' "$r" "$i" \
      "$(mibs "$WORK/w.json")" "$(echo "$c1 - $c0" | awk '{print $1 - $3}')" \
      "$(mibs "$WORK/r.json")" "$(echo "$c3 - $c2" | awk '{print $1 - $3}')" \
      "$(mibs "$WORK/rw.json")" "$(echo "$c5 - $c4" | awk '{print $1 - $3}')" \
      "$(rate "$cr")" "$(awk -v a="$p0" -v b="$p1" -v n="$FILES" 'BEGIN{print (b-a)/n}')" \
      "$(rate "$st")" "$(awk -v a="$p1" -v b="$p2" -v n="$FILES" 'BEGIN{print (b-a)/n}')" \
      "$(rate "$un")" "$(awk -v a="$p2" -v b="$p3" -v n="$FILES" 'BEGIN{print (b-a)/n}')"
  done
done
i=0; for b in "$@"; do echo "bin $i = $b"; i=$((i + 1)); done
