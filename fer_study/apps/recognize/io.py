"""Inputs of the recognizer: image files of any mode, arrays, videos and cameras, folders, box files.

Every input that cannot be read raises ``InputError``, whose message goes into that input's JSON line.
"""

import json
import warnings
from collections.abc import Iterator, Sequence
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Decoding costs 3 bytes per pixel; 100 megapixels (300 MB) covers every camera sensor while larger
# images (e.g. 20000x20000, 1.2 GB decoded) are refused from their header, before decoding.
MAX_IMAGE_PIXELS = 100_000_000
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})


class InputError(ValueError):
    """An input that cannot be read as an image or a video; the message goes into its JSON line."""


def read_image(source: str | Path | bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file (its path, or its bytes as uploaded) to BGR uint8, refusing it from its header
    when it has over ``max_pixels``.

    Any mode is accepted (gray, RGBA, palette, CMYK, 16-bit); EXIF orientation is applied as cameras
    intend. Raises ``InputError`` for empty, unknown, truncated, corrupt or oversized files.
    """
    if isinstance(source, bytes):
        if not source:
            raise InputError("empty file")
        opened = BytesIO(source)
    else:
        opened = Path(source)
        if opened.stat().st_size == 0:
            raise InputError("empty file")
    # Pillow's own decompression-bomb guard warns below our limit; ours is the one that applies.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(opened)  # reads the header only
        except Image.DecompressionBombError as error:
            raise InputError(f"image too large: over {max_pixels} pixels ({error})") from error
        except UnidentifiedImageError as error:
            raise InputError("not an image (unrecognised format)") from error
    with image:
        if image.width * image.height > max_pixels:
            raise InputError(f"image too large: {image.width}x{image.height} pixels (limit {max_pixels})")
        try:
            return _pil_to_bgr(ImageOps.exif_transpose(image))
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise InputError(f"cannot decode image: {error}") from error


def _pil_to_bgr(image: Image.Image) -> np.ndarray:
    if image.mode.startswith("I"):  # 16- or 32-bit integer gray: as_bgr scales it to 8 bits
        return as_bgr(np.asarray(image))
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Bring an array to BGR uint8: gray (H, W) or (H, W, 1), BGR, BGRA; 8-bit, 16-bit or float in [0, 1]."""
    image = np.asarray(image)
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        image = np.rint(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    elif image.dtype != np.uint8:  # wider integers are taken as 16-bit, the depth images are stored in
        image = np.rint(np.clip(image, 0, 65535) / 257).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise InputError(f"expected a gray, BGR or BGRA image, got an array of shape {image.shape}")


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def open_video(source: str | Path | int) -> cv2.VideoCapture:
    """A video file or, for an int, a camera; ``InputError`` when it cannot be opened."""
    capture = cv2.VideoCapture(source if isinstance(source, int) else str(source))
    if not capture.isOpened():
        raise InputError("cannot open video")
    return capture


def video_frames(capture: cv2.VideoCapture, frame_step: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, seconds, BGR frame)`` for every ``frame_step``-th frame until the stream ends."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            if index == 0:
                raise InputError("video has no decodable frame")
            return
        if index % frame_step == 0:
            yield index, (index / fps if fps > 0 else 0.0), frame
        index += 1


def expand_inputs(arguments: Sequence[Path]) -> list[Path]:
    """Files as given; folders replaced by their files (recursively, sorted, hidden ones skipped)."""
    inputs = []
    for argument in arguments:
        if argument.is_dir():
            inputs += sorted(path for path in argument.rglob("*") if path.is_file()
                             and not any(part.startswith(".") for part in path.relative_to(argument).parts))
        else:
            inputs.append(argument)
    return inputs


def read_boxes_file(path: Path) -> list[tuple[Path, list]]:
    """``(image path, boxes)`` per line of a JSON-lines file of ``{"path": ..., "boxes": [[x, y, w, h], ...]}``.

    Relative image paths are taken from the current folder, as command-line paths are. The boxes are
    returned as given: each one is checked against its image when that image is read
    (``fer_study.apps.recognize.detectors.given_detections``), so that one bad box fails only its own face.
    A line that is not such an object is an ``InputError`` naming the file and the line.
    """
    entries = []
    with open(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{where}: not JSON ({error})") from error
            if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                    and isinstance(entry.get("boxes"), list)):
                raise InputError(f'{where}: expected {{"path": "image.jpg", "boxes": [[x, y, w, h], ...]}}, '
                                 f"got {line.strip()[:200]}")
            entries.append((Path(entry["path"]), entry["boxes"]))
    return entries
