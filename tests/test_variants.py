"""Dataset variants (fer_study.data.variants, fer_study.data.faces) on tiny in-memory fixtures.

The base datasets are swapped for fixtures in the registry and every cache goes to ``tmp_path``
(``FER_CACHE``), so the real caches are never read or written.
"""

import json
import re

import cv2
import numpy as np
import pytest
from fixture_faces import blank, dataset_from_rows, eval_counts, noise, noise_dataset, small_face

from fer_study.book import variant_tables
from fer_study.core.constants import CLASS_NAMES
from fer_study.data import faces, registry, variants
from fer_study.data.cache import CacheError, write_h5
from fer_study.data.dataset import EXCLUDED
from fer_study.data.faces import BLANK, DATASET_FACES, KEPT, NO_FACE, FaceDetectorError
from fer_study.data.registry import DatasetSpec, load_dataset
from fer_study.data.variants import AugmentSettings, SemiBalanceSettings

HAPPY, DISGUST, NEUTRAL = (CLASS_NAMES.index(name) for name in ("happy", "disgust", "neutral"))


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Caches and deepface's home in ``tmp_path``."""
    monkeypatch.setenv("FER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface"))
    return tmp_path / "cache"


def use_as_base(monkeypatch, dataset, eval_counts_override=True):
    """Register ``dataset`` in place of the real base of the same name, for this test only."""
    monkeypatch.setitem(registry._DATASETS, dataset.name,
                        DatasetSpec(dataset.name, lambda: dataset, lambda d, p: None, "test fixture"))
    if eval_counts_override and dataset.name == "fer2013":
        monkeypatch.setattr(variants, "_FER2013_EVAL", eval_counts(dataset))


def face_rows():
    """Train: two faces and two non-faces (noise, blank); val/test: one face and one noise image each."""
    face = small_face()
    return [("train", HAPPY, face), ("train", NEUTRAL, cv2.flip(face, 1)), ("train", HAPPY, noise(1)),
            ("train", DISGUST, blank()), ("val", HAPPY, face), ("val", NEUTRAL, noise(2)),
            ("test", HAPPY, face), ("test", DISGUST, noise(3))]


def test_augmented_grows_each_train_class_by_its_factor_and_nothing_else():
    base = noise_dataset((4, 2, 3, 5, 3, 2, 4))
    settings = AugmentSettings(growth=1.5, class_growth={"disgust": 3.0})
    result = variants.build_augmented(base, settings)

    factors = [3.0 if cls == "disgust" else 1.5 for cls in CLASS_NAMES]
    expected = [round(n * factor) for n, factor in zip((4, 2, 3, 5, 3, 2, 4), factors, strict=True)]
    assert list(result.counts().loc["train"]) == expected
    assert json.loads(result.attrs["train_counts"]) == expected
    for split in ("val", "test"):
        original, kept = base.subset(split), result.subset(split)
        assert np.array_equal(original.images, kept.images) and np.array_equal(original.ids, kept.ids)
    new = result.select(np.arange(len(result)) >= len(base))
    position = {image_id: index for index, image_id in enumerate(base.ids)}
    for image_id, label, image in zip(new.ids, new.labels, new.images, strict=True):
        source_id, copy = re.fullmatch(r"(.+)_aug(\d+)", image_id).groups()
        source = position[source_id]
        assert base.splits[source] == "train" and base.labels[source] == label and int(copy) >= 1
        assert not np.array_equal(base.images[source], image)
    assert json.loads(result.attrs["settings"])["class_growth"] == {"disgust": 3.0}
    assert "version_torchvision" in result.attrs


def test_augmentation_is_seeded():
    base = noise_dataset((3, 1, 1, 1, 1, 1, 1))
    first = variants.build_augmented(base, AugmentSettings(growth=2.0, class_growth={}))
    again = variants.build_augmented(base, AugmentSettings(growth=2.0, class_growth={}))
    other = variants.build_augmented(base, AugmentSettings(growth=2.0, class_growth={}, seed=1))
    assert np.array_equal(first.images, again.images) and np.array_equal(first.ids, again.ids)
    assert not np.array_equal(first.images, other.images)


