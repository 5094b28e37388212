"""What every normalizing flow shares: a stack of invertible layers over a base density.

A flow maps data x to noise u = f(x) through layers with tractable Jacobians,
so log p(x) = log p_base(f(x)) + log |det df/dx| exactly, and samples are
f^{-1}(u) for u ~ p_base. A layer is any module with
``to_noise(x) -> (y, log_det [N])`` and ``to_data(y) -> x`` (its inverse);
``realnvp`` and ``maf`` differ only in their layers.

The base is N(0, I), as in the papers, or a learned mixture of K diagonal
Gaussians (MAF's "MoG" variant, Papamakarios et al. 2017, section 3.4, put as
the base): an affine flow maps a connected density to a connected one, so
well-separated modes (ring8: std 0.01 at radius 1) leave thin bridges of mass
between them; a mixture base gives the modes their own components and the flow
shapes them.

A learned lower-triangular affine layer at the data end (``TriangularAffine``)
whitens the data's correlations, and an L2 penalty on the layers' network
weights (``weight_penalty``, a Gaussian prior, added to the mean nll) keeps a
flow from memorising a fixed training set: on the 10,000 points of
``linear_gaussian`` an unpenalised RealNVP's training nll fell 2.6 nats below the
source's entropy while its test nll rose. A mixture base memorises too (32 components
of 16-D Gaussians are 1,056 parameters: RealNVP's kl_to_source on ``linear_gaussian``
was 0.095 nats with it, 0.014 with N(0, I)), so on a fixed training set an L2 penalty
(``base_penalty``) pulls every component's mean and log-scale to N(0, I)'s, where the
components coincide and their weights cannot overfit (0.007 nats). On a source that
draws fresh training data there is nothing to memorise, and the penalty is off: ring8's
modes of std 0.01 need components far narrower than N(0, I) (penalised, RealNVP's
kl_to_source on ring8 rose from 0.017 to 0.77).

A class-conditional flow (``ConditionalFlow``) models p(x | y): each layer's
network reads the one-hot label besides its inputs, and the mixture base has a
set of component weights per class (the components themselves are shared).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from genbench import contract
from genbench.inference.gaussian import diag_normal_log_prob, standard_normal_log_prob
from genbench.models.conditional import draw_labels, training_class_log_prior
from genbench.models.likelihoods import max_likelihood_loss
from genbench.models.nets import training_flops


def bounded_log_scale(raw: jax.Array, bound: float) -> jax.Array:
    """``bound * tanh(raw / bound)``: a log-scale near ``raw`` when small, never past
    ``±bound`` (an unbounded scale overflows in the first steps of training)."""
    return bound * jnp.tanh(raw / bound)


class TriangularAffine(nnx.Module):
    """A learned affine layer ``u = T x + b``, T lower-triangular with a positive diagonal.

    Every Gaussian N(mu, C) is T^{-1} N(0, I) + mu for T the inverse of C's Cholesky
    factor, so this one layer at the data end whitens the data's correlations (which
    couplings on fixed halves can only build from many shears); log |det T| is the sum
    of its log-diagonal. It starts as the identity.

    Args:
      dim: D.
    """

    def __init__(self, dim: int):
        self.dim = dim
        self.log_diag = nnx.Param(jnp.zeros(dim))
        self.lower = nnx.Param(jnp.zeros((dim, dim)))  # only the strictly lower part is used
        self.shift = nnx.Param(jnp.zeros(dim))

    def _matrix(self) -> jax.Array:
        return jnp.tril(self.lower[...], -1) + jnp.diag(jnp.exp(self.log_diag[...]))

    def to_noise(self, x: jax.Array, one_hot=None) -> tuple[jax.Array, jax.Array]:
        """``(T x + b, log |det T|)``: ``[N, D]`` and ``[N]`` (the same for every class)."""
        del one_hot
        log_det = jnp.broadcast_to(jnp.sum(self.log_diag[...]), x.shape[:1])
        return x @ self._matrix().T + self.shift[...], log_det

    def to_data(self, u: jax.Array, one_hot=None) -> jax.Array:
        """The inverse, ``T^{-1} (u - b)``, by forward substitution."""
        del one_hot
        solved = jax.scipy.linalg.solve_triangular(
            self._matrix(), (u - self.shift[...]).T, lower=True
        )
        return solved.T

    def macs(self) -> int:
        """Multiply-accumulates of one example (the triangle of T)."""
        return self.dim * (self.dim + 1) // 2


class StandardNormal(nnx.Module):
    """The N(0, I) base density of ``dim`` variables (no parameters)."""

    def __init__(self, dim: int):
        self.dim = dim

    def penalty(self) -> jax.Array:
        """No parameters, no penalty."""
        return jnp.zeros(())

    def log_prob(self, u: jax.Array, one_hot: jax.Array | None = None) -> jax.Array:
        """log N(u; 0, I), ``[N]`` (the same for every class)."""
        del one_hot
        return standard_normal_log_prob(u)

    def sample(self, rng: jax.Array, n: int, one_hot: jax.Array | None = None) -> jax.Array:
        """``[n, D]`` draws (the same for every class)."""
        del one_hot
        return jax.random.normal(rng, (n, self.dim))


class GaussianMixture(nnx.Module):
    """A learned mixture of ``components`` diagonal Gaussians over ``dim`` variables.

    Means start at N(0, I) draws, standard deviations at 1 and weights equal.

    Args:
      dim: D.
      components: K.
      classes: C > 0 for a class-conditional base: each class weighs the shared
        components with its own weights (``logits [C, K]``); 0 for one set.
      rngs: initialisation PRNGs.
    """

    def __init__(self, dim: int, components: int, classes: int = 0, *, rngs: nnx.Rngs):
        self.dim = dim
        self.logits = nnx.Param(jnp.zeros((classes, components) if classes else components))
        self.means = nnx.Param(jax.random.normal(rngs.params(), (components, dim)))
        self.log_stds = nnx.Param(jnp.zeros((components, dim)))

    def penalty(self) -> jax.Array:
        """The squared means and log standard deviations: zero when every component is
        N(0, I), where the mixture is N(0, I) whatever its weights."""
        return jnp.sum(self.means[...] ** 2) + jnp.sum(self.log_stds[...] ** 2)

    def _logits(self, one_hot: jax.Array | None) -> jax.Array:
        """The component logits: ``[K]``, or ``[N, K]`` of each example's class."""
        return self.logits[...] if one_hot is None else one_hot @ self.logits[...]

    def log_prob(self, u: jax.Array, one_hot: jax.Array | None = None) -> jax.Array:
        """log sum_k w_k N(u; m_k, diag s_k^2), ``[N]`` (w of each row's class, if given)."""
        per_component = diag_normal_log_prob(u[:, None, :], self.means[...], self.log_stds[...])
        log_weights = jax.nn.log_softmax(self._logits(one_hot), axis=-1)
        return jax.nn.logsumexp(per_component + log_weights, axis=-1)

    def sample(self, rng: jax.Array, n: int, one_hot: jax.Array | None = None) -> jax.Array:
        """``[n, D]`` draws: a component by its weight (of row i's class, if given), then
        its Gaussian."""
        k_component, k_noise = jax.random.split(rng)
        k = jax.random.categorical(k_component, self._logits(one_hot), shape=(n,))
        noise = jax.random.normal(k_noise, (n, self.dim))
        return self.means[...][k] + jnp.exp(self.log_stds[...][k]) * noise


