"""``classification_metrics`` derives every figure from one confusion matrix: it must give exactly what
scikit-learn's own functions give, classes never predicted or never present included."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from fer_study.core.constants import CLASS_NAMES, NUM_CLASSES
from fer_study.core.metrics import classification_metrics


@pytest.mark.parametrize("seed", range(20))
def test_classification_metrics_are_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    images = int(rng.integers(1, 300))
    labels = rng.integers(0, int(rng.integers(1, NUM_CLASSES + 1)), images)  # some classes may be absent
    scores = rng.random((images, NUM_CLASSES))
    scores[:, :seed % NUM_CLASSES] -= 2  # and some never predicted
    predicted, classes = scores.argmax(1), list(range(NUM_CLASSES))
    metrics = classification_metrics(labels, scores)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=classes,
                                                                     zero_division=0)
    macro = precision_recall_fscore_support(labels, predicted, labels=classes, average="macro", zero_division=0)
    assert metrics["accuracy"] == accuracy_score(labels, predicted)
    assert (metrics["macro_precision"], metrics["macro_recall"], metrics["macro_f1"]) == macro[:3]
    assert metrics["per_class"] == {name: {"precision": p, "recall": r, "f1": f, "support": s} for name, p, r, f, s
                                    in zip(CLASS_NAMES, precision, recall, f1, support, strict=True)}
    assert metrics["confusion"] == confusion_matrix(labels, predicted, labels=classes).tolist()
