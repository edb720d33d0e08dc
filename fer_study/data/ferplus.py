"""FER+ (Barsoum et al., ICMI 2016): ``fer2013new.csv`` votes of 10 taggers plus the FERPlus image folders.

Read from ``ferplus.zip`` or from an extracted folder holding ``ferplus/``. Every named image is kept so
ids stay aligned with ``fer2013.csv`` rows; the 7-class protocol is applied through the labels:

- majority label: the class with the most votes over all ten columns; an image whose top vote is tied,
  or whose top class is ``contempt``, ``unknown`` or ``NF``, gets ``EXCLUDED``;
- soft label: the vote distribution over the 7 kept classes (all zeros when none of them has a vote).

A handful of image names occur on two rows of ``fer2013new.csv``; the first row is kept, as the
folders' ``label.csv`` does, and the number skipped is recorded in the dataset's attributes.
"""

import csv
import io
import zipfile
from pathlib import Path

import numpy as np

from fer_study.core.constants import CLASS_NAMES, NUM_CLASSES
from fer_study.data.dataset import EXCLUDED, FERDataset
from fer_study.data.images import ImageError, decode_face

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "NF")
VOTE_TO_CLASS = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                 "anger": "angry", "disgust": "disgust", "fear": "fear"}
USAGE_TO_FOLDER = {"Training": ("train", "FER2013Train"), "PublicTest": ("val", "FER2013Valid"),
                   "PrivateTest": ("test", "FER2013Test")}
# Column of each vote in CLASS_NAMES order, so votes[:, KEPT_COLUMNS] is (N, 7) in the project's order.
KEPT_COLUMNS = [VOTE_COLUMNS.index(vote) for cls in CLASS_NAMES
                for vote, mapped in VOTE_TO_CLASS.items() if mapped == cls]


class _FERPlusSource:
    """Reads ``ferplus/...`` members from the zip or from a folder, with one error style for both."""

    def __init__(self, location: Path):
        self.location = Path(location)
        if self.location.is_file():
            try:
                self.archive = zipfile.ZipFile(self.location)
            except zipfile.BadZipFile as error:
                raise ImageError(f"{self.location}: not a readable zip archive ({error})") from error
        elif (self.location / "ferplus").is_dir():
            self.archive = None
        else:
            raise FileNotFoundError(f"{self.location}: expected ferplus.zip or a folder containing ferplus/")

    def read(self, member: str) -> bytes:
        try:
            if self.archive is not None:
                return self.archive.read(f"ferplus/{member}")
            return (self.location / "ferplus" / member).read_bytes()
        except KeyError as error:
            raise FileNotFoundError(f"{self.location}: ferplus/{member} is missing") from error
        except (zipfile.BadZipFile, EOFError) as error:
            raise ImageError(f"{self.location}: ferplus/{member} is a corrupt member ({error})") from error


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """Top-voted class among the 7 kept ones, or ``EXCLUDED`` on a tie or a dropped top class."""
    top = votes.max(axis=1, keepdims=True)
    unique_top = (votes == top).sum(axis=1) == 1
    winner = votes.argmax(axis=1)
    column_to_class = {column: index for index, column in enumerate(KEPT_COLUMNS)}
    labels = np.array([column_to_class.get(column, EXCLUDED) for column in winner], np.int64)
    labels[~unique_top | (top[:, 0] == 0)] = EXCLUDED
    return labels


def soft_labels(votes: np.ndarray) -> np.ndarray:
    kept = votes[:, KEPT_COLUMNS].astype(np.float32)
    totals = kept.sum(axis=1, keepdims=True)
    return np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)


def read_ferplus(location: Path) -> FERDataset:
    source = _FERPlusSource(location)
    text = source.read("fer2013new.csv").decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing = {"Usage", "Image name", *VOTE_COLUMNS} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{source.location}: ferplus/fer2013new.csv lacks columns {sorted(missing)}")
    images, splits, ids, votes, seen = [], [], [], [], set()
    duplicates = 0
    for line, row in enumerate(reader, start=2):
        name = (row["Image name"] or "").strip()
        if not name:
            continue  # FER+ dropped this fer2013.csv row
        if name in seen:
            # A few names occur twice; the folders' label.csv keeps the first row, and so do we.
            duplicates += 1
            continue
        seen.add(name)
        if row["Usage"] not in USAGE_TO_FOLDER:
            raise ValueError(f"{source.location}: fer2013new.csv line {line}: unknown Usage {row['Usage']!r}")
        split, folder = USAGE_TO_FOLDER[row["Usage"]]
        images.append(decode_face(source.read(f"{folder}/{name}"), f"{source.location}:ferplus/{folder}/{name}"))
        splits.append(split)
        ids.append(Path(name).stem)
        try:
            votes.append([int(row[column]) for column in VOTE_COLUMNS])
        except ValueError as error:
            raise ValueError(f"{source.location}: fer2013new.csv line {line}: votes must be integers") from error
    vote_array = np.array(votes, np.int64).reshape(-1, len(VOTE_COLUMNS))
    return FERDataset("ferplus", np.stack(images), majority_labels(vote_array), np.array(splits), np.array(ids),
                      soft_labels=soft_labels(vote_array),
                      attrs={"source": str(source.location), "protocol": "7-class majority, ties excluded",
                             "num_classes_kept": NUM_CLASSES, "duplicate_names_skipped": duplicates})
