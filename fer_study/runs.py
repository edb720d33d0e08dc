"""Run folders: ``results/runs/<name>/`` holds everything a table or an ensemble needs.

- ``config.yaml``: the resolved training configuration (rebuilds the model and the run).
- ``history.csv``: one row per epoch (losses, accuracies, learning rate, seconds).
- ``metrics.json``: model, dataset, tier, device, epochs, train_seconds, val/test accuracy (with and
  without TTA), macro-F1, git commit, command, ...
- ``predictions.npz``: for ``val`` and ``test``: ``{split}_ids``, ``{split}_labels``, ``{split}_logits``
  and, when TTA was evaluated, ``{split}_logits_tta``; logits in ``CLASS_NAMES`` order.
"""

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fer_study import paths
from fer_study.files import atomic_write

PREDICTION_SPLITS = ("val", "test")


@dataclass
class Run:
    name: str
    path: Path
    config: dict
    metrics: dict
    history: pd.DataFrame
    predictions: dict[str, np.ndarray] = field(repr=False)

    def logits(self, split: str, tta: bool = False) -> np.ndarray:
        key = f"{split}_logits_tta" if tta else f"{split}_logits"
        if key not in self.predictions:
            raise KeyError(f"run {self.name!r} has no {key} in {self.path / 'predictions.npz'}")
        return self.predictions[key]

    def labels(self, split: str) -> np.ndarray:
        return self.predictions[f"{split}_labels"]

    def ids(self, split: str) -> np.ndarray:
        return self.predictions[f"{split}_ids"]


def git_commit() -> str:
    """The commit the code ran at, with ``+dirty`` when the tree had uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def command_line() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])


def save_run(run_dir: Path, config: dict, metrics: dict, history: pd.DataFrame,
             predictions: dict[str, np.ndarray]) -> Path:
    """Write a run folder; each file is written atomically (``files.atomic_write``)."""
    run_dir = Path(run_dir)
    with atomic_write(run_dir / "config.yaml") as tmp:
        Path(tmp).write_text(yaml.safe_dump(config, sort_keys=False))
    with atomic_write(run_dir / "history.csv") as tmp:
        history.to_csv(tmp, index=False)
    with atomic_write(run_dir / "metrics.json") as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n")
    # A file handle, because np.savez_compressed appends ".npz" to a name that lacks it.
    with atomic_write(run_dir / "predictions.npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **predictions)
    return run_dir


def load_run(name_or_path: str | Path, runs_dir: Path | None = None) -> Run:
    path = Path(name_or_path)
    if not path.is_dir():
        path = (runs_dir or paths.RUNS_DIR) / str(name_or_path)
    if not (path / "metrics.json").is_file():
        raise FileNotFoundError(f"no run at {path} (expected {path / 'metrics.json'})")
    with np.load(path / "predictions.npz", allow_pickle=False) as npz:
        predictions = {key: npz[key] for key in npz.files}
    return Run(
        name=path.name,
        path=path,
        config=yaml.safe_load((path / "config.yaml").read_text()),
        metrics=json.loads((path / "metrics.json").read_text()),
        history=_read_history(path / "history.csv"),
        predictions=predictions,
    )


def _read_history(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # a run with no training epochs (weights evaluated as they are)
        return pd.DataFrame()


def list_runs(runs_dir: Path | None = None) -> list[str]:
    root = runs_dir or paths.RUNS_DIR
    return sorted(p.name for p in root.glob("*") if (p / "metrics.json").is_file())
