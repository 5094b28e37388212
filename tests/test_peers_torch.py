"""The PyTorch peers of the benchmarks compute genbench's losses, gradients and updates.

``benchmarks/peers/torch_*.py`` time genbench's VAE, GAN and transformer against
PyTorch; a speed ratio only means something if both sides do the same work.
Here each peer gets genbench's weights, batches and noise at a small size and
must give the same loss (rtol 1e-5), the same gradients and, after two optimiser
steps through its own trainer, the same parameters. The benchmarks' sizes are
checked separately against the presets the peers mirror. Needs the ``peers`` extra.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from peer_support import (
    GroupedUpdate,
    assert_gradients_close,
    assert_parameters_close,
    import_peer,
)

from benchmarks.transformer_setup import markov_text
from benchmarks.vae_setup import binary_data
from genbench.data.base import Dataset
from genbench.models import transformer as transformer_models
from genbench.models import vae as vae_models
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.optim import learning_rate_schedule

torch = import_peer("torch")
torch.set_num_threads(1)  # tiny matrices; the other xdist worker has the other core

STEPS = 2  # two Adam steps: the second one depends on beta1 and beta2


def _torch(array) -> torch.Tensor:
    return torch.from_numpy(np.array(array))


# -- VAE (the iwae preset's model, small) ------------------------------------------------------


def _vae():
    """(train config, model, dataset): the ``iwae`` preset with small widths, on 36-D data."""
    data = binary_data(96, dim=36)
    dataset = Dataset("binary36", data[:64], data[64:], "binary")
    overrides = {"model.hidden": (24, 16), "model.latent_dim": 3, "train.batch_size": 16}
    config = resolve("vae", "digits_binary", preset="iwae", overrides=overrides).config
    return config, vae_models.build(config, dataset, nnx.Rngs(0)), dataset


def _vae_dense(model) -> list[tuple]:
    return [(lay.kernel[...], lay.bias[...]) for net in (model.encoder, model.decoder)
            for lay in net.layers]  # fmt: skip


def _torch_dense(peer_model, grad: bool = False) -> list[tuple]:
    """(kernel [in, out], bias) per linear layer of the peer, or their gradients."""
    linears = [m for m in peer_model.modules() if isinstance(m, torch.nn.Linear)]
    pick = (lambda p: p.grad) if grad else (lambda p: p)
    return [(pick(m.weight).detach().numpy().T, pick(m.bias).detach().numpy()) for m in linears]


def _by_name(layers: list[tuple]) -> dict:
    """``{"0.w": kernel, "0.b": bias, "1.w": ...}`` of (kernel, bias) pairs."""
    return {
        f"{i}.{part}": a
        for i, pair in enumerate(layers)
        for part, a in zip("wb", pair, strict=True)
    }


def test_vae_peer_matches_loss_gradients_and_adam_steps():
    from benchmarks.peers.torch_vae import TorchTrainer

    config, model, dataset = _vae()
    m, train = config.model, config.train
    ours = GroupedUpdate(model, train)
    peer = TorchTrainer(dataset.train, train.batch_size, hidden=m.hidden, latent=m.latent_dim)
    dense = _vae_dense(model)
    encoder_layers = len(m.hidden) + 1
    peer.model.load_dense(dense[:encoder_layers], dense[encoder_layers:])
    batch = train.batch_size
    for step in range(STEPS):
        x = dataset.train[step * batch : (step + 1) * batch]
        rng = jax.random.key(step)
        eps = jax.random.normal(rng, (1, batch, m.latent_dim))[0]  # VAE.elbo's draw
        loss, gradients = ours.update("params", jnp.asarray(x), rng)
        theirs = peer.update(_torch(x), _torch(eps))
        np.testing.assert_allclose(float(theirs), loss, rtol=1e-5)
        assert_gradients_close(
            _by_name(_torch_dense(peer.model, grad=True)), _by_name(_vae_dense(gradients))
        )
    assert_parameters_close(
        _by_name(_torch_dense(peer.model)), _by_name(_vae_dense(ours.model())), train.lr, STEPS
    )


def test_vae_peer_defaults_are_the_benchmark_preset():
    from benchmarks.peers.torch_vae import TorchVAE

    config = resolve("vae", "digits_binary", preset="iwae").config
    m, train = config.model, config.train
    assert (m.hidden, m.latent_dim, m.activation) == ((200, 200), 50, "tanh")
    assert (train.optimizer, train.lr, train.b1, train.b2) == ("adam", 1e-3, 0.9, 0.999)
    assert (train.weight_decay, train.grad_clip) == (0.0, 0.0)
    linears = [lay for lay in TorchVAE(784).modules() if isinstance(lay, torch.nn.Linear)]
    assert [lay.out_features for lay in linears] == [200, 200, 100, 200, 200, 784]


# -- GAN (the pacgan preset's model, small) ----------------------------------------------------

GAN_BATCH = 20


def _gan_spec(batchnorm: bool, small: bool = True):
    overrides = {"model.generator_batchnorm": batchnorm, "train.batch_size": GAN_BATCH}
    if small:
        overrides |= {"model.generator_hidden": (24, 16), "model.discriminator_hidden": (12, 8)}
    return resolve("gan", "grid25", preset="pacgan", overrides=overrides, seed=0)


def _gan_layers(model) -> dict:
    """name -> array of both networks' dense layers and G's BatchNorm scale and bias."""
    g, d = model.generator, model.discriminator
    out = {}
    for net, layers in (("g", [*g.layers, g.out]), ("d", [*d.layers, d.out])):
        for i, lay in enumerate(layers):
            out[f"{net}{i}.w"], out[f"{net}{i}.b"] = lay.kernel[...], lay.bias[...]
    for i, norm in enumerate(g.norms):
        out[f"gn{i}.w"], out[f"gn{i}.b"] = norm.scale[...], norm.bias[...]
    return out


def _peer_gan_layers(generator, discriminator, grad: bool = False) -> dict:
    """``_gan_layers``'s names for the peer's parameters, or for their gradients (of D only
    after a discriminator update: G has none then)."""
    pick = (lambda p: p.grad) if grad else (lambda p: p)
    out = {}
    dense = [
        ("g", [m for m in generator.net if isinstance(m, torch.nn.Linear)]),
        ("d", [*discriminator.layers, discriminator.out]),
    ]
    if grad and generator.net[0].weight.grad is None:
        dense = dense[1:]
    for net, layers in dense:
        for i, lay in enumerate(layers):
            out[f"{net}{i}.w"] = pick(lay.weight).detach().numpy().T
            out[f"{net}{i}.b"] = pick(lay.bias).detach().numpy()
    norms = [m for m in generator.net if isinstance(m, torch.nn.BatchNorm1d)]
    if grad and generator.net[0].weight.grad is None:
        norms = []
    for i, norm in enumerate(norms):
        out[f"gn{i}.w"] = pick(norm.weight).detach().numpy()
        out[f"gn{i}.b"] = pick(norm.bias).detach().numpy()
    return out


@pytest.mark.parametrize("batchnorm", [False, True], ids=["preset", "batchnorm"])
def test_gan_peer_matches_losses_gradients_and_adam_steps(batchnorm):
    """A discriminator phase, then a generator phase with the new D, twice, on both sides."""
    from benchmarks.peers.torch_gan import Generator, MaxoutDiscriminator, TorchGANTrainer

    spec = _gan_spec(batchnorm)
    m, train = spec.config.model, spec.config.train
    dataset, model = build(spec)
    generator = Generator(batchnorm, m.noise_dim, m.generator_hidden)
    discriminator = MaxoutDiscriminator(2, m.discriminator_hidden, m.maxout)
    g, d = model.generator, model.discriminator
    generator.load_flax(
        [(lay.kernel[...], lay.bias[...]) for lay in [*g.layers, g.out]],
        [(n.scale[...], n.bias[...], n.mean[...], n.var[...]) for n in g.norms],
    )
    discriminator.load_flax([(lay.kernel[...], lay.bias[...]) for lay in [*d.layers, d.out]])
    peer = TorchGANTrainer(
        batchnorm, GAN_BATCH, generator=generator, discriminator=discriminator,
        lr=train.lr, betas=(train.b1, train.b2),
    )  # fmt: skip
    ours = GroupedUpdate(model, train)
    generator.train()
    # BatchNorm subtracts the batch mean, so the bias of each layer before it has a zero
    # gradient: both sides compute rounding noise there, which Adam turns into +-lr steps.
    cancelled = {f"g{i}.b" for i in range(len(g.norms))}
    for step in range(STEPS):
        real = dataset.sample(jax.random.key(100 + step), GAN_BATCH)
        for phase, group in enumerate(("discriminator", "generator")):
            rng = jax.random.key(10 * step + phase)
            z = jax.random.normal(jax.random.split(rng)[0], (GAN_BATCH, m.noise_dim))  # GAN.loss's
            loss, gradients = ours.update(group, real, rng)
            fake = generator(_torch(z))
            if group == "discriminator":
                theirs = peer.discriminator_update(_torch(real), fake)
            else:
                theirs = peer.generator_update(fake)
            np.testing.assert_allclose(float(theirs), loss, rtol=1e-5, err_msg=group)
            peer_grads = _peer_gan_layers(generator, discriminator, grad=True)
            grads = _gan_layers(gradients)
            names = [k for k in grads if k.startswith(group[0]) and k not in cancelled]
            assert_gradients_close({k: peer_grads[k] for k in names}, {k: grads[k] for k in names})
    theirs, expected = _peer_gan_layers(generator, discriminator), _gan_layers(ours.model())
    for name in cancelled:
        del theirs[name], expected[name]
    assert_parameters_close(theirs, expected, train.lr, STEPS)


def test_gan_peer_defaults_are_the_benchmark_preset():
    from benchmarks.peers.torch_gan import Generator, MaxoutDiscriminator, TorchGANTrainer

    m, train = _gan_spec(False, small=False).config.model, _gan_spec(False).config.train
    assert (m.generator_hidden, m.discriminator_hidden, m.maxout) == ((400,) * 4, (200,) * 3, 5)
    assert (m.noise_dim, m.loss, m.pack, m.n_critic) == (2, "non_saturating", 1, 1)
    assert (train.optimizer, train.lr, train.b1, train.b2) == ("adam", 1e-4, 0.8, 0.999)
    peer = TorchGANTrainer(False)
    assert peer.opt_d.defaults["lr"] == train.lr
    assert peer.opt_d.defaults["betas"] == (train.b1, train.b2)
    widths = [lay.out_features for lay in Generator(False).net if isinstance(lay, torch.nn.Linear)]
    assert widths == [400] * 4 + [2]
    assert [lay.out_features for lay in MaxoutDiscriminator().layers] == [200 * 5] * 3


# -- transformer (the shakespeare-char-cpu preset's model, small) -------------------------------

VOCAB, BLOCK, BATCH = 65, 16, 4
SMALL_TRANSFORMER = {"model.n_layer": 2, "model.n_head": 2, "model.n_embd": 32}


def _transformer(steps_config: dict | None = None):
    """(config, model, dataset) of the preset with small sizes, on order-2 Markov text."""
    rows = markov_text(24, 3 * BLOCK)
    dataset = Dataset("markov65", rows[:20], rows[20:], "sequence", levels=VOCAB)
    overrides = SMALL_TRANSFORMER | {"model.block_size": BLOCK, "train.batch_size": BATCH}
    spec = resolve("transformer", "text", preset="shakespeare-char-cpu", overrides=overrides)
    model = transformer_models.build(spec.config, dataset, nnx.Rngs(0))
    return spec.config, model, dataset


def _perturb(model, scale: float = 0.3) -> None:
    """Adds N(0, scale^2) to every parameter: at the initialisation the logits are nearly
    uniform (first_logits 0, small weights), which would make the checks weak."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(3), len(leaves))
    leaves = [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)]
    nnx.update(model, jax.tree.unflatten(tree, leaves))


