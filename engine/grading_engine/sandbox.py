"""Run the grading kernel without the grader's rights, used by ``otter_plugins.GuardedGrading``.

Where grading runs as root (Gradescope's autograder, the tests, ``make grade`` as root), the student's
kernel runs as a dedicated unprivileged user (:data:`KERNEL_USER`), started through a kernelspec of its own
whose command is ``kernel_launch.py``: no supplementary groups, no capabilities, ``no_new_privs``. So the
kernel cannot write the Python environment, the kit, the autograder's ``source/`` or ``results/``, cannot
read the autograder's configuration (the held-out seeds) or the grading process's memory and environment,
and cannot signal the grading process. Its working folders (the submission folder, where otter runs the
notebook, and a home folder) are its own; the one file the grader reads from it afterwards (the graded
networks' descriptions) sits in a folder only root can write and is read without following links.

Grading as an ordinary user cannot switch users: the kernel then runs with that user's rights, and
:func:`prepare` says so plainly before grading.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

KERNEL_USER = "kit-kernel"
"""The unprivileged user (and group) the kernel runs as; grading as root creates it (:func:`prepare_image`)."""
KERNELSPEC = "kit-sandboxed-python3"
MAX_FILE_MB = 256
"""The largest file the kernel may write (RLIMIT_FSIZE)."""


class SandboxError(RuntimeError):
    """The kernel cannot be started without the grader's rights here; grading must not go on."""


@dataclass
class Sandbox:
    """How this grading's kernel runs: ``uid``/``gid`` of the kernel user, or None when rights cannot drop.

    ``folder`` is this grading's own (root's, others may only traverse it): the kernel's home, the files the
    kernel hands back (:func:`kernel_writable_file`) and the kernelspec. It goes when the grading process
    exits: the next notebook graded on this machine runs as the same user and could read what was left.
    """

    folder: pathlib.Path
    uid: int | None = None
    gid: int | None = None
    private_tmp: bool = False
    """Whether the kernel gets temporary folders of its own (``kernel_launch.py --private-tmp``)."""

    @property
    def home(self) -> pathlib.Path:
        return self.folder / "home"

    @property
    def drops_privileges(self) -> bool:
        return self.uid is not None


_current: Sandbox | None = None


def current() -> Sandbox:
    """This grading's sandbox (one submission per grading process); its folder is made on first use."""
    global _current
    if _current is None:
        folder = pathlib.Path(tempfile.mkdtemp(prefix="kit-grading-"))
        atexit.register(shutil.rmtree, folder, True)
        folder.chmod(0o711)
        (folder / "home").mkdir()
        _current = Sandbox(folder)
    return _current


def ensure_kernel_user() -> tuple[int, int]:
    """The kernel user's uid and gid, creating the user (a system account without a shell) if needed."""
    import grp
    import pwd

    try:
        user = pwd.getpwnam(KERNEL_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", KERNEL_USER],
            check=True,
        )  # fmt: skip
        user = pwd.getpwnam(KERNEL_USER)
    return user.pw_uid, grp.getgrnam(KERNEL_USER).gr_gid


def make_reachable(*paths: pathlib.Path) -> None:
    """Let other users traverse every folder above ``paths`` (o+x, not o+r: nothing becomes listable).

    Python installations often sit under a private ``/root`` (pyenv here, miniforge in Gradescope's image);
    the kernel user must be able to start that interpreter and read the environment, never write it.
    """
    for path in paths:
        for folder in [path, *path.parents] if path.is_dir() else list(path.parents):
            mode = folder.stat().st_mode
            if not mode & 0o001:
                folder.chmod(mode | 0o001)


def prepare_image() -> tuple[int, int]:
    """What the grading image needs (each grading as root runs it; idempotent, so an image may run it once ahead): the
    kernel user, and this Python environment reachable by it. Returns the kernel user's uid and gid."""
    ids = ensure_kernel_user()
    make_reachable(pathlib.Path(sys.executable).resolve(), pathlib.Path(sys.prefix), pathlib.Path(sys.base_prefix))
    return ids


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
    return found


