"""genbench's transformer in PyTorch eager (nanoGPT's layout), with its training step.

Network (``genbench.models.transformer``): h_0 = E[x_j] + P[j], then pre-LayerNorm
blocks h += W_o Attn(LN_1 h), h += W_2 GELU(W_1 LN_2 h) with causal multi-head
attention (``F.scaled_dot_product_attention(is_causal=True)``, scale 1/sqrt(D_h)),
exact (erf) GELU, a 4x MLP, LayerNorm eps 1e-5, no biases anywhere, and logits
LN_f(h) E^T (tied). genbench also learns ``first_logits`` a, the distribution of a
window's first token: the training loss is the mean cross-entropy over all B + 1
tokens of each window, the first scored by softmax(a), the others by the network
(-log q(window) / (B + 1)). The peer computes exactly that.

Optimiser, as genbench's chain: global-norm clipping at 1.0 (``clip_grad_norm_``),
AdamW (b1 0.9, b2 0.99, eps 1e-8) with decoupled weight decay 0.1 on the >= 2-D
parameters only (the embeddings and the linear weights; not the LayerNorm gains or
``first_logits``), and the learning rate set every step from the same schedule
(linear warm-up, then cosine to ``min_lr``), as nanoGPT's ``get_lr`` does.

Data: the training rows live in one int64 tensor; each step draws ``batch`` (row,
offset) pairs uniformly and gathers windows of B + 1 tokens, as genbench's
``WindowFeeder`` does. Importing this module needs torch (the ``peers`` extra).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

LN_EPS = 1e-5


def _tensor(array) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32))


class Block(nn.Module):
    """Pre-LayerNorm block: causal self-attention, then a 4x GELU MLP (no biases)."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(n_embd, eps=LN_EPS, bias=False)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=False)
        self.ln_2 = nn.LayerNorm(n_embd, eps=LN_EPS, bias=False)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(n, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(n, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    """Token + position embeddings, ``n_layer`` blocks, final LayerNorm, tied output."""

    def __init__(self, vocab: int, block_size: int, n_layer: int, n_head: int, n_embd: int):
        super().__init__()
        self.vocab, self.block_size = vocab, block_size
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, eps=LN_EPS, bias=False)
        self.first_logits = nn.Parameter(torch.zeros(vocab))
        # genbench's (and nanoGPT's) initialisation: N(0, 0.02), residual projections
        # N(0, 0.02 / sqrt(2 n_layer)), LayerNorm gains 1, first_logits 0.
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                residual = name.endswith(("c_proj.weight", "mlp_proj.weight"))
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer) if residual else 0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``[N, T, V]`` of ``tokens [N, T]``."""
        t = tokens.shape[1]
        x = self.wte(tokens) + self.wpe(torch.arange(t, device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)

    def loss(self, windows: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the B + 1 tokens of each window, the first by softmax(a)."""
        n, length = windows.shape
        logits = self(windows[:, :-1])
        rest = F.cross_entropy(
            logits.reshape(-1, self.vocab), windows[:, 1:].reshape(-1), reduction="sum"
        )
        first = F.cross_entropy(
            self.first_logits.expand(n, self.vocab), windows[:, 0], reduction="sum"
        )
        return (first + rest) / (n * length)

    def load_genbench(self, model) -> None:
        """Copies the weights of a ``genbench.models.transformer.Transformer`` (no biases, tied).

        Flax kernels are ``[in, out]`` (torch weights are their transposes); the
        embeddings and LayerNorm scales have the same layout on both sides.
        """
        if model.tie_weights is not True or any(b.c_attn.bias is not None for b in model.blocks):
            raise ValueError("the peer mirrors tied weights and no biases only")
        with torch.no_grad():
            self.wte.weight.copy_(_tensor(model.wte.embedding[...]))
            self.wpe.weight.copy_(_tensor(model.wpe.embedding[...]))
            self.ln_f.weight.copy_(_tensor(model.ln_f.scale[...]))
            self.first_logits.copy_(_tensor(model.first_logits[...]))
            for ours, theirs in zip(self.blocks, model.blocks, strict=True):
                for name in ("c_attn", "c_proj", "c_fc", "mlp_proj"):
                    getattr(ours, name).weight.copy_(_tensor(getattr(theirs, name).kernel[...]).T)
                for name in ("ln_1", "ln_2"):
                    getattr(ours, name).weight.copy_(_tensor(getattr(theirs, name).scale[...]))


def learning_rate(step: int, lr: float, warmup: int, decay_steps: int, min_lr: float) -> float:
    """optax's ``warmup_cosine_decay_schedule`` at ``step`` (genbench's cosine schedule)."""
    if step < warmup:
        return lr * step / warmup
    progress = min(step - warmup, decay_steps - warmup) / max(decay_steps - warmup, 1)
    return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


class TorchTransformerTrainer:
    """Training steps of ``GPT`` on random windows of ``rows`` (see the module docstring).

    Args:
      rows: ``[N, L]`` int training symbols (L >= block + 1).
      config: genbench's ``RunConfig`` (model sizes and the ``train`` section).
      vocab: V.
      seed: ``torch.manual_seed`` for the initialisation and the window draws.
      optimizer_impl: ``"foreach"`` or ``"fused"`` (torch's AdamW implementation).
    """

    def __init__(self, rows, config, vocab: int, seed: int = 0, optimizer_impl: str = "foreach"):
        torch.manual_seed(seed)
        m, self.train = config.model, config.train
        if m.bias or not m.tie_weights or m.dropout:
            raise ValueError("the peer mirrors bias=False, tie_weights=True, dropout=0 only")
        self.model = GPT(vocab, m.block_size, m.n_layer, m.n_head, m.n_embd)
        self.data = torch.as_tensor(np.asarray(rows), dtype=torch.int64)
        self.window, self.batch_size = m.block_size + 1, self.train.batch_size
        params, decay = list(self.model.parameters()), self.train.weight_decay
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        self.optimizer = torch.optim.AdamW(
            groups,
            lr=self.train.lr,
            betas=(self.train.b1, self.train.b2),
            eps=1e-8,
            **{optimizer_impl: True},
        )
        self.offsets = torch.arange(self.window)
        self.step, self.last_loss = 0, float("nan")

    def batch(self) -> torch.Tensor:
        """``[batch, B + 1]`` windows at uniformly random rows and offsets."""
        n, length = self.data.shape
        rows = torch.randint(0, n, (self.batch_size, 1))
        starts = torch.randint(0, length - self.window + 1, (self.batch_size, 1))
        return self.data[rows, starts + self.offsets]

    def lr_at(self, step: int) -> float:
        t = self.train
        if t.schedule != "cosine":
            return t.lr * min(1.0, step / t.warmup_steps) if t.warmup_steps else t.lr
        decay = max(t.steps, t.warmup_steps + 1)
        return learning_rate(step, t.lr, t.warmup_steps, decay, t.min_lr)

    def run(self, steps: int) -> float:
        """Runs ``steps`` optimisation steps; returns the last loss (eager, so synchronous)."""
        loss = None
        for _ in range(steps):
            loss = self.update(self.batch())
        self.last_loss = float(loss.detach())
        return self.last_loss

    def update(self, windows: torch.Tensor) -> torch.Tensor:
        """One step on ``windows`` ``[batch, B + 1]`` at the schedule's lr; returns its loss."""
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = self.model.loss(windows)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.train.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.train.grad_clip)
        self.optimizer.step()
        self.step += 1
        return loss.detach()
