"""How well the recognizer's parts do on the data we have: detection recall on real faces placed in
larger canvases, and classification accuracy on test faces made small or dark.

Both use FER2013 faces: 48x48 gray crops of real web photos, already centred on one face each. What this
can show: whether a detector finds such a face at a given size, and how the classifier's accuracy falls
when a face is small in the photo or badly lit. What it cannot: faces in cluttered scenes or groups, false
boxes on backgrounds, profile views (FER2013 has no pose labels), real sensor noise in low light.
"""

from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd
import torch
from torchvision.ops import box_iou

from fer_study.recognize.detectors import Detection
from fer_study.recognize.pipeline import face_patch

# A detection is the placed face when it overlaps it by this IoU (the PASCAL VOC criterion).
MATCH_IOU = 0.5
CANVAS_GRAY = 127
# Failure conditions: a face of this many pixels across in the photo, or intensities scaled by this factor.
SMALL_FACE_SIZES = (24, 16, 12)
LOW_LIGHT_FACTORS = (0.25, 0.1)


def faces_on_canvases(faces: np.ndarray, face_size: int) -> tuple[list[np.ndarray], tuple[int, int, int, int]]:
    """Each 48x48 face resized to ``face_size`` pixels (bilinear) and centred on a gray canvas three
    times as wide, and the face's box ``(x, y, w, h)`` on it (the same for all)."""
    canvases = []
    for face in faces:
        large = cv2.resize(face, (face_size, face_size), interpolation=cv2.INTER_LINEAR)
        canvases.append(cv2.copyMakeBorder(large, *(face_size,) * 4, cv2.BORDER_CONSTANT, value=CANVAS_GRAY))
    return canvases, (face_size, face_size, face_size, face_size)


def detection_recall(detector, images: Sequence[np.ndarray], boxes: Sequence[tuple[int, int, int, int]],
                     ) -> dict[str, float]:
    """Over gray images with one known face box each: the share where the detector reports a box
    matching it (IoU >= ``MATCH_IOU``) and the mean number of other boxes per image."""
    found = extra = 0
    for gray, (x, y, w, h) in zip(images, boxes, strict=True):
        detections = detector.detect(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), gray)
        if not detections:
            continue
        corners = torch.tensor([(dx, dy, dx + dw, dy + dh) for dx, dy, dw, dh in (d.box for d in detections)],
                               dtype=torch.float32)
        matches = int((box_iou(corners, torch.tensor([[x, y, x + w, y + h]], dtype=torch.float32)) >= MATCH_IOU)
                      .sum())
        found += matches > 0
        extra += len(detections) - min(matches, 1)
    return {"recall": found / len(images), "extra_boxes_per_image": extra / len(images)}


def small_face(faces: np.ndarray, size: int) -> np.ndarray:
    """48x48 faces as the recognizer sees a face ``size`` pixels across: shrunk to that size (area
    interpolation, as a camera would average), then cut and resized back by ``face_patch``."""
    patches = []
    for face in faces:
        small = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
        patches.append(face_patch(small, Detection((0, 0, size, size))))
    return np.stack(patches)


def low_light(faces: np.ndarray, factor: float) -> np.ndarray:
    """Intensities scaled by ``factor`` and rounded to 8 bits: a darker exposure with fewer gray levels
    (without the noise a real sensor adds in low light)."""
    return np.rint(faces.astype(np.float32) * factor).astype(np.uint8)


def failure_modes(classifier, faces: np.ndarray, labels: np.ndarray, batch_size: int = 256) -> pd.DataFrame:
    """Accuracy of ``classifier`` on the faces as they are, made small (``SMALL_FACE_SIZES``) and made
    dark (``LOW_LIGHT_FACTORS``): one row per condition, with the number of faces."""
    conditions = {"as in FER2013 (48x48)": faces,
                  **{f"face {size} px across": small_face(faces, size) for size in SMALL_FACE_SIZES},
                  **{f"low light (intensities x{factor})": low_light(faces, factor) for factor in LOW_LIGHT_FACTORS}}
    rows = []
    for condition, images in conditions.items():
        predicted = np.concatenate([classifier.probabilities(images[start : start + batch_size]).argmax(1)
                                    for start in range(0, len(images), batch_size)])
        rows.append({"condition": condition, "faces": len(images), "accuracy": float((predicted == labels).mean())})
    return pd.DataFrame(rows)
