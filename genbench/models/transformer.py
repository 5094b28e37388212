"""Decoder-only causal transformer (GPT-2 layout, as nanoGPT) with an exact window likelihood.

Network. Symbols are embedded and position-encoded, h_0 = E[x_j] + P[j] for
window positions j = 0..B-1 (B = ``block_size``), then ``n_layer`` pre-norm blocks

    h <- h + Drop(W_o Attn(LN_1(h))),   h <- h + Drop(W_2 GELU(W_1 LN_2(h)))   (W_1: C -> 4C),

with causal multi-head attention, per head softmax(Q K^T / sqrt(D_h) + M) V,
M_ij = -inf for j > i (``causal_attention``), and logits f = LN_f(h) E^T
(tied weights, ``attend``) or LN_f(h) W_out. The functions marked
``replaceable`` are written in their canonical form; on CPU,
``genbench.models.fast`` runs drop-in implementations of them that XLA:CPU
computes faster (same values and gradients, up to float rounding).

Probability of a window. Tokens x_0..x_{L-1} in {0..V-1} (0-based). The
first token has its own learned distribution, q(x_0) = softmax(a) with ``a``
V free logits ("first_logits"); each later token x_p is predicted by the
network from the tokens before it:

    log q(x_{0:L-1}) = log softmax(a)[x_0]
                       + sum_{p=1}^{L-1} log softmax(f(x_{m(p)}, ..., x_{p-1}))[x_p],

where f(...) is the network's output at the last position of its input and
m(p) is the smallest multiple of the stride S with p - m(p) <= B: every token
up to p = B sees its whole prefix (the usual case: a window of B + 1 tokens,
nanoGPT's shape), and beyond B the context restarts every S tokens with at
least B - S + 1 tokens of it. Each factor is a normalised distribution over
V symbols, so q sums to one over all V^L windows of any length (the tests
enumerate them) and ``log_prob`` is exact: the harness's
``kl_rate_to_source`` compares it with a source's exact log p(x_{1:T}),
first token included. A learned first-token distribution was chosen over a
BOS token because it keeps nanoGPT's shapes (windows of B + 1 tokens, inputs
x[:, :-1], targets x[:, 1:], B positions) and the vocabulary at V.

Training loss: the mean next-token cross-entropy over the B + 1 tokens of a
window, the first one scored by softmax(a), i.e. -log q(window) / (B + 1).
All randomness (dropout, a random crop of a longer sequence) comes from the
``rng`` passed to ``loss``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from genbench.models.fast import replaceable

MAX_AUTO_BLOCK = 64  # block_size 0 means min(MAX_AUTO_BLOCK, T - 1)
LN_EPS = 1e-5  # PyTorch's LayerNorm epsilon, as nanoGPT


def _dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Inverted dropout with an explicit key (identity when ``key`` is None or ``rate`` is 0)."""
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


# The product of every dense layer (``nnx.Linear(..., dot_general=dense_product)``).
dense_product = replaceable("dense_product")(jax.lax.dot_general)


@replaceable("attend")
def attend(embedding: nnx.Embed, h: jax.Array) -> jax.Array:
    """Logits ``[..., V]`` of ``h [..., C]`` against the token embeddings (tied weights)."""
    return embedding.attend(h)


@replaceable("gelu")
def gelu(x: jax.Array) -> jax.Array:
    """Exact GELU, x Phi(x) (PyTorch's ``nn.GELU()``, as nanoGPT)."""
    return jax.nn.gelu(x, approximate=False)


@replaceable("causal_attention")
def causal_attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """Causal softmax attention, ``[N, T, H, D]`` in and out, scale 1 / sqrt(D)."""
    return jax.nn.dot_product_attention(q, k, v, is_causal=True)


