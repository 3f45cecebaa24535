#!/usr/bin/env python3
"""Helpers for bench/compare/run.sh (standard library only).

  compare.py cpu PID...              CPU seconds of the process trees rooted at PIDs
  compare.py pids-of PATH            PIDs whose command line names PATH (FUSE daemons)
  compare.py meta create|stat|unlink DIR N
                                     the metadata phase: N files of 4 KiB in DIR; prints
                                     "files seconds"
  compare.py fio JSON                "bytes seconds iops" of a fio --output-format=json run
  compare.py report TSV META         the Markdown table of a run
"""
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    rest = s[s.rindex(")") + 2:].split()
    ppid = int(rest[1])
    # utime stime cutime cstime are fields 14-17 (1-based), i.e. rest[11:15].
    ticks = sum(int(x) for x in rest[11:15])
    return ppid, ticks


def tree_ticks(roots):
    """utime+stime+cutime+cstime summed over every live process in the trees at roots.

    A child that exits and is reaped moves its whole time into its parent's cutime/cstime,
    so the difference of two sums counts it exactly once."""
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                procs[int(d)] = st
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo, total = set(), [int(r) for r in roots], 0
    while todo:
        p = todo.pop()
        if p in seen or p not in procs:
            continue
        seen.add(p)
        total += procs[p][1]
        todo.extend(children.get(p, []))
    return total


def cmd_cpu(args):
    print(f"{tree_ticks(args) / TICK:.2f}")


def cmd_pids_of(args):
    path = os.path.realpath(args[0])
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.decode(errors="replace") in (path, path + "/") for a in argv):
            out.append(d)
    print(" ".join(out))


def cmd_meta(args):
    op, d, n = args[0], args[1], int(args[2])
    names = [os.path.join(d, f"f{i:05d}") for i in range(n)]
    block = os.urandom(4096)
    t0 = time.monotonic()
    if op == "create":
        os.makedirs(d, exist_ok=True)
        for p in names:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, block)
            os.close(fd)
    elif op == "stat":
        for p in names:
            if os.stat(p).st_size != 4096:
                sys.exit(f"{p}: size is not 4096")
    elif op == "unlink":
        for p in names:
            os.unlink(p)
        t1 = time.monotonic()
        try:
            os.rmdir(d)  # not timed; rclone may still list names it is deleting remotely
        except OSError:
            pass
        print(f"{n} {t1 - t0:.6f}")
        return
    else:
        sys.exit(f"meta: unknown op {op}")
    print(f"{n} {time.monotonic() - t0:.6f}")


def cmd_fio(args):
    with open(args[0]) as f:
        text = f.read()
    # fio may print warnings before the JSON object.
    j = json.loads(text[text.index("{"):])
    job = j["jobs"][0]
    nbytes = job["read"]["io_bytes"] + job["write"]["io_bytes"]
    # job_runtime (ms) covers the whole job including end_fsync.
    secs = job.get("job_runtime", job["read"]["runtime"] + job["write"]["runtime"]) / 1000.0
    iops = job["read"]["iops"] + job["write"]["iops"]
    print(f"{nbytes} {secs:.6f} {iops:.1f}")


PHASES = [
    # key, label, unit, higher is better
    ("seqwrite", "sequential write 1 MiB + fsync", "MiB/s"),
    ("seqwrite_server", "  same, until the data is on the server", "MiB/s"),
    ("coldread", "sequential read 1 MiB, cold", "MiB/s"),
    ("warmread", "sequential read 1 MiB, warm", "MiB/s"),
    ("randread", "random read 4 KiB, warm", "MiB/s"),
    ("randwrite", "random write 4 KiB + fsync", "MiB/s"),
    ("randwrite_server", "  same, until the data is on the server", "MiB/s"),
    ("create", "create 4 KiB files", "files/s"),
    ("stat", "stat those files", "files/s"),
    ("unlink", "unlink those files", "files/s"),
]


def fmt(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}"


