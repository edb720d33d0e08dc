"""The dataset-wide face pass (fer_study.data.faces.detect_dataset_faces) gives every image the same outcome
whether it runs in this process or spread over worker processes, in any chunk size."""

import cv2
import numpy as np
import pytest
from fixture_faces import blank, dataset_from_rows, noise, photo, small_face

from fer_study.core import paths
from fer_study.data import face_detections, faces
from fer_study.data.cache import CacheError
from fer_study.data.faces import DATASET_FACES, FaceSettings
from fer_study.data.registry import load_dataset


@pytest.fixture(autouse=True)
def deepface_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface"))


def varied_faces() -> list[np.ndarray]:
    """Real faces at several crops, shifts, flips and tilts (so alignment and eye ties vary), plus
    non-faces: 24 images."""
    face, gray = small_face(), cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY)
    images = [face, cv2.flip(face, 1), noise(1), blank(), noise(2)]
    for top, left, size in ((40, 90, 350), (70, 120, 300), (50, 100, 330), (30, 60, 420)):
        crop = cv2.resize(gray[top:top + size, left:left + size], (48, 48), interpolation=cv2.INTER_AREA)
        images += [crop, cv2.flip(crop, 1)]
    for angle in (-20, -10, 5, 12, 25):
        turn = cv2.getRotationMatrix2D((24, 24), angle, 1.0)
        images.append(cv2.warpAffine(face, turn, (48, 48), borderMode=cv2.BORDER_REFLECT))
    images += [np.clip(face.astype(int) + 40, 0, 255).astype(np.uint8), cv2.GaussianBlur(face, (5, 5), 0),
               noise(3), face[::-1].copy()]
    return images


def fixture_dataset():
    images = varied_faces()
    splits = ["train"] * (len(images) - 6) + ["val"] * 3 + ["test"] * 3
    return dataset_from_rows([(split, index % 7, image) for index, (split, image)
                              in enumerate(zip(splits, images, strict=True))])


def assert_same_tables(first: faces.FaceTable, second: faces.FaceTable) -> None:
    assert first.rows.equals(second.rows)
    assert np.array_equal(first.faces, second.faces)


@pytest.mark.slow
def test_worker_processes_and_chunks_give_every_image_the_same_outcome(tmp_path):
    dataset = fixture_dataset()
    one_by_one = [faces.crop_face(image, DATASET_FACES) for image in dataset.images]
    assert {crop.reason for crop in one_by_one} >= {faces.KEPT, faces.NO_FACE, faces.BLANK}
    assert sum(crop.eyes_found for crop in one_by_one) >= 3  # aligned crops are part of the comparison

    here = faces.detect_dataset_faces(dataset, chunk_size=100, workers=1, progress=False)
    spread = faces.detect_dataset_faces(dataset, chunk_size=5, workers=2, progress=False)
    cached = faces.detect_dataset_faces(dataset, cache_file=tmp_path / "faces.h5", chunk_size=7, workers=2,
                                        progress=False)
    assert list(here.rows["reason"]) == [crop.reason for crop in one_by_one]
    assert [tuple(box) for box in here.rows[["x", "y", "w", "h"]].to_numpy()] == [c.box for c in one_by_one]
    for index, crop in enumerate(one_by_one):
        assert np.array_equal(here.faces[index], dataset.images[index] if crop.face is None else crop.face)
    assert_same_tables(here, spread)
    assert_same_tables(here, cached)
    assert_same_tables(here, faces.read_face_table(tmp_path / "faces.h5", dataset, DATASET_FACES))


def test_pass_settings_are_checked_before_it_starts():
    dataset = fixture_dataset()
    with pytest.raises(ValueError, match="chunk_size"):
        faces.detect_dataset_faces(dataset, chunk_size=0, progress=False)
    with pytest.raises(faces.FaceDetectorError, match="retinaface"):
        faces.detect_dataset_faces(dataset, FaceSettings(detector="retinaface"), progress=False)


def test_replayed_detections_give_the_same_table_without_running_the_detector(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "FACE_DETECTIONS_DIR", tmp_path / "faces")
    dataset = fixture_dataset()
    detected = faces.detect_dataset_faces(dataset, workers=1, progress=False)
    assert face_detections.read_detections(dataset, DATASET_FACES) is None  # nothing recorded yet
    path = face_detections.record_detections(detected.detections, {}, dataset, DATASET_FACES)
    assert path.parent == tmp_path / "faces" and path.stat().st_size < 2000
    recorded = face_detections.read_detections(dataset, DATASET_FACES)

    spread = faces.detect_dataset_faces(dataset, chunk_size=5, workers=2, progress=False, recorded=recorded)
    from deepface.models.face_detection.OpenCv import OpenCvClient  # after DEEPFACE_HOME is set (fixture)

    monkeypatch.setattr(OpenCvClient, "detect_faces", lambda *args: pytest.fail("the detector ran"))
    replayed = faces.detect_dataset_faces(dataset, chunk_size=7, workers=1, progress=False, recorded=recorded)
    assert_same_tables(detected, replayed)
    assert_same_tables(detected, spread)

    other = fixture_dataset()
    other.images[0] = 255 - other.images[0]
    assert face_detections.read_detections(other, DATASET_FACES) is None  # the file is named after its images
    assert face_detections.read_detections(dataset, FaceSettings(upscale=2)) is None
    with pytest.raises(ValueError, match="cover 3 images"):
        faces.detect_dataset_faces(dataset, progress=False, recorded=recorded.select(np.arange(3)))
    path.write_bytes(b"not a recording")
    with pytest.raises(CacheError, match=f"{path.name}: unreadable"):
        face_detections.read_detections(dataset, DATASET_FACES)


@pytest.mark.realdata
@pytest.mark.slow
def test_committed_detections_replay_what_the_detector_finds_on_real_faces(real_data_dir):
    dataset = load_dataset("fer2013")
    recorded = face_detections.read_detections(dataset, DATASET_FACES)
    assert recorded is not None, f"no recording at {face_detections.detections_file(dataset, DATASET_FACES)}"
    rows = np.sort(np.random.default_rng(0).choice(len(dataset), 96, replace=False))
    detected = faces._detect_chunk(dataset.images[rows], DATASET_FACES)
    replayed = faces._detect_chunk(dataset.images[rows], DATASET_FACES, recorded.select(rows))
    for key in ("reason", "faces_found", "eyes_found", "box", "faces", "region_count", "regions"):
        assert np.array_equal(detected[key], replayed[key]), key
