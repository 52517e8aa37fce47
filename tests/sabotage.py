"""``make sabotage``: every guard and grading rule has a test that fails without it (mutation testing, by hand).

    .venv/bin/python tests/sabotage.py [--jobs 2] [NAME ...]

For each sabotage below, a scratch copy of the repository gets exactly one edit that switches one guard or
rule off, and the tests that claim to cover it run there (the kit is rebuilt from the scratch copy, so the
autograder zip carries the sabotaged code). The run passes only when every sabotage makes at least one of its
tests fail, and prints the table: sabotage | tests that caught it. A baseline run of every selected test on an
unsabotaged copy comes first: a test that fails anyway proves nothing.

The scratch copies share this repository's virtualenv (and the Python installation under it): with a guard
switched off, a hostile case really runs with the rights that guard withheld. So every hostile case proves what it
could do without doing damage (it opens files for appending and writes nothing, removes what it creates).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

REPO = pathlib.Path(__file__).resolve().parent.parent
COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "autograder", "solutions", "__pycache__", ".pytest_cache", "artifacts", "*.egg-info")


@dataclass(frozen=True)
class Sabotage:
    """One guard or rule switched off: ``old`` (found exactly once in ``path``) becomes ``new``."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    cases: tuple[str, ...] = ()
    """Corpus cases the tests need graded (``KIT_CORPUS_CASES``); the others are not graded."""
    env: dict = field(default_factory=dict, hash=False)


