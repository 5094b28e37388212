"""Config dataclasses of the built-in datasets (no jax import, so the CLI can check them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from genbench.data.checks import check_data_file
from genbench.errors import UsageError


def _check_sizes(n_train: int, n_test: int) -> None:
    if n_train < 1 or n_test < 1:
        raise UsageError(f"data.n_train={n_train} and data.n_test={n_test} must be >= 1")


@dataclass(frozen=True)
class MixtureConfig:
    """Splits of a Gaussian-mixture source; the subclasses add the geometry."""

    n_train: int = 100_000  # size of the fixed training set (when fresh=false)
    n_test: int = 2500  # size of the fixed test set
    fresh: bool = True  # training draws fresh samples from the source inside the step

    def validate(self) -> None:
        _check_sizes(self.n_train, self.n_test)
        scales = {k: v for k, v in vars(self).items() if k in ("std", "radius", "spacing")}
        if any(v <= 0 for v in scales.values()):
            raise UsageError(f"data.{', data.'.join(scales)} must be > 0")


@dataclass(frozen=True)
class Ring8Config(MixtureConfig):
    """Eight Gaussians on a circle (PacGAN): means (r cos 2πk/8, r sin 2πk/8)."""

    radius: float = 1.0  # radius of the ring of means
    std: float = 0.01  # standard deviation of each component


@dataclass(frozen=True)
class Grid25Config(MixtureConfig):
    """Twenty-five Gaussians with means on {-4, -2, 0, 2, 4}^2 (VEEGAN, PacGAN)."""

    spacing: float = 2.0  # distance between neighbouring means
    std: float = 0.05  # standard deviation of each component


@dataclass(frozen=True)
class LinearGaussianConfig:
    """Probabilistic PCA: x = W z + mu + noise, z ~ N(0, I), noise ~ N(0, sigma^2 I)."""

    dim: int = 16  # data dimension D
    latent_dim: int = 4  # latent dimension of the true source
    noise_std: float = 0.3  # sigma
    source_seed: int = 0  # seed of W and mu (the source is the same for every run seed)
    n_train: int = 10_000  # size of the fixed training set (when fresh=false)
    n_test: int = 2000  # size of the fixed test set
    fresh: bool = False  # training draws fresh samples from the source inside the step

    def validate(self) -> None:
        _check_sizes(self.n_train, self.n_test)
        if self.dim < 1 or not 1 <= self.latent_dim <= self.dim or self.noise_std <= 0:
            raise UsageError("data.dim >= data.latent_dim >= 1 and data.noise_std > 0 required")


@dataclass(frozen=True)
class DigitsConfig:
    """scikit-learn's 8x8 digits: 1797 images, grey levels 0..16, fixed seeded 80/20 split."""

    split_seed: int = 0  # seed of the train/test split (fixed: the same for every run seed)
    test_fraction: float = 0.2  # fraction of images in the test split

    def validate(self) -> None:
        if not 0 < self.test_fraction < 1:
            raise UsageError(f"data.test_fraction={self.test_fraction} must lie in (0, 1)")


@dataclass(frozen=True)
class FileConfig:
    """Your own data: a ``.npy`` array or a ``.csv`` of numbers, one example per row."""

    path: str = ""  # the .npy or .csv file (required)
    sha256: str = ""  # expected SHA-256 of the file; empty skips the check
    # what the values are; sequence: each row is a sequence of integer symbols
    kind: Literal["continuous", "binary", "sequence"] = "continuous"
    levels: int = 0  # symbols of a sequence file lie in [0, levels); 0: the file's max + 1
    split_seed: int = 0  # seed of the train/test split
    test_fraction: float = 0.2  # fraction of examples in the test split

    def validate(self) -> None:
        check_data_file(self.path, self.sha256, (".npy", ".csv"))
        if self.levels < 0 or (self.levels and self.kind != "sequence"):
            raise UsageError("data.levels must be >= 0 and is only for data.kind=sequence")
        if not 0 < self.test_fraction < 1:
            raise UsageError(f"data.test_fraction={self.test_fraction} must lie in (0, 1)")


@dataclass(frozen=True)
class NaiveBayesSourceConfig:
    """A random naive-Bayes source: class prior ~ Dirichlet(1), features ~ Beta(0.5, 0.5)."""

    num_classes: int = 10  # C
    num_features: int = 64  # D binary features
    source_seed: int = 0  # seed of the source's parameters (the same for every run seed)
    n_train: int = 50_000  # size of the fixed training set
    n_test: int = 5000  # size of the fixed test set

    def validate(self) -> None:
        _check_sizes(self.n_train, self.n_test)
        if self.num_classes < 1 or self.num_features < 1:
            raise UsageError("data.num_classes and data.num_features must be >= 1")


