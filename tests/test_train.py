import hashlib
import json
import shutil
import warnings

import numpy as np
import pytest
import torch
import yaml

from fer_study.core.devices import cpu_model
from fer_study.core.files import file_sha256
from fer_study.data import FERDataset
from fer_study.data.tensors import split_tensors
from fer_study.models import create_model
from fer_study.runs import ids_digest, load_model, load_run, save_weights, snapshots_of, weights_file, weights_path
from fer_study.train import TrainConfig, fit
from fer_study.train.distill import DistillationLoss, load_teacher_targets, save_teacher_targets
from fer_study.train.loop import predict_logits, train_step, warn_if_bfloat16_is_emulated
from fer_study.train.mixing import batch_mixer
from fer_study.train.optim import build_optimizer, build_scheduler
from fer_study.train.teachers import teacher_log_probabilities
from fer_study.train.tta import tta_views
from tests.fixture_data import brightness_dataset


@pytest.fixture
def tiny_dataset() -> FERDataset:
    """Seven classes, each a brightness level, so a tiny model can learn them in a few epochs."""
    return brightness_dataset("tiny")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Checkpoints and runs of the test in a temporary folder."""
    monkeypatch.setattr("fer_study.core.paths.CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.setattr("fer_study.core.paths.SCRATCH_DIR", tmp_path / "scratch")
    return tmp_path / "runs"


def tiny_config(name: str, **overrides) -> TrainConfig:
    settings = {"run_name": name, "model": "vgg_cpu", "model_kwargs": {"widths": [8, 16]}, "epochs": 3,
                "batch_size": 16, "lr": 0.05, "tier": "smoke", "seed": 7, "num_threads": 1}
    return TrainConfig.from_dict({**settings, **overrides})


def test_run_folder_holds_what_tables_and_ensembles_need(tiny_dataset, workspace):
    run_dir = fit(tiny_config("tiny"), tiny_dataset, runs_dir=workspace)
    run = load_run(run_dir)
    assert set(run.config) >= {"model", "dataset", "epochs", "seed"}
    assert len(run.history) == 3 and {"train_loss", "val_accuracy", "val_recall_disgust"} <= set(run.history)
    for split in ("val", "test"):
        assert run.logits(split).shape == (28, 7) and run.logits(split, tta=True).shape == (28, 7)
        # The ids are the dataset's: the run stores their digest (runs/folder.py).
        assert run.ids_digest(split) == ids_digest(tiny_dataset.subset(split).ids) and not run.stores_ids(split)
    accuracy = (run.logits("test").argmax(1) == run.labels("test")).mean()
    assert run.metrics["test_accuracy"] == pytest.approx(accuracy)
    assert run.metrics["val_accuracy"] == pytest.approx(run.history["val_accuracy"].max())
    assert run.metrics["selected_epoch"] == int(run.history["val_accuracy"].idxmax()) + 1
    with np.load(run_dir / "predictions.npz") as stored:  # compact on disk, exact metrics from what is stored
        assert stored["test_logits"].dtype == np.float16
    # The weights go beside the checkpoints, not into the run folder that git tracks, and are recorded.
    assert not (run_dir / "model.pt").exists()
    weights = weights_file("smoke", "tiny")
    assert run.metrics["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert str(run_dir).startswith(str(workspace))
    assert run.metrics["cpu_model"] == cpu_model() and run.metrics["cpu_model"] != "unknown"  # what trained it


def test_snapshot_runs_survive_an_interruption_and_the_selected_epoch_is_the_run_itself(tiny_dataset, workspace):
    config = tiny_config("cyc", snapshot_epochs=(1, 2, 3))
    assert fit(config, tiny_dataset, runs_dir=workspace, stop_after_epochs=2) is None
    run = load_run(fit(config, tiny_dataset, runs_dir=workspace, resume=True))
    selected = run.metrics["selected_epoch"]
    written = sorted(path.name for path in workspace.iterdir() if path.name.startswith("cyc_snap"))
    # Snapshots 1 and 2, saved before the interruption, are written too; the selected epoch's would repeat the run.
    assert written == [f"cyc_snap{epoch:03d}" for epoch in (1, 2, 3) if epoch != selected]
    assert not weights_file("smoke", f"cyc_snap{selected:03d}").exists()
    members = snapshots_of(run, workspace)
    assert [member.metrics["selected_epoch"] for member in members] == [1, 2, 3]
    assert [member.name for member in members if member.metrics["selected_epoch"] == selected] == ["cyc"]
    test = split_tensors(tiny_dataset, ("test",), torch.device("cpu"))
    for snapshot in [member for member in members if member.name != "cyc"]:
        assert snapshot.metrics["snapshot_of"] == "cyc" and len(snapshot.history) == snapshot.metrics["selected_epoch"]
        # Evaluated at the end from the weights saved at its epoch: its predictions are those weights'.
        logits = predict_logits(load_model(snapshot.path), test.images).astype(np.float16)
        np.testing.assert_array_equal(logits, snapshot.logits("test"))


@pytest.mark.parametrize("settings", [{}, {"precision": "bfloat16"}, {"ema_decay": 0.9, "ema_every": 2},
                                      {"mixing": "cutmix", "mixing_probability": 0.5}],
                         ids=["float32", "bfloat16", "weight_average", "cutmix"])
def test_resumed_run_ends_like_an_uninterrupted_one(tiny_dataset, workspace, tmp_path, settings):
    straight = load_run(fit(tiny_config("straight", **settings), tiny_dataset, runs_dir=workspace))
    assert straight.metrics["precision"] == settings.get("precision", "float32")
    interrupted = tiny_config("interrupted", **settings)
    assert fit(interrupted, tiny_dataset, runs_dir=workspace, stop_after_epochs=1) is None
    resumed = load_run(fit(interrupted, tiny_dataset, runs_dir=workspace, resume=True))
    np.testing.assert_allclose(resumed.logits("test"), straight.logits("test"), rtol=1e-5, atol=1e-5)
    assert resumed.history["val_loss"].tolist() == pytest.approx(straight.history["val_loss"].tolist())


def test_weight_average_is_what_validation_and_test_see(tiny_dataset, workspace):
    plain = load_run(fit(tiny_config("plain", epochs=2), tiny_dataset, runs_dir=workspace))
    averaged = load_run(fit(tiny_config("averaged", epochs=2, ema_decay=0.5), tiny_dataset, runs_dir=workspace))
    # Same seed and steps: only the averaging differs, so the evaluated weights must differ.
    assert not np.allclose(plain.logits("test"), averaged.logits("test"))
    assert plain.history["train_loss"].tolist() == pytest.approx(averaged.history["train_loss"].tolist())


def test_resume_refuses_a_changed_config(tiny_dataset, workspace):
    fit(tiny_config("changing"), tiny_dataset, runs_dir=workspace, stop_after_epochs=1)
    with pytest.raises(ValueError, match="different config"):
        fit(tiny_config("changing", lr=0.5), tiny_dataset, runs_dir=workspace, resume=True)


def test_fine_tuning_stage_starts_from_its_parent(tiny_dataset, workspace):
    fit(tiny_config("base", epochs=2), tiny_dataset, runs_dir=workspace)
    stage = load_run(fit(tiny_config("base_ft_val", epochs=1, lr=1e-9, train_splits=("val",), parent="base",
                                     scheduler="none"), tiny_dataset, runs_dir=workspace))
    base = load_run(workspace / "base")
    assert stage.metrics["parent"] == "base" and stage.metrics["selection"] == "last epoch"
    # With a vanishing learning rate the stage keeps its parent's weights (BN statistics aside).
    assert (stage.logits("test").argmax(1) == base.logits("test").argmax(1)).mean() > 0.8


def test_fine_tuning_stage_refuses_parent_weights_that_are_not_the_parents(tiny_dataset, workspace):
    """A local copy left by another training of the parent's name (another machine, another commit) is not
    the parent the run folder records: the stage must not start from it."""
    fit(tiny_config("parent", epochs=1), tiny_dataset, runs_dir=workspace)
    weights = weights_path(workspace / "parent")
    save_weights(weights, "vgg_cpu", {"widths": [8, 16]}, create_model("vgg_cpu", widths=[8, 16]).state_dict())
    with pytest.raises(ValueError, match="differs from the .* recorded; these are not the run's weights"):
        fit(tiny_config("parent_stage", epochs=1, parent="parent"), tiny_dataset, runs_dir=workspace)
    assert not (workspace / "parent_stage" / "metrics.json").exists()


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "radam", "ranger_adabelief"])
def test_every_optimizer_moves_the_weights_and_lowers_the_loss(tiny_dataset, optimizer):
    """Thirty steps on one fixed batch: the loss falls and every optimizer changes the weights."""
    torch.manual_seed(0)
    model = create_model("vgg_cpu", widths=[8, 16])
    data = split_tensors(tiny_dataset, ("train",), torch.device("cpu"))
    images, targets = data.images[:32].float() / 255, data.targets[:32]
    before = [p.detach().clone() for p in model.parameters()]
    opt = build_optimizer(optimizer, model, lr=3e-3, weight_decay=0.0, nesterov=optimizer == "sgd")
    losses = [train_step(model, images, targets, opt, torch.nn.CrossEntropyLoss(), 0.0)[1].item()
              for _ in range(30)]
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_run_records_its_optimizer_result(tiny_dataset, workspace):
    config = tiny_config("opt_adamw", epochs=1, optimizer="adamw", lr=1e-3, tta="none")
    metrics = json.loads((fit(config, tiny_dataset, runs_dir=workspace) / "metrics.json").read_text())
    assert np.isfinite(metrics["val_accuracy"]) and metrics["test_accuracy_tta"] is None


def _learning_rates(name: str, steps: int, metric=None, **options) -> list[float]:
    """The learning rate before each of ``steps`` steps of the named schedule (peak 1.0, 4 steps per epoch)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(name, opt, 1.0, epochs=steps // 4, steps_per_epoch=4, **options)
    rates = []
    for step in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step(metric[step]) if metric is not None else scheduler.step()
    return rates


def test_each_schedule_moves_the_rate_as_it_says():
    assert set(_learning_rates("none", 8)) == {1.0}
    onecycle = _learning_rates("onecycle", 40)  # warm-up to the peak at 25 %, then anneals far below it
    peak = int(np.argmax(onecycle))
    assert 8 <= peak <= 11 and onecycle[peak] == pytest.approx(1.0, abs=0.01) and onecycle[-1] < 0.01
    cosine = _learning_rates("cosine", 20)
    assert all(a >= b for a, b in zip(cosine, cosine[1:], strict=False)) and cosine[-1] < 0.05
    cyclic = _learning_rates("cyclic", 32)  # base 0.1, up over 2 epochs (8 steps), down over 8: period 16
    assert cyclic[0] == pytest.approx(0.1) and max(cyclic) == pytest.approx(1.0) and cyclic[16] == pytest.approx(0.1)
    restarts = _learning_rates("cosine_warm_restarts", 6, t0=3)  # stepped per call: back to the peak every 3
    assert restarts[0] == restarts[3] == 1.0 and restarts[2] < restarts[1] < 1.0
    plateau = _learning_rates("plateau", 6, metric=[0.5] * 6, patience=1)  # no improvement: x0.1 after 2
    assert plateau[:3] == [1.0, 1.0, 1.0] and plateau[3] == pytest.approx(0.1)


def test_the_history_records_the_schedule(tiny_dataset, workspace):
    run = load_run(fit(tiny_config("sched_cosine", epochs=3, scheduler="cosine", tta="none"), tiny_dataset,
                       runs_dir=workspace))
    assert list(run.history["lr"]) == sorted(run.history["lr"], reverse=True) and run.history["lr"].nunique() == 3


def test_soft_labels_are_what_the_loss_uses(tiny_dataset, workspace):
    """Soft labels that all point at 'neutral', whatever the hard label: the model learns to say neutral."""
    tiny_dataset.soft_labels = np.tile(np.array([0.01] * 6 + [0.94], dtype=np.float32), (len(tiny_dataset.labels), 1))
    config = tiny_config("soft", epochs=4, label_mode="soft", augment={"flip": False, "rotation_degrees": 0.0,
                                                                       "scale": 0.0, "translate": 0.0})
    run = load_run(fit(config, tiny_dataset, runs_dir=workspace))
    assert run.metrics["label_mode"] == "soft" and (run.logits("test").argmax(1) == 6).mean() > 0.9


def test_early_stopping_stops(tiny_dataset, workspace):
    run = load_run(fit(tiny_config("stopping", epochs=6, lr=0.0, scheduler="none", early_stopping_patience=1),
                       tiny_dataset, runs_dir=workspace))
    assert len(run.history) == 2


def test_resuming_a_run_that_had_stopped_early_trains_no_further_epoch(tiny_dataset, workspace):
    """Killed after its last checkpoint but before its run folder was written: the resume ends alike."""
    config = tiny_config("stopped", epochs=6, lr=0.0, scheduler="none", early_stopping_patience=1)
    run_dir = fit(config, tiny_dataset, runs_dir=workspace)
    shutil.rmtree(run_dir)
    assert len(load_run(fit(config, tiny_dataset, runs_dir=workspace, resume=True)).history) == 2


def test_config_errors_name_the_file_and_setting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"model": "vgg_cpu", "epochz": 3}))
    with pytest.raises(ValueError, match=r"bad\.yaml.*epochz"):
        TrainConfig.from_yaml(path, run_name="bad")
    path.write_text(yaml.safe_dump({"model": "vgg_cpu", "precision": "float16"}))
    with pytest.raises(ValueError, match=r"bad\.yaml.*precision must be one of auto, bfloat16, float32"):
        TrainConfig.from_yaml(path, run_name="bad")
    path.write_text(yaml.safe_dump({"model": "vgg_cpu", "ema_decay": 1.5}))
    with pytest.raises(ValueError, match=r"bad\.yaml.*ema_decay must be between 0 and 1"):
        TrainConfig.from_yaml(path, run_name="bad")
    path.write_text(yaml.safe_dump({"model": "vgg_cpu", "mixing": "cutout"}))
    with pytest.raises(ValueError, match=r"bad\.yaml.*mixing must be one of none, mixup, cutmix, got 'cutout'"):
        TrainConfig.from_yaml(path, run_name="bad")
    path.write_text(yaml.safe_dump({"model": "vgg_cpu", "mixing": "mixup", "distill_from": "t.npz"}))
    with pytest.raises(ValueError, match=r"bad\.yaml.*mixing and distill_from cannot be combined"):
        TrainConfig.from_yaml(path, run_name="bad")


