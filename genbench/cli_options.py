"""The options that several ``genbench`` sub-commands share: devices, executors, seed
groups, and a suite's (``--seeds``, ``--out``, ``--resume``, ``--shard``)."""

from __future__ import annotations

import argparse


def add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=("cpu", "gpu", "cuda", "tpu"), help="JAX platform (gpu = cuda)"
    )
    parser.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        help="host devices on CPU (the batch is split over them)",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="multi-process run: jax.distributed.initialize() detects the cluster (SLURM, TPU)",
    )
    parser.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="multi-process run with process 0's coordinator at HOST:PORT (implies "
        "--distributed; needs --num-processes and --process-id)",
    )
    parser.add_argument("--num-processes", type=int, default=None, metavar="N")
    parser.add_argument("--process-id", type=int, default=None, metavar="I")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. train.lr=1e-3 (repeatable)",
    )


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default=None,
        help="one submitit job per run: local processes or a SLURM job array "
        "(pip install 'genbench[cluster]'); default: every run in this process",
    )
    parser.add_argument(
        "--parallel", type=int, default=1, metavar="N", help="jobs running at once (--executor)"
    )
    parser.add_argument(
        "--job-timeout-min",
        type=int,
        default=240,
        metavar="MIN",
        help="each job's time limit in minutes (--executor)",
    )
    parser.add_argument(
        "--slurm-partition", default=None, help="SLURM partition (--executor slurm)"
    )
    parser.add_argument(
        "--slurm-gpus", type=int, default=0, metavar="N", help="GPUs per job (--executor slurm)"
    )


def add_seed_group_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parallel-seeds",
        type=int,
        nargs="?",
        const=0,
        default=None,
        metavar="S",
        help="train runs that differ only in their seed as one program, at most S seeds "
        "each (default: all of them, or the model family's measured limit on this "
        "platform: 2 for the GAN and 1 for the transformer on CPU)",
    )
    parser.add_argument(
        "--seed-chunk",
        type=int,
        default=None,
        metavar="K",
        help="at most K seeds per program (with --parallel-seeds; a group too large for "
        "the device's free memory is split automatically)",
    )


def add_suite_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """--seeds, --out, --resume, --shard, and the device and executor options of a suite."""
    parser.add_argument(
        "--seeds", type=int, default=None, help="seeds per run (default: the file's)"
    )
    parser.add_argument(
        "--out", default=None, help=f"directory of records (default: {default_out})"
    )
    parser.add_argument("--resume", action="store_true", help="skip runs that have an ok record")
    parser.add_argument(
        "--shard", default=None, metavar="I/N", help="run only share I of N (0-based)"
    )
    add_seed_group_options(parser)
    add_device_options(parser)
    add_executor_options(parser)
