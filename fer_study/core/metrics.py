"""Classification metrics on logits or probabilities, in ``CLASS_NAMES`` order (scikit-learn), bootstrap
intervals over test images, and the statistics of seeded comparisons (a two-level bootstrap over seeds and
test images, its p-value, Holm's correction, the detectable difference) that ``fer_study.analysis.experiments``
applies."""

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm
from sklearn.metrics import confusion_matrix

from fer_study.core.constants import CLASS_NAMES, NUM_CLASSES


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Accuracy, macro precision/recall/F1, per-class precision/recall/F1/support and the confusion matrix.

    Every figure comes from one scikit-learn confusion matrix, by the formulas of its
    ``precision_recall_fscore_support(zero_division=0)`` (F1 = 2 TP / (true + predicted); 0 where a class is
    neither), which gives the same floats: calling that three times validated the same arrays again each
    time (~25 ms a call; a chapter's experiment tables call it for every seed run they compare)."""
    labels = np.asarray(labels)
    predicted = np.asarray(scores).argmax(axis=1)
    confusion = confusion_matrix(labels, predicted, labels=list(range(NUM_CLASSES)))
    hits, support, guessed = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    precision, recall = _divide_or_zero(hits, guessed), _divide_or_zero(hits, support)
    f1 = _divide_or_zero(2.0 * hits, support + guessed.astype(np.float64))
    return {
        "accuracy": float(np.mean(labels == predicted)),
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "macro_f1": float(np.mean(f1)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(CLASS_NAMES, precision, recall, f1, support, strict=True)
        },
        "confusion": confusion.tolist(),
    }


def _divide_or_zero(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` in float64, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(denominator), where=denominator != 0)


def bootstrap_indices(n_items: int, samples: int, seed: int = 0) -> np.ndarray:
    """``samples`` resamples (with replacement) of ``range(n_items)``, shape (samples, n_items).

    The same seed gives the same draws, so intervals of one comparison resample the same test sets.
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_items, size=(samples, n_items), dtype=np.int32)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_accuracy(labels: np.ndarray, scores: np.ndarray, samples: int = 1000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the accuracy, resampling test images."""
    correct = np.asarray(scores).argmax(axis=1) == np.asarray(labels)
    indices = bootstrap_indices(len(correct), samples, seed)
    return percentile_interval(correct[indices].mean(axis=1), level)


def paired_bootstrap_gain(labels: np.ndarray, scores: np.ndarray, baseline_scores: np.ndarray,
                          samples: int = 1000, level: float = 0.95,
                          seed: int = 0) -> tuple[float, float, float]:
    """Accuracy of ``scores`` minus accuracy of ``baseline_scores``, and its paired bootstrap interval.

    Both are scored on the same resampled images in every draw, so the interval reflects the
    disagreement between the two predictors, not the (larger) spread of either accuracy alone.
    """
    labels = np.asarray(labels)
    difference = ((np.asarray(scores).argmax(axis=1) == labels).astype(np.int8)
                  - (np.asarray(baseline_scores).argmax(axis=1) == labels).astype(np.int8))
    indices = bootstrap_indices(len(labels), samples, seed)
    low, high = percentile_interval(difference[indices].mean(axis=1), level)
    return float(difference.mean()), low, high


def accuracy_half_width(accuracy: float, n_items: int, level: float = 0.95) -> float:
    """Half-width of the normal-approximation interval of an accuracy measured on ``n_items`` images."""
    return float(norm.ppf(0.5 + level / 2.0) * np.sqrt(accuracy * (1.0 - accuracy) / n_items))

# --- Seeded comparisons: a two-level bootstrap over seeds and test images (fer_study.analysis.experiments) --------

def _seed_and_image_resamples(n_images: int, base_seeds: int, arm_seeds: int, samples: int, seed: int):
    """The resamples of one comparison: image weights (images, samples) as multinomial counts over the
    images, so every run's score on every draw is one matrix product, and the seeds each draw takes from
    the base and the arm (with replacement). The same ``seed`` gives the same resamples, so the metrics of
    one comparison share their draws."""
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), size=samples).T / n_images
    base_pick = rng.integers(0, base_seeds, size=(base_seeds, samples))
    arm_pick = rng.integers(0, arm_seeds, size=(arm_seeds, samples))
    return weights, base_pick, arm_pick


def _mean_difference(base_scores: np.ndarray, arm_scores: np.ndarray, base_pick: np.ndarray,
                     arm_pick: np.ndarray) -> np.ndarray:
    """Per draw, the mean over the drawn arm seeds minus that over the drawn base seeds ((runs, samples)
    scores)."""
    draws = np.arange(base_scores.shape[1])
    return arm_scores[arm_pick, draws].mean(0) - base_scores[base_pick, draws].mean(0)


def bootstrap_differences(base: np.ndarray, arm: np.ndarray, samples: int = 2000, seed: int = 0) -> np.ndarray:
    """Bootstrap draws of mean accuracy of ``arm`` minus that of ``base`` (both (seeds, images) 0/1
    matrices on the same images): seeds resampled within each arm, images resampled once per draw for both."""
    base, arm = np.asarray(base, dtype=np.float64), np.asarray(arm, dtype=np.float64)
    if base.shape[1] != arm.shape[1]:
        raise ValueError(f"base and arm were scored on different numbers of images ({base.shape[1]} and "
                         f"{arm.shape[1]})")
    weights, base_pick, arm_pick = _seed_and_image_resamples(base.shape[1], len(base), len(arm), samples, seed)
    return _mean_difference(base @ weights, arm @ weights, base_pick, arm_pick)


def bootstrap_macro_f1_differences(base: np.ndarray, arm: np.ndarray, labels: np.ndarray, samples: int = 2000,
                                   seed: int = 0) -> np.ndarray:
    """Bootstrap draws of mean macro-F1 of ``arm`` minus that of ``base`` (both (seeds, images) predicted
    classes of the same images, whose true classes are ``labels``), with the very resamples of
    ``bootstrap_differences`` for the same ``seed``. Macro-F1 is over all ``NUM_CLASSES`` classes, 0 for a
    class with no image and no prediction, as ``classification_metrics`` computes it."""
    base, arm, labels = np.asarray(base), np.asarray(arm), np.asarray(labels)
    if base.shape[1] != arm.shape[1] or base.shape[1] != len(labels):
        raise ValueError(f"base, arm and labels cover different numbers of images ({base.shape[1]}, "
                         f"{arm.shape[1]}, {len(labels)})")
    weights, base_pick, arm_pick = _seed_and_image_resamples(len(labels), len(base), len(arm), samples, seed)
    truth = np.eye(NUM_CLASSES)[labels].T  # (classes, images)
    true_counts = truth @ weights

    def resampled_macro_f1(predicted: np.ndarray) -> np.ndarray:
        """(runs, samples) macro-F1 of each run on each resample."""
        scores = []
        for run_predicted in predicted:
            guessed = np.eye(NUM_CLASSES)[run_predicted].T
            hits, guessed_counts = (guessed * truth) @ weights, guessed @ weights
            denominator = guessed_counts + true_counts
            f1 = np.divide(2 * hits, denominator, out=np.zeros_like(hits), where=denominator > 0)
            scores.append(f1.mean(axis=0))
        return np.stack(scores)

    return _mean_difference(resampled_macro_f1(base), resampled_macro_f1(arm), base_pick, arm_pick)


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over all classes of predicted classes, as ``classification_metrics`` computes it."""
    return classification_metrics(labels, np.eye(NUM_CLASSES)[predicted])["macro_f1"]


def bootstrap_p_value(draws: np.ndarray) -> float:
    """Two-sided p-value of "no difference": twice the smaller share of draws on either side of zero
    (never below one over the number of draws)."""
    draws = np.asarray(draws)
    tail = min((draws <= 0).mean(), (draws >= 0).mean())
    return float(min(1.0, max(2 * tail, 1.0 / len(draws))))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): the family-wise error stays below alpha."""
    p_values = np.asarray(p_values, dtype=float)
    order = np.argsort(p_values)
    adjusted = np.empty_like(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(p_values) - rank) * p_values[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def detectable_difference(standard_error: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true difference found with ``power`` at two-sided level ``alpha`` given its standard error."""
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * standard_error)