@dataclass(frozen=True)
class CasinoConfig:
    """The occasionally dishonest casino (Durbin et al. 1998): a fair and a loaded die."""

    num_sequences: int = 5  # training sequences
    num_steps: int = 5000  # rolls per training sequence
    n_test: int = 50  # test sequences (of num_steps rolls)
    source_seed: int = 0  # seed of the fixed splits

    def validate(self) -> None:
        _check_sizes(self.num_sequences, self.n_test)
        if self.num_steps < 2:
            raise UsageError(f"data.num_steps={self.num_steps} must be >= 2")


@dataclass(frozen=True)
class RandomHMMConfig(CasinoConfig):
    """A random categorical HMM source: rows of A and B ~ Dirichlet(concentration)."""

    num_states: int = 4  # K
    num_symbols: int = 8  # M
    concentration: float = 0.5  # Dirichlet concentration of the rows of A and B
    num_sequences: int = 200  # training sequences
    num_steps: int = 100  # steps per sequence

    def validate(self) -> None:
        super().validate()
        if self.num_states < 1 or self.num_symbols < 1 or self.concentration <= 0:
            raise UsageError("data.num_states, data.num_symbols >= 1 and data.concentration > 0")


@dataclass(frozen=True)
class GaussianHMMConfig(CasinoConfig):
    """A random sticky HMM source with diagonal Gaussian emissions."""

    num_states: int = 3  # K
    dim: int = 2  # D, the dimension of one observation
    stickiness: float = 0.8  # weight of the identity in each row of A
    separation: float = 2.0  # standard deviation of the state means
    num_sequences: int = 100  # training sequences
    num_steps: int = 100  # steps per sequence

    def validate(self) -> None:
        super().validate()
        if self.num_states < 1 or self.dim < 1:
            raise UsageError("data.num_states and data.dim must be >= 1")
        if not 0 <= self.stickiness < 1 or self.separation <= 0:
            raise UsageError("data.stickiness must lie in [0, 1) and data.separation be > 0")


# Sequence datasets (issue 5). Windows hold block_size + 1 symbols (a transformer reads
# x[:-1] and predicts x[1:]); sources call the window length num_steps.

MARKOV_MAX_TABLE = 1 << 22  # V^(k+1) transition-table entries at most (32 MiB in float64)


@dataclass(frozen=True)
class MarkovConfig:
    """An order-k Markov chain over V symbols: rows P(. | context) ~ Dirichlet(concentration)."""

    order: int = 2  # k, symbols of context
    vocab_size: int = 16  # V, alphabet size
    concentration: float = 0.5  # Dirichlet concentration of each row of the transition table
    source_seed: int = 0  # seed of the table and the fixed splits (the same for every run seed)
    num_steps: int = 65  # T, symbols per window (block_size + 1)
    n_train: int = 10_000  # windows in the fixed training set
    n_test: int = 1000  # windows in the fixed test set
    fresh: bool = False  # training draws fresh windows from the source inside the step

    def validate(self) -> None:
        _check_sizes(self.n_train, self.n_test)
        if self.order < 0 or self.vocab_size < 2 or self.concentration <= 0:
            raise UsageError("data.order >= 0, data.vocab_size >= 2, data.concentration > 0")
        if self.vocab_size ** (self.order + 1) > MARKOV_MAX_TABLE:
            raise UsageError(
                f"data.vocab_size^(data.order + 1) = {self.vocab_size}^{self.order + 1} "
                f"transition entries exceeds {MARKOV_MAX_TABLE}"
            )
        if self.num_steps < 1:
            raise UsageError(f"data.num_steps={self.num_steps} must be >= 1")


TEXT_TRAIN_FRACTION = 0.9  # first 90% of the characters train, the last 10% test (nanoGPT)


def check_text_length(num_chars: int, block_size: int, where: str) -> None:
    """Both splits of a text of ``num_chars`` characters must hold one window of block_size + 1."""
    n_train = int(num_chars * TEXT_TRAIN_FRACTION)
    shortest = min(n_train, num_chars - n_train)
    if shortest < block_size + 1:
        raise UsageError(
            f"data.block_size={block_size} needs windows of {block_size + 1} characters, but "
            f"the {'test' if num_chars - n_train < n_train else 'train'} split of {where} "
            f"({num_chars} characters) has {shortest}"
        )


# data.block_size of text when neither it nor model.block_size is set: twice the 64 that a
# transformer's model.block_size=0 then chooses, so its training windows have random offsets.
TEXT_DEFAULT_BLOCK = 128


