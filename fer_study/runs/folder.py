"""A run folder ``results/runs/<name>/``: its files (``RUN_FILES``), whether it is complete, writing it
atomically (``save_run``) and reading it back (``load_run``: a ``Run``); and where a run comes from: its
params file (``params_file``), its seed, the commit and command that produced it."""

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fer_study.core import paths
from fer_study.core.files import atomic_write
from fer_study.runs.metrics import RunMetrics

# The files every complete run folder holds (the published weights, ``model.pt``, are optional).
CONFIG_FILE, HISTORY_FILE, METRICS_FILE, PREDICTIONS_FILE = (
    "config.yaml", "history.csv", "metrics.json", "predictions.npz")
RUN_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE, PREDICTIONS_FILE)
_SEED_SUFFIX = re.compile(r"^(?P<recipe>.+)_seed(?P<seed>\d+)$")
# What ``predictions.npz`` holds of a split's image ids: their digest (``ids_digest``), since the ids are the
# dataset's and a copy in every run made up a fifth of the tracked tree; run folders written before hold
# the ids themselves (``STORED_IDS``).
IDS_DIGEST = "{split}_ids_sha256"
STORED_IDS = "{split}_ids"
# A prediction split other than val and test: another dataset's test split (``other_test_split``).
_OTHER_TEST = "_test"


def other_test_split(dataset: str) -> str:
    """The prediction split holding a run's scores on ``dataset``'s test split, when that is not the run's own
    dataset (``TrainConfig.extra_test_datasets``): ``<dataset>_test``; ``Run.split_source`` reads it back."""
    return f"{dataset}{_OTHER_TEST}"


def ids_digest(ids: np.ndarray) -> str:
    """The sha256 of image ids in their order (one per line, UTF-8): equal exactly when the ids are."""
    return hashlib.sha256("\n".join(str(image_id) for image_id in ids).encode()).hexdigest()


def seed_run_name(recipe: str, seed: int) -> str:
    return f"{recipe}_seed{seed}"


def recipe_and_seed(run_name: str) -> tuple[str, int | None]:
    """``("exp_base", 2)`` for ``exp_base_seed2``; ``(run_name, None)`` for a name without a seed suffix."""
    match = _SEED_SUFFIX.match(run_name)
    return (match["recipe"], int(match["seed"])) if match else (run_name, None)


def params_file(run_name: str, tier: str) -> Path:
    """The params file a run is trained from: ``params/<tier>/runs/<run_name>.yaml``, or ``<recipe>.yaml``
    for a seed run ``<recipe>_seed<N>``."""
    return paths.PARAMS_DIR / tier / "runs" / f"{recipe_and_seed(run_name)[0]}.yaml"


