"""Training engine: config, loop (fit / train_one_epoch / predict_logits), optimizers, schedulers, TTA."""

from fer_study.train.config import TrainConfig
from fer_study.train.loop import fit, predict_logits

__all__ = ["TrainConfig", "fit", "predict_logits"]
