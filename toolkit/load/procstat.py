"""A local process tree as Linux's /proc shows it: its processes, their memory and CPU time.

Every reading is of the tree as it is at that moment; a process that ends meanwhile (or any
/proc file that cannot be read) is left out rather than raised.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["cpu_seconds", "process_tree", "rss_mb"]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
            todo += [int(c) for c in children.split()]
    return pids


def rss_mb(pid: int) -> dict[int, float]:
    """The resident set (VmRSS, in MB) of each process of the tree that has one."""
    sizes = {}
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[p] = int(line.split()[1]) / 1024
    return sizes


def cpu_seconds(pid: int) -> float:
    """User and system CPU time, in seconds, spent so far by the processes of the tree."""
    ticks = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, IndexError):
            # After the command name, which may hold spaces: utime and stime are fields 14-15.
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