@pytest.mark.parametrize("mixing", ["mixup", "cutmix"])
@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_a_mixed_batch_mixes_each_image_with_its_neighbour_and_their_targets_alike(mixing, soft):
    """Two constant images per class pair: each mixed image is a blend of itself and its neighbour, in the
    share its target gives each of their classes."""
    torch.manual_seed(0)
    labels = torch.tensor([0, 3, 6, 2])
    images = (labels.float() / 6).view(4, 1, 1, 1).expand(4, 1, 8, 8).clone()
    targets = torch.nn.functional.one_hot(labels, 7).float() if soft else labels
    mixed, distribution = batch_mixer(mixing, alpha=1.0)(images, targets)
    assert distribution.shape == (4, 7) and torch.allclose(distribution.sum(1), torch.ones(4))
    neighbour = labels.roll(1)
    own_share = distribution[torch.arange(4), labels]
    assert torch.allclose(own_share + distribution[torch.arange(4), neighbour], torch.ones(4))
    # The mean pixel is the share-weighted mean of the two images (CutMix: the pasted box's area).
    expected = own_share * labels / 6 + (1 - own_share) * neighbour / 6
    assert torch.allclose(mixed.mean((1, 2, 3)), expected, atol=1e-5)
    assert batch_mixer("none", 1.0) is None


