"""The built-in models, datasets, metric groups and suites (registered on import of
``genbench.registry``; plugins add theirs through the ``genbench.plugins`` entry points)."""

from __future__ import annotations

from pathlib import Path

from genbench.builtin_diffusion import register_diffusion_models
from genbench.builtin_flows import register_exact_models
from genbench.builtin_images import register_image_datasets
from genbench.builtin_metrics import register_builtin_metrics
from genbench.config import Preset
from genbench.data import configs as data_configs
from genbench.models import configs as model_configs
from genbench.models.fast import train_defaults as fast_path_defaults
from genbench.registry import (
    DatasetEntry,
    ModelEntry,
    SuiteEntry,
    register_dataset,
    register_model,
    register_suite,
)

# PacGAN's 2-D step budget on a 2-core CPU (see the gan2d suite's table for what it reaches).
PACGAN_CPU_STEPS = 10_000
# The PacGAN reference code's 2-D networks and optimiser (Lin et al. 2018).
PACGAN_NETWORKS = {
    "model.generator_hidden": (400, 400, 400, 400),
    "model.discriminator_hidden": (200, 200, 200),
    "model.maxout": 5,
    "model.noise_dim": 2,
    "train.lr": 1e-4,
    "train.b1": 0.8,
    "train.batch_size": 100,
}
_SUITE_DIR = Path(__file__).parent / "suites"
# Steps per compiled call (``train.inner_steps``) that each family's step benchmark found
# fastest on a 2-core CPU (results/benchmarks/*_step_cpu.json): the VAE 50 (2.31 ms per
# step against 3.66 at 1), the GAN 100 (8.06 against 9.10), the transformer 10 (523 ms
# against 620). The autoencoder runs the VAE's networks and takes its value. A run that
# sets ``train.steps`` to a length these do not divide gets the largest divisor below
# them (``genbench.spec.resolve``).
INNER_STEPS = {"vae": 50, "autoencoder": 50, "gan": 100, "transformer": 10}


def _measured_defaults(family: str) -> dict:
    """The ``train.*`` defaults of ``family`` that measurements chose: its CPU dot
    library (``genbench.models.fast``) and its steps per compiled call (``INNER_STEPS``)."""
    return {**fast_path_defaults(family), "train.inner_steps": INNER_STEPS[family]}


register_model(
    ModelEntry(
        name="vae",
        config=model_configs.VAEConfig,
        factory="genbench.models.vae:build",
        classes=(
            "genbench.models.vae:VAE",
            "genbench.models.vae:LinearVAE",
            "genbench.models.vae:ConditionalVAE",
        ),
        description="VAE, Gaussian latent, Bernoulli or Gaussian MLP decoder",
        defaults=_measured_defaults("vae"),
        presets={
            "iwae": Preset(
                "Burda et al. 2015: encoder D-200-200-50 tanh, mirrored decoder",
                {
                    "model.hidden": (200, 200),
                    "model.latent_dim": 50,
                    "model.activation": "tanh",
                    "train.lr": 1e-3,
                    "train.b2": 0.999,
                    # 50 steps per compiled call: removes per-step dispatch (1.17x -> 1.58x torch)
                    "train.inner_steps": 50,
                },
            ),
            "linear": Preset(
                "linear Gaussian encoder and decoder (PPCA): closed-form log p(x)",
                {"model.linear": True, "model.decoder": "gaussian"},
            ),
            "conditional": Preset(
                "conditional VAE (labelled data): the one-hot label into encoder and decoder; "
                "samples a given class (cas_accuracy, augmented_accuracy)",
                {"model.conditional": True},
            ),
        },
    )
)
register_model(
    ModelEntry(
        name="autoencoder",
        config=model_configs.AutoencoderConfig,
        factory="genbench.models.autoencoder:build",
        classes=("genbench.models.autoencoder:Autoencoder",),
        description="deterministic or denoising MLP autoencoder",
        defaults=_measured_defaults("autoencoder"),
        presets={
            "denoising": Preset(
                "denoising autoencoder: masking noise, probability 0.25",
                {"model.noise": "mask", "model.noise_level": 0.25},
            ),
        },
    )
)

