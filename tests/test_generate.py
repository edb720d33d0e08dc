"""Generated-image balancing (fer_study.apps.generate), offline.

The diffusers path runs on a tiny randomly initialised pipeline that the test saves itself; it outputs
noise, so the face crop must reject (and count) every image. The face crop is checked on a real photo.
"""

import json
import re

import cv2
import numpy as np
import pandas as pd
import pytest
from fixture_faces import noise_dataset, photo, small_face

from fer_study.apps import generate
from fer_study.apps.generate import GenerationSettings, ModelNotFoundError, PromptGenerator
from fer_study.bench import generate as bench_generate
from fer_study.core.constants import CLASS_NAMES
from fer_study.data import generated
from fer_study.data.faces import BLANK, KEPT, NO_FACE, SEVERAL_FACES

TINY = GenerationSettings(width=32, height=32, steps=2)
TEMPLATE = re.compile(
    r"(?P<context>.+) image with a (?P<e1>[\w-]+), (?P<e2>[\w-]+), deeply (?P<e3>[\w-]+) "
    r"single (?P<gender>\w+) that is (?P<selected>\w+) and has a detailed (?P<expression>.+)\. "
    r"Person is expressive, (?P<age>.+), (?P<nationality>\w+) and has a (?P<genetic>.+) genetic\. "
    r"Focus on eyes, eyebrows, mouth and other facial factors to express the (?P<last>[\w-]+)\.")


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No hub access, an empty Hugging Face cache and models folder, deepface's home in tmp_path."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("FER_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path / "deepface"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return bench_generate.build_tiny_pipeline(tmp_path_factory.mktemp("tiny"))


