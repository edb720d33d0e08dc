"""``python -m fer_study.data [NAME ...]``: build (once) and validate the named caches; print their counts.

``python -m fer_study.data --record-faces``: run the deepface pass over FER2013 (``fer2013_f``/``fer2013_fa``)
and write the detector's outputs to ``results/faces/`` for committing; fresh checkouts then replay them.
"""

import sys

from fer_study.data import cache_path, load_dataset
from fer_study.data.variants import record_face_detections


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args == ["--record-faces"]:
            print(f"recorded: {record_face_detections()}")
            return 0
        for name in args or ["fer2013", "ferplus"]:
            dataset = load_dataset(name)
            print(f"{name}: {len(dataset)} images in {cache_path(name)}")
            print(dataset.counts().to_string(), end="\n\n")
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