def base_density(dim: int, components: int, rngs: nnx.Rngs, classes: int = 0) -> nnx.Module:
    """N(0, I) for ``components`` 0, else a learned mixture of that many Gaussians (with
    per-class weights for ``classes`` > 0)."""
    if components == 0:
        return StandardNormal(dim)
    return GaussianMixture(dim, components, classes, rngs=rngs)


class Flow(nnx.Module):
    """A normalizing flow over ``[N, D]`` continuous inputs.

    Args:
      layers: the invertible layers, data side first (``to_noise`` runs them in order).
      base: the base density (``StandardNormal`` or ``GaussianMixture``).
      weight_penalty: L2 penalty on the layers' network weights, added to the loss.
    """

    input_kind = "continuous"

    def __init__(
        self,
        layers: list[nnx.Module],
        base: nnx.Module,
        weight_penalty: float = 0.0,
        base_penalty: float = 0.0,
    ):
        self.layers = nnx.List(layers)
        self.base = base
        self.weight_penalty = weight_penalty
        self.base_penalty = base_penalty

    def _penalty(self) -> jax.Array:
        """``weight_penalty`` times the squared weights of the layers' networks (their
        ``kernel`` parameters: not the affine layer's matrix), plus ``base_penalty`` times
        the base's own penalty; a penalty of 0 adds nothing to the program."""
        penalty = jnp.zeros(())
        if self.weight_penalty:
            squares = [
                jnp.sum(v.get_value() ** 2)
                for path, v in nnx.iter_graph(self.layers)
                if isinstance(v, nnx.Param) and path and path[-1] == "kernel"
            ]
            penalty = penalty + self.weight_penalty * sum(squares)
        if self.base_penalty:
            penalty = penalty + self.base_penalty * self.base.penalty()
        return penalty

    def to_noise(self, x: jax.Array, one_hot: jax.Array | None = None):
        """``(u, log |det du/dx|)`` of ``x [N, D]``: ``[N, D]`` and ``[N]`` (given each
        row's one-hot class ``[N, C]`` in a conditional flow)."""
        log_det = jnp.zeros(x.shape[0], x.dtype)
        for layer in self.layers:
            x, layer_log_det = layer.to_noise(x, one_hot)
            log_det = log_det + layer_log_det
        return x, log_det

    def to_data(self, u: jax.Array, one_hot: jax.Array | None = None) -> jax.Array:
        """The inverse of ``to_noise``: ``x [N, D]`` of ``u [N, D]``."""
        for layer in reversed(self.layers):
            u = layer.to_data(u, one_hot)
        return u

    def _log_prob_given(self, x: jax.Array, one_hot: jax.Array | None) -> jax.Array:
        """log p(x) (log p(x | y) given the one-hot class of each row), ``[N]`` nats."""
        u, log_det = self.to_noise(x.reshape(x.shape[0], -1), one_hot)
        return self.base.log_prob(u, one_hot) + log_det

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x) by the change of variables, ``[N]`` nats."""
        return self._log_prob_given(x, None)

    def loss(self, batch: jax.Array, rng: jax.Array):
        """Negative mean log-likelihood of the batch (maximum likelihood)."""
        del rng
        losses, metrics = max_likelihood_loss(self.log_prob(batch))
        return {"params": losses["params"] + self._penalty()}, metrics

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``n`` draws ``f^{-1}(u)``, u ~ p_base: ``[n, D]``."""
        return self.to_data(self.base.sample(rng, n))

    def flops_per_example(self) -> int:
        """Analytic training FLOPs of one example: each layer's network once, forward and
        backward (the affine arithmetic and the base density are O(K D), not counted)."""
        return training_flops(sum(layer.macs() for layer in self.layers))


