"""Class-balance analysis: how many images each class needs to reach the largest class of its group.

The report (section 3.3) needs 21,796 images for training and 5,240 for testing. Those figures follow
from grouping the images as the Kaggle folders do (``train`` = Training; ``test`` = PublicTest +
PrivateTest) and filling every class of a group up to that group's largest class.
"""

import pandas as pd

from fer_study.core.constants import CLASS_NAMES
from fer_study.data.dataset import FERDataset

OFFICIAL_GROUPS: dict[str, tuple[str, ...]] = {"train": ("train",), "val": ("val",), "test": ("test",)}
KAGGLE_FOLDER_GROUPS: dict[str, tuple[str, ...]] = {"train": ("train",), "test": ("val", "test")}


def balance_table(dataset: FERDataset, groups: dict[str, tuple[str, ...]] = OFFICIAL_GROUPS) -> pd.DataFrame:
    """Per group and class: images, images to add to reach the group's largest class, and the total.

    Rows are groups; columns are a MultiIndex ``(quantity, class)`` with quantities ``images`` and
    ``to_add``, plus ``total_images``, ``total_to_add`` and ``growth`` (to_add / images).
    """
    counts = dataset.counts()
    rows = {}
    for group, splits in groups.items():
        images = counts.loc[list(splits)].sum()
        to_add = images.max() - images
        rows[group] = {**{("images", c): int(images[c]) for c in CLASS_NAMES},
                       **{("to_add", c): int(to_add[c]) for c in CLASS_NAMES},
                       ("total", "images"): int(images.sum()), ("total", "to_add"): int(to_add.sum())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    table[("total", "growth")] = table[("total", "to_add")] / table[("total", "images")]
    table.index.name = "group"
    return table
