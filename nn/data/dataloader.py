"""`DataLoader`: batches from a dataset, optionally shuffled, collated into Tensors.

    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
    for xb, yb in loader:          # xb: (32, ...) Tensor, yb: (32,) Tensor
        ...

Shuffling draws a new permutation at the start of every pass (epoch) from the loader's
random generator: `generator=` (an `at.Generator`, numpy Generator or int seed), or `seed=`,
or else autotensor's default generator (so `at.manual_seed` makes runs repeatable).
Loading always happens in the calling process; `num_workers`, `pin_memory` and the other
worker options are accepted for torch compatibility and have no effect.
"""

from __future__ import annotations

import collections.abc as cabc
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

import autotensor as at
from autotensor import Tensor
from nn.data.dataset import IterableDataset, Subset, TensorDataset

__all__ = ["DataLoader", "default_collate"]


def _stack(arrays: list, what: str) -> np.ndarray:
    try:
        return np.stack(arrays)
    except ValueError:
        shapes = sorted({tuple(np.shape(a)) for a in arrays})
        raise RuntimeError(
            f"default_collate: cannot stack {what} of different shapes {shapes[:4]} into one "
            f"batch; give the DataLoader a collate_fn (for example one that pads)"
        ) from None


def default_collate(batch: list) -> Any:
    """Combine a list of samples into a batch, as torch's default_collate does.

    Tensors and ndarrays are stacked along a new first dimension (dtype kept); Python floats
    become a float64 Tensor, ints an int64 Tensor, bools a bool Tensor; numpy scalars a Tensor
    of their dtype; strings are left as a list. Dicts are collated key by key and
    tuples/lists position by position (a tuple sample gives a list of batches, as in torch;
    namedtuples keep their type).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return at.from_numpy(_stack([np.asarray(b) for b in batch], "tensors"))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "SUO":
            raise TypeError(
                f"default_collate: cannot batch numpy arrays of dtype {elem.dtype}; give a "
                f"collate_fn"
            )
        return at.from_numpy(_stack(batch, "arrays"))
    if isinstance(elem, np.generic):
        return at.from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return at.tensor(batch, dtype=at.bool_)
    if isinstance(elem, int):
        return at.tensor(batch, dtype=at.int64)
    if isinstance(elem, float):
        return at.tensor(batch, dtype=at.float64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, cabc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(out)  # type: ignore[call-arg]
        except TypeError:
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, cabc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(
        f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {type(elem).__name__}"
    )


def _tensor_source(dataset: Any) -> tuple[list[np.ndarray], np.ndarray | None] | None:
    """The arrays behind a TensorDataset (possibly inside Subsets), with the index map the
    Subsets apply; None for any other dataset. Lets a batch be gathered with one `take` per
    tensor instead of stacking sample by sample."""
    index_map = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        index_map = idx if index_map is None else idx[index_map]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:
        return None
    return [np.asarray(t) for t in dataset.tensors], index_map


class DataLoader:
    """Iterate over `dataset` in batches.

    Args:
        dataset: a map-style `Dataset` (anything with `__getitem__` and `__len__`) or an
            `IterableDataset`.
        batch_size: samples per batch (None: yield samples one by one, uncollated).
        shuffle: draw a new random order every epoch.
        sampler: an iterable of indices to use instead (exclusive with shuffle).
        batch_sampler: an iterable of index lists (exclusive with batch_size, shuffle,
            sampler and drop_last).
        collate_fn: turns a list of samples into a batch (default: `default_collate`).
        drop_last: drop the final batch if it is smaller than batch_size.
        generator: an `at.Generator`, numpy Generator or int seed for shuffling.
        seed: shorthand for a generator seeded with this value.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Iterable[int] | None = None,
        batch_sampler: Iterable[list[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        seed: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.shuffle = bool(shuffle)
        self._iterable = isinstance(dataset, IterableDataset)
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got {batch_size}")
        if self._iterable:
            if shuffle:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, but "
                    f"got shuffle={shuffle}"
                )
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: samplers are not supported")
        else:
            if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
                raise TypeError(
                    f"DataLoader: the dataset ({type(dataset).__name__}) must define "
                    "__getitem__ and __len__, or be an IterableDataset"
                )
            if len(dataset) == 0:
                raise ValueError(
                    f"DataLoader: the dataset ({type(dataset).__name__}) is empty "
                    "(len(dataset) == 0); there is nothing to load"
                )
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (
            batch_size != 1 or shuffle or sampler is not None or drop_last
        ):
            raise ValueError(
                "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                "and drop_last"
            )
        if generator is None and seed is not None:
            generator = int(seed)
        # An int seed becomes one Generator now, so that epochs differ but runs repeat.
        self.generator = generator
        self._rng = (
            np.random.default_rng(int(generator))
            if isinstance(generator, (int, np.integer))
            else None
        )
        self._source = (
            _tensor_source(dataset) if collate_fn is None and not self._iterable else None
        )

    # -- indices -----------------------------------------------------------------------------
    def _order(self) -> Iterable[int]:
        if self.sampler is not None:
            return self.sampler
        n = len(self.dataset)
        if self.shuffle:
            rng = self._rng if self._rng is not None else at.random.generator(self.generator)
            return rng.permutation(n)
        return range(n)

    def _index_batches(self) -> Iterator[Any]:
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self._order()
        bs = self.batch_size
        if isinstance(order, (np.ndarray, range)):  # fast: slice the whole order
            order = np.asarray(order)
            stop = len(order) - len(order) % bs if self.drop_last else len(order)
            for start in range(0, stop, bs):
                yield order[start : start + bs]
            return
        batch: list[int] = []
        for i in order:
            batch.append(int(i))
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    # -- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        if self._iterable:
            yield from self._iter_stream()
            return
        if self.batch_size is None and self.batch_sampler is None:
            for i in self._order():
                sample = self.dataset[int(i)]
                yield self.collate_fn(sample) if self.collate_fn is not None else sample
            return
        collate = self.collate_fn or default_collate
        for idx in self._index_batches():
            if self._source is not None:
                arrays, index_map = self._source
                rows = np.asarray(idx, dtype=np.int64)
                if index_map is not None:
                    rows = index_map[rows]
                yield [at.from_numpy(np.take(a, rows, axis=0)) for a in arrays]
            else:
                yield collate([self.dataset[int(i)] for i in idx])

    def _iter_stream(self) -> Iterator[Any]:
        collate = self.collate_fn or default_collate
        if self.batch_size is None:
            yield from (collate(s) if self.collate_fn else s for s in self.dataset)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield collate(batch)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)  # type: ignore
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