class ConditionalFlow(Flow):
    """A class-conditional flow p(x | y): the one-hot label is an input of every layer's
    network and picks the base's component weights.

    It trains on ``(x, y)`` batches (``uses_labels``) by maximum likelihood of
    log p(x | y), samples a given class (``sample_class``), and has the exact joint
    log p(x, y) = log p(y) + log p(x | y) with p(y) the training labels' frequencies
    (``log_joint``, so it classifies), whose sum over classes is the exact ``log_prob``.

    Args:
      layers, base: as for ``Flow``; the layers' networks take the C label inputs besides.
      class_log_prior: log p(y) of each of the C classes (a tuple).
    """

    uses_labels = True

    def __init__(
        self,
        layers,
        base,
        class_log_prior,
        weight_penalty: float = 0.0,
        base_penalty: float = 0.0,
    ):
        super().__init__(layers, base, weight_penalty, base_penalty)
        self.class_log_prior = tuple(class_log_prior)
        self.num_classes = len(self.class_log_prior)

    def _one_hot(self, labels: jax.Array) -> jax.Array:
        return jax.nn.one_hot(labels, self.num_classes)

    def log_joint(self, x: jax.Array) -> jax.Array:
        """log p(x, y = c) for every class c, ``[N, C]`` nats."""
        x = x.reshape(x.shape[0], -1)

        def one_class(label):
            return self._log_prob_given(x, self._one_hot(jnp.full(x.shape[0], label)))

        per_class = jax.vmap(one_class)(jnp.arange(self.num_classes))
        return (per_class + jnp.asarray(self.class_log_prior)[:, None]).T

    def log_prob(self, x: jax.Array) -> jax.Array:
        """Exact log p(x) = log sum_y p(y) p(x | y), ``[N]`` nats."""
        return jax.nn.logsumexp(self.log_joint(x), axis=-1)

    def loss(self, batch, rng: jax.Array):
        """Negative mean log p(x | y) of a labelled batch ``(x [B, D], y [B])``."""
        del rng
        x, y = batch
        losses, metrics = max_likelihood_loss(self._log_prob_given(x, self._one_hot(y)))
        return {"params": losses["params"] + self._penalty()}, metrics

    def sample(self, rng: jax.Array, n: int) -> jax.Array:
        """``n`` draws ``[n, D]`` of classes drawn from the training labels' frequencies."""
        k_y, k_x = jax.random.split(rng)
        return self.sample_class(k_x, draw_labels(k_y, self.class_log_prior, n))

    def sample_class(self, rng: jax.Array, labels: jax.Array) -> jax.Array:
        """One draw of x ~ p(x | y) for each class of ``labels [n]``: ``[n, D]``."""
        one_hot = self._one_hot(labels)
        return self.to_data(self.base.sample(rng, labels.shape[0], one_hot), one_hot)


