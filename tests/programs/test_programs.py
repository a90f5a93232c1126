"""The programs under tests/programs run on torch and on autotensor from the same initial
weights and the same batches, and give the same loss at every step: 1e-5 relative in
float32, 1e-10 in float64 (dropout off, so both compute the same function)."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

import autotensor

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
RTOL = {"float32": 1e-5, "float64": 1e-10}


def _load(name: str):
    return importlib.import_module(f"tests.programs.{name}")


def _compare(ref: list, ours: list, dtype: str, min_steps: int = 20) -> float:
    ref, ours = np.asarray(ref, np.float64), np.asarray(ours, np.float64)
    assert len(ref) == len(ours) >= min_steps
    rel = np.abs(ours - ref) / np.abs(ref)
    bad = np.nonzero(rel > RTOL[dtype])[0]
    assert bad.size == 0, f"step {bad[0]}: torch {ref[bad[0]]!r}, autotensor {ours[bad[0]]!r}"
    return float(rel.max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mnist_cnn_matches_torch(dtype: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    prog = _load("mnist_cnn")
    argv = ["--dropout", "0", "--dtype", dtype, "--epochs", "2", "--n", "256"]
    digits = DATA / "digits.csv.gz"
    if digits.exists():
        argv += ["--data", str(digits)]
    ref = prog.main(torch, argv)
    ours = prog.main(autotensor, argv, init_state=ref["initial"])
    _compare(ref["losses"], ours["losses"], dtype)  # 12 batches an epoch, 2 epochs
    assert ref["tests"][-1][1] == ours["tests"][-1][1]  # same number correct
    np.testing.assert_allclose(ours["tests"][-1][0], ref["tests"][-1][0], rtol=RTOL[dtype])


def test_mnist_cnn_saved_state_dict_loads_in_both(tmp_path: Path) -> None:
    """The script's save step, torch.save(model.state_dict(), path), writes a file that
    torch.load reads back; and autotensor loads torch's file. The weights are each run's
    trained ones (equal to float32 rounding), and load strictly into a fresh network."""
    torch = pytest.importorskip("torch")
    prog = _load("mnist_cnn")
    argv = ["--dropout", "0", "--epochs", "1", "--n", "64"]
    ref = prog.main(torch, argv + ["--save-model", str(tmp_path / "torch.pt")])
    prog.main(autotensor, argv + ["--save-model", str(tmp_path / "at.pt")],
              init_state=ref["initial"])  # fmt: skip
    ours_in_torch = torch.load(tmp_path / "at.pt", weights_only=True)
    theirs_in_ours = autotensor.load(tmp_path / "torch.pt")
    assert list(ours_in_torch) == list(theirs_in_ours) == list(ref["initial"])
    for k in ours_in_torch:
        a, b = ours_in_torch[k].numpy(), theirs_in_ours[k].numpy()
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=k)
    trained = [k for k, v in ours_in_torch.items() if not np.array_equal(v, ref["initial"][k])]
    assert trained == list(ref["initial"])  # every tensor moved: the file holds the trained net
    fresh = prog.make_net(autotensor, 0.0)
    fresh.load_state_dict(autotensor.load(tmp_path / "at.pt"), strict=True)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours_in_torch[k].numpy())


def test_mnist_cnn_refuses_accelerator_devices() -> None:
    prog = _load("mnist_cnn")
    model = prog.make_net(autotensor, 0.0)
    with pytest.raises(RuntimeError, match="CPU only"):
        model.to("cuda")


@pytest.mark.parametrize("attention", ["flash", "masked-softmax"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpt_matches_torch(dtype: str, attention: str) -> None:
    torch = pytest.importorskip("torch")
    prog = _load("gpt")
    argv = ["--dtype", dtype, "--steps", "20", "--dropout", "0"]
    if attention != "flash":
        argv.append("--no-flash")
    ref = prog.main(torch, argv)
    ours = prog.main(autotensor, argv, init_state=ref["initial"])
    _compare(ref["losses"], ours["losses"], dtype)
    assert len(ours["sample"][0]) == 9  # generate() appended 8 tokens through top-k sampling


@pytest.mark.parametrize("model", ["LSTM", "Transformer"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_word_lm_matches_torch(dtype: str, model: str) -> None:
    torch = pytest.importorskip("torch")
    prog = _load("word_lm")
    argv = ["--model", model, "--dtype", dtype, "--steps", "20", "--dropout", "0", "--tied"]
    ref = prog.main(torch, argv)
    ours = prog.main(autotensor, argv, init_state=ref["initial"])
    _compare(ref["losses"], ours["losses"], dtype)
