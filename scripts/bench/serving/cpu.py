#!/usr/bin/env python3
"""CPU seconds used so far by named process trees, as one JSON object.

    cpu.py NAME=PID[,PID...] [NAME=PID...]      e.g.  cpu.py lathe=4242 redis=17

Each name's figure sums utime + stime + cutime + cstime (/proc/<pid>/stat) over every live
process whose ancestry reaches one of its PIDs; the c* fields keep the time of children
already reaped, so a worker that exits between two readings still counts. run.sh reads it
before and after a measured phase; the difference is what those servers spent on the phase.
"""

import json
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name (field 2) may hold spaces; the fields after it are fixed.
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), sum(int(x) for x in fields[11:15])  # ppid; utime stime cutime cstime


def main():
    parents, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid, t = stat(entry)
            except (OSError, ValueError):
                continue
            parents[int(entry)] = ppid
            ticks[int(entry)] = t
    groups = {}
    for arg in sys.argv[1:]:
        name, pids = arg.split("=", 1)
        groups[name] = {int(p) for p in pids.split(",") if p}
    totals = {name: 0 for name in groups}
    for pid, t in ticks.items():
        for name, roots in groups.items():
            p = pid
            while p > 1:
                if p in roots:
                    totals[name] += t
                    break
                p = parents.get(p, 0)
    print(json.dumps({name: round(v / TICK, 2) for name, v in totals.items()}))


if __name__ == "__main__":
    main()
