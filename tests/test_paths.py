"""Paths as a reader sees them: no machine's own folders in a rendered page or a message."""

from fer_study.core import paths


def test_shown_paths_are_relative_to_the_checkout_or_to_their_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_DATA", str(tmp_path / "raw"))
    assert paths.shown(paths.REPO_ROOT / "data" / "cache" / "fer2013.h5") == "data/cache/fer2013.h5"
    assert paths.shown(tmp_path / "raw" / "fer2013.zip") == "FER_DATA/fer2013.zip"
    assert paths.shown(tmp_path / "raw") == "FER_DATA"
    assert paths.shown(tmp_path / "elsewhere" / "photo.jpg") == "photo.jpg"
    assert str(tmp_path) not in paths.shown(tmp_path / "raw" / "sub" / "x.csv")