def assemble(config, dataset, name: str, make_layers, kinds, rngs: nnx.Rngs) -> Flow:
    """A flow of ``config.model`` for ``dataset``: the optional affine layer at the data end,
    then ``make_layers``' layers, over the configured base; class-conditional if asked.

    Args:
      config: the run config; ``config.model`` has ``conditional``, ``affine_layer`` and
        ``base_components``.
      dataset: the dataset (its training labels set a conditional flow's p(y)).
      name: the model's name, for error messages.
      make_layers: ``classes -> [layer, ...]``, data side first; ``classes`` is C, the
        one-hot label inputs of each layer's network (0 for an unconditional flow).
      kinds: ``(flow class, conditional flow class)``.
      rngs: initialisation PRNGs.

    Returns:
      The flow.
    """
    m, dim = config.model, dataset.event_size
    prior = training_class_log_prior(dataset, name) if m.conditional else ()
    layers = [TriangularAffine(dim)] if m.affine_layer else []
    layers += make_layers(len(prior))
    base = base_density(dim, m.base_components, rngs, len(prior))
    # A source that draws fresh training data cannot be memorised: no prior against it.
    base_penalty = 0.0 if contract.draws_fresh(dataset) else m.base_penalty
    flow, conditional_flow = kinds
    if m.conditional:
        return conditional_flow(layers, base, prior, m.weight_penalty, base_penalty)
    return flow(layers, base, m.weight_penalty, base_penalty)
