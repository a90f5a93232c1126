"""nn.data samplers and the DataLoader's sampler/batch_sampler/worker/pin_memory options.

Exact index sequences would need torch's generator, so these tests check what torch
promises: permutations, counts, proportions, replacement, lengths, validation messages,
and that one seed gives one sequence here."""

from __future__ import annotations

import numpy as np
import pytest

import autotensor as at
from nn.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    get_worker_info,
)  # fmt: skip

try:
    import torch
    from torch.utils import data as tdata
except ImportError:  # torch is the oracle for messages and batching only
    torch = None


def _gen(seed):
    return at.Generator().manual_seed(seed)


def test_sequential_sampler():
    s = SequentialSampler(range(7))
    assert list(s) == list(range(7)) and len(s) == 7
    assert isinstance(s, Sampler)


@pytest.mark.parametrize("n", [1, 5, 64])
def test_random_sampler_is_a_fresh_permutation_each_pass(n):
    s = RandomSampler(range(n), generator=_gen(0))
    a, b = list(s), list(s)
    assert sorted(a) == list(range(n)) == sorted(b) and len(s) == n
    if n == 64:
        assert a != b  # the generator's state advanced between passes
    assert list(RandomSampler(range(n), generator=_gen(0))) == a  # same seed, same order


def test_random_sampler_num_samples_without_replacement_covers_evenly():
    s = RandomSampler(range(10), num_samples=23, generator=_gen(1))
    idx = list(s)
    assert len(idx) == len(s) == 23
    counts = np.bincount(idx, minlength=10)
    assert counts.min() >= 2 and counts.max() <= 3 and counts.sum() == 23
    assert sorted(idx[:10]) == list(range(10)) and sorted(idx[10:20]) == list(range(10))
    short = list(RandomSampler(range(10), num_samples=4, generator=_gen(1)))
    assert len(set(short)) == 4


def test_random_sampler_with_replacement():
    idx = np.array(list(RandomSampler(range(5), replacement=True, num_samples=5000,
                                      generator=_gen(2))))  # fmt: skip
    assert idx.min() == 0 and idx.max() == 4 and len(idx) == 5000
    counts = np.bincount(idx, minlength=5)
    assert np.all(np.abs(counts - 1000) < 5 * np.sqrt(1000))  # 5 sigma: uniform
    # repeats happen (a permutation would have none)
    small = list(RandomSampler(range(50), replacement=True, generator=_gen(3)))
    assert len(set(small)) < 50 and len(small) == 50


def test_random_sampler_global_seed_and_int_seed():
    at.manual_seed(5)
    a = list(RandomSampler(range(30)))
    at.manual_seed(5)
    assert list(RandomSampler(range(30))) == a
    s = RandomSampler(range(30), generator=11)
    first, second = list(s), list(s)
    assert first != second and list(RandomSampler(range(30), generator=11)) == first


def test_subset_random_sampler():
    ind = [3, 8, 10, 42]
    s = SubsetRandomSampler(ind, generator=_gen(4))
    out = [list(s) for _ in range(20)]
    assert all(sorted(o) == ind for o in out) and len(s) == 4
    assert len({tuple(o) for o in out}) > 1


def test_weighted_sampler_proportions_and_zero_weights():
    w = [0.1, 0.0, 0.6, 0.3]
    idx = np.array(list(WeightedRandomSampler(w, 20000, generator=_gen(6))))
    counts = np.bincount(idx, minlength=4)
    assert counts[1] == 0
    expect = np.array(w) * 20000
    sd = np.sqrt(expect * (1 - np.array(w)))
    assert np.all(np.abs(counts - expect) <= 5 * sd + 1e-9)
    # unnormalised weights and tensors give the same distribution
    same = list(WeightedRandomSampler(at.tensor([1.0, 0.0, 6.0, 3.0]), 50, generator=_gen(6)))
    assert same == idx[:50].tolist()


