"""A box per grading: the student's kernel, and everything it starts, apart from the grader, the machine and every
other grading, before, during and after its own. Used by ``otter_plugins.GuardedGrading``.

The box is Debian's bubblewrap (``bwrap``), an existing, audited sandbox that works both as root and as an ordinary
user (through unprivileged user namespaces), chosen over more namespace code of the kit's own. Its kernel sees:

- a process namespace of its own, which ends with its grading: whatever the notebook forks dies with the box's first
  process, with no scan to outrun (:meth:`Sandbox.end`);
- a network namespace of its own (no TCP to the grader, to otter's log server or to another kernel): the grader
  reaches the kernel over Unix sockets in a folder only this grading can open (``ipc``);
- the system and the Python environment read-only, its working folder and its own folders (home, temporary
  folders, sockets) read-write, and nothing else: no repository, no instructor's home, no other grading, no
  other assignment's files; data sets that packages ship (:data:`PACKAGED_DATA`) and the lesson's
  ``Limits.hidden`` covered by empty folders.

Where grading runs as root (Gradescope, the tests, ``make grade`` as root), each grading's kernel also gets a uid of
its own (:data:`KERNEL_UIDS`, no account has them): no grading can signal, trace or read another's processes or
files, and when the grading ends every process of that uid is killed by ``kill(-1, SIGKILL)`` sent as that uid, until
none is left (:func:`kill_every_process_of`). That is also the fallback where no box can be made (Gradescope's
container: no ``CAP_SYS_ADMIN``, and its seccomp profile may refuse user namespaces): one submission per container,
so the fresh uid and the sweep are what matter there. Then ``kernel_launch.py`` makes what it can itself (a mount
namespace for private temporary folders and hidden paths, where the machine allows one).

As an ordinary user (an instructor's laptop) the box is the only fence: the kernel runs with the user's uid inside
it. Where no box can be made there, nothing is graded unless the instructor says the notebooks are trusted
(:data:`TRUST_ENV`, ``--trust-notebooks``).
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
from dataclasses import dataclass, field

from .box import BWRAP_ENV, as_kernel_user, box_command, box_works, bubblewrap, make_reachable, package_paths, python_paths
from .uids import KERNEL_UIDS, SandboxError, allocate_uid, kill_every_process_of

__all__ = ["BWRAP_ENV", "KERNEL_UIDS", "KERNELSPEC", "PACKAGED_DATA", "TRUST_ENV", "Sandbox", "SandboxError", "file_tail",
           "kernel_writable_file", "package_paths", "prepare", "read_kernel_file"]  # fmt: skip

KERNELSPEC = "kit-sandboxed-python3"
MAX_FILE_MB = 256
"""The largest file the kernel may write (RLIMIT_FSIZE), its output log included."""
PACKAGED_DATA = ("sklearn/datasets/data", "sklearn/datasets/images", "sklearn/datasets/descr")
"""Data sets that installed packages ship, hidden from every kernel, whatever its assignment: one assignment's
held-out data must not be readable by a notebook of another, graded on the same machine (a lesson's own
``Limits.hidden`` adds to these)."""
KERNEL_ENV = {
    "OMP_NUM_THREADS": "1",  # torch's intra-op threads: the lessons' networks are tiny, a second thread only fights
    "MKL_NUM_THREADS": "1",  # the first for Gradescope's half a core
    "MPLBACKEND": "agg",  # draw nothing to the notebook's outputs: figures nobody sees cost seconds
    "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per thread otherwise; the kernel is capped
}
"""What the kernel's environment adds (its kernelspec's ``env``), besides its own IPython folder."""
TRUST_ENV = "KIT_TRUST_NOTEBOOKS"
"""Set to 1 by the instructor (``--trust-notebooks``): grade without a box where none can be made."""
"""The bubblewrap to use (default: ``bwrap`` on the PATH); empty: none, to test the fallback."""


@dataclass
class Sandbox:
    """This grading's box: its folder, and the kernel's uid/gid where grading runs as root (None otherwise).

    ``folder`` is this grading's own (the grader's, others may only traverse it): the kernel's home, its temporary
    folders and sockets, the files it hands back (:func:`kernel_writable_file`), its output log and the kernelspec.
    It goes when the grading process exits, after every process of the grading is gone.
    """

    folder: pathlib.Path
    uid: int | None = None
    gid: int | None = None
    box: list[str] = field(default_factory=list)
    """The bubblewrap command line the kernel runs in (empty: no box could be made)."""
    private_tmp: bool = False
    """Without a box: whether ``kernel_launch.py`` gives the kernel temporary folders of its own."""
    prepared: bool = False
    _uid_lock: int | None = None

    @property
    def home(self) -> pathlib.Path:
        return self.folder / "home"

    @property
    def ipython_dir(self) -> pathlib.Path:
        """The kernel's IPython folder: its start-up files (``add_startup``) are the grader's."""
        return self.home / ".ipython"

    @property
    def kernelspecs(self) -> pathlib.Path:
        """Where this grading's kernelspec is (``kernels/KERNELSPEC``): the grader's executor looks only there."""
        return self.folder / "kernelspec" / "kernels"

    def add_startup(self, name: str, source: str) -> None:
        """Have the kernel run ``source`` at start-up, before any cell (an IPython startup file)."""
        startup = self.ipython_dir / "profile_default" / "startup"
        startup.mkdir(parents=True, exist_ok=True)
        (startup / name).write_text(source)

    @property
    def ipc(self) -> pathlib.Path:
        """Where the kernel's sockets are (jupyter_client's ``ipc`` transport): only this grading can open them."""
        return self.folder / "ipc"

    @property
    def scratch(self) -> pathlib.Path:
        return self.folder / "scratch"

    @property
    def log(self) -> pathlib.Path:
        """What the kernel writes to its standard output and error (never the grader's own streams)."""
        return self.folder / "kernel.log"

    @property
    def drops_privileges(self) -> bool:
        return self.uid is not None

    def end(self) -> int:
        """Kill every process of this grading that is still running; return how many there were.

        As root: every process of the kernel's uid, whatever the notebook forked. Otherwise the box's first process
        is the grading process's descendant, and its process namespace dies with it (``kill_descendants``).
        """
        return kill_every_process_of(self.uid, self.gid) if self.uid is not None else 0

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The end of what the kernel printed (bounded: a notebook may print gigabytes)."""
        return file_tail(self.log, max_bytes)


def file_tail(path: pathlib.Path, max_bytes: int) -> str:
    """The last ``max_bytes`` of a file, as text ("" if it cannot be read): a log may be far larger than memory."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - max_bytes))
            return f.read(max_bytes).decode(errors="replace")
    except OSError:
        return ""


def new_sandbox() -> Sandbox:
    """A sandbox with a folder of its own, which goes when this process exits, after every process of the grading."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="kit-grading-"))
    atexit.register(shutil.rmtree, folder, True)
    folder.chmod(0o711)
    sandbox = Sandbox(folder)
    atexit.register(sandbox.end)  # runs before the folder goes (atexit is last in, first out)
    return sandbox


def _note(text: str) -> None:
    print(f"[autograder] NOTE: {text}", file=sys.stderr, flush=True)


def prepare(autograder_dir: pathlib.Path, submission_dir: pathlib.Path, hidden: list[pathlib.Path] = ()) -> Sandbox:
    """Set up this grading's box before the kernel starts, and the kernelspec that starts the kernel in it.

    ``hidden``: paths the kernel sees empty.

    Raises:
        SandboxError: the kernel cannot be fenced in here (as root: no ``setpriv``; as an ordinary user: no box and
            the notebooks not declared trusted), or there are paths to hide and no way to hide them.
    """
    sandbox = new_sandbox()
    root = os.geteuid() == 0
    setpriv = shutil.which("setpriv")
    if root and setpriv is None:
        raise SandboxError("setpriv (util-linux) is not installed: the kernel would run as root, so nothing is graded")
    if root:
        sandbox.uid, sandbox._uid_lock = allocate_uid()
        sandbox.gid = sandbox.uid
        sandbox.end()  # whatever a grading that crashed with this uid left behind
        make_reachable(*python_paths(), submission_dir)
        for private in (autograder_dir / "source", autograder_dir / "results"):
            if private.is_dir():
                private.chmod(0o700)  # the configuration (held-out seeds), the tests, the results: root only
    for folder in (sandbox.home, sandbox.ipc, sandbox.scratch, sandbox.scratch / "tmp", sandbox.scratch / "var-tmp"):
        folder.mkdir(mode=0o700, exist_ok=True)
    if root:
        for top in (sandbox.home, sandbox.ipc, sandbox.scratch, submission_dir):  # the kernel's own
            for folder, dirs, files in os.walk(top):
                for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                    os.lchown(name, sandbox.uid, sandbox.gid)

    bwrap = bubblewrap()
    if bwrap:
        box = box_command(bwrap, sandbox, submission_dir, hidden)
        works, why = box_works(as_kernel_user(sandbox, setpriv) + box)
        sandbox.box = box if works else []
        if not works:
            _note(f"bubblewrap could not make a box here ({why or 'no reason given'}).")
    if not sandbox.box:
        _without_box(sandbox, root, hidden)
    _write_kernelspec(sandbox, submission_dir, hidden, setpriv)
    sandbox.prepared = True
    return sandbox


def _without_box(sandbox: Sandbox, root: bool, hidden: list[pathlib.Path]) -> None:
    """Decide what fences a kernel where no box can be made, or refuse to grade."""
    where = "this machine cannot make a box (no bubblewrap, or user namespaces refused)"
    if not root:
        if os.environ.get(TRUST_ENV) != "1":
            raise SandboxError(
                f"{where}, and grading as an ordinary user would run each notebook with your own rights (your files, "
                "your Python environment). Nothing is graded. Install bubblewrap (apt-get install bubblewrap) and allow "
                "user namespaces, grade as root, or, if you trust every notebook in the folder, pass --trust-notebooks."
            )
        _note(f"{where}: the notebooks run with your own rights, as you said you trust them (--trust-notebooks).")
        return
    # a mount namespace of the kernel's own (needs CAP_SYS_ADMIN): private temporary folders, paths hidden
    sandbox.private_tmp = subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0
    if hidden and not sandbox.private_tmp:
        raise SandboxError(
            f"{', '.join(map(str, hidden))} must be hidden from the notebook, and {where} nor a mount namespace (no "
            "CAP_SYS_ADMIN): nothing is graded. Leave the package that holds it out of the grading image."
        )
    _note(f"{where}: the kernel runs as a uid of its own, and every process of it is killed when grading ends"
          + ("." if sandbox.private_tmp else "; notebooks graded here at the same time share /tmp."))


def _write_kernelspec(sandbox: Sandbox, workdir: pathlib.Path, hidden: list[pathlib.Path], setpriv: str | None) -> None:
    kit = pathlib.Path(__file__).resolve().parent
    specs = sandbox.folder / "kernelspec"
    spec = specs / "kernels" / KERNELSPEC
    spec.mkdir(parents=True, exist_ok=True)  # several gradings in one process (otter assign's check)
    specs.chmod(0o700)
    launch = ["--home", str(sandbox.home), "--log", str(sandbox.log), "--max-file-mb", str(MAX_FILE_MB),
              "--connection-file", "{connection_file}"]  # fmt: skip
    if sandbox.uid is not None:
        launch += ["--uid", str(sandbox.uid), "--gid", str(sandbox.gid)]
    if not sandbox.box and sandbox.private_tmp:  # kernel_launch.py makes what it can itself
        launch += [*(f"--hide={path}" for path in hidden), "--private-tmp", *(f"--keep={p}" for p in kernel_needs(sandbox, workdir))]
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--HistoryManager.enabled=False"]
    argv = [sys.executable, "-I", str(kit / "kernel_launch.py"), *launch, "--",
            *as_kernel_user(sandbox, setpriv), *(sandbox.box and [*sandbox.box, "--"]), *kernel]  # fmt: skip
    # "message": an interrupt is a message the kernel acts on; a signal to its process group would also reach the
    # box's outer process, and end the box with the kernel in it
    env = {**KERNEL_ENV, "IPYTHONDIR": str(sandbox.ipython_dir)}
    kernelspec = {"argv": argv, "display_name": "Python 3 (boxed)", "language": "python", "interrupt_mode": "message", "env": env}
    (spec / "kernel.json").write_text(json.dumps(kernelspec))


def kernel_needs(sandbox: Sandbox, workdir: pathlib.Path) -> list[str]:
    """The paths the kernel must still reach when ``kernel_launch.py`` gives it temporary folders of its own: its
    working folder, this grading's folder, and the Python it runs (which may itself live under /tmp)."""
    return [str(path) for path in [sandbox.folder, workdir, *python_paths()]]


def kernel_writable_file(sandbox: Sandbox, prefix: str) -> pathlib.Path:
    """A new empty file the kernel may write, in a folder only this process may change (no links swapped in)."""
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
