import json

import numpy as np
import pandas as pd
import pytest
import torch

from fer_study.core import paths
from fer_study.models import create_model
from fer_study.runs import (
    RUN_FILES,
    EpochCheckpoint,
    MissingMetric,
    ids_digest,
    is_complete,
    list_runs,
    load_checkpoint,
    load_model,
    load_run,
    load_weights,
    other_test_split,
    recipe_and_seed,
    run_title,
    run_titles,
    run_titles_text,
    save_checkpoint,
    save_run,
    save_weights,
)
from fer_study.runs.titles import TITLES_FILE


def _save(run_dir, metrics):
    predictions = {"val_ids": np.array(["a"]), "val_labels": np.array([0]), "val_logits": np.zeros((1, 7))}
    return save_run(run_dir, {"model": "vgg_cpu"}, metrics, pd.DataFrame({"epoch": [1]}), predictions)


def test_run_round_trip(tmp_path):
    run = load_run(_save(tmp_path / "run", {"test_accuracy": 0.5}))
    assert run.metrics.test_accuracy == 0.5 and run.logits("val").shape == (1, 7)
    assert sorted(p.name for p in run.path.iterdir()) == sorted(RUN_FILES) and is_complete(run.path)
    (run.path / "history.csv").unlink()
    assert not is_complete(run.path)


def test_a_missing_metric_names_the_run_and_the_key_and_optional_ones_are_none(tmp_path):
    run = load_run(_save(tmp_path / "old_run", {"model": "vgg_cpu"}))
    with pytest.raises(MissingMetric, match="run 'old_run': metrics.json has no 'paper_model'"):
        _ = run.metrics.paper_model
    with pytest.raises(KeyError, match="old_run"):  # string-keyed reads raise the same error
        run.metrics["paper_model"]
    assert run.metrics.get("paper_model") is None and "paper_model" not in run.metrics
    assert run.metrics.precision is None and run.metrics.teachers is None  # recorded only by some runs
    assert run.metrics.model == "vgg_cpu" and dict(run.metrics) == {"model": "vgg_cpu"}


def test_failed_write_keeps_the_previous_run_files_and_leaves_no_partial(tmp_path):
    run_dir = _save(tmp_path / "run", {"test_accuracy": 0.5})
    with pytest.raises(TypeError):
        _save(run_dir, {"test_accuracy": object()})
    assert json.loads((run_dir / "metrics.json").read_text()) == {"test_accuracy": 0.5}
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_weights_files_describe_their_model_and_bare_state_dicts_still_load(tmp_path):
    model = create_model("vgg_cpu", widths=[8, 16])
    path = save_weights(tmp_path / "model.pt", "vgg_cpu", {"widths": [8, 16]}, model.state_dict())
    rebuilt = load_model(path)  # the file alone names the model and its kwargs
    assert not rebuilt.training
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), model.state_dict().values(),
                                                 strict=True))
    torch.save(model.state_dict(), tmp_path / "old.pt")  # written before weights described themselves
    state, name, kwargs = load_weights(tmp_path / "old.pt")
    assert name is None and kwargs == {} and state.keys() == model.state_dict().keys()
    with pytest.raises(ValueError, match="bare state dict"):
        load_model(tmp_path / "old.pt")
    # In a run folder, a bare state dict is rebuilt from the run's config.
    run_dir = save_run(tmp_path / "run", {"model": "vgg_cpu", "model_kwargs": {"widths": [8, 16]}}, {"tier": "cpu"},
                       pd.DataFrame(), {})
    torch.save(model.state_dict(), run_dir / "model.pt")
    assert load_model(run_dir).state_dict().keys() == model.state_dict().keys()


