"""Gradings on one machine cannot reach each other: a hostile classmate graded in a real batch (``make grade``'s own
code, two at a time) beside honest notebooks, as root and as an ordinary user, and the fallbacks where no box can
be made (Gradescope's container: Docker's default capabilities).

The attacker is the solutions notebook with one more cell: it looks for other gradings' kernels, connection files and
sockets, reaches for the loopback network, another assignment's held-out data, the repository and the instructor's
home, floods the grader's streams, and leaves a fork chain (each process forks the next and exits) that, once its own
kernel is gone, keeps sending ``kill(-1, SIGKILL)`` and hunting for connection files. Its report is printed, so the
test knows the attack ran; each survivor carries a token in its command line, so the test can look for it.
"""

from __future__ import annotations

import json
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import nbformat
import pytest

from conftest import DOCKER_CAPABILITIES, grade_here
from grading_engine import box, uids
from instructor.assign import REPO

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the batches run as root and as a user made here")]

ATTACK = r"""
import glob, importlib.util, json, os, socket, subprocess, sys
report = {"uid": os.getuid(), "pidns": os.stat("/proc/self/ns/pid").st_ino}
kernels = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        continue
    if "ipykernel" in command and int(pid) not in (os.getpid(), os.getppid(), 1):  # not itself nor its own launcher
        kernels.append(command[:120])
report["other kernels seen"] = kernels
found = []
for pattern in ("/tmp/kit-grading-*/home/kernel-connection.json", "/tmp/kit-grading-*/ipc/*", "/root/.local/share/jupyter/runtime/*",
                "/proc/*/root/tmp/kit-grading-*/home/kernel-connection.json"):
    for path in glob.glob(pattern):
        if os.path.realpath(path).startswith(os.path.dirname(os.environ["HOME"]) + "/"):
            continue  # its own grading's folder (its home, its sockets)
        try:
            open(path, "rb").read(10)
            found.append(path)
        except OSError:
            pass
report["other gradings' files read"] = found
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=3).close()
    report["loopback"] = "connected"
except OSError as e:
    report["loopback"] = type(e).__name__
sklearn = importlib.util.find_spec("sklearn")
try:
    digits = os.path.join(sklearn.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    report["digits"] = len(open(digits, "rb").read())
except (OSError, AttributeError, TypeError) as e:
    report["digits"] = type(e).__name__
for target in (REPO_FILE, HOME_FILE):
    try:
        report[target + " read"] = len(open(target, "rb").read())
    except OSError as e:
        report[target + " read"] = type(e).__name__
    try:
        with open(target, "a"):
            report[target + " append"] = "writable"
    except OSError as e:
        report[target + " append"] = type(e).__name__
# the streams the kernel was started with, which ipykernel keeps open behind its own capture of fds 1 and 2
originals = [getattr(s, "_original_stdstream_copy", None) for s in (sys.stdout, sys.stderr)]
for stream in [fd for fd in originals if fd is not None] or [1, 2]:
    for _ in range(100):
        os.write(stream, b"STREAM-FLOOD " * 4000)
CHAIN = '''
import glob, os, signal, sys, time
kernel = int(sys.argv[1])
end, hop = time.time() + 60, 0
while time.time() < end:
    if os.fork():
        os._exit(0)  # each process forks the next and exits at once: a scan of the process tree never catches up
    hop += 1
    if hop % 200:
        continue
    try:
        with open("heartbeat", "w") as beat:  # in its working folder: the test watches it stop
            beat.write(str(time.time()))
    except OSError:
        pass
    if os.path.exists(f"/proc/{kernel}") or os.getuid() == 0:  # its own kernel first ends its own grading; and as
        continue  # root (a guard switched off by make sabotage) it proves enough without killing the machine
    try:
        os.kill(-1, signal.SIGKILL)  # every process it may signal: later kernels, if they share its uid
    except OSError:
        pass
    for path in glob.glob("/tmp/kit-grading-*/home/kernel-connection.json"):
        try:
            open(path).read()
        except OSError:
            pass
'''
for _ in range(2):
    subprocess.Popen([sys.executable, "-c", CHAIN, str(os.getpid()), TOKEN], start_new_session=True)
print("CROSS-ATTACK " + json.dumps(report), flush=True)
"""


