"""Demonstrations as data: the ``.npz`` layout of the behaviour-cloning references, checked on
load, written atomically, and the transforms their pre-training applies.

The layout is that of ReinFlow's and DPPO's D4RL-derived files: ``states`` [N, obs],
``actions`` [N, act], ``rewards`` [N], ``terminals`` [N] and ``traj_lengths`` [T], the T
trajectories stored back to back (their lengths sum to N; a terminal flag marks a step that
ended its episode for good, not one cut by a time limit). :func:`load` checks a file before
anything compiles and raises :class:`~jaxrl.config.ConfigError`, one line naming the value and
what would be valid; :func:`save` writes the arrays and a small JSON of provenance beside them
(``FILE.json`` for ``FILE.npz``), each to a temporary file in the same folder renamed into place,
so a crash never leaves a half-written file. :func:`bounds`, :func:`scale` and :func:`unscale`
are the references' min-max scaling to [-1, 1]; :func:`drop_zero_reward_trajectories` and
:func:`split` select whole trajectories. This module deliberately knows nothing about
environments or policies: recording demonstrations lives in :mod:`jaxrl.experts`.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import ConfigError

KEYS = ("states", "actions", "rewards", "terminals", "traj_lengths")


class Demonstrations(NamedTuple):
    """Trajectories stored back to back (host arrays, the dtypes :func:`load` gives)."""

    states: np.ndarray  # [N, obs] float32
    actions: np.ndarray  # [N, act] float32
    rewards: np.ndarray  # [N] float32
    terminals: np.ndarray  # [N] bool: the step ended its episode for good
    traj_lengths: np.ndarray  # [T] int64, summing to N

    @property
    def num_transitions(self) -> int:
        return len(self.states)

    @property
    def num_trajectories(self) -> int:
        return len(self.traj_lengths)


class Bounds(NamedTuple):
    """Per-dimension (low, high) of the states and of the actions of a dataset."""

    states: tuple[np.ndarray, np.ndarray]
    actions: tuple[np.ndarray, np.ndarray]


def provenance_path(path: str | Path) -> Path:
    """The JSON beside a demonstrations file: ``FILE.json`` for ``FILE.npz``."""
    return Path(path).with_suffix(".json")


def _typed(arrays: dict[str, np.ndarray], where: str) -> Demonstrations:
    """The arrays as :class:`Demonstrations` of the canonical dtypes, after checking that each
    holds numbers of the right number of dimensions."""
    dims = {"states": 2, "actions": 2, "rewards": 1, "terminals": 1, "traj_lengths": 1}
    arrays = {name: np.asarray(arrays[name]) for name in KEYS}
    for name in KEYS:
        array = arrays[name]
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
            raise ConfigError(f"{where}: {name} holds {array.dtype} values: expected numbers")
        if array.ndim != dims[name]:
            shape = "[N, size]" if dims[name] == 2 else ("[T]" if name == "traj_lengths" else "[N]")
            raise ConfigError(f"{where}: {name} has shape {list(array.shape)}: expected {shape}")
    lengths = arrays["traj_lengths"]
    if np.issubdtype(lengths.dtype, np.floating) and not np.all(
        np.isfinite(lengths) & (lengths == np.round(lengths))
    ):
        raise ConfigError(f"{where}: traj_lengths holds non-integer values: expected whole step counts")
    terminals = arrays["terminals"]
    if not np.all((terminals == 0) | (terminals == 1)):
        raise ConfigError(f"{where}: terminals holds values other than 0 and 1: expected flags")
    return Demonstrations(
        states=np.asarray(arrays["states"], np.float32),
        actions=np.asarray(arrays["actions"], np.float32),
        rewards=np.asarray(arrays["rewards"], np.float32),
        terminals=terminals != 0,
        traj_lengths=np.asarray(lengths, np.int64),
    )


def check(
    demos: Demonstrations,
    observation_size: int | None = None,
    action_size: int | None = None,
    where: str = "demonstrations",
) -> None:
    """Raise ConfigError, one line starting with ``where``, unless ``demos`` is a non-empty,
    finite, consistent dataset (with the given observation and action sizes)."""
    n = len(demos.states)
    if n == 0:
        raise ConfigError(f"{where} is empty (0 transitions): expected at least one transition")
    for name in ("actions", "rewards", "terminals"):
        rows = len(getattr(demos, name))
        if rows != n:
            raise ConfigError(
                f"{where}: {name} has {rows} rows but states has {n}: expected one per transition"
            )
    for name in ("states", "actions", "rewards"):
        values = getattr(demos, name)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ConfigError(
                f"{where}: {name} holds {int(bad.sum())} NaN or infinite values (the first in row {row}):"
                " expected finite numbers"
            )
    lengths = demos.traj_lengths
    if np.any(lengths < 1):
        index = int(np.argmax(lengths < 1))
        raise ConfigError(
            f"{where}: traj_lengths[{index}]={int(lengths[index])} is invalid: expected every trajectory"
            " to hold at least one step"
        )
    if int(lengths.sum()) != n:
        raise ConfigError(
            f"{where}: traj_lengths sum to {int(lengths.sum())} but there are {n} transitions: expected"
            " them to sum to the number of rows of states"
        )
    for name, size, expected in (
        ("states", demos.states.shape[1], observation_size),
        ("actions", demos.actions.shape[1], action_size),
    ):
        if expected is not None and size != expected:
            kind = "observations" if name == "states" else "actions"
            raise ConfigError(
                f"{where}: {name} have {size} dimensions but the environment's {kind} have {expected}"
            )


def load(
    path: str | Path, observation_size: int | None = None, action_size: int | None = None
) -> Demonstrations:
    """The demonstrations in ``path``, checked (see :func:`check`); ConfigError, one line, for a
    missing file, one that is not an ``.npz`` archive, a missing key or an invalid dataset."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such demonstrations file")
    if not path.is_file():
        raise ConfigError(f"{path} is a folder: expected an .npz demonstrations file")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{path} is not an .npz archive: expected a file written by numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in KEYS if key not in archive.files]
            if missing:
                raise ConfigError(
                    f"{path} has no {missing[0]} array: expected the keys {', '.join(KEYS)}"
                    f" (it holds {', '.join(archive.files) or 'none'})"
                )
            arrays = {key: archive[key] for key in KEYS}
    except ConfigError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{path} cannot be read as an .npz archive: {first_line}") from None
    demos = _typed(arrays, str(path))
    check(demos, observation_size, action_size, str(path))
    return demos


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance JSON beside demonstrations file ``path``; None where there is none."""
    json_path = provenance_path(path)
    return json.loads(json_path.read_text()) if json_path.is_file() else None


def _replace_atomically(path: Path, write) -> None:
    """``write(file)`` into a temporary file in ``path``'s folder, then rename it to ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(path: str | Path, demos: Demonstrations, provenance: dict[str, Any]) -> Path:
    """Write ``demos`` to ``path`` (an ``.npz``) and ``provenance`` (JSON-serialisable: env,
    source, the collecting policy's return, action noise, episodes, seed...) with the creation
    time and the counts to ``FILE.json`` beside it; returns ``path``. ``demos`` is checked first
    (ConfigError, nothing written); each file is written whole or not at all, and the provenance
    is removed if the demonstrations cannot be written (a full disk: OSError)."""
    path = Path(path)
    demos = _typed(demos._asdict(), "demonstrations")
    check(demos)
    record = {
        **provenance,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "transitions": demos.num_transitions,
        "trajectories": demos.num_trajectories,
    }
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    _replace_atomically(provenance_path(path), lambda file: file.write(text.encode()))
    try:
        _replace_atomically(path, lambda file: np.savez(file, **demos._asdict()))
    except BaseException:  # a full disk: no provenance of demonstrations that were not written
        provenance_path(path).unlink(missing_ok=True)
        raise
    return path


