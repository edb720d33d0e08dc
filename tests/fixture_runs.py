"""Synthetic run folders for the ensemble and claims tests.

Logits are one-hot times a confidence, so which member wins an image, and hence every accuracy, can be
counted by hand. Runs are written with ``fer_study.runs.save_run`` into a temporary folder, never under
``results/runs``.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from fer_study.core.constants import NUM_CLASSES
from fer_study.core.metrics import classification_metrics
from fer_study.runs import IDS_DIGEST, ids_digest, save_run


def labels_for(n_images: int) -> np.ndarray:
    return np.arange(n_images) % NUM_CLASSES


def wrong_on(labels: np.ndarray, indices) -> np.ndarray:
    """Predictions equal to ``labels`` except at ``indices``, where they are the next class."""
    predicted = np.array(labels, copy=True)
    predicted[list(indices)] = (predicted[list(indices)] + 1) % NUM_CLASSES
    return predicted


def one_hot_logits(predicted: np.ndarray, confidence=4.0) -> np.ndarray:
    """Logits with ``confidence`` (a number or one per image) on the predicted class, 0 elsewhere."""
    logits = np.zeros((len(predicted), NUM_CLASSES))
    logits[np.arange(len(predicted)), predicted] = confidence
    return logits


def write_run(runs_dir: Path, name: str, val_predicted: np.ndarray, test_predicted: np.ndarray, *,
              val_confidence=4.0, test_confidence=4.0, tta: dict[str, np.ndarray] | None = None,
              val_labels: np.ndarray | None = None, test_labels: np.ndarray | None = None,
              test_ids: np.ndarray | None = None, config: dict | None = None, stored_ids: bool = False,
              **metrics) -> Path:
    """A run folder whose val/test logits predict the given classes; ``tta`` adds TTA logits per split.
    Image ids are stored as training stores them, by their digest, or (``stored_ids``) as the ids themselves,
    as run folders written before the digest hold them.

    metrics.json holds every key training writes that the library reads: realistic defaults (model, dataset,
    tier, seed, params, ...) and the scores of the given logits; ``metrics`` override them. ``config`` adds
    config.yaml entries."""
    val_labels = labels_for(len(val_predicted)) if val_labels is None else val_labels
    test_labels = labels_for(len(test_predicted)) if test_labels is None else test_labels
    ids = {"val": np.array([f"val{i}" for i in range(len(val_labels))]),
           "test": np.array([f"test{i}" for i in range(len(test_labels))]) if test_ids is None else test_ids}
    predictions = {
        "val_labels": val_labels,
        "val_logits": one_hot_logits(val_predicted, val_confidence),
        "test_labels": test_labels,
        "test_logits": one_hot_logits(test_predicted, test_confidence),
    } | {f"{split}_ids" if stored_ids else IDS_DIGEST.format(split=split): split_ids if stored_ids
         else np.array(ids_digest(split_ids)) for split, split_ids in ids.items()}
    for split, predicted in (tta or {}).items():
        predictions[f"{split}_logits_tta"] = one_hot_logits(predicted)
    values = {"model": "vgg_cpu", "dataset": "fer2013", "label_mode": "hard", "train_splits": ["train"],
              "tier": "cpu", "device": "cpu (2 threads)", "precision": "float32", "epochs": 3, "selected_epoch": 3,
              "selection": "best validation accuracy", "train_seconds": 60.0, "seed": 0, "params": 1000,
              "paper_model": True, **_scores(predictions), "tta": "flip_rotate" if tta else "none",
              "parent": None, "snapshot_of": None, "weights_sha256": "0" * 64, "git_commit": "0" * 40,
              "command": f"python -m fer_study train {name}"} | metrics
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.5, 1.2, 1.0], "val_loss": [1.6, 1.4, 1.3],
                            "train_accuracy": [0.4, 0.5, 0.6], "val_accuracy": [0.38, 0.45, 0.5],
                            "lr": [0.1, 0.05, 0.01]})
    return save_run(Path(runs_dir) / name, {"run_name": name, "model": values["model"]} | (config or {}),
                    values, history, predictions)


def _scores(predictions: dict[str, np.ndarray]) -> dict:
    """The scores ``metrics.json`` records, computed from the logits as training computes them (the TTA
    accuracy ``None`` without TTA logits, as training writes it)."""
    val, test = (classification_metrics(predictions[f"{split}_labels"], predictions[f"{split}_logits"])
                 for split in ("val", "test"))
    test_tta = (classification_metrics(predictions["test_labels"], predictions["test_logits_tta"])["accuracy"]
                if "test_logits_tta" in predictions else None)
    return {"val_accuracy": val["accuracy"], "test_accuracy": test["accuracy"], "test_accuracy_tta": test_tta,
            "macro_f1": test["macro_f1"], "test_per_class": test["per_class"], "test_confusion": test["confusion"]}
