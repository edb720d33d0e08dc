"""The report's dataset variants (sections 3.3, 6.3.1), each a registered, cached, validated dataset.

- ``fer2013_a``: the training split enlarged with augmented copies (rotation, random-size crop,
  contrast and brightness jitter), by ``growth`` per class and ``class_growth`` for named classes.
- ``fer2013_f``: training images in which deepface finds no face are dropped.
- ``fer2013_fa``: the kept training images replaced by deepface's aligned face crop, at 48x48.
- ``fer2013_g``: every training class filled up to the largest with generated faces (report 6.2), from a
  folder that ``python -m fer_study.apps.generate`` writes with a local text-to-image model.
- ``ferplus_s``: FER+ (majority labels) with its training classes semi-balanced. The report used
  AffectNet images, which cannot be had here; augmented copies (and, when a folder of generated faces
  is given, generated faces first) fill the classes instead.

Only training data changes: validation and test stay the base dataset's full, unfiltered splits, so every
model is evaluated on the same images. ``fer2013_f``/``fer2013_fa`` record per split and class how many
validation/test images the filter would drop, so a filtered-test score can be shown beside, labelled.

``load_dataset(name)`` builds a variant with its default settings and caches it; ``get_variant`` also
builds variants in memory from a per-split sample (``base_dataset(name, limit)``) or with other
settings, for quick runs.
"""

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES, FER2013_COUNTS, FERPLUS_IMAGES, IMAGE_SIZE, SPLITS
from fer_study.data.cache import CacheError
from fer_study.data.dataset import EXCLUDED, FERDataset, concatenate, stack_faces
from fer_study.data.face_detections import read_detections, record_detections, settings_tag
from fer_study.data.faces import DATASET_FACES, FaceSettings, FaceTable, detect_dataset_faces
from fer_study.data.generated import balance_from_folder
from fer_study.data.registry import (
    check_class_counts,
    check_split_sizes,
    list_datasets,
    load_dataset,
    provenance,
    register_dataset,
)

EVAL_SPLITS = ("val", "test")


@dataclass(frozen=True)
class AugmentSettings:
    """Offline augmentation: how much each class grows, and the ranges random transforms draw from."""

    growth: float = 1.35
    class_growth: dict[str, float] = field(default_factory=lambda: {"disgust": 2.16})
    seed: int = 0
    rotation_degrees: float = 15.0
    crop_area: tuple[float, float] = (0.75, 1.0)  # fraction of the image a random-size crop keeps
    crop_aspect: tuple[float, float] = (0.85, 1.18)
    contrast: tuple[float, float] = (0.7, 1.3)
    brightness: tuple[float, float] = (0.8, 1.2)


@dataclass(frozen=True)
class SemiBalanceSettings:
    """Each training class grows towards ``fraction`` of the largest class, but at most ``max_growth``
    times, since many augmented copies of few sources would be near-duplicates."""

    fraction: float = 0.5
    max_growth: float = 3.0
    seed: int = 0
    generated_dir: str | None = None  # per-class folders of 48x48 generated faces, used before augmentation


@dataclass(frozen=True)
class GeneratedBalanceSettings:
    """The report's generated-image balancing (6.2): every training class filled up to the largest with
    generated faces from ``<generated_dir>/<class>/*.png`` (default ``paths.generated_faces_dir()``);
    ``require_full``: a class the folder cannot fill is an error rather than left short."""

    generated_dir: str | None = None
    require_full: bool = True


def growth_targets(counts: pd.Series, settings: AugmentSettings) -> dict[str, int]:
    unknown = set(settings.class_growth) - set(CLASS_NAMES)
    if unknown:
        raise ValueError(f"class_growth names unknown classes {sorted(unknown)}; expected {CLASS_NAMES}")
    factors = {cls: settings.class_growth.get(cls, settings.growth) for cls in CLASS_NAMES}
    if min(factors.values()) < 1:
        raise ValueError(f"growth factors must be at least 1 (augmentation only adds images), got {factors}")
    return {cls: round(int(counts[cls]) * factors[cls]) for cls in CLASS_NAMES}


