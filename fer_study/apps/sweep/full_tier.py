"""The full tier (``params/full/runs/``, the papers' recipes) on one lent GPU machine.

- ``python -m fer_study.apps.sweep.full_tier run [--time-budget SECONDS] [--pack DIR] [--gpus-per-run F]``:
  the sweep over the full-tier configs in the costs file's order (most valuable first), as local
  processes packed on the GPU (the lent machine has no Ray and no package registry), starting no run that
  cannot finish in the time left, stopping the running ones when it is spent (their epoch checkpoints
  stay on the machine, which keeps ignored folders while it is warm, so the next call resumes them), and
  packing the run folders it trained into at most 8 archives in DIR (``$OUT`` on the device: ``make
  full-tier``). ``--configs 'params/cpu/runs/exp_*.yaml' --seeds 0,1,2`` runs the research questions'
  experiment matrix the same way (runs already committed are skipped).
- ``python -m fer_study.apps.sweep.full_tier costs [--achieved-tflops X] [--basis TEXT]``: writes
  ``params/full/costs.yaml`` (``fer_study.apps.sweep.costs``).
- ``python -m fer_study.apps.sweep.full_tier unpack ARCHIVE... [--out DIR]``: the returned archives' run folders
  into ``results/runs/`` (each folder whole or not at all).
"""

import argparse
import sys
from pathlib import Path

from fer_study.apps.sweep import __main__ as sweep_cli
from fer_study.apps.sweep.costs import (
    ASSUMED_PEAK_SHARE,
    ASSUMED_STEP_OVERHEAD_MS,
    DEFAULT_COSTS_FILE,
    H200_BF16_DENSE_TFLOPS,
    estimate_costs,
    read_costs,
    write_costs,
)
from fer_study.apps.sweep.driver import expand_config_paths
from fer_study.apps.sweep.transfer import unpack_folders
from fer_study.core import paths
from fer_study.runs import command_line

FULL_CONFIGS = str(paths.PARAMS_DIR / "full" / "runs" / "*.yaml")
# One device call runs at most 10 minutes; the issue sizes `make full-tier` to a 9-minute command. The
# budget leaves time for starting, loading the data, the workers' stop grace and packing.
DEFAULT_TIME_BUDGET = 450.0
# Four runs to the GPU: the full-tier models at batch 16-64 use a small share of an H200 each.
DEFAULT_GPUS_PER_RUN = 0.25
ESTIMATE_BASIS = ("estimate: achieved TFLOP/s and step overhead assumed (fer_study/apps/sweep/costs.py), not yet "
                  "measured on a GPU")


def ordered_configs(patterns: list[str], costs_file: Path) -> list[Path]:
    """The configs in the costs file's order; configs it does not list come last, in their own order."""
    found = {path.stem: path for path in expand_config_paths(patterns)}
    ranked = [row["run"] for row in read_costs(costs_file) if row["run"] in found]
    return [found[name] for name in ranked] + [path for name, path in found.items() if name not in ranked]


def run(args: argparse.Namespace) -> int:
    configs = ordered_configs(args.configs, args.costs)
    argv = [*map(str, configs), "--executor", "local", "--costs", str(args.costs),
            "--gpus-per-run", str(args.gpus_per_run), "--time-budget", str(args.time_budget)]
    for flag, value in (("--out", args.out), ("--pack", args.pack), ("--cpus", args.cpus), ("--seeds", args.seeds)):
        if value is not None:
            argv += [flag, str(value)]
    return sweep_cli.main(argv)


def costs(args: argparse.Namespace) -> int:
    rows = estimate_costs(expand_config_paths(args.configs), args.achieved_tflops, args.step_overhead_ms)
    path = write_costs(args.out, rows, args.achieved_tflops, args.step_overhead_ms, args.basis, command_line())
    total = sum(row["gpu_minutes"] for row in rows)
    print(f"{path}: {len(rows)} runs, {total:.0f} estimated GPU-minutes in all ({args.basis})")
    for row in rows:
        print(f"  {row['run']:<32} {row['gpu_minutes']:>9.1f} min")
    return 0


def unpack(args: argparse.Namespace) -> int:
    for folder in unpack_folders(args.archives, args.out):
        print(f"wrote {folder}")
    return 0


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_study.apps.sweep.full_tier", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train what fits in the time budget, pack the run folders")
    run_parser.add_argument("--configs", nargs="+", default=[FULL_CONFIGS], help="default params/full/runs/*.yaml")
    run_parser.add_argument("--costs", type=Path, default=DEFAULT_COSTS_FILE)
    run_parser.add_argument("--time-budget", type=float, default=DEFAULT_TIME_BUDGET, metavar="SECONDS")
    run_parser.add_argument("--gpus-per-run", type=float, default=DEFAULT_GPUS_PER_RUN)
    run_parser.add_argument("--cpus", type=int, help="CPU threads to use (default: all cores)")
    run_parser.add_argument("--seeds", help="comma-separated seeds: each config as <stem>_seed<N> (the experiment "
                                            "matrix: --configs 'params/cpu/runs/exp_*.yaml' --seeds 0,1,2)")
    run_parser.add_argument("--out", type=Path, help="run folders (default: each run's tier folder)")
    run_parser.add_argument("--pack", type=Path, metavar="DIR", help="pack the trained run folders here ($OUT)")
    run_parser.set_defaults(handler=run)
    costs_parser = commands.add_parser("costs", help="write the cost estimates")
    costs_parser.add_argument("--configs", nargs="+", default=[FULL_CONFIGS], help="default params/full/runs/*.yaml")
    costs_parser.add_argument("--achieved-tflops", type=float, default=H200_BF16_DENSE_TFLOPS * ASSUMED_PEAK_SHARE)
    costs_parser.add_argument("--step-overhead-ms", type=float, default=ASSUMED_STEP_OVERHEAD_MS)
    costs_parser.add_argument("--basis", default=ESTIMATE_BASIS,
                              help="where the throughput comes from (say 'measured: <bench output>' once it is)")
    costs_parser.add_argument("--out", type=Path, default=DEFAULT_COSTS_FILE)
    costs_parser.set_defaults(handler=costs)
    unpack_parser = commands.add_parser("unpack", help="write the run folders of returned archives")
    unpack_parser.add_argument("archives", nargs="+", type=Path)
    unpack_parser.add_argument("--out", type=Path, default=paths.RUNS_DIR)
    unpack_parser.set_defaults(handler=unpack)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
