"""Decode one stored face into a 48x48 uint8 array, with errors that name the member."""

import cv2
import numpy as np

from fer_study.core.constants import IMAGE_SIZE


class ImageError(ValueError):
    """An image member that cannot be decoded or is not a 48x48 face."""


def decode_face(data: bytes, where: str) -> np.ndarray:
    """Decode JPEG/PNG bytes to (48, 48) uint8 gray; ``where`` names the file for the error message."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if pixels is None:
        raise ImageError(f"{where}: not a decodable image ({len(data)} bytes)")
    if pixels.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if pixels.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        pixels = cv2.cvtColor(pixels, code)
    if pixels.dtype != np.uint8:
        raise ImageError(f"{where}: expected 8-bit pixels, got {pixels.dtype}")
    if pixels.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ImageError(f"{where}: expected {IMAGE_SIZE}x{IMAGE_SIZE}, got {pixels.shape[1]}x{pixels.shape[0]}")
    return pixels
