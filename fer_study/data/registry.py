"""Named datasets: each is built once from the raw data, cached as HDF5 and validated on every load."""

from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES, FER2013_COUNTS, FERPLUS_IMAGES, SPLITS
from fer_study.core.files import file_sha256
from fer_study.data.cache import CacheError, read_h5, write_h5
from fer_study.data.dataset import FERDataset
from fer_study.data.fer2013 import read_fer2013_csv, read_fer2013_zip
from fer_study.data.ferplus import read_ferplus


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    build: Callable[[], FERDataset]
    validate: Callable[[FERDataset, Path], None]
    description: str


_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(name: str, build: Callable[[], FERDataset], validate: Callable[[FERDataset, Path], None],
                     description: str) -> None:
    if name in _DATASETS:
        raise ValueError(f"dataset {name!r} is already registered")
    _DATASETS[name] = DatasetSpec(name, build, validate, description)


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def cache_path(name: str) -> Path:
    return paths.cache_dir() / f"{name}.h5"


def load_dataset(name: str, rebuild: bool = False) -> FERDataset:
    """The named dataset from its cache, building (and validating) the cache first when needed."""
    if name not in _DATASETS:
        raise KeyError(f"unknown dataset {name!r}; registered: {', '.join(list_datasets())}")
    spec, path = _DATASETS[name], cache_path(name)
    if path.exists() and not rebuild:
        dataset = read_h5(path)
    else:
        dataset = spec.build()
        dataset.name = name
        dataset.attrs.update(provenance())
        spec.validate(dataset, path)
        write_h5(path, dataset)
    spec.validate(dataset, path)
    return dataset


def provenance(extra_packages: tuple[str, ...] = ()) -> dict:
    """``version_<package>`` attributes for the packages every cache depends on, plus ``extra_packages``."""
    packages = ("numpy", "h5py", "opencv-contrib-python-headless", *extra_packages)
    return {f"version_{package}": metadata.version(package) for package in packages}


def check_class_counts(dataset: FERDataset, path: Path, expected: dict[str, tuple[int, ...]]) -> None:
    """Raise ``CacheError`` naming the file and every split/class whose count differs from ``expected``."""
    counts = dataset.counts()
    differences = [f"{split}/{cls}: {counts.loc[split, cls]} != {want}"
                   for split, row in expected.items() for cls, want in zip(CLASS_NAMES, row, strict=True)
                   if counts.loc[split, cls] != want]
    if differences:
        raise CacheError(f"{path}: dataset {dataset.name!r} has wrong class counts ({'; '.join(differences)}); "
                         "delete the file to rebuild it")


def check_split_sizes(dataset: FERDataset, path: Path, expected: dict[str, int]) -> None:
    sizes = {split: int((dataset.splits == split).sum()) for split in SPLITS}
    differences = [f"{split}: {sizes[split]} != {want}" for split, want in expected.items() if sizes[split] != want]
    if differences:
        raise CacheError(f"{path}: dataset {dataset.name!r} has wrong split sizes ({'; '.join(differences)}); "
                         "delete the file to rebuild it")


def _build_fer2013() -> FERDataset:
    """From ``fer2013.csv`` when present (lossless, ids shared with FER+), else the Kaggle zip."""
    root = paths.data_dir()
    source = root / "fer2013.csv" if (root / "fer2013.csv").is_file() else root / "fer2013.zip"
    if not source.is_file():
        raise FileNotFoundError(f"FER_DATA={root}: neither fer2013.csv nor fer2013.zip is there "
                                "(set FER_DATA to the folder holding the archives)")
    dataset = read_fer2013_csv(source) if source.suffix == ".csv" else read_fer2013_zip(source)
    dataset.attrs["source_sha256"] = file_sha256(source)
    return dataset


def _build_ferplus() -> FERDataset:
    root = paths.data_dir()
    source = root / "ferplus.zip" if (root / "ferplus.zip").is_file() else root
    if not (source.is_file() or (root / "ferplus").is_dir()):
        raise FileNotFoundError(f"FER_DATA={root}: neither ferplus.zip nor a ferplus/ folder is there")
    dataset = read_ferplus(source)
    if source.is_file():
        dataset.attrs["source_sha256"] = file_sha256(source)
    return dataset


def _validate_ferplus(dataset: FERDataset, path: Path) -> None:
    check_split_sizes(dataset, path, FERPLUS_IMAGES)
    if dataset.soft_labels is None or not np.isfinite(dataset.soft_labels).all():
        raise CacheError(f"{path}: dataset {dataset.name!r} lacks finite soft labels; delete it to rebuild")


register_dataset("fer2013", _build_fer2013, lambda d, p: check_class_counts(d, p, FER2013_COUNTS),
                 "FER2013, official Usage split (Training / PublicTest = val / PrivateTest = test)")
register_dataset("ferplus", _build_ferplus, _validate_ferplus,
                 "FER+ relabelling of FER2013: 7-class majority labels (ties excluded) and vote distributions")
