"""The training configuration: one frozen dataclass, saved with every checkpoint and run, and the recipe
files it is read from (``params/<tier>/runs/<recipe>.yaml``, each holding only what differs from its base
recipe or from the defaults here)."""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import yaml

from fer_study.core.constants import IMAGE_SIZE, SPLITS
from fer_study.data import list_datasets
from fer_study.data.tensors import AugmentConfig
from fer_study.models import check_model_kwargs, list_models
from fer_study.runs import RESULT_TIERS
from fer_study.train.mixing import MIXING
from fer_study.train.optim import OPTIMIZERS, SCHEDULER_OPTIONS, SCHEDULERS
from fer_study.train.tta import TTA_MODES

# "auto": bfloat16 autocast on CUDA, float32 on CPU (what the CPU runs before this setting used);
# "bfloat16": autocast on any device, several times faster on CPUs with AMX or AVX512-BF16;
# "float32": no autocast anywhere. Weights, optimizer state and the loss stay float32 in every case.
PRECISIONS = ("auto", "bfloat16", "float32")
LABEL_MODES = ("hard", "soft")
# Smoke runs only prove that code runs (their folders go to scratch/, paths.runs_dir_for).
TIERS = (*RESULT_TIERS, "smoke")
# The recipe key naming the recipe a file builds on: a file of the same folder, without ".yaml".
BASE_KEY = "base"