@pytest.mark.slow
def test_a_compiled_run_learns_and_saves_weights_a_plain_model_loads(tiny_dataset, workspace):
    # Not the same numbers as an uncompiled run: compiled dropout draws its random numbers another way.
    config = tiny_config("compiled", epochs=2, compile_model=True)
    run = load_run(fit(config, tiny_dataset, runs_dir=workspace))
    assert run.history["train_loss"].iloc[-1] < run.history["train_loss"].iloc[0]
    load_model(weights_file("smoke", "compiled"))  # loads strictly: no "_orig_mod." keys


def test_each_seed_of_a_stage_starts_from_the_same_seed_of_its_parent(tmp_path):
    path = tmp_path / "stage.yaml"
    path.write_text(yaml.safe_dump({"model": "vgg_cpu", "parent": "exp_base_seed{seed}"}))
    assert TrainConfig.from_yaml(path, run_name="stage_seed2", seed=2).parent == "exp_base_seed2"
    assert TrainConfig.from_yaml(path, run_name="stage").parent == "exp_base_seed0"  # the default seed
    stored = TrainConfig.from_yaml(path, run_name="stage_seed2", seed=2).to_dict()
    assert TrainConfig.from_dict(stored).parent == "exp_base_seed2"  # a run's saved config stays resolved


