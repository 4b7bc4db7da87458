"""The experiment lab's backbone: plans, deterministic trials, the store, resuming after a
kill, local and Dask runs giving the same table, and the ``xpnet study`` command."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from xpnet.cli import main
from xpnet.experiments import Store, log_epochs, plan, run, run_study, run_trial, run_trials
from xpnet.experiments.plan import STUDIES, study_names
from xpnet.experiments.runner import _groups, default_workers

TINY = {"grid": "quick", "seeds": 2, "train_samples": (10, 30), "epochs": 60,
        "test_samples": (10, 50)}


def tiny_plan(studies=("samples",)):
    return plan(list(studies), **TINY)


def table(store):
    return sorted(tuple(r.values()) for r in store.rows())


def test_plan_shares_the_base_trial_and_keys_are_stable():
    trials = plan(["samples", "lr"], grid="quick", seeds=2)
    base = [t for t in trials if set(t.studies) == {"samples", "lr"}]
    assert len(base) == 2 and all(t.train_samples == 1000 and t.lr == 0.05 for t in base)
    assert len({t.key for t in trials}) == len(trials)
    assert plan(["samples", "lr"], grid="quick", seeds=2)[0].key == trials[0].key
    with pytest.raises(ValueError, match="unknown study 'size'"):
        plan(["size"])


def test_the_base_setting_measures_small_test_sets_many_times():
    """Only the base setting's trials (which measure what the test-set size does) add
    repeats of the small sets, up to the grid's test_points per class; every other
    trial's key is what it was before test_points existed."""
    trials = plan(["samples", "lr", "regularizers"], grid="quick", seeds=1)
    base = [t for t in trials if t.train_samples == 1000 and t.lr == 0.05
            and t.arm == "book"]
    assert len(base) == 1 and base[0].test_points == 300
    assert [base[0].repeats_at(n) for n in base[0].test_samples] == [30, 3, 3]  # 10,100,1000
    others = [t for t in trials if t is not base[0]]
    assert others and all(t.test_points == 0 and "test_points" not in t.config
                          for t in others)
    result = run_trial(replace(base[0], epochs=5, log_at=(5,), snapshots=()))
    reps = {}
    for r in result["rows"]:
        if r["split"] in ("test", "test_iid") and r["metric"] == "acc":
            reps.setdefault((r["split"], r["test_samples"]), set()).add(r["rep"])
    assert {k: len(v) for k, v in reps.items()} == {
        (split, n): {10: 30, 100: 3, 1000: 3}[n] for split in ("test", "test_iid")
        for n in (10, 100, 1000)}


