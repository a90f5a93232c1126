"""nn: PyTorch-style modules, losses, optimizers and data tools on autotensor.

import nn
import nn.functional as F
model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
loss = nn.CrossEntropyLoss()(model(x), y)
"""

# Note [imports]: one import per line, so that adding a layer family is a one-line change.
from nn.module import Module, Parameter  # noqa: I001
from nn.container import ModuleDict, ModuleList, Sequential
from nn.linear import Dense, Identity, Linear
from nn.activation import ELU, GELU, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, ReLU, ReLU6
from nn.activation import SELU, SiLU, Sigmoid, Softmax, Softplus, Tanh
from nn.activation import Mish, MultiheadAttention, PReLU
from nn.dropout import Dropout, Dropout1d, Dropout2d
from nn.sparse import Embedding
from nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from nn.normalization import GroupNorm, RMSNorm
from nn.normalization import InstanceNorm1d, InstanceNorm2d
from nn.padding import ConstantPad1d, ConstantPad2d, ZeroPad1d, ZeroPad2d
from nn.padding import CircularPad1d, CircularPad2d, ReflectionPad1d, ReflectionPad2d
from nn.padding import ReplicationPad1d, ReplicationPad2d
from nn.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from nn.transformer import Transformer, TransformerDecoder, TransformerDecoderLayer
from nn.transformer import TransformerEncoder, TransformerEncoderLayer
from nn.flatten import Flatten, Unflatten
from nn.pixelshuffle import PixelShuffle, PixelUnshuffle
from nn.parallel import DataParallel
from nn.conv import Conv1d, Conv2D, Conv2d, ConvTranspose1d, ConvTranspose2d
from nn.pooling import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d
from nn.pooling import MaxPool1d, MaxPool2d
from nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss
from nn.loss import NLLLoss, SmoothL1Loss
from nn import functional
from nn import init
from nn import optim
from nn.serialization import save, load, SerializationError
from nn import data, utils
from nn.trainer import Trainer
from nn import parallel
from nn import modules  # last: it lists the classes above
