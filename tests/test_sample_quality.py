"""Sample-quality metrics: mode metrics, Fréchet distance, precision/recall, the cached classifier.

Each metric is checked where its value is known: samples of a source against
the source itself, one mode against eight, closed-form Gaussians, the test
split against the train split (an ideal model) and the same split with its
pixels shuffled (a model whose samples look like no digit).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from genbench.data.configs import DigitsConfig, Ring8Config
from genbench.data.digits import digits_grey
from genbench.data.sources import ring8
from genbench.data.view import data_view
from genbench.metrics import features as features_module
from genbench.metrics.features import feature_extractor
from genbench.metrics.frechet import frechet_distance, gaussian_frechet_distance
from genbench.metrics.modes import MODE_SAMPLES, mixture_mode_metrics, mode_metrics
from genbench.metrics.precision_recall import knn_radii, manifold_coverage, precision_recall
from genbench.metrics.sample_quality import sample_quality_metrics, to_data_space
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.fit import fit
from genbench.train.mesh import data_mesh


@pytest.fixture(scope="module")
def ring():
    return ring8(Ring8Config(n_train=100, n_test=MODE_SAMPLES, fresh=True))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """GENBENCH_CACHE in a temporary directory for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("genbench_cache")
        mp.setenv("GENBENCH_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def digits():
    return digits_grey(DigitsConfig())


def _shuffled(images: np.ndarray) -> np.ndarray:
    """Each image's pixels in a fixed random order of its own."""
    rng = np.random.default_rng(0)
    return np.stack([x[rng.permutation(x.size)] for x in images])


# --- mode metrics -------------------------------------------------------------------------------


def test_samples_of_ring8_capture_every_mode_with_high_quality(ring):
    samples = ring.sample(jax.random.key(0), MODE_SAMPLES)
    out = mixture_mode_metrics(np.asarray(samples), ring)
    expected = 1 - math.exp(-4.5)  # P(chi^2_2 < 9)
    se = math.sqrt(expected * (1 - expected) / MODE_SAMPLES)
    assert out["modes_captured"] == 8
    assert abs(out["high_quality_frac"] - expected) < 3 * se
    assert 0 <= out["reverse_kl_modes"] < 0.01
    assert out["modes_n"] == MODE_SAMPLES


def test_one_component_captures_one_mode_with_reverse_kl_ln8(ring):
    noise = jax.random.normal(jax.random.key(1), (MODE_SAMPLES, 2))
    samples = jnp.asarray(ring.means[3]) + ring.std * noise
    out = jax.device_get(mode_metrics(samples, ring.means, ring.std))
    assert int(out["modes_captured"]) == 1
    assert out["mode_counts"].argmax() == 3
    np.testing.assert_allclose(out["reverse_kl_modes"], math.log(8), rtol=1e-6)


def test_mode_metrics_match_a_brute_force_loop(ring):
    key_mode, key_noise = jax.random.split(jax.random.key(2))
    modes = jax.random.randint(key_mode, (300,), 0, 3)  # three of the eight modes
    scale = jnp.where(jnp.arange(300) % 4 == 0, 10.0, 1.0)[:, None] * ring.std  # 1/4 off-mode
    samples = np.asarray(
        ring.means[np.asarray(modes)] + scale * jax.random.normal(key_noise, (300, 2))
    )
    counts = np.zeros(8)
    for x in samples:
        d = np.linalg.norm(ring.means - x, axis=1) / ring.std
        if d.min() < 3:
            counts[d.argmin()] += 1
    q = counts[counts > 0] / counts.sum()
    out = jax.device_get(mode_metrics(samples, ring.means, ring.std))
    assert int(out["modes_captured"]) == int(np.sum(counts > 0)) == 3
    np.testing.assert_array_equal(out["mode_counts"], counts)
    np.testing.assert_allclose(out["high_quality_frac"], counts.sum() / 300, rtol=1e-6)
    np.testing.assert_allclose(out["reverse_kl_modes"], np.sum(q * np.log(8 * q)), rtol=1e-5)


def test_no_high_quality_sample_gives_no_reverse_kl(ring):
    out = mixture_mode_metrics(np.full((10, 2), 5.0, np.float32), ring)
    assert out["modes_captured"] == 0 and out["high_quality_frac"] == 0
    assert out["reverse_kl_modes"] is None


# --- Fréchet distance and precision/recall --------------------------------------------------------


def test_frechet_distance_equals_the_closed_form_for_known_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=3), rng.normal(size=3)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    cov1, cov2 = a @ a.T + 0.1 * np.eye(3), b @ b.T + 0.1 * np.eye(3)
    root = scipy.linalg.sqrtm(cov1)
    cross = np.trace(scipy.linalg.sqrtm(root @ cov2 @ root)).real
    closed = np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross
    np.testing.assert_allclose(gaussian_frechet_distance(mu1, cov1, mu2, cov2), closed, rtol=1e-10)
    # diagonal covariances: ||mu1 - mu2||^2 + ||sigma1 - sigma2||^2
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([0.3, 2.0, 1.5])
    np.testing.assert_allclose(
        gaussian_frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)),
        np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2),
        rtol=1e-12,
    )
    assert gaussian_frechet_distance(mu1, cov1, mu1, cov1) == pytest.approx(0, abs=1e-9)
    # from samples: the Gaussians fitted to large samples
    x = rng.multivariate_normal(mu1, cov1, size=200_000)
    y = rng.multivariate_normal(mu2, cov2, size=200_000)
    assert frechet_distance(x, y) == pytest.approx(closed, rel=0.02)