def trajectory_ids(demos: Demonstrations) -> np.ndarray:
    """[N]: the index of the trajectory each transition belongs to."""
    return np.repeat(np.arange(demos.num_trajectories), demos.traj_lengths)


def trajectory_returns(demos: Demonstrations) -> np.ndarray:
    """[T]: the total reward of each trajectory."""
    return np.bincount(trajectory_ids(demos), weights=demos.rewards, minlength=demos.num_trajectories)


def select(demos: Demonstrations, keep: np.ndarray) -> Demonstrations:
    """The trajectories whose entry of the boolean [T] ``keep`` is set, in their order."""
    rows = np.asarray(keep, bool)[trajectory_ids(demos)]
    return Demonstrations(
        demos.states[rows],
        demos.actions[rows],
        demos.rewards[rows],
        demos.terminals[rows],
        demos.traj_lengths[np.asarray(keep, bool)],
    )


def drop_zero_reward_trajectories(demos: Demonstrations) -> Demonstrations:
    """The trajectories whose total reward is not zero (the references drop the others);
    ConfigError if none is left."""
    keep = trajectory_returns(demos) != 0
    if not keep.any():
        raise ConfigError(
            f"all {demos.num_trajectories} trajectories have zero total reward: expected at least one"
            " that earned reward"
        )
    return select(demos, keep)


