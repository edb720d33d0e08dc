"""Run folders: ``results/runs/<name>/`` holds everything a table or an ensemble needs.

- ``config.yaml``: the resolved training configuration (rebuilds the model and the run).
- ``history.csv``: one row per epoch (losses, accuracies, learning rate, seconds).
- ``metrics.json``: model, dataset, tier, device, epochs, train_seconds, val/test accuracy (with and
  without TTA), macro-F1, git commit, command, ...
- ``predictions.npz``: for ``val`` and ``test``: ``{split}_ids``, ``{split}_labels``, ``{split}_logits``
  and, when TTA was evaluated, ``{split}_logits_tta``; logits in ``CLASS_NAMES`` order.
- ``model.pt`` only for the runs whose weights the recognizer ships (``publish_weights``); every run's
  weights are written to ``checkpoints/<name>/model.pt`` (never committed), and ``metrics.json`` records
  their size and sha256, so a copy found elsewhere can be checked.

Seeds: a run named ``<recipe>_seed<N>`` is the params file ``<recipe>.yaml`` trained with ``seed: N``
(``python -m fer_study.train params/cpu/runs/<recipe>.yaml --seed N``).
"""

import hashlib
import json
import re
import shutil
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
WEIGHTS_NAME = "model.pt"
_SEED_SUFFIX = re.compile(r"^(?P<recipe>.+)_seed(?P<seed>\d+)$")


def seed_run_name(recipe: str, seed: int) -> str:
    return f"{recipe}_seed{seed}"


def recipe_and_seed(run_name: str) -> tuple[str, int | None]:
    """``("exp_base", 2)`` for ``exp_base_seed2``; ``(run_name, None)`` for a name without a seed suffix."""
    match = _SEED_SUFFIX.match(run_name)
    return (match["recipe"], int(match["seed"])) if match else (run_name, None)


def weights_file(tier: str, name: str) -> Path:
    """Where training writes a run's weights: ``checkpoints/<name>/model.pt`` (smoke runs: ``scratch/``)."""
    return paths.checkpoints_dir_for(tier) / name / WEIGHTS_NAME


def checkpoint_file(tier: str, name: str) -> Path:
    """The epoch checkpoint training resumes from: ``checkpoints/<name>/last.pt`` (smoke runs: ``scratch/``)."""
    return paths.checkpoints_dir_for(tier) / name / "last.pt"


def weights_path(run_path: Path) -> Path | None:
    """A run's weights: the published ``<run>/model.pt``, else the local copy training wrote
    (``weights_file`` of the run's tier); ``None`` when neither exists."""
    run_path = Path(run_path)
    if (run_path / WEIGHTS_NAME).is_file():
        return run_path / WEIGHTS_NAME
    metrics_file = run_path / "metrics.json"
    tier = json.loads(metrics_file.read_text()).get("tier", "cpu") if metrics_file.is_file() else "cpu"
    local = weights_file(tier, run_path.name)
    return local if local.is_file() else None


def publish_weights(name: str, runs_dir: Path | None = None) -> Path:
    """Copy a run's local weights into its run folder (to be committed), after checking them against the
    size and sha256 that its ``metrics.json`` recorded at training time."""
    run_path = (runs_dir or paths.RUNS_DIR) / name
    metrics = json.loads((run_path / "metrics.json").read_text())
    source = weights_file(metrics.get("tier", "cpu"), name)
    if not source.is_file():
        raise FileNotFoundError(f"run {name!r}: no local weights at {source} to publish")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != metrics.get("weights_sha256"):
        raise ValueError(f"{source}: sha256 {digest} differs from the {metrics.get('weights_sha256')} that "
                         f"{run_path / 'metrics.json'} recorded; these are not the run's weights")
    with atomic_write(run_path / WEIGHTS_NAME) as tmp:
        shutil.copyfile(source, tmp)
    return run_path / WEIGHTS_NAME


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


def command_line(argv: list[str] | None = None) -> str:
    """The command that produced a run: this process's, unless a caller (the sweep) names its own."""
    return " ".join([Path(sys.executable).name, *(sys.argv if argv is None else argv)])


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