def _attacker(solutions: nbformat.NotebookNode, token: str, port: int, home_file: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(solutions)))
    source = (
        ATTACK.replace("PORT", str(port)).replace("TOKEN", repr(token))
        .replace("REPO_FILE", repr(str(REPO / "README.md"))).replace("HOME_FILE", repr(home_file))
    )
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


def _survivors(token: str) -> list[str]:
    """Processes whose command line carries ``token``: what the attacker left running."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in command and state != "Z":
            found.append(f"{pid}: {command[:100]!r}")
    return found


def _beating(folder: pathlib.Path) -> bool:
    """Whether the attacker's fork chain still writes its heartbeat in ``folder`` (a scan of /proc may miss a chain
    whose processes live a millisecond each; its heartbeat does not)."""
    beat = folder / "heartbeat"
    assert beat.exists(), "the fork chain never ran"
    before = beat.read_text()
    time.sleep(1.5)
    return beat.read_text() != before


def _report(graded) -> dict:
    text = "".join(
        out.get("text", "") for cell in graded._pickled().notebook.cells for out in cell.get("outputs", []) if out.get("output_type") == "stream"
    )
    assert "CROSS-ATTACK " in text, "the attack cell never reported: it did not run"
    return json.loads(text.split("CROSS-ATTACK ", 1)[1].splitlines()[0])


@pytest.fixture(scope="module")
def listener():
    """A port on the machine's loopback that no kernel should reach."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture(scope="module")
def instructor_user() -> pwd.struct_passwd:
    """An ordinary user, as an instructor on a laptop is, with a file of their own at home."""
    name = "kit-instructor"
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True)
        user = pwd.getpwnam(name)
    box.make_reachable(*box.python_paths(), REPO)  # the instructor's own Python, as on their laptop
    secret = pathlib.Path(user.pw_dir) / "grades-2026.csv"
    secret.write_text("the instructor's own file\n")
    os.chown(secret, user.pw_uid, user.pw_gid)
    secret.chmod(0o600)
    return user


def _batch(folder: pathlib.Path, autograder_zip: pathlib.Path, solutions, attacker, user: pwd.struct_passwd | None) -> list[str]:
    """``make grade``'s code on one attacker and three honest notebooks, two at a time; the CSV's rows."""
    folder.mkdir(parents=True)
    copy = folder.parent / "autograder.zip"  # beside the folder: every .zip in it is a submission
    shutil.copy(autograder_zip, copy)
    nbformat.write(attacker, folder / "attacker.ipynb")
    for name in ("honest-1", "honest-2", "honest-3"):
        nbformat.write(solutions, folder / f"{name}.ipynb")
    command = [sys.executable, "-m", "instructor.grade", str(folder), "--assignment", "fcnn", "--jobs", "2",
               "--autograder", str(copy), "--out", str(folder / "graded")]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KIT_BWRAP", "KIT_TRUST_NOTEBOOKS")}
    if user is not None:
        for path in [folder.parent, folder, copy, *folder.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)
        env.update(HOME=user.pw_dir, USER=user.pw_name, TMPDIR=str(folder))
        command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--", *command]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return (folder / "graded" / "grades.csv").read_text().splitlines()


def _scores(rows: list[str]) -> dict[str, str]:
    return {row.split(",")[0]: row.split(",")[1] for row in rows[1:]}


