"""FER2013 readers: the Kaggle image-folder zip and the original ``fer2013.csv``.

Kaggle zip: ``train/<emotion>/Training_<id>.jpg``, ``test/<emotion>/{PublicTest,PrivateTest}_<id>.jpg``;
the file-name prefix carries the original ``Usage``. CSV: ``emotion,pixels,Usage`` with 2304 gray values
per row; a row's id is ``row%05d`` of its 0-based row number.
"""

import csv
import zipfile
from pathlib import Path

import numpy as np

from fer_study.core.constants import CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES, USAGE_TO_SPLIT
from fer_study.data.dataset import FERDataset
from fer_study.data.images import ImageError, decode_face


def read_fer2013_zip(path: Path) -> FERDataset:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: FER2013 zip not found")
    images, labels, splits, ids = [], [], [], []
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ImageError(f"{path}: not a readable zip archive ({error})") from error
    with archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            parts = member.filename.split("/")
            if len(parts) != 3 or parts[0] not in ("train", "test") or parts[1] not in CLASS_NAMES:
                raise ImageError(f"{path}:{member.filename}: expected train|test/<emotion>/<Usage>_<id>.jpg "
                                 f"with <emotion> in {CLASS_NAMES}")
            usage, _, image_id = Path(parts[2]).stem.partition("_")
            if usage not in USAGE_TO_SPLIT or not image_id:
                raise ImageError(f"{path}:{member.filename}: file name must start with one of "
                                 f"{sorted(USAGE_TO_SPLIT)} followed by _<id>")
            try:
                data = archive.read(member)
            except (zipfile.BadZipFile, OSError, EOFError) as error:  # CRC mismatch, truncated member
                raise ImageError(f"{path}:{member.filename}: corrupt zip member ({error})") from error
            images.append(decode_face(data, f"{path}:{member.filename}"))
            labels.append(CLASS_NAMES.index(parts[1]))
            splits.append(USAGE_TO_SPLIT[usage])
            ids.append(Path(parts[2]).stem)
    if not images:
        raise ImageError(f"{path}: holds no images")
    return FERDataset("fer2013", np.stack(images), np.array(labels, np.int64), np.array(splits), np.array(ids),
                      attrs={"source": str(path), "layout": "kaggle-zip"})


def read_fer2013_csv(path: Path) -> FERDataset:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: fer2013.csv not found")
    images, labels, splits, ids = [], [], [], []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)} (expected emotion,pixels,Usage)")
        for row_number, row in enumerate(reader):
            where = f"{path}: row {row_number + 2}"
            if row["Usage"] not in USAGE_TO_SPLIT:
                raise ValueError(f"{where}: Usage {row['Usage']!r} is not one of {sorted(USAGE_TO_SPLIT)}")
            try:
                label = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except ValueError as error:
                raise ValueError(f"{where}: emotion and pixels must be integers ({error})") from error
            if not 0 <= label < NUM_CLASSES:
                raise ValueError(f"{where}: emotion {label} outside 0..{NUM_CLASSES - 1}")
            if pixels.size != IMAGE_SIZE * IMAGE_SIZE or pixels.min() < 0 or pixels.max() > 255:
                raise ValueError(f"{where}: pixels must be {IMAGE_SIZE * IMAGE_SIZE} values in 0..255, "
                                 f"got {pixels.size}")
            images.append(pixels.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
            labels.append(label)
            splits.append(USAGE_TO_SPLIT[row["Usage"]])
            ids.append(f"row{row_number:05d}")
    if not images:
        raise ValueError(f"{path}: holds no rows")
    return FERDataset("fer2013", np.stack(images), np.array(labels, np.int64), np.array(splits), np.array(ids),
                      attrs={"source": str(path), "layout": "csv"})