register_model(
    ModelEntry(
        name="naive_bayes",
        config=model_configs.NaiveBayesConfig,
        factory="genbench.models.naive_bayes:build",
        classes=("genbench.models.naive_bayes:NaiveBayes",),
        description="naive Bayes: closed-form or gradient fit",
        defaults={"train.fit": "exact"},
        presets={
            "categorical": Preset(
                "categorical features (grey-level digits: 17 values per pixel)",
                {"model.features": "categorical"},
            ),
            "gaussian": Preset("Gaussian features", {"model.features": "gaussian"}),
        },
    )
)

register_model(
    ModelEntry(
        name="hmm",
        config=model_configs.HMMConfig,
        factory="genbench.models.hmm:build",
        classes=("genbench.models.hmm:CategoricalHMM", "genbench.models.hmm:GaussianHMM"),
        description="hidden Markov model, categorical or Gaussian emissions: EM or gradient fit",
        defaults={"train.fit": "em", "train.steps": 100, "train.restarts": 5},
    )
)

register_model(
    ModelEntry(
        name="gan",
        config=model_configs.GANConfig,
        factory="genbench.models.gan:build",
        classes=("genbench.models.gan:GAN", "genbench.models.gan:ConditionalGAN"),
        description="GAN: non-saturating, minimax or WGAN-GP; PacGAN packing; n_critic",
        defaults={
            "train.lr": 1e-4,
            "train.b1": 0.5,
            "train.b2": 0.999,
            **_measured_defaults("gan"),
        },
        presets={
            "pacgan": Preset(
                "PacGAN 2-D networks (Lin et al. 2018) on a CPU budget of 10,000 steps: G 4x400 "
                "ReLU, D 3x200 maxout-5, 2-D noise, Adam 1e-4 (cosine to 1e-5) beta1 0.8, "
                "batch 100; no BatchNorm",
                {
                    **PACGAN_NETWORKS,
                    # BatchNorm (as in pacgan-paper) slows convergence at this budget: on ring8,
                    # pack 2, 10,000 steps it reached 46% high-quality samples, without 91%.
                    "model.generator_batchnorm": False,
                    "train.steps": PACGAN_CPU_STEPS,
                    # A cosine decay to 1e-5 settles the oscillating game by the budget's end:
                    # 96% high-quality samples on ring8, pack 2, against 85-94% at constant lr.
                    "train.schedule": "cosine",
                    "train.min_lr": 1e-5,
                    "train.inner_steps": 100,
                },
            ),
            "pacgan-paper": Preset(
                "PacGAN's networks with BatchNorm in G, N(0, 0.02) weights, simultaneous "
                "updates and its full schedule: 400 epochs of 100,000 points at batch 100",
                {
                    **PACGAN_NETWORKS,
                    "model.generator_batchnorm": True,
                    "model.init_std": 0.02,
                    "model.updates": "simultaneous",
                    "train.steps": 400_000,
                    "train.inner_steps": 1000,
                },
            ),
            "conditional": Preset(
                "conditional GAN (labelled data): the one-hot label appended to G's noise and "
                "to each sample D judges; samples a given class (cas_accuracy, ...)",
                {"model.conditional": True},
            ),
            "digits": Preset(
                "small convolutional GAN for 8x8 digits (DCGAN-style), 32-D noise",
                {
                    "model.architecture": "conv",
                    "model.noise_dim": 32,
                    "model.channels": 32,
                    "train.lr": 2e-4,
                    "train.b1": 0.5,
                    "train.batch_size": 64,
                    "train.steps": 3000,
                    "train.inner_steps": 100,
                },
            ),
        },
    )
)

register_model(
    ModelEntry(
        name="transformer",
        config=model_configs.TransformerConfig,
        factory="genbench.models.transformer:build",
        classes=("genbench.models.transformer:Transformer",),
        description="decoder-only causal transformer (GPT): exact NLL per token, KV-cache sampling",
        defaults={"train.batch_size": 32, **_measured_defaults("transformer")},
        presets={
            "shakespeare-char-cpu": Preset(
                "nanoGPT's CPU run of shakespeare_char: 4 layers, 4 heads, 128 wide, block 64, "
                "batch 12, 2,000 iterations, AdamW 1e-3 cosine to 1e-4, no dropout",
                {
                    "model.n_layer": 4,
                    "model.n_head": 4,
                    "model.n_embd": 128,
                    "model.block_size": 64,
                    "model.dropout": 0.0,
                    "model.bias": False,
                    "model.tie_weights": True,
                    "train.batch_size": 12,
                    "train.steps": 2000,
                    "train.optimizer": "adamw",
                    "train.lr": 1e-3,
                    "train.schedule": "cosine",
                    "train.warmup_steps": 100,
                    "train.min_lr": 1e-4,
                    "train.b1": 0.9,
                    "train.b2": 0.99,
                    "train.weight_decay": 0.1,
                    "train.grad_clip": 1.0,
                    # 50 steps per compiled call: no per-step dispatch (the schedule is the same)
                    "train.inner_steps": 50,
                },
            ),
        },
    )
)

