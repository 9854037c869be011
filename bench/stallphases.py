#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# stallphases.py TRACE LOG: joins crashtest bench's CT_STALL_TRACE file
# (kill and reply times) with the daemon's debug "stall phases" lines, in
# order, and prints p50/p99/max of each phase (ms from the previous mark),
# and for the worker's phases the median of its CPU time in the phase (ms,
# all its threads): a phase whose CPU is its wall time waited for nothing.
import re, sys

kills = [tuple(int(x) for x in l.split()[1::2]) for l in open(sys.argv[1])]
lines = []
for l in open(sys.argv[2], errors="replace"):
    m = re.search(r"stall phases:(.*)", l)
    if m:
        lines.append(dict((k, int(v)) for k, v in
                          (kv.split("=") for kv in m.group(1).split())))
order = ["noticed", "mm", "clone", "start", "caps", "sandbox", "region",
         "redo", "rings", "session", "device", "rthread", "mem", "uring",
         "queues", "started", "push"]
rows = {}
cpu = {}
# Each recovery line follows its kill; join each kill with the first line
# whose keeper "noticed" mark lies between the kill and the reply.
j = 0
for (tk, tr) in kills:
    while j < len(lines) and lines[j]["noticed"] < tk:
        j += 1
    if j >= len(lines) or lines[j]["noticed"] > tr:
        continue
    ph = lines[j]
    prev = tk
    for name in order:
        v = ph.get(name, 0)
        if v == 0:
            continue
        rows.setdefault(name, []).append((v - prev) / 1e6)
        prev = v
    rows.setdefault("reply", []).append((tr - prev) / 1e6)
    pc = 0
    for name in order:
        # Marks of other threads may come out of order: no figure then.
        if ("c_" + name) in ph and ph.get(name, 0):
            if ph["c_" + name] >= pc:
                cpu.setdefault(name, []).append((ph["c_" + name] - pc) / 1e3)
            pc = ph["c_" + name]
    rows.setdefault("TOTAL", []).append((tr - tk) / 1e6)
    j += 1

def pct(a, p):
    a = sorted(a)
    return a[min(len(a) - 1, int(len(a) * p))]

print("%-9s %5s %8s %8s %8s %8s" % ("phase", "n", "p50_ms", "p99_ms",
      "max_ms", "cpu_ms"))
for name in order + ["reply", "TOTAL"]:
    if name in rows:
        a = rows[name]
        extra = ""
        if name in cpu:
            extra = " %8.3f" % pct(cpu[name], .5)
        print("%-9s %5d %8.3f %8.3f %8.3f%s" % (name, len(a), pct(a, .5),
              pct(a, .99), max(a), extra))
