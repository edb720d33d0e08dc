import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from fer_study.core.constants import CLASS_NAMES, FER2013_COUNTS, SPLITS
from fer_study.data import EXCLUDED, FERDataset, load_dataset
from fer_study.data.balance import KAGGLE_FOLDER_GROUPS, balance_table
from fer_study.data.cache import CacheError, read_h5, write_h5
from fer_study.data.fer2013 import read_fer2013_csv, read_fer2013_zip
from fer_study.data.ferplus import majority_labels, read_ferplus, soft_labels
from fer_study.data.images import ImageError
from fer_study.data.tensors import AugmentConfig, augment
from tests.fixture_data import face, fixture_rows, write_fer2013_csv, write_ferplus_zip, write_kaggle_zip


def test_kaggle_zip_reader_keeps_official_splits_and_classes(tmp_path):
    rows = fixture_rows(per_usage_class=2)
    dataset = read_fer2013_zip(write_kaggle_zip(tmp_path / "fer2013.zip", rows))
    assert (dataset.counts().to_numpy() == 2).all()
    assert sorted(set(dataset.splits)) == sorted(SPLITS)
    first = np.flatnonzero(dataset.ids == "Training_1000")[0]
    assert dataset.labels[first] == rows[0][0]
    # JPEG is lossy but the fixture faces are smooth: the decoded face stays close to the original.
    assert np.abs(dataset.images[first].astype(int) - rows[0][2].astype(int)).mean() < 4


def test_csv_reader_is_lossless_and_keeps_label_order(tmp_path):
    rows = fixture_rows(per_usage_class=1)
    dataset = read_fer2013_csv(write_fer2013_csv(tmp_path / "fer2013.csv", rows))
    assert len(dataset) == len(rows)
    assert list(dataset.ids[:2]) == ["row00000", "row00001"]
    for index, (label, _usage, image) in enumerate(rows):
        assert dataset.labels[index] == label
        np.testing.assert_array_equal(dataset.images[index], image)
    assert dataset.splits[-1] == "test"


def test_corrupt_zip_member_is_named(tmp_path):
    path = write_kaggle_zip(tmp_path / "fer2013.zip", fixture_rows(1), corrupt_member=True)
    with pytest.raises(ImageError, match=r"fer2013\.zip:test/neutral/PrivateTest_\d+\.jpg"):
        read_fer2013_zip(path)


def test_zip_member_outside_the_layout_is_refused(tmp_path):
    import zipfile
    path = tmp_path / "fer2013.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train/joy/Training_1.jpg", b"x")
    with pytest.raises(ImageError, match="joy"):
        read_fer2013_zip(path)


@pytest.mark.parametrize(("line", "message"), [
    ("0,1 2 3,Training", "2304 values"),
    ("9," + " ".join(["0"] * 2304) + ",Training", "emotion 9"),
    ("0," + " ".join(["0"] * 2304) + ",Validation", "Usage 'Validation'"),
])
def test_bad_csv_rows_name_the_row(tmp_path, line, message):
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n" + line + "\n")
    with pytest.raises(ValueError, match=f"row 2.*{message}"):
        read_fer2013_csv(path)


def test_missing_archive_and_wrong_fer_data_say_where(isolated_paths):
    data_dir, _ = isolated_paths
    with pytest.raises(FileNotFoundError, match=f"FER_DATA={data_dir}"):
        load_dataset("fer2013")
    with pytest.raises(FileNotFoundError, match="fer2013.zip"):
        read_fer2013_zip(data_dir / "fer2013.zip")


def test_ferplus_majority_protocol():
    votes = np.array([
        [0, 8, 2, 0, 0, 0, 0, 0, 0, 0],  # happiness wins
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # tie: excluded
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # NF wins: excluded
        [1, 0, 0, 0, 0, 0, 0, 6, 3, 0],  # contempt wins: excluded
        [0, 0, 0, 0, 7, 0, 3, 0, 0, 0],  # anger wins
    ])
    labels = majority_labels(votes)
    assert list(labels) == [CLASS_NAMES.index("happy"), EXCLUDED, EXCLUDED, EXCLUDED, CLASS_NAMES.index("angry")]
    soft = soft_labels(votes)
    np.testing.assert_allclose(soft[0], np.eye(7)[CLASS_NAMES.index("happy")] * 0.8
                               + np.eye(7)[CLASS_NAMES.index("surprise")] * 0.2)
    assert soft[2].sum() == 0
    np.testing.assert_allclose(soft[4].sum(), 1.0)