def test_copies_of_images_sharing_an_id_get_distinct_ids(caches):
    base = noise_dataset((1,) * 7)
    base.ids[1] = base.ids[0]  # FER2013's Kaggle copy names two files (of different classes) alike
    result = variants.build_augmented(base, AugmentSettings(growth=2.0, class_growth={}))
    assert list(result.ids[len(base):][:2]) == [f"{base.ids[0]}_aug1", f"{base.ids[0]}_aug2"]
    variants.validate_variant(result, caches / "x.h5")  # the source's own repeat is allowed

    result.ids[-1] = result.ids[-2]
    with pytest.raises(CacheError, match="repeats ids"):
        variants.validate_variant(result, caches / "x.h5")


@pytest.mark.parametrize("settings, message", [
    (AugmentSettings(growth=0.9), "at least 1"),
    (AugmentSettings(class_growth={"disgusted": 2.0}), "unknown classes"),
])
def test_growth_factors_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        variants.build_augmented(noise_dataset((1,) * 7), settings)


def test_augmenting_a_class_without_images_is_an_error():
    base = noise_dataset((1, 0, 1, 1, 1, 1, 1))
    targets = dict.fromkeys(CLASS_NAMES, 1) | {"disgust": 2}
    with pytest.raises(ValueError, match="no disgust image"):
        variants.augment_to_targets(base, "train", targets, AugmentSettings())


def test_registered_variant_is_cached_reloaded_and_checked(caches, monkeypatch):
    use_as_base(monkeypatch, noise_dataset((3, 1, 2, 3, 2, 1, 2)))
    built = load_dataset("fer2013_a")
    path = caches / "fer2013_a.h5"
    assert path.exists() and built.name == "fer2013_a"
    assert built.attrs["source"] == "fer2013" and "version_numpy" in built.attrs

    monkeypatch.setattr(variants, "build_augmented", lambda *args: pytest.fail("cache was not used"))
    reloaded = load_dataset("fer2013_a")
    assert np.array_equal(reloaded.images, built.images) and np.array_equal(reloaded.ids, built.ids)

    # A cache that lost training rows (a truncated write, a hand edit) no longer matches its record.
    truncated = reloaded.select(np.arange(len(reloaded)) != np.flatnonzero(reloaded.splits == "train")[0])
    write_h5(path, truncated)
    with pytest.raises(CacheError, match="wrong class counts"):
        load_dataset("fer2013_a")


def test_registered_variant_with_wrong_eval_counts_is_not_cached(caches, monkeypatch):
    use_as_base(monkeypatch, noise_dataset((2,) * 7), eval_counts_override=False)  # real FER2013 counts
    with pytest.raises(CacheError, match="val/angry"):
        load_dataset("fer2013_a")
    assert not (caches / "fer2013_a.h5").exists()


def test_cache_without_recorded_counts_is_refused(caches, monkeypatch):
    use_as_base(monkeypatch, noise_dataset((2,) * 7))
    dataset = load_dataset("fer2013_a")
    dataset.attrs.pop("train_counts")
    write_h5(caches / "fer2013_a.h5", dataset)
    with pytest.raises(CacheError, match="recorded train counts"):
        load_dataset("fer2013_a")


def test_filtered_variants_drop_train_non_faces_and_keep_evaluation_whole(caches, monkeypatch):
    base = dataset_from_rows(face_rows())
    use_as_base(monkeypatch, base)
    filtered, aligned = load_dataset("fer2013_f"), load_dataset("fer2013_fa")

    for dataset in (filtered, aligned):
        assert list(dataset.ids[dataset.splits == "train"]) == ["train0", "train1"]
        for split in ("val", "test"):
            assert np.array_equal(dataset.subset(split).images, base.subset(split).images)
        dropped = json.loads(dataset.attrs["dropped_counts"])
        assert dropped["train"][HAPPY] == 1 and dropped["train"][DISGUST] == 1
        assert dropped["val"][NEUTRAL] == 1 and dropped["test"][DISGUST] == 1 and sum(dropped["test"]) == 1
    assert np.array_equal(filtered.images[:2], base.images[:2])
    assert not np.array_equal(aligned.images[0], base.images[0])  # deepface's crop, resized to 48x48
    assert variant_tables.drop_table(filtered).loc["train", "total"] == 2

    tables = list(caches.glob("faces_fer2013_opencv_*.h5"))
    assert len(tables) == 1  # one detection pass shared by both variants
    table = variants.face_table(base)
    assert list(table.rows["reason"]) == [KEPT, KEPT, NO_FACE, BLANK, KEPT, NO_FACE, KEPT, NO_FACE]
    assert list(table.kept_in("test")) == [True, False]
    images, titles = table.dropped("train")
    assert titles == ["happy: no_face", "disgust: blank"] and np.array_equal(images[1], blank())


