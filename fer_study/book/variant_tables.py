"""The balancing chapter's tables and example grids of the dataset variants (``fer_study.data.variants``
builds them): the settings each was built with, counts and their change from the source, the faces
dropped, the sources of each training class, and (source, variant) image pairs. Everything is read from
the variants' recorded attributes; nothing is rebuilt here.
"""

import json

import numpy as np
import pandas as pd

from fer_study.book.tables import settings_text
from fer_study.core.constants import CLASS_NAMES
from fer_study.data.dataset import FERDataset, stack_faces
from fer_study.data.faces import FaceTable, sample_rows


def settings_table(datasets: dict[str, FERDataset]) -> pd.DataFrame:
    """Per variant: its source dataset, the settings it was built with (as ``key = value`` text), and the
    build time."""
    return pd.DataFrame({name: {"source": dataset.attrs["source"],
                                "settings": settings_text(dataset.attrs["settings"]),
                                "build_seconds": round(float(dataset.attrs["build_seconds"]), 1)}
                         for name, dataset in datasets.items()}).T.rename_axis("dataset")


def counts_table(datasets: dict[str, FERDataset]) -> pd.DataFrame:
    """Images per (dataset, split) and class, with the total and its change from the variant's source
    (zero for a dataset that is not a variant)."""
    frames = []
    for name, dataset in datasets.items():
        counts = dataset.counts()
        counts["total"] = counts.sum(axis=1)
        source = json.loads(dataset.attrs.get("source_counts", "{}"))
        counts["change"] = counts["total"] - pd.Series({split: sum(row) for split, row in source.items()},
                                                       dtype=int).reindex(counts.index).fillna(counts["total"])
        frames.append(counts.astype(int).assign(dataset=name).set_index("dataset", append=True).swaplevel())
    return pd.concat(frames)


def change_table(datasets: dict[str, FERDataset]) -> pd.DataFrame:
    """Images added (positive) or dropped (negative) per (dataset, split) and class, against the source."""
    frames = []
    for name, dataset in datasets.items():
        if "source_counts" not in dataset.attrs:
            continue
        source = json.loads(dataset.attrs["source_counts"])
        change = dataset.counts() - pd.DataFrame.from_dict(source, orient="index", columns=list(CLASS_NAMES))
        frames.append(change.assign(dataset=name).set_index("dataset", append=True).swaplevel())
    return pd.concat(frames)


def drop_table(dataset: FERDataset) -> pd.DataFrame:
    """For ``fer2013_f``/``fer2013_fa``: images without a detected face per split and class (dropped from
    train; counted but kept in val/test)."""
    dropped = json.loads(dataset.attrs["dropped_counts"])
    table = pd.DataFrame.from_dict(dropped, orient="index", columns=list(CLASS_NAMES))
    table.index.name = "split"
    table["total"] = table.sum(axis=1)
    table["applied"] = ["dropped" if split == "train" else "kept (evaluation stays unfiltered)"
                        for split in table.index]
    return table


def outcome_table(table: FaceTable) -> pd.DataFrame:
    """``FaceTable.outcome_counts`` as the chapter shows it: each reason in words ("no face", not "no_face")."""
    counts = table.outcome_counts()
    return counts.rename(index=lambda reason: reason.replace("_", " "), level="reason")


def train_sources(dataset: FERDataset) -> pd.DataFrame:
    """Per class of a variant's training split: images in the source, the target (when the variant has
    one), generated faces and augmented copies added, and the resulting count."""
    table = pd.DataFrame({"source": json.loads(dataset.attrs["source_counts"])["train"]},
                         index=list(CLASS_NAMES))
    for column, key in (("target", "targets"), ("generated", "generated_counts"),
                        ("augmented", "added_counts")):
        if key in dataset.attrs:
            table[column] = pd.Series(json.loads(dataset.attrs[key]))
    table["result"] = json.loads(dataset.attrs["train_counts"])
    table.index.name = "class"
    return table


def augmented_examples(dataset: FERDataset, count: int = 10, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Pairs (source, augmented copy) of ``count`` augmented images drawn with ``seed``, for a grid."""
    position = {image_id: index for index, image_id in enumerate(dataset.ids)}
    augmented = np.flatnonzero(np.char.find(dataset.ids.astype(str), "_aug") >= 0)
    augmented = sample_rows(augmented, count, seed)
    images, titles = [], []
    for index in augmented:
        source = position[dataset.ids[index].rsplit("_aug", 1)[0]]
        images += [dataset.images[source], dataset.images[index]]
        titles += [f"{CLASS_NAMES[dataset.labels[source]]}", dataset.ids[index].rsplit("_", 1)[1]]
    return stack_faces(images), titles


def aligned_examples(table: FaceTable, base: FERDataset, count: int = 10,
                     seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Pairs (original, deepface's aligned crop) of kept training images where both eyes were found."""
    rows = sample_rows(np.flatnonzero(table.kept & table.rows["eyes_found"].to_numpy() & (base.splits == "train")),
                       count, seed)
    images = stack_faces([image for row in rows for image in (base.images[row], table.faces[row])])
    titles = [title for row in rows for title in (CLASS_NAMES[base.labels[row]], "aligned")]
    return images, titles