CORPUS = "tests/fcnn/test_corpus.py"
FENCES = "tests/engine/test_fences.py"
CROSS = "tests/fcnn/test_cross_grading.py"
BUDGET = "tests/fcnn/test_gradescope_budget.py"
SAFEGUARDS = "tests/engine/test_safeguards.py"
NETWORKS = "tests/engine/test_networks.py"
SABOTAGES = [
    Sabotage(
        "the kernel sees a package's copy of held-back data (the box does not cover Limits.hidden)",
        "engine/grading_engine/box.py",
        '            args += ["--size", "4096", "--tmpfs", str(path), "--remount-ro", str(path)]', "            pass",
        ("tests/digits/test_digits.py::test_a_notebook_searching_every_file_it_can_read_finds_no_heldout_digit",),
    ),
    Sabotage(
        "the box shows the machine's /tmp and /var/tmp (shared with other gradings) instead of folders of its own",
        "engine/grading_engine/box.py", '        args += ["--bind", str(sandbox.scratch / name), path]', '        args += ["--bind", path, path]',
        (f"{FENCES}::test_the_box_gives_the_kernel_temporary_folders_of_its_own",
         f"{CORPUS}::test_a_notebook_sees_nothing_another_grading_left_or_leaves_anything_behind"),
        ("spies-and-kills-the-grader",),
    ),
    Sabotage(
        "no box: the kernel shares the machine's network, processes and files",
        "engine/grading_engine/sandbox.py", "        sandbox.box = box if works else []", "        sandbox.box = []",
        (f"{CROSS}::test_an_attacker_in_a_batch_reaches_no_other_grading",),
    ),
    Sabotage(
        "a grading's processes outlive it (no kill(-1) sweep as its uid)",
        "engine/grading_engine/sandbox.py",
        "        return kill_every_process_of(self.uid, self.gid) if self.uid is not None else 0", "        return 0",
        (f"{CROSS}::test_where_no_box_can_be_made_a_uid_of_its_own_and_the_sweep_still_end_every_process",),
    ),
    Sabotage(
        "the kernel writes to the grader's own streams (its output not sent to a log of its own)",
        "engine/grading_engine/kernel_launch.py", "        os.dup2(log, stream)", "        pass",
        (f"{CROSS}::test_an_attacker_in_a_batch_reaches_no_other_grading",),
    ),
    Sabotage(
        "the added description cells all run after the notebook's budget is spent, not only the last",
        "engine/grading_engine/safeguards.py",
        "        if self._kernel_lost or (not last_export and time.monotonic() >= self._deadline):",
        "        if self._kernel_lost or (not export and time.monotonic() >= self._deadline):",
        (f"{CORPUS}::test_the_added_description_cells_stay_inside_the_notebooks_budget",), ("slow-evaluation-everywhere",),
    ),
    Sabotage(
        "a rebuilt network evaluates every held-out row at once",
        "engine/graded_networks/networks.py", "        if x.shape[0] > CHUNK_ROWS:", "        if False:",
        (f"{BUDGET}::test_a_wide_honest_network_is_graded_within_768_mb",),
    ),
    Sabotage(
        "a description's cost is not checked before it is built",
        "engine/graded_networks/networks.py", "        check_cost(description, name)", "        pass",
        (f"{BUDGET}::test_a_description_past_the_caps_is_refused_by_the_check_and_the_grader_alike",),
    ),
    Sabotage(
        "a description is parsed whatever the number of values in it",
        "engine/grading_engine/otter_plugins/held_out_grading.py",
        '        if written and written.count(b",") > MAX_DESCRIPTION_VALUES:', "        if False:",
        (f"{BUDGET}::test_a_forged_description_too_large_to_parse_is_refused_before_parsing",),
    ),
    Sabotage(
        "the student's kernel does not reseed before every cell as the autograder does",
        "engine/graded_networks/seeding.py", '    shell.events.register("pre_run_cell", reseed)', "    pass",
        ("tests/fcnn/test_randomness.py::test_the_student_trains_the_network_the_autograder_grades",),
    ),
    Sabotage(
        "an ordinary user without a box grades untrusted notebooks with their own rights",
        "engine/grading_engine/sandbox.py", '        if os.environ.get(TRUST_ENV) != "1":', "        if False:",
        ("tests/engine/test_hidden.py",),
    ),
    Sabotage(
        "the kernel stays dumpable: a kernel graded beside it, as the same user, may read its memory",
        "engine/grading_engine/otter_plugins/guarded_grading.py",
        '        grading.sandbox.add_startup("20-private-memory.py", processes.private_memory_startup())', "        pass",
        (f"{CORPUS}::test_the_kernel_cannot_read_or_signal_the_grader",),
        ("spies-and-kills-the-grader",),
    ),
    Sabotage(
        "a grading leaves its folder (the kernel's home, the networks it handed back) for the next notebook",
        "engine/grading_engine/sandbox.py", "    atexit.register(shutil.rmtree, folder, True)", "    pass",
        (f"{CORPUS}::test_a_notebook_sees_nothing_another_grading_left_or_leaves_anything_behind",),
        ("spies-and-kills-the-grader",),
    ),
    Sabotage(
        "otter may render a submitted notebook into the PDF it uploads (keep_submitted_pdf off)",
        "engine/grading_engine/otter_plugins/guarded_grading.py", "    config.use_submission_pdf = True", "    pass",
        ("tests/engine/test_written_pdf.py",),
    ),
    Sabotage(
        "the kernel's results pickle is trusted (otter.execute.pickle kept)",
        "engine/grading_engine/safeguards.py", "    otter.execute.pickle = KernelResultsIgnored", "    pass",
        ("tests/fcnn/test_grading.py::test_solutions_notebook_gets_full_marks",),
    ),
    Sabotage(
        "log records are unpickled (otter.execute.logging.pickle kept)",
        "engine/grading_engine/safeguards.py",
        "    otter_logging.pickle = types.SimpleNamespace(loads=lambda data: _NoClassesUnpickler(io.BytesIO(data)).load())",
        "    pass",
        ("tests/engine/test_safeguards.py::test_otters_log_server_decodes_records_without_unpickling_objects",),
    ),
    Sabotage(
        "nbconvert's executor is not replaced (no time limit, a dead kernel crashes grading)",
        "engine/grading_engine/safeguards.py",
        '    nbconvert.preprocessors.ExecutePreprocessor = type("GuardedExecutePreprocessor", (GuardedExecutePreprocessor,), settings)',
        "    pass",
        (CORPUS,), ("infinite-loop-between-exercises",), {"KIT_GRADE_TIMEOUT": "150"},
    ),
    Sabotage(
        "no time limit (a cell may run forever)",
        "engine/grading_engine/safeguards.py", "        return max(1, math.ceil(left))  # up to the deadline, not short of it", "        return None",
        (CORPUS,), ("infinite-loop-between-exercises",), {"KIT_GRADE_TIMEOUT": "150"},
    ),
    Sabotage(
        "no memory cap",
        "engine/grading_engine/processes.py",
        '    return f"import resource\\nresource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\\n"',
        '    return ""',
        (CORPUS,), ("allocations",),
    ),
    Sabotage(
        "processes the notebook leaves are not killed",
        "engine/grading_engine/processes.py", "            os.kill(pid, signal.SIGKILL)", "            pass",
        (f"{FENCES}::test_what_the_notebook_leaves_running_is_killed",),
    ),
    Sabotage(
        "no fallback results.json",
        "engine/grading_engine/results.py",
        "            results.write_text(json.dumps(fallback_results(raised[-1] if raised else None), indent=4))",
        "            pass",
        (CORPUS,), ("not-a-notebook", "corrupt-json"),
    ),
    Sabotage(
        "torch is not seeded before each cell",
        "engine/grading_engine/otter_plugins/seed_torch.py", "                cell.source = line + cell.source", "                pass",
        ("tests/fcnn/test_grading.py::test_regrades_give_identical_scores_and_messages",),
    ),
    Sabotage(
        "a submitted .OTTER_LOG is read",
        "engine/grading_engine/otter_plugins/guarded_grading.py", "        pathlib.Path(OTTER_LOG_FILENAME).unlink(missing_ok=True)", "        pass",
        (CORPUS,), ("zip-with-crafted-otter-log",),
    ),
    Sabotage(
        "the plugins' settings (held-out seeds) stay in otter_config.json",
        "engine/grading_engine/otter_plugins/guarded_grading.py",
        '        settings["plugins"] = [p if isinstance(p, str) else next(iter(p)) for p in settings.get("plugins", [])]',
        "        pass",
        ("tests/engine/test_safeguards.py",),
    ),
    Sabotage(
        "otter's attributes are replaced without checking them (no fail-closed)",
        "engine/grading_engine/otter_plugins/guarded_grading.py",
        '        otter_fit.check_otter_fits(otter_fit.read_pins(autograder_dir / "source" / "environment.yml"))', "        pass",
        ("tests/engine/test_safeguards.py",),
    ),
    Sabotage(
        "the kernel keeps the grader's rights (root)",
        "engine/grading_engine/box.py", "    if sandbox.uid is None:\n        return []", "    if True:\n        return []",
        (CORPUS,), ("escapes-the-sandbox", "spies-and-kills-the-grader"),
    ),
    Sabotage(
        "source/ and results/ stay readable by the kernel",
        "engine/grading_engine/sandbox.py", "            private.chmod(0o700)", "            pass",
        (f"{FENCES}::test_the_grading_folders_the_kernel_must_not_read_are_roots_alone", CORPUS), ("prints-hidden-tests",),
    ),
    Sabotage(
        "the kernel may regain privileges (no no_new_privs)",
        "engine/grading_engine/box.py", '"--clear-groups", "--no-new-privs",', '"--clear-groups",',
        (f"{FENCES}::test_the_kernel_user_can_never_regain_rights", CORPUS), ("escapes-the-sandbox",),
    ),
    Sabotage(
        "the kernel's files are not size-capped",
        "engine/grading_engine/kernel_launch.py", "    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))", "    pass",
        (CORPUS,), ("escapes-the-sandbox",),
    ),
    Sabotage(
        "the networks' JSON is read through links and at any size",
        "engine/grading_engine/sandbox.py", "os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK", "os.O_RDONLY | os.O_NONBLOCK",
        ("tests/engine/test_safeguards.py",),
    ),
    Sabotage(
        "the tracer's allow-list is off",
        "engine/graded_networks/tracing.py",
        '        if op not in ALLOWED:\n            raise refusal(name, f"`{shown(node)}`", where(node.stack_trace))',
        "        pass",
        ("tests/engine/test_networks.py",),
    ),
    Sabotage(
        "the rebuilt network accepts any operation",
        "engine/graded_networks/networks.py",
        "            if op not in ALLOWED:\n                raise NotANetwork(",
        "            if False:\n                raise NotANetwork(",
        ("tests/engine/test_networks.py",),
    ),
    Sabotage(
        "a description is trusted without reproducing the model's output",
        "engine/graded_networks/networks.py", "            if not torch.allclose(rebuilt, expected, rtol=1e-4, atol=1e-4):", "            if False:",
        ("tests/engine/test_networks.py",),
    ),
    Sabotage(
        "a constant with a row per sample is accepted (memorised rows)",
        "engine/graded_networks/operations.py", "other.dim() >= x.dim() and other.dim() > 0 and other.shape[0] != 1",
        "False",
        ("tests/engine/test_networks.py",),
    ),
    Sabotage(
        "products of the data with itself are traced as branches",
        "engine/graded_networks/arithmetic.py", 'if operator_ not in ("add", "sub"):', "if False:",
        ("tests/engine/test_networks.py",),
    ),
    Sabotage(
        "a classifier's outputs are read whatever its ending",
        "engine/graded_networks/outputs.py",
        "    kind = ONE_OUTPUT.get(op)\n    if kind is None:\n",
        "    kind = ONE_OUTPUT.get(op, 'probabilities')\n    if kind is None:\n",
        ("tests/fcnn/test_grading_checks.py",),
    ),
    Sabotage(
        "a network trained on rescaled inputs passes the check",
        "engine/graded_networks/verdict.py",
        "        if rescaled <= trained_below and rescaled < 0.5 * own and own - rescaled > margin:",
        "        if False:",
        ("tests/fcnn/test_grading_checks.py", "tests/digits/test_checks.py"),
    ),
    Sabotage(
        "a band is given without every one of its marks",
        "engine/graded_networks/marks.py", "if its and all(m.holds(metrics) for m in its):", "if its and any(m.holds(metrics) for m in its):",
        ("tests/engine/test_marks.py",),
    ),
    Sabotage(
        "a submitted copy of the course's code is kept (a zip of the handed-out folder)",
        "engine/grading_engine/submission.py", 'for name in sorted(names | {"tests"}):', "for name in []:",
        ("tests/engine/test_submission.py", "tests/fcnn/test_arrivals.py"),
    ),
    Sabotage(
        "a notebook that lost otter's metadata is refused",
        "engine/grading_engine/submission.py", '    otter["assignment_name"] = name\n', "    return False\n",
        ("tests/engine/test_submission.py", "tests/fcnn/test_arrivals.py"),
    ),
    Sabotage(
        "a zip without its held-out seeds grades on whatever seed (no fail-closed)",
        "engine/grading_engine/otter_plugins/held_out_grading.py",
        "if question not in seeds or (exercise.heldout_data and question not in data):",
        "if False:",
        ("tests/engine/test_safeguards.py::test_a_zip_built_without_its_secret_grades_nothing",),
    ),
    Sabotage(
        "the grading process imports the lesson from wherever it finds it (not the zip's root-only copy)",
        "engine/grading_engine/otter_plugins/common.py", "        sys.path.insert(0, files)", "        pass",
        ("tests/engine/test_scaffold.py",),
    ),
    Sabotage(
        "what the kernel hands back is read whatever its size or kind",
        "engine/grading_engine/sandbox.py", "        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:", "        if False:",
        ("tests/engine/test_safeguards.py::test_what_the_kernel_wrote_is_read_without_links_and_within_a_size",),
    ),
    Sabotage(
        "the training budget is not enforced",
        "engine/graded_networks/epochs.py", "epochs <= max_epochs:", "epochs <= 10 * max_epochs:",
        ("tests/fcnn/test_grading_checks.py", CORPUS), ("over-the-epoch-budget",),
    ),
    Sabotage(
        "regression's just-right mark moved (5.5 -> 6.0)",
        "assignments/fcnn/fcnn_lesson/exercises.py", "REGRESSION_MAX_IN_RANGE_MSE = 5.5", "REGRESSION_MAX_IN_RANGE_MSE = 6.0",
        ("tests/fcnn/test_grading_checks.py", CORPUS), ("regressor-in-close-band",),
    ),
    Sabotage(
        "regression's close mark moved (6.0 -> 7.5)",
        "assignments/fcnn/fcnn_lesson/exercises.py", "REGRESSION_CLOSE_IN_RANGE_MSE = 6.0", "REGRESSION_CLOSE_IN_RANGE_MSE = 7.5",
        ("tests/fcnn/test_grading.py", "tests/fcnn/test_calibration.py"),
    ),
    Sabotage(
        "classification's accuracy mark moved (0.75 -> 0.70)",
        "assignments/fcnn/fcnn_lesson/exercises.py", "CLASSIFICATION_MIN_ACCURACY = 0.75", "CLASSIFICATION_MIN_ACCURACY = 0.70",
        ("tests/fcnn/test_grading.py", "tests/fcnn/test_calibration.py"),
    ),
    Sabotage(
        "classification's cross-entropy mark moved (0.65 -> 0.9)",
        "assignments/fcnn/fcnn_lesson/exercises.py", "CLASSIFICATION_MAX_CROSS_ENTROPY = 0.65", "CLASSIFICATION_MAX_CROSS_ENTROPY = 0.9",
        ("tests/fcnn/test_grading.py", "tests/fcnn/test_calibration.py"),
    ),
    Sabotage(
        "a kernel that never answers at start-up ends the grading (no second kernel)",
        "engine/grading_engine/safeguards.py", "KERNEL_STARTS = 2", "KERNEL_STARTS = 1",
        ("tests/engine/test_safeguards.py::test_a_kernel_that_does_not_answer_at_start_is_replaced_and_the_notebook_runs",),
    ),
    # the guards of the second round of tests that can fail (issue #27), one entry each
    Sabotage(
        "the grading process does not adopt what the notebook orphans (no child subreaper): a double fork escapes the sweep",
        "engine/grading_engine/processes.py",
        "        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0", "        return False",
        (f"{FENCES}::test_a_process_the_notebook_orphans_is_adopted_and_killed",),
    ),
    Sabotage(
        "the grader's own files are graded from though they changed while the notebook ran (no fingerprint check)",
        "engine/grading_engine/otter_plugins/held_out_grading.py", "        if _fingerprint(self._code) != self._fingerprint:", "        if False:",
        (f"{SAFEGUARDS}::test_grader_files_changed_while_the_notebook_ran_grade_nothing",),
    ),
    Sabotage(
        "a forged description file (not JSON) stops the grading instead of reading as no network",
        "engine/grading_engine/otter_plugins/held_out_grading.py", "        except (ValueError, RecursionError):", "        except RecursionError:",
        (f"{SAFEGUARDS}::test_a_forged_description_file_reads_as_no_network_and_never_stops_grading",),
    ),
    Sabotage(
        "the kernel keeps root's capability bounding set",
        "engine/grading_engine/box.py", '"--inh-caps=-all", "--bounding-set=-all", "--"]', '"--inh-caps=-all", "--"]',
        (f"{FENCES}::test_the_kernel_user_can_never_regain_rights",),
    ),
    Sabotage(
        "the sweep sends kill(-1) as whatever uid it is given, not only a kernel uid",
        "engine/grading_engine/uids.py", "    if uid not in KERNEL_UIDS:", "    if False:",
        (f"{FENCES}::test_the_sweep_refuses_any_uid_but_a_kernel_uid",),
    ),
    Sabotage(
        "kernel uids are handed out from a lock folder that is not root's own",
        "engine/grading_engine/uids.py",
        "    if info.st_uid != 0 or info.st_mode & 0o077 or not locks.is_dir() or locks.is_symlink():", "    if False:",
        (f"{FENCES}::test_kernel_uids_are_handed_out_only_from_roots_own_folder",),
    ),
    Sabotage(
        "as root without setpriv the grading goes on (the kernel would keep root's rights)",
        "engine/grading_engine/sandbox.py", "    if root and setpriv is None:", "    if False:",
        (f"{FENCES}::test_as_root_without_setpriv_nothing_is_graded",),
    ),
    Sabotage(
        "a path that must be hidden is left visible where neither a box nor a mount namespace can be made",
        "engine/grading_engine/sandbox.py", "    if hidden and not sandbox.private_tmp:", "    if False:",
        (f"{FENCES}::test_a_path_that_cannot_be_hidden_stops_the_grading",),
    ),
    Sabotage(
        "the kernel may read its kernelspec (its grading's folders, uid and hidden paths)",
        "engine/grading_engine/sandbox.py", "    specs.chmod(0o700)", "    pass",
        (f"{FENCES}::test_the_kernel_keeps_no_input_history_and_cannot_read_its_kernelspec",),
    ),
    Sabotage(
        "the kernel keeps its input history on disk",
        "engine/grading_engine/sandbox.py", ', "--HistoryManager.enabled=False"]', "]",
        (f"{FENCES}::test_the_kernel_keeps_no_input_history_and_cannot_read_its_kernelspec",),
    ),
    Sabotage(
        "a results.json left from before the grading is taken for its results (no stale-results removal)",
        "engine/grading_engine/results.py", "    results.unlink(missing_ok=True)\n    results.with_name(GRADED_DATA).unlink(missing_ok=True)\n",
        "    pass\n",
        ("tests/engine/test_startup.py::test_the_hook_writes_results_whatever_happens_in_the_entry_point_and_nothing_elsewhere",),
    ),
    Sabotage(
        "a dead kernel ends the grading (DeadKernelError not survived)",
        "engine/grading_engine/safeguards.py", "        except DeadKernelError:", "        except ZeroDivisionError:",
        (f"{CORPUS}::test_corpus_case_gets_what_its_honest_work_earns[kernel-dies]",), ("kernel-dies",),
    ),
    Sabotage(
        "the last description cell gets no grace after the notebook's budget",
        "engine/grading_engine/safeguards.py", "            left = EXPORT_GRACE_S  # the last description", "            pass  #",
        (f"{CORPUS}::test_the_added_description_cells_stay_inside_the_notebooks_budget",), ("slow-evaluation-everywhere",),
    ),
    Sabotage(
        "a kernel that ignores the interrupt hangs the grading (no reply of the grader's own after the interrupt)",
        "engine/grading_engine/safeguards.py",
        '        self.error_on_timeout = {"ename": "TimeLimitExceeded", "evalue": "the notebook\'s time limit ran out"}', "        pass",
        (f"{CORPUS}::test_corpus_case_gets_what_its_honest_work_earns[ignores-the-interrupt]",), ("ignores-the-interrupt",),
        {"KIT_GRADE_TIMEOUT": "150"},
    ),
    Sabotage(
        "a description's epoch count is trusted whatever it holds (negative, text, a float)",
        "engine/graded_networks/networks.py",
        "            if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:", "            if False:",
        (f"{NETWORKS}::test_rebuild_refuses_anything_outside_the_allow_list",),
    ),
    Sabotage(
        "a softmax over dimension 0 (across the samples) is evaluated",
        "engine/graded_networks/operations.py", "    if dim % x.dim() == 0:", "    if False:",
        (f"{NETWORKS}::test_what_is_not_a_fully_connected_network_is_refused_naming_the_operation",
         f"{NETWORKS}::test_rebuild_refuses_anything_outside_the_allow_list"),
    ),
    Sabotage(
        "batch normalisation with the batch's own statistics (training=True) is traced",
        "engine/graded_networks/tracing.py", '    if op == "batch_norm" and named.pop("training", False):',
        '    if op == "batch_norm" and named.pop("training", False) and False:',
        (f"{NETWORKS}::test_what_is_not_a_fully_connected_network_is_refused_naming_the_operation",),
    ),
    Sabotage(
        "the validation cell judges with other marks than the autograder (none: every network just right)",
        "engine/graded_networks/verdict.py",
        "        assessment = assess(exercise, network, *assess_args, sample=exercise.validation_sample)",
        "        assessment = assess(__import__('dataclasses').replace(exercise, marks=()), network, *assess_args, "
        "sample=exercise.validation_sample)",
        ("tests/fcnn/test_fairness.py::test_validation_cell_says_the_autograders_band_when_both_measurements_agree",),
    ),
    Sabotage(
        "make assign leaves autograder/NAME/ (the zip, its held-out seeds) readable by other users",
        "instructor/assign.py", "        outputs.autograder_zip.parent.chmod(0o700)", "        pass",
        ("tests/engine/test_scaffold.py::test_a_scaffolded_assignment_grades_its_solutions_to_full_marks",),
    ),
    Sabotage(
        "a new assignment never publishes its held-out verdicts (show_hidden off)",
        "instructor/new.py", "  show_hidden: true", "  show_hidden: false",
        ("tests/engine/test_scaffold.py::test_a_scaffolded_assignment_grades_its_solutions_to_full_marks",),
    ),
    Sabotage(
        "the fcnn master never publishes its held-out verdicts (show_hidden off)",
        "assignments/fcnn/fcnn.ipynb", '    "  show_hidden: true\\n",', '    "  show_hidden: false\\n",',
        ("tests/fcnn/test_grading.py::test_solutions_notebook_gets_full_marks",),
    ),
    Sabotage(
        "make grade grades one file at a time whatever --jobs says",
        "instructor/grade.py", "    with ThreadPoolExecutor(max_workers=jobs) as pool:", "    with ThreadPoolExecutor(max_workers=1) as pool:",
        ("tests/fcnn/test_grading.py::test_make_grade_gives_each_file_what_grading_it_alone_gives",),
    ),
    Sabotage(
        "make grade skips the .zip submissions in a folder",
        "instructor/grade.py", 'SUBMISSION_SUFFIXES = {".ipynb", ".zip"}', 'SUBMISSION_SUFFIXES = {".ipynb"}',
        ("tests/fcnn/test_grading.py::test_make_grade_gives_each_file_what_grading_it_alone_gives",),
    ),
    Sabotage(
        "a hidden path is covered at its real path only, not where a linked Python environment shows it too",
        "engine/grading_engine/box.py",
        "    for path in dict.fromkeys(shown for real in hidden for shown in shown_at(real, bound)):", "    for path in hidden:",
        (f"{FENCES}::test_a_hidden_path_stays_hidden_where_the_python_environment_is_reached_through_a_link",),
    ),
]


