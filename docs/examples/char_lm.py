"""A character-level language model: read a text, learn to predict the next character,
then write new text in its style.

    python docs/examples/char_lm.py path/to/any.txt                    # LSTM, hidden 256
    python docs/examples/char_lm.py input.txt --steps 3000 --cell gru --layers 2 --dropout 0.2
    python docs/examples/char_lm.py input.txt --save lm.npz            # keep the weights
    python docs/examples/char_lm.py input.txt --load lm.npz --steps 0 --temperature 0.5

The model: an embedding of each character, a recurrent network (LSTM or GRU, any number of
layers), and a Linear layer from the hidden state to one logit per character of the
vocabulary, applied at every time step. Training minimises the next-character
cross-entropy over every step of random windows of the text, with Adam and gradient-norm
clipping. Sampling feeds a prompt through the network, then repeatedly draws the next
character from softmax(logits / temperature) and feeds it back in, carrying the recurrent
state from step to step: temperature < 1 sharpens the distribution (safer, more repetitive
text), > 1 flattens it (more surprising, more mistakes).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a source checkout

import autotensor as at
import nn
import nn.functional as F
from nn.data import CharCorpus


class CharLM(nn.Module):
    """Embedding -> LSTM/GRU -> Linear: logits for the next character at every step.

    forward(x (B, T) int64, state=None) -> (logits (B, T, vocab), state), where state is
    what the recurrent layer returns (h_n, or (h_n, c_n) for an LSTM) and can be passed back
    in to continue a sequence.
    """

    def __init__(self, vocab_size: int, embed: int = 32, hidden: int = 256, layers: int = 1,
                 cell: str = "lstm", dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(embed, hidden, num_layers=layers, batch_first=True,
                       dropout=dropout if layers > 1 else 0.0)  # fmt: skip
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x: at.Tensor, state: Any = None) -> tuple[at.Tensor, Any]:
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


def random_windows(
    ids: np.ndarray, batch: int, seq_len: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (x, y) batches of random windows: y is x shifted one character ahead."""
    if len(ids) < seq_len + 2:
        raise ValueError(f"the text has {len(ids)} characters: too few for seq_len={seq_len}")
    offsets = np.arange(seq_len)
    while True:
        start = rng.integers(0, len(ids) - seq_len - 1, size=batch)
        idx = start[:, None] + offsets
        yield ids[idx], ids[idx + 1]


def eval_windows(ids: np.ndarray, seq_len: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` evenly spaced windows of held-out text, the same every time."""
    starts = np.linspace(0, len(ids) - seq_len - 1, num=count).astype(np.int64)
    idx = starts[:, None] + np.arange(seq_len)
    return ids[idx], ids[idx + 1]


def loss_of(model: CharLM, x: np.ndarray, y: np.ndarray) -> at.Tensor:
    """Mean next-character cross-entropy over every position of every window."""
    logits, _ = model(at.tensor(x))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), at.tensor(y.reshape(-1)))


def evaluate(model: CharLM, x: np.ndarray, y: np.ndarray, batch: int = 64) -> float:
    """Held-out loss (nats per character), in eval mode and without recording a graph."""
    was_training = model.training
    model.eval()
    total = 0.0
    with at.no_grad():
        for i in range(0, len(x), batch):
            total += loss_of(model, x[i : i + batch], y[i : i + batch]).item() * len(
                x[i : i + batch]
            )
    model.train(was_training)
    return total / len(x)


def train(model: CharLM, ids: np.ndarray, steps: int, batch: int = 32, seq_len: int = 64,
          lr: float = 2e-3, clip: float = 1.0, seed: int = 0, progress: bool = True,
          val: tuple | None = None, eval_every: int = 0) -> list[float]:  # fmt: skip
    """Train on random windows of `ids`; returns the training loss of every step.

    Every `eval_every` steps (0: never) the held-out loss on `val` = (x, y) is printed.
    """
    opt = nn.optim.Adam(model.parameters(), lr=lr)
    data = random_windows(ids, batch, seq_len, np.random.default_rng(seed))
    bar = _progress(range(steps), progress)
    losses = []
    model.train()
    for step in bar:
        x, y = next(data)
        loss = loss_of(model, x, y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
        elif progress and (step % 50 == 0 or step == steps - 1):
            print(f"step {step:5d}  loss {np.mean(losses[-20:]):.3f}", flush=True)
        if val is not None and eval_every and (step + 1) % eval_every == 0:
            msg = f"step {step + 1}: held-out loss {evaluate(model, *val):.4f}"
            bar.write(msg) if hasattr(bar, "write") else print(msg)
    return losses


def sample(model: CharLM, corpus: CharCorpus, length: int = 500, prompt: str = "\n",
           temperature: float = 0.8, seed: int | None = None) -> str:  # fmt: skip
    """Generate `length` characters after `prompt`, drawing each from
    softmax(logits / temperature) (temperature 0: always the most likely character)."""
    if temperature < 0:
        raise ValueError(f"sample: temperature must be >= 0, got {temperature}")
    rng = np.random.default_rng(seed)
    was_training = model.training
    model.eval()
    out = []
    with at.no_grad():
        x = corpus.encode(prompt).numpy()[None, :]
        logits, state = model(at.tensor(x))
        for _ in range(length):
            last = logits.numpy()[0, -1].astype(np.float64)
            if temperature == 0:
                nxt = int(np.argmax(last))
            else:
                z = last / temperature
                p = np.exp(z - z.max())
                nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, state = model(at.tensor(np.array([[nxt]])), state)
    model.train(was_training)
    return prompt + corpus.decode(out)


def _progress(it: range, enabled: bool) -> Any:
    if not enabled:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:  # a plain loop with a printed line now and then
        return it
    return tqdm(it, desc="training", unit="step")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("text", help="a text file to learn from")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=1.0, help="max gradient norm")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--sample-len", type=int, default=600)
    ap.add_argument("--prompt", default="\n")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    ap.add_argument("--save", help="write the trained weights here (.npz)")
    ap.add_argument("--load", help="start from weights saved with --save")
    args = ap.parse_args(argv)

    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    corpus = CharCorpus(args.text)
    train_c, val_c = corpus.split(1 - args.val_fraction)
    print(f"{args.text}: {len(corpus.text):,} characters, vocabulary of {corpus.vocab_size}")
    at.manual_seed(args.seed)
    model = CharLM(corpus.vocab_size, args.embed, args.hidden, args.layers, args.cell,
                   args.dropout)  # fmt: skip
    if args.load:
        model.load_state_dict(nn.load(args.load))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.cell.upper()} x {args.layers}, hidden {args.hidden}: {n_params:,} parameters")
    val = eval_windows(val_c.data.numpy(), args.seq_len, 200)
    print(f"held-out loss before training: {evaluate(model, *val):.4f} "
          f"(uniform guessing: {math.log(corpus.vocab_size):.4f})")  # fmt: skip
    t0 = time.perf_counter()
    if args.steps:
        train(model, train_c.data.numpy(), args.steps, args.batch, args.seq_len, args.lr, args.clip,
              args.seed, val=val, eval_every=args.eval_every)  # fmt: skip
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.0f} s; held-out loss "
          f"{evaluate(model, *val):.4f} nats/char")  # fmt: skip
    if args.save:
        nn.save(model.state_dict(), args.save)
        print(f"weights saved to {args.save}")
    print(f"\n--- sample (temperature {args.temperature}) ---")
    print(sample(model, corpus, args.sample_len, args.prompt, args.temperature, args.seed))


if __name__ == "__main__":
    main()