_SOURCES = "genbench.data.sources"
register_dataset(
    DatasetEntry("ring8", data_configs.Ring8Config, f"{_SOURCES}:ring8", "8 Gaussians on a circle")
)
register_dataset(
    DatasetEntry(
        "grid25", data_configs.Grid25Config, f"{_SOURCES}:grid25", "25 Gaussians on a 5x5 grid"
    )
)
register_dataset(
    DatasetEntry(
        "linear_gaussian",
        data_configs.LinearGaussianConfig,
        "genbench.data.linear_gaussian:linear_gaussian",
        "probabilistic-PCA source with closed-form log p(x)",
    )
)
register_dataset(
    DatasetEntry(
        "digits",
        data_configs.DigitsConfig,
        "genbench.data.digits:digits_grey",
        "scikit-learn 8x8 digits, grey levels 0..16",
    )
)
register_dataset(
    DatasetEntry(
        "digits_binary",
        data_configs.DigitsConfig,
        "genbench.data.digits:digits_binary",
        "scikit-learn 8x8 digits binarized at > 7",
    )
)
register_builtin_metrics()
register_dataset(
    DatasetEntry(
        "naive_bayes_source",
        data_configs.NaiveBayesSourceConfig,
        "genbench.data.naive_bayes_source:naive_bayes_source",
        "random naive-Bayes source, C=10, D=64 binary features (labelled)",
    )
)
register_dataset(
    DatasetEntry(
        "casino",
        data_configs.CasinoConfig,
        "genbench.data.hmm_sources:casino",
        "the occasionally dishonest casino HMM (2 states, 6 symbols)",
    )
)
register_dataset(
    DatasetEntry(
        "hmm_random",
        data_configs.RandomHMMConfig,
        "genbench.data.hmm_sources:random_hmm",
        "a random categorical HMM source (K states, M symbols)",
    )
)
register_dataset(
    DatasetEntry(
        "hmm_gaussian",
        data_configs.GaussianHMMConfig,
        "genbench.data.hmm_sources:gaussian_hmm",
        "a random sticky HMM source with Gaussian emissions (K states, D dims)",
    )
)
register_dataset(
    DatasetEntry(
        "file",
        data_configs.FileConfig,
        "genbench.data.files:file_dataset",
        "your own .npy or .csv array (--set data.path=FILE [data.sha256=...])",
    )
)
register_dataset(
    DatasetEntry(
        "markov",
        data_configs.MarkovConfig,
        "genbench.data.markov:markov",
        "order-k Markov chain source, exact window log p and entropy rate (k=2, V=16)",
    )
)
register_dataset(
    DatasetEntry(
        "text",
        data_configs.TextConfig,
        "genbench.data.text:text_dataset",
        "a UTF-8 text as characters (--set data.path=FILE; default tiny Shakespeare, downloaded)",
    )
)
register_dataset(
    DatasetEntry(
        "smiles",
        data_configs.SmilesConfig,
        "genbench.data.smiles:smiles_dataset",
        "MOSES molecules as SMILES characters (data.path CSV, the molsets wheel, or download)",
    )
)
register_dataset(
    DatasetEntry(
        "chorales",
        data_configs.ChoralesConfig,
        "genbench.data.chorales:chorales",
        "Bach chorales from music21's corpus: soprano notes (pip install music21)",
    )
)
register_image_datasets()
register_diffusion_models()
register_exact_models()


def _description(path: Path) -> str:
    """The ``description`` line of a shipped suite file (checked in full when it is loaded)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("description"):
            return line.partition("=")[2].strip().strip('"')
    return ""


for _path in sorted(_SUITE_DIR.glob("*.toml")):
    register_suite(SuiteEntry(_path.stem, _path, _description(_path)))
