"""fer-study: a reproducible study of facial emotion recognition on FER2013 and FER+, and the library behind it.

``from fer_study import Recognizer`` is the recognizer's Python interface (``fer_study.apps.recognize``); it is
imported on first use, so that ``import fer_study.<module>`` does not load torch and OpenCV for it.
"""

_LAZY = {"Recognizer": "fer_study.apps.recognize", "Face": "fer_study.apps.recognize"}


def __getattr__(name: str):
    """PEP 562: ``fer_study.Recognizer`` imports ``fer_study.apps.recognize`` when first asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fer_study' has no attribute {name!r}")


__all__ = ["Face", "Recognizer"]