class InvalidSetting(ValueError):
    """A setting a recipe cannot have; ``setting`` names it, so an error can name the file that set it."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class TrainConfig:
    run_name: str
    model: str
    dataset: str = "fer2013"
    model_kwargs: dict = field(default_factory=dict)
    label_mode: str = "hard"  # one of LABEL_MODES: "hard" (majority labels) or "soft" (FER+ vote distributions)
    train_splits: tuple[str, ...] = ("train",)  # fine-tuning stages use ("train", "val") or ("val",)
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    scheduler: str = "onecycle"
    scheduler_options: dict = field(default_factory=dict)
    class_weights: bool = False
    label_smoothing: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    early_stopping_patience: int | None = None  # epochs without a better validation accuracy
    snapshot_epochs: tuple[int, ...] = ()  # 1-based epochs whose weights become their own runs
    tta: str = "flip"
    # Datasets whose test split the run is scored on besides its own (FER+ runs on "fer2013").
    extra_test_datasets: tuple[str, ...] = ()
    tta_crop: int = 40
    # Run whose weights initialise this one (fine-tuning stages); "{seed}" in it becomes the run's seed, so
    # each seed of a recipe starts from the same seed of its parent recipe (exp_base_seed{seed}).
    parent: str | None = None
    seed: int = 0
    tier: str = "cpu"
    device: str = "auto"
    limit_train: int | None = None  # first N training images only (smoke tier)
    num_threads: int | None = None
    precision: str = "auto"  # one of PRECISIONS
    # torch.compile for the training steps (the GPU engine; compiling costs tens of seconds up front and pays
    # off on long GPU runs). Weights, checkpoints and evaluation use the uncompiled module, so runs load alike.
    compile_model: bool = False
    # Exponential moving average of the weights (EmoNeXt's code: decay 0.99, updated every 16 steps):
    # when set, validation, selection, snapshots and the test use the averaged weights.
    ema_decay: float | None = None
    ema_every: int = 1
    # Knowledge distillation (fer_study/train/distill.py): a teacher-targets file, the temperature and the
    # weight of the distillation term (the label loss gets 1 - weight).
    distill_from: str | None = None
    distill_temperature: float = 4.0
    distill_weight: float = 0.5
    # Batch mixing (fer_study/train/mixing.py): "mixup" or "cutmix", its Beta(alpha, alpha) ratio, and the
    # share of batches mixed.
    mixing: str = "none"
    mixing_alpha: float = 1.0
    mixing_probability: float = 0.5

    def __post_init__(self) -> None:
        self._normalise()
        # Every setting is checked when the recipe is read, before any data is loaded or a run folder written.
        for setting, value, known in (("model", self.model, list_models()),
                                      ("dataset", self.dataset, list_datasets()),
                                      ("label_mode", self.label_mode, LABEL_MODES),
                                      ("optimizer", self.optimizer, OPTIMIZERS),
                                      ("scheduler", self.scheduler, tuple(SCHEDULERS)),
                                      ("tta", self.tta, TTA_MODES),
                                      ("precision", self.precision, PRECISIONS),
                                      ("mixing", self.mixing, tuple(MIXING)),
                                      ("tier", self.tier, TIERS)):
            if value not in known:
                raise InvalidSetting(setting, f"{setting} must be one of {', '.join(known)}, got {value!r}")
        for setting, values, known in (("train_splits", self.train_splits, SPLITS),
                                       ("extra_test_datasets", self.extra_test_datasets, list_datasets())):
            unknown = [value for value in values if value not in known]
            if unknown:
                raise InvalidSetting(setting, f"{setting} must be among {', '.join(known)}, got {unknown}")
        if not self.train_splits:
            raise InvalidSetting("train_splits", "train_splits names no split to train on")
        try:
            check_model_kwargs(self.model, self.model_kwargs)
        except (TypeError, ValueError) as error:
            raise InvalidSetting("model_kwargs", f"model_kwargs {self.model_kwargs} do not fit model "
                                                 f"{self.model!r}: {error}") from error
        # A misspelt option would otherwise leave its default in place without a word.
        unknown = sorted(set(self.scheduler_options) - set(SCHEDULER_OPTIONS[self.scheduler]))
        if unknown:
            raise InvalidSetting("scheduler_options",
                                 f"scheduler_options {unknown} are not options of the {self.scheduler!r} schedule; "
                                 f"it reads {', '.join(SCHEDULER_OPTIONS[self.scheduler]) or 'none'}")
        if self.device != "auto":
            try:
                torch.device(self.device)  # parsed only: the machine that trains the run may not be this one
            except RuntimeError as error:
                raise InvalidSetting("device", f"device must be auto or a torch device name, got "
                                               f"{self.device!r} ({error})") from error
        for setting, valid, expected in (
                ("epochs", self.epochs >= 0, "a number of epochs, 0 or more"),
                ("batch_size", self.batch_size >= 1, "a positive number of images"),
                ("lr", self.lr >= 0, "a learning rate, 0 or more (0: the weights stay as they are)"),
                ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
                ("weight_decay", self.weight_decay >= 0, "0 or more"),
                ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
                ("early_stopping_patience", self.early_stopping_patience is None or self.early_stopping_patience >= 1,
                 "null or a positive number of epochs"),
                ("snapshot_epochs", all(1 <= epoch <= self.epochs for epoch in self.snapshot_epochs),
                 f"epochs among 1..{self.epochs} (the run's epochs)"),
                ("tta_crop", 0 < self.tta_crop <= IMAGE_SIZE, f"a crop side in 1..{IMAGE_SIZE}"),
                ("limit_train", self.limit_train is None or self.limit_train >= 1, "null or a positive count"),
                ("num_threads", self.num_threads is None or self.num_threads >= 1, "null or a positive count"),
                ("ema_decay", self.ema_decay is None or 0 < self.ema_decay < 1, "between 0 and 1 (exclusive)"),
                ("ema_every", self.ema_every >= 1, "a positive number of steps"),
                ("distill_temperature", self.distill_temperature > 0, "positive"),
                ("distill_weight", 0 <= self.distill_weight <= 1, "in [0, 1]"),
                ("mixing_alpha", self.mixing_alpha > 0, "positive"),
                ("mixing_probability", 0 <= self.mixing_probability <= 1, "in [0, 1]"),
                ("augment", 0 <= self.augment.rotation_degrees <= 180 and 0 <= self.augment.scale < 1
                 and 0 <= self.augment.translate < 1 and 0 <= self.augment.erase_probability <= 1,
                 "rotation_degrees in [0, 180], scale and translate in [0, 1), erase_probability in [0, 1]")):
            if not valid:
                raise InvalidSetting(setting, f"{setting} must be {expected}, got {getattr(self, setting)!r}")
        if self.mixing != "none" and self.distill_from is not None:
            raise InvalidSetting("mixing", "mixing and distill_from cannot be combined: the teachers' targets are "
                                           "of the unmixed images")

    def to_dict(self) -> dict:
        """Plain YAML-safe values (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    def _normalise(self) -> None:
        """YAML's and ``to_dict``'s plain values as the fields' types, so a saved config builds the same one."""
        if isinstance(self.augment, dict):
            options = {f.name for f in fields(AugmentConfig)}
            unknown = sorted(set(self.augment) - options)
            if unknown:
                raise InvalidSetting("augment", f"augment options {unknown} are unknown; known: {sorted(options)}")
            object.__setattr__(self, "augment", AugmentConfig(**self.augment))
        for setting in ("train_splits", "snapshot_epochs", "extra_test_datasets"):
            object.__setattr__(self, setting, tuple(getattr(self, setting)))
        if self.parent is not None and "{seed}" in self.parent:
            object.__setattr__(self, "parent", self.parent.replace("{seed}", str(self.seed)))

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidSetting(unknown[0], f"unknown training settings {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: Path, **overrides) -> "TrainConfig":
        """The recipe in ``path`` over its bases (``read_recipe``), then ``overrides`` (the command line's)."""
        path = Path(path)
        settings, origins = read_recipe(path)
        try:
            return cls.from_dict({**settings, **overrides})
        except InvalidSetting as error:
            origin = origins.get(error.setting, path) if error.setting not in overrides else path
            inherited = "" if origin == path else f" (set in its base {origin})"
            raise ValueError(f"{path}: {error}{inherited}") from error
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from error


def read_recipe(path: Path) -> tuple[dict, dict[str, Path]]:
    """The settings of a recipe file over those of its base, and the file each setting comes from.

    ``base: <name>`` builds on ``<name>.yaml`` in the same folder, which may name a base of its own, so an
    experiment arm states only its factor. A setting given replaces the base's whole value (an ``augment:``
    mapping included), so a file reads as what it sets."""
    chain = [Path(path)]
    layers = []  # (file, its own settings), from ``path`` down to the last base
    while True:
        current = chain[-1]
        values = _read_settings(current)
        base = values.pop(BASE_KEY, None)
        layers.append((current, values))
        if base is None:
            break
        if not isinstance(base, str) or not base or Path(base).name != base:
            raise ValueError(f"{current}: {BASE_KEY} must name a recipe in the same folder (its file name "
                             f"without .yaml), got {base!r}")
        base_path = current.parent / f"{base}.yaml"
        if base_path in chain:
            cycle = " -> ".join(file.stem for file in [*chain, base_path])
            raise ValueError(f"{current}: {BASE_KEY} {base!r} makes a cycle of bases: {cycle}")
        if not base_path.is_file():
            raise ValueError(f"{current}: {BASE_KEY} {base!r} names no recipe: there is no {base_path}")
        chain.append(base_path)
    settings, origins = {}, {}
    for file, values in reversed(layers):
        settings |= values
        origins |= dict.fromkeys(values, file)
    return settings, origins


def _read_settings(path: Path) -> dict:
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read training config ({error})") from error
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of training settings")
    return values
