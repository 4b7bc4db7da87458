"""The ``xpnet`` command: book-format lines, JSON lines, overrides and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from xpnet.cli import main


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue().splitlines()


def test_train_json_lines_follow_the_contract():
    code, lines = run("train", "--preset", "ch14", "--epochs", "200", "--json")
    assert code == 0
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records[:-1]] == [0, 100, 200]
    assert set(records[0]) == {"epoch", "acc", "loss", "data_loss", "reg_loss", "lr"}
    assert set(records[-1]) == {"validation"}
    assert set(records[-1]["validation"]) == {"acc", "loss"}


def test_train_book_format_and_print_every():
    code, lines = run("train", "--preset", "ch18", "--epochs", "20", "--print-every", "10",
                      "--set", "hidden=32")
    assert code == 0
    assert lines[0].startswith("epoch: 10, acc: ")
    assert " (data_loss: " in lines[0] and "), lr: " in lines[0]
    assert lines[-1].startswith("validation, acc: ")
    assert len(lines) == 3


def test_train_fast_flag(capsys):
    # NumPy has no fused kernels: --fast leaves the numbers as they are
    plain = run("train", "--preset", "ch14", "--epochs", "100", "--json")
    assert run("train", "--preset", "ch14", "--epochs", "100", "--json", "--fast") == plain
    assert run("train", "--preset", "ch14", "--epochs", "100", "--json", "--no-fast") == plain
    # the default ("auto") takes faithful mode as it is; --fast with it is refused
    assert run("train", "--preset", "ch14", "--epochs", "1", "--seed", "nnfs")[0] == 0
    code, _ = run("train", "--preset", "ch14", "--seed", "nnfs", "--fast")
    assert code == 2
    assert "fast=True cannot be combined with faithful mode" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["train", "--preset", "ch99"],
    ["train", "--preset", "ch14", "--seed", "abc"],
    ["train", "--preset", "ch14", "--print-every", "0"],
])
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_unknown_setting_exits_2_with_the_known_settings(capsys):
    code, _ = run("train", "--preset", "ch14", "--set", "learning_rate=0.1")
    assert code == 2
    assert "unknown preset setting 'learning_rate'" in capsys.readouterr().err


def test_diverging_run_exits_1(capsys):
    code, _ = run("train", "--preset", "ch17", "--epochs", "100", "--set", "lr=1e9",
                  "--print-every", "1")
    assert code == 1
    assert "training diverged at epoch" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "xpnet", "--version"], capture_output=True,
                          text=True, check=True)
    assert proc.stdout.startswith("xpnet ")


def test_ctrl_c_during_train_with_save_says_the_model_was_not_written(tmp_path, monkeypatch,
                                                                      capsys):
    from xpnet import presets

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(presets, "run", interrupted)
    target = tmp_path / "m.npz"
    assert main(["train", "--preset", "ch14", "--save", str(target)]) == 130
    err = capsys.readouterr().err
    assert f"training stopped before its last epoch: {str(target)!r} was not written" in err
    assert err.rstrip().endswith("interrupted") and not target.exists()


def test_train_save_says_where_on_stderr_and_keeps_stdout_the_books(tmp_path, capsys):
    target = tmp_path / "m"
    assert main(["train", "--preset", "ch14", "--epochs", "2", "--save", str(target)]) == 0
    out, err = capsys.readouterr()
    assert "saved" not in out
    assert f"xpnet train: saved the model to {str(target) + '.npz'!r}" in err
    assert (tmp_path / "m.npz").is_file()


def test_help_names_the_settings_topics_and_exit_codes(capsys):
    from xpnet import presets

    for command in ("train", "gradcheck", "explain"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        if command == "train":
            assert all(key in text for key in presets.SETTINGS)
        elif command == "gradcheck":
            assert "2 for a usage error" in text
        else:
            assert "an optimizer (adam, sgd, rmsprop, adagrad)" in text and "(default 3)" in text
