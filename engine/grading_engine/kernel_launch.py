"""Start a grading kernel without the grader's rights: the sandboxed kernelspec's command (see ``sandbox.py``).

Run as root by the grading process (``python -I``: nothing from the submission's folder is importable here,
and this file imports only the standard library). It gives the kernel a home folder of its own with a copy
of the connection file, then becomes the kernel through util-linux's ``setpriv``: the kernel user and group,
no supplementary groups, no capabilities, ``no_new_privs`` (no setuid program can give root back), and a
cap on the size of any file it writes.
"""

import argparse
import os
import resource
import shutil
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--uid", "--gid", "--max-file-mb"):
        parser.add_argument(option, type=int, required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--setpriv", required=True)
    parser.add_argument("--connection-file", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    # the connection file lives in the grader's private runtime folder: the kernel gets its own copy
    connection = os.path.join(args.home, "kernel-connection.json")
    shutil.copyfile(args.connection_file, connection)
    for folder, dirs, files in os.walk(args.home):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, args.uid, args.gid)
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
