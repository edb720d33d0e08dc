"""Behaviour kept through refactoring: the tables the book shows, computed from a fixed list of committed
runs, equal the snapshot in ``tests/data/tables_snapshot.json``.

The list is fixed (``SNAPSHOT_RUNS``) because runs are committed over time; a run added later changes the
book's tables but not this comparison. Rewrite the snapshot only when a change of results is intended:
``python tests/test_tables_unchanged.py``.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fer_study.analysis import claims, ensemble
from fer_study.book import ensemble_tables, report
from fer_study.core import paths
from fer_study.runs import load_runs

SNAPSHOT = Path(__file__).with_name("data") / "tables_snapshot.json"
SNAPSHOT_RUNS = [
    "mini_xception_fer_weights", "mini_xception_ft", "resemotenet_s", "resemotenet_s_adamw",
    "resemotenet_s_cyclic", "resemotenet_s_cyclic_snap004", "resemotenet_s_cyclic_snap008",
    "resemotenet_s_fer2013_a", "resemotenet_s_fer2013_a_cw",
    "resemotenet_s_fer2013_fa", "resemotenet_s_ft_trainval", "resemotenet_s_ft_val", "resemotenet_s_radam",
    "resemotenet_s_ranger_adabelief", "resnet18_native", "vgg_cpu", "vgg_cpu_bf16", "vggnet_cpu",
]
# Few bootstrap draws: the intervals are still computed (same seed, same draws), only faster.
BOOTSTRAP_SAMPLES = 50


def _records(frame: pd.DataFrame) -> dict:
    """A frame as JSON-ready columns and rows (NaN and NA as None)."""
    frame = frame.astype(object).where(frame.notna(), None)
    return {"columns": [str(column) for column in frame.columns],
            "rows": [[value.item() if isinstance(value, np.generic) else value for value in row]
                     for row in frame.itertuples(index=False)]}


def current_tables(runs_dir: Path) -> dict:
    """The book's tables from the runs in ``runs_dir`` (every run of ``SNAPSHOT_RUNS`` linked there)."""
    runs = load_runs(runs_dir)
    results, notes = ensemble.evaluate_all(runs, bootstrap_samples=BOOTSTRAP_SAMPLES)
    return {
        "comparison_table": _records(claims.comparison_table(runs_dir, bootstrap_samples=BOOTSTRAP_SAMPLES)),
        "ensemble_results": _records(ensemble_tables.results_table(results)),
        "ensemble_notes": notes,
        # Without the CPU-cost column: a measurement (results/bench/model_cost_cpu.csv) with its own test.
        "member_table": _records(ensemble_tables.member_table(runs).drop(columns="cpu_ms_per_image")),
        "runs_table": _records(report.runs_table(SNAPSHOT_RUNS, runs_dir)),
    }


def link_runs(runs_dir: Path) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True)
    for name in SNAPSHOT_RUNS:
        (runs_dir / name).symlink_to(paths.RUNS_DIR / name, target_is_directory=True)
    return runs_dir


def _assert_same(actual, expected, where: str) -> None:
    if isinstance(expected, float) and isinstance(actual, float):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for key in expected:
            _assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: lengths differ"
        for index, (left, right) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(left, right, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def test_the_books_tables_are_those_of_the_snapshot(tmp_path):
    missing = [name for name in SNAPSHOT_RUNS if not (paths.RUNS_DIR / name / "metrics.json").is_file()]
    assert not missing, f"committed runs missing from {paths.RUNS_DIR}: {missing}"
    actual = json.loads(json.dumps(current_tables(link_runs(tmp_path / "runs"))))
    _assert_same(actual, json.loads(SNAPSHOT.read_text()), "tables")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        tables = current_tables(link_runs(Path(folder) / "runs"))
    SNAPSHOT.write_text(json.dumps(tables, indent=1) + "\n")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
