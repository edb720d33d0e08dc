"""One class order, split names and image size for every module of the study."""

# The label order of the original fer2013.csv (0 angry ... 6 neutral). Every label, logit column,
# table and plot in the project uses this order; readers of other layouts map into it.
CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASS_NAMES)

# Official FER2013 `Usage` values and the role each plays in the study.
USAGE_TO_SPLIT: dict[str, str] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SPLITS: tuple[str, ...] = ("train", "val", "test")

IMAGE_SIZE = 48

# Known per-split, per-class image counts (../shared/data/README.md), in CLASS_NAMES order.
# A freshly built cache must match these exactly.
FER2013_COUNTS: dict[str, tuple[int, ...]] = {
    "train": (3995, 436, 4097, 7215, 4830, 3171, 4965),
    "val": (467, 56, 496, 895, 653, 415, 607),
    "test": (491, 55, 528, 879, 594, 416, 626),
}

# Images FER+ names per split (FERPlus folders), before its 7-class protocol drops any.
FERPLUS_IMAGES: dict[str, int] = {"train": 28558, "val": 3579, "test": 3573}
