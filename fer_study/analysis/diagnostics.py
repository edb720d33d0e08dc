"""What a researcher checks of the best models beyond their accuracy, from committed predictions: the
best single run and the validation-chosen ensemble as one kind of ``Predictions`` (the ids of the faces
they scored read from the dataset where a run stores only their digest); per-class recall;
calibration (expected calibration error, the reliability curve, and temperature scaling fitted on
PublicTest, Guo et al. 2017); accuracy against the FER+ majority label of the same PrivateTest faces (how
much of the error is FER2013's label noise); and the faces a model gets wrong most confidently.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

from fer_study.analysis import ensemble
from fer_study.core.constants import CLASS_NAMES
from fer_study.core.metrics import classification_metrics
from fer_study.data import evaluation_ids
from fer_study.runs import Run, ids_digest, recipe_and_seed, run_title

CALIBRATION_BINS = 15


@dataclass(frozen=True, eq=False)
class Predictions:
    """A model's validation and test logits (log-probabilities for an ensemble), labels and test image ids."""

    name: str
    val_logits: np.ndarray
    val_labels: np.ndarray
    test_logits: np.ndarray
    test_labels: np.ndarray
    test_ids: np.ndarray

    @property
    def test_predicted(self) -> np.ndarray:
        return self.test_logits.argmax(axis=1)


def image_ids(run: Run, split: str) -> np.ndarray:
    """The image ids ``run`` scored on ``split``, in order: stored in run folders written before the digest;
    else its dataset's (``Run.split_source``), checked against the digest the run stores."""
    if run.stores_ids(split):
        return run.ids(split)
    dataset, source_split = run.split_source(split)
    ids = evaluation_ids(dataset, source_split)
    if ids_digest(ids) != run.ids_digest(split):
        raise ValueError(f"run {run.name!r} scored other {split} images than dataset {dataset!r} has in its "
                         f"{source_split} split now ({len(ids)} images; digests differ): was the dataset's "
                         "cache rebuilt from other data?")
    return ids


def of_run(run: Run) -> Predictions:
    return Predictions(run_title(run.name), run.logits("val"), run.labels("val"), run.logits("test"),
                       run.labels("test"), image_ids(run, "test"))


def of_ensemble(result: ensemble.EnsembleResult) -> Predictions:
    """The ensemble's combined scores as log-probabilities (a vote's scores normalised first)."""
    members = result.ensemble.members

    def log_scores(split: str) -> np.ndarray:
        scores = ensemble.combine(ensemble.probabilities(members, split, result.ensemble.tta), result.combiner,
                                  result.weights)
        return np.log(np.clip(scores / scores.sum(axis=1, keepdims=True), 1e-12, None))

    return Predictions(ensemble.label(result), log_scores("val"), members[0].labels("val"), log_scores("test"),
                       members[0].labels("test"), image_ids(members[0], "test"))


def per_class_recall(models: Sequence[Predictions]) -> pd.DataFrame:
    """PrivateTest recall of each class (percent), one row per class, one column per model."""
    per_class = {model.name: classification_metrics(model.test_labels, model.test_logits)["per_class"]
                 for model in models}
    return pd.DataFrame({name: [100 * per_class[name][class_name]["recall"] for class_name in CLASS_NAMES]
                         for name in per_class}, index=pd.Index(CLASS_NAMES, name="class"))


