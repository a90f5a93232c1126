"""`CharCorpus`: a character-level text corpus for language models (a char RNN/LSTM).

    corpus = CharCorpus("tinyshakespeare.txt", seq_len=64)
    corpus.vocab_size                  # distinct characters, sorted
    corpus.encode("To be")             # int64 Tensor of character ids
    corpus.decode(ids)                 # back to a string
    x, y = corpus[0]                   # as a Dataset: (seq_len,) ids and the next-char targets
    loader = DataLoader(corpus, batch_size=32, shuffle=True)   # (32, seq_len) batches
    for x, y in corpus.batches(batch_size=32, seq_len=64):     # contiguous streams, see below
        ...

Two ways to cut the text into training examples:

- As a Dataset (`seq_len` given): example i is the window text[i*L : i*L+L] and its targets
  text[i*L+1 : i*L+L+1] (non-overlapping windows; the last incomplete one is dropped).
  Shuffle it freely with a DataLoader.
- `batches(batch_size, seq_len)`: the text is split into `batch_size` equal streams laid side
  by side, and consecutive batches continue each stream where the previous one stopped, so a
  recurrent model can carry its hidden state from batch to batch (truncated BPTT).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import autotensor as at
from autotensor import Tensor
from autotensor.serialization import (
    CorruptFileError,
    file_name,
    file_size,
    regular_file,
    resolve_limit,
    too_large,
)
from nn.data.dataset import Dataset

__all__ = ["CharCorpus"]


def _read_corpus(path: str | os.PathLike, encoding: str, max_bytes: int | None) -> str:
    """The text of a regular file within the load limit; failures are LoadErrors naming it."""
    name = file_name(path)
    limit = resolve_limit(max_bytes)
    with regular_file(path, "text file") as fh:
        size = file_size(fh)
        if size > limit:
            raise too_large("the text file", size, limit, name)
        raw = fh.read(size + 1)
    if not raw:
        raise CorruptFileError("the text file is empty", name)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise CorruptFileError(f"the text is not valid {encoding} ({e})", name) from None


class CharCorpus(Dataset):
    """A text as a sequence of character ids (vocabulary: its distinct characters, sorted).

    Args:
        path: a text file (read as `encoding`); or give the text itself as `text=`.
        seq_len: window length when used as a Dataset (None: not indexable).
        vocab: a fixed vocabulary (sequence of characters) instead of the text's own, for
            example to encode a validation text with the training vocabulary.
        max_bytes: the largest file read (the load limit of `autotensor.serialization` if
            None); only a regular file is read, and failures are `LoadError`s naming it.

    Attributes:
        text, chars (list of characters), stoi (char -> id), itos (id -> char),
        data (int64 Tensor (len(text),) of ids).
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        seq_len: int | None = None,
        *,
        text: str | None = None,
        vocab: Sequence[str] | None = None,
        encoding: str = "utf-8",
        max_bytes: int | None = None,
    ) -> None:
        if (path is None) == (text is None):
            raise ValueError("CharCorpus: give exactly one of path and text=")
        if text is None:
            text = _read_corpus(path, encoding, max_bytes)  # type: ignore[arg-type]
        if not text:
            raise ValueError("CharCorpus: the text is empty")
        self.text = text
        self.chars = list(vocab) if vocab is not None else sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.itos = dict(enumerate(self.chars))
        self._ids = self._encode_array(text)
        self.data = at.from_numpy(self._ids)
        self.seq_len = seq_len

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def _encode_array(self, s: str) -> np.ndarray:
        try:
            return np.array([self.stoi[c] for c in s], dtype=np.int64)
        except KeyError as e:
            raise ValueError(
                f"CharCorpus.encode: character {e.args[0]!r} is not in the vocabulary"
            ) from None

    def encode(self, s: str) -> Tensor:
        """Characters -> int64 Tensor of ids, shape (len(s),)."""
        return at.from_numpy(self._encode_array(s))

    def decode(self, ids: Any) -> str:
        """Ids (Tensor, array or list, any shape: flattened) -> string."""
        return "".join(self.itos[int(i)] for i in np.asarray(ids).reshape(-1))

    def split(self, fraction: float = 0.9) -> tuple[CharCorpus, CharCorpus]:
        """(first `fraction` of the text, the rest), both with this corpus's vocabulary."""
        cut = int(len(self.text) * fraction)
        if not 0 < cut < len(self.text):
            raise ValueError(f"CharCorpus.split: fraction {fraction} leaves an empty part")
        a = CharCorpus(text=self.text[:cut], vocab=self.chars, seq_len=self.seq_len)
        b = CharCorpus(text=self.text[cut:], vocab=self.chars, seq_len=self.seq_len)
        return a, b

    # -- as a Dataset of windows -------------------------------------------------------------
    def __len__(self) -> int:
        if self.seq_len is None:
            raise TypeError("CharCorpus: give seq_len= to use the corpus as a Dataset")
        return (len(self._ids) - 1) // self.seq_len

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        """(ids of window i, ids of the characters that follow each), shapes (seq_len,)."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"CharCorpus: window {i} out of range for {n} windows")
        start = (i % n) * self.seq_len  # type: ignore[operator]
        w = self._ids[start : start + self.seq_len + 1]  # type: ignore[operator]
        return at.from_numpy(w[:-1].copy()), at.from_numpy(w[1:].copy())

    # -- contiguous streams for stateful training --------------------------------------------
    def batches(self, batch_size: int, seq_len: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (x, y) int64 Tensors of shape (batch_size, seq_len): row b of every batch
        continues row b of the previous one; y is x shifted one character ahead.

        The text is cut into batch_size streams of equal length (the tail that does not fit
        is dropped); the last batch may be shorter than seq_len.
        """
        stream = (len(self._ids) - 1) // batch_size
        if stream < 1:
            raise ValueError(
                f"CharCorpus.batches: {len(self._ids)} characters are too few for "
                f"batch_size={batch_size}"
            )
        xs = self._ids[: stream * batch_size].reshape(batch_size, stream)
        ys = self._ids[1 : stream * batch_size + 1].reshape(batch_size, stream)
        for start in range(0, stream, seq_len):
            yield (at.from_numpy(xs[:, start : start + seq_len].copy()),
                   at.from_numpy(ys[:, start : start + seq_len].copy()))  # fmt: skip

    def num_batches(self, batch_size: int, seq_len: int) -> int:
        """How many batches `batches(batch_size, seq_len)` yields."""
        stream = (len(self._ids) - 1) // batch_size
        return -(-stream // seq_len)

    def __repr__(self) -> str:
        return (
            f"CharCorpus({len(self.text)} characters, vocab_size={self.vocab_size}, "
            f"seq_len={self.seq_len})"
        )
