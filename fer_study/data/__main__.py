"""``python -m fer_study.data [NAME ...]``: build (once) and validate the named caches; print their counts."""

import sys

from fer_study.data import cache_path, load_dataset


def main(argv: list[str] | None = None) -> int:
    names = (sys.argv[1:] if argv is None else argv) or ["fer2013", "ferplus"]
    for name in names:
        try:
            dataset = load_dataset(name)
        except (FileNotFoundError, ValueError, KeyError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{name}: {len(dataset)} images in {cache_path(name)}")
        print(dataset.counts().to_string(), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
