"""Where two kernels run as the same user (a box could not be made), neither may read the other's memory or environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from grading_engine import uids
from grading_engine.processes import private_memory_startup

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="kernels run as another user only where grading runs as root")

SPY = """\
import sys
try:
    print(open(f"/proc/{sys.argv[1]}/environ", "rb").read().count(b"SECRET"))
except OSError as e:
    print(type(e).__name__)
"""

KERNEL_UID = (uids.allocate_uid()[0],) * 2 if os.geteuid() == 0 else (None, None)
"""One kernel uid for both processes, as two kernels that share a user."""

NEIGHBOUR = "import sys, time\nexec(sys.argv[1])\nprint('ready', flush=True)\ntime.sleep(30)\n"
"""A kernel graded beside another: its start-up code, then a secret in its environment and memory."""


def _as_kernel_user(*command: str, **kwargs) -> subprocess.Popen:
    uid, gid = KERNEL_UID
    return subprocess.Popen(
        [shutil.which("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs", "--", *command],
        cwd="/", env={"SECRET": "a classmate's network"}, **kwargs,
    )


@pytest.mark.parametrize("startup, readable", [("", True), (private_memory_startup(), False)], ids=["without", "with"])
def test_a_kernel_cannot_read_a_neighbouring_kernels_memory(startup, readable):
    neighbour = _as_kernel_user(sys.executable, "-c", NEIGHBOUR, startup, stdout=subprocess.PIPE, text=True)
    try:
        assert neighbour.stdout.readline().strip() == "ready"
        snoop = _as_kernel_user(sys.executable, "-c", SPY, str(neighbour.pid), stdout=subprocess.PIPE, text=True)
        said = snoop.communicate(timeout=30)[0].strip()
        assert said == ("1" if readable else "PermissionError")  # without the start-up code, the test can fail
    finally:
        neighbour.kill()
        neighbour.wait()
