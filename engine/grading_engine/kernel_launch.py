"""Start a grading kernel in its box: the boxed kernelspec's command (see ``sandbox.py``), run by the grader.

Run with the grader's rights (``python -I``: nothing from the submission's folder is importable here, and this file
imports only the standard library). It gives the kernel a copy of the connection file in its home, sends the
kernel's standard output and error to this grading's log file (never the grader's own streams), caps the size of
any file it writes, then runs the command after ``--``: ``setpriv`` becoming the grading's own uid (as root: no
supplementary groups, no capabilities, ``no_new_privs``, so no setuid program gives root back), bubblewrap's box
where one can be made, then the kernel.

Where no box can be made and grading runs as root with ``CAP_SYS_ADMIN``, this file makes what it can itself, in a
mount namespace of the kernel's own: paths given with ``--hide`` are covered (a folder by an empty read-only one, a
file by /dev/null), and with ``--private-tmp`` the kernel's temporary folders (/tmp, /var/tmp, /dev/shm, /run/lock)
are empty ones of its own, with only the ``--keep`` paths in them.
"""

import argparse
import ctypes
import os
import resource
import shutil
import sys
import tempfile

CLONE_NEWNS, MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 0x00020000, 1, 2, 4, 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
"""The folders every user may write: where one notebook could leave something for another."""


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None, what: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    encoded = [x.encode() if x is not None else None for x in (source, target, fstype, data)]
    if libc.mount(encoded[0], encoded[1], encoded[2], flags, encoded[3]) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"could not set up the kernel's view of the files ({what}): {os.strerror(errno)}")


def own_mount_namespace() -> None:
    """Mounts made from now on are this process's and its children's only."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"could not make a mount namespace for the kernel: {os.strerror(errno)}")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None, "private mounts")  # nothing leaks to the host


def hide(paths: list[str]) -> None:
    """Cover each path (a folder by an empty read-only one, a file by /dev/null); raise if any stays visible."""
    for path in paths:
        if os.path.isdir(path):
            _mount("none", path, "tmpfs", MS_RDONLY, "size=4k,mode=0555", path)
        else:
            _mount("/dev/null", path, None, MS_BIND, None, path)  # reads as empty


def private_scratch(keep: list[str], size_mb: int) -> None:
    """Replace each of :data:`SCRATCH` by an empty tmpfs of ``size_mb``, the ``keep`` paths under it bound in.

    The new folder is made beside the old contents, then moved over them in one step, so the kernel never sees
    a half-made one; the empty folder that staged it is removed from the old one, which the host still sees.
    """
    scratches = list(dict.fromkeys(os.path.realpath(s) for s in SCRATCH if os.path.isdir(s)))
    kept: list[str] = []
    for path in sorted({os.path.abspath(p) for p in keep if os.path.exists(p)} - {"/", *scratches}):
        if not any(os.path.commonpath([path, k]) == k for k in kept):  # not inside one already kept
            kept.append(path)
    for scratch in scratches:
        staging = tempfile.mkdtemp(prefix="kit-scratch-", dir=scratch)
        old = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size_mb}m", scratch)
            for path in kept:
                if os.path.commonpath([path, scratch]) != scratch:
                    continue
                target = os.path.join(staging, os.path.relpath(path, scratch))
                os.makedirs(target if os.path.isdir(path) else os.path.dirname(target), exist_ok=True)
                if not os.path.isdir(path):
                    open(target, "a").close()
                _mount(path, target, None, MS_BIND | MS_REC, None, path)
            _mount(staging, scratch, None, MS_MOVE, None, scratch)
        except BaseException:
            ctypes.CDLL(None, use_errno=True).umount2(staging.encode(), MNT_DETACH)  # so that it can be removed
            raise
        finally:
            os.rmdir(os.path.basename(staging), dir_fd=old)  # in the covered folder: the host's view
            os.close(old)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--max-file-mb", type=int, required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--connection-file", required=True)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--private-tmp", action="store_true")
    parser.add_argument("--keep", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    # the connection file (its key) lives in the grader's private runtime folder: the kernel gets its own copy, in
    # its home, which only it (and the grader) may open
    connection = os.path.join(args.home, "kernel-connection.json")
    shutil.copyfile(args.connection_file, connection)
    os.chmod(connection, 0o600)
    if args.uid is not None:
        for folder, dirs, files in os.walk(args.home):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                os.lchown(name, args.uid, args.gid)
    # never the grader's own streams: what the kernel prints goes to a file of this grading, capped below
    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    for stream in (1, 2):
        os.dup2(log, stream)
    os.close(log)
    if args.hide or args.private_tmp:  # no box could be made: what a mount namespace of its own gives
        own_mount_namespace()
        hide(args.hide)
    if args.private_tmp:
        private_scratch([*args.keep, os.getcwd()], 2 * args.max_file_mb)
        os.chdir(os.getcwd())  # the working folder as the new view shows it
    limit = args.max_file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # one runaway file cannot fill the disk alone

    # jupyter_client has put the original file's path in the command (after "--"): point it at the copy. The
    # command is the kernel's, behind setpriv (becoming the kernel's uid) and bubblewrap (the box) where they apply.
    command = [connection if part == args.connection_file else part for part in args.command[1:]]
    user = f"kit-grading-{args.uid}" if args.uid is not None else os.environ.get("USER", "kit")
    env = {**os.environ, "HOME": args.home, "IPYTHONDIR": os.path.join(args.home, ".ipython"), "USER": user, "LOGNAME": user}
    # ipykernel would poll for its parent and, in a box, find the box's first process (pid 1) and exit: the grader
    # ends the box itself (bubblewrap's --die-with-parent, the grading's sweep)
    env.pop("JPY_PARENT_PID", None)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main())
