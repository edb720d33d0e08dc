"""``python -m fer_study.apps.sweep CONFIG_OR_GLOB... [--out DIR] [--address ADDR] [--gpus-per-run F] [--force]
[--seeds 0,1,2] [--time-budget SECONDS] [--executor ray|local] [--with-weights] [--pack DIR]``

Trains every config (files or globs, e.g. 'params/cpu/runs/*.yaml') as one run each, in the order given,
on an embedded local Ray (default), the Ray cluster at --address, or local processes (--executor local,
for one machine without Ray). Run folders go to --out, by default each run's tier folder (results/runs/,
smoke runs to scratch/runs/). Complete runs with the identical config are skipped, interrupted ones
resume from their checkpoints, complete ones with another config are refused unless --force.
Exit code 1 when a run failed or was refused.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from fer_study.apps.sweep.driver import REFUSED, plan_runs, run_sweep, summary_text
from fer_study.apps.sweep.transfer import pack_folders
from fer_study.apps.sweep.worker import FAILED


def _seeds(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--seeds expects comma-separated integers, got {text!r}") from error


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_study.apps.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", metavar="CONFIG_OR_GLOB", help="training config files or globs")
    parser.add_argument("--out", type=Path, help="folder for the run folders (default: each run's tier folder)")
    parser.add_argument("--executor", choices=("ray", "local"), default="ray",
                        help="ray (default: embedded local Ray, or --address) or local processes")
    parser.add_argument("--address", help="join this Ray cluster (e.g. 10.0.0.1:6379, or 'auto' on a node of "
                                          "one) instead of starting a local Ray")
    parser.add_argument("--cpus", type=int, help="CPU threads to use on this machine (default: all cores)")
    parser.add_argument("--gpus-per-run", type=float,
                        help="each run's share of a GPU, e.g. 0.25 packs four runs on one GPU (default: one "
                             "GPU per run when there are GPUs)")
    parser.add_argument("--force", action="store_true", help="replace complete runs whose config differs")
    parser.add_argument("--seeds", type=_seeds, help="train each config with these seeds, as <stem>_seed<N>")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS",
                        help="start no run whose estimated cost does not fit the time left; stop the running "
                             "ones when it is spent (their checkpoints stay)")
    parser.add_argument("--costs", type=Path, help="cost estimates (default: params/<tier>/costs.yaml if there)")
    parser.add_argument("--with-weights", action="store_true",
                        help="also bring back each run's weights to checkpoints/<run>/model.pt here")
    parser.add_argument("--pack", type=Path, metavar="DIR",
                        help="pack the run folders trained now into at most 8 archives in DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.address and args.executor != "ray":
        print("error: --address joins a Ray cluster; it needs --executor ray", file=sys.stderr)
        return 2
    try:
        plans = plan_runs(args.configs, args.out, args.seeds, args.force, args.costs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for plan in plans:
        estimate = "" if plan.estimate_minutes is None else f", estimated {plan.estimate_minutes:.1f} min"
        print(f"{plan.name}: {plan.action} ({plan.reason}{estimate}) -> {plan.folder}", flush=True)
    if args.executor == "ray":
        from fer_study.apps.sweep.executors import RayExecutor

        try:
            executor = RayExecutor(args.address, args.cpus)
        except ConnectionError as error:
            print(f"error: {error}; a cluster started by `ray start --head` also needs RAY_AUTH_MODE=token and "
                  "RAY_AUTH_TOKEN (its `ray get-auth-token`) here (see the README)", file=sys.stderr)
            return 2
    else:
        from fer_study.apps.sweep.executors import LocalExecutor

        executor = LocalExecutor(args.cpus)
    try:
        outcomes = run_sweep(plans, executor, list(sys.argv), args.gpus_per_run, args.time_budget,
                             args.with_weights)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        executor.close()
    print(summary_text(outcomes))
    if args.pack is not None:
        written = [folder for outcome in outcomes for folder in outcome.written]
        archives = pack_folders(written, args.pack)
        print(f"packed {len(written)} run folders into {', '.join(str(a) for a in archives)}")
    bad = [o for o in outcomes if o.status in (FAILED, REFUSED)]
    counts = pd.Series([o.status for o in outcomes]).value_counts().to_dict()
    print(f"{len(outcomes)} runs: " + ", ".join(f"{n} {status}" for status, n in counts.items())
          + ("" if not bad else f"; failed or refused: {', '.join(o.name for o in bad)}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
