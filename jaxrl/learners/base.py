"""The learner contract: what a learner says, and nothing the shared loop already does.

A learner is a :class:`Learner` of pure functions over its parameters ``params`` (the pytree the
optimiser trains), its ``aux`` state (a pytree the optimiser does not touch: GoRL's stage and
decoder; ``{}`` for most learners) and its config (a frozen pytree dataclass whose numeric fields
are traced). Observations reaching a learner are already normalised, ``act``'s and ``loss``'s
with the same statistics, so every ratio is exactly 1 before the first update. Rollout,
advantages, minibatching, optimisation, evaluation and checkpoints belong to the loop.

A learner whose training has stages declares :class:`Phase` s: the loop runs each at the
iterations it names, between two iterations, as its own compiled program, handing it a
:class:`PhaseContext` (the state, the loop's rollout and minibatch-SGD routine, fresh-init
functions) and taking back a :class:`PhaseResult`. Everything a phase changes is part of the
training state, so checkpoints and resumes see it.

A learner may also say how its actor is pre-trained on demonstrations (``clone_loss``, the
loss its reference's behaviour cloning uses); :mod:`jaxrl.pretrain` runs it.

Registration (names, config types, loop defaults, presets) is :class:`LearnerFactory`'s; the
registry is :mod:`jaxrl.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

import jax
import optax

from jaxrl.config import TrainConfig
from jaxrl.normalize import RunningStats

Params = Any  # a pytree of arrays
Aux = Any  # a pytree of arrays
Metrics = dict[str, jax.Array]


class Batch(NamedTuple):
    """A minibatch of transitions with their advantages; leading axis = samples."""

    obs: jax.Array
    action: jax.Array
    extras: Any  # what ``act`` returned besides the action
    advantage: jax.Array
    target: jax.Array  # GAE return R = A + V_old
    value: jax.Array  # V_old(obs) at collection (PolicyFlow's clipped value loss reads it)


class Init(Protocol):
    def __call__(self, key: jax.Array, config: Any) -> Params: ...


class InitAux(Protocol):
    def __call__(self, key: jax.Array, config: Any) -> Aux: ...


class Act(Protocol):
    """A sampled action for the environment and the per-step extras the loss needs later
    (log-probabilities, noise draws, chains, latents). ``obs`` is the loop's (normalised)
    observation; a learner with ``raw_obs`` also gets the environment's own, last."""

    def __call__(
        self, params: Params, aux: Aux, obs: jax.Array, key: jax.Array, config: Any, *raw_obs: jax.Array
    ) -> tuple[jax.Array, Any]: ...


class ActDeterministic(Protocol):
    """The action used for evaluation (``raw_obs`` as for :class:`Act`)."""

    def __call__(
        self, params: Params, aux: Aux, obs: jax.Array, config: Any, *raw_obs: jax.Array
    ) -> jax.Array: ...


class Value(Protocol):
    def __call__(self, params: Params, obs: jax.Array, config: Any) -> jax.Array: ...


class Loss(Protocol):
    """The scalar to minimise on a minibatch and its metrics, which include ``approx_kl`` (the
    learner's estimate of KL(old || new), read by the ``kl_adaptive`` schedule). ``old_params``
    are the parameters that collected the batch, frozen for the whole update."""

    def __call__(
        self, params: Params, old_params: Params, aux: Aux, batch: Batch, key: jax.Array, config: Any
    ) -> tuple[jax.Array, Metrics]: ...


class CloneLoss(Protocol):
    """The actor's supervised (behaviour-cloning) loss on a minibatch of normalised observations
    and dataset actions in [-1, 1] (the environment's action range): a scalar to minimise and
    its metrics. It trains the actor's parameters only (the critic gets no gradient)."""

    def __call__(
        self, params: Params, obs: jax.Array, action: jax.Array, key: jax.Array, config: Any
    ) -> tuple[jax.Array, Metrics]: ...


class Collect(Protocol):
    """The loop's rollout: ``num_unrolls`` segments of ``unroll_length`` steps of every training
    environment; returns the environments' state and the transitions [T, segments, ...]."""

    def __call__(
        self, params: Params, aux: Aux, stats: RunningStats, env_state: Any, key: jax.Array, num_unrolls: int
    ) -> tuple[Any, Any]: ...


