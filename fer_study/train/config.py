"""The training configuration: one frozen dataclass, saved with every checkpoint and run."""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from fer_study.data.tensors import AugmentConfig
from fer_study.train.mixing import MIXING
from fer_study.train.optim import OPTIMIZERS, SCHEDULER_OPTIONS, SCHEDULERS
from fer_study.train.tta import TTA_MODES

# "auto": bfloat16 autocast on CUDA, float32 on CPU (what the CPU runs before this setting used);
# "bfloat16": autocast on any device, several times faster on CPUs with AMX or AVX512-BF16;
# "float32": no autocast anywhere. Weights, optimizer state and the loss stay float32 in every case.
PRECISIONS = ("auto", "bfloat16", "float32")
LABEL_MODES = ("hard", "soft")


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
        # Every name is checked when the recipe is read, before any data is loaded or a run folder written.
        for setting, value, known in (("label_mode", self.label_mode, LABEL_MODES),
                                      ("optimizer", self.optimizer, OPTIMIZERS),
                                      ("scheduler", self.scheduler, tuple(SCHEDULERS)),
                                      ("tta", self.tta, TTA_MODES)):
            if value not in known:
                raise ValueError(f"{setting} must be one of {', '.join(known)}, got {value!r}")
        # A misspelt option would otherwise leave its default in place without a word.
        unknown = sorted(set(self.scheduler_options) - set(SCHEDULER_OPTIONS[self.scheduler]))
        if unknown:
            raise ValueError(f"scheduler_options {unknown} are not options of the {self.scheduler!r} schedule; "
                             f"it reads {', '.join(SCHEDULER_OPTIONS[self.scheduler]) or 'none'}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be between 0 and 1 (exclusive), got {self.ema_decay!r}")
        if self.distill_temperature <= 0 or not 0 <= self.distill_weight <= 1:
            raise ValueError(f"distill_temperature must be positive and distill_weight in [0, 1], got "
                             f"{self.distill_temperature!r} and {self.distill_weight!r}")
        if self.mixing not in MIXING:
            raise ValueError(f"mixing must be one of {', '.join(MIXING)}, got {self.mixing!r}")
        if self.mixing_alpha <= 0 or not 0 <= self.mixing_probability <= 1:
            raise ValueError(f"mixing_alpha must be positive and mixing_probability in [0, 1], got "
                             f"{self.mixing_alpha!r} and {self.mixing_probability!r}")
        if self.mixing != "none" and self.distill_from is not None:
            raise ValueError("mixing and distill_from cannot be combined: the teachers' targets are of the "
                             "unmixed images")
        if self.ema_every < 1:
            raise ValueError(f"ema_every must be a positive number of steps, got {self.ema_every!r}")

    def to_dict(self) -> dict:
        """Plain YAML-safe values (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training settings {sorted(unknown)}; known: {sorted(known)}")
        values = dict(values)
        if isinstance(values.get("augment"), dict):
            values["augment"] = AugmentConfig(**values["augment"])
        for key in ("train_splits", "snapshot_epochs", "extra_test_datasets"):
            if key in values:
                values[key] = tuple(values[key])
        if isinstance(values.get("parent"), str) and "{seed}" in values["parent"]:
            values["parent"] = values["parent"].replace("{seed}", str(values.get("seed", cls.seed)))
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: Path, **overrides) -> "TrainConfig":
        try:
            values = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"{path}: cannot read training config ({error})") from error
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of training settings")
        try:
            return cls.from_dict({**values, **overrides})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from error