@pytest.mark.parametrize(("mode", "views", "side"), [("none", 1, 48), ("flip", 2, 48), ("ten_crop", 10, 40),
                                                     ("flip_rotate", 10, 48)])
def test_tta_views(mode, views, side):
    batch = torch.rand(3, 1, 48, 48)
    out = tta_views(batch, mode, crop=40)
    assert len(out) == views and all(view.shape == (3, 1, side, side) for view in out)
    assert torch.equal(out[0], batch) or mode == "ten_crop"


def test_smoke_runs_never_land_in_results(tiny_dataset, workspace, tmp_path):
    run_dir = fit(tiny_config("smoke_default", epochs=1, tta="none"), tiny_dataset)
    assert run_dir == tmp_path / "scratch" / "runs" / "smoke_default"
    assert (tmp_path / "scratch" / "checkpoints" / "smoke_default" / "last.pt").is_file()


def test_zero_epochs_evaluates_the_weights_as_they_are(tiny_dataset, workspace):
    run = load_run(fit(tiny_config("as_is", epochs=0), tiny_dataset, runs_dir=workspace))
    assert run.metrics["epochs"] == 0 and run.metrics["selected_epoch"] == 0
    assert np.isfinite(run.metrics["test_accuracy"])


def test_zero_epoch_run_loads_with_an_empty_history(tiny_dataset, workspace):
    run = load_run(fit(tiny_config("no_epochs", epochs=0, tta="none"), tiny_dataset, runs_dir=workspace))
    assert run.history.empty