def test_transformer_peer_matches_loss_and_adamw_steps():
    """Clipping, AdamW with its decay mask, and genbench's loss (the first token included)."""
    from benchmarks.peers.torch_transformer import GPT, TorchTransformerTrainer

    config, model, dataset = _transformer()
    train = dataclasses.replace(config.train, schedule="constant", warmup_steps=0)
    config = dataclasses.replace(config, train=train)
    _perturb(model)
    ours = GroupedUpdate(model, train)
    peer = TorchTransformerTrainer(dataset.train, config, VOCAB)
    peer.model.load_genbench(model)
    for step in range(STEPS):
        windows = dataset.train[step * BATCH : (step + 1) * BATCH, step : step + BLOCK + 1]
        loss, gradients = ours.update("params", jnp.asarray(windows), jax.random.key(step))
        if step == 0:
            assert loss > np.log(VOCAB) + 0.5  # far from the uniform distribution
            # The clipping is exercised: the gradient's global norm is above the threshold.
            grad_norm = np.sqrt(sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(
                nnx.state(gradients, nnx.Param))))  # fmt: skip
            assert grad_norm > train.grad_clip
        # The training loss includes the first token, scored by softmax(first_logits).
        assert float(ours.metrics["next_token_ce"]) != pytest.approx(loss, rel=1e-4)
        theirs = peer.update(torch.as_tensor(windows, dtype=torch.int64))
        np.testing.assert_allclose(float(theirs), loss, rtol=1e-5)
    expected = GPT(VOCAB, BLOCK, 2, 2, 32)
    expected.load_genbench(ours.model())
    theirs = {k: v.detach().numpy() for k, v in peer.model.named_parameters()}
    assert_parameters_close(
        theirs, {k: v.detach().numpy() for k, v in expected.named_parameters()}, train.lr, STEPS
    )