def test_a_setting_no_chosen_study_uses_is_refused(tmp_path):
    for kwargs, pattern in (({"epochs": 50}, r"epochs \(--epochs\) sets the length of the "
                                             r"epochs study's long runs, but this run has no "
                                             r"epochs study \(samples\)"),
                            ({"lr": (0.1,)}, r"lr \(--lr\) sets the learning rates the lr "
                                             r"study compares.*'xpnet study lr'")):
        with pytest.raises(ValueError, match=pattern):
            run_study("samples", tmp_path / "s", quick=True, **kwargs)
    with pytest.raises(ValueError, match=r"train_samples \(--train-samples\) sets the training "
                                         r"sizes the samples study compares, but this run has "
                                         r"no samples study \(lr\)"):
        run_study("lr", tmp_path / "s", quick=True, train_samples=(10,))
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"seeds": 0}, ValueError, r"seeds must be a positive integer, got 0"),
    ({"seeds": "2"}, TypeError, r"seeds must be an integer"),
    ({"train_samples": 10}, TypeError, r"train_samples must be a tuple of sizes per class, "
                                       r"got 10 .*train_samples=\(10, 100\)"),
    ({"test_samples": (0,)}, ValueError, r"a size in test_samples must be a positive integer"),
    ({"lr": (float("nan"),)}, ValueError, r"a learning rate in lr"),
    ({"lr": np.array(0.05)}, TypeError, r"^lr must be a tuple of learning rates, got an object "
                                        r"of type ndarray with shape \(\); pass lr=\(0\.05,\) "
                                        r"for that one value"),
    ({"lr": {0.05: 1}}, TypeError, r"^lr must be a tuple of learning rates, got \{0\.05: 1\} "
                                   r"\(a dict\); pass e\.g\. lr=\(0\.01, 0\.05\)\.$"),
    ({"lr": ()}, TypeError, r"^lr must be a tuple of learning rates, got \(\) \(a tuple\)"),
    ({"backend": "bogus"}, ValueError, r"^backend must be one of 'numpy', .*'cupy', 'jax', got "
                                       r"the string 'bogus'\.$"),
    ({"test_samples": (10, 10**9)}, ValueError,
     r"^a size in test_samples must be at most 3,333,333 samples per class \(one draw of the "
     r"preset's 3 classes holds at most 10,000,000 points\), got 1,000,000,000; ask for "
     r"fewer, e\.g\. test_samples=\(10, 100, 1000\)\.$"),
    ({"train_samples": (10**8,)}, ValueError, r"^a size in train_samples must be at most "),
    ({"grid": "bogus"}, ValueError, r"grid must be one of"),
    ({"preset": "ch16"}, ValueError, r"softmax output; 'ch16' is a binary model\. Choose one "
                                     r"of ch14, ch15, ch18"),
])
def test_a_plan_refuses_odd_arguments_before_anything_runs(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        plan(["samples"], **kwargs)


@pytest.mark.parametrize(("studies", "error", "pattern"), [
    (None, TypeError, r"^studies must be a study's name \('samples', 'epochs', 'lr', "
                      r"'regularizers' or 'all'\) or a list of them, got None \(a NoneType\); "
                      r"pass e\.g\. 'lr' or \['samples', 'lr'\]\.$"),
    (5, TypeError, r"got 5 \(an int\)"),
    ([], ValueError, r"^studies is an empty list: there is nothing to run\. Name at least one "
                     r"study .*e\.g\. 'lr'"),
    (["lr", "size"], ValueError, r"^unknown study 'size'; studies are samples, epochs, lr, "
                                 r"regularizers \(or 'all'\)\.$"),
])
def test_a_plan_refuses_studies_that_name_no_study(studies, error, pattern):
    with pytest.raises(error, match=pattern):
        plan(studies)


def test_a_plan_takes_grids_as_arrays_and_stores_plain_numbers():
    trials = plan("lr", grid="quick", seeds=1, lr=np.array([0.01, 0.05]),
                  test_samples=np.array([10, 100]))
    assert sorted({t.lr for t in trials}) == [0.01, 0.05]
    assert all(type(t.lr) is float and t.test_samples == (10, 100) for t in trials)
    assert all(type(n) is int for t in trials for n in t.test_samples)


def test_one_study_name_is_one_study_not_its_letters():
    assert {s for t in plan("samples", grid="quick", seeds=1) for s in t.studies} == {
        "samples"}


def test_all_in_a_list_is_every_study_and_a_name_twice_is_one():
    assert study_names(["all"]) == study_names("all") == list(STUDIES)
    assert study_names(("lr", "samples", "lr")) == ["lr", "samples"]


def test_trials_on_a_gpu_run_in_one_process_unless_asked(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    trials = plan(["samples"], grid="quick", seeds=1)
    assert default_workers(trials) == 16
    on_gpu = plan(["samples"], grid="quick", seeds=1, backend="cupy")
    assert default_workers(on_gpu) == 1


def test_log_epochs_are_log_spaced_and_end_at_the_last():
    epochs = log_epochs(10000)
    assert epochs[0] == 1 and epochs[-1] == 10000
    assert all(b > a for a, b in itertools.pairwise(epochs))
    assert 15 <= len(epochs) <= 25


def test_a_trial_is_a_pure_function_of_its_configuration():
    trial = tiny_plan()[0]
    first, second = run_trial(trial), run_trial(trial)
    assert first["rows"] == second["rows"] and first["diverged_at"] is None
    splits = {r["split"] for r in first["rows"]}
    assert splits == {"train", "validation", "test", "test_iid", "test_curve"}
    tests = [r for r in first["rows"] if r["split"] == "test"]
    assert {r["test_samples"] for r in tests} == {10, 50}
    # the curve's test set (the largest size) at every logged epoch, apart from validation
    curve = {(r["epoch"], r["metric"]): r for r in first["rows"] if r["split"] == "test_curve"}
    assert {e for e, _ in curve} == set(trial.log_at) and trial.curve_test == 50
    assert {r["test_samples"] for r in curve.values()} == {50}
    validation = {(r["epoch"], r["metric"]): r["value"] for r in first["rows"]
                  if r["split"] == "validation"}
    assert any(curve[k]["value"] != validation[k] for k in curve)


def test_a_diverging_trial_is_stored_as_diverged():
    trial = plan(["lr"], grid="quick", seeds=1, lr=(1e30,), epochs=50)[0]
    result = run_trial(trial)
    assert result["diverged_at"] is not None
    assert not [r for r in result["rows"] if r["split"] == "test"]


def test_trials_of_one_shape_train_together_with_the_results_of_training_alone():
    # seeds and learning rates vary, one of them diverges; everything else is shared
    trials = plan(["lr"], grid="quick", seeds=2, lr=(1e30, 0.01, 0.05), epochs=40,
                  train_samples=(20,), test_samples=(10,))
    for trial in trials:
        object.__setattr__(trial, "snapshots", (10, 40))
    assert len(trials) == 6
    together, alone = run_trials(trials), [run_trial(t) for t in trials]
    assert [r["diverged_at"] is not None for r in together] == [t.lr == 1e30 for t in trials]
    for a, b in zip(together, alone, strict=True):
        assert a["key"] == b["key"] and a["diverged_at"] == b["diverged_at"]
        assert repr(a["rows"]) == repr(b["rows"])  # repr: NaN rows (dropout-off evaluation
        assert a["snapshots"] == b["snapshots"]     # of a diverging run) compare equal too
    assert sum(bool(r["snapshots"]) for r in together) == 4
    measured = {(r["split"], r["metric"]) for r in together[2]["rows"]}
    assert {("train", "dead_units"), ("train", "classes"), ("validation", "classes")} <= measured


def test_worker_processes_start_with_one_blas_thread(monkeypatch):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from xpnet.experiments.runner import _one_thread_children

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with _one_thread_children(), ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as pool:
        seen = pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result()
    assert seen == "1"
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4" and "MKL_NUM_THREADS" not in os.environ


def test_trials_are_grouped_by_shape_and_shared_among_workers():
    trials = plan(["samples", "lr"], grid="quick", seeds=3)
    groups = _groups(trials, group_size=4, workers=2)
    assert sorted(t.key for g in groups for t in g) == sorted(t.key for t in trials)
    for group in groups:
        assert 1 <= len(group) <= 4
        assert len({(t.train_samples, t.epochs, t.log_at) for t in group}) == 1
    assert max(len(g) for g in groups) > 1
    work = [sum(t.epochs * t.train_samples for t in g) for g in groups]
    assert work == sorted(work, reverse=True)  # the longest groups start first
    assert all(len(g) == 1 for g in _groups(trials, group_size=1, workers=2))
    with pytest.raises(ValueError, match="group_size must be a positive integer, got 0"):
        run(trials, None, group_size=0)


def test_resume_skips_stored_trials(tmp_path):
    trials = tiny_plan()
    with Store(tmp_path) as store:
        first = run(trials[:2], store, workers=1)
        assert first == {"stored": 2, "ran": 2, "skipped": 0}
        second = run(trials, store, workers=1)
        assert second == {"stored": len(trials), "ran": len(trials) - 2, "skipped": 2}
        assert len(store.keys()) == len(trials)


def test_dask_local_cluster_gives_the_same_table_as_local_workers(tmp_path):
    pytest.importorskip("distributed")
    trials = tiny_plan()
    with Store(tmp_path / "local") as local:
        run(trials, local, workers=2)
        expected = table(local)
    with Store(tmp_path / "dask") as dask:
        run(trials, dask, workers=2, dask="local")
        assert table(dask) == expected


def test_a_dask_scheduler_that_does_not_answer_is_named_with_the_fix(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from xpnet.errors import StudyError
    from xpnet.experiments import runner

    monkeypatch.setattr(runner, "_CONNECT_SECONDS", 1)
    with Store(tmp_path / "s") as store, pytest.raises(
            StudyError, match=r"could not reach the Dask scheduler at 'tcp://127\.0\.0\.1:9' "
                              r"within 1 s .*leave --dask out.*--resume goes on"):
        run(tiny_plan()[:1], store, workers=1, dask="tcp://127.0.0.1:9")


@pytest.fixture
def not_a_scheduler():
    """A port on this machine that accepts connections and answers like no scheduler: with
    nothing at all (``"silent"``, as a web server waiting for its request) or with a few
    bytes (``"bytes"``, read as a frame's length)."""
    servers = []

    def serve(answer: bytes | None) -> str:
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def accept():
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = server.accept()
                    servers.append(conn)
                    if answer is not None:
                        conn.sendall(answer)
                        conn.close()

        threading.Thread(target=accept, daemon=True).start()
        return f"tcp://127.0.0.1:{server.getsockname()[1]}"

    yield serve
    for s in servers:
        s.close()


@pytest.mark.parametrize(("answer", "said"), [
    (None, r"could not reach the Dask scheduler at 'tcp://127\.0\.0\.1:\d+' within 1 s "
           r"\(OSError: the port accepted, but no handshake came within 1 s"),
    (b"SSH-2.0-OpenSSH_8.9\r\n" * 4, r"something answered there, but not a Dask scheduler "
                                     r"\(MemoryError: .*another service may listen on that "
                                     r"port.*--dask local"),
    (b"\x01" + b"\x00" * 7 + b"\x10" + b"\x00" * 7 + b"x" * 16, r"but not a Dask scheduler "
                                                          r"\(struct\.error: "),
])
def test_a_port_where_no_scheduler_answers_fails_fast(tmp_path, monkeypatch, not_a_scheduler,
                                                      answer, said):
    """distributed's Client waits without end for a handshake that never comes, and fails
    with MemoryError or struct.error on bytes that are no scheduler's."""
    pytest.importorskip("distributed")
    from xpnet.errors import StudyError
    from xpnet.experiments import runner

    monkeypatch.setattr(runner, "_CONNECT_SECONDS", 1)
    address = not_a_scheduler(answer)
    start = time.monotonic()
    with Store(tmp_path / "s") as store, pytest.raises(StudyError, match=said):
        run(tiny_plan()[:1], store, workers=1, dask=address)
    assert time.monotonic() - start < 20


@pytest.mark.parametrize(("address", "said"), [
    ("localhost", r"--dask 'localhost' is not a scheduler address \(.*port.*\); give it as "
                  r"tcp://HOST:PORT"),
    ("http://127.0.0.1:8787", r"is a web address, like the dashboard's.*tcp://HOST:8786"),
])
def test_a_dask_address_of_the_wrong_form_is_named_with_the_fix(tmp_path, address, said):
    pytest.importorskip("distributed")
    from xpnet.errors import StudyError

    with Store(tmp_path / "s") as store, pytest.raises(StudyError, match=said):
        run(tiny_plan()[:1], store, workers=1, dask=address)


def test_a_killed_study_resumes_without_repeating_stored_trials(tmp_path):
    out = tmp_path / "study"
    argv = [sys.executable, "-m", "xpnet", "study", "samples", "--quick", "--seeds", "4",
            "--train-samples", "10,30,60", "--workers", "1", "--out",
            str(out)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            with sqlite3.connect(out / "results.sqlite") as db:
                stored = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        except sqlite3.Error:
            continue
        if stored >= 2:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        before = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        rows_per_trial = db.execute(
            "SELECT COUNT(DISTINCT n) FROM (SELECT key, COUNT(*) AS n FROM rows GROUP BY key)"
        ).fetchone()[0]
    assert before >= 2 and rows_per_trial <= 3  # whole trials only (row counts by size)
    result = run_study("samples", out, quick=True, seeds=4, train_samples=(10, 30, 60),
                       workers=1, resume=True)
    assert result["skipped"] == before
    assert result["ran"] == 12 - before
    assert (out / "results.csv").exists()


def test_cli_refuses_to_mix_studies_without_resume(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["study", "samples", "--quick", "--seeds", "1", "--train-samples", "10",
            "--test-samples", "10", "--workers", "1", "--out", str(out)]
    assert main(args, out=io.StringIO()) == 0
    assert main(args, out=io.StringIO()) == 2
    assert "pass --resume" in capsys.readouterr().err
    text = io.StringIO()
    assert main([*args, "--resume"], out=text) == 0
    assert text.getvalue().startswith("0 trials run, 1 already stored")
    assert "nothing to resume" not in capsys.readouterr().err
    elsewhere = tmp_path / "typo"  # --resume where no study is: said, and one starts
    assert main([*args[:-1], str(elsewhere), "--resume"], out=io.StringIO()) == 0
    assert (f"xpnet study: nothing to resume in {str(elsewhere)!r} (no trials stored there): "
            "a new study starts") in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--lr", "0.1,abc"], ["--train-samples", "0"],
                                 ["--seeds", "0"]])
def test_cli_bad_grids_exit_2(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["study", "lr", *bad])
    assert exc.value.code == 2


def test_regression_presets_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"a regression model\. Choose one of ch14, ch15, ch18"):
        plan(["lr"], preset="ch17")


def test_an_interrupt_while_the_workers_start_stops_them(tmp_path, monkeypatch):
    """Ctrl-C while the groups were submitted (the workers starting, on a busy machine) went
    past the stop: the pool's exit hook then waited for the workers' whole groups."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from xpnet.experiments import runner

    class Interrupted(ProcessPoolExecutor):
        def submit(self, *args, **kwargs):
            if getattr(self, "_submitted", False):
                raise KeyboardInterrupt  # the second group's submit
            self._submitted = True
            return super().submit(*args, **kwargs)

    class Unlisted(ProcessPoolExecutor):
        def _spawn_process(self):  # the interrupt between a worker's start and its listing
            super()._spawn_process()
            self._processes.popitem()
            raise KeyboardInterrupt

    long = plan(["samples"], **{**TINY, "epochs": 10**6})  # trials of many minutes
    for pool in (Interrupted, Unlisted):
        monkeypatch.setattr(runner, "ProcessPoolExecutor", pool)
        with Store(tmp_path / pool.__name__) as store, pytest.raises(KeyboardInterrupt):
            run(long, store, workers=2, group_size=1)
        # stopped (and joined) before the interrupt goes on, not left to end by itself
        # once its start-up is over (a busy machine's seconds: CI's Ctrl-C test timed out)
        left = multiprocessing.active_children()
        for process in left:  # (not to leave one running past a failure)
            process.terminate()
        assert not left, pool.__name__


def test_ctrl_c_stops_a_study_with_worker_processes_at_once(tmp_path):
    """An interrupt loses the trials in flight and returns: the workers are stopped, not
    waited for (a group of the full study trains for minutes)."""
    out = tmp_path / "study"
    # trials of 10000 samples a class: minutes each (at 1000 a class a fast machine finished
    # the whole study before the interrupt came)
    argv = [sys.executable, "-m", "xpnet", "study", "samples", "--seeds", "2",
            "--train-samples", "10000", "--test-samples", "10",
            "--workers", "2", "--group-size", "1", "--out", str(out)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    # SIGINT to it alone, as `timeout` sends; and handled as in a terminal, even where these
    # tests run in a background job, whose children inherit an ignored SIGINT (a study run
    # so goes on to its end: the cause of this test's failures in CI runs started with `&`)
    proc = subprocess.Popen(_interruptible(argv), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(8)  # the workers have started their (long) trials
    assert proc.poll() is None, f"the study ended before the interrupt: {proc.stderr.read()!r}"
    timeline = []  # what was left of the study's processes, and when (said if it is slow)

    def watch():
        while proc.poll() is None:
            seen = _processes_of(proc.pid)
            if not timeline or timeline[-1][1] != seen:
                timeline.append((round(time.monotonic() - signalled, 2), seen))
            time.sleep(0.2)

    signalled = time.monotonic()
    proc.send_signal(signal.SIGINT)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()  # (its pipe closed, not left to the garbage collector)
    took = time.monotonic() - signalled
    watcher.join(timeout=5)
    said = "\n".join(f"{t:6.2f} s: {seen}" for t, seen in timeline)
    assert took < 15, f"stopped {took:.1f} s after Ctrl-C; stderr: {err!r}; left:\n{said}"
    assert proc.returncode != 0 and b"interrupted" in err
    deadline, left = time.monotonic() + 10, "?"
    while left and time.monotonic() < deadline:  # multiprocessing's helpers go soon after
        left = _processes_of(proc.pid)
        time.sleep(0.2)
    assert left == ""  # no worker left behind


def _interruptible(argv):
    """``argv`` (a Python command) started with SIGINT as a terminal gives it, which Python
    turns into KeyboardInterrupt (an ignored one it leaves ignored): a first interpreter
    resets it and becomes the command (exec keeps the pid; a reset in the child between
    fork and exec would need a fork, which JAX, loaded by earlier tests, warns against)."""
    reset = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
             "os.execv(sys.argv[1], sys.argv[1:])")
    return [argv[0], "-c", reset, *argv]


def _processes_of(group):
    """The processes of process group ``group``: pid, state, what they wait in, command."""
    listed = subprocess.run(["ps", "-o", "pid=,stat=,wchan:24=,args=", "-g", str(group)],
                            capture_output=True, text=True).stdout
    return "; ".join(line.strip()[:120] for line in listed.splitlines())


def test_ctrl_c_says_how_many_trials_are_stored_and_how_to_go_on(tmp_path, monkeypatch,
                                                                  capsys):
    """The teacher's case: an interrupt before any group finished stored 0 trials and said
    only "interrupted"; now it says what is kept and how to resume."""
    import xpnet.experiments as experiments

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "run_study", interrupted)
    empty = tmp_path / "empty"
    assert main(["study", "lr", "--quick", "--out", str(empty)]) == 130
    err = capsys.readouterr().err
    assert (f"xpnet study: stopped; 0 trials are stored in {empty} (the trials in flight are "
            "lost); run the same command with --resume to go on from them") in err
    assert err.rstrip().endswith("interrupted")
    kept = tmp_path / "kept"
    trial = plan(["lr"], grid="quick", seeds=2, lr=(0.05,), epochs=5)
    with Store(kept) as store:
        run(trial, store, workers=1)
        stored = len(store.keys())
    assert stored == 2
    assert main(["study", "lr", "--quick", "--out", str(kept)]) == 130
    assert f"stopped; 2 trials are stored in {kept}" in capsys.readouterr().err
