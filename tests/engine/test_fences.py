"""Each fence around a kernel on its own: the box covers several of them at once, so the graded corpus alone cannot
show that each still holds (``make sabotage`` switches them off one at a time)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import uuid

import pytest

from grading_engine import box, sandbox

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