def reliability(logits: np.ndarray, labels: np.ndarray, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Per confidence bin (equal width on [0, 1]): images, mean confidence and accuracy (fractions)."""
    probabilities = softmax(logits, axis=1)
    confidence, correct = probabilities.max(axis=1), probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = [{"bin_low": index / bins, "bin_high": (index + 1) / bins, "images": int((which == index).sum()),
             "confidence": float(confidence[which == index].mean()) if (which == index).any() else np.nan,
             "accuracy": float(correct[which == index].mean()) if (which == index).any() else np.nan}
            for index in range(bins)]
    return pd.DataFrame(rows)


def expected_calibration_error(logits: np.ndarray, labels: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """The images-weighted mean gap between confidence and accuracy over the confidence bins (Guo et al. 2017)."""
    table = reliability(logits, labels, bins).dropna()
    return float((table["images"] * (table["confidence"] - table["accuracy"]).abs()).sum() / len(labels))


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    return float(-log_softmax(logits / temperature, axis=1)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``logits`` (validation's, never test's)."""
    found = minimize_scalar(lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
                            bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(found.x))


def calibration_table(models: Sequence[Predictions]) -> pd.DataFrame:
    """Per model: the temperature fitted on PublicTest, and PrivateTest's expected calibration error and
    negative log-likelihood before and after it (ECE in percent). Scaling never changes a prediction."""
    rows = []
    for model in models:
        temperature = fit_temperature(model.val_logits, model.val_labels)
        rows.append({"model": model.name, "temperature": temperature,
                     "ece_pct": 100 * expected_calibration_error(model.test_logits, model.test_labels),
                     "ece_scaled_pct": 100 * expected_calibration_error(model.test_logits / temperature,
                                                                        model.test_labels),
                     "nll": negative_log_likelihood(model.test_logits, model.test_labels),
                     "nll_scaled": negative_log_likelihood(model.test_logits, model.test_labels, temperature)})
    return pd.DataFrame(rows)


def label_noise_table(models: Sequence[Predictions], ferplus_labels: Mapping[str, int]) -> pd.DataFrame:
    """Per model, on the PrivateTest faces that FER+ labels (``ferplus_labels``: FER2013 test id -> FER+
    majority class): accuracy against FER2013's labels and against FER+'s, and the share of its FER2013
    errors where it agrees with FER+ (errors that FER+'s annotators would call right)."""
    rows = []
    for model in models:
        keep = np.array([str(image_id) in ferplus_labels for image_id in model.test_ids])
        plus = np.array([ferplus_labels[str(image_id)] for image_id in model.test_ids[keep]], dtype=int)
        predicted, labels = model.test_predicted[keep], model.test_labels[keep]
        wrong = predicted != labels
        rows.append({"model": model.name, "faces": int(keep.sum()),
                     "fer2013_acc_pct": 100 * float((~wrong).mean()),
                     "ferplus_acc_pct": 100 * float((predicted == plus).mean()),
                     "errors_ferplus_calls_right_pct": 100 * float((predicted[wrong] == plus[wrong]).mean())
                     if wrong.any() else np.nan})
    return pd.DataFrame(rows)


def confidently_wrong(model: Predictions, count: int = 16) -> pd.DataFrame:
    """The ``count`` PrivateTest faces ``model`` gets wrong with the highest confidence: id, true and
    predicted class, confidence (percent)."""
    probabilities = softmax(model.test_logits, axis=1)
    wrong = np.flatnonzero(model.test_predicted != model.test_labels)
    order = wrong[np.argsort(-probabilities[wrong].max(axis=1), kind="stable")][:count]
    return pd.DataFrame({"id": model.test_ids[order], "true": np.array(CLASS_NAMES)[model.test_labels[order]],
                         "predicted": np.array(CLASS_NAMES)[model.test_predicted[order]],
                         "confidence_pct": 100 * probabilities[order].max(axis=1)})


def ferplus_labels(pairs: pd.DataFrame) -> dict[str, int]:
    """FER2013 PrivateTest id -> FER+ majority class, from ``data.agreement.label_pairs`` (faces FER+ labels)."""
    labelled = pairs[(pairs["split"] == "test") & pairs["fer2013_id"].notna() & (pairs["ferplus_label"] != "excluded")]
    return {str(image_id): CLASS_NAMES.index(label)
            for image_id, label in zip(labelled["fer2013_id"], labelled["ferplus_label"], strict=True)}


def seed_recipes(runs: Sequence[Run], epochs: int) -> list[str]:
    """The recipes (``<recipe>_seed<N>`` runs) trained for ``epochs`` epochs, in name order."""
    return sorted({recipe_and_seed(run.name)[0] for run in runs
                   if run.metrics.epochs == epochs and recipe_and_seed(run.name)[1] is not None})


def images_by_id(images: np.ndarray, ids: np.ndarray, wanted: Sequence[str]) -> np.ndarray:
    """The images (of a dataset's ``images`` and ``ids``) with the ``wanted`` ids, in that order."""
    position = {str(image_id): index for index, image_id in enumerate(ids)}
    missing = [image_id for image_id in wanted if str(image_id) not in position]
    if missing:
        raise KeyError(f"{len(missing)} ids not in the dataset, e.g. {missing[0]!r}")
    return images[[position[str(image_id)] for image_id in wanted]]


def reliability_curves(models: Sequence[Predictions]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per model, its PrivateTest ``reliability`` table as trained and after the temperature fitted on
    PublicTest (what ``plots.plot_reliability`` draws)."""
    return {model.name: (reliability(model.test_logits, model.test_labels),
                         reliability(model.test_logits / fit_temperature(model.val_logits, model.val_labels),
                                     model.test_labels)) for model in models}


def gallery_titles(wrong: pd.DataFrame) -> list[str]:
    """"true" over "→ predicted confidence %" for each face of ``confidently_wrong`` (two short lines fit
    above a small face)."""
    return [f"{row.true}\n→ {row.predicted} {row.confidence_pct:.0f} %" for row in wrong.itertuples()]
