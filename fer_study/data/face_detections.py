"""What a face detector returned for each image of a dataset pass, recorded and replayed.

A pass over a dataset (``fer_study.data.faces.detect_dataset_faces``) keeps what deepface's detector
returned for each image (``Detections``: its facial areas and eye points, before any cropping). Replaying
them instead of running the detector gives the same face table, pixel for pixel, because everything deepface
does after detection (border, alignment, crop) still runs. ``record_detections`` writes them as a small
result file under ``results/faces/``, named after the images and settings; a fresh checkout replays it and
skips the ~50 CPU ms per image that the Haar cascades cost at ``upscale=4``. These are the detector's
outputs (boxes and eye points, like a classifier's logits), not images. ``settings`` is the pass's
``fer_study.data.faces.FaceSettings`` (a dataclass; its fields name the file and are stored in it).
"""

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fer_study.core import paths
from fer_study.core.files import atomic_write
from fer_study.data.cache import CacheError
from fer_study.data.dataset import FERDataset

# One facial area as the detector returned it (deepface's FacialAreaRegion, in the bordered, upscaled
# image); -1 stands for an eye it did not find.
REGION_COLUMNS = ("x", "y", "w", "h", "left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y")
NOT_CALLED = -1  # region count of an image the detector never saw (blank frames, the "skip" detector)
DETECTION_ARRAYS = ("region_count", "regions", "confidence")


@functools.cache
def deepface_api():
    """deepface's ``DeepFace`` and ``modeling`` modules, imported once with ``DEEPFACE_HOME`` set."""
    # deepface creates its weights folder on import; point it inside the project (paths.deepface_home), and
    # create it first, so that deepface has nothing to announce in a notebook's output.
    os.environ.setdefault("DEEPFACE_HOME", str(paths.deepface_home()))
    (Path(os.environ["DEEPFACE_HOME"]) / ".deepface" / "weights").mkdir(parents=True, exist_ok=True)
    from deepface import DeepFace
    from deepface.modules import modeling

    return DeepFace, modeling


@dataclass
class Detections:
    """What the detector returned for each image of a pass, in dataset order.

    ``region_count[i]``: facial areas found in image ``i`` (``NOT_CALLED`` when the detector did not run on
    it); ``regions``: those areas one after another, as ``REGION_COLUMNS`` (int32); ``confidence``: the
    detector's score per area.
    """

    region_count: np.ndarray
    regions: np.ndarray
    confidence: np.ndarray

    def per_image(self) -> list[list | None]:
        """deepface ``FacialAreaRegion`` lists, one per image (``None`` where the detector did not run)."""
        from deepface.models.Detector import FacialAreaRegion

        def eye(x, y):
            return None if x < 0 else (int(x), int(y))

        outputs, next_region = [], 0
        for count in self.region_count:
            if count == NOT_CALLED:
                outputs.append(None)
                continue
            rows = self.regions[next_region:next_region + count]
            scores = self.confidence[next_region:next_region + count]
            outputs.append([FacialAreaRegion(x=int(x), y=int(y), w=int(w), h=int(h), left_eye=eye(lx, ly),
                                             right_eye=eye(rx, ry), confidence=float(score))
                            for (x, y, w, h, lx, ly, rx, ry), score in zip(rows, scores, strict=True)])
            next_region += count
        return outputs

    def select(self, images: np.ndarray) -> "Detections":
        """The detections of the images at positions ``images`` (in that order)."""
        counts = np.maximum(self.region_count, 0)
        starts = np.concatenate([[0], np.cumsum(counts)])[images]
        regions = np.concatenate([np.arange(start, start + counts[image])
                                  for start, image in zip(starts, images, strict=True)] or [np.arange(0)])
        return Detections(self.region_count[images], self.regions[regions], self.confidence[regions])

    @staticmethod
    def from_outputs(outputs: list[list | None]) -> "Detections":
        regions = [area for areas in outputs if areas for area in areas]

        def eye(point):
            return (-1, -1) if point is None else (int(point[0]), int(point[1]))

        return Detections(
            np.array([NOT_CALLED if areas is None else len(areas) for areas in outputs], np.int32),
            np.array([(area.x, area.y, area.w, area.h, *eye(area.left_eye), *eye(area.right_eye))
                      for area in regions], np.int32).reshape(-1, len(REGION_COLUMNS)),
            np.array([area.confidence or 0.0 for area in regions], np.float32))


class DetectorTape:
    """Stands in for deepface's detector while a pass runs: notes what the detector returns for each call,
    or, with ``replay``, returns those notes in order instead of running it."""

    def __init__(self, detector: str, replay: list[list] | None = None):
        self.outputs: list[list] = []
        self._replay = None if replay is None else iter(replay)
        self._client = None if detector == "skip" else deepface_api()[1].build_model(task="face_detector",
                                                                                   model_name=detector)

    def __enter__(self):
        if self._client is not None:
            run = self._client.detect_faces
            self._client.detect_faces = lambda img: self._note(run(img) if self._replay is None
                                                               else next(self._replay))
        return self

    def _note(self, areas: list) -> list:
        self.outputs.append(areas)
        return areas

    def __exit__(self, *error):
        if self._client is not None:
            del self._client.detect_faces  # the instance attribute set above; the class method returns


def _fingerprint(dataset: FERDataset) -> str:
    """sha256 of a dataset's ids, splits, labels and pixels: which images a recording belongs to."""
    digest = hashlib.sha256()
    for part in (dataset.ids, dataset.splits, dataset.labels):
        digest.update("\n".join(map(str, part)).encode())
    digest.update(np.ascontiguousarray(dataset.images).tobytes())
    return digest.hexdigest()


def settings_tag(settings) -> str:
    """A short hash of a pass's settings, for the file names of its cache and its recording."""
    return hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode()).hexdigest()[:8]


def detections_file(dataset: FERDataset, settings) -> Path:
    """Where the recorded detections of ``dataset`` under ``settings`` are committed: the file name carries
    both, so a recording is only ever found for the images and settings it was made from."""
    return paths.FACE_DETECTIONS_DIR / (f"{dataset.name}_{settings.detector}_{settings_tag(settings)}_"
                                        f"{_fingerprint(dataset)[:12]}.npz")


def record_detections(detections: Detections, provenance: dict, dataset: FERDataset,
                      settings) -> Path:
    """Write a pass's detector outputs to ``detections_file`` (compressed; about 10 bytes per image), with
    the ``provenance`` (package versions) of the pass."""
    path = detections_file(dataset, settings)
    with atomic_write(path) as tmp_name, open(tmp_name, "wb") as handle:
        np.savez_compressed(handle, **{name: getattr(detections, name) for name in DETECTION_ARRAYS},
                            fingerprint=_fingerprint(dataset), settings=json.dumps(asdict(settings)),
                            provenance=json.dumps(provenance))
    return path


def read_detections(dataset: FERDataset, settings) -> Detections | None:
    """The recorded detections of ``dataset`` under ``settings``, or ``None`` when none were recorded."""
    path = detections_file(dataset, settings)
    if not path.exists():
        return None
    try:
        with np.load(path) as stored:
            detections = Detections(*(stored[name] for name in DETECTION_ARRAYS))
            fingerprint, recorded_settings = str(stored["fingerprint"]), str(stored["settings"])
    except (OSError, KeyError, ValueError) as error:
        raise CacheError(f"{path}: unreadable recorded detections ({error}); delete it to detect again") from error
    if fingerprint != _fingerprint(dataset) or recorded_settings != json.dumps(asdict(settings)):
        raise CacheError(f"{path}: recorded for other images or settings than its name says; delete it to "
                         "detect again")
    return detections
