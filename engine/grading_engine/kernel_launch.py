"""Start a grading kernel without the grader's rights: the sandboxed kernelspec's command (see ``sandbox.py``).

Run as root by the grading process (``python -I``: nothing from the submission's folder is importable here,
and this file imports only the standard library). It gives the kernel a home folder of its own with a copy
of the connection file, then becomes the kernel through util-linux's ``setpriv``: the kernel user and group,
no supplementary groups, no capabilities, ``no_new_privs`` (no setuid program can give root back), and a
cap on the size of any file it writes. Paths given with ``--hide`` (data the lesson holds back that an installed
package ships) are covered, in a mount namespace of the kernel's own: a folder by an empty read-only one, a file
by /dev/null.
"""

import argparse
import ctypes
import os
import resource
import shutil
import sys

CLONE_NEWNS, MS_RDONLY, MS_BIND, MS_REC, MS_PRIVATE = 0x00020000, 1, 4096, 16384, 1 << 18


def hide(paths: list[str]) -> None:
    """Cover each path for this process and its children only; raise if any stays visible."""
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"could not hide the lesson's held-back data from the notebook ({what}): {os.strerror(errno)}")

    check(libc.unshare(CLONE_NEWNS), "unshare")
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")  # nothing leaks to the host
    for path in paths:
        if os.path.isdir(path):
            check(libc.mount(b"none", path.encode(), b"tmpfs", MS_RDONLY, b"size=4k,mode=0555"), path)
        else:
            check(libc.mount(b"/dev/null", path.encode(), None, MS_BIND, None), path)  # reads as empty


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--uid", "--gid", "--max-file-mb"):
        parser.add_argument(option, type=int, required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--setpriv", required=True)
    parser.add_argument("--connection-file", required=True)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    # the connection file lives in the grader's private runtime folder: the kernel gets its own copy
    connection = os.path.join(args.home, "kernel-connection.json")
    shutil.copyfile(args.connection_file, connection)
    for folder, dirs, files in os.walk(args.home):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, args.uid, args.gid)
    if args.hide:
        hide(args.hide)
    limit = args.max_file_mb * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # one runaway file cannot fill the disk alone

    # jupyter_client has put the original file's path in the command (after "--"): point it at the copy
    command = [connection if part == args.connection_file else part for part in args.command[1:]]
    env = {**os.environ, "HOME": args.home, "IPYTHONDIR": os.path.join(args.home, ".ipython")}
    os.execve(
        args.setpriv,
        [args.setpriv, f"--reuid={args.uid}", f"--regid={args.gid}", "--clear-groups", "--no-new-privs",
         "--inh-caps=-all", "--bounding-set=-all", "--", *command],
        env,
    )


if __name__ == "__main__":
    sys.exit(main())
