"""torch.nn.utils.rnn: variable-length sequences for the recurrent layers.

A `PackedSequence` holds a batch of sequences of different lengths time step by time step:
`data` (sum of lengths, *) is, for each step t, the step-t elements of the sequences still
running at t, longest sequences first; `batch_sizes[t]` counts them. `sorted_indices` maps
that longest-first order to the caller's batch order (`unsorted_indices` is its inverse).

The recurrent layers (RNN, GRU, LSTM) accept one (`forward_packed`): the sequences of each
length run as one batch of exactly that length, so every sequence's outputs stop at its
own end and its final state is the state after its last element, in both directions, as
torch's are. Everything here is composed of indexing, cat and pad, so gradients flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

import autotensor as at
from autotensor import Tensor

__all__ = [
    "PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
    "pack_sequence", "unpad_sequence", "unpack_sequence",
]  # fmt: skip


class PackedSequence(NamedTuple):
    """data (sum(lengths), *), batch_sizes (T,) int64, sorted_indices and unsorted_indices
    (B,) int64 or None (None: the batch was already sorted by decreasing length)."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """The data converted as Tensor.to does; the index tensors stay int64."""
        return self._replace(data=self.data.to(*args, **kwargs))

    def cpu(self) -> PackedSequence:
        return self

    def double(self) -> PackedSequence:
        return self._replace(data=self.data.double())

    def float(self) -> PackedSequence:
        return self._replace(data=self.data.float())

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def _lengths_array(lengths: Any) -> np.ndarray:
    if isinstance(lengths, Tensor):
        arr = lengths.numpy(force=True)
    else:
        arr = np.asarray(lengths)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise RuntimeError(
            f"pack_padded_sequence: lengths must be a 1-D sequence of integers, got "
            f"{arr.dtype} of shape {arr.shape}"
        )
    return arr.astype(np.int64)


def _index(a: np.ndarray) -> Tensor:
    return at.tensor(np.asarray(a, dtype=np.int64))


def _pack_sorted(padded: Tensor, sorted_lengths: np.ndarray, order: np.ndarray) -> Tensor:
    """data of the time-major (T, B, *) `padded`, its batch taken in `order` (longest first,
    lengths `sorted_lengths`): the step-t rows of the sequences still running at t."""
    t_max = int(sorted_lengths[0])
    rows_t, rows_b = [], []
    for t in range(t_max):
        n = int(np.count_nonzero(sorted_lengths > t))
        rows_t.append(np.full(n, t))
        rows_b.append(order[:n])
    tt, bb = np.concatenate(rows_t), np.concatenate(rows_b)
    n_batch = padded.shape[1]
    flat = padded.reshape((-1,) + tuple(padded.shape[2:]))
    return flat[_index(tt * n_batch + bb)]


def pack_padded_sequence(
    input: Tensor, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded batch (T, B, *) ((B, T, *) with batch_first) whose b-th sequence has
    lengths[b] valid steps. enforce_sorted=True requires decreasing lengths; otherwise the
    batch is sorted (stably) and the permutation kept in the result."""
    lens = _lengths_array(lengths)
    b_dim = 0 if batch_first else 1
    if input.ndim < 2 or lens.shape[0] != input.shape[b_dim]:
        raise RuntimeError(
            f"pack_padded_sequence: expected one length per sequence: {lens.shape[0]} lengths "
            f"for an input of shape {tuple(input.shape)} (batch dim {b_dim})"
        )
    if lens.size == 0 or lens.min() <= 0:
        raise RuntimeError(
            "pack_padded_sequence: every sequence length must be greater than 0 (got "
            f"{lens.tolist()})"
        )
    t_dim = 1 - b_dim
    if lens.max() > input.shape[t_dim]:
        raise RuntimeError(
            f"pack_padded_sequence: a length {int(lens.max())} exceeds the padded length "
            f"{input.shape[t_dim]} of the input (shape {tuple(input.shape)})"
        )
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError(
                f"pack_padded_sequence: `lengths` array must be sorted in decreasing order "
                f"when `enforce_sorted` is True (got {lens.tolist()}). You can pass "
                f"`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                f"sidestep this requirement if you do not need ONNX exportability."
            )
        order = np.arange(lens.size)
        sorted_idx = unsorted_idx = None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_idx, unsorted_idx = _index(order), _index(np.argsort(order))
    slens = lens[order]
    padded = input.transpose(0, 1) if batch_first else input
    data = _pack_sorted(padded, slens, order)
    batch_sizes = np.array([np.count_nonzero(slens > t) for t in range(int(slens[0]))])
    return PackedSequence(data, _index(batch_sizes), sorted_idx, unsorted_idx)


