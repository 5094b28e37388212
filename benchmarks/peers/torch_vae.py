"""The VAE of genbench's ``iwae`` preset in PyTorch eager, with the same data feeding.

Encoder D-200-200-(2x50) tanh, mirrored decoder, Bernoulli likelihood,
analytic KL, negative ELBO averaged over the batch, Adam(lr=1e-3). The data
lives in one tensor; one ``randperm`` per epoch and an index gather per step,
as genbench does on device.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class TorchVAE(nn.Module):
    def __init__(self, dim: int, hidden=(200, 200), latent: int = 50):
        super().__init__()
        sizes = (dim, *hidden)
        enc = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            enc += [nn.Linear(a, b), nn.Tanh()]
        self.encoder = nn.Sequential(*enc, nn.Linear(sizes[-1], 2 * latent))
        back = (latent, *reversed(hidden))
        dec = []
        for a, b in zip(back[:-1], back[1:], strict=True):
            dec += [nn.Linear(a, b), nn.Tanh()]
        self.decoder = nn.Sequential(*dec, nn.Linear(back[-1], dim))

    def negative_elbo(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        z = mean + log_std.exp() * torch.randn_like(mean)
        logits = self.decoder(z)
        log_lik = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = 0.5 * (mean**2 + (2 * log_std).exp() - 1 - 2 * log_std).sum(-1)
        return (kl - log_lik).mean()


class TorchTrainer:
    """Runs optimisation steps of ``TorchVAE`` over an in-memory dataset."""

    def __init__(self, data, batch_size: int = 128, seed: int = 0):
        torch.manual_seed(seed)
        self.data = torch.as_tensor(data, dtype=torch.float32)
        self.model = TorchVAE(self.data.shape[1])
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.batch_size = batch_size
        self.steps_per_epoch = len(self.data) // batch_size
        self.step = 0
        self.perm = torch.randperm(len(self.data))

    def run(self, steps: int) -> float:
        """Runs ``steps`` steps; returns the last loss (which also synchronises)."""
        loss = None
        for _ in range(steps):
            position = self.step % self.steps_per_epoch
            if position == 0 and self.step > 0:
                self.perm = torch.randperm(len(self.data))
            idx = self.perm[position * self.batch_size : (position + 1) * self.batch_size]
            loss = self.model.negative_elbo(self.data[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
        return float(loss.detach())
