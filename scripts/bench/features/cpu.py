#!/usr/bin/env python3
"""Prints the CPU seconds used so far by processes PID... and all their live descendants.

    cpu.py PID [PID...]

Sums utime + stime + cutime + cstime from /proc/<pid>/stat over each process tree (the c*
fields hold the time of children already reaped, so a worker that exits between two readings
is still counted). run.sh reads it before and after a measured window; the difference is the
server's CPU time during that window.
"""

import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = text[text.rindex(")") + 2:].split()
    ppid = int(fields[1])
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ppid, ticks


def main():
    parents = {}
    ticks = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid, t = stat(entry)
            except (OSError, ValueError):
                continue
            parents[int(entry)] = ppid
            ticks[int(entry)] = t
    roots = {int(p) for p in sys.argv[1:]}
    total = 0
    for pid in ticks:
        p = pid
        while p > 1:
            if p in roots:
                total += ticks[pid]
                break
            p = parents.get(p, 0)
    print(f"{total / TICK:.2f}")


if __name__ == "__main__":
    main()
