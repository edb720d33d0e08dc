"""Classification metrics on logits or probabilities, in ``CLASS_NAMES`` order (scikit-learn), and
bootstrap intervals over test images."""

import numpy as np
from scipy.stats import norm
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from fer_study.constants import CLASS_NAMES, NUM_CLASSES


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Accuracy, macro precision/recall/F1, per-class precision/recall/F1/support and the confusion matrix."""
    labels = np.asarray(labels)
    predicted = np.asarray(scores).argmax(axis=1)
    classes = list(range(NUM_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0)
    macro = precision_recall_fscore_support(labels, predicted, labels=classes, average="macro", zero_division=0)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(CLASS_NAMES, precision, recall, f1, support, strict=True)
        },
        "confusion": confusion_matrix(labels, predicted, labels=classes).tolist(),
    }


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
