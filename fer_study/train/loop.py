"""The training loop: one ``fit`` for CPU and CUDA, resumable, writing a run folder at the end.

Reproducibility across interruptions: every epoch draws its shuffle, augmentation and dropout from
generators seeded with ``(seed, epoch)``, and the epoch checkpoint holds model, optimizer, scheduler,
history and best weights. A run resumed from its last checkpoint therefore ends with the metrics of an
uninterrupted run on CPU.

Model selection uses the validation split only: the reported weights are those of the epoch with the
best validation accuracy (the last epoch when validation images are trained on, as in the fine-tuning
stage on ``val``). PrivateTest is evaluated once, at the end, and only reported.
"""

import copy
import inspect
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from fer_study.core import paths
from fer_study.core.constants import CLASS_NAMES, NUM_CLASSES
from fer_study.core.devices import cpu_model, resolve_device
from fer_study.core.files import file_sha256
from fer_study.core.metrics import classification_metrics
from fer_study.data import FERDataset, load_dataset
from fer_study.data.tensors import SplitTensors, augment, split_tensors, to_float
from fer_study.models import create_model
from fer_study.runs import (
    IDS_DIGEST,
    EpochCheckpoint,
    checkpoint_file,
    command_line,
    git_commit,
    ids_digest,
    load_checkpoint,
    load_model,
    load_weights,
    other_test_split,
    save_checkpoint,
    save_run,
    save_weights,
    weights_file,
)
from fer_study.train.config import TrainConfig
from fer_study.train.distill import DistillationLoss, load_teacher_targets, teacher_provenance
from fer_study.train.mixing import batch_mixer
from fer_study.train.optim import SCHEDULERS, build_optimizer, build_scheduler
from fer_study.train.tta import tta_views

EVAL_BATCH = 512


def resolved_precision(precision: str, device: torch.device) -> str:
    """What a ``TrainConfig.precision`` computes the forward pass in on ``device``: "bfloat16" (autocast)
    or "float32"."""
    return "bfloat16" if precision == "bfloat16" or (precision == "auto" and device.type == "cuda") else "float32"


def computes_in_bfloat16(precision: str, device: torch.device) -> bool:
    return resolved_precision(precision, device) == "bfloat16"


def cpu_has_bfloat16_arithmetic() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX or AVX512-BF16). Without it, autocast emulates
    bfloat16: on an AVX2-only machine ``python -m fer_study.bench train`` measured vgg_cpu at 5 images/s in
    bfloat16 against 67 in float32 (one thread), where an AMX machine trains 2-3x faster in bfloat16."""
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def warn_if_bfloat16_is_emulated(precision: str, device: torch.device) -> None:
    """A config written for a CPU with bfloat16 arithmetic would train an order of magnitude slower here:
    say so at the start, naming the setting, rather than let the run crawl unexplained."""
    if device.type == "cpu" and computes_in_bfloat16(precision, device) and not cpu_has_bfloat16_arithmetic():
        warnings.warn(f"precision {precision!r}: this CPU has no bfloat16 arithmetic (neither AMX nor "
                      "AVX512-BF16), so autocast emulates it, about 13x slower than float32; "
                      "`--set precision=float32` trains the recipe in float32 (recorded in the run's config)",
                      RuntimeWarning, stacklevel=2)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def train_step(model: nn.Module, images: torch.Tensor, targets: torch.Tensor,
               optimizer: torch.optim.Optimizer, loss_fn: nn.CrossEntropyLoss,
               progress: float, precision: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a float batch on the model's device; returns its (logits, loss).

    On CUDA the batch is channels-last. The forward pass runs in bfloat16 autocast where ``precision``
    (a ``TrainConfig.precision``) says so; the loss is computed in float32. A model with its
    own ``training_loss`` (EmoNeXt: label-smoothed cross-entropy plus the attention regulariser; ARBEx:
    reliability balancing) trains with that loss, every other model with ``loss_fn``. ``progress`` is the
    fraction of training done, which ARBEx's loss uses as its trust ramp.
    """
    device = images.device
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=computes_in_bfloat16(precision, device)):
        if hasattr(model, "training_loss"):
            options = _model_loss_options(model, loss_fn, progress)
            logits, loss = model.training_loss(images, targets, **options)
        else:
            logits = model(images)
            loss = loss_fn(logits.float(), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return logits, loss


def _model_loss_options(model: nn.Module, loss_fn: nn.CrossEntropyLoss, progress: float) -> dict:
    """The optional arguments of a model's own ``training_loss`` that the loop can give it."""
    offered = {"progress": progress, "class_weights": loss_fn.weight}
    accepted = inspect.signature(model.training_loss).parameters
    return {name: value for name, value in offered.items() if name in accepted}


def check_model_loss(model: nn.Module, config: TrainConfig) -> None:
    """A model's own loss takes hard labels and sets its own label smoothing: refuse what it would ignore."""
    if not hasattr(model, "training_loss"):
        return
    accepted = inspect.signature(model.training_loss).parameters
    ignored = [setting for setting, asked in (("label_mode 'soft'", config.label_mode == "soft"),
                                              ("distill_from", config.distill_from is not None),
                                              ("label_smoothing", config.label_smoothing > 0),
                                              ("mixing", config.mixing != "none"),
                                              ("class_weights", config.class_weights
                                               and "class_weights" not in accepted)) if asked]
    if ignored:
        raise ValueError(f"model {config.model!r} trains with its own training_loss, which would ignore "
                         f"{', '.join(ignored)}; set them through model_kwargs where the model has them")


def weight_average(model: nn.Module, config: TrainConfig) -> AveragedModel | None:
    """The exponential moving average of ``model``'s weights and BatchNorm statistics that
    ``config.ema_decay`` asks for, else ``None``."""
    if config.ema_decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)


