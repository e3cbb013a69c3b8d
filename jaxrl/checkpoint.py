"""Orbax checkpoints of the whole :class:`~jaxrl.loop.TrainState`: parameters, optimiser state,
learner aux state, observation statistics, environment state, RNG and iteration counter, so a
resumed run continues bit for bit. The state is stored as a flat dict of its non-empty leaves
(Orbax cannot save zero-size arrays, which MJX's state holds) and rebuilt on restore from the
tree structure of a freshly initialised state. Orbax writes each checkpoint to a temporary folder and renames
it when complete, so a crash or interrupt never leaves a half-written latest checkpoint: a save
killed midway leaves only that temporary folder, which restores ignore and the next save of the
same step replaces. A save that fails (TensorStore reports a full disk as a ``ValueError``
carrying the OS's error code) raises that as an :class:`OSError`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

FOLDER = "checkpoints"
_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")


def _flat(tree: Any) -> dict[str, Any]:
    leaves = jax.tree.leaves(tree)
    return {f"leaf_{i:05d}": leaf for i, leaf in enumerate(leaves) if leaf.size > 0}


def manager(run_dir: str | Path, max_to_keep: int = 2) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=False)
    return ocp.CheckpointManager(Path(run_dir).absolute() / FOLDER, options=options)


def _not_a_failed_write(record: logging.LogRecord) -> bool:
    return _OS_ERROR_CODE.search(record.getMessage()) is None


@contextlib.contextmanager
def _failed_writes_unlogged() -> Iterator[None]:
    """Orbax's threads and asyncio log every write a full disk failed, with its traceback, and
    TensorStore's late callbacks find the save's event loop closed; the save raises the failure
    anyway, so those reports are dropped. Futures whose failure nobody retrieved are collected
    here, while their logs are still dropped."""
    loggers = [logging.getLogger(name) for name in ("absl", "asyncio")]
    for logger in loggers:
        logger.addFilter(_not_a_failed_write)
    unraisable = sys.unraisablehook
    sys.unraisablehook = lambda report: None if _loop_closed(report.exc_value) else unraisable(report)
    try:
        yield
    except BaseException:
        gc.collect()
        raise
    finally:
        sys.unraisablehook = unraisable
        for logger in loggers:
            logger.removeFilter(_not_a_failed_write)


def _loop_closed(error: BaseException | None) -> bool:
    """TensorStore's callbacks into the event loop of a save that already failed."""
    return isinstance(error, RuntimeError) and str(error) == "Event loop is closed"


def save(checkpoints: ocp.CheckpointManager, iteration: int, state: Any) -> None:
    """Save ``state`` as step ``iteration``; OSError if writing failed (only the temporary
    folder of the save is left, which restores ignore)."""
    try:
        with _failed_writes_unlogged():
            checkpoints.save(iteration, args=ocp.args.StandardSave(_flat(state)))
            checkpoints.wait_until_finished()
    except ValueError as error:
        code = _OS_ERROR_CODE.search(str(error))
        if code is None:
            raise
        raise OSError(int(code.group(1)), os.strerror(int(code.group(1)))) from error


def latest_iteration(run_dir: str | Path) -> int | None:
    """The iteration of the latest complete checkpoint; None without one (creates nothing)."""
    if not (Path(run_dir) / FOLDER).is_dir():
        return None
    with manager(run_dir) as checkpoints:
        return checkpoints.latest_step()


def restore(run_dir: str | Path, abstract_state: Any) -> Any:
    """The latest checkpoint, shaped like ``abstract_state`` (e.g. from ``jax.eval_shape``)."""
    with manager(run_dir) as checkpoints:
        step = checkpoints.latest_step()
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {Path(run_dir) / FOLDER}")
        stored = checkpoints.restore(step, args=ocp.args.StandardRestore(_flat(abstract_state)))
    leaves, treedef = jax.tree.flatten(abstract_state)
    restored = [
        stored.get(f"leaf_{i:05d}", None) if leaf.size > 0 else jnp.zeros(leaf.shape, leaf.dtype)
        for i, leaf in enumerate(leaves)
    ]
    return jax.tree.unflatten(treedef, restored)
