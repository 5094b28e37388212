"""Generative adversarial networks on the shared training step.

A GAN has two parameter groups, ``generator`` and ``discriminator``, and an
update schedule: ``n_critic`` discriminator phases, then one generator phase,
all inside one compiled step, each phase seeing the parameters the earlier
ones produced (DESIGN §2-§3). ``loss`` returns both players' losses on one
batch; the step differentiates each with respect to its own group only.

With D the discriminator's logit, r = D(real) and f = D(G(z)) (softplus(t) = log(1 + e^t)):

- ``minimax`` (Goodfellow et al. 2014): L_D = softplus(-r) + softplus(f),
  L_G = -softplus(f) (G minimises log(1 - sigmoid(f))).
- ``non_saturating``: the same L_D, L_G = softplus(-f) (G maximises log sigmoid(f)).
- ``wgan_gp`` (Gulrajani et al. 2017): L_D = f - r + lambda (|grad_x D(x_hat)| - 1)^2
  with x_hat uniform on the segment between a real and a fake input, L_G = -f.

PacGAN packing (Lin et al. 2018): the discriminator judges ``pack`` samples
concatenated, so a batch of B samples makes B / pack discriminator inputs.

A generator with BatchNorm samples with population statistics re-estimated at its
current weights from ``CALIBRATION_DRAWS`` noise draws (``calibrated``), not with the
running averages kept during training: a GAN's generator moves fast, and averages that
lag ~100 steps behind it misplace its samples (PacGAN's ring8 GAN at 110,000 steps:
0.70 high-quality samples with the running averages, 0.82 with its own statistics).
PacGAN's code does the same in effect: before each evaluation its monitoring pass pushes
5,000 samples through the generator with the statistics' updates (an average that keeps
5 % of each batch), so the statistics it samples with are the final weights'.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench import contract
from genbench.models.conditional import draw_labels, training_class_log_prior, with_label
from genbench.models.gan_nets import (
    ConvDiscriminator,
    ConvGenerator,
    MaxoutDiscriminator,
    MLPGenerator,
)

# Noise draws that set a BatchNorm generator's statistics for sampling (PacGAN's code:
# the 5,000 examples of its monitoring pass).
CALIBRATION_DRAWS = 5000
# Their key is fixed, not drawn from the sampling call's: every call at the same weights
# (each batch of an evaluation's samples) normalises with one set of statistics, as PacGAN's
# code draws all its 2,500 samples with one. A key per call made an evaluation's samples a
# mixture over as many generators as it had batches (10 of 250 for 2,500 samples), whose
# statistics differ by their draws' noise: samples moved by 2-5 mode widths between them.
_CALIBRATION_SEED = 0xCA1B


def calibrated(generator: nnx.Module, calibration_input: jax.Array) -> nnx.Module:
    """``generator`` itself if it has no BatchNorm, else a copy whose BatchNorm statistics
    are those of ``calibration_input`` (noise, with any label appended) at its current
    weights; the original's running statistics are left as they are.

    Args:
      generator: ``(z, train) -> x``.
      calibration_input: ``[K, noise_dim (+ C)]`` generator inputs.
    """
    if not any(isinstance(m, nnx.BatchNorm) for _, m in nnx.iter_modules(generator)):
        return generator
    copy = nnx.clone(generator)
    for _, module in nnx.iter_modules(copy):
        if isinstance(module, nnx.BatchNorm):
            module.momentum = 0.0  # the running statistics become this batch's
    copy(calibration_input, train=True)
    return copy


def adversarial_losses(kind: str, real_logits: jax.Array, fake_logits: jax.Array):
    """(discriminator loss, generator loss) of ``kind``, averaged over the inputs
    (the gradient penalty of ``wgan_gp`` is added by the caller)."""
    if kind == "wgan_gp":
        return jnp.mean(fake_logits) - jnp.mean(real_logits), -jnp.mean(fake_logits)
    d_loss = jnp.mean(jax.nn.softplus(-real_logits) + jax.nn.softplus(fake_logits))
    if kind == "minimax":
        return d_loss, -jnp.mean(jax.nn.softplus(fake_logits))
    return d_loss, jnp.mean(jax.nn.softplus(-fake_logits))


def gradient_penalty(discriminator, real, fake, rng, labels=None):
    """E[(|grad_x D(x_hat)|_2 - 1)^2], x_hat = eps real + (1 - eps) fake, eps ~ U[0, 1]
    (a conditional critic's packed ``labels`` are the same for both and held fixed)."""
    eps = jax.random.uniform(rng, (real.shape[0], 1))
    x_hat = eps * real + (1 - eps) * jax.lax.stop_gradient(fake)
    grads = jax.grad(lambda v: jnp.sum(discriminator(v, labels)))(x_hat)
    norms = jnp.sqrt(jnp.sum(grads**2, axis=-1) + 1e-12)
    return jnp.mean((norms - 1) ** 2)


class GAN(nnx.Module):
    """A generator G(z), z ~ N(0, I), and a discriminator (or critic) D on packed inputs.

    Args:
      generator: ``(z, train) -> x [n, D]``.
      discriminator: ``x [n, pack * D] -> logits [n]``.
      noise_dim: dimension of z.
      loss: ``non_saturating``, ``minimax`` or ``wgan_gp``.
      pack: samples per discriminator input.
      n_critic: discriminator phases per generator phase.
      gp_weight: lambda of the gradient penalty.
      simultaneous: both players updated from the same point in one phase (else the
        discriminator's ``n_critic`` phases, then the generator's).
      slot_statistics: in training, the generator's BatchNorm statistics per pack slot
        (PacGAN's code runs G once per slot), else over the whole batch.
    """

    input_kind = "continuous"

    def __init__(
        self,
        generator,
        discriminator,
        *,
        noise_dim: int,
        loss: str,
        pack: int,
        n_critic: int,
        gp_weight: float,
        simultaneous: bool = False,
        slot_statistics: bool = False,
    ):
        self.generator, self.discriminator = generator, discriminator
        self.noise_dim, self.kind, self.pack = noise_dim, loss, pack
        self.n_critic, self.gp_weight = n_critic, gp_weight
        self.simultaneous = simultaneous
        self.slots = pack if slot_statistics else 1

    def param_groups(self):
        return {
            "generator": nnx.All(nnx.Param, nnx.PathContains("generator")),
            "discriminator": nnx.All(nnx.Param, nnx.PathContains("discriminator")),
        }

    def update_schedule(self):
        if self.simultaneous:
            return [(("discriminator", "generator"), 1)]
        return [("discriminator", self.n_critic), ("generator", 1)]

    def _packed(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0] // self.pack, -1)

    def loss(self, batch: jax.Array, rng: jax.Array):
        """Both players' losses on ``batch [B, D]`` (B a multiple of ``pack``)."""
        return self._losses(batch, rng, None)

    def _losses(self, batch, rng, one_hot):
        """The players' losses; a conditional GAN's fakes take the real batch's one-hot
        labels ``[B, C]``, and the discriminator sees each packed sample's label."""
        k_z, k_gp = jax.random.split(rng)
        z = jax.random.normal(k_z, (batch.shape[0], self.noise_dim))
        fake = self._packed(self._train_generator(with_label(z, one_hot)))
        real = self._packed(batch.reshape(batch.shape[0], -1))
        labels = None if one_hot is None else self._packed(one_hot)
        both_labels = None if labels is None else jnp.concatenate([labels, labels])
        # One discriminator call on both halves: one pair of larger matrix products.
        logits = self.discriminator(jnp.concatenate([real, fake]), both_labels)
        real_logits, fake_logits = logits[: len(real)], logits[len(real) :]
        d_loss, g_loss = adversarial_losses(self.kind, real_logits, fake_logits)
        if self.kind == "wgan_gp":
            d_loss = d_loss + self.gp_weight * gradient_penalty(
                self.discriminator, real, fake, k_gp, labels
            )
        return {"discriminator": d_loss, "generator": g_loss}, {}

    def _train_generator(self, z: jax.Array) -> jax.Array:
        """G(z) in training mode (BatchNorm per slot when asked)."""
        if self.slots > 1:
            return self.generator(z, train=True, slots=self.slots)
        return self.generator(z, train=True)

    def _calibration_one_hot(self, rng: jax.Array) -> jax.Array | None:
        """The labels appended to the calibration draws (none: unconditional)."""
        del rng
        return None

    def calibrated_generator(self) -> nnx.Module:
        """The generator every sampling call at the current weights uses: BatchNorm with the
        statistics of ``CALIBRATION_DRAWS`` fixed noise draws (``calibrated``)."""
        k_calibration = jax.random.key(_CALIBRATION_SEED)
        z_calibration = jax.random.normal(k_calibration, (CALIBRATION_DRAWS, self.noise_dim))
        labels = self._calibration_one_hot(k_calibration)
        return calibrated(self.generator, with_label(z_calibration, labels))

    def _generate(self, rng: jax.Array, n: int, one_hot: jax.Array | None = None):
        """G(z) ``[n, D]`` for z ~ N(0, I) (with ``one_hot [n, C]`` appended), with the
        ``calibrated_generator``."""
        z = jax.random.normal(rng, (n, self.noise_dim))
        return self.calibrated_generator()(with_label(z, one_hot), train=False)

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``n`` samples ``[n, D]``."""
        return self._generate(rng, n)

    def flops_per_example(self) -> int:
        """Analytic training FLOPs per sample of one iteration (2 per multiply-accumulate).

        Each discriminator phase: G forward, D forward and backward on the real
        and the fake half (3 forward passes' worth each). The generator phase: G
        forward and backward, D forward and its input gradient (2 passes' worth).
        """
        g = self.generator.macs()
        d = self.discriminator.macs() / self.pack
        return int(2 * (self.n_critic * (g + 6 * d) + 3 * g + 2 * d))


class ConditionalGAN(GAN):
    """A conditional GAN (Mirza and Osindero 2014): G(z, y) and D(x, y), the one-hot label
    appended to the noise and, for each of a packed input's samples, to what the
    discriminator sees (MLP: to the input vector; convolutional: as constant channels).

    It trains on ``(x, y)`` batches (``uses_labels``), the fakes of a batch drawn for the
    real batch's labels, and samples a given class (``sample_class``); ``sample`` draws
    the classes from the training labels' frequencies.

    Args:
      class_log_prior: log p(y) of each of the C classes (a tuple).
      others: as for ``GAN``; the networks take the C label inputs besides.
    """

    uses_labels = True

    def __init__(self, generator, discriminator, *, class_log_prior, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.class_log_prior = tuple(class_log_prior)
        self.num_classes = len(self.class_log_prior)

    def loss(self, batch, rng: jax.Array):
        """Both players' losses on a labelled batch ``(x [B, D], y [B])``."""
        x, y = batch
        return self._losses(x, rng, jax.nn.one_hot(y, self.num_classes))

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``n`` samples ``[n, D]`` of classes drawn from the training labels' frequencies."""
        k_y, k_x = jax.random.split(rng)
        return self.sample_class(k_x, draw_labels(k_y, self.class_log_prior, n))

    def sample_class(self, rng: jax.Array, labels: jax.Array) -> jax.Array:
        """One sample ``[n, D]`` of each class of ``labels [n]``."""
        return self._generate(rng, labels.shape[0], jax.nn.one_hot(labels, self.num_classes))

    def _calibration_one_hot(self, rng: jax.Array) -> jax.Array:
        """Classes of the calibration draws, from the training labels' frequencies."""
        labels = draw_labels(jax.random.fold_in(rng, 1), self.class_log_prior, CALIBRATION_DRAWS)
        return jax.nn.one_hot(labels, self.num_classes)


def build(config, dataset, rngs: nnx.Rngs) -> GAN:
    """The GAN of ``config.model`` for ``dataset``: conv networks for images, MLPs otherwise."""
    from genbench.errors import UsageError

    cfg = config.model
    if config.train.batch_size % cfg.pack:
        raise UsageError(
            f"train.batch_size={config.train.batch_size} must be a multiple of "
            f"model.pack={cfg.pack} (a batch of B samples makes B / pack packed inputs)"
        )
    image_shape = contract.image_shape(dataset)
    architecture = cfg.architecture
    if architecture == "auto":
        architecture = "conv" if image_shape is not None else "mlp"
    dim = dataset.event_size
    # A conditional GAN's networks take the one-hot label (C inputs) besides.
    prior = training_class_log_prior(dataset, "gan") if cfg.conditional else ()
    classes = len(prior)
    # Discrete data is dequantised to [0, 1) by the data view: a sigmoid output matches it.
    squash = dataset.kind in ("binary", "discrete")
    if architecture == "conv":
        if image_shape is None:
            raise UsageError(f"model.architecture=conv needs image data; {dataset.name!r} is not")
        if cfg.batchnorm_statistics == "slot":
            raise UsageError("model.batchnorm_statistics=slot needs the MLP generator")
        generator = ConvGenerator(
            cfg.noise_dim + classes,
            image_shape,
            cfg.channels,
            batchnorm_epsilon=cfg.batchnorm_epsilon,
            rngs=rngs,
        )
        discriminator = ConvDiscriminator(
            image_shape, cfg.pack, cfg.channels, num_classes=classes, rngs=rngs
        )
    else:
        generator = MLPGenerator(
            cfg.noise_dim + classes,
            cfg.generator_hidden,
            dim,
            batchnorm=cfg.generator_batchnorm,
            batchnorm_epsilon=cfg.batchnorm_epsilon,
            squash=squash,
            rngs=rngs,
        )
        discriminator = MaxoutDiscriminator(
            cfg.pack * (dim + classes), cfg.discriminator_hidden, cfg.maxout, rngs=rngs
        )
    if cfg.init_std > 0:
        for network in (generator, discriminator):
            normal_weights(network, cfg.init_std, rngs)
    options = dict(
        noise_dim=cfg.noise_dim,
        loss=cfg.loss,
        pack=cfg.pack,
        n_critic=cfg.n_critic,
        gp_weight=cfg.gp_weight,
        simultaneous=cfg.updates == "simultaneous",
        slot_statistics=cfg.batchnorm_statistics == "slot",
    )
    if cfg.conditional:
        return ConditionalGAN(generator, discriminator, class_log_prior=prior, **options)
    return GAN(generator, discriminator, **options)


def normal_weights(network: nnx.Module, std: float, rngs: nnx.Rngs) -> None:
    """Draws every linear and convolutional weight (``kernel``) of ``network`` from
    N(0, std²) (PacGAN's ``IsotropicGaussian(0.02)``); biases stay Flax's zeros, as PacGAN's
    ``Constant(0)``, and BatchNorm's scale and offset their 1 and 0."""
    for path, variable in nnx.iter_graph(network):
        if isinstance(variable, nnx.Param) and path and path[-1] == "kernel":
            shape = variable.get_value().shape
            variable.set_value(std * jax.random.normal(rngs.params(), shape))