def train_one_epoch(model: nn.Module, data: SplitTensors, config: TrainConfig, epoch: int,
                    optimizer: torch.optim.Optimizer, scheduler, loss_fn, device: torch.device,
                    average: AveragedModel | None = None, teacher: torch.Tensor | None = None) -> dict:
    """One pass over ``data``; with ``teacher`` (log-probabilities aligned with ``data``), ``loss_fn`` is a
    ``DistillationLoss`` and each batch's targets are ``(labels, teacher rows)``."""
    model.train()
    generator = epoch_generator(config.seed, epoch)
    torch.manual_seed(config.seed * 100_003 + epoch)  # dropout and other in-model randomness
    order = torch.randperm(len(data), generator=generator).to(device)
    mixer = batch_mixer(config.mixing, config.mixing_alpha)
    total_loss, correct, seen = 0.0, 0, 0
    batches = range(0, len(order) - config.batch_size + 1 if len(order) > config.batch_size else 1,
                    config.batch_size)
    for step, start in enumerate(tqdm(batches, desc=f"epoch {epoch + 1}", leave=False, disable=None)):
        index = order[start:start + config.batch_size]
        images = augment(to_float(data.images[index]), config.augment, generator)
        progress = (epoch + step / len(batches)) / config.epochs
        targets = data.targets[index] if teacher is None else (data.targets[index], teacher[index])
        if mixer is not None and torch.rand(1, generator=generator).item() < config.mixing_probability:
            images, targets = mixer(images, targets)
        logits, loss = train_step(model, images, targets, optimizer, loss_fn, progress, config.precision)
        if SCHEDULERS[config.scheduler] == "batch":
            scheduler.step()
        if average is not None and (epoch * len(batches) + step + 1) % config.ema_every == 0:
            average.update_parameters(model)
        total_loss += loss.item() * len(index)
        correct += (logits.argmax(1) == data.labels[index]).sum().item()
        seen += len(index)
    return {"train_loss": total_loss / seen, "train_accuracy": correct / seen}


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, tta: str = "none", crop: int = 40,
                   precision: str = "auto") -> np.ndarray:
    """Logits (N, 7) for uint8 images (N, 1, 48, 48), averaged over the TTA views, computed in the
    ``precision`` the model trained in."""
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    for start in range(0, len(images), EVAL_BATCH):
        batch = to_float(images[start:start + EVAL_BATCH].to(device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=computes_in_bfloat16(precision, device)):
            views = [model(view).float() for view in tta_views(batch, tta, crop)]
        outputs.append(torch.stack(views).mean(0).cpu())
    return torch.cat(outputs).numpy()


def training_model(model: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device`` in place (channels-last on CUDA, where convolutions run faster so) and
    return what the training steps call: ``model`` itself, or its ``torch.compile`` wrapper, which shares
    its parameters, when ``config.compile_model``."""
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return torch.compile(model) if config.compile_model else model


def _loss_function(config: TrainConfig, train: SplitTensors, device: torch.device) -> nn.Module:
    weight = None
    if config.class_weights:
        labels = train.labels.cpu().numpy()
        present = np.unique(labels)
        weights = np.ones(NUM_CLASSES)
        weights[present] = compute_class_weight("balanced", classes=present, y=labels)
        weight = torch.tensor(weights, dtype=torch.float32, device=device)
    loss = nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    if config.distill_from is not None:
        return DistillationLoss(loss, config.distill_temperature, config.distill_weight)
    return loss


def _initial_weights(model: nn.Module, parent: str, runs_dir: Path) -> None:
    """A fine-tuning stage starts from its parent run's weights, exactly those the parent's ``metrics.json``
    records (``fer_study.runs.load_model(verified=True)``)."""
    model.load_state_dict(load_model(parent, runs_dir, verified=True).state_dict())


def fit(config: TrainConfig, dataset: FERDataset | None = None, resume: bool = False,
        runs_dir: Path | None = None, stop_after_epochs: int | None = None,
        command: list[str] | None = None) -> Path | None:
    """Train, select on validation, evaluate val and test (with and without TTA), write the run folder.

    ``stop_after_epochs`` ends the process early (as a kill would) after that many epochs of this call,
    leaving the epoch checkpoint for ``resume``; it returns ``None`` then. ``command`` is the command line
    recorded as what produced the run (default: this process's ``sys.argv``).
    """
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    warn_if_bfloat16_is_emulated(config.precision, device)
    # The code that trains is the code at the start: record its commit now, not when the run ends.
    provenance = {"git_commit": git_commit(), "command": command_line(command), "cpu_model": cpu_model()}
    runs_dir = Path(runs_dir) if runs_dir is not None else paths.runs_dir_for(config.tier)
    dataset = dataset if dataset is not None else load_dataset(config.dataset)
    soft = config.label_mode == "soft"
    train = split_tensors(dataset, config.train_splits, device, soft=soft, limit=config.limit_train)
    val = split_tensors(dataset, ("val",), device)
    test = split_tensors(dataset, ("test",), device)
    # Scored on the test split of the run's dataset, and also on those of ``extra_test_datasets`` (FER+
    # runs on FER2013's PrivateTest, so they compare with FER2013 runs on the same images and labels).
    evaluated_splits = {"val": val, "test": test} | {
        other_test_split(name): split_tensors(load_dataset(name), ("test",), device)
        for name in config.extra_test_datasets}
    selects_on_val = "val" not in config.train_splits

    torch.manual_seed(config.seed)
    model = create_model(config.model, **config.model_kwargs)
    check_model_loss(model, config)
    if config.parent:
        _initial_weights(model, config.parent, runs_dir)
    trained = training_model(model, config, device)
    steps_per_epoch = max(1, len(train) // config.batch_size)
    optimizer = build_optimizer(config.optimizer, model, config.lr, config.weight_decay, config.momentum,
                                config.nesterov)
    scheduler = build_scheduler(config.scheduler, optimizer, config.lr, config.epochs, steps_per_epoch,
                                **config.scheduler_options)
    loss_fn = _loss_function(config, train, device)
    teacher = None
    if config.distill_from is not None:
        teacher = load_teacher_targets(paths.REPO_ROOT / config.distill_from, train.ids.astype(str)).to(device)
        provenance |= teacher_provenance(paths.REPO_ROOT / config.distill_from)
    average = weight_average(model, config)
    evaluated = average.module if average is not None else model  # the weights validation sees

    history: list[dict] = []
    best = {"val_accuracy": -1.0, "epoch": 0, "state": None}
    start_epoch, train_seconds = 0, 0.0
    checkpoint_path = checkpoint_file(config.tier, config.run_name)
    if resume and checkpoint_path.is_file():
        checkpoint = load_checkpoint(checkpoint_path, map_location=device)
        if checkpoint.config != config.to_dict():
            raise ValueError(f"{checkpoint_path}: saved with a different config; start a new run name or "
                             "delete the checkpoint")
        model.load_state_dict(checkpoint.model)
        optimizer.load_state_dict(checkpoint.optimizer)
        scheduler.load_state_dict(checkpoint.scheduler)
        if average is not None:
            average.load_state_dict(checkpoint.average)
        history, best, start_epoch = checkpoint.history, checkpoint.best, checkpoint.epoch
        train_seconds = checkpoint.train_seconds

    stale_epochs = 0 if not history else history[-1]["epoch"] - best["epoch"]
    # A run that had already stopped early when it was interrupted trains no further epoch on resume.
    stopped = config.early_stopping_patience is not None and stale_epochs >= config.early_stopping_patience
    for epoch in range(start_epoch, config.epochs if not stopped else start_epoch):
        if stop_after_epochs is not None and epoch - start_epoch >= stop_after_epochs:
            return None
        started = time.perf_counter()
        row = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
               **train_one_epoch(trained, train, config, epoch, optimizer, scheduler, loss_fn, device, average,
                                 teacher)}
        seconds = time.perf_counter() - started
        val_logits = predict_logits(evaluated, val.images, precision=config.precision)
        val_metrics = classification_metrics(val.labels.cpu().numpy(), val_logits)
        row.update({"val_loss": F.cross_entropy(torch.from_numpy(val_logits), val.labels.cpu()).item(),
                    "val_accuracy": val_metrics["accuracy"], "val_macro_f1": val_metrics["macro_f1"],
                    **{f"val_recall_{c}": val_metrics["per_class"][c]["recall"] for c in CLASS_NAMES},
                    "seconds": seconds})
        history.append(row)
        print(f"{config.run_name} epoch {epoch + 1}/{config.epochs}: train loss {row['train_loss']:.3f}, "
              f"val accuracy {row['val_accuracy']:.4f} ({seconds:.0f} s)", flush=True)
        train_seconds += seconds
        if SCHEDULERS[config.scheduler] == "epoch":
            scheduler.step()
        elif SCHEDULERS[config.scheduler] == "metric":
            scheduler.step(row["val_accuracy"])
        improved = row["val_accuracy"] > best["val_accuracy"] or not selects_on_val
        if improved:
            best = {"val_accuracy": row["val_accuracy"], "epoch": epoch + 1,
                    "state": copy.deepcopy(evaluated.state_dict())}
        stale_epochs = 0 if improved else stale_epochs + 1
        if epoch + 1 in config.snapshot_epochs:
            # Its weights now, its run folder at the end: the snapshot of the epoch the run selects is the run.
            save_weights(weights_file(config.tier, _snapshot_name(config, epoch + 1)), config.model,
                         config.model_kwargs, evaluated.state_dict())
        save_checkpoint(checkpoint_path, EpochCheckpoint(
            config=config.to_dict(), model=model.state_dict(), optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(), average=average.state_dict() if average is not None else None,
            history=history, best=best, epoch=epoch + 1, train_seconds=train_seconds))
        if config.early_stopping_patience is not None and stale_epochs >= config.early_stopping_patience:
            break

    if best["state"] is not None:  # None only with epochs: 0, which evaluates the weights as they are
        model.load_state_dict(best["state"])
    for epoch in [epoch for epoch in config.snapshot_epochs if epoch <= len(history)]:
        _write_snapshot_run(config, model, evaluated_splits, history, epoch, best["epoch"], runs_dir, provenance)
    return _write_run(config, model, evaluated_splits, pd.DataFrame(history), train_seconds, best["epoch"], device,
                      runs_dir, config.run_name, provenance)


def _snapshot_name(config: TrainConfig, epoch: int) -> str:
    return f"{config.run_name}_snap{epoch:03d}"


def _write_snapshot_run(config: TrainConfig, model: nn.Module, splits: dict[str, SplitTensors],
                        history: list[dict], epoch: int, selected_epoch: int, runs_dir: Path,
                        provenance: dict) -> None:
    """The weights saved at snapshot ``epoch`` become their own run, named after and parented by the run, unless
    ``epoch`` is the run's selected epoch: that run would repeat the run's weights and predictions, and the
    snapshot ensemble takes the run in its place (``fer_study.runs.snapshots_of``)."""
    weights = weights_file(config.tier, _snapshot_name(config, epoch))
    if epoch == selected_epoch:
        weights.unlink(missing_ok=True)
        return
    snapshot = copy.deepcopy(model)
    snapshot.load_state_dict(load_weights(weights)[0])
    device = next(model.parameters()).device
    _write_run(config, snapshot, splits, pd.DataFrame(history[:epoch]), sum(row["seconds"] for row in history[:epoch]),
               epoch, device, runs_dir, _snapshot_name(config, epoch), provenance, snapshot_of=config.run_name)


def _write_run(config: TrainConfig, model: nn.Module, splits: dict[str, SplitTensors],
               history: pd.DataFrame, train_seconds: float, selected_epoch: int, device: torch.device,
               runs_dir: Path, name: str, provenance: dict, snapshot_of: str | None = None) -> Path:
    predictions: dict[str, np.ndarray] = {}
    results: dict[str, dict] = {}
    for split, data in splits.items():
        labels = data.labels.cpu().numpy()
        predictions[IDS_DIGEST.format(split=split)] = np.array(ids_digest(data.ids))
        predictions[f"{split}_labels"] = labels
        # Logits are stored in float16 (the tracked tree travels to GPU machines, 64 MiB a call) and every
        # metric is computed from the stored values, so it re-derives exactly from predictions.npz.
        predictions[f"{split}_logits"] = predict_logits(model, data.images, precision=config.precision).astype(
            np.float16)
        results[split] = classification_metrics(labels, predictions[f"{split}_logits"])
        if config.tta != "none":
            predictions[f"{split}_logits_tta"] = predict_logits(model, data.images, config.tta, config.tta_crop,
                                                                config.precision).astype(np.float16)
            results[f"{split}_tta"] = classification_metrics(labels, predictions[f"{split}_logits_tta"])
    # Weights live beside the training checkpoints, never in the run folder: a run folder is what git
    # tracks, and only the recognizer's weights are published into it (``fer_study.runs.publish_weights``).
    weights = save_weights(weights_file(config.tier, name), config.model, config.model_kwargs, model.state_dict())
    metrics = {
        "run": name, "model": config.model, "dataset": config.dataset, "label_mode": config.label_mode,
        "train_splits": list(config.train_splits), "tier": config.tier, "device": _device_name(device),
        "precision": resolved_precision(config.precision, device),
        "epochs": len(history), "selected_epoch": selected_epoch,
        "selection": "best validation accuracy" if "val" not in config.train_splits else "last epoch",
        "train_seconds": round(train_seconds, 1), "seed": config.seed,
        "params": sum(p.numel() for p in model.parameters()),
        "paper_model": bool(getattr(model, "paper_model", True)),
        "val_accuracy": results["val"]["accuracy"], "test_accuracy": results["test"]["accuracy"],
        "val_accuracy_tta": results.get("val_tta", {}).get("accuracy"),
        "test_accuracy_tta": results.get("test_tta", {}).get("accuracy"), "tta": config.tta,
        "macro_f1": results["test"]["macro_f1"], "macro_f1_tta": results.get("test_tta", {}).get("macro_f1"),
        "test_per_class": results["test"]["per_class"], "test_confusion": results["test"]["confusion"],
        **{f"{split}_accuracy{suffix}": results[f"{split}{suffix}"]["accuracy"]
           for split in splits if split not in ("val", "test") for suffix in ("", "_tta")
           if f"{split}{suffix}" in results},
        "parent": snapshot_of or config.parent, "snapshot_of": snapshot_of,
        "weights_bytes": weights.stat().st_size, "weights_sha256": file_sha256(weights),
        **provenance,
    }
    return save_run(Path(runs_dir) / name, config.to_dict(), metrics, history, predictions)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