def test_face_pass_resumes_from_finished_chunks(caches, monkeypatch):
    base = dataset_from_rows(face_rows())
    cache_file = caches / "faces.h5"
    calls = {"count": 0}
    real_crop = faces.crop_face

    def crop_then_fail(image, settings):
        calls["count"] += 1
        if calls["count"] == 5:
            raise KeyboardInterrupt  # the build is stopped in the middle of the third chunk
        return real_crop(image, settings)

    monkeypatch.setattr(faces, "crop_face", crop_then_fail)
    with pytest.raises(KeyboardInterrupt):
        faces.detect_dataset_faces(base, DATASET_FACES, cache_file, chunk_size=2)
    assert not cache_file.exists() and len(list(cache_file.parent.glob("faces.h5.parts/*.npz"))) == 2

    calls["count"] = 100  # no more failures; count what the resumed run still detects
    table = faces.detect_dataset_faces(base, DATASET_FACES, cache_file, chunk_size=2)
    assert calls["count"] == 100 + len(base) - 4
    assert cache_file.exists() and not (caches / "faces.h5.parts").exists()
    assert list(table.rows["reason"][:4]) == [KEPT, KEPT, NO_FACE, BLANK]


def test_face_table_of_another_dataset_or_settings_is_refused(caches):
    base = dataset_from_rows(face_rows()[:2])
    faces.detect_dataset_faces(base, DATASET_FACES, caches / "faces.h5")
    with pytest.raises(CacheError, match="does not match"):
        faces.read_face_table(caches / "faces.h5", dataset_from_rows(face_rows()[:3]), DATASET_FACES)
    with pytest.raises(CacheError, match="made with"):
        faces.read_face_table(caches / "faces.h5", base, faces.FaceSettings(upscale=2))
    (caches / "broken.h5").write_bytes(b"not hdf5")
    with pytest.raises(CacheError, match="unreadable"):
        faces.read_face_table(caches / "broken.h5", base, DATASET_FACES)


def test_detector_that_needs_a_missing_package_fails_before_any_work(caches):
    # dlib is not a dependency of the project (mediapipe is: its wheel holds the recognizer's BlazeFace models).
    with pytest.raises(FaceDetectorError, match="dlib.*opencv"):
        faces.check_detector("dlib")
    with pytest.raises(FaceDetectorError):
        faces.detect_dataset_faces(dataset_from_rows(face_rows()), faces.FaceSettings(detector="dlib"))


def test_crop_face_outcomes():
    assert faces.crop_face(small_face(), DATASET_FACES).reason == KEPT
    assert faces.crop_face(blank(0), DATASET_FACES).reason == BLANK
    assert faces.crop_face(noise(0), DATASET_FACES).reason == NO_FACE
    kept = faces.crop_face(cv2.cvtColor(small_face(), cv2.COLOR_GRAY2BGRA), DATASET_FACES)
    assert kept.reason == KEPT and kept.face.shape == (48, 48) and kept.face.dtype == np.uint8
    with pytest.raises(ValueError, match="8-bit"):
        faces.crop_face(small_face().astype(np.uint16) * 256, DATASET_FACES)


