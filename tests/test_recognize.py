"""The recognizer on a real photo (matplotlib's grace_hopper.jpg), a generated video and bad inputs,
through the Python API, the CLI in-process and one real ``python -m fer_study predict`` subprocess; one box
per face (non-maximum suppression), the user's own boxes, batches, devices and the model card."""

import json
import math
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from fixture_runs import labels_for, write_run, wrong_on
from PIL import Image

import fer_study
from fer_study.__main__ import main
from fer_study.apps import recognize
from fer_study.apps.recognize import boxes, card, quality
from fer_study.apps.recognize.tracking import VIDEO_DETECT_EVERY
from fer_study.bench.predict import backend_table, benchmark_frame, latency_table, sample_photo_path
from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES
from fer_study.data import load_dataset
from fer_study.models import create_model
from fer_study.runs import WEIGHTS_NAME, load_model, load_run, run_title, save_weights

# Hand-annotated on grace_hopper.jpg (512x600): the centres of her eyes behind the glasses.
EYES = ((222, 196), (308, 191))
EYE_DISTANCE = math.dist(*EYES)
VIDEO_FPS = 10
# Three frames with the face, then two without: the video's expected faces per frame.
VIDEO_FACES = (1, 1, 1, 0, 0)


@pytest.fixture(scope="module")
def recognizer() -> recognize.Recognizer:
    return recognize.Recognizer()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    face = benchmark_frame()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, face.shape[1::-1])
    for has_face in VIDEO_FACES:
        writer.write(face if has_face else np.full_like(face, 127))
    writer.release()
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` gray pixels, with almost no pixel data."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + checksum
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


# file name -> what its JSON line must hold: an error containing the text, or this many faces
BAD_INPUTS = {
    "notes.txt": "not an image",
    "text.jpg": "not an image",
    "truncated.jpg": "truncated",
    "corrupt.png": "not an image",
    "empty.png": "empty file",
    "huge.png": "too large",
    "broken.mp4": "cannot open video",
    "rgba.png": 1,
    "gray16.png": 1,
    "palette.png": 1,
    "color16.png": 1,
}


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    photo = sample_photo_path()
    (folder / "notes.txt").write_text("a note, not an image\n")
    (folder / "text.jpg").write_text("text named like a photo\n")
    (folder / "truncated.jpg").write_bytes(photo.read_bytes()[: photo.stat().st_size // 2])
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (folder / "empty.png").touch()
    (folder / "huge.png").write_bytes(png_header_only(20000, 20000))
    (folder / "broken.mp4").write_text("not a video")
    with Image.open(photo) as image:
        rgba = image.convert("RGBA")
        rgba.putalpha(200)
        rgba.save(folder / "rgba.png")
        image.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    bgr = cv2.imread(str(photo))
    cv2.imwrite(str(folder / "gray16.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "color16.png"), bgr.astype(np.uint16) * 257)
    assert sorted(p.name for p in folder.iterdir()) == sorted(BAD_INPUTS)
    return folder


def cli_lines(capsys, *argv: str) -> tuple[int, list[dict]]:
    code = main(["predict", *argv])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def assert_is_grace_hoppers_face(face: dict | recognize.Face) -> None:
    face = face.to_dict() if isinstance(face, recognize.Face) else face
    x, y, w, h = face["box"]
    for eye_x, eye_y in EYES:
        assert x < eye_x < x + w and y < eye_y < y + h / 2, f"box {face['box']} misses an eye"
    assert 1.5 * EYE_DISTANCE < w < 4 * EYE_DISTANCE
    assert list(face["scores"]) == list(CLASS_NAMES)
    assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    assert face["emotion"] == max(face["scores"], key=face["scores"].get)


def iou(a, b) -> float:
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    overlap = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    return overlap / (aw * ah + bw * bh - overlap)


def test_api_finds_the_face_in_a_path_a_bgr_array_and_a_gray_array(recognizer):
    from_path = recognizer.predict(sample_photo_path())
    assert len(from_path) == 1
    assert_is_grace_hoppers_face(from_path[0])
    bgr = cv2.imread(str(sample_photo_path()))
    assert recognizer.predict(bgr) == from_path
    gray_faces = recognizer.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    # Colour detectors see a gray photo a little differently: the same face, a box a few pixels off.
    assert len(gray_faces) == 1 and iou(gray_faces[0].box, from_path[0].box) > 0.9
    (face,) = from_path
    (row,) = recognize.faces_table(from_path).to_dict("records")
    assert row == {"box": list(face.box), "emotion": face.emotion, **face.scores}


def test_no_face_is_an_empty_result_and_an_empty_table(recognizer):
    assert recognizer.predict(np.full((480, 640), 127, np.uint8)) == []
    assert recognize.faces_table([]).columns.tolist() == ["box", "emotion", *CLASS_NAMES]


def test_mtcnn_agrees_with_haar_and_both_find_the_eyes(recognizer):
    photo = recognize.read_image(sample_photo_path())
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    for detector in (recognize.MtcnnDetector(), recognize.HaarDetector(find_eyes=True)):
        (detection,) = detector.detect(photo, gray)
        assert iou(detection.box, recognizer.predict(photo)[0].box) > 0.7
        for found, annotated in zip(detection.eyes, EYES, strict=True):
            assert math.dist(found, annotated) < 0.15 * EYE_DISTANCE


def test_alignment_levels_a_tilted_face():
    gray = cv2.imread(str(sample_photo_path()), cv2.IMREAD_GRAYSCALE)
    tilt = 15
    centre = np.mean(EYES, axis=0)
    tilted = cv2.warpAffine(gray, cv2.getRotationMatrix2D(tuple(centre), -tilt, 1.0), gray.shape[::-1],
                            borderMode=cv2.BORDER_REPLICATE)
    detector = recognize.MtcnnDetector()
    (upright,) = detector.detect(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), gray)
    (rotated,) = detector.detect(cv2.cvtColor(tilted, cv2.COLOR_GRAY2BGR), tilted)

    def eye_angle(detection):
        (left_x, left_y), (right_x, right_y) = detection.eyes
        return math.degrees(math.atan2(right_y - left_y, right_x - left_x))

    assert eye_angle(rotated) - eye_angle(upright) == pytest.approx(tilt, abs=5)
    reference = recognize.face_patch(gray, upright, align=True).astype(float)
    aligned = recognize.face_patch(tilted, rotated, align=True).astype(float)
    unaligned = recognize.face_patch(tilted, rotated, align=False).astype(float)
    assert np.abs(aligned - reference).mean() < 0.7 * np.abs(unaligned - reference).mean()


def test_a_48x48_crop_reaches_the_model_unchanged():
    crop = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    (detection,) = recognize.WholeImageDetector().detect(cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR), crop)
    np.testing.assert_array_equal(recognize.face_patch(crop, detection), crop)


def test_as_bgr_accepts_gray_16_bit_float_and_bgra_arrays():
    gray16 = np.full((4, 5), 65535, np.uint16)
    np.testing.assert_array_equal(recognize.as_bgr(gray16), np.full((4, 5, 3), 255, np.uint8))
    half = np.full((4, 5, 1), 0.5)
    np.testing.assert_array_equal(recognize.as_bgr(half), np.full((4, 5, 3), 128, np.uint8))
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 2] = 200
    assert recognize.as_bgr(bgra)[0, 0].tolist() == [0, 0, 200]
    with pytest.raises(recognize.InputError):
        recognize.as_bgr(np.zeros((4, 5, 2), np.uint8))


@pytest.mark.slow
def test_cli_subprocess_on_a_photo_and_a_video_with_annotations(tmp_path, video):
    annotated = tmp_path / "annotated"
    result = subprocess.run(
        [sys.executable, "-m", "fer_study", "predict", str(sample_photo_path()), str(video),
         "--annotate", str(annotated)],
        cwd=paths.REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    photo_line, *frame_lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert photo_line["error"] is None and photo_line["path"] == str(sample_photo_path())
    (face,) = photo_line["faces"]
    assert_is_grace_hoppers_face(face)
    assert [line["frame"] for line in frame_lines] == list(range(len(VIDEO_FACES)))
    assert all(line["time"] == round(line["frame"] / VIDEO_FPS, 3) for line in frame_lines)
    assert [len(line["faces"]) for line in frame_lines] == list(VIDEO_FACES)
    # The face keeps its id across the frames it is in; still images carry no id (the contract is unchanged).
    assert {face["id"] for line in frame_lines for face in line["faces"]} == {0} and "id" not in face
    assert all(line["path"] == str(video) and line["error"] is None for line in frame_lines)

    drawn = cv2.imread(str(annotated / "grace_hopper.jpg"))
    original = cv2.imread(str(sample_photo_path()))
    assert drawn.shape == original.shape
    x, y, w, h = face["box"]
    # The box outline was drawn in colour over the photo; the inside of the face is untouched.
    assert np.abs(drawn[y, x : x + w].astype(int) - original[y, x : x + w]).mean() > 40
    capture = cv2.VideoCapture(str(annotated / "clip.mp4"))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == len(VIDEO_FACES)
    capture.release()


def test_bad_inputs_each_get_a_line_and_the_run_continues(capsys, mixed_folder):
    code, lines = cli_lines(capsys, str(mixed_folder), str(mixed_folder / "missing.jpg"))
    assert code == 1
    by_name = {Path(line["path"]).name: line for line in lines}
    assert set(by_name) == {*BAD_INPUTS, "missing.jpg"}
    assert by_name["missing.jpg"]["error"] == "no such file or folder"
    for name, expected in BAD_INPUTS.items():
        line = by_name[name]
        if isinstance(expected, str):
            assert line["faces"] is None and expected in line["error"], (name, line)
        else:
            assert line["error"] is None and len(line["faces"]) == expected, (name, line)
            assert_is_grace_hoppers_face(line["faces"][0])


def test_huge_image_is_refused_from_its_header_under_our_limit(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(11000, 10000))  # above our limit, below Pillow's own guard
    with pytest.raises(recognize.InputError, match="11000x10000"):
        recognize.read_image(path)


def test_exit_code_is_zero_when_every_input_is_read_even_without_faces_with_aligned_mtcnn(capsys, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320), 127, np.uint8))
    code, lines = cli_lines(capsys, "--detector", "mtcnn", "--align", str(blank), str(sample_photo_path()))
    assert code == 0
    assert lines[0] == {"path": str(blank), "faces": [], "error": None}
    (face,) = lines[1]["faces"]
    assert_is_grace_hoppers_face(face)


def test_crops_classify_the_whole_image_without_detection(capsys, tmp_path):
    crop_path, blank_path = tmp_path / "face.png", tmp_path / "blank.png"
    photo = cv2.imread(str(sample_photo_path()))
    cv2.imwrite(str(crop_path), photo[101:333, 152:384])
    cv2.imwrite(str(blank_path), np.full((60, 50), 127, np.uint8))
    code, lines = cli_lines(capsys, "--crops", str(crop_path), str(blank_path))
    assert code == 0
    assert [face["box"] for line in lines for face in line["faces"]] == [[0, 0, 232, 232], [0, 0, 50, 60]]
    assert_is_grace_hoppers_face({**lines[0]["faces"][0], "box": [152, 101, 232, 232]})


def test_video_frame_step_and_an_unopenable_camera(capsys, video):
    code, lines = cli_lines(capsys, str(video), "--frame-step", "2", "--webcam", "99")
    assert code == 1
    assert [line.get("frame") for line in lines] == [0, 2, 4, None]
    assert lines[-1] == {"path": "webcam:99", "faces": None, "error": "cannot open video"}


def make_run(folder: Path, seed: int, with_weights: bool = True) -> Path:
    torch.manual_seed(seed)
    model = create_model("vgg_cpu", dropout=0.1)
    folder.mkdir(parents=True)
    config = {"model": "vgg_cpu", "model_kwargs": {"dropout": 0.1}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    if with_weights:  # a bare state dict, as weights were written before they described their model
        torch.save(model.state_dict(), folder / WEIGHTS_NAME)
    return folder


def test_runs_load_their_weights_and_several_runs_average_softmax(tmp_path, capsys):
    first, second = make_run(tmp_path / "a", seed=1), make_run(tmp_path / "b", seed=2)
    restored = load_model(first)
    for key, value in torch.load(first / WEIGHTS_NAME, weights_only=True).items():
        assert torch.equal(restored.state_dict()[key], value)
    patches = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    singles = [recognize.load_classifier(runs=[run]).probabilities(patches) for run in (first, second)]
    averaged = recognize.load_classifier(runs=[first, second]).probabilities(patches)
    np.testing.assert_allclose(averaged, np.mean(singles, axis=0), rtol=1e-6)
    assert not np.allclose(singles[0], singles[1])

    code, lines = cli_lines(capsys, "--run", str(first), "--run", str(second), str(sample_photo_path()))
    assert code == 0 and len(lines[0]["faces"]) == 1
    with pytest.raises(FileNotFoundError, match="has no weights"):
        load_model(make_run(tmp_path / "c", seed=3, with_weights=False))
    with pytest.raises(ValueError, match="no pretrained weights"):
        recognize.load_classifier("vgg_cpu")


def test_best_run_and_ensemble_are_chosen_on_validation_among_runs_with_weights(tmp_path, monkeypatch):
    labels = labels_for(20)
    # On validation C alone is best (18/20) and the mean of A, B and C is perfect (each image has at most
    # one wrong member, outvoted by the other two); D is perfect too but has no weights.
    for name, wrong, confidence in (("A", [0, 1, 2], 3.0), ("B", [3, 4, 5], 4.0), ("C", [10, 11], 5.0)):
        write_run(tmp_path, name, wrong_on(labels, wrong), labels, val_confidence=confidence)
        save_weights(tmp_path / name / WEIGHTS_NAME, "vgg_cpu", {}, create_model("vgg_cpu").state_dict())
    write_run(tmp_path, "D", labels, labels)
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path)

    assert recognize.best_runs_with_weights() == {recognize.BEST_RUN_ROW: ["C"],
                                                  recognize.BEST_ENSEMBLE_ROW: ["A", "B", "C"]}
    assert recognize.ensemble_members("best") == ["A", "B", "C"]
    assert recognize.ensemble_members("all runs (fer2013)") == ["A", "B", "C"]
    assert len(recognize.load_classifier(ensemble_name="best").models) == 3
    with pytest.raises(ValueError, match="not among the ensembles with weights"):
        recognize.ensemble_members("RMN-style")


def test_latency_table_times_the_default_and_the_fer_reference():
    table = latency_table(frames=2).set_index("pipeline")
    assert list(table.index) == ["default", f"default, video (detection every {VIDEO_DETECT_EVERY} frames)",
                                 "default, onnxruntime", recognize.BEST_RUN_ROW, recognize.BEST_ENSEMBLE_ROW,
                                 "fer package (reference)"]
    assert (table["frames_per_s_from_cpu_time"] > 0).all()
    for pipeline in ("default", "default, onnxruntime", "fer package (reference)"):
        row = table.loc[pipeline]
        assert row["faces_per_frame"] == 1
        assert row["detection_ms"] > 0 and row["classification_ms_per_face"] > 0 and row["frames_per_s"] > 0


# A FER2013 validation face that today's Haar search reports twice when it is 160 pixels across, centred on
# a gray canvas three times as wide: two overlapping boxes of different scores, as in group photos.
FACE_FOUND_TWICE = "PublicTest_75514810"


@pytest.mark.realdata
def test_one_box_per_face_where_the_detector_reports_the_face_twice(real_data_dir):
    fer2013 = load_dataset("fer2013")
    face = cv2.resize(fer2013.images[fer2013.ids == FACE_FOUND_TWICE][0], (160, 160), interpolation=cv2.INTER_LINEAR)
    canvas, face_box = cv2.copyMakeBorder(face, *(160,) * 4, cv2.BORDER_CONSTANT, value=127), (160, 160, 160, 160)
    haar = recognize.HaarDetector()
    overlapping, scores = haar.detect_overlapping(canvas)
    assert len(overlapping) == 2 and all(iou(found.box, face_box) > 0.3 for found in overlapping)
    (kept,) = haar.detect(None, canvas)
    assert kept == overlapping[int(np.argmax(scores))]
    (face,) = recognize.Recognizer(detector="haar").predict(canvas)
    assert face.box == kept.box


def test_overlapping_boxes_keep_the_best_scored_and_distinct_faces_stay():
    faces = [(100, 100, 80, 80), (110, 105, 70, 70), (300, 100, 80, 80), (0, 0, 10, 10)]
    found = [recognize.Detection(box) for box in faces]
    kept = boxes.suppress_overlaps(found, [1.0, 2.0, 0.5, 0.1])
    assert [detection.box for detection in kept] == faces[1:]
    assert boxes.suppress_overlaps(found[:1], [0.3]) == found[:1]


# The user's boxes on grace_hopper.jpg (512x600): her face, and boxes that cannot be faces of this image.
FACE_BOX = [152, 101, 232, 232]
OUTSIDE_BOX = [600, 10, 50, 50]
ZERO_SIZE_BOX = [10, 10, 0, 40]


def test_given_boxes_valid_outside_zero_size_and_mixed(recognizer):
    photo = recognize.read_image(sample_photo_path())
    (valid,) = recognizer.predict(photo, boxes=[FACE_BOX])
    assert valid.error is None and list(valid.box) == FACE_BOX
    assert_is_grace_hoppers_face(valid)
    (outside,) = recognizer.predict(photo, boxes=[OUTSIDE_BOX])
    assert (outside.emotion, outside.scores) == (None, None) and "outside the 512x600 image" in outside.error
    (zero,) = recognizer.predict(photo, boxes=[ZERO_SIZE_BOX])
    assert zero.scores is None and "zero" in zero.error
    mixed = recognizer.predict(photo, boxes=[OUTSIDE_BOX, FACE_BOX, ZERO_SIZE_BOX, [1, 2, 3]])
    assert [list(face.box) for face in mixed[:3]] == [OUTSIDE_BOX, FACE_BOX, ZERO_SIZE_BOX]
    assert [face.error is None for face in mixed] == [False, True, False, False]
    assert mixed[1] == valid
    assert "four finite numbers" in mixed[3].error
    assert recognizer.predict(photo, boxes=[]) == []


def test_boxes_file_skips_detection_and_names_each_bad_box(capsys, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320), 127, np.uint8))
    boxes = tmp_path / "boxes.jsonl"
    boxes.write_text(json.dumps({"path": str(sample_photo_path()), "boxes": [FACE_BOX, OUTSIDE_BOX]}) + "\n"
                     + json.dumps({"path": str(blank), "boxes": [[0, 0, 320, 240]]}) + "\n")
    code, lines = cli_lines(capsys, "--boxes", str(boxes))
    assert code == 1  # one box failed
    photo_faces, blank_faces = (line["faces"] for line in lines)
    assert_is_grace_hoppers_face(photo_faces[0])
    assert photo_faces[1] == {"box": OUTSIDE_BOX, "emotion": None, "scores": None,
                              "error": "outside the 512x600 image"}
    (whole,) = blank_faces  # no face would be detected on a blank image: the given box is classified
    assert whole["box"] == [0, 0, 320, 240] and whole["emotion"] in CLASS_NAMES and "error" not in whole

    boxes.write_text('{"path": "a.jpg"}\n')
    assert main(["predict", "--boxes", str(boxes)]) == 2
    assert f"{boxes}, line 1" in capsys.readouterr().err


def test_folders_are_classified_in_batches_with_unchanged_lines_and_a_progress_bar(capsys, mixed_folder):
    code_one, one_at_a_time = cli_lines(capsys, str(mixed_folder), "--batch-size", "1")
    code, batched = cli_lines(capsys, str(mixed_folder), "--batch-size", "4")
    assert code == code_one == 1 and batched == one_at_a_time
    main(["predict", str(mixed_folder), "--batch-size", "3"])
    captured = capsys.readouterr()
    assert f"{len(BAD_INPUTS)}/{len(BAD_INPUTS)}" in captured.err
    assert [json.loads(line) for line in captured.out.splitlines()] == one_at_a_time


def test_predict_batch_equals_predict_one_by_one(recognizer):
    photo = recognize.read_image(sample_photo_path())
    blank = np.full((240, 320), 127, np.uint8)
    assert recognizer.predict_batch([photo, blank, sample_photo_path()], [None, None, [FACE_BOX]]) == [
        recognizer.predict(photo), [], recognizer.predict(photo, boxes=[FACE_BOX])]


def test_cuda_device_runs_where_there_is_a_gpu_and_is_a_clear_error_elsewhere(capsys):
    code = main(["predict", "--device", "cuda", str(sample_photo_path())])
    captured = capsys.readouterr()
    if torch.cuda.is_available():
        assert code == 0
        assert_is_grace_hoppers_face(json.loads(captured.out)["faces"][0])
    else:
        assert code == 2 and "no CUDA GPU" in captured.err and captured.out == ""


def test_python_api_on_a_path_and_an_array_returns_dataclasses():
    recognizer = fer_study.Recognizer()
    faces = recognizer.predict(str(sample_photo_path()))
    assert isinstance(faces[0], fer_study.Face) and faces == recognizer.predict(cv2.imread(str(sample_photo_path())))
    with pytest.raises(AttributeError, match="no attribute 'Recogniser'"):
        fer_study.Recogniser  # noqa: B018


def test_model_card_from_the_default_runs_files(capsys, monkeypatch):
    monkeypatch.setattr(card, "ABOUT_FAILURE_FACES", 30)
    assert main(["predict", "--about"]) == 0
    text = capsys.readouterr().out
    run = recognize.default_run() or card.FALLBACK_RUN
    metrics = json.loads((paths.RUNS_DIR / run / "metrics.json").read_text())
    assert text.startswith(f"# Model card: {run_title(run)} (run `{run}`)")
    assert "research use" in text and f"{metrics['test_accuracy']:.1%}" in text
    assert all(name in text for name in CLASS_NAMES)
    assert ("Unmeasured: no output" in text) == (not list(card.BENCH_DIR.glob(card.BENCH_PATTERN)))


def test_model_card_quotes_the_tta_accuracy_only_of_a_run_that_evaluated_tta(tmp_path):
    labels = labels_for(10)
    write_run(tmp_path, "plain", labels, wrong_on(labels, [0]))  # training writes test_accuracy_tta: null
    write_run(tmp_path, "flipped", labels, wrong_on(labels, [0]), tta={"val": labels, "test": labels})
    plain, flipped = (load_run(name, tmp_path).metrics for name in ("plain", "flipped"))
    assert "test_accuracy_tta" in plain and plain.test_accuracy_tta is None
    assert "Overall accuracy 90.0%" in card.accuracy_text(plain) and "test-time" not in card.accuracy_text(plain)
    assert "With test-time augmentation (flip_rotate), which the recognizer does not use: 100.0%." in (
        card.accuracy_text(flipped))
    assert card.per_class_table(plain)["faces"].sum() == 10


@pytest.mark.realdata
def test_failure_modes_are_measured_on_privatetest_faces(real_data_dir):
    test = load_dataset("fer2013").subset("test")
    faces, labels = test.images[:40], test.labels[:40]
    classifier = recognize.load_classifier()
    table = quality.failure_modes(classifier, faces, labels, batch_size=16)
    assert len(table) == 1 + len(quality.SMALL_FACE_SIZES) + len(quality.LOW_LIGHT_FACTORS)
    assert (table["faces"] == 40).all()
    as_is = (classifier.probabilities(faces).argmax(1) == labels).mean()
    assert table["accuracy"].iloc[0] == pytest.approx(as_is)
    assert table["accuracy"].iloc[-1] != pytest.approx(as_is)  # darkened faces are not the same input


def test_small_faces_and_low_light_change_the_patches_as_described():
    face = np.random.default_rng(0).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    small = quality.small_face(face, 12)
    assert small.shape == (1, 48, 48)
    assert len(np.unique(small)) <= 12 * 12  # no more detail than 12x12 pixels hold
    dark = quality.low_light(face, 0.1)
    assert dark.max() <= 26 and len(np.unique(dark)) <= 27


def test_backend_table_puts_pytorch_and_onnxruntime_side_by_side():
    table = backend_table(repeats=2, batch_sizes=(1, 4))
    assert list(table.columns) == ["batch size", "pytorch faces/s", "onnxruntime faces/s"]
    assert (table[["pytorch faces/s", "onnxruntime faces/s"]] > 0).all().all()
