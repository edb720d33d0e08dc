"""What every face detector returns and shares: square face boxes ``(x, y, w, h)`` in input pixels
(``Detection``), the smallest faces searched for, overlap suppression.
The detectors themselves: ``detectors`` (and ``mtcnn`` for the MTCNN pair)."""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torchvision.ops import nms

# Faces smaller than this (in input pixels) are not searched for: the classifier sees 48x48 crops, and
# skipping the smallest scales is what makes the Haar detector real-time (see ``HaarDetector``).
DEFAULT_MIN_FACE_SIZE = 64
# A detector's box of a face can be smaller than the face's crop: CenterFace's and BlazeFace's boxes are
# tighter than FER2013's crops, so a face of ``min_face_size`` pixels gets a smaller box. Detectors keep
# boxes, and the tuned MTCNN searches, down to this share of ``min_face_size``. Dropping every box under
# ``min_face_size`` itself, as before, lost most of CenterFace's 64-pixel faces to that filter rather than to
# the detector (its "recall, 64 px" in results/bench/detectors_cpu.csv at commit c7a44e3 and after).
MIN_BOX_SHARE = 0.7
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


def corners(boxes: Sequence[Box]) -> torch.Tensor:
    """Boxes ``(x, y, w, h)`` as ``(x1, y1, x2, y2)`` rows, the form torchvision's box ops take."""
    return torch.tensor([(x, y, x + w, y + h) for x, y, w, h in boxes], dtype=torch.float32)


def square_box(x1: float, y1: float, x2: float, y2: float) -> Box:
    """The square box ``(x, y, side, side)`` in whole pixels with the corners' centre and their larger side:
    the classifier's patches are square, as FER2013's faces are."""
    side = max(x2 - x1, y2 - y1)
    return tuple(round(value) for value in ((x1 + x2 - side) / 2, (y1 + y2 - side) / 2, side, side))


def suppress_overlaps(detections: Sequence[Detection], scores: Sequence[float],
                      iou_threshold: float = OVERLAP_IOU) -> list[Detection]:
    """Non-maximum suppression: of boxes overlapping by more than ``iou_threshold``, the highest-scoring
    one; the kept detections stay in the detector's order."""
    if len(detections) < 2:
        return list(detections)
    kept = nms(corners([d.box for d in detections]), torch.tensor(scores, dtype=torch.float32), iou_threshold)
    return [detections[index] for index in sorted(kept.tolist())]