def _sorted_lengths(batch_sizes: np.ndarray) -> np.ndarray:
    """Per-sequence lengths in the longest-first order, from the batch sizes."""
    return np.array([int(np.count_nonzero(batch_sizes > b)) for b in range(int(batch_sizes[0]))])


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The inverse of pack_padded_sequence: (padded (T, B, *) or (B, T, *) with batch_first,
    lengths (B,) int64), in the caller's batch order; T = total_length when given."""
    data, bs = sequence.data, sequence.batch_sizes.numpy(force=True).astype(np.int64)
    t_max = bs.shape[0]
    if total_length is not None:
        if total_length < t_max:
            raise ValueError(
                f"pad_packed_sequence: Expected total_length to be at least the length of the "
                f"longest sequence ({t_max}), but got total_length={total_length}"
            )
        t_max = total_length
    n_batch = int(bs[0])
    slens = _sorted_lengths(bs)
    # row r of data is step t of the sorted sequence b: slot t * B + b of the padded batch
    # reads row r, every other slot the padding row appended after the data
    tt = np.concatenate([np.full(int(n), t) for t, n in enumerate(bs)])
    bb = np.concatenate([np.arange(int(n)) for n in bs])
    feat = tuple(data.shape[1:])
    source = np.full(t_max * n_batch, data.shape[0], dtype=np.int64)
    source[tt * n_batch + bb] = np.arange(data.shape[0])
    rows = at.cat([data, at.full((1,) + feat, padding_value, dtype=data.dtype)], 0)
    padded = rows[_index(source)].reshape((t_max, n_batch) + feat)
    lengths = slens
    if sequence.unsorted_indices is not None:
        unsorted = sequence.unsorted_indices
        padded = padded.index_select(1, unsorted)
        lengths = slens[unsorted.numpy(force=True)]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, _index(lengths)


def pad_sequence(
    sequences: Sequence[Tensor] | Tensor,
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack tensors (L_i, *) into (T, B, *) ((B, T, *) with batch_first), T = max L_i,
    padding each with padding_value on its right (or left)."""
    if padding_side not in ("right", "left"):
        raise ValueError(
            f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}"
        )
    seqs = list(sequences.unbind(0)) if isinstance(sequences, Tensor) else list(sequences)
    if not seqs:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    t_max = max(int(s.shape[0]) for s in seqs)
    rows = []
    for s in seqs:
        missing = t_max - int(s.shape[0])
        if missing:
            pad_block = at.full((missing,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype)
            s = at.cat([s, pad_block] if padding_side == "right" else [pad_block, s], 0)
        rows.append(s)
    return at.stack(rows, 0 if batch_first else 1)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """pack_padded_sequence(pad_sequence(sequences), their lengths, enforce_sorted=...)."""
    lengths = [int(s.shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any, batch_first: bool = False) -> list:
    """The list of sequences (lengths[b], *) of a padded batch."""
    lens = _lengths_array(lengths)
    batch = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [batch[b, : int(n)] for b, n in enumerate(lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of sequences of a PackedSequence, in the caller's batch order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def forward_packed(module: Any, packed: PackedSequence, hx: Any) -> tuple:
    """A recurrent layer (RNN/GRU/LSTM) run on a PackedSequence: (output PackedSequence with
    the input's batch_sizes and indices, final states in the caller's batch order).

    The sequences of each length run through the layer's ordinary forward as one batch of
    exactly that length; their outputs are padded back to the longest, put back in batch
    order and packed again, and their final states taken as they are."""
    padded, lengths_t = pad_packed_sequence(packed)  # (T, B, *), caller's order
    lengths = lengths_t.numpy(force=True)
    lstm = module.mode == "LSTM"
    t_max = int(lengths.max())
    outs, hs, cs, order = [], [], [], []
    for n in sorted(set(lengths.tolist()), reverse=True):
        idx = np.flatnonzero(lengths == n)
        sel = _index(idx)
        x = padded[:n].index_select(1, sel)
        if module.batch_first:
            x = x.transpose(0, 1)
        h_g: Any = None
        if hx is not None:
            h_g = (
                (hx[0].index_select(1, sel), hx[1].index_select(1, sel))
                if lstm
                else hx.index_select(1, sel)
            )
        out, state = module(x, h_g)
        if module.batch_first:
            out = out.transpose(0, 1)
        if n < t_max:
            pad_block = at.zeros((t_max - n,) + tuple(out.shape[1:]), dtype=out.dtype)
            out = at.cat([out, pad_block], 0)
        outs.append(out)
        if lstm:
            hs.append(state[0])
            cs.append(state[1])
        else:
            hs.append(state)
        order.append(idx)
    back = _index(np.argsort(np.concatenate(order)))  # group order -> caller's order
    output = at.cat(outs, 1).index_select(1, back)
    h = at.cat(hs, 1).index_select(1, back)
    # pack the output in the input's own longest-first order (ties kept as the input's)
    sorted_order = (
        np.arange(len(lengths))
        if packed.sorted_indices is None
        else packed.sorted_indices.numpy(force=True)
    )
    data = _pack_sorted(output, lengths[sorted_order], sorted_order)
    out_packed = PackedSequence(
        data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
    )
    if lstm:
        return out_packed, (h, at.cat(cs, 1).index_select(1, back))
    return out_packed, h
