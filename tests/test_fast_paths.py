"""The CPU fast paths (``genbench.models.fast``): each equals the canonical form it replaces,
values and gradients, jitted; the selection point chooses them on CPU only."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genbench import registry
from genbench.config import TrainConfig
from genbench.models import fast, likelihoods, nets, transformer
from genbench.models.fast.attention import heads_first_causal_attention
from genbench.models.fast.bernoulli import bernoulli_log_prob_with_written_grad
from genbench.models.fast.conv import conv_on_patches
from genbench.models.fast.cpu_dots import CPU_DOT_OPTIONS, cpu_dot_options
from genbench.models.fast.dense import attend_on_rows, dot_general_on_rows
from genbench.models.fast.gelu import gelu_with_written_vjp
from genbench.models.gan_nets import ConvGenerator, upsampling_conv
from genbench.models.pixelcnn import PixelCNN
from genbench.models.transformer import Transformer
from genbench.models.vae import VAE

# Every canonical function that a fast path may replace, as the model files mark them.
REPLACEABLE = [
    transformer.causal_attention,
    transformer.gelu,
    transformer.dense_product,
    transformer.attend,
    likelihoods.bernoulli_log_prob,
    nets.conv_product,
]


def assert_same_values_and_grads(fast_fn, canonical_fn, args, argnums, rtol=1e-5, atol=1e-6):
    """Jitted values, and gradients of a nonlinear scalar of them, agree in float32."""

    def scalar(f):
        return lambda *a: jnp.sum(jnp.sin(f(*a)))

    np.testing.assert_allclose(
        jax.jit(fast_fn)(*args), jax.jit(canonical_fn)(*args), rtol=rtol, atol=atol
    )
    ours = jax.jit(jax.grad(scalar(fast_fn), argnums))(*args)
    theirs = jax.jit(jax.grad(scalar(canonical_fn), argnums))(*args)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=10 * rtol, atol=10 * atol)


def test_heads_first_attention_equals_dot_product_attention():
    q, k, v = jax.random.normal(jax.random.key(0), (3, 2, 5, 3, 4))
    assert_same_values_and_grads(
        heads_first_causal_attention, transformer.causal_attention.canonical, (q, k, v), (0, 1, 2)
    )


def test_gelu_with_written_vjp_equals_exact_gelu():
    x = jnp.linspace(-6.0, 6.0, 101)
    assert_same_values_and_grads(gelu_with_written_vjp, transformer.gelu.canonical, (x,), (0,))


@pytest.mark.parametrize("x_shape", [(5, 7), (1, 7)])
def test_bernoulli_with_written_grad_equals_the_optax_form(x_shape):
    k_l, k_x = jax.random.split(jax.random.key(0))
    logits = 4.0 * jax.random.normal(k_l, (3, 5, 7))  # K samples of logits for one x
    x = jax.random.uniform(k_x, x_shape)  # grey values too; (1, 7) broadcasts over the batch
    assert_same_values_and_grads(
        bernoulli_log_prob_with_written_grad,
        likelihoods.bernoulli_log_prob.canonical,
        (logits, x),
        (0, 1),
    )


@pytest.mark.parametrize(
    ("lhs_shape", "rhs_shape", "dims"),
    [
        ((2, 3, 4, 5), (5, 6), (((3,), (0,)), ((), ()))),  # a dense layer: on rows
        ((3, 5), (5, 6), (((1,), (0,)), ((), ()))),  # already 2-D
        ((2, 3, 5), (2, 5, 6), (((2,), (1,)), ((0,), (0,)))),  # batched: passed through
    ],
)
def test_dot_general_on_rows_equals_dot_general(lhs_shape, rhs_shape, dims):
    k_a, k_b = jax.random.split(jax.random.key(1))
    lhs, rhs = jax.random.normal(k_a, lhs_shape), jax.random.normal(k_b, rhs_shape)

    def ours(a, b):
        return dot_general_on_rows(a, b, dims)

    def canonical(a, b):
        return transformer.dense_product.canonical(a, b, dims)

    assert_same_values_and_grads(ours, canonical, (lhs, rhs), (0, 1))


NHWC = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize(
    ("lhs_shape", "rhs_shape", "options"),
    [
        ((2, 5, 6, 3), (3, 3, 3, 4), dict(window_strides=(1, 1), padding="SAME")),
        ((2, 7, 7, 3), (3, 3, 3, 4), dict(window_strides=(2, 2), padding="SAME")),
        ((2, 5, 6, 3), (2, 3, 3, 4), dict(window_strides=(1, 1), padding="VALID")),
        ((2, 5, 6, 3), (1, 1, 3, 4), dict(window_strides=(1, 1), padding="VALID")),
        # a transposed convolution: input dilation with explicit (and cropping) pads
        ((2, 4, 4, 3), (4, 4, 3, 2), dict(window_strides=(1, 1), padding=((2, 2), (2, 1)),
                                          lhs_dilation=(2, 2))),
        ((2, 4, 4, 3), (3, 3, 3, 2), dict(window_strides=(1, 2), padding=((-1, 1), (1, 0)))),
        # passed through as they are: kernel dilation, feature groups
        ((2, 6, 6, 4), (3, 3, 4, 2), dict(window_strides=(1, 1), padding="SAME",
                                          rhs_dilation=(2, 2))),
        ((2, 6, 6, 4), (3, 3, 2, 4), dict(window_strides=(1, 1), padding="SAME",
                                          feature_group_count=2)),
    ],
)  # fmt: skip
def test_conv_on_patches_equals_conv_general_dilated(lhs_shape, rhs_shape, options):
    k_a, k_b = jax.random.split(jax.random.key(4))
    lhs, rhs = jax.random.normal(k_a, lhs_shape), jax.random.normal(k_b, rhs_shape)
    options = {**options, "dimension_numbers": NHWC}

    def ours(a, b):
        return conv_on_patches(a, b, **options)

    def canonical(a, b):
        return nets.conv_product.canonical(a, b, **options)

    assert_same_values_and_grads(ours, canonical, (lhs, rhs), (0, 1), rtol=1e-4, atol=1e-5)


def test_conv_on_patches_passes_other_layouts_through():
    lhs = jax.random.normal(jax.random.key(5), (2, 3, 5, 6))  # NCHW
    rhs = jax.random.normal(jax.random.key(6), (4, 3, 3, 3))  # OIHW
    ours = jax.jit(lambda a, b: conv_on_patches(a, b, (1, 1), "SAME"))
    canonical = jax.jit(lambda a, b: jax.lax.conv_general_dilated(a, b, (1, 1), "SAME"))
    np.testing.assert_array_equal(ours(lhs, rhs), canonical(lhs, rhs))


def test_the_upsampling_conv_is_the_transposed_convolution():
    up = upsampling_conv(3, 2, 4, rngs=nnx.Rngs(0))
    transposed = nnx.ConvTranspose(3, 2, (4, 4), (2, 2), rngs=nnx.Rngs(1))
    transposed.kernel.set_value(up.kernel[...])
    transposed.bias.set_value(jnp.linspace(-1.0, 1.0, 2))
    up.bias.set_value(transposed.bias[...])
    x = jax.random.normal(jax.random.key(7), (2, 4, 4, 3))
    out = up(x)
    assert out.shape == (2, 8, 8, 2)
    np.testing.assert_allclose(out, transposed(x), rtol=1e-5, atol=1e-5)


def test_attend_on_rows_equals_embed_attend():
    embedding = nnx.Embed(7, 5, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(embedding)
    h = jax.random.normal(jax.random.key(2), (2, 3, 5))

    def through(f):
        return lambda state, h: f(nnx.merge(graphdef, state), h)

    ours, canonical = through(attend_on_rows), through(transformer.attend.canonical)
    assert_same_values_and_grads(
        lambda table, h: ours(nnx.State({"embedding": table}), h),
        lambda table, h: canonical(nnx.State({"embedding": table}), h),
        (state["embedding"][...], h),
        (0, 1),
    )


def test_the_selection_point_chooses_fast_paths_on_cpu_only():
    assert {f.fast_path_name for f in REPLACEABLE} == set(fast.FAST_PATHS["cpu"])
    for f in REPLACEABLE:
        chosen = fast.implementation(f.fast_path_name, f.canonical, "cpu")
        assert chosen is not f.canonical
        assert chosen.__module__.startswith("genbench.models.fast.")
        for platform in ("gpu", "tpu"):
            assert fast.implementation(f.fast_path_name, f.canonical, platform) is f.canonical


class ConvGeneratorLoss(nnx.Module):
    """A convolutional generator's mean output as a loss: its up-sampling and pixel
    convolutions, forward and backward."""

    def __init__(self, *, rngs):
        self.generator = ConvGenerator(2, (4, 4), 3, rngs=rngs)

    def loss(self, batch, rng):
        del rng
        return {"params": jnp.mean(self.generator(batch, train=False) ** 2)}, {}


def tiny_transformer(**kw):
    return Transformer(5, 9, n_layer=1, n_head=2, n_embd=8, block_size=8, rngs=nnx.Rngs(0), **kw)


@pytest.mark.parametrize(
    ("make_model", "batch"),
    [
        (tiny_transformer, np.arange(18).reshape(2, 9) % 5),
        (lambda: tiny_transformer(tie_weights=False, bias=True), np.arange(18).reshape(2, 9) % 3),
        (
            lambda: VAE(6, 2, (8,), "tanh", "bernoulli", 1e-3, rngs=nnx.Rngs(0)),
            (np.arange(24).reshape(4, 6) % 2).astype(np.float32),
        ),
        (
            lambda: PixelCNN((4, 4), 3, 4, 1, 3, rngs=nnx.Rngs(0)),
            (np.arange(32).reshape(2, 16) % 3).astype(np.float32),
        ),
        (
            lambda: ConvGeneratorLoss(rngs=nnx.Rngs(0)),
            np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
        ),
    ],
)
def test_models_call_through_the_selection_point(make_model, batch, monkeypatch):
    """On CPU the models trace the fast paths; as on another platform, the canonical forms;
    the loss and its gradients agree."""
    graphdef, params = nnx.split(make_model())

    def loss(params):
        return nnx.merge(graphdef, params).loss(batch, jax.random.key(3))[0]["params"]

    def traced():
        value_and_grad = jax.value_and_grad(loss)  # a fresh function: traced afresh
        return jax.make_jaxpr(value_and_grad)(params), jax.jit(value_and_grad)(params)

    (fast_program, fast_out), platform = traced(), jax.default_backend()
    monkeypatch.setattr(fast, "current_platform", lambda: "tpu")
    canonical_program, canonical_out = traced()
    assert (str(fast_program) != str(canonical_program)) == (platform == "cpu")
    for a, b in zip(jax.tree.leaves(fast_out), jax.tree.leaves(canonical_out), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_cpu_dot_defaults_come_from_the_selection_point():
    entries = registry.models()
    assert set(fast.CPU_DOTS_BY_FAMILY) <= set(entries)
    for name, entry in entries.items():
        library = fast.CPU_DOTS_BY_FAMILY.get(name)
        assert entry.defaults.get("train.cpu_dots") == library
        assert fast.train_defaults(name) == ({} if library is None else {"train.cpu_dots": library})
    assert cpu_dot_options(TrainConfig().cpu_dots, "cpu") == {}
    for library, options in CPU_DOT_OPTIONS.items():
        assert cpu_dot_options(library, "cpu") == options
        assert cpu_dot_options(library, "gpu") == {}
