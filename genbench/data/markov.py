r"""Order-k Markov chain sources over V symbols with an exact window log p and entropy rate.

Symbols are integers in {0, ..., V-1}. The context of step t (0-based, t >= k)
is the index of the k previous symbols, oldest most significant:

    c_t = sum_{j=1}^{k} x_{t-j} V^{k-j}  in {0, ..., V^k - 1},

and P(x_t | x_{<t}) = Theta[c_t, x_t], each row Theta[c] ~ Dirichlet(alpha 1_V)
(drawn in numpy from ``source_seed``). The contexts form a first-order chain
on V^k states, c_{t+1} = (V c_t + x_t) mod V^k, with transition matrix

    M[c, c'] = Theta[c, x]  if c' = (V c + x) mod V^k, else 0.

Its stationary distribution pi = pi M (unique: every entry of Theta is
positive, so the chain is irreducible and aperiodic) is computed at
construction in float64, by a direct linear solve of pi (M - I) = 0,
sum(pi) = 1 for V^k <= ``DENSE_MAX_STATES`` and by power iteration
pi <- pi M (using the shift structure, O(V^(k+1)) per iteration) above.

Windows x_{0:T} are drawn from the stationary chain: the first k symbols are
the digits of c_k ~ pi, the rest follow Theta, by inverse-CDF sampling (one
uniform per symbol) in a ``lax.scan`` (jit-able, used inside the training step
when ``data.fresh`` is true); the fixed splits run the same arithmetic in numpy
from generators seeded by (source_seed, split), so building the source compiles
nothing and the test set does not depend on ``n_train``. For T >= k,

    log p(x_{0:T}) = log pi(c_k) + sum_{t=k}^{T-1} log Theta[c_t, x_t],

exact at any T (for T < k, pi is marginalised over the missing digits), and
the entropy rate is closed-form:

    H = -sum_c pi(c) sum_x Theta[c, x] log Theta[c, x]   (nats per symbol).

The hidden state of an HMM has no counterpart here (the context is observed),
so ``hidden_states`` is False and ``viterbi_accuracy`` is not measured.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genbench.data.base import Estimate, Source
from genbench.data.configs import MarkovConfig
from genbench.errors import UsageError

DENSE_MAX_STATES = 1024  # V^k up to this: direct solve; above: power iteration
POWER_TOL = 1e-13  # L1 change per power iteration that counts as converged
POWER_MAX_ITERS = 100_000


def transition_table(config: MarkovConfig) -> np.ndarray:
    """Theta ``[V^k, V]`` (float64): each row ~ Dirichlet(concentration) from ``source_seed``."""
    rng = np.random.default_rng(config.source_seed + 3000)
    states = config.vocab_size**config.order
    table = rng.dirichlet(np.full(config.vocab_size, config.concentration), states)
    # Dirichlet rows with a small concentration can underflow to exact zeros; keep them positive.
    table = np.maximum(table, 1e-30)
    return table / table.sum(axis=1, keepdims=True)


def context_matrix(table: np.ndarray) -> np.ndarray:
    """The dense V^k x V^k transition matrix M of the contexts."""
    states, vocab = table.shape
    matrix = np.zeros((states, states))
    rows = np.repeat(np.arange(states), vocab)
    cols = (rows * vocab + np.tile(np.arange(vocab), states)) % states
    np.add.at(matrix, (rows, cols), table.ravel())
    return matrix


def step_distribution(pi: np.ndarray, table: np.ndarray) -> np.ndarray:
    """pi M without forming M: the flat index V c + x has top digit (dropped) and c'."""
    states, vocab = table.shape
    return (pi[:, None] * table).reshape(vocab, states).sum(axis=0)


def stationary_distribution(table: np.ndarray) -> np.ndarray:
    """pi with pi M = pi, sum(pi) = 1 (float64); see the module docstring."""
    states = table.shape[0]
    if states <= DENSE_MAX_STATES:
        system = context_matrix(table).T - np.eye(states)
        system[-1] = 1.0  # replace one (redundant) balance equation by the normalisation
        rhs = np.zeros(states)
        rhs[-1] = 1.0
        pi = np.linalg.solve(system, rhs)
    else:
        pi = np.full(states, 1.0 / states)
        for _ in range(POWER_MAX_ITERS):
            new = step_distribution(pi, table)
            change, pi = np.abs(new - pi).sum(), new
            if change < POWER_TOL:
                break
        else:
            raise UsageError(
                "the Markov source's stationary distribution did not converge; "
                "raise data.concentration"
            )
    pi = np.clip(pi, 0.0, None)
    pi /= pi.sum()
    if np.abs(step_distribution(pi, table) - pi).sum() > 1e-9:
        raise UsageError("the Markov source's stationary distribution is inaccurate")
    return pi


def entropy_rate(pi: np.ndarray, table: np.ndarray) -> float:
    """H = -sum_c pi(c) sum_x Theta[c, x] log Theta[c, x], in nats per symbol."""
    return float(-(pi * (table * np.log(table)).sum(axis=1)).sum())


