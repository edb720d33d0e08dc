"""Optimizers and learning-rate schedules of the report and the papers, built by name."""

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adam", "adamw", "radam", "ranger_adabelief")
# How often each schedule steps: per batch, per epoch, or per epoch on a validation metric.
SCHEDULERS = {"none": "epoch", "onecycle": "batch", "cosine": "batch", "cyclic": "batch",
              "cosine_warm_restarts": "epoch", "plateau": "metric"}
# The options each schedule reads from a recipe's scheduler_options (build_scheduler), each with a default.
SCHEDULER_OPTIONS = {"none": (), "onecycle": ("pct_start",), "cosine": (),
                     "cyclic": ("base_lr", "step_size_up", "cycle_momentum"),
                     "cosine_warm_restarts": ("t0", "t_mult"), "plateau": ("factor", "patience")}


def build_optimizer(name: str, model: nn.Module, lr: float, weight_decay: float, momentum: float = 0.9,
                    nesterov: bool = False) -> torch.optim.Optimizer:
    params = model.parameters()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "radam":
        return torch.optim.RAdam(params, lr=lr, weight_decay=weight_decay)
    if name == "ranger_adabelief":
        # Ranger = RAdam-style rectification + Lookahead; here over AdaBelief, as the report uses it. Imported
        # here: only this optimizer needs the package, and the GPU machine of the full tier may lack it.
        from pytorch_optimizer import AdaBelief, Lookahead

        return Lookahead(AdaBelief(params, lr=lr, weight_decay=weight_decay, rectify=True), k=5, alpha=0.5)
    raise ValueError(f"optimizer {name!r} unknown; expected one of {OPTIMIZERS}")


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, lr: float, epochs: int, steps_per_epoch: int,
                    **options) -> torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau:
    total_steps = max(1, epochs * steps_per_epoch)  # epochs: 0 evaluates only, yet builds a schedule
    if name == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps,
                                                   pct_start=options.get("pct_start", 0.25))
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if name == "cyclic":
        return torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr=options.get("base_lr", lr / 10), max_lr=lr,
                                                 step_size_up=options.get("step_size_up", 2 * steps_per_epoch),
                                                 cycle_momentum=options.get("cycle_momentum", False))
    if name == "cosine_warm_restarts":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=options.get("t0", 10),
                                                                    T_mult=options.get("t_mult", 1))
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=options.get("factor", 0.1),
                                                          patience=options.get("patience", 5))
    raise ValueError(f"scheduler {name!r} unknown; expected one of {sorted(SCHEDULERS)}")
