"""The bubblewrap box a grading's kernel runs in: what it sees of the machine, and who it runs as.

The box is Debian's bubblewrap (``bwrap``), an existing, audited sandbox that works both as root and as an ordinary
user (through unprivileged user namespaces). Its kernel sees the system and the Python environment read-only, its
working folder and its own folders read-write, nothing else; hidden paths are empty folders.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sandbox import Sandbox

SHM_MB = 64
"""The box's ``/dev/shm`` (memory: it counts against the container's limit); its other temporary folders are on disk."""
BWRAP_ENV = "KIT_BWRAP"
"""Names the bubblewrap to use (empty: none, to test what happens where no box can be made)."""
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""What the box shows read-only besides the Python environment (links, as on merged-/usr systems, stay links)."""


def make_reachable(*paths: pathlib.Path) -> None:
    """Let other users traverse every folder above ``paths`` (o+x, not o+r: nothing becomes listable).

    Python installations often sit under a private ``/root`` (pyenv here, miniforge in Gradescope's image);
    the kernel's uid must be able to start that interpreter and read the environment, never write it.
    """
    for path in paths:
        for folder in [path, *path.parents] if path.is_dir() else list(path.parents):
            mode = folder.stat().st_mode
            if not mode & 0o001:
                folder.chmod(mode | 0o001)


def python_paths() -> list[pathlib.Path]:
    """The folders of the Python that runs the kernel: the environment and the installation under it."""
    paths = [pathlib.Path(sys.prefix), pathlib.Path(sys.base_prefix), pathlib.Path(sys.executable).resolve().parent]
    paths += [p.resolve() for p in paths]
    return list(dict.fromkeys(p for p in paths if p.exists()))


def package_paths(hidden: tuple[str, ...]) -> list[pathlib.Path]:
    """The existing paths that ``package/path`` names (``Limits.hidden``) point to in this Python environment.

    The package is found without being imported; one that is not installed hides nothing.
    """
    import importlib.util

    found = []
    for name in hidden:
        package, _, inside = name.partition("/")
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            path = pathlib.Path(location, inside)
            if path.exists():
                found.append(path.resolve())
    return list(dict.fromkeys(found))


def shown_at(path: pathlib.Path, bound: list[pathlib.Path]) -> list[pathlib.Path]:
    """Every path at which the box shows ``path`` (a resolved one): itself, and its place under each bound folder
    that is a link to a folder above it (a virtual environment reached through a link). Each is bound from outside
    the box, so covering one leaves the others showing."""
    shown = [path]
    for alias in bound:
        real = alias.resolve()
        if real != alias and (real == path or real in path.parents):
            shown.append(alias / path.relative_to(real))
    return shown


def bubblewrap() -> str | None:
    """The bubblewrap to box kernels in: :data:`BWRAP_ENV` if set (empty: none), else ``bwrap`` on the PATH."""
    chosen = os.environ.get(BWRAP_ENV)
    return (chosen or None) if chosen is not None else shutil.which("bwrap")


def box_command(bwrap: str, sandbox: Sandbox, workdir: pathlib.Path, hidden: list[pathlib.Path]) -> list[str]:
    """The bubblewrap command line (up to its ``--``) that boxes this grading's kernel, working in ``workdir``."""
    args = [bwrap, "--unshare-all", "--die-with-parent"]
    for path in SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_MB * 2**20), "--tmpfs", "/dev/shm"]
    cpu = "/sys/devices/system/cpu"  # how many cores there are (torch, OpenBLAS); nothing else of /sys
    if os.path.isdir(cpu):
        args += ["--ro-bind", cpu, cpu]
    for name, path in (("tmp", "/tmp"), ("var-tmp", "/var/tmp")):  # on disk: a full /tmp must not eat memory
        args += ["--bind", str(sandbox.scratch / name), path]
    # after the temporary folders, which would cover a Python environment (or a grading folder) made under /tmp
    bound = [p for p in python_paths() if not any(p == pathlib.Path(s) or pathlib.Path(s) in p.parents for s in SYSTEM)]
    for path in bound:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(sandbox.folder), str(sandbox.folder), "--bind", str(workdir), str(workdir)]
    for path in dict.fromkeys(shown for real in hidden for shown in shown_at(real, bound)):
        if path.is_dir():
            args += ["--size", "4096", "--tmpfs", str(path), "--remount-ro", str(path)]
        else:
            args += ["--ro-bind", "/dev/null", str(path)]
    # the box's own root (where bubblewrap makes the mount points) read-only: it is memory, and only the folders
    # bound above may be written
    return [*args, "--remount-ro", "/", "--chdir", str(workdir)]


def as_kernel_user(sandbox: Sandbox, setpriv: str | None) -> list[str]:
    """The command prefix that becomes this grading's kernel uid (as root), or nothing (an ordinary user)."""
    if sandbox.uid is None:
        return []
    return [setpriv or "setpriv", f"--reuid={sandbox.uid}", f"--regid={sandbox.gid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--"]  # fmt: skip


def box_works(command: list[str]) -> tuple[bool, str]:
    """Whether ``command`` (a box, up to its ``--``) starts a process here, and what it said if not."""
    try:
        run = subprocess.run([*command, "--", "/bin/sh", "-c", "exit 0"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return False, str(e)
    return run.returncode == 0, run.stderr.strip()[-300:]
