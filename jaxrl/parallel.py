"""Data parallelism over devices: the training environments are split across a 1-D device mesh,
everything else is replicated, and XLA's SPMD partitioner inserts the collectives.

A run's :class:`~jaxrl.loop.TrainState` is placed so that every leaf of its environment state
(``[num_seeds, num_envs, ...]``) is sharded along the environment axis and every other leaf
(parameters, optimiser state, observation statistics, RNG) is replicated. The loop itself is
unchanged: the rollout of each device's environments runs where they live, and the means in the
losses, the advantage standardisation and the observation statistics reduce over the global
batch, so gradients and statistics are all-reduced by the compiler and training on N devices
equals training on one for the same global batch up to floating-point summation order.
``num_devices = 0`` (the default) uses every device JAX sees; under
:func:`initialize_distributed` that is every device of every host. This module does not choose
batch sizes (see ``--scale-envs``) and does not shard evaluation, which is replicated.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrl.config import ConfigError, TrainConfig

AXIS = "envs"


def initialize_distributed() -> None:
    """Join a multi-host run (coordinator address, process count and id from the environment,
    as ``jax.distributed.initialize`` reads them); call before anything else touches JAX."""
    jax.distributed.initialize()


def mesh_for(config: TrainConfig) -> Mesh:
    """A 1-D mesh of ``config.num_devices`` devices (0: all); ConfigError when they cannot
    split the environments evenly."""
    available = jax.devices()
    count = config.num_devices or len(available)
    if count > len(available):
        raise ConfigError(f"--num-devices={count} is invalid: JAX sees {len(available)} device(s)")
    if config.num_envs % count:
        raise ConfigError(
            f"--num-envs={config.num_envs} is invalid on {count} devices: expected a multiple of {count}"
        )
    return Mesh(np.asarray(available[:count]), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def state_shardings(state: Any, mesh: Mesh, num_envs: int) -> Any:
    """Shardings for a (seed-vmapped) TrainState or its abstract shape: leaves of the environment
    state with an environment axis (axis 1, of size ``num_envs``) are split along it."""
    by_env = NamedSharding(mesh, PartitionSpec(None, AXIS))

    def env_leaf(leaf: Any) -> NamedSharding:
        return by_env if len(leaf.shape) >= 2 and leaf.shape[1] == num_envs else replicated(mesh)

    return state._replace(
        **{
            field: jax.tree.map(env_leaf if field == "env_state" else lambda _: replicated(mesh), value)
            for field, value in state._asdict().items()
        }
    )
