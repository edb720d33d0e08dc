"""``python -m fer_study.bench detect --out results/bench/detectors_cpu.csv``: what each face detector
finds and what it costs, the measurements the recognizer's default detector is chosen by.

Per candidate detector (``CANDIDATES``), on FER2013 PublicTest faces (validation, where choices are made)
pasted into 640x480 face-free scenes (``fer_study.apps.recognize.quality``):

- recall on single faces at each size in ``FACE_SIZES`` (pixels across);
- on group scenes of 2 to 8 faces of 48 to 200 pixels: recall, the share of scenes whose face count it
  gets right, and false and duplicate boxes per scene;
- detection CPU ms on the 640x480 benchmark frame (``fer_study.bench.predict.benchmark_frame``), and the
  whole pipeline's frames/s (detector and the default classifier) from the CPU time it used, on photos
  (detection on every frame) and on video (faces tracked, detection on every ``VIDEO_DETECT_EVERY``-th
  frame): its own work summed over its threads, which an idle machine at least matches.

``choose_detector`` applies the rule to such a table: the highest group-scene recall among the detectors
whose video pipeline keeps ``REAL_TIME_FPS`` (real time matters for streams; a photo waits for its
detector either way). The table is printed and, with ``--out``, written as CSV under
its provenance line (``#``), which the book's recognition chapter and the default's test read.
"""

import argparse
import os
import time
from pathlib import Path

import cv2
import pandas as pd

from fer_study.apps import recognize
from fer_study.apps.recognize import quality
from fer_study.apps.recognize.cli import positive_int
from fer_study.apps.recognize.detectors import DETECTORS, REAL_TIME_FPS
from fer_study.apps.recognize.tracking import VIDEO_DETECT_EVERY
from fer_study.bench import out_folder_missing, provenance
from fer_study.bench.predict import benchmark_frame, cpu_frames_per_s, time_pipeline, video_cpu_ms
from fer_study.core import paths
from fer_study.core.files import read_commented_csv, write_commented_csv
from fer_study.data import load_dataset

CANDIDATES = tuple(name for name in DETECTORS if name != "none")
FACE_SIZES = (48, 64, 96, 128, 200)
COMMITTED = paths.REPO_ROOT / "results" / "bench" / "detectors_cpu.csv"
RULE_RECALL = "group recall"
PHOTO_FPS = "photo frames/s (CPU time)"
VIDEO_FPS = f"video frames/s, detection every {VIDEO_DETECT_EVERY} (CPU time)"


def detector_table(faces, scenes: int = 100, frames: int = 50, classifier: str | None = None,
                   detectors: tuple[str, ...] = CANDIDATES, face_sizes: tuple[int, ...] = FACE_SIZES) -> pd.DataFrame:
    """One row per detector: the measurements of the module docstring on these 48x48 ``faces``."""
    classifier = recognize.load_classifier(classifier)
    frame = benchmark_frame()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    singles = {size: quality.single_face_scenes(faces, size) for size in face_sizes}
    groups = quality.group_scenes(faces, scenes)
    rows = []
    for name in detectors:
        recognizer = recognize.Recognizer(classifier, detector=name)
        row = {"detector": name}
        for size, (single_scenes, boxes) in singles.items():
            row[f"recall, {size} px"] = quality.detection_scores(recognizer.detector, single_scenes, boxes)["recall"]
        group = quality.detection_scores(recognizer.detector, *groups)
        row |= {RULE_RECALL: group["recall"], **{f"group {key}": value for key, value in group.items()
                                                 if key != "recall"}}
        start = time.process_time()
        for _ in range(frames):
            recognizer.detector.detect(frame, gray)
        row["detection CPU ms"] = 1000 * (time.process_time() - start) / frames
        row[PHOTO_FPS] = cpu_frames_per_s(time_pipeline(recognizer, frame, frames)["cpu_ms_per_frame"])
        row[VIDEO_FPS] = cpu_frames_per_s(video_cpu_ms(recognizer, frame, frames))
        rows.append(row)
    return pd.DataFrame(rows)


def choose_detector(table: pd.DataFrame) -> str | None:
    """The detector with the highest group-scene recall among those whose video pipeline keeps
    ``REAL_TIME_FPS`` (from CPU time); ``None`` when none does."""
    real_time = table[table[VIDEO_FPS] >= REAL_TIME_FPS]
    return None if real_time.empty else str(real_time.loc[real_time[RULE_RECALL].idxmax(), "detector"])


def read_table(path: Path = COMMITTED) -> tuple[str, pd.DataFrame]:
    """A written table's provenance line and rows."""
    comments, table = read_commented_csv(path)
    return comments[0], table


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.bench detect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces-per-class", type=positive_int, default=30,
                        help="PublicTest faces per class (each placed once per face size)")
    parser.add_argument("--scenes", type=positive_int, default=100, help="group scenes")
    parser.add_argument("--frames", type=positive_int, default=50, help="timed frames per detector")
    parser.add_argument("--out", type=Path, help="also write the table as CSV, under its provenance line")
    args = parser.parse_args(argv)
    if out_folder_missing(args.out):
        return 2
    faces = load_dataset("fer2013").sample(per_class=args.faces_per_class, split="val").images
    print(f"{len(faces)} PublicTest faces, {args.scenes} group scenes, {args.frames} timed frames per detector; "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the start")
    table = detector_table(faces, args.scenes, args.frames)
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table.round(3).to_string(index=False))
    print(f"Rule: highest {RULE_RECALL} with {VIDEO_FPS} >= {REAL_TIME_FPS}: {choose_detector(table)}")
    if args.out is not None:
        write_commented_csv(args.out, [provenance(["detect", *argv])], table.round(4))
    return 0
