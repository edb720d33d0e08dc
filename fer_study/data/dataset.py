"""The in-memory form of every dataset: uint8 faces, labels in ``CLASS_NAMES`` order, official splits."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fer_study.core.constants import CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES, SPLITS

EXCLUDED = -1  # label of an image a protocol leaves out (e.g. FER+ ties), kept so ids stay aligned


@dataclass
class FERDataset:
    """``images`` (N, 48, 48) uint8, ``labels`` (N,) int64 (``EXCLUDED`` = left out by the protocol),
    ``splits`` (N,) str in ``SPLITS``, ``ids`` (N,) str, optional ``soft_labels`` (N, 7) float32."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    ids: np.ndarray
    soft_labels: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or self.images.dtype != np.uint8:
            raise ValueError(f"dataset {self.name!r}: images must be uint8 (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                             f"got {self.images.dtype} {self.images.shape}")
        for column in ("labels", "splits", "ids"):
            if len(getattr(self, column)) != n:
                raise ValueError(f"dataset {self.name!r}: {column} has {len(getattr(self, column))} rows, "
                                 f"images have {n}")
        if self.soft_labels is not None and self.soft_labels.shape != (n, NUM_CLASSES):
            raise ValueError(f"dataset {self.name!r}: soft_labels must be ({n}, {NUM_CLASSES}), "
                             f"got {self.soft_labels.shape}")
        unknown = set(np.unique(self.splits)) - set(SPLITS)
        if unknown:
            raise ValueError(f"dataset {self.name!r}: unknown split names {sorted(unknown)}")

    def __len__(self) -> int:
        return len(self.images)

    def select(self, mask: np.ndarray) -> "FERDataset":
        return FERDataset(self.name, self.images[mask], self.labels[mask], self.splits[mask], self.ids[mask],
                          None if self.soft_labels is None else self.soft_labels[mask], dict(self.attrs))

    def subset(self, split: str, include_excluded: bool = False) -> "FERDataset":
        """The images of one official split (without protocol-excluded images unless asked)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        mask = self.splits == split
        if not include_excluded:
            mask &= self.labels != EXCLUDED
        return self.select(mask)

    def counts(self) -> pd.DataFrame:
        """Images per split (rows, in ``SPLITS`` order) and class (columns, ``CLASS_NAMES`` order)."""
        table = pd.DataFrame(0, index=pd.Index(SPLITS, name="split"), columns=list(CLASS_NAMES))
        kept = self.labels != EXCLUDED
        for split in SPLITS:
            in_split = kept & (self.splits == split)
            table.loc[split] = np.bincount(self.labels[in_split], minlength=NUM_CLASSES)
        return table

    def counts_long(self) -> pd.DataFrame:
        """``counts()`` as one row per (split, class) with a ``count`` column, for plotting."""
        table = self.counts().reset_index().melt(id_vars="split", var_name="class", value_name="count")
        return table.astype({"count": int})

    def sample(self, per_class: int, split: str = "train", seed: int = 0) -> "FERDataset":
        """Up to ``per_class`` random images of each class of ``split``, grouped by class."""
        rng = np.random.default_rng(seed)
        pool = self.subset(split)
        chosen = [rng.permutation(np.flatnonzero(pool.labels == label))[:per_class]
                  for label in range(NUM_CLASSES)]
        return pool.select(np.concatenate(chosen))


def concatenate(first: FERDataset, second: FERDataset) -> FERDataset:
    """The rows of ``first`` followed by those of ``second``, under ``first``'s name and attributes.

    Soft labels must be present in both or in neither, so no row silently loses its vote distribution.
    """
    if (first.soft_labels is None) != (second.soft_labels is None):
        raise ValueError(f"cannot join {first.name!r} and {second.name!r}: only one of them has soft labels")
    soft = None if first.soft_labels is None else np.concatenate([first.soft_labels, second.soft_labels])
    def joined(column: str) -> np.ndarray:
        return np.concatenate([getattr(first, column), getattr(second, column)])

    return FERDataset(first.name, joined("images"), joined("labels"), joined("splits"), joined("ids"), soft,
                      dict(first.attrs))


def stack_faces(images: list[np.ndarray]) -> np.ndarray:
    """(N, 48, 48) uint8 from a list of faces, also when the list is empty."""
    return np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
