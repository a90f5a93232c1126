"""nn.data: DataLoader batching/shuffling/collation (torch's default_collate as the oracle),
datasets, random_split, and the readers for IDX, CSV and text files."""

from __future__ import annotations

import gzip
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

import autotensor as at
from nn.data import (
    MNIST,
    CharCorpus,
    ConcatDataset,
    DataLoader,
    Dataset,
    FashionMNIST,
    IterableDataset,
    Subset,
    TensorDataset,
    default_collate,
    load_boston,
    load_csv,
    load_idx,
    random_split,
    train_test_split,
)  # fmt: skip

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _np(x):
    return np.asarray(x)


class Squares(Dataset):
    """A plain map-style dataset: sample i is (i as a float32 vector, i*i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return at.tensor([float(i), -float(i)]), i * i


# -- batching ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False),
                                            (5, 8, False), (7, 1, True)])  # fmt: skip
def test_sequential_batches(n, bs, drop_last):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    expect = [(s, min(s + bs, n)) for s in range(0, n, bs)]
    if drop_last:
        expect = [(s, e) for s, e in expect if e - s == bs]
    assert len(loader) == len(batches) == len(expect)
    for (xb, yb), (s, e) in zip(batches, expect):
        np.testing.assert_array_equal(_np(xb), x[s:e])
        np.testing.assert_array_equal(_np(yb), y[s:e])
        assert xb.dtype == np.float32 and yb.dtype == np.int64


def test_shuffle_is_a_permutation_each_epoch_and_reproducible():
    x = np.arange(50)
    loader = DataLoader(TensorDataset(x), batch_size=8, shuffle=True, seed=3)
    epochs = [np.concatenate([_np(b[0]) for b in loader]) for _ in range(3)]
    for e in epochs:
        assert sorted(e.tolist()) == list(range(50))
    assert not np.array_equal(epochs[0], epochs[1])  # a new order every epoch
    again = DataLoader(TensorDataset(x), batch_size=8, shuffle=True, seed=3)
    for e in epochs:
        np.testing.assert_array_equal(np.concatenate([_np(b[0]) for b in again]), e)
    other = DataLoader(TensorDataset(x), batch_size=8, shuffle=True, seed=4)
    assert not np.array_equal(np.concatenate([_np(b[0]) for b in other]), epochs[0])


def test_shuffle_with_generator_and_global_seed():
    x = np.arange(30)
    g1, g2 = at.Generator().manual_seed(7), at.Generator().manual_seed(7)
    a = [_np(b[0]) for b in DataLoader(TensorDataset(x), batch_size=4, shuffle=True, generator=g1)]
    b = [_np(b[0]) for b in DataLoader(TensorDataset(x), batch_size=4, shuffle=True, generator=g2)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    at.manual_seed(11)
    c = np.concatenate([_np(b[0]) for b in DataLoader(TensorDataset(x), 5, shuffle=True)])
    at.manual_seed(11)
    d = np.concatenate([_np(b[0]) for b in DataLoader(TensorDataset(x), 5, shuffle=True)])
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(c, x)


def test_fast_tensor_path_equals_generic_collation():
    """A TensorDataset is gathered with one take per tensor; a generic dataset with the same
    samples, collated sample by sample, gives identical batches in the same order."""
    x = np.random.default_rng(0).normal(size=(23, 3)).astype(np.float32)
    y = np.arange(23)

    class Generic(Dataset):
        def __len__(self):
            return 23

        def __getitem__(self, i):
            return at.from_numpy(x[i]), at.tensor(int(y[i]))

    fast = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True, seed=9)
    slow = DataLoader(Generic(), batch_size=5, shuffle=True, seed=9)
    for (a, b), (c, d) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(_np(a), _np(c))
        np.testing.assert_array_equal(_np(b), _np(d))
        assert a.dtype == c.dtype and b.dtype == d.dtype


def test_subset_of_tensor_dataset():
    x = np.arange(20) * 10
    sub = Subset(TensorDataset(x), [5, 3, 17, 0])
    (batch,) = list(DataLoader(sub, batch_size=10))
    np.testing.assert_array_equal(_np(batch[0]), [50, 30, 170, 0])
    nested = Subset(sub, [3, 1])
    assert _np(list(DataLoader(nested, batch_size=2))[0][0]).tolist() == [0, 30]


def test_samplers_and_unbatched():
    ds = TensorDataset(np.arange(10))
    got = [_np(b[0]).tolist() for b in DataLoader(ds, batch_size=3, sampler=[9, 1, 4, 4])]
    assert got == [[9, 1, 4], [4]]
    got = [_np(b[0]).tolist() for b in DataLoader(ds, batch_sampler=[[0, 2], [5]])]
    assert got == [[0, 2], [5]]
    assert len(DataLoader(ds, batch_sampler=[[0, 2], [5]])) == 2
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 10 and _np(single[3][0]).shape == ()
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=4, batch_sampler=[[1]])


def test_iterable_dataset():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    batches = [_np(b).tolist() for b in DataLoader(Stream(), batch_size=3)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


def test_custom_collate_fn():
    loader = DataLoader(Squares(5), batch_size=2, collate_fn=lambda b: [s[1] for s in b])
    assert list(loader) == [[0, 1], [4, 9], [16]]


def test_generic_dataset_collation():
    xb, yb = next(iter(DataLoader(Squares(6), batch_size=4)))
    np.testing.assert_array_equal(_np(xb), [[0, 0], [1, -1], [2, -2], [3, -3]])
    assert yb.dtype == np.int64 and _np(yb).tolist() == [0, 1, 4, 9]


def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        DataLoader(TensorDataset(np.zeros((0, 3))), batch_size=4)
    with pytest.raises(ValueError, match="empty"):
        DataLoader(Squares(0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(Squares(3), batch_size=0)
    with pytest.raises(TypeError, match="__getitem__ and __len__"):
        DataLoader(object())
    with pytest.raises(ValueError, match="same size in dimension 0"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))


def test_collate_shape_mismatch_message():
    class Ragged(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return at.zeros(i + 1)

    with pytest.raises(RuntimeError, match="different shapes.*collate_fn"):
        next(iter(DataLoader(Ragged(), batch_size=2)))


# -- default_collate against torch's -----------------------------------------------------------
Point = namedtuple("Point", "x y")


def _torch_to_numpy(obj):
    torch = pytest.importorskip("torch")
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _torch_to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, Point):
        return Point(*(_torch_to_numpy(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return [_torch_to_numpy(v) for v in obj]
    return obj


def _ours_to_numpy(obj):
    if isinstance(obj, at.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _ours_to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, Point):
        return Point(*(_ours_to_numpy(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return [_ours_to_numpy(v) for v in obj]
    return obj


def _assert_same(a, b):
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype, (a, b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(b, dict):
        assert list(a) == list(b)
        for k in b:
            _assert_same(a[k], b[k])
    elif isinstance(b, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same(u, v)
    else:
        assert a == b


@pytest.mark.parametrize(
    "make",
    [
        lambda i, lib: (lib.tensor([i, i + 1.0]), i),
        lambda i, lib: {"x": np.full((2, 2), i, np.float64), "label": i, "w": 0.5 * i},
        lambda i, lib: [np.int32(i), True, f"name{i}"],
        lambda i, lib: Point(np.arange(3, dtype=np.float32) * i, float(i)),
        lambda i, lib: {"nested": (lib.tensor(i), {"k": np.uint8(i)})},
    ],
    ids=["tensor-int", "dict", "scalars-strings", "namedtuple", "nested"],
)
def test_default_collate_matches_torch(make):
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    from torch.utils.data import default_collate as torch_collate

    ours = default_collate([make(i, at) for i in range(3)])
    theirs = torch_collate([make(i, torch) for i in range(3)])
    _assert_same(_ours_to_numpy(ours), _torch_to_numpy(theirs))


# -- datasets ----------------------------------------------------------------------------------
def test_random_split_lengths_and_fractions():
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    ds = TensorDataset(np.arange(103))
    for lengths in ([0.7, 0.2, 0.1], [0.5, 0.5], [0.33, 0.33, 0.34], [50, 53]):
        parts = random_split(ds, lengths, generator=0)
        theirs = torch.utils.data.random_split(range(103), lengths)
        assert [len(p) for p in parts] == [len(p) for p in theirs]
        idx = sorted(i for p in parts for i in p.indices)
        assert idx == list(range(103))  # disjoint, and covering everything
    a = random_split(ds, [0.8, 0.2], generator=at.Generator().manual_seed(5))
    b = random_split(ds, [0.8, 0.2], generator=at.Generator().manual_seed(5))
    assert a[0].indices == b[0].indices
    np.testing.assert_array_equal(_np(a[1][0][0]), a[1].indices[0])
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [50, 50])


def test_concat_dataset():
    ds = TensorDataset(np.arange(3)) + TensorDataset(np.arange(10, 15))
    assert isinstance(ds, ConcatDataset) and len(ds) == 8
    assert [int(_np(ds[i][0])) for i in range(8)] == [0, 1, 2, 10, 11, 12, 13, 14]
    assert int(_np(ds[-1][0])) == 14


# -- IDX files ---------------------------------------------------------------------------------
def _write_idx(path, arr, code, compress):
    header = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    raw = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "dtype,code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
                   (np.float32, 0x0D), (np.float64, 0x0E)],
)  # fmt: skip
def test_load_idx_roundtrip(tmp_path, dtype, code, compress):
    arr = (np.random.default_rng(0).normal(size=(4, 3, 2)) * 50).astype(dtype)
    _write_idx(tmp_path / "f.idx", arr, code, compress)
    got = load_idx(tmp_path / "f.idx")
    assert got.shape == arr.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, arr)


def test_load_idx_errors(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "f.idx", arr, 0x08, False)
    raw = (tmp_path / "f.idx").read_bytes()
    (tmp_path / "short.idx").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match="header says shape"):
        load_idx(tmp_path / "short.idx")
    (tmp_path / "bad.idx").write_bytes(b"PK\x03\x04" + raw[4:])
    with pytest.raises(ValueError, match="not an IDX file"):
        load_idx(tmp_path / "bad.idx")
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(raw)[:-12])
    with pytest.raises(ValueError, match="damaged gzip|header says"):
        load_idx(tmp_path / "trunc.gz")


def test_mnist_style_directory(tmp_path):
    imgs = np.random.default_rng(1).integers(0, 256, (6, 28, 28)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9], np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs, 0x08, False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, 0x08, True)
    ds = MNIST(root=tmp_path, train=False)
    assert len(ds) == 6 and ds.targets.dtype == np.int64
    img, y = ds[2]
    np.testing.assert_array_equal(_np(img), imgs[2])
    assert y == 4
    x, t = ds.tensors()
    assert x.shape == (6, 784) and x.dtype == np.float32
    np.testing.assert_allclose(_np(x)[0], imgs[0].reshape(-1) / 255, rtol=1e-6)
    ds = MNIST(root=tmp_path, train=False, transform=lambda im: im.float() / 255,
               target_transform=lambda k: k + 100)  # fmt: skip
    assert ds[0][1] == 103 and ds[0][0].dtype == np.float32
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        MNIST(root=tmp_path, train=True)


def test_fashion_mnist_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist.*root="):
        FashionMNIST(root=tmp_path / "nowhere")


@pytest.mark.skipif(not FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_real_files():
    test = FashionMNIST(train=False)
    assert test.data.shape == (10000, 28, 28) and test.data.dtype == np.uint8
    assert test.targets.shape == (10000,) and test.targets.dtype == np.int64
    assert np.bincount(_np(test.targets)).tolist() == [1000] * 10  # balanced classes
    with gzip.open(FASHION / "t10k-images-idx3-ubyte.gz") as f:  # an independent reading
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(10000, 28, 28)
    np.testing.assert_array_equal(_np(test.data), raw)
    with gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz") as f:
        np.testing.assert_array_equal(
            _np(test.targets), np.frombuffer(f.read(), np.uint8, offset=8)
        )
    assert test.classes[int(_np(test.targets)[0])] == "Ankle boot"
    train = FashionMNIST(root=FASHION, train=True)
    assert len(train) == 60000 and np.bincount(_np(train.targets)).tolist() == [6000] * 10
    x, y = train.tensors(flatten=False)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32
    assert 0.0 == float(_np(x).min()) and float(_np(x).max()) == 1.0


# -- CSV ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not (DATA / "boston_house_prices.csv").is_file(), reason="Boston csv absent")
def test_boston_csv():
    path = DATA / "boston_house_prices.csv"
    x, y, names = load_boston(path)
    assert x.shape == (506, 13) and y.shape == (506,) and x.dtype == np.float32
    assert names[0] == "CRIM" and names[-1] == "LSTAT" and len(names) == 13
    ref = np.genfromtxt(path, delimiter=",", skip_header=2)
    np.testing.assert_allclose(x, ref[:, :13], rtol=1e-6)
    np.testing.assert_allclose(y, ref[:, 13], rtol=1e-6)
    a, b, c, d = train_test_split(x, y, test_size=0.3, random_state=80718)
    assert a.shape == (354, 13) and b.shape == (152, 13) and c.shape == (354,)
    rows = {tuple(r) for r in np.concatenate([a, b])}
    assert len(rows) == 506


def test_load_csv_variants(tmp_path):
    (tmp_path / "h.csv").write_text("a,b\n1,2\n3,4.5\n")
    names, data = load_csv(tmp_path / "h.csv", dtype=np.float64)
    assert names == ["a", "b"] and data.tolist() == [[1, 2], [3, 4.5]]
    (tmp_path / "n.csv").write_text("1,2\n3,4\n")
    names, data = load_csv(tmp_path / "n.csv")
    assert names is None and data.shape == (2, 2)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(ValueError, match="line 3"):
        load_csv(tmp_path / "bad.csv")


# -- text --------------------------------------------------------------------------------------
def test_char_corpus():
    text = "hello world, hello corpus!"
    c = CharCorpus(text=text, seq_len=5)
    assert c.chars == sorted(set(text)) and c.vocab_size == len(set(text))
    ids = c.encode("hello")
    assert ids.dtype == np.int64 and c.decode(ids) == "hello"
    assert c.decode(c.data) == text
    assert len(c) == (len(text) - 1) // 5
    x, y = c[1]
    assert c.decode(x) == text[5:10] and c.decode(y) == text[6:11]
    xb, yb = next(iter(DataLoader(c, batch_size=3)))
    assert xb.shape == (3, 5) and yb.dtype == np.int64
    with pytest.raises(ValueError, match="not in the vocabulary"):
        c.encode("hello?")
    train, val = c.split(0.5)
    assert train.chars == val.chars == c.chars and train.text + val.text == text


def test_char_corpus_streams_continue_across_batches():
    text = "abcdefghijklmnopqrstuvwxyz" * 3
    c = CharCorpus(text=text)
    batches = list(c.batches(batch_size=3, seq_len=4))
    assert len(batches) == c.num_batches(3, 4)
    stream = (len(text) - 1) // 3
    for b in range(3):  # row b over all batches is one contiguous piece of the text
        row = "".join(c.decode(x[b]) for x, _ in batches)
        assert row == text[b * stream : (b + 1) * stream]
        target = "".join(c.decode(y[b]) for _, y in batches)
        assert target == text[b * stream + 1 : (b + 1) * stream + 1]


@pytest.mark.skipif(not (DATA / "tinyshakespeare.txt").is_file(), reason="text file absent")
def test_char_corpus_file():
    c = CharCorpus(DATA / "tinyshakespeare.txt", seq_len=64)
    assert c.vocab_size == 65 and c.decode(c[0][0]).startswith("First Citizen")


# -- property: any size, batch size, drop_last and shuffle --------------------------------------
try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is optional
    given = None

if given is not None:

    @settings(max_examples=40, deadline=None)
    @given(
        n=st.integers(1, 60),
        bs=st.integers(1, 70),
        drop_last=st.booleans(),
        shuffle=st.booleans(),
        seed=st.integers(0, 2**16),
    )
    def test_loader_covers_each_sample_once(n, bs, drop_last, shuffle, seed):
        loader = DataLoader(
            TensorDataset(np.arange(n), np.arange(n) * 2.0),
            batch_size=bs, shuffle=shuffle, drop_last=drop_last, seed=seed,
        )  # fmt: skip
        batches = list(loader)
        assert len(batches) == len(loader)
        sizes = [len(b[0]) for b in batches]
        assert all(s == bs for s in sizes[:-1]) and (not sizes or 0 < sizes[-1] <= bs)
        seen = np.concatenate([_np(b[0]) for b in batches]) if batches else np.array([], int)
        assert len(set(seen.tolist())) == len(seen)  # no sample twice
        assert len(seen) == (n // bs * bs if drop_last else n)
        if not shuffle:
            np.testing.assert_array_equal(seen, np.arange(len(seen)))
        for xb, yb in batches:  # rows stay paired across the tensors
            np.testing.assert_array_equal(_np(yb), _np(xb) * 2.0)


def test_load_csv_reads_gzip_like_plain_text(tmp_path):
    import gzip

    from nn.data.tabular import load_csv

    text = "a,b,c\n1,2,3\n4.5,5,6\n"
    (tmp_path / "t.csv").write_text(text)
    with gzip.open(tmp_path / "t.csv.gz", "wt") as fh:
        fh.write(text)
    names, plain = load_csv(tmp_path / "t.csv")
    gz_names, gz = load_csv(tmp_path / "t.csv.gz")
    assert names == gz_names == ["a", "b", "c"]
    np.testing.assert_array_equal(plain, gz)
    np.testing.assert_array_equal(gz, [[1, 2, 3], [4.5, 5, 6]])
