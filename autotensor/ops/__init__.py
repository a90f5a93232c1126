"""The primitives: the only place where derivatives are written by hand.

Every class here is a `Function` with `takes_arrays = True` (forward on ndarrays, backward in
Tensor ops so it is differentiable again) and a `sample_inputs` the tests check it from.
"""

from autotensor.ops.activation import Gelu
from autotensor.ops.attention import ScaledDotProductAttention
from autotensor.ops.conv import Col2Im, Conv2d, Im2Col, MaxPool2d, WindowGather, WindowScatter
from autotensor.ops.decomp import (
    LinalgCholesky,
    LinalgDet,
    LinalgEigh,
    LinalgInv,
    LinalgPinv,
    LinalgQr,
    LinalgSlogdet,
    LinalgSolve,
    LinalgSolveTriangular,
    LinalgSvd,
)
from autotensor.ops.elementwise import (
    Abs,
    Add,
    Cast,
    Ceil,
    Clamp,
    Clone,
    Cos,
    Div,
    Erf,
    Exp,
    Floor,
    FloorDivide,
    Log,
    Log1p,
    Maximum,
    Minimum,
    Mul,
    Neg,
    Pow,
    ReLU,
    Remainder,
    Round,
    Rsqrt,
    Sigmoid,
    Sign,
    Sin,
    Sqrt,
    Sub,
    Tanh,
    Trunc,
    Where,
)  # fmt: skip
from autotensor.ops.gamma import (
    I0,
    I1,
    Copysign,
    Digamma,
    Entr,
    Erfc,
    Erfcx,
    Heaviside,
    I0e,
    I1e,
    Lgamma,
    Logaddexp,
    Logaddexp2,
    Logit,
    Ndtri,
    Nextafter,
    Polygamma,
    Sinc,
    Xlog1py,
    Xlogy,
)
from autotensor.ops.inplace import CopySlices
from autotensor.ops.linalg import Linear, MatMul
from autotensor.ops.loss import BinaryCrossEntropy, CrossEntropy, MseLoss
from autotensor.ops.movement import (
    BroadcastTo,
    Cat,
    Flip,
    Gather,
    GetItem,
    IndexAccumulate,
    IndexPut,
    Pad,
    Permute,
    Reshape,
    Roll,
    ScatterAdd,
    Split,
    Unfold,
    UnfoldBackward,
)  # fmt: skip
from autotensor.ops.normalization import LayerNorm
from autotensor.ops.reduce import Amax, Amin, Cumsum, LogSoftmax, MaxDim, MinDim, Prod, Softmax, Sum
from autotensor.ops.scan import Cumprod
from autotensor.ops.special import (
    Acos,
    Acosh,
    Asin,
    Asinh,
    Atan,
    Atan2,
    Atanh,
    Cosh,
    Erfinv,
    Exp2,
    Expm1,
    Log2,
    Log10,
    Sinh,
    Tan,
)

__all__ = [
    "Abs", "Add", "Amax", "Amin", "BroadcastTo", "Cast", "Cat", "Ceil", "Clamp", "Clone", "Col2Im",
    "Conv2d", "Cos", "Cumsum", "Div", "Erf", "Exp", "Flip", "Floor", "FloorDivide", "Gather",
    "GetItem", "Im2Col", "IndexAccumulate", "IndexPut", "Linear", "Log", "Log1p", "LogSoftmax",
    "MatMul", "MaxDim", "MaxPool2d", "Maximum", "MinDim", "Minimum", "MseLoss", "Mul", "Neg",
    "Pad", "Permute", "Pow", "Prod", "ReLU", "Remainder", "Reshape", "Round", "Rsqrt",
    "ScaledDotProductAttention",
    "ScatterAdd", "Sigmoid", "Sign", "Sin", "Softmax", "Split", "Sqrt", "Sub", "Sum", "Tanh",
    "Trunc", "Where", "WindowGather", "WindowScatter",
]  # fmt: skip
__all__ += ["Atan2", "Cumprod", "Erfinv"]  # ops/scan.py, ops/special.py
__all__ += ["Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cosh", "Exp2", "Expm1", "Log2",
            "Log10", "Sinh", "Tan"]  # ops/special.py  # fmt: skip
__all__ += ["CopySlices"]  # ops/inplace.py
__all__ += ["Roll", "Unfold", "UnfoldBackward"]  # ops/movement.py
__all__ += ["BinaryCrossEntropy", "CrossEntropy"]  # ops/loss.py
__all__ += ["Gelu", "LayerNorm"]  # ops/activation.py, ops/normalization.py
__all__ += ["LinalgCholesky", "LinalgDet", "LinalgEigh", "LinalgInv", "LinalgPinv", "LinalgQr",
            "LinalgSlogdet", "LinalgSolve", "LinalgSolveTriangular",
            "LinalgSvd"]  # ops/decomp.py  # fmt: skip
__all__ += ["Copysign", "Digamma", "Entr", "Erfc", "Erfcx", "Heaviside", "I0", "I0e", "I1",
            "I1e", "Lgamma", "Logaddexp", "Logaddexp2", "Logit", "Ndtri", "Nextafter",
            "Polygamma", "Sinc", "Xlog1py", "Xlogy"]  # ops/gamma.py  # fmt: skip