def semi_balance_targets(counts: pd.Series, settings: SemiBalanceSettings) -> dict[str, int]:
    largest = int(counts.max())
    return {cls: max(int(counts[cls]), min(round(settings.fraction * largest),
                                           round(int(counts[cls]) * settings.max_growth)))
            for cls in CLASS_NAMES}


def augment_face(image: np.ndarray, rng: np.random.Generator, settings: AugmentSettings) -> np.ndarray:
    """One random rotation, random-size crop (resized back to 48x48), contrast and brightness change."""
    import torch
    import torchvision.transforms.v2.functional as F
    from torchvision.transforms import InterpolationMode

    pixels = torch.from_numpy(image)[None]
    # Fill rotated-in corners with the face's median gray rather than black, which reads as an edge.
    pixels = F.rotate(pixels, float(rng.uniform(-settings.rotation_degrees, settings.rotation_degrees)),
                      interpolation=InterpolationMode.BILINEAR, fill=[float(np.median(image))])
    area = rng.uniform(*settings.crop_area) * IMAGE_SIZE * IMAGE_SIZE
    aspect = math.exp(rng.uniform(*np.log(settings.crop_aspect)))
    width = min(IMAGE_SIZE, round(math.sqrt(area * aspect)))
    height = min(IMAGE_SIZE, round(math.sqrt(area / aspect)))
    top, left = int(rng.integers(0, IMAGE_SIZE - height + 1)), int(rng.integers(0, IMAGE_SIZE - width + 1))
    pixels = F.resized_crop(pixels, top, left, height, width, [IMAGE_SIZE, IMAGE_SIZE], antialias=True)
    pixels = F.adjust_contrast(pixels, float(rng.uniform(*settings.contrast)))
    pixels = F.adjust_brightness(pixels, float(rng.uniform(*settings.brightness)))
    return pixels[0].numpy()


def augment_to_targets(dataset: FERDataset, split: str, targets: dict[str, int],
                       settings: AugmentSettings) -> FERDataset:
    """Augmented copies (only the new rows) that bring each class of ``split`` up to ``targets``.

    Sources are drawn without replacement from a seeded permutation, repeated when a class must more
    than double; the k-th copy of image ``<id>`` is ``<id>_aug<k>`` (counted per id, so the few ids that
    FER2013's Kaggle copy uses twice still give unique copy ids). Each class has its own random stream,
    so changing one class's target leaves the others' images unchanged.
    """
    from fer_study.core.devices import torch_threads  # torch only where images are augmented, as augment_face

    in_split = (dataset.splits == split) & (dataset.labels != EXCLUDED)
    images, rows, ids = [], [], []
    copies: dict[str, int] = {}  # across classes: the Kaggle copy gives one id to images of two classes
    with torch_threads(1):  # one 48x48 face at a time: a second thread only waits (torch_threads)
        for label, cls in enumerate(CLASS_NAMES):
            sources = np.flatnonzero(in_split & (dataset.labels == label))
            extra = targets[cls] - len(sources)
            if extra <= 0:
                continue
            if len(sources) == 0:
                raise ValueError(f"{dataset.name}/{split} has no {cls} image to augment")
            rng = np.random.default_rng([settings.seed, label])
            rounds = math.ceil(extra / len(sources))
            picks = np.concatenate([rng.permutation(sources) for _ in range(rounds)])[:extra]
            for index in picks:
                source_id = str(dataset.ids[index])
                copies[source_id] = copies.get(source_id, 0) + 1
                images.append(augment_face(dataset.images[index], rng, settings))
                rows.append(index)
                ids.append(f"{source_id}_aug{copies[source_id]}")
    rows = np.array(rows, np.int64)
    soft = None if dataset.soft_labels is None else dataset.soft_labels[rows]
    return FERDataset(dataset.name, stack_faces(images), dataset.labels[rows], np.full(len(rows), split),
                      np.array(ids, dtype=str), soft)


