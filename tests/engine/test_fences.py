"""Each fence around a kernel on its own: the box covers several of them at once, so the graded corpus alone cannot
show that each still holds (``make sabotage`` switches them off one at a time)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from conftest import DOCKER_CAPABILITIES
from grading_engine import box, sandbox, uids

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="kernel uids and root-only folders need root")


@pytest.mark.skipif(not shutil.which("bwrap"), reason="no bubblewrap here")
def test_the_box_gives_the_kernel_temporary_folders_of_its_own(tmp_path):
    """What the kernel writes to /tmp lands in its grading's own folder, never in the machine's /tmp (shared with
    every other grading)."""
    fenced = sandbox.Sandbox(tmp_path / "grading")
    for folder in (fenced.scratch / "tmp", fenced.scratch / "var-tmp"):
        folder.mkdir(parents=True)
    name = f"kit-probe-{uuid.uuid4().hex}"
    command = box.box_command(shutil.which("bwrap"), fenced, tmp_path, [])
    run = subprocess.run([*command, "--", "/bin/sh", "-c", f"echo kernel > /tmp/{name}"], capture_output=True, text=True)
    if run.returncode and "namespace" in run.stderr.lower():
        pytest.skip(f"bubblewrap cannot make a box here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    assert (fenced.scratch / "tmp" / name).read_text() == "kernel\n"
    assert not pathlib.Path("/tmp", name).exists()


LEAVES_PROCESSES = """
import os, subprocess, sys, time
from grading_engine import processes
left = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"])
time.sleep(1)
print(processes.kill_descendants(), left.wait(timeout=10), flush=True)
"""


def test_what_the_notebook_leaves_running_is_killed():
    """Processes the kernel started and left behind (descendants of the grading process, however deep) are killed.
    (In a process of its own: this test's own descendants are other tests' servers.)"""
    run = subprocess.run([sys.executable, "-c", LEAVES_PROCESSES], capture_output=True, text=True, timeout=60)
    killed, status = run.stdout.split()
    assert int(killed) >= 2 and int(status) != 0, run.stderr  # both levels, killed rather than finished


ORPHANS_A_PROCESS = """
import os, subprocess, sys, time
from grading_engine import processes
processes.adopt_orphans()
# a double fork: the middle process exits at once and its child, in a session of its own, is orphaned
middle = subprocess.run([sys.executable, "-c", "import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', "
                         "'import time; time.sleep(60)'], start_new_session=True, stdout=subprocess.DEVNULL, "
                         "stderr=subprocess.DEVNULL).pid)"], capture_output=True, text=True)
orphan = int(middle.stdout)
time.sleep(0.5)
print(orphan, processes.kill_descendants(), flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_process_the_notebook_orphans_is_adopted_and_killed():
    """A double fork leaves a process whose parent has exited: the grading process adopts it (a child subreaper)
    instead of init, so the sweep of its descendants still finds and kills it."""
    run = subprocess.run([sys.executable, "-c", ORPHANS_A_PROCESS], capture_output=True, text=True, timeout=60)
    orphan, killed = map(int, run.stdout.split())
    try:
        assert killed >= 1 and not _alive(orphan), "the orphan escaped the sweep"
    finally:
        if _alive(orphan):
            os.kill(orphan, 9)


@as_root
def test_the_grading_folders_the_kernel_must_not_read_are_roots_alone(tmp_path, monkeypatch):
    """``source/`` (the configuration with the held-out seeds, the tests) and ``results/`` are root's only."""
    monkeypatch.setenv(box.BWRAP_ENV, "")  # this fence alone, as where no box can be made
    for folder in ("source", "results", "submission"):
        (tmp_path / folder).mkdir(mode=0o755)
    prepared = sandbox.prepare(tmp_path, tmp_path / "submission")
    try:
        for folder in ("source", "results"):
            assert (tmp_path / folder).stat().st_mode & 0o077 == 0, folder
    finally:
        prepared.end()


@as_root
def test_the_kernel_user_can_never_regain_rights():
    """As its uid, with no_new_privs and an empty bounding set: no setuid program can give it any right back."""
    uid, lock = sandbox.allocate_uid()
    try:
        fenced = sandbox.Sandbox(pathlib.Path("/"), uid=uid, gid=uid)
        run = subprocess.run([*box.as_kernel_user(fenced, shutil.which("setpriv")), "cat", "/proc/self/status"],
                             capture_output=True, text=True, check=True)  # fmt: skip
        status = dict(line.split(":", 1) for line in run.stdout.splitlines() if ":" in line)
        assert status["Uid"].split()[0] == str(uid)
        assert status["NoNewPrivs"].strip() == "1" and int(status["CapBnd"], 16) == 0
    finally:
        os.close(lock)


READS_ITS_KERNELSPEC = """\
try:
    open({spec!r}).read()
    print("KERNELSPEC READ")
except OSError as e:
    print("KERNELSPEC REFUSED", type(e).__name__)
"""


@as_root
def test_the_kernel_keeps_no_input_history_and_cannot_read_its_kernelspec(tmp_path):
    """What the kernel is typed leaves no file behind (IPython's history database is off), and the kernelspec (this
    grading's folders, its uid, the paths it hides) is root's alone. A real kernel, started as the grader starts it."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    (tmp_path / "submission").mkdir()
    prepared = sandbox.prepare(tmp_path, tmp_path / "submission")
    spec = prepared.kernelspecs / sandbox.KERNELSPEC / "kernel.json"
    said = []
    try:
        km = KernelManager(kernel_name=sandbox.KERNELSPEC, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(prepared.kernelspecs)]))
        if prepared.box:  # as the grader's executor: the box has no network
            km.transport, km.ip = "ipc", str(prepared.ipc / "kernel")
        km.start_kernel(cwd=str(tmp_path / "submission"))
        client = km.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            client.execute_interactive(READS_ITS_KERNELSPEC.format(spec=str(spec)), timeout=60,
                                       output_hook=lambda msg: said.append(msg["content"].get("text", "")))  # fmt: skip
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=True)
        assert "KERNELSPEC REFUSED" in "".join(said), said
        assert not list(prepared.folder.rglob("history.sqlite*"))
    finally:
        prepared.end()


@as_root
def test_the_sweep_refuses_any_uid_but_a_kernel_uid(tmp_path):
    """``kill(-1)`` as root would end every process on the machine, as an account's uid every process of that
    account: the sweep is sent as a kernel uid or not at all."""
    outsider = 54_321  # no account, not a kernel uid: a process of its own stands for another user's
    sleeper = subprocess.Popen(["setpriv", f"--reuid={outsider}", f"--regid={outsider}", "--clear-groups", "sleep", "60"])
    try:
        time.sleep(0.3)
        with pytest.raises(sandbox.SandboxError, match="not a kernel uid"):
            uids.kill_every_process_of(outsider, outsider)
        assert sleeper.poll() is None, "the sweep killed a process that was not the grading's"
    finally:
        sleeper.kill()
        sleeper.wait()


@as_root
def test_kernel_uids_are_handed_out_only_from_roots_own_folder(tmp_path, monkeypatch):
    """Another user who owned (or could write) the lock folder could hold every lock, or make two gradings share a
    uid: grading stops instead."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "kit-grading-uids").mkdir(mode=0o777)
    (tmp_path / "kit-grading-uids").chmod(0o777)
    with pytest.raises(sandbox.SandboxError, match="not root's own folder"):
        uids.allocate_uid()


@as_root
def test_as_root_without_setpriv_nothing_is_graded(tmp_path, monkeypatch):
    """The kernel would keep root's rights: the grading stops before any kernel starts."""
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, *a, **k: None if name == "setpriv" else shutil.which(name, *a, **k))
    (tmp_path / "submission").mkdir()
    with pytest.raises(sandbox.SandboxError, match="setpriv"):
        sandbox.prepare(tmp_path, tmp_path / "submission")


