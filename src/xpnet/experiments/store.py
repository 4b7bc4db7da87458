"""The results store: one SQLite database per study directory.

Every finished trial is written at once, in one transaction (its configuration, timing and
all its rows), so a killed run loses at most the trials in flight and never leaves a
half-written trial; a re-run skips the keys already stored. SQLite's write-ahead log keeps
the file consistent whatever moment the process dies at.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..io import atomic_write_bytes

__all__ = ["COLUMNS", "Store"]

#: Columns of the tidy results table (one row per trial, metric and epoch or test set).
COLUMNS = ("key", "seed", "train_samples", "lr", "epochs", "epoch", "split", "metric",
           "value", "test_samples", "rep")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    seconds REAL NOT NULL,
    diverged_at INTEGER
);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT NOT NULL REFERENCES trials(key),
    seed INTEGER, train_samples INTEGER, lr REAL, epochs INTEGER,
    epoch INTEGER, split TEXT, metric TEXT, value REAL, test_samples INTEGER, rep INTEGER
);
CREATE INDEX IF NOT EXISTS rows_key ON rows(key);
CREATE TABLE IF NOT EXISTS snapshots (
    key TEXT NOT NULL REFERENCES trials(key),
    epoch INTEGER NOT NULL,
    model BLOB NOT NULL,
    PRIMARY KEY (key, epoch)
);
"""


class Store:
    """Trials and their results in ``DIR/results.sqlite``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = Store(d)
    ...     store.add({"key": "k1", "config": {"seed": 0, "train_samples": 10, "lr": 0.1,
    ...                "epochs": 5}, "rows": [{"epoch": 5, "split": "validation",
    ...                "metric": "acc", "value": 0.5, "test_samples": 0, "rep": 0}],
    ...                "snapshots": {}, "seconds": 0.1, "diverged_at": None})
    ...     sorted(store.keys()), len(list(store.rows()))
    (['k1'], 1)
    """

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "results.sqlite"
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            msg = (f"{str(self.path)!r} is not a readable results database ({exc}); move it "
                   "away or choose another --out directory.")
            raise ValueError(msg) from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keys(self) -> set[str]:
        """Keys of the trials already stored."""
        return {k for (k,) in self._db.execute("SELECT key FROM trials")}

    def add(self, result: dict[str, Any]) -> None:
        """Store one finished trial, atomically (all of it or nothing)."""
        cfg = result["config"]
        fixed = (result["key"], cfg["seed"], cfg["train_samples"], cfg["lr"], cfg["epochs"])
        with self._db:  # one transaction
            self._db.execute(
                "INSERT OR REPLACE INTO trials VALUES (?, ?, ?, ?)",
                (result["key"], json.dumps(cfg, sort_keys=True), result["seconds"],
                 result["diverged_at"]))
            self._db.execute("DELETE FROM rows WHERE key = ?", (result["key"],))
            self._db.executemany(
                "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*fixed, r["epoch"], r["split"], r["metric"], r["value"], r["test_samples"],
                  r["rep"]) for r in result["rows"]])
            self._db.executemany(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)",
                [(result["key"], epoch, blob) for epoch, blob in result["snapshots"].items()])

    def trials(self) -> list[dict[str, Any]]:
        """Every stored trial: ``{"key", "config", "seconds", "diverged_at"}``."""
        return [{"key": k, "config": json.loads(c), "seconds": s, "diverged_at": d}
                for k, c, s, d in self._db.execute("SELECT * FROM trials ORDER BY key")]

    def rows(self, keys: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """The tidy rows (of ``keys`` only, if given), as dicts keyed by :data:`COLUMNS`."""
        query = f"SELECT {', '.join(COLUMNS)} FROM rows"
        if keys is None:
            cursor = self._db.execute(query + " ORDER BY key, split, metric, epoch, "
                                      "test_samples, rep")
        else:
            keys = list(keys)
            marks = ", ".join("?" * len(keys))
            cursor = self._db.execute(f"{query} WHERE key IN ({marks})", keys)
        for row in cursor:
            yield dict(zip(COLUMNS, row, strict=True))

    def snapshot(self, key: str, epoch: int) -> bytes | None:
        """The saved parameters (an .npz archive) of trial ``key`` at ``epoch``."""
        found = self._db.execute("SELECT model FROM snapshots WHERE key = ? AND epoch = ?",
                                 (key, epoch)).fetchone()
        return None if found is None else bytes(found[0])

    def export_csv(self, path: str | os.PathLike[str], keys: Iterable[str] | None = None,
                   trial_columns: Mapping[str, Mapping[str, Any]] | None = None) -> int:
        """Write the tidy table (atomically) as CSV; returns the number of rows.
        ``trial_columns`` adds columns per trial (``{key: {column: value}}``, every trial
        the same columns): what tells trials apart that :data:`COLUMNS` does not."""
        extra = list(next(iter(trial_columns.values()), {})) if trial_columns else []
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, *extra])
        writer.writeheader()
        n = 0
        for row in self.rows(keys):
            writer.writerow({**row, **(trial_columns or {}).get(row["key"], {})})
            n += 1
        atomic_write_bytes(path, buffer.getvalue().encode())
        return n
