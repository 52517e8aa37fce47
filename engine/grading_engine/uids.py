"""A uid of its own for each grading's kernel where grading runs as root, and the sweep that ends its processes.

No account has these uids: no grading can signal, trace or read another's processes or files, and when the grading
ends every process of its uid is killed by ``kill(-1, SIGKILL)`` sent as that uid, until none is left.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import secrets
import signal
import tempfile
import time

KERNEL_UIDS = range(2_000_000_000, 2_000_000_000 + 2**16)
"""One uid per grading, drawn from this range and held (a lock) while the grading runs; no account has them."""


class SandboxError(RuntimeError):
    """The kernel cannot be fenced in here; grading must not go on."""


def allocate_uid() -> tuple[int, int]:
    """A uid (and a gid of the same number) that no other grading on this machine holds, and the open file that
    holds it: an ``flock`` on a file in a root-only folder, held until the file is closed (or this process exits)."""
    locks = pathlib.Path(tempfile.gettempdir()) / "kit-grading-uids"
    locks.mkdir(mode=0o700, exist_ok=True)
    info = locks.lstat()
    if info.st_uid != 0 or info.st_mode & 0o077 or not locks.is_dir() or locks.is_symlink():
        raise SandboxError(f"{locks} is not root's own folder: kernel uids cannot be handed out safely")
    start = secrets.randbelow(len(KERNEL_UIDS))
    for i in range(len(KERNEL_UIDS)):
        uid = KERNEL_UIDS[(start + i) % len(KERNEL_UIDS)]
        fd = os.open(locks / f"{uid}.lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return uid, fd
    raise SandboxError("every kernel uid is in use")


def processes_of(uid: int) -> list[int]:
    """The live processes (zombies aside) whose real, effective or saved uid is ``uid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except (OSError, ValueError):
            continue  # gone meanwhile
        if status.get("State", "").split()[:1] != ["Z"] and str(uid) in status.get("Uid", "").split()[:3]:
            found.append(int(entry))
    return found


def kill_every_process_of(uid: int, gid: int, timeout_s: float = 10.0) -> int:
    """SIGKILL every process of ``uid``, whatever it forks meanwhile; return how many there were.

    A child of this process becomes ``uid`` and sends ``kill(-1, SIGKILL)``: the kernel delivers it to every process
    of that uid in one pass that no fork can slip past (a killed process forks no more), so no fork chain outruns
    it. Sent at least once, then again until ``/proc`` shows none (a process takes a moment to die); between rounds
    this process reaps the zombies it adopted (``adopt_orphans``). The count is what a scan saw first (a chain of
    short-lived processes may not show in it).
    """
    if uid not in KERNEL_UIDS:  # kill(-1) as any other uid (root's above all) would reach what is not the grading's
        raise SandboxError(f"uid {uid} is not a kernel uid: its processes are not the grading's to stop")
    found = len(processes_of(uid))
    deadline = time.monotonic() + timeout_s
    while True:  # at least once: a scan of /proc can miss a chain whose processes live a millisecond each
        child = os.fork()
        if child == 0:  # only system calls here: this process may have other threads
            try:
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(child, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SandboxError(f"could not become uid {uid} to stop its processes")
        _reap_zombies()
        if not processes_of(uid):
            return found
        if time.monotonic() > deadline:
            raise SandboxError(f"processes of uid {uid} survived {timeout_s:.0f} s of SIGKILL")
        time.sleep(0.005)


def _reap_zombies() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
