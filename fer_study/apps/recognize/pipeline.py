"""The recognizer: face boxes (detected, or given) -> 48x48 patches as in training -> emotions.

Preprocessing: the face box is cut from the gray image and resized to 48x48 uint8 with area
interpolation, which is exactly the form of the FER2013 training images; the classifier scales them to
float [0, 1] (``fer_study.apps.recognize.classifier``).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fer_study.apps.recognize.boxes import DEFAULT_MIN_FACE_SIZE, Box, Detection
from fer_study.apps.recognize.classifier import EmotionClassifier, OnnxClassifier, load_classifier
from fer_study.apps.recognize.detectors import RejectedBox, given_detections, make_detector
from fer_study.apps.recognize.io import as_bgr, read_image
from fer_study.core.constants import CLASS_NAMES, IMAGE_SIZE

SCORE_DECIMALS = 4
ANNOTATION_COLOR = (0, 200, 255)  # BGR amber: visible on skin, hair and most backgrounds

Image = np.ndarray | str | Path


@dataclass(frozen=True)
class Face:
    """One face: its box ``(x, y, w, h)`` in input pixels, its top emotion and the probabilities of all
    seven in ``CLASS_NAMES`` order. A box given by the user that cannot be a face of the image has
    ``emotion`` and ``scores`` ``None`` and says why in ``error``."""

    box: Box
    emotion: str | None
    scores: dict[str, float] | None
    error: str | None = None
    id: int | None = None  # in a video: the same face keeps its id across frames (``tracking``)

    def to_dict(self) -> dict:
        """The face's JSON form; ``error`` only appears on a rejected box, ``id`` only in videos."""
        return {"box": list(self.box), "emotion": self.emotion, "scores": self.scores,
                **({"error": self.error} if self.error is not None else {}),
                **({"id": self.id} if self.id is not None else {})}


class Recognizer:
    """Detector + training preprocessing + classifier: ``predict(image) -> list[Face]``. ``detector``: a name
    of ``detectors.DETECTORS``, or ``None`` for the default (``detectors.make_detector``).

    >>> from fer_study import Recognizer
    >>> faces = Recognizer().predict("photo.jpg")  # doctest: +SKIP
    """

    def __init__(self, classifier: EmotionClassifier | OnnxClassifier | None = None,
                 detector: str | None = None, align: bool = False,
                 min_face_size: int = DEFAULT_MIN_FACE_SIZE, device: str = "cpu", backend: str = "pytorch") -> None:
        self.classifier = classifier or load_classifier(device=device, backend=backend)
        self.detector = make_detector(detector, align=align, min_face_size=min_face_size, device=device)
        self.align = align

    def predict(self, image: Image, boxes: Sequence | None = None) -> list[Face]:
        """Faces in an image (a path, or an array: gray, BGR as OpenCV reads it, or BGRA). With ``boxes``
        (``[[x, y, w, h], ...]``) nothing is detected: those boxes are classified, in their order."""
        return self.predict_batch([image], None if boxes is None else [boxes])[0]

    def predict_batch(self, images: Sequence[Image], boxes: Sequence[Sequence | None] | None = None,
                      ) -> list[list[Face]]:
        """``predict`` for several images, their faces classified in one batch; ``boxes``: one entry per
        image (``None``: detect that image's faces)."""
        boxes = [None] * len(images) if boxes is None else boxes
        if len(boxes) != len(images):
            raise ValueError(f"boxes: one entry per image expected, got {len(boxes)} for {len(images)} images")
        return self.classify_located([self.locate(image, image_boxes) for image, image_boxes in zip(images, boxes,
                                                                                               strict=True)])

    def locate(self, image: Image, boxes: Sequence | None = None,
               ) -> tuple[np.ndarray, list[Detection | RejectedBox], bool]:
        """The gray image, its faces (detected, or the given boxes checked) and whether boxes were given."""
        bgr = as_bgr(read_image(image) if isinstance(image, str | Path) else image)
        gray = gray_image(bgr)
        if boxes is None:
            return gray, self.detector.detect(bgr, gray), False
        return gray, given_detections(boxes, gray.shape[1], gray.shape[0]), True

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, list[Detection]]:
        """The gray image and the faces found in it."""
        gray, detections, _ = self.locate(image)
        return gray, detections

    def classify(self, gray: np.ndarray, detections: Sequence[Detection]) -> list[Face]:
        return self.classify_located([(gray, detections, False)])[0]

    def classify_located(self, located: Sequence[tuple[np.ndarray, Sequence[Detection | RejectedBox], bool]],
                  ) -> list[list[Face]]:
        """Faces per image, all patches classified in one call. Detected boxes are reported clipped to the
        image; given boxes as given (rounded), so that they match the user's."""
        patches = [face_patch(gray, found, self.align) for gray, faces, _ in located for found in faces
                   if isinstance(found, Detection)]
        probabilities = iter(self.classifier.probabilities(np.stack(patches)) if patches else ())
        results = []
        for gray, faces, given in located:
            height, width = gray.shape
            image_faces = []
            for found in faces:
                if isinstance(found, RejectedBox):
                    image_faces.append(Face(found.box, None, None, found.error))
                    continue
                scores = next(probabilities)
                image_faces.append(Face(
                    box=found.box if given else clip_box(found.box, width, height),
                    emotion=CLASS_NAMES[int(scores.argmax())],
                    scores={name: round(float(score), SCORE_DECIMALS)
                            for name, score in zip(CLASS_NAMES, scores, strict=True)},
                ))
            results.append(image_faces)
        return results


