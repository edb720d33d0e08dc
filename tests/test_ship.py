"""Shipping a large file to the device in parts: split, join, and every way a part can go wrong."""

import json

import pytest

from fer_study.apps.sweep import ship


@pytest.fixture
def shipped(tmp_path):
    source = tmp_path / "data.zip"
    source.write_bytes(bytes(range(256)) * 41)  # 10,496 bytes: three parts of 4,096
    return source, ship.split(source, tmp_path / "ship", 4096)


def test_split_then_join_gives_the_same_bytes(shipped, tmp_path):
    source, manifest = shipped
    assert [part["bytes"] for part in json.loads(manifest.read_text())["parts"]] == [4096, 4096, 2304]
    assert ship.join(manifest, tmp_path / "raw").read_bytes() == source.read_bytes()


def test_a_missing_part_is_named_and_nothing_is_written(shipped, tmp_path):
    _, manifest = shipped
    (manifest.parent / "data.zip.part01").unlink()
    with pytest.raises(FileNotFoundError, match=r"part data\.zip\.part01 of data\.zip has not arrived"):
        ship.join(manifest, tmp_path / "raw")
    assert not (tmp_path / "raw" / "data.zip").exists()


def test_an_altered_part_is_refused(shipped, tmp_path):
    _, manifest = shipped
    part = manifest.parent / "data.zip.part02"
    part.write_bytes(b"x" + part.read_bytes()[1:])
    assert ship.main(["join", str(manifest), "--out", str(tmp_path / "raw")]) == 2
    assert not (tmp_path / "raw" / "data.zip").exists()
