"""The built-in diffusion model: ``vdm`` (Kingma et al. 2021), registered with its
training defaults (no preset needed for ring8 or digits)."""

from __future__ import annotations

from genbench.config import Preset
from genbench.models.vdm_config import VDMConfig
from genbench.registry import ModelEntry, register_model


def register_diffusion_models() -> None:
    """Registers ``vdm`` (``genbench.models.vdm``)."""
    register_model(
        ModelEntry(
            name="vdm",
            config=VDMConfig,
            factory="genbench.models.vdm:build",
            classes=("genbench.models.vdm:VDM", "genbench.models.vdm:ConditionalVDM"),
            description="variational diffusion model: continuous-time bound (nll as vlb), "
            "discretised decoder, ancestral sampling",
            defaults={
                "train.steps": 10_000,
                "train.batch_size": 256,
                "train.lr": 2e-3,
                "train.schedule": "cosine",
                "train.min_lr": 1e-4,
                "train.inner_steps": 100,
            },
            presets={
                "conditional": Preset(
                    "class-conditional VDM (labelled data): the one-hot label into the noise "
                    "predictor; samples a given class (cas_accuracy, ...)",
                    {"model.conditional": True},
                ),
            },
        )
    )
