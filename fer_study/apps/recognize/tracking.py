"""Faces followed across the frames of a video: each face keeps an id, the detector can run on every
``detect_every``-th frame only (the boxes of the last detection are classified in between), and the
emotion scores can be smoothed over time.

Ids: the boxes of each detection are matched one to one with the tracked faces by the Hungarian
algorithm on their overlap (``scipy.optimize.linear_sum_assignment``), a pair counting only at an IoU of
at least ``MATCH_IOU``; a box matching no tracked face starts a new id, and a tracked face that no box
matches ends. Between detections the boxes stay where they were found: at 30 frames/s a face moves a few
pixels between frames, and the classifier's 48x48 patch hardly changes.

Smoothing (off by default): an exponential moving average of each face's probabilities,
``smoothed = smoothing * previous + (1 - smoothing) * current``; the reported emotion is the top one of the
smoothed probabilities, so a single odd frame does not flip the label.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from fer_study.apps.recognize.boxes import Detection, corners
from fer_study.apps.recognize.pipeline import SCORE_DECIMALS, Face, Recognizer, gray_image
from fer_study.core.constants import CLASS_NAMES

MATCH_IOU = 0.3
# Videos and camera streams detect faces on every third frame by default: at 30 frames/s the boxes are
# at most 67 ms old, and the detection's cost is shared by three frames (``python -m fer_study.bench
# detect`` times both).
VIDEO_DETECT_EVERY = 3


@dataclass
class TrackedFace:
    id: int
    detection: Detection
    probabilities: np.ndarray | None = None


class FaceTracker:
    """``update(frame) -> list[Face]`` for consecutive frames of one video, each face with its ``id``."""

    def __init__(self, recognizer: Recognizer, detect_every: int = 1, smoothing: float = 0.0) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every: expected a positive number of frames, got {detect_every}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing: expected a weight in [0, 1) for the previous scores, got {smoothing}")
        self.recognizer = recognizer
        self.detect_every = detect_every
        self.smoothing = smoothing
        self.tracked: list[TrackedFace] = []
        self.frames_seen = 0
        self.next_id = 0

    def update(self, frame: np.ndarray) -> list[Face]:
        if self.frames_seen % self.detect_every == 0:
            gray, detections = self.recognizer.detect(frame)
            self._match(detections)
        else:
            gray = gray_image(frame)
        self.frames_seen += 1
        faces = self.recognizer.classify(gray, [face.detection for face in self.tracked])
        return [self._smooth(tracked, face) for tracked, face in zip(self.tracked, faces, strict=True)]

    def _match(self, detections: Sequence[Detection]) -> None:
        """Tracked faces for the new detections, in their order: matched ones keep their id and scores."""
        pairs = {}
        if self.tracked and detections:
            overlap = box_iou(corners([d.box for d in detections]),
                              corners([face.detection.box for face in self.tracked])).numpy()
            rows, columns = linear_sum_assignment(overlap, maximize=True)
            pairs = {row: self.tracked[column] for row, column in zip(rows, columns, strict=True)
                     if overlap[row, column] >= MATCH_IOU}
        tracked = []
        for index, detection in enumerate(detections):
            if index in pairs:
                tracked.append(replace(pairs[index], detection=detection))
            else:
                tracked.append(TrackedFace(self.next_id, detection))
                self.next_id += 1
        self.tracked = tracked

    def _smooth(self, tracked: TrackedFace, face: Face) -> Face:
        current = np.array([face.scores[name] for name in CLASS_NAMES])
        if self.smoothing and tracked.probabilities is not None:
            current = self.smoothing * tracked.probabilities + (1 - self.smoothing) * current
        tracked.probabilities = current
        return Face(face.box, CLASS_NAMES[int(current.argmax())],
                    {name: round(float(score), SCORE_DECIMALS) for name, score in zip(CLASS_NAMES, current,
                                                                                    strict=True)},
                    id=tracked.id)