def write_image(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def test_prompts_follow_the_report_template_with_pooled_words():
    prompts = PromptGenerator()
    jobs = prompts.jobs("disgust", 4, start_seed=7)
    assert list(jobs["seed"]) == [7, 207, 407, 607]
    pools = generate.PROMPT_POOLS
    for prompt in jobs["prompt"]:
        parts = TEMPLATE.fullmatch(prompt).groupdict()
        assert {parts["e1"], parts["e2"], parts["e3"]} <= set(pools.words["disgust"])
        assert len({parts["e1"], parts["e2"], parts["e3"]}) == 3 and parts["last"] == parts["e1"]
        assert parts["selected"] == "disgusted" and parts["expression"] in pools.expressions["disgust"]
        assert parts["context"] in pools.contexts and parts["gender"] in pools.genders
        assert parts["age"] in pools.ages and parts["nationality"] in pools.nationalities
        assert parts["genetic"] in pools.genetics
    assert jobs["prompt"].nunique() == 4
    assert prompts.prompt("disgust", 207) == jobs["prompt"][1]  # a seed alone reproduces its prompt


def test_every_class_has_prompt_words():
    for emotion in CLASS_NAMES:
        assert TEMPLATE.fullmatch(PromptGenerator().prompt(emotion, 0))


@pytest.mark.parametrize("emotion, count, message",
                         [("contempt", 1, "unknown emotion"), ("happy", 0, "at least 1")])
def test_prompt_requests_are_checked(emotion, count, message):
    with pytest.raises(ValueError, match=message):
        PromptGenerator().jobs(emotion, count, 0)


def test_missing_model_stops_before_anything_is_written(tmp_path):
    (tmp_path / "not_a_pipeline").mkdir()
    for model in (None, tmp_path / "absent", tmp_path / "not_a_pipeline", "someone/some-model"):
        with pytest.raises(ModelNotFoundError, match="never downloads"):
            generate.generate_faces(model, "happy", 1, 0, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    report = generate.generate_examples(None, ["happy"], 1, 0, tmp_path / "out")
    assert report.message.startswith("Generation skipped") and report.generated is None


def test_model_is_found_by_path_or_by_name_under_the_models_folder(tmp_path, tiny_model):
    assert generate.resolve_model(tiny_model) == tiny_model
    models = tmp_path / "models" / "tiny"
    models.mkdir(parents=True)
    (models / "model_index.json").write_text("{}")
    assert generate.resolve_model("tiny") == models


def test_tiny_pipeline_generates_and_the_crop_rejects_its_noise(tmp_path, tiny_model):
    jobs = generate.generate_faces(tiny_model, "fear", 2, 5, tmp_path / "raw", TINY, device="cpu")
    assert list(jobs["seed"]) == [5, 205] and (jobs["seconds"] > 0).all()
    for file in jobs["file"]:
        image = cv2.imread(file)
        assert image.shape == (32, 32, 3)
    logged = pd.read_csv(tmp_path / "raw" / "fear" / "prompts.csv")
    assert list(logged["prompt"]) == list(jobs["prompt"])

    outcomes = generate.crop_generated_faces(tmp_path / "raw", tmp_path / "faces")
    assert outcomes.loc["fear", KEPT] == 0 and outcomes.loc["fear"].sum() == 2
    assert outcomes.loc["fear", [NO_FACE, BLANK]].sum() == 2
    assert not list((tmp_path / "faces" / "fear").iterdir())


def test_benchmark_labels_the_tiny_pipeline(capsys):
    assert bench_generate.main(["--tiny", "--count", "1", "--device", "cpu"]) == 0
    output = capsys.readouterr().out
    assert "TINY RANDOM TEST PIPELINE" in output and "seconds per image over 1 images" in output


def test_benchmark_without_a_model_says_so(capsys, tmp_path):
    assert bench_generate.main(["--model", str(tmp_path / "absent"), "--count", "1"]) == 2
    assert "never downloads" in capsys.readouterr().err


def test_crop_counts_every_kind_of_rejection(tmp_path):
    raw = tmp_path / "raw"
    face = photo()
    write_image(raw / "happy" / "photo.jpg", face)
    write_image(raw / "happy" / "photo_rgba.png", cv2.cvtColor(face, cv2.COLOR_BGR2BGRA))
    write_image(raw / "happy" / "two_people.png", np.hstack([face, face]))
    write_image(raw / "sad" / "black.png", np.zeros((64, 64, 3), np.uint8))
    write_image(raw / "sad" / "deep.png", face.astype(np.uint16) * 257)
    (raw / "sad" / "broken.png").write_bytes(b"not an image")
    outcomes = generate.crop_generated_faces(raw, tmp_path / "faces")
    assert outcomes.loc["happy", KEPT] == 2 and outcomes.loc["happy", SEVERAL_FACES] == 1
    assert outcomes.loc["sad", [BLANK, generate.NOT_8BIT, generate.UNREADABLE]].tolist() == [1, 1, 1]
    kept = sorted((tmp_path / "faces" / "happy").iterdir())
    assert [file.name for file in kept] == ["photo.png", "photo_rgba.png"]
    assert cv2.imread(str(kept[0]), cv2.IMREAD_UNCHANGED).shape == (48, 48)


def test_folder_layout_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        generate.crop_generated_faces(tmp_path / "absent", tmp_path / "faces")
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        generate.crop_generated_faces(tmp_path / "empty", tmp_path / "faces")
    write_image(tmp_path / "typo" / "hapy" / "a.png", small_face())
    with pytest.raises(ValueError, match="not classes"):
        generated.balance_from_folder(noise_dataset((1,) * 7), "train", tmp_path / "typo")


def test_balance_fills_each_class_to_the_target_and_skips_bad_files(tmp_path):
    base = noise_dataset((3, 1, 2, 3, 3, 3, 3), soft=True)
    folder = tmp_path / "faces"
    for index in range(3):
        write_image(folder / "disgust" / f"d{index}.png", np.roll(small_face(), index))
    write_image(folder / "disgust" / "a_too_big.png", cv2.resize(small_face(), (64, 64)))
    write_image(folder / "disgust" / "b_deep.png", small_face().astype(np.uint16) * 257)
    write_image(folder / "fear" / "rgb.png", cv2.cvtColor(small_face(), cv2.COLOR_GRAY2BGR))
    (folder / "fear" / "c_broken.png").write_bytes(b"\x89PNG broken")

    plan = generated.balance_plan(base, "train", folder, target=4)
    assert plan.loc["disgust", ["to_add", "files_in_folder", "short"]].tolist() == [3, 5, 0]
    assert plan.loc["angry", ["to_add", "files_in_folder", "short"]].tolist() == [1, 0, 1]
    assert "files_in_folder" not in generated.balance_plan(base, "train").columns

    result = generated.balance_from_folder(base, "train", folder)  # target: the largest class, 3
    assert result.counts().loc["train"].tolist() == [3] * 7
    assert result.counts().loc[["val", "test"]].equals(base.counts().loc[["val", "test"]])
    assert sorted(result.ids[len(base):]) == ["gen_disgust_d0.png", "gen_disgust_d1.png", "gen_fear_rgb.png"]
    assert json.loads(result.attrs["generated_rejected"]) == {**dict.fromkeys(CLASS_NAMES, 0), "disgust": 2,
                                                              "fear": 1}
    assert np.array_equal(result.soft_labels[len(base):].argmax(axis=1), result.labels[len(base):])

    with pytest.raises(ValueError, match="angry lacks 1, fear lacks 1, happy lacks 1"):
        generated.balance_from_folder(base, "train", folder, target=4)
    partial = generated.balance_from_folder(base, "train", folder, target={**dict.fromkeys(CLASS_NAMES, 0),
                                                                          "disgust": 5}, require_full=False)
    assert partial.counts().loc["train", "disgust"] == 4
    assert json.loads(partial.attrs["generated_short"]) == {"disgust": 1}


def test_the_command_line_says_why_it_generates_nothing(tmp_path, capsys):
    from fer_study.apps.generate import main

    assert main(["no-such-model", "--emotions", "disgust", "--count", "1", "--out", str(tmp_path)]) == 1
    assert "Generation skipped" in capsys.readouterr().out and not (tmp_path / "raw").exists()
    assert main(["no-such-model", "--emotions", "boredom", "--count", "1", "--out", str(tmp_path)]) == 2
    assert "unknown emotion 'boredom'" in capsys.readouterr().err