def test_knn_radius_is_the_kth_neighbour_without_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    np.testing.assert_allclose(knn_radii(points, 3), [6.0, 5.0, 3.0, 5.0, 9.0])


def test_manifold_coverage_matches_a_brute_force_count():
    rng = np.random.default_rng(3)
    support = np.concatenate([rng.normal(size=(150, 5)), 8 + 0.1 * rng.normal(size=(50, 5))])
    queries = np.concatenate([rng.normal(size=(300, 5)) * 1.5, [[8.0] * 5, [30.0] * 5]])
    distances = np.linalg.norm(support[:, None] - support[None], axis=-1)
    radii = np.sort(distances, axis=1)[:, 3]  # column 0 is the point itself
    to_queries = np.linalg.norm(queries[:, None] - support[None], axis=-1)
    expected = np.mean(np.any(to_queries <= radii[None], axis=1))
    np.testing.assert_allclose(knn_radii(support), radii, rtol=1e-12)
    assert manifold_coverage(queries, support) == expected
    assert 0.2 < expected < 0.98  # neither all nor none: the count is discriminating


def test_precision_and_recall_of_identical_and_disjoint_sets():
    x = np.random.default_rng(0).normal(size=(500, 2))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_fd_and_precision_recall_separate_real_digits_from_shuffled_ones(cache, digits):
    extract = feature_extractor(digits)
    train, test, shuffled = (
        extract(digits.train),
        extract(digits.test),
        extract(_shuffled(digits.test)),
    )
    fd_real, fd_shuffled = frechet_distance(test, train), frechet_distance(shuffled, train)
    assert fd_real < 0.1 * fd_shuffled
    precision, recall = precision_recall(train, test)
    assert precision > 0.8 and recall > 0.8
    precision, recall = precision_recall(train, shuffled)
    # shuffled features are spread out: their wide k-NN balls still cover ~30% of real data
    assert precision < 0.05 and recall < 0.5
    assert np.mean(extract.predict(digits.test) == digits.test_labels) > 0.95


# --- the cached classifier -----------------------------------------------------------------------