def prepare(autograder_dir: pathlib.Path, submission_dir: pathlib.Path, hidden: list[pathlib.Path] = ()) -> Sandbox:
    """Set up this grading's kernel to run without the grader's rights, before the kernel starts.

    ``hidden``: paths the kernel sees empty (``kernel_launch.py`` mounts over them in a mount namespace of its own).

    Raises:
        SandboxError: grading runs as root but the kernel's rights cannot be dropped (no ``setpriv``), or
            there are paths to hide and the kernel cannot be given a view without them (not root).
    """
    sandbox = current()
    if hidden and os.geteuid() != 0:
        raise SandboxError(
            f"{', '.join(map(str, hidden))} must be hidden from the notebook, which only grading as root can do: "
            "nothing is graded. Grade as root (or on Gradescope), or uninstall the package that holds it."
        )
    if os.geteuid() != 0:
        print(
            "[autograder] NOTE: grading as an ordinary user: the notebooks run with your own rights "
            "(they can read and write what you can). Grade as root, or on Gradescope, to run them as an "
            f"unprivileged user ({KERNEL_USER}).",
            file=sys.stderr,
            flush=True,
        )
        return sandbox
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxError("setpriv (util-linux) is not installed: the kernel would run as root, so nothing is graded")
    # a mount namespace of the kernel's own: temporary folders it shares with no other grading, paths hidden
    sandbox.private_tmp = subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0
    if hidden and not sandbox.private_tmp:
        # kernel_launch.py would fail to start the kernel: say why here, where it reaches results.json
        raise SandboxError(
            f"{', '.join(map(str, hidden))} must be hidden from the notebook, and this machine cannot make a mount "
            "namespace (no CAP_SYS_ADMIN): nothing is graded. Leave the package that holds it out of the grading image."
        )
    if not sandbox.private_tmp:  # harmless on Gradescope (one submission per container), not in a local batch
        print(
            "[autograder] NOTE: this machine cannot give the kernel a mount namespace: notebooks graded here "
            "at the same time share /tmp.",
            file=sys.stderr,
            flush=True,
        )
    sandbox.uid, sandbox.gid = prepare_image()
    kit = pathlib.Path(__file__).resolve().parent
    make_reachable(submission_dir)
    for private in (autograder_dir / "source", autograder_dir / "results"):
        if private.is_dir():
            private.chmod(0o700)  # the configuration (held-out seeds), the tests, the results: root only
    for folder, dirs, files in os.walk(submission_dir):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, sandbox.uid, sandbox.gid)  # the notebook's working folder is the kernel's own

    specs = sandbox.folder / "kernelspec"
    spec = specs / "kernels" / KERNELSPEC
    spec.mkdir(parents=True, exist_ok=True)  # several gradings in one process (otter assign's check)
    specs.chmod(0o700)
    private_tmp = ["--private-tmp", *(f"--keep={path}" for path in kernel_needs(submission_dir))] if sandbox.private_tmp else []
    argv = [
        sys.executable, "-I", str(kit / "kernel_launch.py"),
        "--uid", str(sandbox.uid), "--gid", str(sandbox.gid), "--home", str(sandbox.home),
        "--max-file-mb", str(MAX_FILE_MB), "--setpriv", setpriv, "--connection-file", "{connection_file}",
        *(f"--hide={path}" for path in hidden), *private_tmp,
        # no input history on disk: a notebook graded beside this one runs as the same user
        "--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--HistoryManager.enabled=False",
    ]  # fmt: skip
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (sandboxed)", "language": "python"}))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(specs), os.environ.get("JUPYTER_PATH")]))
    return sandbox


def kernel_needs(submission_dir: pathlib.Path) -> list[str]:
    """The paths the kernel must still reach when its temporary folders are its own (``--private-tmp``): its
    working folder, this grading's folder, and the Python it runs (which may itself live under /tmp)."""
    paths = [current().folder, submission_dir, sys.prefix, sys.base_prefix, pathlib.Path(sys.executable).parent]
    return [str(path) for path in paths] + [entry for entry in sys.path if entry]


def kernel_writable_file(prefix: str) -> pathlib.Path:
    """A new empty file the kernel may write, in a folder only this process may change (no links swapped in)."""
    sandbox = current()
    handle, name = tempfile.mkstemp(prefix=prefix, dir=sandbox.folder)  # mode 0600
    os.close(handle)
    if sandbox.drops_privileges:
        os.chown(name, sandbox.uid, sandbox.gid)
    return pathlib.Path(name)


def read_kernel_file(path: pathlib.Path, max_bytes: int) -> bytes | None:
    """What the kernel wrote to ``path``, without following links; None if missing, not a file or too large."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        return f.read(max_bytes + 1)[:max_bytes]