def test_distillation_loss_is_the_label_loss_at_weight_0_and_the_scaled_kl_at_weight_1():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0, 0, 0, 0]])
    labels = torch.tensor([1])
    teacher = torch.log_softmax(torch.tensor([[0.0, 3.0, 0, 0, 0, 0, 0]]), dim=1)
    base = torch.nn.CrossEntropyLoss()
    assert DistillationLoss(base, 4.0, 0.0)(logits, (labels, teacher)) == pytest.approx(base(logits, labels).item())
    # KL(teacher_T || student_T) * T^2, written out
    t = 2.0
    p, q = torch.softmax(teacher / t, 1), torch.softmax(logits / t, 1)
    expected = t ** 2 * (p * (p.log() - q.log())).sum().item()
    assert DistillationLoss(base, t, 1.0)(logits, (labels, teacher)).item() == pytest.approx(expected, rel=1e-5)
    assert DistillationLoss(base, t, 1.0)(teacher, (labels, teacher)).item() == pytest.approx(0.0, abs=1e-6)


def test_teacher_targets_are_read_in_the_students_order_and_missing_ids_are_named(tmp_path):
    path = save_teacher_targets(tmp_path / "t.npz", np.array(["a", "b"]), np.log([[0.9] + [0.1 / 6] * 6,
                                                                                  [0.1 / 6] * 6 + [0.9]]), ["x"])
    assert load_teacher_targets(path, np.array(["b", "a"])).argmax(1).tolist() == [6, 0]
    with pytest.raises(ValueError, match=r"t\.npz: no teacher target for 1 training images \(first: 'c'\)"):
        load_teacher_targets(path, np.array(["a", "c"]))


def test_a_student_follows_its_teacher_not_the_labels(tiny_dataset, workspace, monkeypatch, tmp_path):
    """A teacher that says 'neutral' for every image: at weight 1 the student learns to say it too."""
    train_ids = tiny_dataset.ids[tiny_dataset.splits == "train"]
    targets = np.full((len(train_ids), 7), np.log(0.01 / 6))
    targets[:, 6] = np.log(0.99)
    monkeypatch.setattr("fer_study.core.paths.REPO_ROOT", tmp_path)
    save_teacher_targets(tmp_path / "teacher.npz", train_ids, targets, ["constant"])
    config = tiny_config("student", distill_from="teacher.npz", distill_weight=1.0, distill_temperature=1.0,
                         epochs=4, augment={"flip": False, "rotation_degrees": 0.0, "scale": 0.0, "translate": 0.0})
    run = load_run(fit(config, tiny_dataset, runs_dir=workspace))
    assert (run.logits("test").argmax(1) == 6).mean() > 0.9
    assert run.metrics["teachers"] == ["constant"]
    assert run.metrics["teacher_targets_sha256"] == file_sha256(tmp_path / "teacher.npz")