class MinibatchSGD(Protocol):
    """The loop's minibatch SGD: one optimiser step of ``loss(params, minibatch, key) -> (scalar,
    metrics)`` per row of ``indices`` [M, B] into the leading axis of ``data``; returns the
    parameters, the optimiser state and the metrics [M]."""

    def __call__(
        self,
        loss: Callable[[Params, Any, jax.Array], tuple[jax.Array, Metrics]],
        optimizer: optax.GradientTransformation,
        params: Params,
        opt_state: Any,
        data: Any,
        indices: jax.Array,
        key: jax.Array,
        before_step: Callable[[Any, Metrics], Any] | None = None,
    ) -> tuple[Params, Any, Metrics]: ...


class PhaseContext(NamedTuple):
    """What a phase is handed: one seed's training state and the loop's own routines."""

    params: Params
    opt_state: Any
    aux: Aux
    obs_stats: RunningStats
    env_state: Any
    key: jax.Array  # the phase's own key, split from the state's
    iteration: jax.Array  # iterations completed
    config: TrainConfig
    collect: Collect
    observe: Callable[[RunningStats, jax.Array], jax.Array]  # raw -> the learner's observation
    sgd: MinibatchSGD
    init_params: Callable[[jax.Array], Params]  # the learner's init under this config
    init_opt_state: Callable[[Params], Any]  # the loop optimiser's fresh state


class PhaseResult(NamedTuple):
    """The parts of the training state a phase may replace."""

    params: Params
    opt_state: Any
    aux: Aux
    obs_stats: RunningStats
    env_state: Any


class Phase(NamedTuple):
    """Work run between iterations: after ``iterations(config)`` completed iterations (each
    point in (0, num_iterations)), ``run(context)``."""

    iterations: Callable[[TrainConfig], tuple[int, ...]]
    run: Callable[[PhaseContext], PhaseResult]


def actor_keys(learner: Learner, params: dict[str, Any]) -> tuple[str, ...]:
    """The top-level keys of a learner's parameters that are its actor's: all but its critics'."""
    return tuple(key for key in params if key not in learner.critic_keys)


def no_aux(key: jax.Array, config: Any) -> Aux:
    return {}


class Learner(NamedTuple):
    init: Init
    act: Act
    act_deterministic: ActDeterministic
    value: Value
    loss: Loss
    init_aux: InitAux = no_aux
    phases: tuple[Phase, ...] = ()
    # A gradient-norm bound of the learner's own, from its state (GoRL's per-stage clip); the
    # loop clips at the smaller of it and ``max_grad_norm``.
    max_grad_norm: Callable[[Aux, Any], jax.Array] | None = None
    # The top-level keys of ``params`` that are critics (a separate critic optimiser trains them,
    # critic warm-up trains only them, and a run started from a pre-trained actor keeps them fresh).
    critic_keys: tuple[str, ...] = ("value",)
    # Behaviour cloning of the actor with the loss its reference pre-trains with
    # (:mod:`jaxrl.pretrain`); None where the learner has none (GoRL).
    clone_loss: CloneLoss | None = None
    # ``(params, aux) -> aux`` when a run starts, after a pre-trained actor was put in: lets the
    # learner keep a frozen copy of what it starts from (DPPO's early denoising steps).
    freeze: Callable[[Params, Aux], Aux] | None = None
    # ``(aux, progress, config) -> aux`` at the start of every iteration, progress the share of
    # the run's iterations done: a schedule the learner keeps in its state (ReinFlow's noise ceiling).
    schedule: Callable[[Aux, jax.Array, Any], Aux] | None = None
    # Whether ``act`` and ``act_deterministic`` also get the raw observation: a part of the actor
    # with a normalisation of its own (GoRL's decoder, normalised as it was fitted).
    raw_obs: bool = False
    # ``(params, aux, eval_return, config) -> aux`` after every evaluation of the run, with the
    # seed's mean evaluation return: what a learner keeps of its evaluations (GoRL's best encoder).
    on_evaluation: Callable[[Params, Aux, jax.Array, Any], Aux] | None = None


class LearnerFactory(NamedTuple):
    """Makes a :class:`Learner` for an environment's sizes; registered under ``name``.

    ``loop_defaults`` are the learner's own defaults for loop settings (e.g. BPO's gradient
    clip); ``presets`` add the learner's own values to a named preset; the preset's values and
    explicit ones override the defaults.
    """

    name: str
    config_type: type
    make: Callable[[int, int], Learner]  # (observation_size, action_size) -> Learner
    loop_defaults: Mapping[str, Any] = MappingProxyType({})
    presets: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
    # Whether its loss reports ``exact_kl``, the KL between the old and new policies in closed
    # form, which ``kl_estimate="exact"`` reads (Gaussian actors).
    exact_kl: bool = False
