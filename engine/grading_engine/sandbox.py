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
import fcntl
import json
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

KERNELSPEC = "kit-sandboxed-python3"
MAX_FILE_MB = 256
"""The largest file the kernel may write (RLIMIT_FSIZE), its output log included."""
SHM_MB = 64
"""The box's ``/dev/shm`` (memory: it counts against the container's limit); its other temporary folders are on disk."""
KERNEL_UIDS = range(2_000_000_000, 2_000_000_000 + 2**16)
"""One uid per grading, drawn from this range and held (a lock) while the grading runs; no account has them."""
PACKAGED_DATA = ("sklearn/datasets/data", "sklearn/datasets/images", "sklearn/datasets/descr")
"""Data sets that installed packages ship, hidden from every kernel, whatever its assignment: one assignment's
held-out data must not be readable by a notebook of another, graded on the same machine (a lesson's own
``Limits.hidden`` adds to these)."""
TRUST_ENV = "KIT_TRUST_NOTEBOOKS"
"""Set to 1 by the instructor (``--trust-notebooks``): grade without a box where none can be made."""
BWRAP_ENV = "KIT_BWRAP"
"""The bubblewrap to use (default: ``bwrap`` on the PATH); empty: none, to test the fallback."""
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""What the box shows read-only besides the Python environment (links, as on merged-/usr systems, stay links)."""


class SandboxError(RuntimeError):
    """The kernel cannot be fenced in here; grading must not go on."""


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


_current: Sandbox | None = None


def current() -> Sandbox:
    """This grading's sandbox (one submission per grading process); its folder is made on first use."""
    global _current
    if _current is None:
        folder = pathlib.Path(tempfile.mkdtemp(prefix="kit-grading-"))
        atexit.register(shutil.rmtree, folder, True)
        folder.chmod(0o711)
        _current = Sandbox(folder)
        atexit.register(_current.end)  # runs before the folder goes (atexit is last in, first out)
    return _current


def allocate_uid() -> tuple[int, int]:
    """A uid (and a gid of the same number) that no other grading on this machine holds, and its lock.

    The lock (an ``flock`` on a file in a root-only folder) is held until this process exits.
    """
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
        current()._uid_lock = fd
        return uid, uid
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
    for path in python_paths():
        if not any(path == pathlib.Path(s) or pathlib.Path(s) in path.parents for s in SYSTEM):
            args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(sandbox.folder), str(sandbox.folder), "--bind", str(workdir), str(workdir)]
    for path in hidden:
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


def _box_works(command: list[str]) -> tuple[bool, str]:
    try:
        run = subprocess.run([*command, "--", "/bin/sh", "-c", "exit 0"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return False, str(e)
    return run.returncode == 0, run.stderr.strip()[-300:]


def _note(text: str) -> None:
    print(f"[autograder] NOTE: {text}", file=sys.stderr, flush=True)


def prepare(autograder_dir: pathlib.Path, submission_dir: pathlib.Path, hidden: list[pathlib.Path] = ()) -> Sandbox:
    """Set up this grading's box before the kernel starts, and the kernelspec that starts the kernel in it.

    ``hidden``: paths the kernel sees empty.

    Raises:
        SandboxError: the kernel cannot be fenced in here (as root: no ``setpriv``; as an ordinary user: no box and
            the notebooks not declared trusted), or there are paths to hide and no way to hide them.
    """
    sandbox = current()
    root = os.geteuid() == 0
    setpriv = shutil.which("setpriv")
    if root and setpriv is None:
        raise SandboxError("setpriv (util-linux) is not installed: the kernel would run as root, so nothing is graded")
    if root:
        sandbox.uid, sandbox.gid = allocate_uid()
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
        works, why = _box_works(as_kernel_user(sandbox, setpriv) + box)
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
        launch += [*(f"--hide={path}" for path in hidden), "--private-tmp", *(f"--keep={p}" for p in kernel_needs(workdir))]
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--HistoryManager.enabled=False"]
    argv = [sys.executable, "-I", str(kit / "kernel_launch.py"), *launch, "--",
            *as_kernel_user(sandbox, setpriv), *(sandbox.box and [*sandbox.box, "--"]), *kernel]  # fmt: skip
    # "message": an interrupt is a message the kernel acts on; a signal to its process group would also reach the
    # box's outer process, and end the box with the kernel in it
    kernelspec = {"argv": argv, "display_name": "Python 3 (boxed)", "language": "python", "interrupt_mode": "message"}
    (spec / "kernel.json").write_text(json.dumps(kernelspec))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(specs), os.environ.get("JUPYTER_PATH")]))


def kernel_needs(workdir: pathlib.Path) -> list[str]:
    """The paths the kernel must still reach when ``kernel_launch.py`` gives it temporary folders of its own: its
    working folder, this grading's folder, and the Python it runs (which may itself live under /tmp)."""
    return [str(path) for path in [current().folder, workdir, *python_paths()]]


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
