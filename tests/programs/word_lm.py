"""A word-level language model in the shape of pytorch/examples' word_language_model:
a Dictionary/Corpus that tokenises a text, batchify/get_batch over the token stream, an
RNNModel (LSTM, tied encoder/decoder weights, hidden state detached between batches by
repackage_hidden) and a TransformerModel (PositionalEncoding, nn.TransformerEncoder,
a square subsequent mask), trained with manual SGD updates after clip_grad_norm_.

Written once for either library: `main(torch, argv)` takes the module to use as `torch`.
The text is `--data path` (e.g. tinyshakespeare) or a short inline one.
"""

from __future__ import annotations

import argparse
import importlib
import math
from typing import Any

import numpy as np

TEXT = ("the quick brown fox jumps over the lazy dog and the dog sleeps while the fox runs "
        "into the wood where the old owl sings to the moon\n") * 12  # fmt: skip


class Dictionary:
    def __init__(self) -> None:
        self.word2idx: dict[str, int] = {}
        self.idx2word: list[str] = []

    def add_word(self, word: str) -> int:
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self) -> int:
        return len(self.idx2word)


class Corpus:
    """Tokens of the text (one '<eos>' per line), as an int64 array."""

    def __init__(self, text: str) -> None:
        self.dictionary = Dictionary()
        ids = [self.dictionary.add_word(w) for line in text.splitlines()
               for w in line.split() + ["<eos>"]]  # fmt: skip
        self.ids = np.array(ids, np.int64)


def make_models(torch: Any) -> tuple:
    nn = torch.nn
    F = torch.nn.functional

    class RNNModel(nn.Module):
        def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float,
                     tie_weights: bool) -> None:  # fmt: skip
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)
            if tie_weights:
                self.decoder.weight = self.encoder.weight
            self.nhid, self.nlayers = nhid, nlayers
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input: Any, hidden: Any) -> tuple:
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            decoded = self.decoder(self.drop(output)).view(-1, self.decoder.out_features)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz: int) -> tuple:
            weight = next(self.parameters())
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))  # fmt: skip

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model: int, dropout: float, max_len: int = 500) -> None:
            super().__init__()
            self.dropout = nn.Dropout(p=dropout)
            pe = torch.zeros(max_len, d_model)
            position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2).float()
                                 * (-math.log(10000.0) / d_model))  # fmt: skip
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe.unsqueeze(0).transpose(0, 1))

        def forward(self, x: Any) -> Any:
            return self.dropout(x + self.pe[: x.size(0), :])

    class TransformerModel(nn.Module):
        def __init__(self, ntoken: int, ninp: int, nhead: int, nhid: int, nlayers: int,
                     dropout: float) -> None:  # fmt: skip
            super().__init__()
            self.pos_encoder = PositionalEncoding(ninp, dropout)
            layer = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
            self.transformer_encoder = nn.TransformerEncoder(
                layer, nlayers, enable_nested_tensor=False
            )
            self.input_emb = nn.Embedding(ntoken, ninp)
            self.decoder = nn.Linear(ninp, ntoken)
            self.ninp = ninp
            nn.init.uniform_(self.input_emb.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

        def forward(self, src: Any) -> Any:
            mask = nn.Transformer.generate_square_subsequent_mask(len(src))
            src = self.pos_encoder(self.input_emb(src) * math.sqrt(self.ninp))
            output = self.decoder(self.transformer_encoder(src, mask))
            return F.log_softmax(output, dim=-1)

    return RNNModel, TransformerModel


def batchify(torch: Any, data: np.ndarray, bsz: int) -> Any:
    nbatch = len(data) // bsz
    return torch.from_numpy(data[: nbatch * bsz].copy()).view(bsz, -1).t().contiguous()


def get_batch(source: Any, i: int, bptt: int) -> tuple:
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i : i + seq_len], source[i + 1 : i + 1 + seq_len].reshape(-1)


def repackage_hidden(torch: Any, h: Any) -> Any:
    """Detach hidden states from their history (truncated backpropagation through time)."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(torch, v) for v in h)


def main(torch: Any, argv: list[str] | None = None, init_state: dict | None = None) -> dict:
    p = argparse.ArgumentParser(description="word-level language model")
    p.add_argument("--data", default=None)
    p.add_argument("--model", default="LSTM", choices=["LSTM", "Transformer"])
    p.add_argument("--emsize", type=int, default=16)
    p.add_argument("--nhid", type=int, default=16)
    p.add_argument("--nlayers", type=int, default=2)
    p.add_argument("--nhead", type=int, default=2)
    p.add_argument("--lr", type=float, default=5.0)
    p.add_argument("--clip", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--bptt", type=int, default=8)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--tied", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--seed", type=int, default=1111)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    text = open(args.data).read()[:20000] if args.data else TEXT
    corpus = Corpus(text)
    train_data = batchify(torch, corpus.ids, args.batch_size).to(device)
    ntokens = len(corpus.dictionary)
    RNNModel, TransformerModel = make_models(torch)
    if args.model == "Transformer":
        model = TransformerModel(ntokens, args.emsize, args.nhead, args.nhid, args.nlayers,
                                 args.dropout)  # fmt: skip
    else:
        model = RNNModel(ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied)
    model = model.to(device).to(getattr(torch, args.dtype))
    if init_state is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in init_state.items()})
    initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    criterion = torch.nn.NLLLoss()
    model.train()
    hidden = None if args.model == "Transformer" else model.init_hidden(args.batch_size)
    losses: list[float] = []
    i = 0
    while len(losses) < args.steps:
        if i >= train_data.size(0) - 2:
            i = 0
        data, targets = get_batch(train_data, i, args.bptt)
        model.zero_grad()
        if hidden is None:
            output = model(data).view(-1, ntokens)
        else:
            hidden = repackage_hidden(torch, hidden)
            output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        for prm in model.parameters():
            prm.data.add_(prm.grad, alpha=-args.lr)
        losses.append(loss.item())
        i += args.bptt
    return {"losses": losses, "initial": initial}


if __name__ == "__main__":
    cli = argparse.ArgumentParser(add_help=False)
    cli.add_argument("--backend", default="autotensor", choices=["autotensor", "torch"])
    known, rest = cli.parse_known_args()
    out = main(importlib.import_module(known.backend), rest)
    print(f"losses {out['losses'][0]:.4f} -> {out['losses'][-1]:.4f}")
