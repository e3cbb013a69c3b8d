"""The learner contract: what a learner says, and nothing the shared loop already does.

A learner is a :class:`Learner` of pure functions over its parameters (an arbitrary pytree) and
its config (a frozen pytree dataclass whose numeric fields are traced):

- ``init(key, config) -> params``
- ``act(params, obs, key, config) -> (action, extras)``: a sampled action for the environment
  and any per-step pytree the loss needs later (log-probabilities, noise draws, chains, latents);
- ``act_deterministic(params, obs, config) -> action``: the action used for evaluation;
- ``value(params, obs, config) -> V(obs)``;
- ``loss(params, old_params, batch, key, config) -> (scalar, metrics)`` on a :class:`Batch`
  minibatch; ``old_params`` are the parameters that collected the batch, frozen for the whole
  update (PolicyFlow's velocity difference needs them; the others ignore them). ``metrics``
  include ``approx_kl``, the learner's estimate of KL(old || new), which the ``kl_adaptive``
  learning-rate schedule reads;
- optionally ``between_iterations(params, aux, transitions, key, config) -> (params, aux)``, a
  phase run after every iteration's update (GoRL fits its decoder there); ``aux`` is learner-owned
  state carried and checkpointed by the loop, created by ``init_aux(params, config)``.

Observations reaching a learner are already normalised, ``act``'s and ``loss``'s with the same
statistics (so every ratio is exactly 1 before the first update). Rollout, advantages, minibatching,
optimisation, evaluation and checkpoints belong to the loop, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jax


class Batch(NamedTuple):
    """A minibatch of transitions with their advantages; leading axis = samples."""

    obs: jax.Array
    action: jax.Array
    extras: Any
    advantage: jax.Array
    target: jax.Array  # GAE return R = A + V_old
    value: jax.Array  # V_old(obs) at collection


class Learner(NamedTuple):
    name: str
    config_type: type
    init: Callable[..., Any]
    act: Callable[..., tuple[jax.Array, Any]]
    act_deterministic: Callable[..., jax.Array]
    value: Callable[..., jax.Array]
    loss: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
    between_iterations: Callable[..., tuple[Any, Any]] | None = None
    init_aux: Callable[..., Any] = lambda params, config: {}


class LearnerFactory(NamedTuple):
    """Makes a :class:`Learner` for an environment's sizes; registered under ``name``.

    ``loop_defaults`` are the learner's own defaults for loop settings (e.g. BPO's gradient
    clip); presets and explicit values override them.
    """

    name: str
    config_type: type
    make: Callable[[int, int], Learner]  # (observation_size, action_size) -> Learner
    loop_defaults: Mapping[str, Any] = MappingProxyType({})
