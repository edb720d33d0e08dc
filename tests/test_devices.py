"""One device rule for training, the recognizer and the generator."""

import pytest
import torch

from fer_study.core.devices import resolve_device


def test_auto_is_the_gpu_when_there_is_one_and_an_unavailable_or_unknown_device_is_a_clear_error():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device cuda asked for, but torch finds no CUDA GPU"):
            resolve_device("cuda")
