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
:func:`initialize_distributed` that is every device of every process, and a run of several
processes must use them all (each process drives its own devices; :func:`is_writer` is the one
that writes the run folder). This module does not choose batch sizes (see ``--scale-envs``) and
does not shard evaluation, which is replicated.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrl.config import ConfigError, TrainConfig

AXIS = "envs"


def check_distributed(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    """ConfigError, one line, for a coordinator that is not HOST:PORT, a process count below 1
    or a process id outside ``[0, num_processes)``; None leaves a value to auto-detection."""
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"--coordinator={coordinator} is invalid: expected HOST:PORT, e.g. 10.0.0.1:1234"
            )
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"--num-processes={num_processes} is invalid: expected at least 1")
    if process_id is not None and process_id < 0:
        raise ConfigError(f"--process-id={process_id} is invalid: expected at least 0")
    if None not in (num_processes, process_id) and process_id >= num_processes:
        raise ConfigError(
            f"--process-id={process_id} is invalid for --num-processes={num_processes}: expected 0 to"
            f" {num_processes - 1}"
        )


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    heartbeat_timeout: int = 100,
) -> None:
    """Join a run of several processes (one per host, or several on one): the devices of all of
    them become one JAX system. Values left None are auto-detected as ``jax.distributed.initialize``
    does (``JAX_COORDINATOR_ADDRESS``, SLURM, Open MPI...). On CPU the processes reduce over gloo.
    A process that stops sending heartbeats for ``heartbeat_timeout`` seconds (or a coordinator
    that goes away) stops the others. Call before any JAX computation; ConfigError, one line, when
    the values are invalid or cannot be detected."""
    check_distributed(coordinator, num_processes, process_id)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU only; GPUs use NCCL
    try:
        jax.distributed.initialize(
            coordinator, num_processes, process_id, heartbeat_timeout_seconds=heartbeat_timeout
        )
    except (ValueError, TypeError) as error:  # a value neither given nor detectable
        raise ConfigError(
            f"--distributed cannot start: {error} (give --coordinator, --num-processes and --process-id,"
            f" or run under a cluster JAX detects, e.g. SLURM's srun)"
        ) from None


def is_writer() -> bool:
    """Whether this process writes run folders and prints: process 0 (the only one, undistributed)."""
    return jax.process_index() == 0


def mesh_for(config: TrainConfig) -> Mesh:
    """A 1-D mesh of ``config.num_devices`` devices (0: all); ConfigError when they cannot
    split the environments evenly."""
    available = jax.devices()
    count = config.num_devices or len(available)
    if count > len(available):
        raise ConfigError(f"--num-devices={count} is invalid: JAX sees {len(available)} device(s)")
    if jax.process_count() > 1 and count != len(available):
        raise ConfigError(
            f"--num-devices={count} is invalid in a run of {jax.process_count()} processes: every process"
            f" takes part, so use all {len(available)} devices (--num-devices 0)"
        )
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