def test_weighted_sampler_without_replacement():
    s = WeightedRandomSampler([5.0, 1.0, 1.0, 1.0, 0.0], 4, replacement=False, generator=_gen(7))
    runs = [list(s) for _ in range(2000)]
    assert all(sorted(r) == [0, 1, 2, 3] for r in runs)  # no repeats, never the zero weight
    first = np.bincount([r[0] for r in runs], minlength=4)
    assert abs(first[0] / 2000 - 5 / 8) < 0.05  # the first draw is proportional
    # past the positive weights, zero-weight indices follow (torch's multinomial)
    full = list(WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False, generator=_gen(8)))
    assert sorted(full) == [0, 1, 2] and full[2] == 1


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_validation_matches_torch():
    cases = [
        (RandomSampler, tdata.RandomSampler, (range(3),), dict(replacement=1)),
        (RandomSampler, tdata.RandomSampler, (range(3),), dict(num_samples=0)),
        (WeightedRandomSampler, tdata.WeightedRandomSampler, ([1.0], 0), {}),
        (WeightedRandomSampler, tdata.WeightedRandomSampler, ([1.0], 1, 0), {}),
        (WeightedRandomSampler, tdata.WeightedRandomSampler, ([[1.0]], 1), {}),
        (BatchSampler, tdata.BatchSampler, (range(3), 0, False), {}),
        (BatchSampler, tdata.BatchSampler, (range(3), 2, 1), {}),
    ]
    for ours, theirs, args, kw in cases:
        with pytest.raises((ValueError, TypeError)) as t:
            theirs(*args, **kw)
        with pytest.raises(t.type) as o:
            ours(*args, **kw)
        assert str(o.value) == str(t.value)
    for w, n, r in [([1.0, -1.0], 1, True), ([0.0, 0.0], 1, True), ([1.0], 2, False)]:
        with pytest.raises(RuntimeError):
            list(tdata.WeightedRandomSampler(w, n, r))
        with pytest.raises(RuntimeError):
            list(WeightedRandomSampler(w, n, r))


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False)])
def test_batch_sampler_matches_torch(n, bs, drop):
    ours, theirs = BatchSampler(range(n), bs, drop), tdata.BatchSampler(range(n), bs, drop)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_loader_validation_messages_match_torch():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds, tds = TensorDataset(x), tdata.TensorDataset(torch.tensor(x))
    bad = [dict(sampler=[0], shuffle=True), dict(batch_sampler=[[0]], batch_size=2),
           dict(batch_sampler=[[0]], drop_last=True), dict(batch_size=None, drop_last=True),
           dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2),
           dict(persistent_workers=True), dict(batch_size=0)]  # fmt: skip
    for kw in bad:
        with pytest.raises(ValueError) as t:
            tdata.DataLoader(tds, **kw)
        with pytest.raises(ValueError) as o:
            DataLoader(ds, **kw)
        assert str(o.value) == str(t.value), kw


def test_loader_builds_torch_samplers():
    ds = TensorDataset(np.arange(10))
    plain = DataLoader(ds, batch_size=4)
    assert type(plain.sampler) is SequentialSampler and type(plain.batch_sampler) is BatchSampler
    assert len(plain) == 3 and len(plain.sampler) == 10
    shuffled = DataLoader(ds, batch_size=4, shuffle=True, generator=_gen(0))
    assert type(shuffled.sampler) is RandomSampler
    unbatched = DataLoader(ds, batch_size=None)
    assert unbatched.batch_sampler is None and len(unbatched) == 10


def test_loader_with_sampler_and_batch_sampler_objects():
    x = np.arange(20, dtype=np.float64)
    ds = TensorDataset(x)
    sampler = WeightedRandomSampler(np.r_[np.zeros(10), np.ones(10)], 30, generator=_gen(1))
    loader = DataLoader(ds, batch_size=8, sampler=sampler)
    vals = np.concatenate([b[0].numpy() for b in loader])
    assert len(loader) == 4 and len(vals) == 30 and vals.min() >= 10
    bsamp = BatchSampler(SubsetRandomSampler([1, 3, 5, 7, 9], generator=_gen(2)), 2, False)
    batches = [b[0].numpy().tolist() for b in DataLoader(ds, batch_sampler=bsamp)]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(sum(batches, [])) == [1.0, 3.0, 5.0, 7.0, 9.0]