def test_an_epoch_checkpoint_saves_and_loads_every_field(tmp_path):
    state = {"weight": torch.ones(2)}
    checkpoint = EpochCheckpoint(config={"run_name": "r"}, model=state, optimizer={"lr": 0.1}, scheduler={},
                                 average=None, history=[{"epoch": 1}], best={"val_accuracy": 0.5, "epoch": 1,
                                                                              "state": state},
                                 epoch=1, train_seconds=2.5)
    save_checkpoint(tmp_path / "last.pt", checkpoint)
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert loaded.config == checkpoint.config and loaded.epoch == 1 and loaded.train_seconds == 2.5
    assert torch.equal(loaded.best["state"]["weight"], state["weight"]) and loaded.average is None


def test_the_same_weights_written_twice_have_the_same_bytes(tmp_path):
    """The sha256 a run records identifies its weights: rewriting them (publishing, rebuilding) matches it."""
    state = create_model("vgg_cpu", widths=[8, 16]).state_dict()
    first = save_weights(tmp_path / "a" / "model.pt", "vgg_cpu", {"widths": [8, 16]}, state).read_bytes()
    assert save_weights(tmp_path / "b" / "model.pt", "vgg_cpu", {"widths": [8, 16]}, state).read_bytes() == first


def test_underfit_runs_are_left_out_of_the_evidence_and_listed_with_their_reasons(tmp_path):
    from fixture_runs import labels_for, write_run, wrong_on

    from fer_study.runs import load_runs, underfit_reasons, underfit_runs

    labels = labels_for(28)  # four images of each class
    never_disgust = wrong_on(labels, np.flatnonzero(labels == 1))
    write_run(tmp_path, "learned", wrong_on(labels, [0]), labels)
    write_run(tmp_path, "no_disgust", never_disgust, labels)
    write_run(tmp_path, "no_disgust_smoke", never_disgust, labels, tier="smoke")
    low_train = write_run(tmp_path, "low_train", labels, labels)
    history = pd.read_csv(low_train / "history.csv").assign(train_accuracy=[0.3, 0.35, 0.42])
    history.to_csv(low_train / "history.csv", index=False)

    assert [run.name for run in load_runs(tmp_path)] == ["learned"]
    assert [run.name for run in underfit_runs(tmp_path)] == ["low_train", "no_disgust"]
    reasons = {run.name: underfit_reasons(run) for run in underfit_runs(tmp_path)}
    assert reasons == {"low_train": ["final training accuracy 42.0 % (below 50 %)"],
                       "no_disgust": ["never recognises disgust on validation"]}
    # Smoke runs only prove the code runs: shown by the smoke book, never judged.
    assert [run.name for run in load_runs(tmp_path, tiers=None)] == ["learned", "no_disgust_smoke"]


def test_the_committed_underfit_runs_are_the_width_eighth_resemotenet_only():
    from fer_study.runs import underfit_runs

    assert {run.metrics.model for run in underfit_runs()} == {"resemotenet_s"}