def _duplicate_ids(dataset: FERDataset) -> int:
    return len(dataset) - len(np.unique(dataset.ids))


def _json_counts(table: pd.DataFrame) -> str:
    return json.dumps({split: [int(n) for n in table.loc[split]] for split in table.index})


def _finish(result: FERDataset, base: FERDataset, settings, started: float, packages: tuple[str, ...],
            **extra) -> FERDataset:
    """Attach the attributes validation and the notebook read: source, settings, recorded counts."""
    result.attrs = {
        "source": base.name, "source_images": len(base), "source_counts": _json_counts(base.counts()),
        "settings": json.dumps(asdict(settings)), "train_counts": json.dumps(
            [int(n) for n in result.counts().loc["train"]]),
        "train_images": int((result.splits == "train").sum()),
        "source_duplicate_ids": _duplicate_ids(base),
        "eval_counts": _json_counts(base.counts().loc[list(EVAL_SPLITS)]),
        "build_seconds": time.perf_counter() - started, **provenance(packages),
        **{key: json.dumps(value) for key, value in extra.items()},
    }
    return result


def build_augmented(base: FERDataset, settings: AugmentSettings = AugmentSettings()) -> FERDataset:
    started = time.perf_counter()
    targets = growth_targets(base.counts().loc["train"], settings)
    added = augment_to_targets(base, "train", targets, settings)
    added_counts = {cls: int((added.labels == label).sum()) for label, cls in enumerate(CLASS_NAMES)}
    return _finish(concatenate(base, added), base, settings, started, ("torch", "torchvision"),
                   added_counts=added_counts)


_TABLES_IN_MEMORY: dict[tuple, FaceTable] = {}


def face_table(base: FERDataset, settings: FaceSettings = DATASET_FACES) -> FaceTable:
    """The deepface pass over ``base``: cached beside the datasets for a registered (full) dataset, kept in
    memory for a sample, so ``fer2013_f`` and ``fer2013_fa`` share one pass. Where the detector's outputs
    for these images and settings are committed (``record_face_detections``), they are replayed."""
    if base.name in list_datasets():
        cache_file = paths.cache_dir() / f"faces_{base.name}_{settings.detector}_{settings_tag(settings)}.h5"
        recorded = None if cache_file.exists() else read_detections(base, settings)
        return detect_dataset_faces(base, settings, cache_file, recorded=recorded)
    key = (base.name, hashlib.sha256("\n".join(base.ids).encode()).hexdigest(), settings)
    if key not in _TABLES_IN_MEMORY:
        _TABLES_IN_MEMORY.clear()  # one sample at a time is all a notebook run needs
        _TABLES_IN_MEMORY[key] = detect_dataset_faces(base, settings)
    return _TABLES_IN_MEMORY[key]


def record_face_detections(base_name: str = "fer2013", settings: FaceSettings = DATASET_FACES) -> Path:
    """Run (or read from the cache) the face pass over a registered dataset and commit-ready record what the
    detector returned, so that fresh checkouts replay it instead of detecting again."""
    base = load_dataset(base_name)
    table = face_table(base, settings)
    provenance = {key: value for key, value in table.attrs.items() if key not in ("seconds", "settings")}
    return record_detections(table.detections, provenance, base, settings)


def build_filtered(base: FERDataset, settings: FaceSettings = DATASET_FACES,
                   aligned: bool = False) -> FERDataset:
    """Training images with a face kept (as deepface's crop when ``aligned``); val/test whole, untouched."""
    started = time.perf_counter()
    table = face_table(base, settings)
    train = base.splits == "train"
    keep = table.kept | ~train
    images = np.where(train[:, None, None], table.faces, base.images) if aligned else base.images
    result = FERDataset(base.name, images[keep], base.labels[keep], base.splits[keep], base.ids[keep],
                        None if base.soft_labels is None else base.soft_labels[keep])
    dropped = table.dropped_counts()
    return _finish(result, base, settings, started, ("deepface",), aligned=aligned,
                   dropped_counts={split: [int(n) for n in dropped.loc[split]] for split in SPLITS},
                   face_pass_seconds=float(table.attrs["seconds"]))