def test_semi_balanced_ferplus_fills_towards_a_fraction_of_the_largest_class(tmp_path):
    base = noise_dataset((6, 1, 2, 10, 4, 5, 3), name="ferplus", soft=True, excluded_train=2)
    result = variants.build_semi_balanced(base, SemiBalanceSettings(fraction=0.5, max_growth=3.0))
    # Largest class 10: every class moves towards 5, but grows at most x3 (disgust 1 -> 3).
    assert list(result.counts().loc["train"]) == [6, 3, 5, 10, 5, 5, 5]
    assert (result.labels[result.splits == "train"] == EXCLUDED).sum() == 2
    new = np.arange(len(result)) >= len(base)
    assert np.array_equal(result.soft_labels[new].argmax(axis=1), result.labels[new])
    assert eval_counts(result) == eval_counts(base)

    generated = tmp_path / "generated" / "disgust"
    generated.mkdir(parents=True)
    cv2.imwrite(str(generated / "a.png"), small_face())
    with_generated = variants.build_semi_balanced(
        base, SemiBalanceSettings(fraction=0.5, max_growth=3.0, generated_dir=str(tmp_path / "generated")))
    assert list(with_generated.counts().loc["train"]) == [6, 3, 5, 10, 5, 5, 5]
    assert "gen_disgust_a.png" in set(with_generated.ids)
    assert json.loads(with_generated.attrs["generated_counts"])["disgust"] == 1
    assert json.loads(with_generated.attrs["added_counts"])["disgust"] == 1


def test_in_memory_sample_builds_nothing_on_disk(caches, monkeypatch):
    use_as_base(monkeypatch, noise_dataset((5,) * 7, eval_per_class=2))
    sample = variants.get_variant("fer2013_a", variants.base_dataset("fer2013", limit=6))
    assert sample.name == "fer2013_a_from_fer2013_sample6"
    assert (sample.splits == "val").sum() == 6 and (sample.splits == "test").sum() == 6
    assert not (caches / "fer2013_a.h5").exists()
    other = variants.get_variant("fer2013_a", overrides={"growth": 2.0, "class_growth": {}})
    assert other.counts().loc["train"].tolist() == [10] * 7


def test_counts_and_change_tables_report_what_each_variant_added():
    base = noise_dataset((2,) * 7)
    augmented = variants.build_augmented(base, AugmentSettings(growth=1.5, class_growth={"disgust": 2.0}))
    counts = variant_tables.counts_table({"fer2013": base, "fer2013_a": augmented})
    assert counts.loc[("fer2013", "train"), "change"] == 0
    assert counts.loc[("fer2013_a", "train"), "change"] == len(augmented) - len(base)
    assert counts.loc[("fer2013_a", "val"), "change"] == 0
    change = variant_tables.change_table({"fer2013": base, "fer2013_a": augmented})
    assert change.loc[("fer2013_a", "train"), ["angry", "disgust"]].tolist() == [1, 2]
    images, titles = variant_tables.augmented_examples(augmented, count=3)
    assert images.shape == (6, 48, 48) and titles[1] == "aug1"


def test_face_table_round_trips_through_its_file(caches):
    base = dataset_from_rows(face_rows()[:3])
    table = faces.detect_dataset_faces(base, DATASET_FACES, caches / "faces.h5")
    again = faces.read_face_table(caches / "faces.h5", base, DATASET_FACES)
    assert again.rows.equals(table.rows) and np.array_equal(again.faces, table.faces)
    assert again.attrs["source"] == "fer2013" and "version_deepface" in again.attrs


def test_generated_balancing_fills_every_training_class_up_to_the_largest(caches, monkeypatch, tmp_path):
    base = noise_dataset((3, 1, 2, 4, 2, 2, 3), eval_per_class=1)
    use_as_base(monkeypatch, base)
    with pytest.raises(FileNotFoundError, match=r"generated.faces: no generated faces for fer2013_g.*"
                                                r"python -m fer_study.apps.generate"):
        load_dataset("fer2013_g")  # the default folder, under FER_CACHE, is empty
    folder = tmp_path / "faces"
    for cls, missing in zip(CLASS_NAMES, (1, 3, 2, 0, 2, 2, 1), strict=True):
        (folder / cls).mkdir(parents=True)
        for index in range(missing):
            cv2.imwrite(str(folder / cls / f"{index}.png"), noise(10 + index))
    balanced = variants.get_variant("fer2013_g", overrides={"generated_dir": str(folder)})
    assert list(balanced.counts().loc["train"]) == [4] * 7
    assert eval_counts(balanced) == eval_counts(base)
    assert json.loads(balanced.attrs["generated_counts"])["disgust"] == 3
    (folder / "disgust" / "2.png").unlink()
    with pytest.raises(ValueError, match="disgust lacks 1"):
        variants.get_variant("fer2013_g", overrides={"generated_dir": str(folder)})
