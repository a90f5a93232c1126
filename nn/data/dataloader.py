"""`DataLoader`: batches from a dataset, optionally shuffled, collated into Tensors.

    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
    for xb, yb in loader:          # xb: (32, ...) Tensor, yb: (32,) Tensor
        ...

As in torch, the order comes from a sampler (`loader.sampler`: SequentialSampler, or
RandomSampler when shuffle=True, or the one given) grouped by `loader.batch_sampler`
(a BatchSampler of batch_size, unless batch_size=None). Shuffling draws a new permutation
at the start of every pass from `generator=` (an `at.Generator`, numpy Generator or int
seed), or `seed=`, or else autotensor's default generator (so `at.manual_seed` makes runs
repeatable).

Note [DataLoader workers]: loading always happens in the calling process. num_workers > 0
is accepted and runs as one in-process worker: `worker_init_fn(0)` is called at the start
of every pass (once in all, with persistent_workers=True), and `get_worker_info()` reports
worker 0 of 1 while a pass runs, so a sharding IterableDataset yields all of its data once.
The batches are those of torch with any number of workers (same order, same contents),
only without the parallelism. `timeout`, `prefetch_factor` and `multiprocessing_context`
only concern worker processes and so have no effect (they are validated as torch does).
Note [Pinned memory]: `pin_memory=True` is accepted and does nothing: pinning
(page-locking host memory for fast copies to an accelerator) has no meaning when the CPU
is the only device; `pin_memory_device` other than '' or 'cpu' raises.
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
from nn.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "get_worker_info", "WorkerInfo"]


class WorkerInfo:
    """What `get_worker_info()` returns inside a worker: id, num_workers, seed, dataset."""

    def __init__(self, id: int, num_workers: int, seed: int, dataset: Any) -> None:
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self) -> str:
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The current worker's WorkerInfo, or None in the main process (see Note [DataLoader
    workers]: with num_workers > 0 a pass runs as worker 0 of 1 in this process)."""
    return _worker_info


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
    """Iterate over `dataset` in batches (torch.utils.data.DataLoader's signature).

    Args:
        dataset: a map-style `Dataset` (anything with `__getitem__` and `__len__`) or an
            `IterableDataset`.
        batch_size: samples per batch (None: yield samples one by one, uncollated).
        shuffle: draw a new random order every epoch (a RandomSampler).
        sampler: a Sampler or any iterable of indices to use instead (exclusive with
            shuffle).
        batch_sampler: an iterable of index lists (exclusive with batch_size, shuffle,
            sampler and drop_last).
        num_workers, worker_init_fn, persistent_workers, timeout, prefetch_factor,
            multiprocessing_context: see Note [DataLoader workers] (in-process).
        collate_fn: turns a list of samples into a batch (default: `default_collate`).
        pin_memory, pin_memory_device: see Note [Pinned memory] (no-op on CPU).
        drop_last: drop the final batch if it is smaller than batch_size.
        generator: an `at.Generator`, numpy Generator or int seed for shuffling.
        in_order: accepted (batches always come in order).
        seed: shorthand for a generator seeded with this value.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[int] | None = None,
        batch_sampler: Sampler | Iterable[list[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
        seed: int | None = None,
    ) -> None:
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to disable "
                "multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing.let "
                "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to "
                "None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if pin_memory_device not in ("", "cpu"):
            raise RuntimeError(
                f"DataLoader: pin_memory_device={pin_memory_device!r} is not available; "
                "autotensor runs on the CPU only (pin_memory is a no-op there)"
            )
        if batch_size is not None and (
            not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0
        ):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.persistent_workers = persistent_workers
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (False, None):
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, but "
                    f"got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, but "
                    f"got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler "
                    f"option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
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
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )
        if generator is None and seed is not None:
            generator = int(seed)
        self.generator = generator
        if sampler is None and not self._iterable:
            # an int seed becomes one Generator inside the sampler: epochs differ, runs repeat
            sampler = (
                RandomSampler(dataset, generator=generator) if shuffle
                else SequentialSampler(dataset)
            )  # fmt: skip
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # type: ignore[arg-type]
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.shuffle = shuffle
        self.collate_fn = collate_fn
        self._workers_started = False
        self._source = (
            _tensor_source(dataset) if collate_fn is None and not self._iterable else None
        )

    # -- indices -----------------------------------------------------------------------------
    def _index_batches(self) -> Iterator[Any]:
        bs = self.batch_sampler
        if type(bs) is BatchSampler:
            order_of = getattr(bs.sampler, "_order_array", None)
            if (
                order_of is not None
                and type(bs.sampler) in (SequentialSampler, RandomSampler)
                and len(bs.sampler) <= 1 << 24  # type: ignore[arg-type]  # endless: drawn lazily
            ):
                order = order_of()  # fast: slice one index array instead of building lists
                size = bs.batch_size
                stop = len(order) - len(order) % size if bs.drop_last else len(order)
                for start in range(0, stop, size):
                    yield order[start : start + size]
                return
        yield from bs  # type: ignore[misc]

    # -- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        global _worker_info
        if self.num_workers == 0:
            yield from self._iter_pass()
            return
        # Note [DataLoader workers]: one in-process worker
        info = WorkerInfo(0, 1, int(at.random.generator(None).integers(0, 2**63 - 1)),
                          self.dataset)  # fmt: skip
        saved, _worker_info = _worker_info, info
        try:
            if self.worker_init_fn is not None and not (
                self.persistent_workers and self._workers_started
            ):
                self.worker_init_fn(0)
            self._workers_started = True
        finally:
            _worker_info = saved
        it = self._iter_pass()
        while True:
            saved, _worker_info = _worker_info, info
            try:
                batch = next(it)
            except StopIteration:
                return
            finally:
                _worker_info = saved
            yield batch

    def _iter_pass(self) -> Iterator[Any]:
        if self._iterable:
            yield from self._iter_stream()
            return
        if self.batch_sampler is None:  # batch_size=None: samples one by one, uncollated
            for i in self.sampler:  # type: ignore[union-attr]
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
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        return len(self.sampler)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
