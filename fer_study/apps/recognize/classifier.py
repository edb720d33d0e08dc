"""The recognizer's classifier: which weights (a registered model's, a committed run's, an ensemble's),
on which device, through which backend (PyTorch, or onnxruntime on an ONNX export).

Input: (N, 48, 48) uint8 face patches; each model scales them to float [0, 1] as (N, 1, 48, 48) and does
its own resizing and normalisation (``fer_study.models``), so an ONNX export takes that same float input.
Several models' softmax probabilities are averaged (``fer_study.analysis.ensemble.mean_softmax``).
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fer_study.analysis import ensemble
from fer_study.core.constants import CLASS_NAMES, IMAGE_SIZE
from fer_study.core.devices import resolve_device, torch_threads
from fer_study.models import create_model
from fer_study.runs import (
    WEIGHTS_NAME,
    Run,
    best_on_validation,
    has_weights,
    held_out_validation,
    load_model,
    load_runs,
)

DEFAULT_MODEL = "mini_xception"
BEST_ENSEMBLE = "best"
BEST_RUN_ROW, BEST_ENSEMBLE_ROW = "best single run", "best ensemble"
# "Best" compares validation accuracies, which only means something on one label set: the study's.
BEST_OF_DATASET = "fer2013"
BACKENDS = ("pytorch", "onnxruntime")
ONNX_INPUT, ONNX_OUTPUT = "faces", "logits"
# torch.export specialises a dimension whose example size is 0 or 1: the example batch has two faces.
ONNX_EXAMPLE_BATCH = 2


def patches_to_input(patches: np.ndarray) -> np.ndarray:
    """(N, 48, 48) uint8 patches -> the models' (N, 1, 48, 48) float32 input in [0, 1]."""
    return (np.ascontiguousarray(patches, dtype=np.float32) / 255.0)[:, None]


class EmotionClassifier:
    """One model, or several whose softmax probabilities are averaged, applied to 48x48 patches with
    PyTorch on ``device``."""

    def __init__(self, models: Sequence[nn.Module], name: str, device: str | torch.device = "cpu") -> None:
        if not models:
            raise ValueError("a classifier needs at least one model")
        self.device = resolve_device(device)
        self.models = [model.float().eval().to(self.device) for model in models]
        self.name = name

    @torch.inference_mode()
    def probabilities(self, patches: np.ndarray) -> np.ndarray:
        """(N, H, W) uint8 face patches (48x48 from ``face_patch``) -> (N, 7) probabilities in
        ``CLASS_NAMES`` order."""
        return ensemble.mean_softmax(self.logits(patches))

    @torch.inference_mode()
    def logits(self, patches: np.ndarray) -> list[np.ndarray]:
        """Each model's (N, 7) float32 logits."""
        batch = torch.from_numpy(patches_to_input(patches)).to(self.device)
        with torch_threads(1 if self.device.type == "cpu" else torch.get_num_threads()):
            return [model(batch).float().cpu().numpy() for model in self.models]


class OnnxClassifier:
    """The same classifier run by onnxruntime on ONNX exports (``export_onnx``), on the CPU, one thread
    per session like the PyTorch path (``torch_threads``)."""

    def __init__(self, models: Sequence[bytes | str | Path], name: str) -> None:
        import onnxruntime  # imported here: only this backend needs it

        if not models:
            raise ValueError("a classifier needs at least one model")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.sessions = [onnxruntime.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                                      providers=["CPUExecutionProvider"]) for model in models]
        self.name = name

    @classmethod
    def from_classifier(cls, classifier: EmotionClassifier) -> "OnnxClassifier":
        return cls([export_onnx(model) for model in classifier.models], name=f"{classifier.name} (onnxruntime)")

    def probabilities(self, patches: np.ndarray) -> np.ndarray:
        return ensemble.mean_softmax(self.logits(patches))

    def logits(self, patches: np.ndarray) -> list[np.ndarray]:
        batch = patches_to_input(patches)
        return [session.run([ONNX_OUTPUT], {ONNX_INPUT: batch})[0] for session in self.sessions]