def test_fast_and_generic_paths_agree_for_all_samplers():
    """TensorDatasets are gathered with one take per batch; other datasets sample by
    sample. The same sampler seed gives the same batches either way."""
    x = np.random.default_rng(0).normal(size=(17, 3))

    class Plain:
        def __len__(self):
            return 17

        def __getitem__(self, i):
            return (at.tensor(x[i]),)

    for make in (lambda d: RandomSampler(d, generator=_gen(3)),
                 lambda d: RandomSampler(d, True, 25, generator=_gen(3)),
                 lambda d: SequentialSampler(d)):  # fmt: skip
        for drop in (False, True):
            a = [b[0].numpy() for b in DataLoader(TensorDataset(x), 4, sampler=make(x),
                                                  drop_last=drop)]  # fmt: skip
            b = [b[0].numpy() for b in DataLoader(Plain(), 4, sampler=make(x), drop_last=drop)]
            assert len(a) == len(b)
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u, v)


def test_num_workers_run_in_process_with_worker_info():
    calls = []

    def init(worker_id):
        info = get_worker_info()
        calls.append((worker_id, info.id, info.num_workers))

    class Shards(IterableDataset):
        def __iter__(self):
            info = get_worker_info()
            assert info is not None  # inside the (in-process) worker
            return iter(range(info.id, 10, info.num_workers))

    out = [b.numpy().tolist() for b in DataLoader(Shards(), batch_size=4, num_workers=3,
                                                  worker_init_fn=init)]  # fmt: skip
    assert out == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and calls == [(0, 0, 1)]
    assert get_worker_info() is None  # back in the main process
    ds = TensorDataset(np.arange(6))
    loader = DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=init,
                        persistent_workers=True)  # fmt: skip
    same = DataLoader(ds, batch_size=2)
    for _ in range(3):
        assert [b[0].numpy().tolist() for b in loader] == [b[0].numpy().tolist() for b in same]
    assert len(calls) == 2  # persistent: initialised once across the three passes
    list(DataLoader(ds, batch_size=2, num_workers=1, worker_init_fn=init))
    list(DataLoader(ds, batch_size=2, num_workers=1, worker_init_fn=init))
    assert len(calls) == 4  # not persistent: once per pass


def test_pin_memory_is_an_honest_no_op():
    ds = TensorDataset(np.arange(6.0))
    a = [b[0].numpy() for b in DataLoader(ds, batch_size=4, pin_memory=True)]
    b = [b[0].numpy() for b in DataLoader(ds, batch_size=4)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    with pytest.raises(RuntimeError, match="CPU only"):
        DataLoader(ds, pin_memory=True, pin_memory_device="cuda")


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is optional
    given = None

if given is not None:

    @settings(max_examples=40, deadline=None)
    @given(
        n=st.integers(1, 40), k=st.one_of(st.none(), st.integers(1, 90)),
        replacement=st.booleans(), bs=st.integers(1, 9), drop=st.booleans(),
        seed=st.integers(0, 2**16),
    )  # fmt: skip
    def test_random_sampler_batches_properties(n, k, replacement, bs, drop, seed):
        s = RandomSampler(range(n), replacement=replacement, num_samples=k, generator=seed)
        total = n if k is None else k
        idx = list(RandomSampler(range(n), replacement, k, generator=seed))
        assert len(idx) == total == len(s) and all(0 <= i < n for i in idx)
        if not replacement:
            counts = np.bincount(idx, minlength=n)
            assert counts.max() - counts.min() <= 1
        batches = list(BatchSampler(s, bs, drop))
        assert len(batches) == len(BatchSampler(s, bs, drop))
        flat = sum(batches, [])
        assert len(flat) == (total - total % bs if drop else total)
        assert all(len(b) == bs for b in batches[:-1])
        loader = DataLoader(
            TensorDataset(np.arange(n)),
            batch_size=bs,
            drop_last=drop,
            sampler=RandomSampler(range(n), replacement, k, generator=seed),
        )
        got = sum((b[0].numpy().tolist() for b in loader), [])
        assert got == idx[: len(got)] and len(got) == len(flat)
