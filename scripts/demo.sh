#!/bin/bash
# make demo: a loopback diod, a netfs mount of it, real work through the mount (copy a
# tree, read it back, compare checksums on the mount and on the server), the mount's
# stats, then unmount and stop diod. Cleans up on every exit path, failures included.
# Usage: scripts/demo.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
NETFS=$BUILD/netfs

./scripts/install-deps.sh fuse3 libfuse3-dev libcli11-dev diod cmake ninja-build g++ libasio-dev \
  systemtap-sdt-dev libgtest-dev libgmock-dev
if [ ! -x "$NETFS" ]; then
  cmake -S . -B "$BUILD" -G Ninja >/dev/null
  cmake --build "$BUILD" --target netfs
fi
DIOD=$(command -v diod || echo /usr/sbin/diod)

WORK=$(mktemp -d /tmp/netfs-demo-XXXXXX)
EXPORT=$WORK/export
MNT=$WORK/mnt
mkdir -p "$EXPORT" "$MNT"
DIOD_PID=""
cleanup() {
  local rc=$?
  set +e
  if mountpoint -q "$MNT"; then
    "$NETFS" umount "$MNT" 2>/dev/null || fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
  fi
  if [ -n "$DIOD_PID" ]; then
    kill "$DIOD_PID" 2>/dev/null
    wait "$DIOD_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
  [ $rc -eq 0 ] || echo "demo: FAILED (exit $rc)" >&2
  exit $rc
}
trap cleanup EXIT INT TERM

step() { printf '\n== %s\n' "$*"; }

# A port nobody listens on: ask the kernel for one, else try a few at random.
free_port() {
  for _ in $(seq 50); do
    local p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}

step "starting diod on 127.0.0.1 (export $EXPORT)"
for attempt in 1 2 3; do
  PORT=$(free_port)
  "$DIOD" -f -n -N -L "$WORK/diod.log" -l "127.0.0.1:$PORT" -e "$EXPORT" &
  DIOD_PID=$!
  deadline=$((SECONDS + 10))
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    kill -0 "$DIOD_PID" 2>/dev/null || break
    [ $SECONDS -lt $deadline ] || break
    sleep 0.05
  done
  if kill -0 "$DIOD_PID" 2>/dev/null; then break; fi
  wait "$DIOD_PID" 2>/dev/null || true
  DIOD_PID=""
done
[ -n "$DIOD_PID" ] || { echo "diod did not start:"; cat "$WORK/diod.log"; exit 1; }
echo "diod pid $DIOD_PID, port $PORT"

step "netfs mount 9p://127.0.0.1:$PORT$EXPORT $MNT"
"$NETFS" mount "9p://127.0.0.1:$PORT$EXPORT" "$MNT" -o log="$WORK/netfs.log"
mount | grep " $MNT "

# The tree: this repository's sources and docs, the system's license texts, and 16 MiB of
# random bytes, so both many small files and one large one go through.
SRC=$WORK/tree
mkdir -p "$SRC"
cp -a src include docs tests "$SRC/"
cp -a /usr/share/common-licenses "$SRC/licenses" 2>/dev/null || true
head -c $((16 << 20)) /dev/urandom > "$SRC/random.bin"
files=$(find "$SRC" -type f | wc -l)
bytes=$(du -sb "$SRC" | cut -f1)

checksums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

step "copying $files files ($((bytes >> 20)) MiB) into the mount"
start=$(date +%s.%N)
cp -a "$SRC" "$MNT/tree"
sync -f "$MNT/tree/random.bin"
end=$(date +%s.%N)
echo "copied in $(echo "$end - $start" | bc 2>/dev/null || echo "?") s"

step "remounting, so that what is read back comes from the server"
"$NETFS" umount "$MNT"
"$NETFS" mount "9p://127.0.0.1:$PORT$EXPORT" "$MNT" -o log="$WORK/netfs.log"

step "reading it back and comparing checksums"
checksums "$SRC" > "$WORK/want.sha"
checksums "$MNT/tree" > "$WORK/mount.sha"
checksums "$EXPORT/tree" > "$WORK/server.sha"
cmp "$WORK/want.sha" "$WORK/mount.sha" && echo "mount:  $files files match"
cmp "$WORK/want.sha" "$WORK/server.sha" && echo "server: $files files match"
diff -r "$SRC" "$MNT/tree" && echo "diff -r: identical"

step "rename, mkdir, truncate through the mount"
mv "$MNT/tree/src" "$MNT/tree/src-renamed"
mkdir "$MNT/newdir"
truncate -s 1000 "$MNT/tree/random.bin"
[ "$(stat -c %s "$EXPORT/tree/random.bin")" = 1000 ] && echo "truncate reached the server"
[ -d "$EXPORT/tree/src-renamed" ] && echo "rename reached the server"
cmp <(head -c 1000 "$SRC/random.bin") "$MNT/tree/random.bin" && echo "truncated file reads back right"

step "netfs stats $MNT"
"$NETFS" stats "$MNT"

step "netfs umount $MNT"
"$NETFS" umount "$MNT"
mountpoint -q "$MNT" && { echo "still mounted"; exit 1; }
echo "unmounted"

step "stopping diod (pid $DIOD_PID)"
kill "$DIOD_PID"
wait "$DIOD_PID" 2>/dev/null || true
DIOD_PID=""
echo
echo "demo: OK"