class MarkovSource(Source):
    """A stationary order-k Markov chain over V symbols (see the module docstring).

    Attributes:
      order, vocab_size, num_steps: k, V and the window length T of the splits.
      table: Theta ``[V^k, V]`` (float64 numpy).
      stationary: pi ``[V^k]`` (float64 numpy).
      hidden_states: False: ``sample_with_states`` returns the observed contexts.
    """

    hidden_states = False

    def __init__(self, name: str, config: MarkovConfig):
        self.order, self.vocab_size = config.order, config.vocab_size
        self.num_steps = config.num_steps
        self.fresh = config.fresh
        self.table = transition_table(config)
        self.stationary = stationary_distribution(self.table)
        self._entropy_rate = entropy_rate(self.stationary, self.table)
        self._log_table = jnp.asarray(np.log(self.table), jnp.float32)
        self._cdf_np = (
            np.cumsum(self.stationary).astype(np.float32),
            np.cumsum(self.table, axis=1).astype(np.float32),
        )
        self._cdf_pi, self._cdf_table = (jnp.asarray(a) for a in self._cdf_np)
        with np.errstate(divide="ignore"):
            self._log_pi = jnp.asarray(np.log(self.stationary), jnp.float32)
        train, test = self._splits(config.source_seed, config.n_train, config.n_test)
        super().__init__(name, train, test, "sequence", levels=config.vocab_size)

    @property
    def num_contexts(self) -> int:
        return self.vocab_size**self.order

    def sample(self, rng: jax.Array, n: int, num_steps: int | None = None) -> jax.Array:
        """``n`` stationary windows ``[n, T]`` int32 (T = ``num_steps`` or the splits' T)."""
        steps = num_steps or self.num_steps
        uniforms = jax.random.uniform(rng, (n, 1 + max(steps - self.order, 0)))
        return self._windows(uniforms, steps)

    def _windows(self, uniforms: jax.Array, steps: int, xp=jnp) -> jax.Array:
        """Windows from uniforms ``[n, 1 + T - k]`` by inverse-CDF sampling.

        Column 0 draws the start context c_k ~ pi; column t draws x = #{j : u >= F[c, j]}
        with F[c, j] = sum_{i <= j} Theta[c, i] (one uniform per symbol: V times fewer
        random bits than Gumbel-max). ``xp=np`` runs the same arithmetic in numpy (the
        fixed splits, without a compilation).
        """
        cdf_pi, cdf = (self._cdf_pi, self._cdf_table) if xp is jnp else self._cdf_np
        vocab, num_contexts = self.vocab_size, self.num_contexts
        start = xp.searchsorted(cdf_pi, uniforms[:, 0], side="right").astype(xp.int32)
        start = xp.minimum(start, num_contexts - 1)
        powers = xp.asarray(vocab ** np.arange(self.order - 1, -1, -1), xp.int32)
        first = (start[:, None] // powers) % vocab
        if steps <= self.order:
            return first[:, :steps]

        def step(context, u):
            x = xp.minimum(xp.sum(u[:, None] >= cdf[context], axis=1, dtype=xp.int32), vocab - 1)
            return (context * vocab + x) % num_contexts, x

        if xp is jnp:
            _, rest = jax.lax.scan(step, start, uniforms[:, 1:].T)
        else:
            rest, context = [], start
            for u in uniforms[:, 1:].T:
                context, x = step(context, u)
                rest.append(x)
            rest = np.stack(rest)
        return xp.concatenate([first, rest.T], axis=1)

    def _splits(self, seed: int, n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
        """The fixed (train, test) windows of ``seed``, drawn in numpy.

        Each split has its own generator, so the test set does not depend on
        ``n_train`` and the first m training windows do not depend on ``n_train``.
        """
        width = 1 + max(self.num_steps - self.order, 0)
        splits = []
        for index, n in ((1, n_train), (2, n_test)):
            uniforms = np.random.default_rng([seed, index]).random((n, width), np.float32)
            splits.append(self._windows(uniforms, self.num_steps, xp=np).astype(np.int32))
        return splits[0], splits[1]

    def contexts(self, x: jax.Array) -> jax.Array:
        """Index of the k symbols ending at each step, ``[n, T]`` (symbols before 0 count as 0).

        Entry t is the context c_{t+1} that predicts x_{t+1}.
        """
        x = jnp.asarray(x, jnp.int32)
        out = jnp.zeros_like(x)
        for j in range(self.order):  # x_{t-j} has weight V^j
            shifted = jnp.pad(x, ((0, 0), (j, 0)))[:, : x.shape[1]]
            out = out + shifted * self.vocab_size**j
        return out

    def sample_with_states(self, rng: jax.Array, n: int, num_steps: int):
        """``(contexts [n, T], windows [n, T])``: the observed contexts, not hidden states."""
        x = self.sample(rng, n, num_steps)
        return self.contexts(x), x

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x_{0:T}) of each window ``[n, T]`` under the stationary chain."""
        x = jnp.asarray(x, jnp.int32)
        steps, k, vocab = x.shape[1], self.order, self.vocab_size
        if steps < k:
            marginal = self.stationary.reshape(vocab**steps, vocab ** (k - steps)).sum(axis=1)
            with np.errstate(divide="ignore"):
                log_marginal = jnp.asarray(np.log(marginal), jnp.float32)
            index = sum(x[:, i] * vocab ** (steps - 1 - i) for i in range(steps))
            return log_marginal[index]
        start = sum(x[:, i] * vocab ** (k - 1 - i) for i in range(k)) if k else 0
        log_p = self._log_pi[jnp.zeros(len(x), jnp.int32) + start]
        if steps == k:
            return log_p
        contexts = self.contexts(x)[:, k - 1 : steps - 1] if k else jnp.zeros_like(x)
        step_log_p = self._log_table[contexts, x[:, k:]]
        return log_p + jnp.sum(step_log_p, axis=1)

    def entropy(self, rng: jax.Array | None = None, n: int = 0, num_steps: int = 0) -> Estimate:
        """The exact entropy rate H (nats per symbol), standard error 0 (arguments unused)."""
        del rng, n, num_steps
        return Estimate(self._entropy_rate, 0.0)


def markov(config: MarkovConfig) -> MarkovSource:
    """The order-k, V-symbol Markov source of ``config`` (default: order 2, V = 16)."""
    return MarkovSource("markov", config)
