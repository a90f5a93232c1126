"""A GPT-like character model in the style of nanoGPT's model.py, with a few steps of its
train.py loop: causal self-attention through `F.scaled_dot_product_attention` (the flash
path) or through the explicit masked softmax, an MLP with GELU, pre-norm blocks, token and
position embeddings with the output head tied to the token embedding, AdamW over
decay/no-decay parameter groups, and `generate` with top-k sampling.

Written once for either library: `main(torch, argv)` takes the module to use as `torch`.
The text is `--data path` (a plain text file, e.g. tinyshakespeare) or a short inline one.
"""

from __future__ import annotations

import argparse
import importlib
import math
from typing import Any

import numpy as np

TEXT = "First Citizen: Before we proceed any further, hear me speak. All: Speak, speak. " * 8


def build(torch: Any, cfg: dict) -> Any:
    nn = torch.nn
    F = torch.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c_attn = nn.Linear(cfg["n_embd"], 3 * cfg["n_embd"], bias=cfg["bias"])
            self.c_proj = nn.Linear(cfg["n_embd"], cfg["n_embd"], bias=cfg["bias"])
            self.attn_dropout = nn.Dropout(cfg["dropout"])
            self.resid_dropout = nn.Dropout(cfg["dropout"])
            self.n_head, self.n_embd, self.dropout = cfg["n_head"], cfg["n_embd"], cfg["dropout"]
            self.flash = cfg["flash"] and hasattr(F, "scaled_dot_product_attention")
            if not self.flash:
                n = cfg["block_size"]
                self.register_buffer("bias", torch.tril(torch.ones(n, n)).view(1, 1, n, n))

        def forward(self, x: Any) -> Any:
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            if self.flash:
                p = self.dropout if self.training else 0
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
                att = self.attn_dropout(F.softmax(att, dim=-1))
                y = att @ v
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c_fc = nn.Linear(cfg["n_embd"], 4 * cfg["n_embd"], bias=cfg["bias"])
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * cfg["n_embd"], cfg["n_embd"], bias=cfg["bias"])
            self.dropout = nn.Dropout(cfg["dropout"])

        def forward(self, x: Any) -> Any:
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(cfg["n_embd"], bias=cfg["bias"])
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(cfg["n_embd"], bias=cfg["bias"])
            self.mlp = MLP()

        def forward(self, x: Any) -> Any:
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(cfg["vocab_size"], cfg["n_embd"]),
                wpe=nn.Embedding(cfg["block_size"], cfg["n_embd"]),
                drop=nn.Dropout(cfg["dropout"]),
                h=nn.ModuleList([Block() for _ in range(cfg["n_layer"])]),
                ln_f=nn.LayerNorm(cfg["n_embd"], bias=cfg["bias"]),
            ))  # fmt: skip
            self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
            self.transformer.wte.weight = self.lm_head.weight  # weight tying
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg["n_layer"]))

        def _init_weights(self, module: Any) -> None:
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx: Any, targets: Any = None) -> tuple:
            b, t = idx.size()
            pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
            x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is None:
                return self.lm_head(x[:, [-1], :]), None
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1),
                                   ignore_index=-1)  # fmt: skip
            return logits, loss

        def configure_optimizers(self, weight_decay: float, lr: float, betas: tuple) -> Any:
            params = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
            decay = [p for p in params.values() if p.dim() >= 2]
            nodecay = [p for p in params.values() if p.dim() < 2]
            groups = [{"params": decay, "weight_decay": weight_decay},
                      {"params": nodecay, "weight_decay": 0.0}]  # fmt: skip
            return torch.optim.AdamW(groups, lr=lr, betas=betas)

        @torch.no_grad()
        def generate(self, idx: Any, max_new_tokens: int, temperature: float = 1.0,
                     top_k: int | None = None, generator: Any = None) -> Any:  # fmt: skip
            for _ in range(max_new_tokens):
                cond = idx if idx.size(1) <= cfg["block_size"] else idx[:, -cfg["block_size"] :]
                logits, _ = self(cond)
                logits = logits[:, -1, :] / temperature
                if top_k is not None:
                    v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                    logits[logits < v[:, [-1]]] = -float("Inf")
                probs = F.softmax(logits, dim=-1)
                nxt = torch.multinomial(probs, num_samples=1, generator=generator)
                idx = torch.cat((idx, nxt), dim=1)
            return idx

    return GPT()


def batches(text: str, n: int, batch_size: int, block: int, seed: int) -> tuple:
    """n (x, y) pairs of int64 arrays drawn as nanoGPT's get_batch draws them."""
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text], np.int64)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ix = rng.integers(0, len(data) - block, batch_size)
        out.append((np.stack([data[i : i + block] for i in ix]),
                    np.stack([data[i + 1 : i + 1 + block] for i in ix])))  # fmt: skip
    return out, len(chars)


def main(torch: Any, argv: list[str] | None = None, init_state: dict | None = None) -> dict:
    p = argparse.ArgumentParser(description="GPT-like character model")
    p.add_argument("--data", default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--block-size", type=int, default=16)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=16)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--no-flash", action="store_true", help="explicit masked-softmax attention")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--seed", type=int, default=1337)
    args = p.parse_args(argv)

    text = open(args.data).read()[:20000] if args.data else TEXT
    data, vocab = batches(text, args.steps, args.batch_size, args.block_size, args.seed)
    cfg = dict(vocab_size=vocab, block_size=args.block_size, n_layer=args.n_layer,
               n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout, bias=True,
               flash=not args.no_flash)  # fmt: skip
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, args.dtype)
    model = build(torch, cfg).to(device).to(dtype)
    if init_state is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in init_state.items()})
    initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    optimizer = model.configure_optimizers(0.1, args.lr, (0.9, 0.95))
    scaler = torch.amp.GradScaler(enabled=False)
    losses = []
    model.train()
    for x, y in data:
        X, Y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        _, loss = model(X, Y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    start = torch.zeros((1, 1), dtype=torch.long, device=device)
    sample = model.generate(start, 8, temperature=0.8, top_k=5)
    return {"losses": losses, "initial": initial, "sample": sample.tolist()}


if __name__ == "__main__":
    cli = argparse.ArgumentParser(add_help=False)
    cli.add_argument("--backend", default="autotensor", choices=["autotensor", "torch"])
    known, rest = cli.parse_known_args()
    out = main(importlib.import_module(known.backend), rest)
    print(f"losses {out['losses'][0]:.4f} -> {out['losses'][-1]:.4f}; sample {out['sample']}")
