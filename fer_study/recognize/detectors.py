"""Face detectors: where the faces of an image are, as boxes ``(x, y, w, h)`` in input pixels.

- ``HaarDetector``: OpenCV's frontal-face Haar cascade (ships with OpenCV 4.x), the default.
- ``MtcnnDetector``: MTCNN from facenet-pytorch (its weights ship inside the wheel).
- ``WholeImageDetector``: no detection, every input is a face crop (``--crops``).
- ``given_detections``: the user's own boxes, checked against the image.

Both real detectors can report one face twice (two overlapping boxes of different sizes, each found at
its own search scale); ``suppress_overlaps`` keeps the highest-scoring box of each overlapping group
(non-maximum suppression, ``torchvision.ops.nms``). ``fer_study.bench.predict.detector_table`` measures
what each detector finds and how fast: the default is the detector with the highest recall among those
whose pipeline's CPU time allows ``REAL_TIME_FPS`` on a 640x480 frame (measured on this machine: Haar;
MTCNN finds more faces but does not keep up, see the book's recognition chapter).
"""

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.ops import nms
from tqdm import TqdmWarning

DETECTORS = ("haar", "mtcnn", "none")
DEFAULT_DETECTOR = "haar"
REAL_TIME_FPS = 30
# Faces smaller than this (in input pixels) are not searched for: the classifier sees 48x48 crops, and
# skipping the smallest scales is what makes the Haar detector real-time (see ``HaarDetector``).
DEFAULT_MIN_FACE_SIZE = 64
# Two boxes overlapping by more than this intersection over union are taken for one face. Distinct faces
# in group photos barely overlap; the same face found at two scales overlaps by 0.3 to 0.6 (a box
# inside another with 0.55 of its side has an IoU of 0.3).
OVERLAP_IOU = 0.3

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Detection:
    """A face box ``(x, y, w, h)`` in input pixels and, when known, its eye centres (image-left first)."""

    box: Box
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch ops on ``count`` threads, then restore the previous setting (a sub-microsecond switch).

    The recognizer's torch work (MTCNN on one frame, the classifier on a few 48x48 faces) is too small
    to split well: extra threads mostly wait for each other, and on a busy machine those waits multiply
    the wall-clock time many times over. Both therefore run on one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def suppress_overlaps(detections: Sequence[Detection], scores: Sequence[float],
                      iou_threshold: float = OVERLAP_IOU) -> list[Detection]:
    """Non-maximum suppression: of boxes overlapping by more than ``iou_threshold``, the highest-scoring
    one; the kept detections stay in the detector's order."""
    if len(detections) < 2:
        return list(detections)
    corners = torch.tensor([(x, y, x + w, y + h) for x, y, w, h in (d.box for d in detections)],
                           dtype=torch.float32)
    kept = nms(corners, torch.tensor(scores, dtype=torch.float32), iou_threshold)
    return [detections[index] for index in sorted(kept.tolist())]


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


class MtcnnDetector:
    """MTCNN (facenet-pytorch, weights inside its wheel); its boxes are made square like the Haar ones.

    MTCNN suppresses overlaps only above an IoU of 0.7 within its own stages; ``suppress_overlaps``
    merges the rest by its face probability.
    """

    def __init__(self, min_face_size: int = DEFAULT_MIN_FACE_SIZE, device: str | torch.device = "cpu") -> None:
        # Imported here: only this detector needs it. Inside Jupyter, facenet-pytorch's import of tqdm.auto
        # (for weight downloads it never makes: the weights are in its wheel) warns that ipywidgets is absent.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TqdmWarning)
            from facenet_pytorch import MTCNN

        self.device = torch.device(device)
        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, device=self.device)

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        with torch.inference_mode(), torch_threads(1 if self.device.type == "cpu" else torch.get_num_threads()):
            boxes, probabilities, landmarks = self.mtcnn.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        detections = []
        for (x1, y1, x2, y2), points in zip(boxes, landmarks, strict=True):
            left_eye, right_eye = sorted(tuple(map(float, point)) for point in points[:2])
            side = max(x2 - x1, y2 - y1)
            x, y = (x1 + x2 - side) / 2, (y1 + y2 - side) / 2
            detections.append(Detection(tuple(round(v) for v in (x, y, side, side)), (left_eye, right_eye)))
        return suppress_overlaps(detections, [float(p) for p in probabilities])


class WholeImageDetector:
    """No detection: the whole input is one face crop (``--crops``)."""

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        return [Detection((0, 0, gray.shape[1], gray.shape[0]))]


def make_detector(name: str = DEFAULT_DETECTOR, align: bool = False, min_face_size: int = DEFAULT_MIN_FACE_SIZE,
                  device: str | torch.device = "cpu"):
    if name == "haar":
        return HaarDetector(min_face_size=min_face_size, find_eyes=align)
    if name == "mtcnn":
        return MtcnnDetector(min_face_size=min_face_size, device=device)
    if name == "none":
        return WholeImageDetector()
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
    box, its outside part repeats the border pixels (``fer_study.recognize.pipeline.face_patch``)."""
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