def run_folder(name_or_path: str | Path, runs_dir: Path | None = None) -> Path:
    """A run given as a folder, or as a name under ``runs_dir`` (default ``results/runs``)."""
    path = Path(name_or_path)
    return path if path.is_dir() else (runs_dir or paths.RUNS_DIR) / str(name_or_path)


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds every file of a run (``RUN_FILES``): a run whose training finished."""
    return all((Path(folder) / name).is_file() for name in RUN_FILES)


def read_metrics(folder: Path) -> RunMetrics:
    """The metrics of the run in ``folder``, without loading the rest of it."""
    folder = Path(folder)
    return RunMetrics(json.loads((folder / METRICS_FILE).read_text()), folder.name)


@dataclass
class Run:
    """A loaded run folder. ``metrics`` is typed (``RunMetrics``); a plain dict given is wrapped."""

    name: str
    path: Path
    config: dict
    metrics: RunMetrics
    history: pd.DataFrame
    predictions: dict[str, np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.metrics, RunMetrics):
            self.metrics = RunMetrics(self.metrics, self.name)

    def logits(self, split: str, tta: bool = False) -> np.ndarray:
        key = f"{split}_logits_tta" if tta else f"{split}_logits"
        if key not in self.predictions:
            raise KeyError(f"run {self.name!r} has no {key} in {self.path / PREDICTIONS_FILE}")
        return self.predictions[key]

    def labels(self, split: str) -> np.ndarray:
        return self.predictions[f"{split}_labels"]

    def stores_ids(self, split: str) -> bool:
        """Whether the folder holds ``split``'s image ids themselves (run folders written before the digest)."""
        return STORED_IDS.format(split=split) in self.predictions

    def ids(self, split: str) -> np.ndarray:
        """The stored image ids of ``split``; a run storing only their digest is resolved against its
        dataset by ``fer_study.analysis.diagnostics.image_ids`` (``fer_study.data.evaluation_ids``)."""
        if not self.stores_ids(split):
            raise KeyError(f"run {self.name!r} stores the digest of its {split} image ids, not the ids "
                           f"({self.path / PREDICTIONS_FILE}): fer_study.analysis.diagnostics.image_ids reads "
                           f"them from the dataset {self.split_source(split)[0]!r}")
        return self.predictions[STORED_IDS.format(split=split)]

    def ids_digest(self, split: str) -> str:
        """The digest of the image ids ``split``'s rows were scored on (``ids_digest``), stored or computed."""
        if self.stores_ids(split):
            return ids_digest(self.ids(split))
        key = IDS_DIGEST.format(split=split)
        if key not in self.predictions:
            raise KeyError(f"run {self.name!r} has no {split} predictions in {self.path / PREDICTIONS_FILE}")
        return str(self.predictions[key])

    def split_source(self, split: str) -> tuple[str, str]:
        """The dataset and official split behind prediction split ``split``: the run's own dataset for
        ``val`` and ``test``; ``<name>`` and ``test`` for ``<name>_test``."""
        if split in ("val", "test"):
            return self.metrics.dataset, split
        if split.endswith(_OTHER_TEST):
            return split.removesuffix(_OTHER_TEST), "test"
        raise ValueError(f"run {self.name!r}: unknown prediction split {split!r} (expected val, test or "
                         f"<dataset>_test)")

    @property
    def snapshot_of(self) -> str | None:
        """The run this one is a snapshot of (an epoch its cyclic schedule saved), else ``None``."""
        return self.metrics.snapshot_of


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
    with atomic_write(run_dir / CONFIG_FILE) as tmp:
        Path(tmp).write_text(yaml.safe_dump(config, sort_keys=False))
    with atomic_write(run_dir / HISTORY_FILE) as tmp:
        history.to_csv(tmp, index=False)
    with atomic_write(run_dir / METRICS_FILE) as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n")
    # A file handle, because np.savez_compressed appends ".npz" to a name that lacks it.
    with atomic_write(run_dir / PREDICTIONS_FILE) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **predictions)
    return run_dir


def load_run(name_or_path: str | Path, runs_dir: Path | None = None) -> Run:
    """The run folder ``name_or_path`` (``run_folder``), loaded."""
    path = run_folder(name_or_path, runs_dir)
    if not (path / METRICS_FILE).is_file():
        raise FileNotFoundError(f"no run at {path} (expected {path / METRICS_FILE})")
    with np.load(path / PREDICTIONS_FILE, allow_pickle=False) as npz:
        # float16 logits (runs since they are stored compactly) are read as float32 for the arithmetic.
        predictions = {key: npz[key].astype(np.float32) if npz[key].dtype == np.float16 else npz[key]
                       for key in npz.files}
    return Run(
        name=path.name,
        path=path,
        config=yaml.safe_load((path / CONFIG_FILE).read_text()),
        metrics=read_metrics(path),
        history=_read_history(path / HISTORY_FILE),
        predictions=predictions,
    )


def _read_history(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # a run with no training epochs (weights evaluated as they are)
        return pd.DataFrame()


def list_runs(runs_dir: Path | None = None) -> list[str]:
    """The names of the run folders in ``runs_dir`` (default ``results/runs``), sorted."""
    root = runs_dir or paths.RUNS_DIR
    return sorted(p.name for p in root.glob("*") if (p / METRICS_FILE).is_file())
