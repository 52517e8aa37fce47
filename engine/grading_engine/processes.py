"""Processes' bounds: the grading process's memory and clock, the kernel's start-up caps, and what the notebook
leaves running."""

from __future__ import annotations

import ctypes
import os
import signal
import time

GRADER_HEADROOM_MB = 768
"""What the grading process may map, beyond what it maps when the notebook has run, to read, rebuild and measure the
graded networks (the largest description the caps allow needs about 450 MB; the 8x1024 network, 150 MB)."""


def cap_own_memory(headroom_mb: int = GRADER_HEADROOM_MB) -> None:
    """Cap this process's address space at what it maps now plus ``headroom_mb``: past it an allocation fails in the
    grading code, which says so in the results, instead of the container's OOM killer ending the grading with none."""
    import resource

    with open("/proc/self/status") as f:
        mapped = int(next(line for line in f if line.startswith("VmSize:")).split()[1]) * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + headroom_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def process_age_s() -> float:
    """How long this process has run (from ``/proc``; 0 where it cannot tell): the whole grading's clock."""
    try:
        with open("/proc/self/stat") as f:
            started_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def start_watchdog(deadline: float, on_timeout) -> None:
    """Call ``on_timeout()`` at ``deadline`` (``time.monotonic()``) unless the process has ended: the whole grading's
    budget, for whatever no other limit bounds (a hang in otter itself, an assessment that never ends)."""
    import threading

    def watch() -> None:
        time.sleep(max(0.0, deadline - time.monotonic()))
        on_timeout()

    threading.Thread(target=watch, name="grading-watchdog", daemon=True).start()


_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> bool:
    """Become the parent of every process the kernel leaves orphaned (Linux), so none can escape cleanup.

    Returns:
        Whether the operating system supports it.
    """
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_descendants() -> int:
    """SIGKILL every process descended from this one (a notebook's background jobs); return how many."""
    children: dict[int, list[int]] = {}
    zombies = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # the command name (field 2) may hold spaces and parentheses: split after its last ")"
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(int(ppid), []).append(int(entry))
        if state == "Z":
            zombies.add(int(entry))
    killed, todo = 0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        if pid in zombies:  # already dead (a box's first process, adopted when the box ended): only reaped
            if pid in children.get(os.getpid(), []):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
        killed += 1
    return killed


def memory_limit_startup(limit_mb: int) -> str:
    """Kernel start-up code that caps its address space: an allocation past it raises MemoryError.

    A capped allocation fails inside the cell that made it (graded like any exception) instead of
    the container running out of memory and killing the grader with no results at all.
    """
    limit = int(limit_mb) * 1024 * 1024
    return f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"


_PR_SET_DUMPABLE = 4


def private_memory_startup() -> str:
    """Kernel start-up code that keeps other processes of the kernel's user out of its memory and environment.

    Gradings side by side on one machine run their kernels as the same user, which may otherwise inspect another
    (``/proc/PID/mem``, ptrace) and copy a classmate's trained network out of it. A process that is not dumpable
    can be inspected only by root.
    """
    return f"import ctypes\nctypes.CDLL(None).prctl({_PR_SET_DUMPABLE}, 0, 0, 0, 0)\ndel ctypes\n"
