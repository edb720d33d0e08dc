"""Ensembles of committed runs, built from their ``predictions.npz`` alone (no checkpoint needed).

Combiners: the mean of the members' softmax probabilities, a weighted mean whose weights are fitted on
validation only, and a majority vote; each with plain or test-time-augmented (TTA) logits. Members are
chosen on validation only (greedy forward selection, or exhaustive search over small sets); the test
split serves only the final numbers and their bootstrap intervals, never a choice.

Named ensembles follow the report: the snapshot ensemble (the snapshot runs of one training run, which
record it as ``snapshot_of``, together with that run) and the RMN-style ensemble (the Residual Masking
Network with a CBAM-ResNet and a ResNet, the trio the report reproduced).

Runs can only be combined when they scored the same images with the same labels; runs are therefore
grouped by their validation and test ids and labels before anything is combined.
"""

import argparse
import hashlib
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch

import numpy as np
from scipy.optimize import minimize

from fer_study.core import metrics as metrics_module
from fer_study.runs import (
    PREDICTION_SPLITS,
    Run,
    accuracy,
    has_tta,
    has_weights,
    held_out_validation,
    load_runs,
    run_title,
    snapshots_by_source,
    starts_from_test_selected_weights,
)

COMBINERS = ("mean", "weighted", "vote")
SELECTIONS = ("greedy", "exhaustive")
# 2**10 - 1 subsets is still instant; beyond that exhaustive search is slow and overfits validation.
MAX_EXHAUSTIVE_MEMBERS = 10
# The RMN-style ensemble: one run per family (the best on validation), families as model-name patterns.
RMN_STYLE_FAMILIES: dict[str, tuple[str, ...]] = {
    "RMN": ("resmasking_dropout1",),
    "CBAM-ResNet": ("cbam_resnet50",),
    "ResNet": ("resnet[0-9]*",),
}
RMN_STYLE = "RMN-style"
SNAPSHOT = "snapshot"
NO_RUNS = "No committed runs yet."
# The label sets of ``label_set``, in the order the book answers them.
FER2013_LABELS, FERPLUS_LABELS = "FER2013", "FER+"
LABEL_SETS = (FER2013_LABELS, FERPLUS_LABELS)


def softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    # Subtracting the row maximum keeps exp() finite for large logits without changing the softmax.
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def mean_softmax(logits_list: Sequence[np.ndarray]) -> np.ndarray:
    """Average the members' softmax probabilities: each (N, C) logits array weighs the same."""
    return softmax(np.stack([np.asarray(logits) for logits in logits_list])).mean(axis=0)


def combine(probabilities: np.ndarray, combiner: str, weights: np.ndarray | None = None) -> np.ndarray:
    """(N, C) scores from the members' (M, N, C) probabilities; the argmax of each row is the prediction."""
    probabilities = np.asarray(probabilities)
    if combiner == "mean":
        return probabilities.mean(axis=0)
    if combiner == "weighted":
        if weights is None:
            raise ValueError("the weighted combiner needs weights (fit_weights on validation)")
        return np.tensordot(np.asarray(weights), probabilities, axes=1)
    if combiner == "vote":
        votes = np.zeros(probabilities.shape[1:])
        for member in probabilities:
            votes[np.arange(len(member)), member.argmax(axis=1)] += 1
        # Ties are broken by the mean probability. Adding it (< 1 unless every member voted for that
        # class) can never lift a class above one with more votes.
        return votes + probabilities.mean(axis=0)
    raise ValueError(f"unknown combiner {combiner!r}; choose from {', '.join(COMBINERS)}")


