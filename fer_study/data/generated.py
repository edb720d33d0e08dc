"""Balancing a split from per-class folders of 48x48 faces (report section 6.2: generated faces fill the
smaller classes of FER2013's training split).

``balance_plan`` says what ``balance_from_folder`` will do: per class, the images, the target, how many to
add and how many the folder holds. The faces themselves come from ``fer_study.apps.generate`` (a diffusers
pipeline and the report's crop) or from anywhere else that writes ``<folder>/<class>/<name>.png``.
"""

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fer_study.core.constants import CLASS_NAMES
from fer_study.data.dataset import FERDataset, concatenate, stack_faces
from fer_study.data.images import ImageError, decode_face

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def class_folders(root: Path) -> dict[str, list[Path]]:
    """Image files per class subfolder of ``root``; unknown subfolders are an error (a typo loses data)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder not found (expected one subfolder per class: {CLASS_NAMES})")
    unknown = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in CLASS_NAMES)
    if unknown:
        raise ValueError(f"{root}: subfolders {unknown} are not classes; expected names from {CLASS_NAMES}")
    files = {cls: sorted(p for p in (root / cls).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
             for cls in CLASS_NAMES if (root / cls).is_dir()}
    if not any(files.values()):
        raise ValueError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in any class subfolder")
    return files


def _targets(counts: pd.Series, target: int | Mapping[str, int] | None) -> dict[str, int]:
    if target is None:
        return dict.fromkeys(CLASS_NAMES, int(counts.max()))
    return {cls: int(target[cls]) if isinstance(target, Mapping) else int(target) for cls in CLASS_NAMES}


def balance_plan(dataset: FERDataset, split: str, folder: Path | None = None,
                 target: int | Mapping[str, int] | None = None) -> pd.DataFrame:
    """Per class of ``split``: images, target, images to add, and (with ``folder``) the image files its
    class subfolder holds and how many more would be needed; what ``balance_from_folder`` will do."""
    counts = dataset.counts().loc[split]
    plan = pd.DataFrame({"images": counts, "target": pd.Series(_targets(counts, target))})
    plan["to_add"] = (plan["target"] - plan["images"]).clip(lower=0)
    if folder is not None:
        files = class_folders(folder)
        plan["files_in_folder"] = [len(files.get(cls, [])) for cls in CLASS_NAMES]
        plan["short"] = (plan["to_add"] - plan["files_in_folder"]).clip(lower=0)
    plan.index.name = "class"
    return plan


def balance_from_folder(dataset: FERDataset, split: str, folder: Path,
                        target: int | Mapping[str, int] | None = None,
                        require_full: bool = True) -> FERDataset:
    """``dataset`` plus faces from ``folder/<class>/`` so that each class of ``split`` reaches ``target``.

    ``target``: one count for every class, a count per class, or ``None`` for the split's largest class.
    Classes already at or above their target are left alone. Files that are not 48x48 8-bit images are
    skipped and counted (``attrs["generated_rejected"]``). With ``require_full`` a class the folder
    cannot fill is an error; otherwise it gets what there is (``attrs["generated_short"]``).
    """
    counts = dataset.counts().loc[split]
    targets = _targets(counts, target)
    needed = {cls: max(0, targets[cls] - int(counts[cls])) for cls in CLASS_NAMES}
    files = class_folders(folder)
    images, labels, ids = [], [], []
    added = dict.fromkeys(CLASS_NAMES, 0)
    rejected = dict.fromkeys(CLASS_NAMES, 0)
    first_errors = []
    for label, cls in enumerate(CLASS_NAMES):
        for file in files.get(cls, []):
            if added[cls] == needed[cls]:
                break
            try:
                images.append(decode_face(file.read_bytes(), str(file)))
            except (ImageError, OSError) as error:
                rejected[cls] += 1
                first_errors.append(str(error))
                continue
            labels.append(label)
            ids.append(f"gen_{cls}_{file.name}")
            added[cls] += 1
    short = {cls: needed[cls] - added[cls] for cls in CLASS_NAMES if added[cls] < needed[cls]}
    if short and require_full:
        raise ValueError(f"{folder}: not enough usable faces to reach the targets in {split}: "
                         + ", ".join(f"{cls} lacks {n}" for cls, n in short.items())
                         + (f" (rejected files, e.g. {first_errors[:3]})" if first_errors else ""))
    label_array = np.array(labels, np.int64)
    soft = None if dataset.soft_labels is None else np.eye(len(CLASS_NAMES), dtype=np.float32)[label_array]
    extra = FERDataset(dataset.name, stack_faces(images), label_array, np.full(len(labels), split),
                       np.array(ids, dtype=str), soft)
    result = concatenate(dataset, extra)
    expected = {cls: int(counts[cls]) + added[cls] for cls in CLASS_NAMES}
    got = result.counts().loc[split]
    wrong = {cls: int(got[cls]) for cls in CLASS_NAMES if got[cls] != expected[cls]}
    if wrong or (require_full and any(got[cls] < targets[cls] for cls in CLASS_NAMES)):
        raise RuntimeError(f"balancing {split} from {folder} gave {dict(got)}, expected {expected}")
    result.attrs.update({"generated_source": str(folder), "generated_added": json.dumps(added),
                         "generated_rejected": json.dumps(rejected), "generated_short": json.dumps(short)})
    return result
