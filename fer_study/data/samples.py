"""A few faces to show or to time a model on: FER2013 training faces when the FER2013 cache exists, else
smooth synthetic images, so that a chapter's demonstration or a benchmark runs on a machine without the
archives (the cache is only read, never built here)."""

from typing import NamedTuple

import cv2
import numpy as np

from fer_study.core.constants import IMAGE_SIZE, NUM_CLASSES
from fer_study.data.registry import cache_path, load_dataset


class FaceSample(NamedTuple):
    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64 in CLASS_NAMES order
    source: str  # where the faces came from, for a caption


def sample_faces(count: int, seed: int = 0) -> FaceSample:
    """``count`` FER2013 training faces when the FER2013 cache exists, else smooth synthetic images.

    The cache is only read, never built here, so this works on a machine without the archives.
    """
    rng = np.random.default_rng(seed)
    if cache_path("fer2013").is_file():
        train = load_dataset("fer2013").subset("train")
        chosen = rng.choice(len(train), size=count, replace=count > len(train))
        return FaceSample(train.images[chosen], train.labels[chosen], "FER2013 training images")
    # Upsampled coarse noise: smooth, face-sized blobs with the value range of real faces.
    coarse = rng.integers(0, 256, (count, 6, 6), dtype=np.uint8)
    images = np.stack([cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_CUBIC)
                       for image in coarse])
    labels = np.arange(count, dtype=np.int64) % NUM_CLASSES
    return FaceSample(images, labels, "synthetic images (no FER2013 cache on this machine)")