def test_ferplus_reader_skips_unnamed_and_duplicate_rows(tmp_path):
    happy = [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]
    rows = [("Training", "fer0000000.png", face(0), happy),
            ("Training", "", face(1), happy),
            ("PublicTest", "fer0000002.png", face(2), [0, 0, 0, 9, 0, 0, 1, 0, 0, 0]),
            ("PrivateTest", "fer0000003.png", face(3), happy),
            ("PrivateTest", "fer0000003.png", face(4), [10, 0, 0, 0, 0, 0, 0, 0, 0, 0])]
    dataset = read_ferplus(write_ferplus_zip(tmp_path / "ferplus.zip", rows))
    assert list(dataset.ids) == ["fer0000000", "fer0000002", "fer0000003"]
    assert list(dataset.splits) == ["train", "val", "test"]
    assert dataset.labels[1] == CLASS_NAMES.index("sad")
    assert dataset.labels[2] == CLASS_NAMES.index("happy")  # first of the duplicated rows
    assert dataset.attrs["duplicate_names_skipped"] == 1
    np.testing.assert_array_equal(dataset.images[0], face(0))  # PNG is lossless


def test_ferplus_missing_image_is_named(tmp_path):
    import zipfile
    path = write_ferplus_zip(tmp_path / "ferplus.zip", [("Training", "fer0000000.png", face(0), [1] * 10)])
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp_path / "broken.zip", "w") as target:
        target.writestr("ferplus/fer2013new.csv", source.read("ferplus/fer2013new.csv"))
    with pytest.raises(FileNotFoundError, match="FER2013Train/fer0000000.png"):
        read_ferplus(tmp_path / "broken.zip")


