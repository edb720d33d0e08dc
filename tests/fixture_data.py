"""Tiny FER2013 / FER+ archives in the real layouts, generated for the data-layer tests."""

import csv
import io
import zipfile
from pathlib import Path

import cv2
import numpy as np

from fer_study.core.constants import CLASS_NAMES, USAGE_TO_SPLIT
from fer_study.data import FERDataset

USAGES = tuple(USAGE_TO_SPLIT)


def face(seed: int) -> np.ndarray:
    """A distinct 48x48 gray image per seed (smooth, so JPEG keeps it close)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6)).astype(np.uint8)
    return cv2.resize(small, (48, 48), interpolation=cv2.INTER_CUBIC)


def brightness_dataset(name: str) -> FERDataset:
    """Seven classes, each a brightness level (12 train, 4 val, 4 test images per class), so a tiny model
    learns them in a few epochs."""
    images, labels, splits = [], [], []
    for split, per_class in (("train", 12), ("val", 4), ("test", 4)):
        for label in range(7):
            for i in range(per_class):
                noise = face(label * 100 + i + len(images)).astype(np.int16) // 8
                images.append(np.clip(noise + label * 30, 0, 255).astype(np.uint8))
                labels.append(label)
                splits.append(split)
    return FERDataset(name, np.stack(images), np.array(labels), np.array(splits),
                      np.array([f"img{i}" for i in range(len(images))]))


def encode(image: np.ndarray, extension: str) -> bytes:
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


def fixture_rows(per_usage_class: int = 2) -> list[tuple[int, str, np.ndarray]]:
    """(label, usage, image) rows: ``per_usage_class`` images for every usage and class."""
    rows, seed = [], 0
    for usage in USAGES:
        for label in range(len(CLASS_NAMES)):
            for _ in range(per_usage_class):
                rows.append((label, usage, face(seed)))
                seed += 1
    return rows


def write_kaggle_zip(path: Path, rows, corrupt_member: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for index, (label, usage, image) in enumerate(rows):
            folder = "train" if usage == "Training" else "test"
            data = encode(image, ".jpg")
            if corrupt_member and index == len(rows) - 1:
                data = data[: len(data) // 3]
            archive.writestr(f"{folder}/{CLASS_NAMES[label]}/{usage}_{1000 + index}.jpg", data)
    return path


def write_fer2013_csv(path: Path, rows) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for label, usage, image in rows:
            writer.writerow([label, " ".join(map(str, image.flatten())), usage])
    return path


FERPLUS_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
VOTE_HEADER = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
               "unknown", "NF"]


def write_ferplus_zip(path: Path, rows_with_votes) -> Path:
    """``rows_with_votes``: (usage, name or '', image, votes[10]) in fer2013new.csv order."""
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["Usage", "Image name", *VOTE_HEADER])
    with zipfile.ZipFile(path, "w") as archive:
        for usage, name, image, votes in rows_with_votes:
            writer.writerow([usage, name, *votes])
            if name:
                archive.writestr(f"ferplus/{FERPLUS_FOLDERS[usage]}/{name}", encode(image, ".png"))
        archive.writestr("ferplus/fer2013new.csv", table.getvalue())
    return path
