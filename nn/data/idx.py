"""The IDX file format (MNIST, Fashion-MNIST) and datasets that read it from a directory.

IDX layout: 2 zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64), a byte with the number of dimensions d, then d big-endian
uint32 sizes, then the values, big-endian, in C order. Files may be gzip-compressed.

Fashion-MNIST is read by default from where Debian's `dataset-fashion-mnist` package
installs it (/usr/share/datasets/fashion-mnist); any directory holding the four files
(`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-...`) works.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import autotensor as at
from autotensor.serialization import (
    CorruptFileError,
    MissingFileError,
    expansion_cap,
    file_name,
    file_size,
    regular_file,
    resolve_limit,
    too_large,
)
from nn.data.dataset import Dataset

__all__ = ["load_idx", "MNIST", "FashionMNIST", "FASHION_MNIST_ROOT"]

FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}  # fmt: skip


def load_idx(path: str | os.PathLike, *, max_bytes: int | None = None) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw) into an ndarray of its shape and type
    (native byte order).

    The header's sizes are checked against the file before the data is read: for a raw file
    against its size, for a gzip file against what its compressed size may expand to
    (`autotensor.serialization.expansion_cap`), and always against the load limit
    (`max_bytes`, by default `autotensor.serialization.get_load_limit()`). Raises
    `autotensor.serialization.CorruptFileError` (a LoadError and a ValueError) naming the
    file when the header is not IDX or the data is short, and `LoadError` subclasses for a
    path that is not a regular file or a size over the limit.
    """
    name = file_name(path)
    limit = resolve_limit(max_bytes)
    with regular_file(path, "IDX file") as fh:
        size = file_size(fh)
        if fh.read(2) == b"\x1f\x8b":
            fh.seek(0)
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                return _read_idx(gz, name, min(limit, expansion_cap(size, limit)), True)
        if size > limit:
            raise too_large("the IDX file", size, limit, name)
        fh.seek(0)
        return _read_idx(fh, name, size, False)


def _read_idx(fh: Any, name: str, cap: int, gz: bool) -> np.ndarray:
    """The IDX array from `fh` (a raw file or a gzip stream): the header first, then exactly
    the bytes it declares once they are known to fit in `cap`, then a check for more."""
    where = "the gzip stream" if gz else "the file"
    try:
        head = fh.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
            raise CorruptFileError(f"load_idx: not an IDX file (bad magic number {head!r})", name)
        dtype, ndim = _IDX_TYPES[head[2]], head[3]
        if ndim > 64:  # numpy's limit on dimensions
            raise CorruptFileError(f"load_idx: the header declares {ndim} dimensions", name)
        dims = fh.read(4 * ndim)
        if len(dims) < 4 * ndim:
            raise CorruptFileError("load_idx: truncated header", name)
        shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
        count = math.prod(shape)  # Python ints: a hostile header cannot overflow
        nbytes = count * dtype.itemsize
        header = 4 + 4 * ndim
        if header + nbytes > cap:
            if not gz:  # cap is the file's size
                raise CorruptFileError(
                    f"load_idx: header says shape {shape} ({nbytes} bytes of data) but the "
                    f"file holds {cap - header}",
                    name,
                )
            raise too_large(f"the data of shape {shape} in {where}", header + nbytes, cap, name)
        raw = fh.read(nbytes)
        extra = fh.read(1)
    except (OSError, EOFError, zlib.error) as e:
        raise CorruptFileError(f"load_idx: damaged gzip stream ({e})", name) from None
    if len(raw) != nbytes or extra:
        held = "more" if extra else str(len(raw))
        raise CorruptFileError(
            f"load_idx: header says shape {shape} ({nbytes} bytes of data) but {where} holds "
            f"{held}",
            name,
        )
    arr = np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # a writeable copy in native order


class MNIST(Dataset):
    """MNIST-format images and labels read from IDX files in `root`.

    Attributes:
        data: uint8 Tensor (N, 28, 28); targets: int64 Tensor (N,); classes: the label names.

    `ds[i]` is `(image, label)`: the image is the uint8 (28, 28) Tensor `data[i]` (torchvision
    gives a PIL image of the same pixels), passed through `transform` when given; the label
    an int, passed through `target_transform`. `tensors()` gives the whole split as float
    features ready for a model.
    """

    classes = [f"{i} - {w}" for i, w in enumerate(
        "zero one two three four five six seven eight nine".split())]  # fmt: skip
    _prefix = {True: "train", False: "t10k"}
    _default_root: str | None = None
    _package_hint = "pass root= to a directory holding the MNIST IDX files"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        download: bool = False,
    ) -> None:
        if download:
            raise RuntimeError(
                f"{type(self).__name__}: downloading is not supported; {self._package_hint}"
            )
        root = root if root is not None else self._default_root
        if root is None:
            raise ValueError(f"{type(self).__name__}: {self._package_hint}")
        self.root, self.train = Path(root), train
        self.transform, self.target_transform = transform, target_transform
        prefix = self._prefix[bool(train)]
        images = load_idx(self._find(f"{prefix}-images-idx3-ubyte"))
        labels = load_idx(self._find(f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise CorruptFileError(
                f"{type(self).__name__}: images {images.shape} and labels {labels.shape} do not "
                f"match",
                repr(str(self.root)),
            )
        self.data = at.from_numpy(images.astype(np.uint8, copy=False))
        self.targets = at.from_numpy(labels.astype(np.int64))

    def _find(self, stem: str) -> Path:
        for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz",
                     stem.replace("-idx", ".idx")):  # fmt: skip
            p = self.root / name
            if p.is_file():
                return p
        raise MissingFileError(
            f"{type(self).__name__}: no file {stem}[.gz] in it. {self._package_hint}.",
            repr(str(self.root)),
        )

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img, target = self.data[index], int(np.asarray(self.targets)[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def tensors(
        self, flatten: bool = True, scale: bool = True, dtype: Any = at.float32
    ) -> tuple[at.Tensor, at.Tensor]:
        """The whole split as `(X, y)`: X float (N, 784) if flatten else (N, 1, 28, 28),
        pixels divided by 255 if scale; y int64 (N,)."""
        x = np.asarray(self.data).astype(at.dtypes.as_dtype(dtype))
        if scale:
            x /= 255
        x = x.reshape(len(x), -1) if flatten else x[:, None]
        return at.from_numpy(x), at.from_numpy(np.asarray(self.targets).copy())

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return (
            f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
            f"    Root location: {self.root}\n    Split: {split}"
        )


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando's 28x28 grey clothing images, 10 classes), read from IDX files;
    by default from Debian's `dataset-fashion-mnist` package location. See `MNIST`."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
    _default_root = FASHION_MNIST_ROOT
    _package_hint = (
        "Install the Debian package dataset-fashion-mnist (apt-get install "
        "dataset-fashion-mnist, which puts the files in /usr/share/datasets/fashion-mnist) "
        "or pass root= to a directory holding the Fashion-MNIST IDX files"
    )
