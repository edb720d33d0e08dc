"""Small in-memory datasets and images for the variant and generation tests.

The real face is matplotlib's bundled ``grace_hopper.jpg``; everything else (noise, blank frames) is
made here, so no test reads the study's archives.
"""

from pathlib import Path

import cv2
import matplotlib
import numpy as np

from fer_study.core.constants import CLASS_NAMES, SPLITS
from fer_study.data.dataset import EXCLUDED, FERDataset

# Where OpenCV's face detector finds the face in grace_hopper.jpg, widened by a margin like FER2013's.
_FACE_TOP, _FACE_BOTTOM, _FACE_LEFT, _FACE_RIGHT = 61, 371, 111, 421


def photo() -> np.ndarray:
    """The 512x600 BGR photo of Grace Hopper that ships with matplotlib."""
    return cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))


def small_face() -> np.ndarray:
    """Her face as a FER2013-style 48x48 gray image."""
    face = photo()[_FACE_TOP:_FACE_BOTTOM, _FACE_LEFT:_FACE_RIGHT]
    return cv2.resize(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY), (48, 48), interpolation=cv2.INTER_AREA)


def noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)


def blank(level: int = 128) -> np.ndarray:
    return np.full((48, 48), level, np.uint8)


def dataset_from_rows(rows: list[tuple[str, int, np.ndarray]], name: str = "fer2013",
                      soft: bool = False) -> FERDataset:
    """A dataset from (split, label, image) rows; ids ``<split><row>``; one-hot soft labels if asked
    (all zeros for ``EXCLUDED`` rows, as FER+ gives images without a kept vote)."""
    labels = np.array([label for _, label, _ in rows], np.int64)
    soft_labels = None
    if soft:
        soft_labels = np.zeros((len(rows), len(CLASS_NAMES)), np.float32)
        kept = labels != EXCLUDED
        soft_labels[np.flatnonzero(kept), labels[kept]] = 1.0
    return FERDataset(name, np.stack([image for _, _, image in rows]), labels,
                      np.array([split for split, _, _ in rows]),
                      np.array([f"{split}{index}" for index, (split, _, _) in enumerate(rows)]), soft_labels)


def noise_dataset(train_per_class: tuple[int, ...], eval_per_class: int = 1, name: str = "fer2013",
                  soft: bool = False, excluded_train: int = 0) -> FERDataset:
    """Noise images: ``train_per_class[i]`` of class i in train, ``eval_per_class`` of each class in val
    and test, plus ``excluded_train`` protocol-excluded training images."""
    rows, seed = [], 0
    for split in SPLITS:
        per_class = train_per_class if split == "train" else (eval_per_class,) * len(CLASS_NAMES)
        for label, count in enumerate(per_class):
            for _ in range(count):
                rows.append((split, label, noise(seed)))
                seed += 1
    rows += [("train", EXCLUDED, noise(seed + index)) for index in range(excluded_train)]
    return dataset_from_rows(rows, name, soft)


def eval_counts(dataset: FERDataset) -> dict[str, tuple[int, ...]]:
    counts = dataset.counts()
    return {split: tuple(int(n) for n in counts.loc[split]) for split in ("val", "test")}