@dataclass
class Outcome:
    sabotage: Sabotage | None
    failed: list[str]
    returncode: int
    seconds: float
    tail: str


def stale(sabotages: list[Sabotage]) -> list[str]:
    """Why each sabotage that no longer applies (its text not found exactly once where it says) does not."""
    found = [(s, (REPO / s.path).read_text().count(s.old) if (REPO / s.path).is_file() else 0) for s in sabotages]
    return [f"{s.name!r}: its text occurs {n} times in {s.path}" for s, n in found if n != 1]


def scratch_copy(sabotage: Sabotage | None) -> pathlib.Path:
    """A copy of the repository (no virtualenv, no builds) with ``sabotage`` applied, if any."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="sabotage-"))
    shutil.copytree(REPO, root / "repo", ignore=COPY_IGNORE, symlinks=True)  # the assignments' links to engine/ stay links
    if sabotage:
        path = root / "repo" / sabotage.path
        text = path.read_text()
        if text.count(sabotage.old) != 1:
            raise SystemExit(f"sabotage {sabotage.name!r}: its text occurs {text.count(sabotage.old)} times in {sabotage.path}")
        path.write_text(text.replace(sabotage.old, sabotage.new))
    return root / "repo"


REAPER = """
import subprocess, sys
from grading_engine import processes
processes.adopt_orphans()
code = subprocess.run(sys.argv[1:]).returncode
processes.kill_descendants()
sys.exit(code)
"""
"""Runs a sabotage's tests, then kills whatever they left: with a guard switched off (the kernel keeping root's
rights, say) a grading's kernels outlive it, and no sweep of the grading's own would reach them."""


def run_tests(sabotage: Sabotage | None, tests: tuple[str, ...], cases: tuple[str, ...], env: dict) -> Outcome:
    repo = scratch_copy(sabotage)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "engine")]), "KIT_CORPUS_CASES": ",".join(cases), **env}
    python = str(REPO / ".venv" / "bin" / "python")
    command = [python, "-c", REAPER, python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    started = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=repo, env=environment, capture_output=True, text=True, timeout=1200)
        output, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        output, code = f"timed out: {e}", -1
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
    failed = sorted(set(re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", output, re.M)))
    return Outcome(sabotage, failed, code, time.monotonic() - started, output[-3000:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only sabotages whose name contains one of these")
    parser.add_argument("--jobs", type=int, default=2, help="sabotages run at a time (default 2)")
    args = parser.parse_args(argv)
    chosen = [s for s in SABOTAGES if not args.names or any(n in s.name for n in args.names)]
    started = time.monotonic()

    if problems := stale(chosen):  # before the baseline's minutes, not after them
        print("[sabotage] these no longer apply; the code moved under them:\n  " + "\n  ".join(problems))
        return 2

    tests = tuple(dict.fromkeys(t for s in chosen for t in s.tests))
    cases = tuple(dict.fromkeys(c for s in chosen for c in s.cases))
    print(f"[sabotage] baseline: {len(tests)} test files or tests, {len(cases)} corpus cases, nothing switched off", flush=True)
    baseline = run_tests(None, tests, cases, {})
    if baseline.returncode != 0:
        print(baseline.tail)
        print("[sabotage] the baseline fails: fix the tests first")
        return 1

    print(f"[sabotage] {len(chosen)} sabotages, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(lambda s: run_tests(s, s.tests, s.cases, s.env), chosen))

    print("\n| sabotage | tests that caught it | seconds |\n|---|---|---:|")
    missed = []
    for outcome in outcomes:
        caught = outcome.returncode == 1 and outcome.failed  # 1: tests ran and failed (not a usage or collection error)
        shown = ", ".join(f"`{f.split('::', 1)[-1]}`" for f in outcome.failed[:4]) + (" ..." if len(outcome.failed) > 4 else "")
        print(f"| {outcome.sabotage.name} | {shown if caught else '**NOT CAUGHT**'} | {outcome.seconds:.0f} |")
        if not caught:
            missed.append(outcome)
    for outcome in missed:
        print(f"\n--- {outcome.sabotage.name} (exit {outcome.returncode}) ---\n{outcome.tail}")
    print(f"\n[sabotage] {len(outcomes) - len(missed)} of {len(outcomes)} caught in {time.monotonic() - started:.0f} s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
