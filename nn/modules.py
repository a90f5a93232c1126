"""torch.nn.modules' place: the layer classes, the same objects `nn` exports."""

import nn as _nn

globals().update(
    {k: v for k, v in vars(_nn).items() if isinstance(v, type) and not k.startswith("_")}
)