@dataclass(frozen=True)
class TextConfig:
    """A UTF-8 text as characters: first 90% train, last 10% test, windows of block_size + 1."""

    path: str = ""  # the UTF-8 text file; empty: tiny Shakespeare (downloaded once, cached)
    sha256: str = ""  # expected SHA-256 of data.path; empty skips the check
    # B; windows hold B + 1 characters. 0: twice model.block_size (128 when the model has
    # none), so a transformer cuts its training windows from them at random offsets
    block_size: int = 0
    stride: int = 0  # start-to-start distance of training windows; 0: block_size // 2

    @property
    def window_block(self) -> int:
        """The block size the windows are cut with (``block_size``, or its default)."""
        return self.block_size or TEXT_DEFAULT_BLOCK

    def follow_model(self, model) -> TextConfig:
        """This config with ``block_size`` 0 resolved from the model's section.

        The windows follow the model's block B: ``2 B``, so that the training feeder
        cuts the model's windows of B + 1 characters from them at uniformly random
        offsets, as nanoGPT's ``get_batch`` does (``WindowFeeder``). A model section
        without a block size leaves ``TEXT_DEFAULT_BLOCK``.

        Args:
          model: the run's ``model`` config section.

        Returns:
          The config, with ``block_size`` set.
        """
        if self.block_size:
            return self
        model_block = getattr(model, "block_size", 0) or 0
        block = 2 * model_block if model_block > 0 else TEXT_DEFAULT_BLOCK
        return dataclasses.replace(self, block_size=block)

    def validate(self) -> None:
        if self.block_size < 0 or self.stride < 0:
            raise UsageError("data.block_size must be >= 1 (or 0: auto) and data.stride >= 0")
        if self.path:
            from genbench.data.download import read_utf8

            check_data_file(self.path, self.sha256)
            check_text_length(len(read_utf8(self.path)), self.window_block, repr(self.path))


SMILES_SUFFIXES = (".csv", ".gz")


@dataclass(frozen=True)
class SmilesConfig:
    """MOSES molecules as SMILES characters: rows [start, characters..., end, padding]."""

    # CSV (or .csv.gz) with a SMILES column; a SPLIT column selects train/test (MOSES's
    # dataset_v1.csv); empty: the molsets wheel's files, else the MOSES download (cached)
    path: str = ""
    test_path: str = ""  # CSV of test molecules for a data.path without a SPLIT column
    sha256: str = ""  # expected SHA-256 of data.path; empty skips the check
    test_split: Literal["test", "test_scaffolds"] = "test"  # MOSES test set to use
    max_length: int = 64  # tokens per row, start and end included; longer molecules are dropped
    subsample: int = 0  # training molecules kept (a seeded choice); 0 = all
    split_seed: int = 0  # seed of the subsample (and of a 90/10 split of a file with no SPLIT)
    rdkit_metrics: bool = False  # require validity, uniqueness, novelty (an error without RDKit)

    def validate(self) -> None:
        if self.max_length < 3 or self.subsample < 0:
            raise UsageError("data.max_length must be >= 3 and data.subsample >= 0")
        if self.test_path and not self.path:
            raise UsageError("data.test_path needs data.path (the training molecules)")
        if self.path:
            check_data_file(self.path, self.sha256, SMILES_SUFFIXES)
        if self.test_path:
            check_data_file(self.test_path, "", SMILES_SUFFIXES)
        if self.rdkit_metrics:
            import importlib.util

            if importlib.util.find_spec("rdkit") is None:
                raise UsageError(
                    "data.rdkit_metrics=true needs RDKit for validity, uniqueness and "
                    "novelty: pip install rdkit"
                )


@dataclass(frozen=True)
class ChoralesConfig:
    """Soprano lines of music21's Bach chorales, split by piece, windows of block_size + 1."""

    encoding: Literal["note", "sixteenth"] = "note"  # one token per note, or per sixteenth
    block_size: int = 64  # B; windows hold B + 1 tokens
    stride: int = 0  # start-to-start distance of training windows; 0: block_size // 2
    max_pieces: int = 0  # chorales parsed (the first in music21's order); 0 = all
    split_seed: int = 0  # seed of the split by piece (the same for every run seed)
    test_fraction: float = 0.1  # fraction of pieces in the test split

    def validate(self) -> None:
        import importlib.util

        if self.block_size < 1 or self.stride < 0 or self.max_pieces < 0:
            raise UsageError("data.block_size >= 1, data.stride >= 0, data.max_pieces >= 0")
        if not 0 < self.test_fraction < 1:
            raise UsageError(f"data.test_fraction={self.test_fraction} must lie in (0, 1)")
        if self.max_pieces == 1:
            raise UsageError("data.max_pieces=1: a split by piece needs at least 2 pieces")
        if importlib.util.find_spec("music21") is None:
            raise UsageError("the chorales dataset needs music21: pip install music21")


# Image datasets downloaded once into the cache (genbench.data.images).


@dataclass(frozen=True)
class MnistConfig:
    """MNIST-format images (IDX gzip): 60,000 training and 10,000 test images of 28x28."""

    n_validation: int = 0  # the last training images, held out as the validation split

    def validate(self) -> None:
        if not 0 <= self.n_validation < 60_000:
            raise UsageError(f"data.n_validation={self.n_validation} must lie in [0, 60000)")


@dataclass(frozen=True)
class DynamicMnistConfig(MnistConfig):
    """MNIST with a fresh Bernoulli draw of each pixel at every presentation (IWAE's code)."""

    n_validation: int = 400  # the last training images, held out (Burda et al.: 400)


@dataclass(frozen=True)
class FixedSplitsConfig:
    """A dataset whose splits are fixed by its files (nothing to set)."""
