"""Tabular data: a small CSV reader, the Boston housing file, and the book's split.

`load_csv` handles the layout of scikit-learn's bundled CSV files, which the Boston housing
file follows: an optional first line of counts (`506,13,,,...`), a header line of column
names, then numeric rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from typing import Any

import numpy as np

from autotensor.serialization import (
    CorruptFileError,
    expansion_cap,
    file_name,
    file_size,
    read_bounded,
    regular_file,
    resolve_limit,
    short_repr,
    too_large,
)

__all__ = ["load_csv", "load_boston", "train_test_split", "standardize"]


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _read_text(path: str | os.PathLike, what: str, max_bytes: int | None) -> str:
    """The whole text of a regular file (gunzipped if the name ends in `.gz`), within the
    load limit; a failure is a `LoadError` naming the file."""
    name = file_name(path)
    limit = resolve_limit(max_bytes)
    with regular_file(path, what) as fh:
        size = file_size(fh)
        if str(path).endswith(".gz"):
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                raw = read_bounded(gz, expansion_cap(size, limit), name, "the gzip stream")
        else:
            if size > limit:
                raise too_large(what, size, limit, name)
            raw = fh.read(size + 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptFileError(f"{what} is not UTF-8 text ({e})", name) from None


def load_csv(
    path: str | os.PathLike,
    dtype: Any = np.float32,
    delimiter: str = ",",
    *,
    max_bytes: int | None = None,
) -> tuple[list[str] | None, np.ndarray]:
    """Read a numeric CSV file: returns `(column_names or None, data)` with data of shape
    (rows, columns).

    A first line that holds only counts followed by a header line (scikit-learn's layout)
    is skipped; a header line is recognised as one with a non-numeric field. Empty trailing
    fields are ignored. Raises ValueError naming the line of any non-numeric value. A path
    ending in `.gz` is read through gzip. Only a regular file is read, within the load limit
    (`max_bytes`, by default `autotensor.serialization.get_load_limit()`); an unreadable file
    is an `autotensor.serialization.LoadError` naming it.
    """
    text = _read_text(path, "CSV file", max_bytes)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [[c.strip() for c in r] for r in reader]
    except csv.Error as e:
        raise CorruptFileError(f"load_csv: malformed CSV ({e})", file_name(path)) from None
    rows = [r[: max((i + 1 for i, c in enumerate(r) if c), default=0)] for r in rows]
    rows_at = [(i + 1, r) for i, r in enumerate(rows) if r]
    if not rows_at:
        raise CorruptFileError("load_csv: the file has no rows", file_name(path))
    names = None
    first = rows_at[0][1]
    if (
        len(rows_at) > 1
        and all(_is_number(c) for c in first)
        and not all(_is_number(c) for c in rows_at[1][1])
    ):
        rows_at = rows_at[1:]  # a count line ahead of the header
    if not all(_is_number(c) for c in rows_at[0][1]):
        names = rows_at[0][1]
        rows_at = rows_at[1:]
    width = len(names) if names is not None else len(rows_at[0][1])
    data = np.empty((len(rows_at), width), dtype=dtype)
    for j, (line, r) in enumerate(rows_at):
        if len(r) != width:
            raise CorruptFileError(
                f"load_csv: line {line}: {len(r)} fields, expected {width}", file_name(path)
            )
        try:
            data[j] = [float(c) for c in r]
        except ValueError:
            raise CorruptFileError(
                f"load_csv: line {line}: non-numeric value in {short_repr(r, 200)}", file_name(path)
            ) from None
    return names, data


def load_boston(
    path: str | os.PathLike, dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The Boston housing data: `(X, y, feature_names)` with X (506, 13), y (506,) the median
    value MEDV (in $1000s, the last column)."""
    names, data = load_csv(path, dtype=dtype)
    if names is None or data.shape[1] < 2:
        raise ValueError(f"load_boston: {path} should have a header and at least two columns")
    return data[:, :-1].copy(), data[:, -1].copy(), names[:-1]


def standardize(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """(x - mean) / std per column (population std, as scikit-learn's StandardScaler)."""
    mean = x.mean(axis=axis, keepdims=True)
    std = x.std(axis=axis, keepdims=True)
    std[std == 0] = 1
    return (x - mean) / std


def train_test_split(
    *arrays: np.ndarray, test_size: float | int = 0.25, random_state: int | None = None
) -> list[np.ndarray]:
    """Split arrays (same first dimension) into train and test parts: `[a_train, a_test,
    b_train, b_test, ...]`.

    With an int `random_state` the split is the one scikit-learn's train_test_split makes:
    a permutation from numpy's legacy `RandomState(random_state)`, the first
    ceil(test_size * n) indices for test, the next for train. (The book's chapter 3 uses
    test_size=0.3, random_state=80718 on the Boston data.)
    """
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("train_test_split: all arrays must have the same first dimension")
    n_test = math.ceil(test_size * n) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"train_test_split: test_size={test_size} leaves an empty split of {n}")
    perm = np.random.RandomState(random_state).permutation(n)
    test, train = perm[:n_test], perm[n_test:]
    out = []
    for a in arrays:
        out += [a[train], a[test]]
    return out