def test_transformer_peer_learning_rate_is_genbench_schedule():
    """The peer sets the lr of every step from genbench's cosine schedule (optax's)."""
    from benchmarks.peers.torch_transformer import TorchTransformerTrainer

    config, _, dataset = _transformer()
    train = dataclasses.replace(config.train, steps=300)
    assert (train.schedule, train.warmup_steps) == ("cosine", 100)
    peer = TorchTransformerTrainer(dataset.train, dataclasses.replace(config, train=train), VOCAB)
    schedule = learning_rate_schedule(train, train.lr)
    for step in (0, 1, 50, 100, 101, 200, 299, 300, 400):
        np.testing.assert_allclose(peer.lr_at(step), float(schedule(step)), rtol=1e-5, atol=1e-9)


def test_transformer_peer_defaults_are_the_benchmark_preset():
    from benchmarks.transformer_setup import transformer_spec

    config = transformer_spec().config
    m, t = config.model, config.train
    assert (m.n_layer, m.n_head, m.n_embd, m.block_size) == (4, 4, 256, 128)
    assert (m.dropout, m.bias, m.tie_weights) == (0.0, False, True)
    assert (t.batch_size, t.optimizer, t.lr, t.b1, t.b2) == (32, "adamw", 1e-3, 0.9, 0.99)
    assert (t.weight_decay, t.grad_clip) == (0.1, 1.0)
