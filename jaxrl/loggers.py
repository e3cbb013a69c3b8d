"""Metric loggers beside the run folder's ``metrics.jsonl``: TensorBoard and Weights & Biases.

``metrics.jsonl`` (:mod:`jaxrl.runlog`) is always written when there is a run folder and stays
the source of the plots; a :class:`Logger` sends the same evaluation records elsewhere. Every
numeric metric of a record is logged as a scalar (a list such as ``eval_return_per_seed`` as
``eval_return_per_seed/<i>``) against the same step axis, environment steps. ``tensorboard``
writes event files to ``<run>/tensorboard`` with ``tensorboardX``; ``wandb`` (the ``[wandb]``
extra) logs online when an API key is configured and offline otherwise (``WANDB_MODE`` wins), so
it never needs a network. Backends are imported only when their logger is made.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from jaxrl.config import ConfigError

LOGGERS = ("jsonl", "tensorboard", "wandb")
TENSORBOARD_DIR = "tensorboard"


class Logger(Protocol):
    def log(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The record's finite numbers by name, lists flattened to ``name/<index>``; ``env_steps``
    is the step axis, not a scalar."""
    out: dict[str, float] = {}
    for key, value in record.items():
        values = enumerate(value) if isinstance(value, list | tuple) else [(None, value)]
        for index, item in values:
            if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
                continue
            out[key if index is None else f"{key}/{index}"] = float(item)
    out.pop("env_steps", None)
    return out


class TensorBoardLogger:
    """Scalars to ``<run_dir>/tensorboard``; a resumed run drops events past ``start_step``."""

    def __init__(self, run_dir: Path, start_step: int = 0):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / TENSORBOARD_DIR), purge_step=start_step or None)

    def log(self, record: dict[str, Any]) -> None:
        for name, value in scalars(record).items():
            self.writer.add_scalar(name, value, global_step=record["env_steps"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_tensorboard(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run's TensorBoard event files as ``name -> [(step, value), ...]`` in
    step order, read with the protobufs ``tensorboardX`` ships (TFRecord framing: length, its
    CRC, the event, its CRC). A later file's value for a step replaces an earlier one's, as
    TensorBoard's purge does after a resume."""
    from tensorboardX.proto import event_pb2

    curves: dict[str, dict[int, float]] = {}
    for path in sorted((Path(run_dir) / TENSORBOARD_DIR).glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset + 12 <= len(data):
            length = int.from_bytes(data[offset : offset + 8], "little")
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                curves.setdefault(value.tag, {})[event.step] = value.simple_value
    return {tag: sorted(points.items()) for tag, points in curves.items()}


def wandb_mode() -> str:
    """``WANDB_MODE`` if set, else online with an API key (environment or ``wandb login``'s
    netrc entry), else offline."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    logged_in = netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")
    return "online" if os.environ.get("WANDB_API_KEY") or logged_in else "offline"


class WandbLogger:
    """One W&B run per run folder (files under ``<run_dir>/wandb``), the config as its config."""

    def __init__(self, run_dir: Path, config: dict[str, Any], project: str = "jaxrl"):
        import wandb

        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", project),
            name=run_dir.name,
            dir=str(run_dir),
            config=config,
            mode=wandb_mode(),
            reinit="create_new",
        )

    def log(self, record: dict[str, Any]) -> None:
        self.run.log(scalars(record), step=record["env_steps"])

    def close(self) -> None:
        self.run.finish()


def check(names: Sequence[str]) -> None:
    """Raise :class:`ConfigError` (one line) for an unknown logger or a missing backend."""
    import importlib.util

    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ConfigError(f"--logger={unknown[0]} is invalid: expected one of {', '.join(LOGGERS)}")
    if "wandb" in names and importlib.util.find_spec("wandb") is None:
        raise ConfigError("--logger=wandb needs the wandb package: pip install -e '.[wandb]'")


def make(names: Sequence[str], run_dir: Path, config: dict[str, Any], start_step: int = 0) -> list[Logger]:
    """Loggers for ``names`` (``jsonl``, always written with a run folder, adds none)."""
    check(names)
    made: list[Logger] = []
    for name in dict.fromkeys(names):
        if name == "tensorboard":
            made.append(TensorBoardLogger(run_dir, start_step))
        elif name == "wandb":
            made.append(WandbLogger(run_dir, config))
    return made