class Block(nnx.Module):
    """One pre-LayerNorm transformer block: causal self-attention, then a 4x GELU MLP.

    ``qkv`` and ``finish`` are the two halves around the attention, so the
    KV-cache sampler (``genbench.models.transformer_sampling``) reuses them.
    """

    def __init__(self, n_embd: int, n_head: int, n_layer: int, bias: bool, *, rngs: nnx.Rngs):
        init = nnx.initializers.normal(0.02)
        # GPT-2: residual projections scaled by 1 / sqrt(2 n_layer).
        proj = nnx.initializers.normal(0.02 / math.sqrt(2 * n_layer))
        zeros = nnx.initializers.zeros

        def linear(a, b, kernel_init):
            return nnx.Linear(
                a,
                b,
                use_bias=bias,
                kernel_init=kernel_init,
                bias_init=zeros,
                dot_general=dense_product,
                rngs=rngs,
            )

        self.n_head = n_head
        self.ln_1 = nnx.LayerNorm(n_embd, epsilon=LN_EPS, use_bias=bias, rngs=rngs)
        self.c_attn = linear(n_embd, 3 * n_embd, init)
        self.c_proj = linear(n_embd, n_embd, proj)
        self.ln_2 = nnx.LayerNorm(n_embd, epsilon=LN_EPS, use_bias=bias, rngs=rngs)
        self.c_fc = linear(n_embd, 4 * n_embd, init)
        self.mlp_proj = linear(4 * n_embd, n_embd, proj)

    def qkv(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Queries, keys and values of ``x [N, T, C]``, each ``[N, T, H, C / H]``."""
        n, t, c = x.shape
        shape = (n, t, self.n_head, c // self.n_head)
        q, k, v = jnp.split(self.c_attn(self.ln_1(x)), 3, axis=-1)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def finish(self, x, attention, rate: float = 0.0, keys=None) -> jax.Array:
        """The residual updates after the attention heads ``[N, T, H, D_h]`` of ``x``."""
        k_attn, k_mlp = (None, None) if keys is None else keys
        x = x + _dropout(self.c_proj(attention.reshape(x.shape)), rate, k_attn)
        hidden = gelu(self.c_fc(self.ln_2(x)))
        return x + _dropout(self.mlp_proj(hidden), rate, k_mlp)

    def __call__(self, x: jax.Array, rate: float = 0.0, keys=None) -> jax.Array:
        q, k, v = self.qkv(x)
        return self.finish(x, causal_attention(q, k, v), rate, keys)


class Transformer(nnx.Module):
    """GPT over V symbols with context B; see the module docstring for the equations.

    Args:
      vocab_size: V, the dataset's number of symbols.
      num_steps: T, the length of the dataset's sequences (what ``sample`` draws).
      n_layer, n_head, n_embd: blocks, heads and width C.
      block_size: B, positions of the network (training windows are B + 1 tokens).
      stride: S in 1..B, how far the context advances beyond B tokens.
      dropout: dropout rate while training.
      bias: biases in linear layers and LayerNorms.
      tie_weights: output projection = token embedding transposed.
      rngs: initialisation PRNGs.
    """

    input_kind = "sequence"

    def __init__(
        self,
        vocab_size: int,
        num_steps: int,
        *,
        n_layer: int = 2,
        n_head: int = 2,
        n_embd: int = 32,
        block_size: int = 32,
        stride: int = 16,
        dropout: float = 0.0,
        bias: bool = False,
        tie_weights: bool = True,
        rngs: nnx.Rngs,
    ):
        init = nnx.initializers.normal(0.02)
        self.vocab_size, self.num_steps = vocab_size, num_steps
        self.n_layer, self.n_head, self.n_embd = n_layer, n_head, n_embd
        self.block_size, self.stride = block_size, stride
        self.dropout, self.tie_weights = dropout, tie_weights
        self.wte = nnx.Embed(vocab_size, n_embd, embedding_init=init, rngs=rngs)
        self.wpe = nnx.Embed(block_size, n_embd, embedding_init=init, rngs=rngs)
        self.blocks = nnx.List(
            [Block(n_embd, n_head, n_layer, bias, rngs=rngs) for _ in range(n_layer)]
        )
        self.ln_f = nnx.LayerNorm(n_embd, epsilon=LN_EPS, use_bias=bias, rngs=rngs)
        if not tie_weights:
            self.lm_head = nnx.Linear(
                n_embd,
                vocab_size,
                use_bias=False,
                kernel_init=init,
                dot_general=dense_product,
                rngs=rngs,
            )
        self.first_logits = nnx.Param(jnp.zeros(vocab_size))

    # -- what the harness reads ---------------------------------------------------------------
    @property
    def train_window(self) -> int:
        """Tokens per training example, B + 1: the feeder cuts longer sequences into windows."""
        return self.block_size + 1

    @property
    def tokens_per_example(self) -> int:
        """Positions the network processes per training example (B; nanoGPT's tokens/iter)."""
        return self.block_size

    def resolved_config(self) -> dict[str, object]:
        """The config values that ``0`` (auto) stood for, as the record stores them."""
        return {"model.block_size": self.block_size, "model.stride": self.stride}

    # -- the network ------------------------------------------------------------------------
    def embed(self, tokens: jax.Array, positions: jax.Array) -> jax.Array:
        """h_0 = E[tokens] + P[positions], ``[N, T, C]``."""
        return self.wte(tokens) + self.wpe(positions)

    def head(self, h: jax.Array) -> jax.Array:
        """Logits ``[..., V]`` of the final hidden states."""
        h = self.ln_f(h)
        return attend(self.wte, h) if self.tie_weights else self.lm_head(h)

    def __call__(self, tokens: jax.Array, rng: jax.Array | None = None) -> jax.Array:
        """Next-token logits ``[N, T, V]`` of ``tokens [N, T]`` (T <= B) at positions 0..T-1.

        With ``rng``, dropout is applied (training); without, the network is deterministic.
        """
        t = tokens.shape[1]
        rate = self.dropout if rng is not None else 0.0
        keys = [None] * (2 * self.n_layer + 1)
        if rng is not None and rate > 0:
            keys = list(jax.random.split(rng, 2 * self.n_layer + 1))
        x = _dropout(self.embed(tokens, jnp.arange(t)), rate, keys[0])
        for i, block in enumerate(self.blocks):
            pair = None if keys[1] is None else (keys[2 * i + 1], keys[2 * i + 2])
            x = block(x, rate, pair)
        return self.head(x)

    # -- likelihood -------------------------------------------------------------------------
    def _first_log_probs(self) -> jax.Array:
        return jax.nn.log_softmax(self.first_logits[...])

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log q(x_{0:L-1}) of each sequence ``x [N, L]`` (any L >= 1), in nats.

        Sequences of up to B + 1 tokens take one pass; longer ones are scored
        by windows of B positions starting at multiples of S, each window
        scoring the targets p whose context start m(p) is its start (module
        docstring), all in one ``lax.map`` over windows.
        """
        x = x.astype(jnp.int32)
        n, length = x.shape
        first = self._first_log_probs()[x[:, 0]]
        if length == 1:
            return first
        b, s = self.block_size, self.stride
        head = min(length - 1, b)
        total = first + _target_log_probs(self(x[:, :head]), x[:, 1 : head + 1]).sum(-1)
        windows = num_windows(length, b, s) - 1
        if windows == 0:
            return total
        padded = jnp.pad(x, ((0, 0), (0, windows * s + b + 1 - length)))

        def window(k):
            start = k * s
            chunk = jax.lax.dynamic_slice_in_dim(padded, start, b + 1, axis=1)
            scored = _target_log_probs(self(chunk[:, :-1])[:, b - s :], chunk[:, b - s + 1 :])
            target = start + b - s + 1 + jnp.arange(s)  # absolute indices of the targets
            return jnp.where(target < length, scored, 0.0).sum(-1)

        return total + jax.lax.map(window, jnp.arange(1, windows + 1)).sum(0)

    def loss(self, batch: jax.Array, rng: jax.Array):
        """Mean next-token cross-entropy over windows of B + 1 tokens (first token by softmax(a)).

        A batch of longer sequences is cropped to one random window per row
        (the feeder normally cuts windows already); shorter ones are scored whole.
        """
        x = batch.astype(jnp.int32)
        k_crop, k_drop = jax.random.split(rng)
        n, length = x.shape
        if length > self.train_window:
            offsets = jax.random.randint(k_crop, (n,), 0, length - self.train_window + 1)
            x = jnp.take_along_axis(x, offsets[:, None] + jnp.arange(self.train_window), axis=1)
        logits = self(x[:, :-1], k_drop)
        first = jnp.broadcast_to(self.first_logits[...], (n, 1, self.vocab_size))
        ce = optax.softmax_cross_entropy_with_integer_labels(
            jnp.concatenate([first, logits], axis=1), x
        )
        loss = jnp.mean(ce)
        return {"params": loss}, {"next_token_ce": jnp.mean(ce[:, 1:])}

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """Draws ``n`` sequences ``[n, T]`` of the dataset's length with the KV-cache sampler."""
        from genbench.models.transformer_sampling import sample_tokens

        return sample_tokens(self, rng, jnp.zeros((n, 0), jnp.int32), self.num_steps)

    # -- cost -------------------------------------------------------------------------------
    def matmul_params(self) -> int:
        """N of the FLOP count: parameters used in matrix products (blocks and output head).

        Position embeddings and the token-embedding lookup are excluded; the
        output projection is counted (it is the embedding when tied), as nanoGPT does.
        """
        blocks = sum(p.size for p in jax.tree.leaves(nnx.state(self.blocks, nnx.Param)))
        return int(blocks + self.vocab_size * self.n_embd)

    def analytic_flops_per_token(self) -> int:
        """Training FLOPs per token, 6 N + 12 L H Q T (PaLM, Chowdhery et al. 2022, app. B).

        N: ``matmul_params``; L layers, H heads, Q = C / H, T = B context. The
        attention term counts the full T x T score matrix, not its causal half.
        """
        q = self.n_embd // self.n_head
        return 6 * self.matmul_params() + 12 * self.n_layer * self.n_head * q * self.block_size

    def flops_per_example(self) -> int:
        """``analytic_flops_per_token`` times the B positions of a training window."""
        return self.analytic_flops_per_token() * self.tokens_per_example


def _target_log_probs(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """log softmax(logits)[targets], ``[N, T]``."""
    return -optax.softmax_cross_entropy_with_integer_labels(logits, targets)


def num_windows(length: int, block_size: int, stride: int) -> int:
    """Windows that score a sequence of ``length`` tokens: 1 + ceil((L - 1 - B) / S) beyond B."""
    return 1 + max(0, -(-(length - 1 - block_size) // stride))


def context_start(p: int, block_size: int, stride: int) -> int:
    """m(p): the smallest multiple of the stride with p - m(p) <= B (0 for p <= B)."""
    return 0 if p <= block_size else stride * -(-(p - block_size) // stride)


def build(config, dataset, rngs: nnx.Rngs) -> Transformer:
    """The transformer of ``config.model`` (a ``TransformerConfig``) for a symbol-sequence dataset.

    Raises:
      UsageError: the dataset is not sequences of symbols, or its sequences are
        shorter than a training window of block_size + 1 tokens.
    """
    from genbench.errors import UsageError

    m = config.model
    if dataset.kind != "sequence" or dataset.levels < 1 or len(dataset.event_shape) != 1:
        raise UsageError(
            f"the transformer needs a sequence dataset of symbols; {dataset.name!r} is "
            f"{dataset.kind} with shape {dataset.event_shape}"
        )
    length = dataset.event_shape[0]
    if length < 2:
        raise UsageError(f"the transformer needs sequences of >= 2 tokens; {dataset.name!r} has 1")
    block = m.block_size or min(MAX_AUTO_BLOCK, length - 1)
    if block > length - 1:
        raise UsageError(
            f"model.block_size={block} needs windows of {block + 1} tokens but dataset "
            f"{dataset.name!r} has sequences of {length}; use model.block_size <= {length - 1}"
        )
    stride = m.stride or max(1, block // 2)
    if stride > block:
        raise UsageError(f"model.stride={stride} must be <= model.block_size={block}")
    return Transformer(
        dataset.levels,
        length,
        n_layer=m.n_layer,
        n_head=m.n_head,
        n_embd=m.n_embd,
        block_size=block,
        stride=stride,
        dropout=m.dropout,
        bias=m.bias,
        tie_weights=m.tie_weights,
        rngs=rngs,
    )
