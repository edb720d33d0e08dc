"""FER2013 vs FER+ labels on the same images, matched by pixels.

The Kaggle copy of FER2013 names images by random ids and FER+ by its own names, so the two share no
key. Within each split, every FER+ image is paired with the FER2013 image nearest in pixels (both hold
the same faces, the Kaggle copy as JPEG); pairs whose mean absolute pixel difference is above
``max_mean_abs_diff`` are left unmatched.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from fer_study.core.constants import CLASS_NAMES, SPLITS
from fer_study.data.dataset import EXCLUDED, FERDataset

_CHUNK = 2048


def _thumbnails(images: np.ndarray, side: int = 12) -> torch.Tensor:
    pixels = torch.from_numpy(images).float().unsqueeze(1)
    return F.adaptive_avg_pool2d(pixels, side).flatten(1)


def match_images(query: np.ndarray, reference: np.ndarray, max_mean_abs_diff: float = 8.0) -> np.ndarray:
    """For each query image, the index of the nearest reference image, or -1 when none is close enough."""
    query_small, reference_small = _thumbnails(query), _thumbnails(reference)
    nearest = torch.cat([torch.cdist(query_small[start:start + _CHUNK], reference_small).argmin(1)
                         for start in range(0, len(query_small), _CHUNK)]).numpy()
    difference = np.abs(query.astype(np.int16) - reference[nearest].astype(np.int16)).mean(axis=(1, 2))
    return np.where(difference <= max_mean_abs_diff, nearest, -1)


def label_pairs(fer2013: FERDataset, ferplus: FERDataset, max_mean_abs_diff: float = 8.0,
                splits: Sequence[str] = SPLITS) -> pd.DataFrame:
    """One row per FER+ image of ``splits``: split, FER+ id and label, matched FER2013 id and label (None when
    unmatched). The matching cost grows with the square of a split's size: the test split alone takes about
    1/60 of the time of all three."""
    frames = []
    for split in splits:
        plus = ferplus.select(ferplus.splits == split)
        base = fer2013.select(fer2013.splits == split)
        match = match_images(plus.images, base.images, max_mean_abs_diff)
        matched = match >= 0
        frames.append(pd.DataFrame({
            "split": split,
            "ferplus_id": plus.ids,
            "ferplus_label": [CLASS_NAMES[i] if i != EXCLUDED else "excluded" for i in plus.labels],
            "fer2013_id": np.where(matched, base.ids[match], None),
            "fer2013_label": np.where(matched, np.array(CLASS_NAMES)[base.labels[match]], None),
        }))
    return pd.concat(frames, ignore_index=True)


def agreement_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per split: FER+ images, matched, both labelled (FER+ not excluded), and the share that agree."""
    matched = pairs.dropna(subset=["fer2013_label"])
    labelled = matched[matched["ferplus_label"] != "excluded"]
    table = pd.DataFrame({
        "ferplus_images": pairs.groupby("split").size(),
        "matched": matched.groupby("split").size(),
        "both_labelled": labelled.groupby("split").size(),
        "agree": (labelled["ferplus_label"] == labelled["fer2013_label"]).groupby(labelled["split"]).sum(),
    }).reindex(list(SPLITS)).fillna(0).astype(int)
    table["agreement"] = table["agree"] / table["both_labelled"].where(table["both_labelled"] > 0)
    return table


def label_confusion(pairs: pd.DataFrame) -> pd.DataFrame:
    """Counts of (FER2013 label, FER+ label) over matched images; rows FER2013, columns FER+."""
    matched = pairs.dropna(subset=["fer2013_label"])
    return pd.crosstab(pd.Categorical(matched["fer2013_label"], categories=CLASS_NAMES),
                       pd.Categorical(matched["ferplus_label"], categories=[*CLASS_NAMES, "excluded"]),
                       rownames=["FER2013"], colnames=["FER+"], dropna=False)
