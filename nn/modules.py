"""torch.nn.modules' place: the layer classes, the same objects `nn` exports, and the
submodules scripts name them through (`torch.nn.modules.conv.Conv2d`,
`from torch.nn.modules.activation import ReLU`)."""

import importlib as _importlib
import sys as _sys

import nn as _nn

globals().update(
    {k: v for k, v in vars(_nn).items() if isinstance(v, type) and not k.startswith("_")}
)

# torch's submodule name -> the nn module that holds those classes here. Each is entered in
# sys.modules under nn.modules.<name> too, so that `import nn.modules.conv` finds it.
_SUBMODULES = {
    "module": "nn.module",
    "container": "nn.container",
    "linear": "nn.linear",
    "activation": "nn.activation",
    "conv": "nn.conv",
    "pooling": "nn.pooling",
    "dropout": "nn.dropout",
    "sparse": "nn.sparse",
    "rnn": "nn.recurrent",
    "normalization": "nn.normalization",
    "batchnorm": "nn.normalization",
    "instancenorm": "nn.normalization",
    "padding": "nn.padding",
    "upsampling": "nn.upsampling",
    "transformer": "nn.transformer",
    "flatten": "nn.flatten",
    "loss": "nn.loss",
    "pixelshuffle": "nn.pixelshuffle",
}
for _name, _real in _SUBMODULES.items():
    try:
        _mod = _importlib.import_module(_real)
    except ImportError:  # a layer family not present in this build
        continue
    globals()[_name] = _mod
    _sys.modules.setdefault(f"{__name__}.{_name}", _mod)