def export_onnx(model: nn.Module, path: str | Path | None = None, source: str = "") -> bytes:
    """The model in float32 as ONNX (``torch.onnx.export``, the torch.export-based exporter): input
    ``faces`` (N, 1, 48, 48) float in [0, 1] with a dynamic batch axis, output ``logits`` (N, 7) in
    ``CLASS_NAMES`` order, which the model's metadata also records (``class_names``, and ``source``:
    where the weights come from). Written to ``path`` when given; the serialised model is returned.

    A run trained under bfloat16 autocast keeps float32 weights; the export computes in float32, as the
    PyTorch recognizer does.
    """
    import onnx  # imported here: only the export needs it

    model = model.float().eval().cpu()
    example = torch.rand(ONNX_EXAMPLE_BATCH, 1, IMAGE_SIZE, IMAGE_SIZE)
    program = torch.onnx.export(model, (example,), input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
                                dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
    proto = program.model_proto
    onnx.helper.set_model_props(proto, {"class_names": ",".join(CLASS_NAMES), "source": source,
                                        "input": f"{ONNX_INPUT}: (N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}) gray faces, "
                                                 "float in [0, 1]"})
    serialised = proto.SerializeToString()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(serialised)
    return serialised


def pretrained_model(name: str) -> nn.Module:
    try:
        return create_model(name, pretrained=True)
    except TypeError as error:
        raise ValueError(f"model {name!r} has no pretrained weights ({error}); "
                         f"use --run with a run that has a {WEIGHTS_NAME}") from error


def runs_with_weights(dataset: str | None = BEST_OF_DATASET) -> list[Run]:
    """The committed result runs (``fer_study.runs.load_runs``) that have weights and a held-out
    validation split, of one dataset unless ``None``: validation accuracies are only comparable on the
    same labels, and only where validation was not trained on."""
    return [run for run in load_runs() if has_weights(run)
            and held_out_validation(run) and (dataset is None or run.metrics.dataset == dataset)]


def ensembles_with_weights(runs: Sequence[Run]) -> list[ensemble.EnsembleResult]:
    """The study's candidate ensembles of ``runs``, scored on validation as the recognizer combines
    them: the mean of softmax probabilities, without TTA."""
    candidates, _ = ensemble.candidate_ensembles(runs, tta_options=(False,))
    return [ensemble.evaluate(candidate, "mean", bootstrap_samples=0) for candidate in candidates]


def ensemble_members(name: str) -> list[str]:
    """The runs of a named ensemble (as ``fer_study.analysis.ensemble`` names them, optionally followed by its
    dataset group in parentheses), or of ``best``: the best on validation (``best_runs_with_weights``)."""
    if name == BEST_ENSEMBLE:
        members = best_runs_with_weights()[BEST_ENSEMBLE_ROW]
        if not members:
            raise ValueError(f"no ensemble of {BEST_OF_DATASET} runs with weights is committed")
        return members
    results = ensembles_with_weights(runs_with_weights(dataset=None))
    matches = [result for result in results
               if name in (result.ensemble.name, f"{result.ensemble.name} ({result.ensemble.group})")]
    if len(matches) != 1:
        available = sorted({f"{result.ensemble.name} ({result.ensemble.group})" for result in results})
        problem = "is ambiguous; add the group" if matches else "is not among the ensembles with weights"
        raise ValueError(f"ensemble {name!r} {problem}; available: {', '.join(available) or 'none'}")
    return matches[0].ensemble.member_names


def best_runs_with_weights() -> dict[str, list[str]]:
    """The best single run and the best ensemble by validation accuracy among the ``BEST_OF_DATASET``
    runs with weights; an empty list where there is none."""
    runs = runs_with_weights()
    best_run = _best_run(runs)
    best_ensemble = ensemble.best_result(ensembles_with_weights(runs))
    return {BEST_RUN_ROW: [best_run] if best_run else [],
            BEST_ENSEMBLE_ROW: best_ensemble.ensemble.member_names if best_ensemble else []}


def _best_run(runs: Sequence[Run]) -> str | None:
    best = best_on_validation(runs)
    return best.name if best else None


def default_run() -> str | None:
    """The recognizer's default run: the committed ``BEST_OF_DATASET`` run with weights that is best on
    validation; ``None`` when there is none (the recognizer then uses ``DEFAULT_MODEL``'s weights)."""
    return _best_run(runs_with_weights())


def load_classifier(model: str | None = None, runs: Sequence[str | Path] = (), ensemble_name: str | None = None,
                    device: str | torch.device = "cpu", backend: str = "pytorch",
                    ) -> EmotionClassifier | OnnxClassifier:
    """A registered model's pretrained weights, the weights of runs, or a named ensemble's runs;
    several runs' softmax probabilities are averaged. Nothing given: ``default_run()``, else
    ``DEFAULT_MODEL``'s shipped weights. ``backend="onnxruntime"`` exports the chosen models to ONNX in
    memory and runs them with onnxruntime (CPU only)."""
    if sum(map(bool, (model, runs, ensemble_name))) > 1:
        raise ValueError("give one of a model, runs or an ensemble")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime":
        if resolve_device(device).type != "cpu":
            raise ValueError("the onnxruntime backend runs on the CPU here (onnxruntime's CPU package); "
                             "use --device cpu or --backend pytorch")
        return OnnxClassifier.from_classifier(load_classifier(model, runs, ensemble_name))
    if ensemble_name:
        runs = ensemble_members(ensemble_name)
    if not (model or runs):
        runs = [name for name in (default_run(),) if name is not None]
    if runs:
        members = "+".join(map(str, runs))
        return EmotionClassifier([load_model(run) for run in runs], device=device,
                                 name=f"{ensemble_name}: {members}" if ensemble_name else members)
    name = model or DEFAULT_MODEL
    return EmotionClassifier([pretrained_model(name)], name=name, device=device)
