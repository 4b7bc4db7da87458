"""The explorer page: its embedded data checked against the store, and the page itself run in
a real headless browser (Debian's chromium), where it must load without a script error and
its sliders and play button must change what is shown."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from xpnet.experiments import Store, plan, run, run_study
from xpnet.experiments.answers import EXPLORER
from xpnet.experiments.explorer import (
    EXTENT,
    GRID,
    boundary,
    explorer_data,
    nearest,
    predicted_classes,
    snapshot_model,
    write_explorer,
)
from xpnet.experiments.plan import kept_epochs, log_epochs

#: Small enough to run in seconds: two seeds, every study, a diverging learning rate.
TINY = {"grid": "quick", "seeds": 2, "train_samples": (10, 30), "test_samples": (10,),
        "epochs": 120, "long_epochs": 200, "lr": (0.05, 1e20)}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("explorer")
    trials = plan(["samples", "epochs", "lr"], **TINY)
    with Store(out) as store:
        run(trials, store, workers=1)
        page = write_explorer(store, out, trials)
        yield store, trials, explorer_data(store, trials), page


def grid_of(b64):
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape(GRID, GRID)


def embedded(page):
    text = page.read_text()
    found = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    assert found is not None
    return json.loads(found.group(1))


# -- the data -------------------------------------------------------------------------------
def test_the_page_embeds_the_data_and_works_offline(study):
    data, page = study[2:]
    assert embedded(page) == json.loads(json.dumps(data))
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched
    assert page.stat().st_size < 300_000


def test_sliders_are_the_settings_the_study_varied(study):
    _, trials, data, _ = study
    fields = {f["name"]: f["values"] for f in data["fields"]}
    assert fields == {"train_samples": [10, 30, 1000], "lr": [0.05, 1e20],
                      "epochs": [120, 200]}
    assert next(f for f in data["fields"] if f["name"] == "lr")["labels"] == ["0.05", "1e+20"]
    settings = {(s["train_samples"], s["lr"], s["epochs"]) for s in data["settings"]}
    assert settings == {(t.train_samples, t.lr, t.epochs) for t in trials}
    assert all(len(s["runs"]) == 2 for s in data["settings"])  # both seeds of each


def test_curves_are_the_stored_rows(study):
    store, trials, data, _ = study
    rows = list(store.rows())
    for s in data["settings"]:
        for r in s["runs"]:
            key = next(t.key for t in trials if (t.train_samples, t.lr, t.epochs, t.seed) == (
                s["train_samples"], s["lr"], s["epochs"], r["seed"]))
            mine = [x for x in rows if x["key"] == key and x["split"] == "validation"
                    and x["metric"] == "acc"]
            assert r["epoch"] == sorted(x["epoch"] for x in mine)
            assert r["validation_acc"] == [x["value"] for x in sorted(mine,
                                                                      key=lambda x: x["epoch"])]
            assert len(r["train_loss"]) == len(r["epoch"])


def test_a_slider_leads_to_the_closest_setting_among_the_fewest_changes(study):
    """The teacher's case: from 3000/class (10000 epochs), the 30000-epoch runs at 30 and at
    1000/class change one other setting each; the closer on a log scale wins, not the first
    in the list. Each setting carries where every slider position leads."""
    fields = [{"name": "train_samples", "values": [30, 100, 1000, 3000]},
              {"name": "epochs", "values": [10000, 30000]},
              {"name": "arm", "values": ["book", "no dropout", "none"]}]
    grid = [{"train_samples": n, "epochs": e, "arm": "book"}
            for n, e in [(30, 30000), (100, 30000), (1000, 30000), (3000, 10000),
                         (1000, 10000)]]
    grid += [{"train_samples": 100, "epochs": 10000, "arm": a} for a in ("none", "no dropout")]
    assert nearest(grid, fields, grid[3], "epochs", 30000) == 2  # 1000/class
    assert nearest(grid, fields, grid[0], "epochs", 10000) == 4  # 30 -> 1000 is the only one
    # the arm: fewest changes first (100/class), then the arm next in order
    assert nearest(grid, fields, grid[1], "arm", "none") == 5
    assert nearest(grid, fields, grid[1], "arm", "no dropout") == 6
    assert nearest(grid, fields, grid[3], "arm", "L1") == -1
    _, _, data, _ = study
    for s in data["settings"]:
        for f in data["fields"]:
            assert s["jump"][f["name"]] == [nearest(data["settings"], data["fields"], s,
                                                    f["name"], v) for v in f["values"]]
            here = f["values"].index(s[f["name"]])
            assert data["settings"][s["jump"][f["name"]][here]] is s  # its own value: itself


def test_the_fresh_test_curve_is_embedded_beside_validation(study):
    store, trials, data, _ = study
    rows = list(store.rows())
    s = next(s for s in data["settings"] if s["lr"] == 0.05 and s["epochs"] == 200)
    r = s["runs"][0]
    key = next(t.key for t in trials if (t.train_samples, t.lr, t.epochs, t.seed) == (
        s["train_samples"], s["lr"], s["epochs"], r["seed"]))
    mine = sorted((x for x in rows if x["key"] == key and x["split"] == "test_curve"
                   and x["metric"] == "loss"), key=lambda x: x["epoch"])
    assert mine and len(r["test_curve_loss"]) == len(r["epoch"])
    assert [v for v in r["test_curve_loss"] if v is not None] == [x["value"] for x in mine]


def test_boundaries_only_at_stored_snapshot_epochs(study):
    store, trials, data, _ = study
    for s in data["settings"]:
        for r in s["runs"]:
            trial = next(t for t in trials if (t.train_samples, t.lr, t.epochs, t.seed) == (
                s["train_samples"], s["lr"], s["epochs"], r["seed"]))
            stored = [e for e in trial.snapshots if store.snapshot(trial.key, e) is not None]
            assert sorted(map(int, r["boundaries"])) == stored
            if s["lr"] == 1e20:  # diverged at once: no snapshot, no picture
                assert r["diverged_at"] is not None and r["boundaries"] == {}
    long = next(s for s in data["settings"] if s["epochs"] == 200)
    kept = list(kept_epochs(log_epochs(200, 40), 200))
    assert len(kept) > 2 and kept[0] == 100 and kept[-1] == 200
    assert all(sorted(map(int, r["boundaries"])) == kept for r in long["runs"])


def test_a_boundary_is_the_models_prediction_on_the_grid(study):
    store, trials, data, _ = study
    trial = next(t for t in trials if t.train_samples == 30 and t.seed == 1)
    s = next(s for s in data["settings"] if s["train_samples"] == 30)
    image = grid_of(next(r for r in s["runs"] if r["seed"] == 1)["boundaries"]["120"])
    model, X, y = snapshot_model(trial.config, store.snapshot(trial.key, 120))
    ticks = np.linspace(-EXTENT, EXTENT, GRID, dtype=np.float32)
    for r, c in [(0, 0), (5, 50), (30, 30), (59, 12)]:  # row r is y = ticks[r]
        point = np.array([[ticks[c], ticks[r]]], dtype=np.float32)
        assert image[r, c] == predicted_classes(model, point)[0]
    assert image.dtype == np.uint8 and set(np.unique(image)) <= {0, 1, 2}
    assert len(np.unique(image)) >= 2  # a trained model splits the square
    assert np.array_equal(boundary(model), image)
    # the training points are the trial's own data, quantised to a byte per coordinate
    pts = data["points"][f"30/{trial.seed}"]
    xy = np.frombuffer(base64.b64decode(pts["xy"]), np.uint8).reshape(-1, 2)
    assert pts["n"] == len(X) == 90
    np.testing.assert_allclose(xy / 255 * 2 * EXTENT - EXTENT, X, atol=EXTENT / 255 + 1e-6)
    assert np.array_equal(np.frombuffer(base64.b64decode(pts["y"]), np.uint8), y.ravel())


def test_a_study_writes_its_explorer(tmp_path):
    result = run_study("epochs", tmp_path, quick=True, seeds=2, epochs=60, workers=1)
    page = tmp_path / "explorer.html"
    assert page in result["outputs"]
    data = embedded(page)
    # the epochs study crosses run length with the quick grid's training sizes: one slider
    assert data["fields"] == [{"name": "train_samples", "label": "Training samples per class",
                               "values": [30, 1000], "labels": ["30", "1000"]}]
    for setting in data["settings"]:
        assert [sorted(map(int, r["boundaries"])) for r in setting["runs"]] == [
            [60], [60]]  # min(100, 60) and 60: one stored epoch
    # the report and the answer sheets link the page
    assert "[the explorer](explorer.html)" in EXPLORER
    for name in ("report.md", "answers.md"):
        assert EXPLORER in (tmp_path / name).read_text()
    assert '<a href="explorer.html">the explorer</a>' in (tmp_path / "report.html").read_text()


# -- the page in a browser ------------------------------------------------------------------
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")

#: Moves the first slider, then the run-length slider to its longest runs, plays the
#: animation, and writes what the page showed at each step into the DOM.
DRIVER = """<script>
window.addEventListener("load", function () {
  var out = {}, st = document.getElementById("state");
  function shown() { return {setting: st.dataset.setting, epoch: st.dataset.epoch,
    frames: st.dataset.frames, checksum: st.dataset.checksum}; }
  function move(input, index) {
    input.value = String(index); input.dispatchEvent(new Event("input")); }
  out.start = shown();
  var first = document.querySelector("#sliders input");
  move(first, (Number(first.value) + 1) % (Number(first.max) + 1));
  out.moved = shown();
  var length = document.getElementById("slider-epochs");
  move(length, Number(length.max));
  out.longest = shown();
  move(document.getElementById("frame"), 0);
  out.first_frame = shown();
  document.getElementById("play").click();
  setTimeout(function () {
    out.played = shown();
    var pre = document.createElement("pre");
    pre.id = "driven"; pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 5000);
});
</script></body>"""


@pytest.mark.skipif(BROWSER is None, reason="no chromium: `apt-get install chromium` (.ci/run "
                    "installs it where apt-get exists)")
def test_the_page_runs_in_a_browser_and_its_sliders_change_what_is_shown(study, tmp_path):
    page = study[3]
    driven = tmp_path / "driven.html"
    driven.write_text(page.read_text().replace("</body>", DRIVER))
    # virtual time: the page's timers (the animation, the driver's wait) run at once
    dom = subprocess.run(
        [BROWSER, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=20000",
         "--dump-dom", driven.as_uri()], capture_output=True, text=True, timeout=60,
        check=True).stdout
    errors = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert errors is not None and errors.group(1) == ""
    found = re.search(r'<pre id="driven">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    shown = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert shown["start"]["setting"] == "10 samples/class, lr 0.05, 120 epochs"
    assert shown["moved"]["setting"] == "30 samples/class, lr 0.05, 120 epochs"
    assert shown["moved"]["checksum"] != shown["start"]["checksum"]
    # the longest runs (the epochs study's, crossed with training sizes: the nearest is at
    # the size shown) animate over their stored epochs
    assert shown["longest"]["setting"] == "30 samples/class, lr 0.05, 200 epochs"
    assert shown["longest"]["frames"] == ",".join(map(str, kept_epochs(log_epochs(200, 40),
                                                                       200)))
    assert (shown["first_frame"]["epoch"], shown["played"]["epoch"]) == ("100", "200")
    assert shown["first_frame"]["checksum"] != shown["played"]["checksum"]



def test_a_kept_model_is_measured_on_the_trials_own_validation_set(study):
    """The boundary figure's early panel keeps epoch 100, which the log grid may skip: its
    validation accuracy is measured from the kept model on the trial's validation set, the
    same set the logged values come from (checked here at a kept epoch that was logged)."""
    from xpnet.experiments.trial import validation_set

    store, trials, _, _ = study
    trial = next(t for t in trials if t.epochs == 200 and t.lr == 0.05)
    model, _, _ = snapshot_model(trial.config, store.snapshot(trial.key, 200))
    got = model.evaluate(*validation_set(trial.config, model.backend))
    logged = {(x["metric"]): x["value"] for x in store.rows([trial.key])
              if x["split"] == "validation" and x["epoch"] == 200}
    assert got["acc"] == pytest.approx(logged["acc"])
    assert got["loss"] == pytest.approx(logged["loss"], rel=1e-5)
    assert 100 in trial.snapshots and 100 not in trial.log_at  # the case it serves


def test_the_explorer_draws_each_split_in_the_colour_of_the_pngs():
    """The teacher's point: validation was red in the explorer, orange in the PNGs (the
    PNGs draw train, validation and fresh test in matplotlib's first three colours)."""
    from pathlib import Path

    import matplotlib as mpl

    import xpnet.experiments

    html = (Path(xpnet.experiments.__file__).parent / "explorer.html").read_text()
    cycle = [mpl.colors.to_hex(c) for c in mpl.rcParams["axes.prop_cycle"].by_key()["color"]]
    for split, colour in zip(("train", "validation", "test_curve"), cycle, strict=False):
        assert f'["{split}", "{colour}"' in html
