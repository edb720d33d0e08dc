"""How well the recognizer's parts do on the data we have: face detection in 640x480 scenes built from
real faces and real face-free images, and classification accuracy on test faces made small or dark.

Both use FER2013 faces: 48x48 gray crops of real web photos, one face each. Scenes paste them, at a
chosen size, on face-free images that matplotlib ships (a photo and terrain maps), alone or several at
once as in a group photo. What this can show: whether a detector finds such a face at a given size among
other faces and clutter, how many false or duplicate boxes it adds, and how the classifier's accuracy
falls when a face is small or badly lit. What it cannot: colour (FER2013 is gray), a face's own
surroundings (hair, neck, shoulders are cut off at the crop's edge), profile views (FER2013 has no pose
labels), occlusion by other people, real sensor noise in low light.
"""

from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import LightSource
from torchvision.ops import box_iou

from fer_study.apps.recognize.boxes import Box, Detection, corners
from fer_study.apps.recognize.pipeline import face_patch

# A detection is the placed face when it overlaps it by this IoU (the PASCAL VOC criterion).
MATCH_IOU = 0.5
# Scenes for the detectors: a webcam's 640x480 frame; group photos of 2 to 8 faces of 48 to 200 pixels.
SCENE_WIDTH, SCENE_HEIGHT = 640, 480
GROUP_FACES = (2, 8)
GROUP_FACE_SIZES = (48, 200)
# Failure conditions: a face of this many pixels across in the photo, or intensities scaled by this factor.
SMALL_FACE_SIZES = (24, 16, 12)
LOW_LIGHT_FACTORS = (0.25, 0.1)


def backgrounds(width: int = SCENE_WIDTH, height: int = SCENE_HEIGHT) -> list[np.ndarray]:
    """Face-free gray scenes of ``width`` x ``height`` from real images that matplotlib ships: a photo of a
    gift bag, and a terrain elevation map as gray levels and as shaded relief; each also mirrored."""
    data = Path(matplotlib.get_data_path()) / "sample_data"
    photo = cv2.imread(str(data / "Minduka_Present_Blue_Pack.png"), cv2.IMREAD_GRAYSCALE)
    elevation = np.load(data / "jacksboro_fault_dem.npz")["elevation"].astype(np.float64)
    relief = LightSource(azdeg=315, altdeg=45).hillshade(elevation, vert_exag=0.05)
    images = [photo, *(cv2.normalize(terrain, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
                       for terrain in (elevation, relief))]
    scenes = [cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) for image in images]
    return scenes + [scene[:, ::-1].copy() for scene in scenes]


def place_faces(background: np.ndarray, faces: Sequence[np.ndarray], sizes: Sequence[int],
                rng: np.random.Generator, attempts: int = 100) -> tuple[np.ndarray, list[Box]]:
    """A copy of the gray ``background`` with each 48x48 face resized to its size (bilinear) and pasted at a
    random place where it overlaps no other face (faces that find no such place in ``attempts`` tries are
    left out), and the boxes of the placed faces."""
    scene = background.copy()
    height, width = scene.shape
    boxes: list[Box] = []
    for face, size in zip(faces, map(int, sizes), strict=True):
        for _ in range(attempts):
            x, y = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
            if all(x + size <= bx or bx + bw <= x or y + size <= by or by + bh <= y for bx, by, bw, bh in boxes):
                scene[y : y + size, x : x + size] = cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
                boxes.append((x, y, size, size))
                break
    return scene, boxes


def single_face_scenes(faces: np.ndarray, face_size: int, seed: int = 0) -> tuple[list[np.ndarray], list[list[Box]]]:
    """Each face, ``face_size`` pixels across, at a random place on one of the ``backgrounds`` in turn."""
    rng = np.random.default_rng(seed)
    scenes = backgrounds()
    placed = [place_faces(scenes[index % len(scenes)], [face], [face_size], rng) for index, face in enumerate(faces)]
    return [scene for scene, _ in placed], [boxes for _, boxes in placed]


def group_scenes(faces: np.ndarray, scenes: int, faces_per_scene: tuple[int, int] = GROUP_FACES,
                 face_sizes: tuple[int, int] = GROUP_FACE_SIZES, seed: int = 0,
                 ) -> tuple[list[np.ndarray], list[list[Box]]]:
    """``scenes`` group photos: each a background with a random number of faces in ``faces_per_scene``
    (inclusive), drawn from ``faces``, each of a random size in ``face_sizes`` pixels (inclusive)."""
    rng = np.random.default_rng(seed)
    backgrounds_ = backgrounds()
    frames, boxes = [], []
    for index in range(scenes):
        count = int(rng.integers(faces_per_scene[0], faces_per_scene[1] + 1))
        chosen = faces[rng.choice(len(faces), count, replace=False)]
        sizes = rng.integers(face_sizes[0], face_sizes[1] + 1, count)
        frame, placed = place_faces(backgrounds_[index % len(backgrounds_)], chosen, sizes, rng)
        frames.append(frame)
        boxes.append(placed)
    return frames, boxes


def detection_scores(detector, scenes: Sequence[np.ndarray], boxes: Sequence[Sequence[Box]]) -> dict[str, float]:
    """Over gray scenes with known face boxes: recall (the share of faces some box matches with an IoU of
    at least ``MATCH_IOU``), the share of scenes whose face count the detector gets right, and per scene
    the false boxes (matching no face) and duplicate boxes (a second box on an already matched face)."""
    faces = found = right_count = false = duplicates = 0
    for gray, truth in zip(scenes, boxes, strict=True):
        detections = detector.detect(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), gray)
        right_count += len(detections) == len(truth)
        faces += len(truth)
        if not detections:
            continue
        if not truth:
            false += len(detections)
            continue
        matches = box_iou(corners([d.box for d in detections]), corners(truth)) >= MATCH_IOU
        found += int(matches.any(dim=0).sum())
        false += int((~matches.any(dim=1)).sum())
        duplicates += int((matches.sum(dim=0) - 1).clamp(min=0).sum())
    return {"recall": found / faces if faces else float("nan"), "right face count": right_count / len(scenes),
            "false boxes per scene": false / len(scenes), "duplicate boxes per scene": duplicates / len(scenes)}


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