def test_classifier_cache_is_hit_and_a_corrupted_file_is_rebuilt(cache, digits, monkeypatch):
    first = feature_extractor(digits)
    assert first.path.parent == cache / "features" and first.path.exists()
    with np.load(first.path, allow_pickle=False) as stored:  # plain arrays, no pickles
        assert {"param/head/kernel", "shift", "scale", "version"} <= set(stored.files)

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although the cache holds the classifier")

    with monkeypatch.context() as m:
        m.setattr(features_module, "_train", no_training)
        second = feature_extractor(digits)
    assert second.from_cache and second.path == first.path
    np.testing.assert_array_equal(second(digits.test), first(digits.test))

    first.path.write_bytes(b"not an npz file")
    rebuilt = feature_extractor(digits)
    assert not rebuilt.from_cache
    np.testing.assert_array_equal(rebuilt(digits.test), first(digits.test))  # deterministic
    assert feature_extractor(digits).from_cache
    assert not list(first.path.parent.glob(".tmp-*"))


# --- the metric group end to end ----------------------------------------------------------------


def _trained_vae(dataset_name: str, overrides=None):
    spec = resolve(
        "vae",
        dataset_name,
        None,
        {
            "train.steps": 20,
            "train.inner_steps": 10,
            "model.hidden": (16,),
            "model.latent_dim": 2,
            "eval.max_examples": 200,
            "eval.source_samples": 300,
            **(overrides or {}),
        },
    )
    dataset, model = build(spec)
    view = data_view(dataset, model.input_kind)
    fit(model, dataset, view.transform, spec.config.train, 0, data_mesh(jax.devices()[:1]))
    return spec, dataset, model, view


def _check_types(metrics, estimators, expected_keys):
    assert set(metrics) == expected_keys
    assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in metrics.values())
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in estimators.items())


def test_metric_group_on_a_tiny_vae_on_ring8():
    spec, dataset, model, view = _trained_vae("ring8", {"data.n_test": 500})
    metrics, estimators = sample_quality_metrics(
        model, dataset, view, spec.config.eval, jax.random.key(0)
    )
    _check_types(
        metrics,
        estimators,
        {
            "modes_captured",
            "high_quality_frac",
            "high_quality_frac_se",
            "reverse_kl_modes",
            "modes_n",
            "frechet_distance",
            "frechet_distance_n",
            "precision",
            "recall",
            "precision_recall_n",
            "log_prob_source_of_samples",
            "log_prob_source_of_samples_se",
        },
    )
    assert metrics["modes_n"] == MODE_SAMPLES and metrics["frechet_distance_n"] == 200
    assert 0 <= metrics["modes_captured"] <= 8
    assert estimators == {"log_prob_source_of_samples": "exact"}
    # the same key gives the same numbers
    again, _ = sample_quality_metrics(model, dataset, view, spec.config.eval, jax.random.key(0))
    assert again == metrics


def test_metric_group_on_a_tiny_vae_on_grey_digits(cache):
    spec, dataset, model, view = _trained_vae("digits", {"model.decoder": "gaussian"})
    assert view.dequantized
    metrics, estimators = sample_quality_metrics(
        model, dataset, view, spec.config.eval, jax.random.key(0)
    )
    _check_types(
        metrics,
        estimators,
        {"frechet_distance", "frechet_distance_n", "precision", "recall", "precision_recall_n"},
    )
    assert metrics["frechet_distance"] > 0 and metrics["frechet_distance_n"] == 200
    assert estimators == {}


def test_dequantised_samples_map_back_to_the_data_values(digits):
    view = data_view(digits, "continuous")
    x = digits.test[:50].reshape(50, -1)
    noisy = np.asarray(view.transform(jnp.asarray(x), jax.random.key(0)))
    np.testing.assert_array_equal(to_data_space(noisy, digits, view), x)


def test_a_model_without_sample_gets_no_metrics(ring):
    class NoSampler:
        input_kind = "continuous"

    view = data_view(ring, "continuous")
    assert sample_quality_metrics(NoSampler(), ring, view, None, jax.random.key(0)) == ({}, {})
