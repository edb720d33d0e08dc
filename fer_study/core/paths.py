"""Where data, caches and runs live. The only module that reads environment variables.

- ``FER_DATA``: folder with the raw archives (``fer2013.zip`` and/or ``fer2013.csv``, and ``ferplus.zip``
  or an extracted ``ferplus/`` folder). Default: ``../shared/data`` beside the checkout when it exists,
  else ``data/raw`` inside the checkout.
- ``FER_CACHE``: folder for the prepared HDF5 caches. Default ``data/cache`` inside the checkout.
- ``FER_MODELS``: folder for local model weights (diffusers pipelines, deepface weights).
  Default ``data/models`` inside the checkout.
- ``FER_SCRATCH``: folder for smoke-tier runs and checkpoints. Default ``scratch`` inside the checkout.
- ``DEEPFACE_HOME``: deepface's own setting (it keeps weights in ``$DEEPFACE_HOME/.deepface/weights``).
  Default ``<FER_MODELS>/deepface``, so deepface never writes into the user's home folder.
"""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS_DIR = REPO_ROOT / "results" / "runs"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PARAMS_DIR = REPO_ROOT / "params"
BOOK_DIR = REPO_ROOT / "book"
EXECUTED_DIR = BOOK_DIR / "executed"
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
# The face detector's recorded outputs (fer_study.data.faces.record_detections): small result files.
FACE_DETECTIONS_DIR = REPO_ROOT / "results" / "faces"
# Smoke-tier runs only prove that code runs: they go to a git-ignored scratch folder, never results/.
# FER_SCRATCH moves it for every process started from this one (the sweep tests' worker processes).
SCRATCH_DIR = Path(os.environ.get("FER_SCRATCH") or REPO_ROOT / "scratch").expanduser().resolve()


def runs_dir_for(tier: str) -> Path:
    return SCRATCH_DIR / "runs" if tier == "smoke" else RUNS_DIR


def checkpoints_dir_for(tier: str) -> Path:
    return SCRATCH_DIR / "checkpoints" if tier == "smoke" else CHECKPOINTS_DIR


def _from_env(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """The raw-data folder (``FER_DATA``); not checked here, readers say what is missing."""
    shared = REPO_ROOT.parent / "shared" / "data"
    return _from_env("FER_DATA", shared if shared.is_dir() else REPO_ROOT / "data" / "raw")


def cache_dir() -> Path:
    return _from_env("FER_CACHE", REPO_ROOT / "data" / "cache")


def models_dir() -> Path:
    return _from_env("FER_MODELS", REPO_ROOT / "data" / "models")


def generated_faces_dir() -> Path:
    """Generated 48x48 faces, one subfolder per class (``fer2013_g``): derived data, beside the caches, in
    the ``faces/`` folder that ``python -m fer_study.apps.generate`` writes under its default ``--out``."""
    return cache_dir() / "generated" / "faces"


def deepface_home() -> Path:
    return _from_env("DEEPFACE_HOME", models_dir() / "deepface")


def shown(path: str | Path) -> str:
    """``path`` as a reader of the book should see it: relative to the checkout when inside it
    (``data/cache/fer2013.h5``), else under the setting that points outside it (``FER_DATA/fer2013.zip``),
    else its name alone, so that no machine's own folders appear in a rendered page."""
    path = Path(path).expanduser().resolve()
    for name, root in ((None, REPO_ROOT), ("FER_DATA", data_dir()), ("FER_CACHE", cache_dir()),
                       ("FER_MODELS", models_dir()), ("FER_SCRATCH", SCRATCH_DIR)):
        if path == root or root in path.parents:
            relative = path.relative_to(root).as_posix()
            return (relative if name is None else f"{name}/{relative}".rstrip("/.")) or "."
    return path.name