@pytest.mark.parametrize("as_user", [False, True], ids=["root", "ordinary-user"])
def test_an_attacker_in_a_batch_reaches_no_other_grading(as_user, kit, grade, listener, instructor_user, tmp_path):
    solutions = nbformat.read(kit.solutions_notebook, as_version=4)
    token = f"KIT-SURVIVOR-{uuid.uuid4().hex}"
    home = pathlib.Path(instructor_user.pw_dir if as_user else os.environ.get("HOME", "/root"))
    home_file = home / ("grades-2026.csv" if as_user else f"kit-secret-{uuid.uuid4().hex}.txt")
    if not as_user:
        home_file.write_text("root's own file\n")
        home_file.chmod(0o644)  # readable by anyone who can reach it: only the box keeps a kernel out
    before = home_file.read_bytes()
    repo_file = REPO / "README.md"
    repo_before = repo_file.read_bytes()
    attacker = _attacker(solutions, token, listener, str(home_file))
    cleanup: list[pathlib.Path] = []
    try:
        # the user's batch lies in their own home, as on a laptop (pytest's folders are root's only)
        where = pathlib.Path(tempfile.mkdtemp(dir=instructor_user.pw_dir)) if as_user else tmp_path
        cleanup.append(where)
        rows = _batch(where / "batch", kit.autograder_zip, solutions, attacker, instructor_user if as_user else None)
        assert not _survivors(token), _survivors(token)  # nothing of any grading runs after its batch
        scores = _scores(rows)
        assert scores == {"attacker.ipynb": "10.0", "honest-1.ipynb": "10.0", "honest-2.ipynb": "10.0", "honest-3.ipynb": "10.0"}, rows
        assert home_file.read_bytes() == before
        if as_user:
            return
        # graded alone as root, the attacker says what it tried (proof that it ran), and leaves nothing either
        attacker_file = tmp_path / "attacker.ipynb"
        nbformat.write(attacker, attacker_file)
        graded = grade(attacker_file)
        report = _report(graded)
        assert "STREAM-FLOOD" not in graded.log  # what it wrote to its original streams never reached the grader's
        assert not _survivors(token) and not _beating(graded.results_path.parent.parent / "submission")
        assert not uids.processes_of(report.pop("uid"))
        assert report.pop("other kernels seen") == [] and report.pop("other gradings' files read") == []
        assert report.pop("loopback") in ("ConnectionRefusedError", "OSError")  # a network of its own: nothing listens
        assert report.pop("digits") in ("FileNotFoundError", 0)  # another assignment's held-out data: not there, or empty
        assert report.pop("pidns") != os.stat("/proc/self/ns/pid").st_ino
        reads = {what: outcome for what, outcome in report.items() if what.endswith(" read")}
        assert len(reads) == 2 and all(outcome in ("FileNotFoundError", "PermissionError") for outcome in reads.values()), report
        # appending is refused, or lands in the box's own view (its /tmp, where a repository under /tmp has only the
        # folders the box is mounted on): the real files did not change either way
        assert all(report[what] in ("FileNotFoundError", "PermissionError", "OSError", "writable") for what in report if what.endswith(" append"))
        assert repo_file.read_bytes() == repo_before
    finally:
        if not as_user:
            home_file.unlink()
        for folder in cleanup:
            shutil.rmtree(folder, ignore_errors=True)


def _question_scores(results: dict) -> dict:
    return {t["name"]: t.get("score") for t in results["tests"] if t["name"].startswith("q_")}


@pytest.mark.parametrize("capabilities", [None, DOCKER_CAPABILITIES], ids=["root", "docker-capabilities"])
def test_where_no_box_can_be_made_a_uid_of_its_own_and_the_sweep_still_end_every_process(capabilities, kit, listener, tmp_path):
    """Gradescope's container may refuse user namespaces: the fresh uid and kill(-1) as that uid hold the line there.
    With Docker's capabilities there is no mount namespace either, so data a package ships cannot be hidden: grading
    stops with the reason (this repository's environment holds scikit-learn; a grading image must not)."""
    token = f"KIT-SURVIVOR-{uuid.uuid4().hex}"
    attacker = tmp_path / "attacker.ipynb"
    nbformat.write(_attacker(nbformat.read(kit.solutions_notebook, as_version=4), token, listener, "/nonexistent"), attacker)
    results = grade_here(kit.autograder_zip, attacker, capabilities, bwrap=False)
    assert not _survivors(token), _survivors(token)
    if capabilities:
        assert results["score"] == 0 and "Leave the package that holds it out of the grading image" in results["output"], results
    else:
        assert _question_scores(results) == {"q_regression": 5, "q_classification": 5}, results["log"][-3000:]
        assert "the kernel runs as a uid of its own" in results["log"]
        assert not _beating(results["folder"] / "submission")


def test_with_dockers_capabilities_the_box_holds_where_user_namespaces_are_allowed(kit, listener, tmp_path):
    token = f"KIT-SURVIVOR-{uuid.uuid4().hex}"
    attacker = tmp_path / "attacker.ipynb"
    nbformat.write(_attacker(nbformat.read(kit.solutions_notebook, as_version=4), token, listener, "/nonexistent"), attacker)
    results = grade_here(kit.autograder_zip, attacker, DOCKER_CAPABILITIES, bwrap=True)
    assert _question_scores(results) == {"q_regression": 5, "q_classification": 5}, results["log"][-3000:]
    assert not _survivors(token), _survivors(token)
    assert not _beating(results["folder"] / "submission")
    assert "could not make a box" not in results["log"]
