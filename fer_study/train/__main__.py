"""``python -m fer_study.train CONFIG.yaml [--resume] [--set key=value ...]``: one training run.

The run is named after the config file's stem (``--set run_name=...`` renames it); ``--seed N`` trains
the same recipe with seed N as the run ``<stem>_seed<N>`` (``fer_study.runs.recipe_and_seed``). It is
written to ``results/runs/<run_name>/``, its weights and epoch checkpoints to ``checkpoints/<run_name>/``
(smoke-tier runs to the git-ignored ``scratch/``, so they never mix with results).
"""

import argparse
import sys
from pathlib import Path

import yaml

from fer_study.runs import seed_run_name
from fer_study.train.config import TrainConfig
from fer_study.train.loop import fit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_study.train", description=__doc__)
    parser.add_argument("config", type=Path, help="training config YAML, e.g. params/cpu/runs/vgg_cpu.yaml")
    parser.add_argument("--resume", action="store_true", help="continue from checkpoints/<run>/last.pt")
    parser.add_argument("--seed", type=int, help="train the recipe with this seed, as the run <stem>_seed<N>")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting (value parsed as YAML)")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    if args.seed is not None:
        if "seed" in overrides or "run_name" in overrides:
            parser.error("--seed names the run <stem>_seed<N>: do not combine it with --set seed/run_name")
        overrides.update(seed=args.seed, run_name=seed_run_name(args.config.stem, args.seed))
    overrides.setdefault("run_name", args.config.stem)
    try:
        config = TrainConfig.from_yaml(args.config, **overrides)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_dir = fit(config, resume=args.resume)
    print(f"run written to {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
