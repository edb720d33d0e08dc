"""The committed runs in ``results/runs`` say what their files hold: every metric the library reads is
recorded, every accuracy in ``metrics.json`` is recomputed from ``predictions.npz``, every run's config is
the one its params file gives, and the committed weights, run again on the real test split, give the
committed logits."""

import subprocess
from functools import cache

import numpy as np
import pytest
import torch

from fer_study.core import paths
from fer_study.data import evaluation_dataset, evaluation_ids, load_dataset
from fer_study.data.tensors import split_tensors
from fer_study.runs import (
    RunMetrics,
    ids_digest,
    list_runs,
    load_model,
    load_run,
    params_file,
    recipe_and_seed,
    weights_path,
)
from fer_study.train import TrainConfig, predict_logits

COMMITTED = list_runs(paths.RUNS_DIR)
# Test images the committed weights are checked on (the first ones of the split).
WEIGHTS_CHECK_IMAGES = 64
# A lent GPU machine gets the tracked tree in every call, 64 MiB a call with what it carries; FER2013 (58.8 MiB)
# must fit beside it in two halves (issue 27), so the tree stays within 34 MiB.
TRACKED_TREE_MIB = 34


@cache
def real_test_split(dataset: str):
    """The test split a run of ``dataset`` was scored on (``evaluation_dataset``'s)."""
    return split_tensors(load_dataset(evaluation_dataset(dataset)), ("test",), torch.device("cpu"))


@cache
def split_ids_digest(dataset: str, split: str) -> str:
    return ids_digest(evaluation_ids(dataset, split))


@pytest.mark.realdata
@pytest.mark.parametrize("name", COMMITTED)
def test_every_prediction_split_scored_its_datasets_images_in_order(name, real_data_dir):
    """What lets a run store only the digest of its image ids: the ids are its dataset's split's."""
    run = load_run(name)
    splits = [key.removesuffix("_labels") for key in run.predictions if key.endswith("_labels")]
    assert {"val", "test"} <= set(splits)
    for split in splits:
        assert run.ids_digest(split) == split_ids_digest(*run.split_source(split)), split


def test_there_are_committed_runs():
    assert COMMITTED, f"no run folders in {paths.RUNS_DIR}"


# Every typed metric, required or optional: reading each must not raise on a committed run.
TYPED_METRICS = [name for name, value in vars(RunMetrics).items() if isinstance(value, property)]


@pytest.mark.parametrize("name", COMMITTED)
def test_every_typed_metric_reads(name):
    metrics = load_run(name).metrics
    assert {metric: getattr(metrics, metric) for metric in TYPED_METRICS}
    assert metrics.run == name


@pytest.mark.parametrize("name", COMMITTED)
def test_reported_accuracies_are_those_of_the_saved_predictions(name):
    run = load_run(name)
    for split in ("val", "test"):
        correct = run.logits(split).argmax(1) == run.labels(split)
        assert run.metrics[f"{split}_accuracy"] == pytest.approx(correct.mean(), abs=1e-12), split
        if f"{split}_logits_tta" in run.predictions:
            correct = run.logits(split, tta=True).argmax(1) == run.labels(split)
            assert run.metrics[f"{split}_accuracy_tta"] == pytest.approx(correct.mean(), abs=1e-12), split


@pytest.mark.parametrize("name", COMMITTED)
def test_run_config_is_the_one_its_params_file_gives(name):
    run = load_run(name)
    params_name = run.metrics.snapshot_of or name
    recorded = TrainConfig.from_dict(run.config).to_dict()
    seed = recipe_and_seed(params_name)[1]
    overrides = {"run_name": recorded["run_name"]} | ({} if seed is None else {"seed": seed})
    params = TrainConfig.from_yaml(params_file(params_name, run.metrics.tier), **overrides)
    # Threads and device say where it ran, not what it computed.
    ignored = {"num_threads", "device"}
    assert {k: v for k, v in recorded.items() if k not in ignored} == {
        k: v for k, v in params.to_dict().items() if k not in ignored}


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in COMMITTED if weights_path(paths.RUNS_DIR / name) is not None])
def test_committed_weights_give_the_committed_test_logits(name, real_data_dir):
    run = load_run(name)
    config = TrainConfig.from_dict(run.config)
    model = load_model(run)
    test = real_test_split(config.dataset)
    assert ids_digest(test.ids) == run.ids_digest("test")
    # A sample of the test images, in the precision the run recorded: a CPU without bfloat16 arithmetic
    # emulates it (~15 images/s for vgg_cpu), where the whole split took 4 minutes a run.
    sample = slice(0, WEIGHTS_CHECK_IMAGES)
    logits = predict_logits(model, test.images[sample], precision=config.precision)
    # At most one image may change its class: bfloat16 rounds differently on another CPU.
    assert (logits.argmax(1) != run.logits("test")[sample].argmax(1)).sum() <= 1
    np.testing.assert_allclose(logits, run.logits("test")[sample], atol=0.05)


def test_the_tracked_tree_fits_a_device_call_beside_half_of_the_data():
    if not (paths.REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: no tracked tree to measure")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=paths.REPO_ROOT, capture_output=True, check=True).stdout
    files = [paths.REPO_ROOT / name for name in listed.decode().split("\0") if name]
    size = sum(path.stat().st_size for path in files if path.is_file())
    largest = sorted(files, key=lambda path: path.stat().st_size if path.is_file() else 0)[-3:]
    assert size <= TRACKED_TREE_MIB * 2**20, (
        f"the tracked tree is {size / 2**20:.2f} MiB, over {TRACKED_TREE_MIB} MiB; largest files: "
        + ", ".join(f"{path.relative_to(paths.REPO_ROOT)} ({path.stat().st_size / 2**20:.2f} MiB)" for path in largest))