def test_teachers_targets_come_from_the_runs_weights(tiny_dataset, workspace):
    run_dir = fit(tiny_config("teacher", epochs=2), tiny_dataset, runs_dir=workspace)
    ids, log_probabilities = teacher_log_probabilities(["teacher"], workspace, dataset=tiny_dataset)
    assert len(ids) == 84 and np.allclose(np.exp(log_probabilities).sum(1), 1, atol=1e-4)
    run = load_run(run_dir)  # the teacher's own val logits, recomputed the same way, agree in argmax
    _, val = teacher_log_probabilities(["teacher"], workspace, ("val",), tiny_dataset)
    assert (val.argmax(1) == run.logits("val").argmax(1)).mean() > 0.95


def test_a_run_is_also_scored_on_the_test_splits_of_other_datasets(tiny_dataset, workspace, monkeypatch):
    """A FER+ run scored on FER2013's PrivateTest too: the extra predictions and accuracies are saved."""
    # The tiny run stands for FER+, a tiny dataset with other labels for FER2013 (a config names registered
    # datasets only).
    other = FERDataset("fer2013", tiny_dataset.images, (tiny_dataset.labels + 1) % 7, tiny_dataset.splits,
                       tiny_dataset.ids)
    monkeypatch.setattr("fer_study.train.loop.load_dataset", {"fer2013": other}.__getitem__)
    config = tiny_config("crossed", dataset="ferplus", extra_test_datasets=("fer2013",))
    run = load_run(fit(config, tiny_dataset, runs_dir=workspace))
    correct = run.logits("fer2013_test").argmax(1) == run.labels("fer2013_test")
    assert run.metrics["fer2013_test_accuracy"] == pytest.approx(correct.mean())
    assert np.array_equal(run.labels("fer2013_test"), (run.labels("test") + 1) % 7)
    assert "fer2013_test_accuracy_tta" in run.metrics


@pytest.mark.parametrize("hardware", [False, True], ids=["emulated", "hardware"])
def test_bfloat16_on_a_cpu_that_emulates_it_is_named_at_the_start(monkeypatch, hardware):
    """An AVX2-only CPU trains bfloat16 an order of magnitude slower than float32: the setting is named."""
    monkeypatch.setattr("fer_study.train.loop.cpu_has_bfloat16_arithmetic", lambda: hardware)
    cpu = torch.device("cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for precision in ("bfloat16", "float32", "auto"):
            warn_if_bfloat16_is_emulated(precision, cpu)
    messages = [str(warning.message) for warning in caught]
    assert messages == ([] if hardware else [
        "precision 'bfloat16': this CPU has no bfloat16 arithmetic (neither AMX nor AVX512-BF16), so autocast "
        "emulates it, about 13x slower than float32; `--set precision=float32` trains the recipe in float32 "
        "(recorded in the run's config)"])


@pytest.mark.parametrize("setting, value", [("optimizer", "sgdd"), ("scheduler", "one_cycle"), ("tta", "flp"),
                                            ("label_mode", "sof")])
def test_a_misspelt_name_is_refused_when_the_recipe_is_read_naming_the_file_and_the_setting(tmp_path, setting,
                                                                                             value):
    path = tmp_path / "typo.yaml"
    path.write_text(f"model: vgg_cpu\n{setting}: {value}\n")
    with pytest.raises(ValueError, match=f"typo.yaml: {setting} must be one of .*, got '{value}'"):
        TrainConfig.from_yaml(path, run_name="typo")


def test_a_misspelt_scheduler_option_is_refused_instead_of_leaving_its_default(tmp_path):
    path = tmp_path / "cyclic.yaml"
    path.write_text("model: vgg_cpu\nscheduler: cyclic\nscheduler_options: {base_lr: 0.001, step_size: 224}\n")
    with pytest.raises(ValueError, match=r"cyclic.yaml: scheduler_options \['step_size'\] are not options of the "
                                         r"'cyclic' schedule; it reads base_lr, step_size_up, cycle_momentum"):
        TrainConfig.from_yaml(path, run_name="cyclic")
