"""The GAN of genbench's ``pacgan`` preset in PyTorch eager, on fresh ``grid25`` samples.

Generator: noise 2 -> [Linear -> (BatchNorm1d) -> ReLU] x 4 (width 400) -> Linear -> 2.
The ``pacgan`` preset has no BatchNorm; with ``batchnorm=True`` (``pacgan-paper``'s
generator) BatchNorm1d uses ``momentum=0.01`` and ``eps=1e-5``, which is Flax's decay
0.99 and epsilon. Discriminator: [Linear to 200 x 5 -> max over the 5 pieces] x 3 -> Linear
-> one logit (maxout-5). The loss is non-saturating: L_D = softplus(-D(real)) +
softplus(D(fake)) and L_G = softplus(-D(fake)), both averaged. Each network has its
own ``torch.optim.Adam(lr=1e-4, betas=(0.8, 0.999))``. The real batch is drawn
fresh every step with torch ops: a uniform mode of the 25 means on {-4, -2, 0, 2,
4}^2, plus 0.05 x N(0, I).

One iteration is the usual eager GAN iteration (as in PyTorch's DCGAN example):
``fake = G(z)``, a discriminator step on ``fake.detach()``, and then a generator step
that reuses ``fake``. G's forward pass therefore runs once per iteration. genbench's
generic step runs it in both phases. Importing this module needs torch (the
``peers`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def grid25_means(spacing: float = 2.0) -> torch.Tensor:
    """``[25, 2]`` means on the 5 x 5 grid centred at the origin, ordered as genbench's."""
    axis = spacing * (torch.arange(5, dtype=torch.float32) - 2)
    return torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def _load_linear(layer: nn.Linear, kernel, bias) -> None:
    """Copies a Flax dense layer (``kernel [in, out]``, ``bias [out]``) into ``layer``."""
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.array(kernel)).T)
        layer.bias.copy_(torch.from_numpy(np.array(bias)))


class Generator(nn.Module):
    """z -> [Linear -> (BatchNorm1d) -> ReLU] x len(hidden) -> Linear."""

    def __init__(
        self,
        batchnorm: bool,
        noise_dim: int = 2,
        hidden: Sequence[int] = (400,) * 4,
        out_dim: int = 2,
    ):
        super().__init__()
        sizes = (noise_dim, *hidden)
        layers: list[nn.Module] = []
        for a, b in pairwise(sizes):
            layers.append(nn.Linear(a, b))
            if batchnorm:
                layers.append(nn.BatchNorm1d(b, eps=1e-5, momentum=0.01))
            layers.append(nn.ReLU())
        layers.append(nn.Linear(sizes[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def load_flax(self, linears: Sequence[tuple], norms: Sequence[tuple]) -> None:
        """Copies ``(kernel, bias)`` per dense layer and ``(scale, bias, mean, var)`` per
        BatchNorm, as Flax stores them."""
        dense = [m for m in self.net if isinstance(m, nn.Linear)]
        batchnorms = [m for m in self.net if isinstance(m, nn.BatchNorm1d)]
        for layer, weights in zip(dense, linears, strict=True):
            _load_linear(layer, *weights)
        for norm, (scale, bias, mean, var) in zip(batchnorms, norms, strict=True):
            with torch.no_grad():
                for target, value in ((norm.weight, scale), (norm.bias, bias)):
                    target.copy_(torch.from_numpy(np.array(value)))
                norm.running_mean.copy_(torch.from_numpy(np.array(mean)))
                norm.running_var.copy_(torch.from_numpy(np.array(var)))


class MaxoutDiscriminator(nn.Module):
    """[Linear to width x pieces -> max over pieces] x len(hidden) -> Linear -> one logit."""

    def __init__(self, in_dim: int = 2, hidden: Sequence[int] = (200,) * 3, pieces: int = 5):
        super().__init__()
        sizes = (in_dim, *hidden)
        self.layers = nn.ModuleList([nn.Linear(a, b * pieces) for a, b in pairwise(sizes)])
        self.out = nn.Linear(sizes[-1], 1)
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for layer in self.layers:
            h = layer(h)
            # Unit j is the max of columns j, j + width, ..., j + (pieces - 1) * width.
            h = h.view(h.shape[0], self.pieces, -1).amax(1)
        return self.out(h)[:, 0]

    def load_flax(self, linears: Sequence[tuple]) -> None:
        """Copies ``(kernel, bias)`` per dense layer, the output layer last."""
        for layer, weights in zip([*self.layers, self.out], linears, strict=True):
            _load_linear(layer, *weights)


def discriminator_loss(
    discriminator: MaxoutDiscriminator, real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """L_D = softplus(-D(real)) + softplus(D(fake)), averaged; ``fake`` is detached."""
    return (F.softplus(-discriminator(real)) + F.softplus(discriminator(fake.detach()))).mean()


def generator_loss(discriminator: MaxoutDiscriminator, fake: torch.Tensor) -> torch.Tensor:
    """L_G = softplus(-D(fake)), averaged (the non-saturating generator loss)."""
    return F.softplus(-discriminator(fake)).mean()


class TorchGANTrainer:
    """Iterations of the ``pacgan`` GAN on fresh ``grid25`` batches (see the module docstring).

    Args:
      batchnorm: BatchNorm in the generator (the ``pacgan`` preset has none).
      batch_size: samples per iteration.
      seed: ``torch.manual_seed`` for the initialisation, the data and the noise.
      std: standard deviation of each mixture component.
      generator: a ``Generator`` (default: the preset's, 4 x 400, with ``batchnorm``).
      discriminator: a ``MaxoutDiscriminator`` (default: the preset's, 3 x 200, maxout-5).
      lr, betas: each network's Adam (the preset's: 1e-4, (0.8, 0.999)).
    """

    def __init__(
        self,
        batchnorm: bool,
        batch_size: int = 100,
        seed: int = 0,
        std: float = 0.05,
        generator: Generator | None = None,
        discriminator: MaxoutDiscriminator | None = None,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.8, 0.999),
    ):
        torch.manual_seed(seed)
        self.generator = generator if generator is not None else Generator(batchnorm)
        self.discriminator = discriminator if discriminator is not None else MaxoutDiscriminator()
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas)
        self.means, self.std, self.batch_size = grid25_means(), std, batch_size
        self.last_loss = float("nan")

    def real_batch(self) -> torch.Tensor:
        """A fresh ``[batch, 2]`` sample of the 25-Gaussian grid."""
        modes = torch.randint(0, len(self.means), (self.batch_size,))
        return self.means[modes] + self.std * torch.randn(self.batch_size, 2)

    def run(self, steps: int) -> float:
        """Runs ``steps`` iterations; returns the last L_D + L_G (eager, so synchronous)."""
        d_loss = g_loss = None
        for _ in range(steps):
            real = self.real_batch()
            fake = self.generator(torch.randn(self.batch_size, 2))
            d_loss = self.discriminator_update(real, fake)
            g_loss = self.generator_update(fake)
        self.last_loss = float(d_loss.detach() + g_loss.detach())
        return self.last_loss

    def discriminator_update(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """One Adam step of D on L_D(real, fake) (``fake`` is detached); returns L_D."""
        d_loss = discriminator_loss(self.discriminator, real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return d_loss.detach()

    def generator_update(self, fake: torch.Tensor) -> torch.Tensor:
        """One Adam step of G on L_G(fake), ``fake = G(z)`` with its graph; returns L_G.

        The backward pass also leaves gradients in D's ``.grad``; the next
        ``discriminator_update`` clears them before its own.
        """
        g_loss = generator_loss(self.discriminator, fake)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return g_loss.detach()