def gray_image(image: np.ndarray) -> np.ndarray:
    """An image array (gray, BGR or BGRA) as the gray image the classifier's patches are cut from."""
    return cv2.cvtColor(as_bgr(image), cv2.COLOR_BGR2GRAY)


def face_patch(gray: np.ndarray, detection: Detection, align: bool = False) -> np.ndarray:
    """The face as a 48x48 uint8 gray patch, like a FER2013 image.

    The box is cut with a rotation about its centre (levelling the eyes when ``align``); parts of the
    box outside the image repeat the border pixels. Area interpolation then shrinks it without aliasing;
    a box smaller than 48x48 is enlarged with bicubic interpolation instead, as OpenCV's ``resize``
    documentation advises (area interpolation enlarges into blocks, and small PublicTest faces enlarged
    that way were classified markedly worse: ``fer_study.apps.recognize.quality.small_face``).
    """
    x, y, w, h = detection.box
    angle = 0.0
    if align and detection.eyes is not None:
        (left_x, left_y), (right_x, right_y) = detection.eyes
        angle = math.degrees(math.atan2(right_y - left_y, right_x - left_x))
    rotation = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
    rotation[:, 2] -= (x, y)  # the box's top-left corner becomes the patch origin
    region = cv2.warpAffine(gray, rotation, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    shrinking = w >= IMAGE_SIZE and h >= IMAGE_SIZE
    return cv2.resize(region, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def clip_box(box: Box, width: int, height: int) -> Box:
    x, y, w, h = box
    left, top = max(x, 0), max(y, 0)
    return left, top, min(x + w, width) - left, min(y + h, height) - top


def faces_table(faces: Sequence[Face]) -> pd.DataFrame:
    """One row per face: its box, its top emotion and the probabilities in ``CLASS_NAMES`` order."""
    return pd.DataFrame([{"box": list(face.box), "emotion": face.emotion, **(face.scores or {})}
                         for face in faces], columns=["box", "emotion", *CLASS_NAMES])


def annotate(image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A BGR copy of ``image`` with each classified face's box and a label (top emotion, probability)."""
    canvas = as_bgr(image).copy()
    # Lines and text grow with the image, so that labels stay legible on large photos.
    scale = max(canvas.shape[:2]) / 640
    thickness = max(1, round(2 * scale))
    font_scale = 0.6 * scale
    for face in faces:
        if face.error is not None:
            continue
        x, y, w, h = face.box
        cv2.rectangle(canvas, (x, y), (x + w, y + h), ANNOTATION_COLOR, thickness)
        label = f"{face.emotion} {face.scores[face.emotion]:.2f}"
        (text_width, text_height), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                                                              thickness)
        label_height = text_height + baseline + 2 * thickness
        # The label sits on the box's top edge, or inside the box when the box touches the image top.
        top = y - label_height if y >= label_height else y
        cv2.rectangle(canvas, (x, top), (x + text_width + 2 * thickness, top + label_height),
                      ANNOTATION_COLOR, cv2.FILLED)
        cv2.putText(canvas, label, (x + thickness, top + thickness + text_height), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return canvas
