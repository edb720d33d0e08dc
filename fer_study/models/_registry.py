"""Model registry: every model is registered by name, with what it is (``ModelInfo``), and built only
through ``create_model``.

``model_info(name)`` answers what a summary needs (the paper, where to read it, the input side, whether it
is the paper's model or a scaled variant of one) from the registration alone, without building the model;
``tests/test_models.py`` checks it against each built instance.
"""

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    name: str
    paper: str | None  # the paper the architecture is from (a scaled variant: its paper model's); None: ours
    url: str | None  # where to read the paper (or the official code when that is the reference)
    input_size: int  # the side the model resizes or crops its 48x48 input to
    paper_model: bool  # whether its numbers may be compared with the paper's claims
    scaled_variant_of: str | None  # the registered paper model this one shrinks, if it is a scaled variant
    module: str  # the module that defines it (its docstring states the deviations from the paper)


_MODELS: dict[str, Callable[..., nn.Module]] = {}
_INFO: dict[str, ModelInfo] = {}


Builder = Callable[..., nn.Module]


def register_model(*, paper: str | None, url: str | None, input_size: int, paper_model: bool = True,
                   scaled_variant_of: str | None = None) -> Callable[[Builder], Builder]:
    """Decorator: register the builder under its function name, with its ``ModelInfo``; a second model with
    the same name is an error."""
    if scaled_variant_of is not None and paper_model:
        raise ValueError(f"a scaled variant of {scaled_variant_of!r} is not the paper's model (paper_model=False)")

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = builder
        _INFO[name] = ModelInfo(name, paper, url, input_size, paper_model, scaled_variant_of, builder.__module__)
        return builder

    return register


@contextmanager
def registered_for_now(builder: Callable[..., nn.Module], **info) -> Iterator[str]:
    """Register ``builder`` (``register_model``'s keywords) for the duration of a ``with`` block, then remove
    it: a fixture model that a test trains or times through the registry. Yields its name."""
    register_model(**info)(builder)
    try:
        yield builder.__name__
    finally:
        del _MODELS[builder.__name__], _INFO[builder.__name__]


def list_models() -> list[str]:
    return sorted(_MODELS)


def _check_registered(name: str) -> None:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}")


def model_info(name: str) -> ModelInfo:
    """What a registered model is, without building it."""
    _check_registered(name)
    return _INFO[name]


def parameter_count(name: str) -> int:
    """A registered model's parameters, counted on PyTorch's ``meta`` device: shapes without storage, so a
    137 M-parameter model is counted without allocating or initialising it."""
    with torch.device("meta"):
        return sum(parameter.numel() for parameter in create_model(name).parameters())


def check_model_kwargs(name: str, kwargs: dict) -> None:
    """Raise (``TypeError`` for a name the model does not take, ``ValueError`` for a value it refuses) when
    ``create_model(name, **kwargs)`` could not build, without allocating or loading anything: the builder's
    named arguments (weights to load) are checked by signature only, the rest by building on the ``meta``
    device (shapes without storage)."""
    _check_registered(name)
    builder = _MODELS[name]
    named = {parameter.name for parameter in inspect.signature(builder).parameters.values()
             if parameter.kind is not parameter.VAR_KEYWORD}
    overrides = {key: value for key, value in kwargs.items() if key not in named}
    if overrides:
        with torch.device("meta"):
            builder(**overrides)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model. Every model maps (N, 1, 48, 48) floats in [0, 1] to (N, 7) logits."""
    _check_registered(name)
    return _MODELS[name](**kwargs)