def _tiny_dataset(n=14) -> FERDataset:
    return FERDataset("tiny", np.stack([face(i) for i in range(n)]), np.arange(n) % 7,
                      np.array(["train", "val"] * (n // 2)), np.array([f"id{i}" for i in range(n)]),
                      attrs={"source": "fixture"})


def test_cache_round_trip(tmp_path):
    dataset = _tiny_dataset()
    loaded = read_h5(write_h5(tmp_path / "tiny.h5", dataset))
    np.testing.assert_array_equal(loaded.images, dataset.images)
    np.testing.assert_array_equal(loaded.labels, dataset.labels)
    assert list(loaded.ids) == list(dataset.ids) and list(loaded.splits) == list(dataset.splits)
    assert loaded.attrs["source"] == "fixture"


def test_failed_cache_write_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    path = write_h5(tmp_path / "tiny.h5", _tiny_dataset())
    before = path.read_bytes()
    broken = _tiny_dataset()
    broken.attrs["unstorable"] = {"nested": object()}
    with pytest.raises(TypeError):
        write_h5(path, broken)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.h5"]


def test_cache_with_wrong_counts_is_refused_on_load(isolated_paths):
    _, cache = isolated_paths
    write_h5(cache / "fer2013.h5", _tiny_dataset())
    with pytest.raises(CacheError, match=r"fer2013\.h5.*train/angry: 1 != 3995"):
        load_dataset("fer2013")


def test_truncated_cache_is_refused(isolated_paths):
    _, cache = isolated_paths
    path = write_h5(cache / "fer2013.h5", _tiny_dataset())
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CacheError, match="fer2013.h5"):
        load_dataset("fer2013")


def test_cache_missing_a_column_is_refused(tmp_path):
    path = write_h5(tmp_path / "tiny.h5", _tiny_dataset())
    with h5py.File(path, "a") as h5:
        del h5["labels"]
    with pytest.raises(CacheError, match="tiny.h5"):
        read_h5(path)


def test_balance_table_gives_the_reports_figures_on_the_official_counts():
    labels, splits = [], []
    for split, row in FER2013_COUNTS.items():
        for label, count in enumerate(row):
            labels += [label] * count
            splits += [split] * count
    n = len(labels)
    dataset = FERDataset("counts", np.zeros((n, 48, 48), np.uint8), np.array(labels), np.array(splits),
                         np.arange(n).astype(str))
    kaggle = balance_table(dataset, KAGGLE_FOLDER_GROUPS)
    assert kaggle.loc["train", ("total", "to_add")] == 21796
    assert kaggle.loc["test", ("total", "to_add")] == 5240
    assert kaggle.loc["train", ("to_add", "disgust")] == 7215 - 436
    official = balance_table(dataset)
    assert official.loc["val", ("total", "to_add")] + official.loc["test", ("total", "to_add")] == 5240


def test_label_pairs_match_each_ferplus_image_to_its_fer2013_original_within_a_split():
    """FER+ holds FER2013's faces re-encoded (here: shuffled and slightly noisy) under other names; a face far
    from every original stays unmatched, and asking for one split gives that split's rows of the full table."""
    from fer_study.data.agreement import agreement_table, label_pairs

    rng = np.random.default_rng(0)
    splits = np.repeat(SPLITS, 6)
    images = np.stack([face(i) for i in range(len(splits))])
    labels = np.arange(len(splits)) % 7
    fer2013 = FERDataset("fer2013", images, labels, splits, np.array([f"kaggle{i}" for i in range(len(splits))]))
    order = rng.permutation(len(splits))
    noisy = np.clip(images[order].astype(np.int16) + rng.integers(-3, 4, images.shape), 0, 255).astype(np.uint8)
    noisy[order == 0] = face(999)  # not among the originals
    plus_labels = np.where(order % 2 == 0, labels[order], (labels[order] + 1) % 7)
    ferplus = FERDataset("ferplus", noisy, plus_labels, splits[order], np.array([f"plus{i}" for i in order]))

    pairs = label_pairs(fer2013, ferplus)
    matched = pairs.dropna(subset=["fer2013_id"])
    assert pairs.loc[pairs["fer2013_id"].isna(), "ferplus_id"].tolist() == ["plus0"]
    assert (matched["fer2013_id"].str.removeprefix("kaggle") == matched["ferplus_id"].str.removeprefix("plus")).all()
    assert agreement_table(pairs)["agree"].sum() == sum(1 for i in order if i % 2 == 0 and i != 0)
    test_only = label_pairs(fer2013, ferplus, splits=["test"])
    pd.testing.assert_frame_equal(test_only, pairs[pairs["split"] == "test"].reset_index(drop=True))


def test_augment_is_seeded_and_flip_only_mirrors():
    batch = torch.rand(8, 1, 48, 48)
    config = AugmentConfig()
    first = augment(batch, config, torch.Generator().manual_seed(3))
    again = augment(batch, config, torch.Generator().manual_seed(3))
    assert first.shape == batch.shape and torch.equal(first, again)
    assert not torch.equal(first, augment(batch, config, torch.Generator().manual_seed(4)))
    mirror_only = AugmentConfig(flip=True, rotation_degrees=0, scale=0, translate=0)
    out = augment(batch, mirror_only, torch.Generator().manual_seed(0))
    for original, augmented in zip(batch, out, strict=True):
        assert torch.allclose(augmented, original, atol=1e-5) or torch.allclose(augmented, original.flip(-1),
                                                                                 atol=1e-5)


@pytest.mark.realdata
def test_real_archives_build_validated_caches(real_data_dir):
    fer2013 = load_dataset("fer2013")
    assert fer2013.counts().loc["test"].tolist() == list(FER2013_COUNTS["test"])
    ferplus = load_dataset("ferplus")
    assert (ferplus.splits == "train").sum() == 28558
    assert ferplus.soft_labels is not None
