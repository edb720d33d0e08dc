"""HDF5 caches (h5py): one file per dataset, written atomically, validated on every load."""

from pathlib import Path

import h5py
import numpy as np

from fer_study.core.constants import CLASS_NAMES
from fer_study.core.files import atomic_write
from fer_study.data.dataset import FERDataset


class CacheError(RuntimeError):
    """A cache file that cannot be read or does not hold what its dataset must hold."""


def write_h5(path: Path, dataset: FERDataset) -> Path:
    """Write ``dataset`` to ``path`` atomically (see ``atomic_write``)."""
    path = Path(path)
    with atomic_write(path) as tmp_name, h5py.File(tmp_name, "w") as h5:
        chunks = (min(len(dataset), 1024), *dataset.images.shape[1:]) if len(dataset) else None
        h5.create_dataset("images", data=dataset.images, compression="gzip", compression_opts=4, chunks=chunks)
        h5.create_dataset("labels", data=dataset.labels.astype(np.int64))
        h5.create_dataset("splits", data=dataset.splits.astype("S5"))
        h5.create_dataset("ids", data=dataset.ids.astype(object), dtype=h5py.string_dtype())
        if dataset.soft_labels is not None:
            h5.create_dataset("soft_labels", data=dataset.soft_labels.astype(np.float32))
        h5.attrs["name"] = dataset.name
        h5.attrs["class_names"] = list(CLASS_NAMES)
        for key, value in dataset.attrs.items():
            h5.attrs[key] = value
    return path


def read_h5(path: Path) -> FERDataset:
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            stored_classes = [str(c) for c in h5.attrs["class_names"]]
            if stored_classes != list(CLASS_NAMES):
                raise CacheError(f"{path}: class order {stored_classes} differs from {list(CLASS_NAMES)}; "
                                 "delete the file to rebuild it")
            attrs = {k: _plain(v) for k, v in h5.attrs.items() if k not in ("name", "class_names")}
            return FERDataset(
                name=str(h5.attrs["name"]),
                images=h5["images"][:],
                labels=h5["labels"][:],
                splits=h5["splits"][:].astype(str),
                ids=np.array(h5["ids"].asstr()[:], dtype=str),
                soft_labels=h5["soft_labels"][:] if "soft_labels" in h5 else None,
                attrs=attrs,
            )
    except (OSError, KeyError) as error:
        raise CacheError(f"{path}: unreadable or incomplete cache ({error}); delete it to rebuild") from error


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value