def fit_weights(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Member weights (non-negative, summing to 1) minimising the log loss of the weighted mean.

    Call with validation probabilities only. The weights are a softmax of free parameters, so the
    optimiser works without constraints.
    """
    probabilities = np.asarray(probabilities)
    # Each member's probability of the true class, (M, N): all the log loss needs.
    true_class = probabilities[:, np.arange(probabilities.shape[1]), np.asarray(labels)]
    tiny = np.finfo(np.float64).tiny

    def loss_and_gradient(parameters: np.ndarray) -> tuple[float, np.ndarray]:
        weights = softmax(parameters)
        mixture = np.maximum(weights @ true_class, tiny)
        gradient_weights = -(true_class / mixture).mean(axis=1)
        gradient = weights * (gradient_weights - weights @ gradient_weights)
        return float(-np.log(mixture).mean()), gradient

    result = minimize(loss_and_gradient, np.zeros(len(probabilities)), jac=True, method="L-BFGS-B")
    return softmax(result.x)


def check_aligned(runs: Sequence[Run]) -> None:
    """Raise when two runs did not score the same images, in the same order, with the same labels."""
    reference = runs[0]
    for run in runs[1:]:
        for split in PREDICTION_SPLITS:
            for what, same in (("ids", reference.ids_digest(split) == run.ids_digest(split)),
                               ("labels", np.array_equal(reference.labels(split), run.labels(split)))):
                if not same:
                    raise ValueError(
                        f"runs {reference.name!r} and {run.name!r} have different {split} {what} "
                        f"({len(reference.labels(split))} vs {len(run.labels(split))} images); "
                        "only runs evaluated on the same images can be combined")


def evaluation_groups(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """The runs with a held-out validation split, grouped by the images and labels they were evaluated on, named
    by their datasets."""
    groups: dict[str, list[Run]] = {}
    for run in [run for run in runs if held_out_validation(run)]:
        digest = hashlib.sha256()
        for split in PREDICTION_SPLITS:
            digest.update(run.ids_digest(split).encode())
            digest.update(np.ascontiguousarray(run.labels(split), dtype=np.int64).tobytes())
        groups.setdefault(digest.hexdigest(), []).append(run)
    named: dict[str, list[Run]] = {}
    for members in groups.values():
        name = ", ".join(sorted({run.metrics.dataset for run in members}))
        # Two groups from one dataset (e.g. FER+ majority and soft labels) get distinct names.
        named[name if name not in named else f"{name} ({len(named) + 1})"] = members
    return named


def probabilities(runs: Sequence[Run], split: str, tta: bool = False) -> np.ndarray:
    """The members' softmax probabilities on ``split``, shape (M, N, C)."""
    return np.stack([softmax(run.logits(split, tta)) for run in runs])


def select_members(runs: Sequence[Run], method: str = "greedy", tta: bool = False) -> list[Run]:
    """Members chosen by the validation accuracy of their mean-softmax ensemble; test is never read.

    ``greedy`` starts from the best single run and adds the run that raises validation accuracy most,
    until none raises it. ``exhaustive`` tries every non-empty subset (at most
    ``MAX_EXHAUSTIVE_MEMBERS`` runs); among equally accurate subsets the smaller one wins.
    """
    check_aligned(runs)
    labels = runs[0].labels("val")
    # Each run's softmax once: exhaustive search scores up to 2**10 subsets of them.
    validation = {run.name: softmax(run.logits("val", tta)) for run in runs}

    def score(members: Sequence[Run]) -> float:
        mean = np.mean([validation[run.name] for run in members], axis=0)
        return float((mean.argmax(axis=1) == labels).mean())

    ranked = sorted(runs, key=lambda run: (-score([run]), run.name))
    if method == "greedy":
        chosen, best = [ranked[0]], score(ranked[:1])
        while True:
            chosen_names = {run.name for run in chosen}
            candidates = [(score([*chosen, run]), run) for run in ranked if run.name not in chosen_names]
            if not candidates:
                return chosen
            candidate_score, run = max(candidates, key=lambda candidate: candidate[0])
            if candidate_score <= best:
                return chosen
            chosen, best = [*chosen, run], candidate_score
    if method == "exhaustive":
        if len(ranked) > MAX_EXHAUSTIVE_MEMBERS:
            raise ValueError(f"exhaustive selection over {len(ranked)} runs is limited to "
                             f"{MAX_EXHAUSTIVE_MEMBERS}; use greedy selection")
        subsets = (list(subset) for size in range(1, len(ranked) + 1)
                   for subset in itertools.combinations(ranked, size))
        # max() keeps the first of equal scores, and subsets come smallest first.
        return max(subsets, key=score)
    raise ValueError(f"unknown selection {method!r}; choose from {', '.join(SELECTIONS)}")


def select_from(runs: Sequence[Run], dataset: str, method: str = "greedy", with_weights: bool = False,
                tta: bool = False) -> list[Run]:
    """``select_members`` among the runs trained on ``dataset`` whose validation is held out; with
    ``with_weights``, among those whose weights are here (published or local) only: the runs that can teach a
    student (``fer_study.train.teachers``) or run in the recognizer."""
    candidates = [run for run in runs if run.metrics.dataset == dataset and held_out_validation(run)
                  and (not tta or has_tta(run)) and (not with_weights or has_weights(run))]
    if not candidates:
        weights = " with weights here" if with_weights else ""
        raise ValueError(f"no run of dataset {dataset!r}{weights} has a held-out validation split to choose on")
    return select_members(candidates, method, tta)


# eq=False: members hold numpy arrays, which have no single truth value for ==.
@dataclass(frozen=True, eq=False)
class Ensemble:
    name: str
    group: str  # the evaluation group (dataset) its members share
    members: tuple[Run, ...] = field(repr=False)
    tta: bool = False
    source: str | None = None  # a snapshot ensemble's training run

    @property
    def title(self) -> str:
        """What a reader sees: a snapshot ensemble by its run's title (its ``name`` holds the run's folder
        name, which the recognizer's ``--ensemble`` takes)."""
        return f"{SNAPSHOT}s of {run_title(self.source)}" if self.source else self.name

    @property
    def member_names(self) -> list[str]:
        return [run.name for run in self.members]


def named_ensembles(group: str, runs: Sequence[Run], tta: bool = False) -> tuple[list[Ensemble], list[str]]:
    """The report's snapshot and RMN-style ensembles that the runs allow, and notes on those they don't."""
    usable = [run for run in runs if not tta or has_tta(run)]
    ensembles, notes = [], []
    for source, members in sorted(snapshots_by_source(usable).items()):
        # The run the snapshots came from is its best-on-validation epoch: the report's ensemble has it too.
        members += [run for run in usable if run.name == source]
        if len(members) > 1:
            ensembles.append(Ensemble(f"{SNAPSHOT} of {source}", group, tuple(members), tta, source))
    family_runs = {family: [run for run in usable if any(fnmatch(run.metrics.model, pattern)
                                                         for pattern in patterns)]
                   for family, patterns in RMN_STYLE_FAMILIES.items()}
    missing = [family for family, members in family_runs.items() if not members]
    if missing:
        notes.append(f"{group}: no {RMN_STYLE} ensemble{' with TTA' if tta else ''}: "
                     f"no run of {', '.join(missing)}")
    else:
        best = [max(members, key=lambda run: (accuracy(run, "val", tta), run.name))
                for members in family_runs.values()]
        ensembles.append(Ensemble(RMN_STYLE, group, tuple(best), tta))
    return ensembles, notes


def candidate_ensembles(runs: Sequence[Run], selection: str = "greedy",
                        tta_options: Sequence[bool] = (False, True)) -> tuple[list[Ensemble], list[str]]:
    """Every ensemble to evaluate: all runs of a group, the validation-selected members, the named ones."""
    ensembles: list[Ensemble] = []
    notes = [] if runs else [NO_RUNS]
    trained_on_val = [run.name for run in runs if "val" in run.metrics.train_splits]
    if trained_on_val:
        notes.append(f"left out of every ensemble, having trained on the validation split: "
                     f"{', '.join(trained_on_val)}")
    test_selected = [run.name for run in runs if starts_from_test_selected_weights(run)]
    if test_selected:
        notes.append(f"left out of every ensemble, starting from weights whose checkpoint was chosen upstream "
                     f"on PublicTest + PrivateTest: {', '.join(test_selected)}")
    for group, group_runs in evaluation_groups(runs).items():
        for tta in tta_options:
            usable = [run for run in group_runs if not tta or has_tta(run)]
            suffix = " with TTA" if tta else ""
            if len(usable) < 2:
                notes.append(f"{group}: fewer than two runs{suffix}; no ensemble{suffix}")
                continue
            ensembles.append(Ensemble("all runs", group, tuple(usable), tta))
            selected = select_members(usable, selection, tta)
            if len(selected) > 1:
                ensembles.append(Ensemble(f"{selection} selection (val)", group, tuple(selected), tta))
            else:
                notes.append(f"{group}: {selection} selection{suffix} kept one run ({run_title(selected[0].name)}); "
                             "no member improved validation accuracy")
            named, named_notes = named_ensembles(group, usable, tta)
            ensembles += named
            notes += named_notes
    return _distinct(ensembles, notes)


def _distinct(ensembles: list[Ensemble], notes: list[str]) -> tuple[list[Ensemble], list[str]]:
    """Drop an ensemble whose members (and TTA choice) repeat an earlier one, with a note saying so."""
    kept: dict[tuple, Ensemble] = {}
    for candidate in ensembles:
        key = (candidate.group, candidate.tta, frozenset(candidate.member_names))
        if key in kept:
            tta = " with TTA" if candidate.tta else ""
            notes.append(f"{candidate.group}: {candidate.name}{tta} has the same members as {kept[key].name}")
        else:
            kept[key] = candidate
    return list(kept.values()), notes


@dataclass
class EnsembleResult:
    ensemble: Ensemble
    combiner: str
    weights: np.ndarray
    val_accuracy: float
    test: dict  # classification_metrics on test
    best_member: str  # chosen on validation
    best_member_test_accuracy: float
    gain: float
    gain_interval: tuple[float, float]
    accuracy_interval: tuple[float, float]


def evaluate(ensemble: Ensemble, combiner: str = "mean", bootstrap_samples: int = 1000, seed: int = 0,
             level: float = 0.95) -> EnsembleResult:
    """Test metrics of one ensemble; its gain is over the member that is best on validation.

    ``bootstrap_samples=0`` skips the intervals (NaN).
    """
    members, tta = ensemble.members, ensemble.tta
    check_aligned(members)
    val_probabilities = probabilities(members, "val", tta)
    test_probabilities = probabilities(members, "test", tta)
    val_labels, test_labels = members[0].labels("val"), members[0].labels("test")
    weights = (fit_weights(val_probabilities, val_labels) if combiner == "weighted"
               else np.full(len(members), 1.0 / len(members)))
    val_scores = combine(val_probabilities, combiner, weights)
    test_scores = combine(test_probabilities, combiner, weights)
    best = max(range(len(members)), key=lambda index: (accuracy(members[index], "val", tta), -index))
    test_metrics = metrics_module.classification_metrics(test_labels, test_scores)
    no_interval = (float("nan"), float("nan"))
    if bootstrap_samples:
        gain, *gain_interval = metrics_module.paired_bootstrap_gain(
            test_labels, test_scores, test_probabilities[best], bootstrap_samples, level, seed)
        accuracy_interval = metrics_module.bootstrap_accuracy(test_labels, test_scores, bootstrap_samples,
                                                              level, seed)
    else:
        gain = test_metrics["accuracy"] - accuracy(members[best], "test", tta)
        gain_interval, accuracy_interval = no_interval, no_interval
    return EnsembleResult(
        ensemble=ensemble, combiner=combiner, weights=weights,
        val_accuracy=float((val_scores.argmax(axis=1) == val_labels).mean()),
        test=test_metrics, best_member=members[best].name,
        best_member_test_accuracy=accuracy(members[best], "test", tta),
        gain=float(gain), gain_interval=tuple(gain_interval), accuracy_interval=tuple(accuracy_interval))


def evaluate_all(runs: Sequence[Run], selection: str = "greedy", combiners: Sequence[str] = COMBINERS,
                 bootstrap_samples: int = 1000, seed: int = 0) -> tuple[list[EnsembleResult], list[str]]:
    """Every candidate ensemble under every combiner, and notes on the ensembles that could not be built."""
    ensembles, notes = candidate_ensembles(runs, selection)
    results = [evaluate(ensemble, combiner, bootstrap_samples, seed)
               for ensemble in ensembles for combiner in combiners]
    return results, notes


def label_set(datasets: str) -> str:
    """The labels a dataset, or an evaluation group (``evaluation_groups``' name: its datasets), is scored
    against: ``FERPLUS_LABELS`` for FER+, else ``FER2013_LABELS``. Accuracies on different label sets are
    different benchmarks: they are never ranked, plotted on one axis or pooled."""
    names = [name.strip() for name in datasets.split("(")[0].split(",")]
    return FERPLUS_LABELS if any(name.startswith("ferplus") for name in names) else FER2013_LABELS


def best_result(results: Sequence[EnsembleResult], labels: str = FER2013_LABELS) -> EnsembleResult | None:
    """The ensemble scored on ``labels`` with the highest *validation* accuracy (test accuracy would be a
    biased pick).

    Validation accuracy flatters the ensembles whose members or weights were fitted on validation, but the
    pick never sees the test set, so the test numbers of the pick stay honest."""
    return max((result for result in results if label_set(result.ensemble.group) == labels),
               key=lambda result: result.val_accuracy, default=None)


def best_confusion(results: Sequence[EnsembleResult],
                   labels: str = FER2013_LABELS) -> tuple[list | None, str]:
    """The test confusion matrix of the validation-best ensemble on ``labels`` and a title for it (``None``
    without one)."""
    best = best_result(results, labels)
    if best is None:
        return None, NO_RUNS
    return best.test["confusion"], f"{label(best)}: test accuracy {100 * best.test['accuracy']:.2f} %"


def label(result: EnsembleResult) -> str:
    tta = " + TTA" if result.ensemble.tta else ""
    return f"{result.ensemble.name} [{result.combiner}{tta}] ({result.ensemble.group})"


def main(argv: list[str] | None = None) -> int:
    """Print the validation-selected members, one run name a line (for ``fer_study.train.teachers``)."""
    parser = argparse.ArgumentParser(
        prog="python -m fer_study.analysis.ensemble",
        description="The members that selection on validation (PublicTest) picks among the committed runs of "
                    "a dataset, one run name a line; their validation accuracies go to stderr.")
    parser.add_argument("--dataset", default="fer2013", help="the dataset the members trained on")
    parser.add_argument("--method", choices=SELECTIONS, default="greedy")
    parser.add_argument("--with-weights", action="store_true",
                        help="only runs whose weights are here (published or in checkpoints/)")
    parser.add_argument("--tta", action="store_true", help="select on test-time-augmented logits")
    parser.add_argument("--runs-dir", default=None, help="run folders (default results/runs)")
    args = parser.parse_args(argv)
    try:
        members = select_from(load_runs(args.runs_dir, tiers=None), args.dataset, args.method, args.with_weights,
                              args.tta)
    except ValueError as error:
        parser.error(str(error))
    labels = members[0].labels("val")
    mean = np.mean(probabilities(members, "val", args.tta), axis=0)
    for run in members:
        print(f"{run.name}: validation accuracy {100 * accuracy(run, 'val', args.tta):.2f} %", file=sys.stderr)
    print(f"their mean: validation accuracy {100 * float((mean.argmax(axis=1) == labels).mean()):.2f} %",
          file=sys.stderr)
    print("\n".join(run.name for run in members))
    return 0


if __name__ == "__main__":
    sys.exit(main())