def test_publish_weights_copies_only_the_weights_whose_sha256_the_run_recorded(tmp_path, monkeypatch):
    from fer_study.core import paths
    from fer_study.core.files import file_sha256
    from fer_study.runs import WEIGHTS_NAME, publish_weights, weights_file

    monkeypatch.setattr(paths, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    local = weights_file("cpu", "run")
    local.parent.mkdir(parents=True)
    local.write_bytes(b"trained weights")
    run_dir = _save(tmp_path / "runs" / "run", {"tier": "cpu", "weights_sha256": file_sha256(local)})
    assert publish_weights("run", tmp_path / "runs").read_bytes() == b"trained weights"

    (run_dir / WEIGHTS_NAME).unlink()
    local.write_bytes(b"other weights")
    with pytest.raises(ValueError, match="differs from the .* that .*metrics.json recorded"):
        publish_weights("run", tmp_path / "runs")
    assert not (run_dir / WEIGHTS_NAME).exists()
    local.unlink()
    with pytest.raises(FileNotFoundError, match="run 'run': no local weights at"):
        publish_weights("run", tmp_path / "runs")


def test_every_committed_run_and_every_recipe_has_a_plain_title():
    untitled = [name for name in list_runs() if run_title(name) == name]
    assert not untitled, f"runs without a title in {TITLES_FILE.name}: {untitled}"
    recipes = {path.stem for path in paths.PARAMS_DIR.glob("*/runs/*.yaml")} | {
        recipe_and_seed(name)[0] for name in list_runs() if "_snap" not in name}  # snapshots: their source's
    smoke = {path.stem for path in (paths.PARAMS_DIR / "smoke" / "runs").glob("*.yaml")}
    missing = sorted(recipes - smoke - set(run_titles()))
    assert not missing, f"recipes without a title in {TITLES_FILE.name}: {missing}"
    assert not set(run_titles()) - recipes, "titles of recipes that do not exist"


def test_a_run_title_names_recipe_seed_and_snapshot():
    assert run_title("vgg_cpu_long_seed1") == "VGG-CPU, 40 epochs, seed 1"
    assert run_title("exp_cyclic_seed0_snap014") == (
        "base + 6 epochs of cyclic learning rate, seed 0, snapshot of epoch 14")
    assert run_title("no_such_recipe_seed3") == "no_such_recipe_seed3"
    assert run_titles_text("vgg_cpu, vgg_cpu_bf16") == run_titles_text(("vgg_cpu", "vgg_cpu_bf16")) == (
        "VGG-CPU, 16 epochs; VGG-CPU, 16 epochs, bfloat16")


def test_a_run_storing_the_digest_of_its_ids_names_where_the_ids_are(tmp_path):
    ids = np.array(["PublicTest_1", "PublicTest_2"])
    predictions = {"val_ids_sha256": np.array(ids_digest(ids)), "val_labels": np.array([0, 1]),
                   "val_logits": np.zeros((2, 7)), "ferplus_test_labels": np.array([0])}
    run = load_run(save_run(tmp_path / "run", {"model": "vgg_cpu"}, {"dataset": "fer2013_a"},
                            pd.DataFrame({"epoch": [1]}), predictions))
    assert not run.stores_ids("val") and run.ids_digest("val") == ids_digest(ids) != ids_digest(ids[::-1])
    with pytest.raises(KeyError, match="stores the digest of its val image ids.*image_ids.*'fer2013_a'"):
        run.ids("val")
    assert run.split_source("val") == ("fer2013_a", "val")
    assert run.split_source("ferplus_test") == run.split_source(other_test_split("ferplus")) == ("ferplus", "test")
    with pytest.raises(ValueError, match="unknown prediction split 'train'"):
        run.split_source("train")


def test_a_run_that_repeats_another_counts_once_as_evidence(tmp_path):
    from fixture_runs import labels_for, write_run, wrong_on

    from fer_study.runs import load_runs

    labels = labels_for(28)
    write_run(tmp_path, "base_seed0", wrong_on(labels, [0]), wrong_on(labels, [1]))
    # The same recipe and seed trained again: the same history and test predictions (stored at float16).
    again = write_run(tmp_path, "parent_seed0", wrong_on(labels, [0]), wrong_on(labels, [1]))
    with np.load(again / "predictions.npz") as stored:
        arrays = {key: stored[key].astype(np.float16) if key.endswith("_logits") else stored[key] for key in stored}
    np.savez_compressed(again / "predictions.npz", **arrays)
    write_run(tmp_path, "other_seed0", wrong_on(labels, [0]), wrong_on(labels, [2]))  # other predictions
    assert [run.name for run in load_runs(tmp_path)] == ["base_seed0", "other_seed0"]
    history = pd.read_csv(again / "history.csv").assign(train_loss=[1.5, 1.2, 0.9])  # another training
    history.to_csv(again / "history.csv", index=False)
    assert [run.name for run in load_runs(tmp_path)] == ["base_seed0", "other_seed0", "parent_seed0"]