def cmd_report(args):
    rows = {}
    cpu = {}
    fss = []
    with open(args[0]) as f:
        for line in f:
            fs, phase, nbytes, secs, ops, cpus = line.split()
            if fs not in fss:
                fss.append(fs)
            nbytes, secs, ops, cpus = int(nbytes), float(secs), float(ops), float(cpus)
            if phase in ("create", "stat", "unlink"):
                rows[(fs, phase)] = ops / secs if secs > 0 else None
            else:
                rows[(fs, phase)] = nbytes / secs / 2**20 if secs > 0 else None
            cpu[(fs, phase)] = (nbytes, cpus, ops)
    with open(args[1]) as f:
        meta = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    out = []
    out.append(f"Run of {meta.get('date')}, commit {meta.get('commit')}, on {meta.get('host')} "
               f"({meta.get('cpus')} CPUs, load average {meta.get('load_before')} before, "
               f"{meta.get('load_after')} after; the machine is shared and other work was "
               f"running). Sizes: sequential {meta.get('seq_mib')} MiB, random "
               f"{meta.get('rand_mib')} MiB, {meta.get('files')} files. Exports in "
               f"{meta.get('workdir_fs')}. {meta.get('versions')}.")
    out.append("")
    has = [fs for fs in fss]
    hdr = "| phase | unit | " + " | ".join(has)
    if "netfs" in has:
        hdr += " | netfs / sshfs | netfs / rclone | netfs / bindfs"
    out.append(hdr + " |")
    out.append("|" + "---|" * (hdr.count("|")))
    for key, label, unit in PHASES:
        if not any((fs, key) in rows for fs in has):
            continue
        vals = [rows.get((fs, key)) for fs in has]
        line = f"| {label} | {unit} | " + " | ".join(fmt(v) for v in vals)
        if "netfs" in has:
            n = rows.get(("netfs", key))
            # A "... until on the server" row compares with the others' server figure when
            # they have one (rclone), otherwise with their fsync figure (it is on the server).
            def other(fs):
                return rows.get((fs, key), rows.get((fs, key.replace("_server", ""))))
            line += f" | {ratio(n, other('sshfs'))} | {ratio(n, other('rclone'))} | {ratio(n, other('bindfs'))}"
        out.append(line + " |")
    # CPU per GiB over the data phases.
    out.append("")
    out.append("CPU seconds used by each filesystem's processes (netfs: diod + netfs daemon; sshfs: "
               "sshd + sftp-server + sshfs + ssh; rclone: sshd + sftp-server + rclone; bindfs: bindfs), "
               "from /proc/PID/stat utime+stime (children included) before and after each phase:")
    out.append("")
    hdr = "| phase | " + " | ".join(f"{fs} CPU s/GiB" for fs in has)
    if "netfs" in has and "sshfs" in has:
        hdr += " | netfs / sshfs"
    out.append(hdr + " |")
    out.append("|" + "---|" * hdr.count("|"))
    tot = {fs: [0, 0.0] for fs in has}
    for key, label, unit in PHASES:
        if key in ("create", "stat", "unlink") or key.endswith("_server"):
            continue
        vals = []
        for fs in has:
            c = cpu.get((fs, key))
            if c is None or c[0] == 0:
                vals.append(None)
                continue
            nb, cs = c[0], c[1]
            # rclone uploads after fsync: its upload CPU belongs to the write phase.
            up = cpu.get((fs, key + "_server"))
            if up:
                cs += up[1]
            tot[fs][0] += nb
            tot[fs][1] += cs
            vals.append(cs / (nb / 2**30))
        line = f"| {label} | " + " | ".join(fmt(v) for v in vals)
        if "netfs" in has and "sshfs" in has:
            line += f" | {ratio(vals[has.index('netfs')], vals[has.index('sshfs')])}"
        out.append(line + " |")
    vals = [tot[fs][1] / (tot[fs][0] / 2**30) if tot[fs][0] else None for fs in has]
    line = "| **all data phases** | " + " | ".join(fmt(v) for v in vals)
    if "netfs" in has and "sshfs" in has:
        line += f" | {ratio(vals[has.index('netfs')], vals[has.index('sshfs')])}"
    out.append(line + " |")
    mvals = []
    for fs in has:
        cs = sum(cpu[(fs, k)][1] for k in ("create", "stat", "unlink") if (fs, k) in cpu)
        n = sum(cpu[(fs, k)][2] for k in ("create", "stat", "unlink") if (fs, k) in cpu)
        mvals.append(cs * 1000 / n if n else None)
    out.append("| metadata phases, CPU ms per file operation | " + " | ".join(fmt(v) for v in mvals)
               + (f" | {ratio(mvals[has.index('netfs')], mvals[has.index('sshfs')])}" if "netfs" in has and "sshfs" in has else "")
               + " |")
    print("\n".join(out))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"cpu": cmd_cpu, "pids-of": cmd_pids_of, "meta": cmd_meta, "fio": cmd_fio,
     "report": cmd_report}[cmd](args)


if __name__ == "__main__":
    main()
