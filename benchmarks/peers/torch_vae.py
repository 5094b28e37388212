"""The VAE of genbench's ``iwae`` preset in PyTorch eager, fed the same way as genbench.

Encoder D-200-200-(2x50) tanh (mean and log standard deviation of a diagonal
Gaussian posterior), mirrored decoder 50-200-200-D tanh giving Bernoulli
logits; one reparameterised sample, analytic KL to N(0, I), the negative ELBO
averaged over the batch, ``torch.optim.Adam(lr=1e-3)``. The data is one
float32 tensor in memory; one ``torch.randperm`` per epoch, and each step
gathers its batch by index, as genbench does inside its compiled step.
Importing this module needs torch (the ``peers`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with tanh between them, none after."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class TorchVAE(nn.Module):
    """Gaussian-latent VAE with a Bernoulli MLP decoder (the ``iwae`` preset's shapes).

    Args:
      dim: data dimension D.
      hidden: encoder hidden widths; the decoder uses them reversed.
      latent: dimension of z.
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (200, 200), latent: int = 50):
        super().__init__()
        self.encoder = _mlp((dim, *hidden, 2 * latent))
        self.decoder = _mlp((latent, *reversed(hidden), dim))

    def negative_elbo(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Negative one-sample ELBO (analytic KL) averaged over the batch ``x`` ``[B, D]``.

        ``eps`` ``[B, latent]`` fixes the standard-normal noise of the
        reparameterisation (drawn with ``randn_like`` when None).
        """
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        if eps is None:
            eps = torch.randn_like(mean)
        z = mean + log_std.exp() * eps
        logits = self.decoder(z)
        log_lik = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = 0.5 * (mean**2 + (2 * log_std).exp() - 1 - 2 * log_std).sum(-1)
        return (kl - log_lik).mean()

    def load_dense(self, encoder: Sequence[tuple], decoder: Sequence[tuple]) -> None:
        """Copies dense weights in: ``(kernel [in, out], bias [out])`` per layer, as in Flax."""
        for seq, weights in ((self.encoder, encoder), (self.decoder, decoder)):
            linears = [m for m in seq if isinstance(m, nn.Linear)]
            for layer, (kernel, bias) in zip(linears, weights, strict=True):
                with torch.no_grad():
                    layer.weight.copy_(torch.from_numpy(np.array(kernel)).T)
                    layer.bias.copy_(torch.from_numpy(np.array(bias)))


class TorchTrainer:
    """Adam steps of ``TorchVAE`` over an in-memory dataset, one permutation per epoch.

    Args:
      data: ``[N, D]`` binary examples (numpy or torch).
      batch_size: examples per step; the last partial batch of an epoch is dropped.
      seed: ``torch.manual_seed`` for the initialisation, permutations and noise.
      hidden: encoder hidden widths (the ``iwae`` preset's by default).
      latent: dimension of z.
      lr: Adam's learning rate (betas are torch's defaults, 0.9 and 0.999, as the preset's).
    """

    def __init__(
        self,
        data,
        batch_size: int = 128,
        seed: int = 0,
        hidden: Sequence[int] = (200, 200),
        latent: int = 50,
        lr: float = 1e-3,
    ):
        torch.manual_seed(seed)
        self.data = torch.tensor(np.asarray(data), dtype=torch.float32)
        self.model = TorchVAE(self.data.shape[1], hidden, latent)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.batch_size = batch_size
        self.steps_per_epoch = len(self.data) // batch_size
        self.step = 0
        self.perm = torch.randperm(len(self.data))
        self.last_loss = float("nan")

    def run(self, steps: int) -> float:
        """Runs ``steps`` optimisation steps; returns the last loss (eager, so synchronous)."""
        loss = None
        for _ in range(steps):
            position = self.step % self.steps_per_epoch
            if position == 0 and self.step > 0:
                self.perm = torch.randperm(len(self.data))
            idx = self.perm[position * self.batch_size : (position + 1) * self.batch_size]
            loss = self.update(self.data[idx])
            self.step += 1
        self.last_loss = float(loss.detach())
        return self.last_loss

    def update(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        """One Adam step on the batch ``x`` (noise ``eps`` as in ``negative_elbo``); its loss.

        The parameters' ``.grad`` keep this step's gradients afterwards.
        """
        loss = self.model.negative_elbo(x, eps)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()