HIDES_A_PATH = """
import pathlib, sys
from grading_engine import sandbox
try:
    sandbox.prepare(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[1]) / "submission", hidden=[pathlib.Path("/usr/share")])
    print("PREPARED")
except sandbox.SandboxError as e:
    print("REFUSED", e)
"""


@as_root
def test_a_path_that_cannot_be_hidden_stops_the_grading(tmp_path):
    """As root with Docker's capabilities (no CAP_SYS_ADMIN) and no bubblewrap, no mount namespace can cover a
    held-back path: nothing is graded, and the message says what to do, rather than the kernel seeing it."""
    (tmp_path / "submission").mkdir()
    env = {**os.environ, box.BWRAP_ENV: ""}  # as where bubblewrap is missing or user namespaces are refused
    caps = DOCKER_CAPABILITIES
    run = subprocess.run(["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--", sys.executable, "-c", HIDES_A_PATH,
                          str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "REFUSED /usr/share must be hidden from the notebook" in run.stdout, run.stdout + run.stderr
    assert "Leave the package that holds it out of the grading image" in run.stdout


LOOKS_THROUGH_A_LINK = """
import pathlib, subprocess, sys
from grading_engine import box, sandbox
fenced = sandbox.Sandbox(pathlib.Path(sys.argv[1]))
for folder in (fenced.scratch / "tmp", fenced.scratch / "var-tmp"):
    folder.mkdir(parents=True)
(hidden,) = box.package_paths(("sklearn/datasets/data",))
seen = pathlib.Path(sys.prefix) / hidden.relative_to(pathlib.Path(sys.prefix).resolve())
command = box.box_command(box.bubblewrap(), fenced, fenced.folder, [hidden])
run = subprocess.run([*command, "--", "find", str(hidden), str(seen), "-mindepth", "1"], capture_output=True, text=True)
print(run.returncode, seen != hidden, len(run.stdout.split()), run.stderr)
"""


@pytest.mark.skipif(not shutil.which("bwrap"), reason="no bubblewrap here")
def test_a_hidden_path_stays_hidden_where_the_python_environment_is_reached_through_a_link(tmp_path):
    """A virtual environment reached through a link (a clone whose .venv links to another) is bound into the box at
    the link's path too: a package's held-back data must be covered there as well as at its real path. (Found by
    make sabotage's baseline, run from a clone with a linked .venv: the digits searcher found scikit-learn's copy.)"""
    pytest.importorskip("sklearn")
    link = pathlib.Path(tempfile.mkdtemp(prefix="kit-linked-venv-"))  # under /tmp, as a clone's would be
    try:
        (link / ".venv").symlink_to(pathlib.Path(sys.prefix).resolve())
        (tmp_path / "grading").mkdir()
        run = subprocess.run([str(link / ".venv" / "bin" / "python"), "-c", LOOKS_THROUGH_A_LINK, str(tmp_path / "grading")],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        code, linked, entries, said = run.stdout.split(" ", 3)
        if code != "0" and "namespace" in said.lower():
            pytest.skip(f"bubblewrap cannot make a box here: {said.strip()}")
        assert (code, linked, entries) == ("0", "True", "0"), run.stdout + run.stderr
    finally:
        shutil.rmtree(link)