def build_semi_balanced(base: FERDataset,
                        settings: SemiBalanceSettings = SemiBalanceSettings()) -> FERDataset:
    started = time.perf_counter()
    targets = semi_balance_targets(base.counts().loc["train"], settings)
    dataset, generated = base, dict.fromkeys(CLASS_NAMES, 0)
    if settings.generated_dir is not None:
        dataset = balance_from_folder(base, "train", Path(settings.generated_dir), targets,
                                      require_full=False)
        generated = json.loads(dataset.attrs["generated_added"])
    augmented = augment_to_targets(dataset, "train", targets, AugmentSettings(seed=settings.seed))
    added_counts = {cls: int((augmented.labels == label).sum()) for label, cls in enumerate(CLASS_NAMES)}
    return _finish(concatenate(dataset, augmented), base, settings, started, ("torch", "torchvision"),
                   targets=targets, generated_counts=generated, added_counts=added_counts)


def build_generated_balanced(base: FERDataset,
                             settings: GeneratedBalanceSettings = GeneratedBalanceSettings()) -> FERDataset:
    started = time.perf_counter()
    folder = Path(settings.generated_dir) if settings.generated_dir else paths.generated_faces_dir()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no generated faces for {base.name}_g (one subfolder per class of 48x48 images). Make "
            f"them with a text-to-image model in FER_MODELS (now {paths.shown(paths.models_dir())}): "
            f"python -m fer_study.apps.generate MODEL --emotions {' '.join(CLASS_NAMES)} --count N "
            f"--out {paths.shown(folder.parent)}")
    dataset = balance_from_folder(base, "train", folder, None, require_full=settings.require_full)
    return _finish(dataset, base, settings, started, (), generated_counts=json.loads(dataset.attrs["generated_added"]))


def validate_variant(dataset: FERDataset, path: Path, eval_counts: dict[str, tuple[int, ...]] | None = None,
                     eval_sizes: dict[str, int] | None = None) -> None:
    """Train counts equal those recorded at build (catches truncation), val/test equal the base's, and
    no id repeats beyond the repeats of the source (FER2013's Kaggle copy names two files twice).

    ``eval_counts``/``eval_sizes`` default to the counts recorded from the base at build.
    """
    if "train_counts" not in dataset.attrs or "train_images" not in dataset.attrs:
        raise CacheError(f"{path}: dataset {dataset.name!r} lacks its recorded train counts; "
                         "delete it to rebuild")
    recorded_eval = {split: tuple(row) for split, row in json.loads(dataset.attrs["eval_counts"]).items()}
    check_class_counts(dataset, path, {"train": tuple(json.loads(dataset.attrs["train_counts"])),
                                       **(recorded_eval if eval_counts is None else eval_counts)})
    check_split_sizes(dataset, path, {"train": int(dataset.attrs["train_images"]), **(eval_sizes or {})})
    if _duplicate_ids(dataset) > int(dataset.attrs.get("source_duplicate_ids", 0)):
        raise CacheError(f"{path}: dataset {dataset.name!r} repeats ids its source does not; "
                         "delete it to rebuild")


@dataclass(frozen=True)
class Variant:
    base: str
    build: Callable[[FERDataset, object], FERDataset]
    settings: object
    validate: Callable[[FERDataset, Path], None]
    description: str


_FER2013_EVAL = {split: FER2013_COUNTS[split] for split in EVAL_SPLITS}
_FERPLUS_EVAL_SIZES = {split: FERPLUS_IMAGES[split] for split in EVAL_SPLITS}