def chunks(demos: Demonstrations, size: int) -> Demonstrations:
    """Action chunks of ``size`` consecutive actions within each trajectory, as a policy that acts
    in chunks is cloned (DPPO's and ReinFlow's ``horizon_steps``): row i of a trajectory holds its
    state i, actions i..i+size-1 side by side [size * action size], their summed reward and the
    last one's terminal flag. A trajectory of L steps gives L - size + 1 rows; shorter ones none.
    ConfigError if no trajectory is long enough."""
    if size == 1:
        return demos
    starts = np.concatenate([[0], np.cumsum(demos.traj_lengths)[:-1]])
    rows = [
        start + np.arange(length - size + 1) for start, length in zip(starts, demos.traj_lengths, strict=True)
    ]
    lengths = np.maximum(demos.traj_lengths - size + 1, 0)
    if not lengths.any():
        raise ConfigError(
            f"action chunks of {size} need trajectories of at least {size} steps: the longest has"
            f" {int(demos.traj_lengths.max())}"
        )
    first = np.concatenate(rows)
    window = first[:, None] + np.arange(size)
    return Demonstrations(
        demos.states[first],
        demos.actions[window].reshape(len(first), -1),
        demos.rewards[window].sum(axis=1),
        demos.terminals[window[:, -1]],
        lengths[lengths > 0].astype(demos.traj_lengths.dtype),
    )


def split(
    demos: Demonstrations, held_out_fraction: float, key_or_seed: jax.Array | int = 0
) -> tuple[Demonstrations, Demonstrations]:
    """(train, held_out): a random ``held_out_fraction`` of the trajectories (rounded, at least one
    when the fraction is positive, never all of them) held out whole; each part keeps the file's
    order of trajectories. ``key_or_seed`` is a JAX key or an integer seed."""
    count = demos.num_trajectories
    if not 0.0 <= held_out_fraction < 1.0:
        raise ConfigError(f"held_out_fraction={held_out_fraction} is invalid: expected a number in [0, 1)")
    held = 0 if held_out_fraction == 0 else max(1, round(held_out_fraction * count))
    if held >= count:
        raise ConfigError(
            f"held_out_fraction={held_out_fraction} of {count} trajectories leaves none to train on:"
            " expected more trajectories or a smaller fraction"
        )
    key = jax.random.PRNGKey(key_or_seed) if isinstance(key_or_seed, int) else key_or_seed
    order = np.asarray(jax.random.permutation(key, count))
    held_out = np.zeros(count, bool)
    held_out[order[:held]] = True
    return select(demos, ~held_out), select(demos, held_out)


def bounds(demos: Demonstrations) -> Bounds:
    """Per-dimension minimum and maximum of the states and of the actions."""
    return Bounds(
        states=(demos.states.min(axis=0), demos.states.max(axis=0)),
        actions=(demos.actions.min(axis=0), demos.actions.max(axis=0)),
    )


def scale(x: jax.Array | np.ndarray, low: Any, high: Any) -> jax.Array:
    """``x`` mapped affinely from [low, high] to [-1, 1] per dimension (values outside the range
    land outside [-1, 1]: nothing is clipped); a constant dimension (low == high) maps to 0."""
    span = jnp.asarray(high) - jnp.asarray(low)
    constant = span <= 0
    scaled = 2.0 * (jnp.asarray(x) - low) / jnp.where(constant, 1.0, span) - 1.0
    return jnp.where(constant, 0.0, scaled)


def unscale(y: jax.Array | np.ndarray, low: Any, high: Any) -> jax.Array:
    """The inverse of :func:`scale`: ``y`` in [-1, 1] mapped back to [low, high]; a constant
    dimension gives its constant."""
    return jnp.asarray(low) + (jnp.asarray(y) + 1.0) * 0.5 * (jnp.asarray(high) - jnp.asarray(low))