VARIANTS: dict[str, Variant] = {
    "fer2013_a": Variant("fer2013", build_augmented, AugmentSettings(),
                         lambda d, p: validate_variant(d, p, _FER2013_EVAL),
                         "FER2013 with the training split enlarged by augmented copies (report 6.3.1)"),
    "fer2013_f": Variant("fer2013", build_filtered, DATASET_FACES,
                         lambda d, p: validate_variant(d, p, _FER2013_EVAL),
                         "FER2013 without the training images in which deepface (OpenCV) finds no face"),
    "fer2013_fa": Variant("fer2013", lambda base, settings: build_filtered(base, settings, aligned=True),
                          DATASET_FACES, lambda d, p: validate_variant(d, p, _FER2013_EVAL),
                          "fer2013_f with deepface's aligned face crops as training images"),
    "fer2013_g": Variant("fer2013", build_generated_balanced, GeneratedBalanceSettings(),
                         lambda d, p: validate_variant(d, p, _FER2013_EVAL),
                         "FER2013 with every training class filled up to the largest by generated faces "
                         "(report 6.2; needs a folder of generated faces)"),
    "ferplus_s": Variant("ferplus", build_semi_balanced, SemiBalanceSettings(),
                         lambda d, p: validate_variant(d, p, eval_sizes=_FERPLUS_EVAL_SIZES),
                         "FER+ with training classes semi-balanced by augmented images "
                         "(the report's AffectNet images are unavailable)"),
}

for _name, _variant in VARIANTS.items():
    register_dataset(_name, lambda v=_variant: v.build(load_dataset(v.base), v.settings), _variant.validate,
                     _variant.description)


def evaluation_dataset(name: str) -> str:
    """The dataset whose validation and test splits ``name`` has: a variant keeps its base's, unchanged, so
    they are read from the base (building a filtered variant's cache means detecting faces in every image)."""
    while name in VARIANTS:
        name = VARIANTS[name].base
    return name


def evaluation_ids(name: str, split: str) -> np.ndarray:
    """The image ids of dataset ``name``'s ``split`` (``val`` or ``test``) in order, protocol-excluded images
    left out: the rows a run of ``name`` scored there (read from ``evaluation_dataset(name)``)."""
    return load_dataset(evaluation_dataset(name)).subset(split).ids.astype(str)


def sample_per_split(dataset: FERDataset, limit: int, seed: int = 0) -> FERDataset:
    """At most ``limit`` random images of each split, in dataset order, named ``<name>_sample<limit>``."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(dataset), bool)
    for split in SPLITS:
        rows = np.flatnonzero(dataset.splits == split)
        keep[rng.choice(rows, min(limit, len(rows)), replace=False)] = True
    sample = dataset.select(keep)
    sample.name = f"{dataset.name}_sample{limit}"
    return sample


def base_dataset(name: str, limit: int | None = None) -> FERDataset:
    """A registered dataset, or a ``limit``-per-split sample of it for a quick run."""
    dataset = load_dataset(name)
    return dataset if limit is None else sample_per_split(dataset, limit)


def get_variant(name: str, base: FERDataset | None = None, overrides: dict | None = None,
                rebuild: bool = False) -> FERDataset:
    """A variant from its cache (built if needed) when ``base`` is its registered base (or ``None``) and
    ``overrides`` change none of its settings; otherwise built in memory from ``base`` (e.g. a sample
    from ``base_dataset``) with the overridden settings, validated, and not cached."""
    variant = VARIANTS[name]
    settings = replace(variant.settings, **(overrides or {}))
    if (base is None or base.name == variant.base) and settings == variant.settings:
        return load_dataset(name, rebuild=rebuild)
    base = load_dataset(variant.base) if base is None else base
    dataset = variant.build(base, settings)
    dataset.name = name if base.name == variant.base else f"{name}_from_{base.name}"
    validate_variant(dataset, Path(f"<in-memory {dataset.name}>"),
                     {split: tuple(base.counts().loc[split]) for split in EVAL_SPLITS},
                     {split: int((base.splits == split).sum()) for split in EVAL_SPLITS})
    return dataset


def get_face_table(base: FERDataset | None = None, overrides: dict | None = None) -> FaceTable:
    """The deepface pass behind ``fer2013_f``/``fer2013_fa`` over ``base`` (default: all of FER2013)."""
    settings = replace(DATASET_FACES, **(overrides or {}))
    return face_table(load_dataset("fer2013") if base is None else base, settings)
