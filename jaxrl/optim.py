"""Optimisation shared by every learner: the optimiser with its learning-rate schedule, the
KL-adaptive rule, the actor's gate for critic warm-up, and minibatch SGD over a batch.

The optimiser is global-norm clipping followed by AdamW whose learning rate lives in the
optimiser state, so a schedule or the KL rule can set it from inside the compiled program. With
``critic_optimizer="separate"`` (the fine-tuning references' setting) the critic's parameters get
an AdamW of their own at ``critic_learning_rate`` and the actor's AdamW sits behind a gate that
the loop closes during critic warm-up: a closed gate leaves the actor's parameters and its
optimiser state exactly as they were. What is optimised (the loss, its batch) is the caller's:
this module knows nothing of learners, rollouts or advantages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrl.config import TrainConfig

Metrics = dict[str, jax.Array]

# The KL-adaptive rule of rsl_rl and skrl (KLAdaptiveLR): the factor of the learning rate.
KL_ADAPTIVE_FACTOR = 1.5


class GateState(NamedTuple):
    open: jax.Array  # bool: whether the inner transformation steps
    inner: Any


def gated(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """``inner`` behind a gate held in its state: closed, it returns zero updates and keeps its
    state as it was, so the parameters it serves and their Adam moments do not move."""

    def init(params):
        return GateState(jnp.ones((), bool), inner.init(params))

    def update(updates, state: GateState, params=None):
        stepped, inner_state = inner.update(updates, state.inner, params)
        zeros = jax.tree.map(jnp.zeros_like, stepped)
        stepped = jax.tree.map(lambda new, zero: jnp.where(state.open, new, zero), stepped, zeros)
        kept = jax.tree.map(lambda new, old: jnp.where(state.open, new, old), inner_state, state.inner)
        return stepped, GateState(state.open, kept)

    return optax.GradientTransformation(init, update)


def _adamw(learning_rate: Any, weight_decay: Any) -> optax.GradientTransformation:
    return optax.inject_hyperparams(optax.adamw)(learning_rate=learning_rate, weight_decay=weight_decay)


def make_optimizer(
    config: TrainConfig,
    max_grad_norm: jax.Array | float | None = None,
    critic_keys: tuple[str, ...] = ("value",),
) -> optax.GradientTransformation:
    """Global-norm clipping (at ``max_grad_norm``, by default the config's), then AdamW (Adam
    when ``weight_decay`` is 0) whose learning rate lives in the optimiser state, where the
    schedule or the KL rule sets it. With ``critic_optimizer="separate"``, the parameters under
    ``critic_keys`` get their own AdamW at the constant ``critic_learning_rate`` and the rest
    (the actor) a :func:`gated` one with the schedule. The clip has no state: any bound shares
    one state."""
    learning_rate: Any = config.learning_rate
    if config.lr_schedule == "linear":
        updates = config.num_iterations * config.update_epochs * config.num_minibatches
        learning_rate = optax.linear_schedule(config.learning_rate, 0.0, max(updates, 1))
    clip = config.max_grad_norm if max_grad_norm is None else max_grad_norm
    actor = _adamw(learning_rate, config.weight_decay)
    if config.critic_optimizer == "shared":
        return optax.chain(optax.clip_by_global_norm(clip), actor)
    critic = _adamw(config.critic_learning_rate, config.weight_decay)

    def labels(params: dict[str, Any]) -> dict[str, str]:
        return {key: "critic" if key in critic_keys else "actor" for key in params}

    parts = optax.multi_transform({"actor": gated(actor), "critic": critic}, labels)
    return optax.chain(optax.clip_by_global_norm(clip), parts)


def _actor_part(opt_state: Any) -> tuple[Any, Any]:
    """The actor's part of an optimiser state (its AdamW state, or its gate with a separate
    critic) and a function that puts a new part back."""
    clip, inner = opt_state
    if not isinstance(inner, optax.MultiTransformState):
        return inner, lambda part: (clip, part)
    masked = inner.inner_states["actor"]

    def put(part):
        return (
            clip,
            inner._replace(inner_states={**inner.inner_states, "actor": masked._replace(inner_state=part)}),
        )

    return masked.inner_state, put


def _actor_state(opt_state: Any) -> Any:
    """The actor's AdamW state (its learning rate), and a function putting a new one back."""
    part, put = _actor_part(opt_state)
    if not isinstance(part, GateState):
        return part, put
    return part.inner, lambda adamw: put(part._replace(inner=adamw))


def learning_rate_of(opt_state: Any) -> jax.Array:
    """The (actor's) learning rate the next optimiser step uses (state of :func:`make_optimizer`)."""
    return _actor_state(opt_state)[0].hyperparams["learning_rate"]


def adapt_learning_rate(opt_state: Any, kl: jax.Array, config: TrainConfig) -> Any:
    """Divide the (actor's) learning rate by 1.5 when ``kl`` exceeds twice ``kl_target``, multiply
    it by 1.5 when ``kl`` is positive and below half of it (a KL of 0, a policy that has not
    moved, says nothing of the step size: rsl_rl's rule), within [kl_min_learning_rate,
    kl_max_learning_rate]."""
    adamw, put = _actor_state(opt_state)
    rate = adamw.hyperparams["learning_rate"]
    factor = jnp.where(kl > 2.0 * config.kl_target, 1.0 / KL_ADAPTIVE_FACTOR, 1.0)
    factor = jnp.where((kl < 0.5 * config.kl_target) & (kl > 0.0), KL_ADAPTIVE_FACTOR, factor)
    bounded = jnp.clip(rate * factor, config.kl_min_learning_rate, config.kl_max_learning_rate)
    return put(adamw._replace(hyperparams={**adamw.hyperparams, "learning_rate": bounded.astype(rate.dtype)}))


def open_actor(opt_state: Any, open: jax.Array) -> Any:
    """The optimiser state with the actor's gate set to ``open`` (a no-op for one shared AdamW,
    which has no gate: the config's validation allows warm-up only with a separate critic)."""
    part, put = _actor_part(opt_state)
    return put(part._replace(open=jnp.asarray(open, bool))) if isinstance(part, GateState) else opt_state


def minibatch_sgd(
    loss: Callable[[Any, Any, jax.Array], tuple[jax.Array, Metrics]],
    optimizer: optax.GradientTransformation,
    params: Any,
    opt_state: Any,
    data: Any,
    indices: jax.Array,
    key: jax.Array,
    before_step: Callable[[Any, Metrics], Any] | None = None,
) -> tuple[Any, Any, Metrics]:
    """One optimiser step of ``loss(params, minibatch, key) -> (scalar, metrics)`` per row of
    ``indices`` [M, B] into the leading axis of ``data`` (a ``lax.scan``); returns the parameters,
    the optimiser state and the metrics [M] with ``grad_norm`` added. Each minibatch is gathered
    when its step runs: no shuffled copy of ``data`` is ever held. ``before_step(opt_state,
    metrics)``, given, sets the optimiser state from the minibatch's metrics (taken at the
    parameters before the step) ahead of the step: the per-minibatch KL rule."""

    def step(carry, inputs):
        params, opt_state = carry
        rows, key = inputs
        minibatch = jax.tree.map(lambda x: x[rows], data)
        grads, metrics = jax.grad(loss, has_aux=True)(params, minibatch, key)
        if before_step is not None:
            opt_state = before_step(opt_state, metrics)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        metrics = {**metrics, "grad_norm": optax.global_norm(grads)}
        return (optax.apply_updates(params, updates), opt_state), metrics

    keys = jax.random.split(key, indices.shape[0])
    (params, opt_state), metrics = jax.lax.scan(step, (params, opt_state), (indices, keys))
    return params, opt_state, metrics


def minibatch_indices(key: jax.Array, config: TrainConfig) -> jax.Array:
    """One epoch's minibatches as int32 indices [num_minibatches, minibatch_size] into the
    iteration's batch flattened time-major ([unroll_length * segments], one segment being one
    environment's ``unroll_length`` consecutive steps).

    ``minibatch_unit="transition"`` draws a uniform permutation of all transitions.
    ``minibatch_unit="segment"`` (Brax's PPO) shuffles whole segments: each minibatch holds
    ``segments / num_minibatches`` segments with all their steps, and only the segments are
    sorted, which on CPU costs a fraction of sorting every transition.
    """
    segments = config.num_envs * config.num_unrolls
    if config.minibatch_unit == "transition":
        order = jax.random.permutation(key, config.unroll_length * segments)
        return order.reshape(config.num_minibatches, -1)
    per_minibatch = jax.random.permutation(key, segments).reshape(config.num_minibatches, 1, -1)
    steps = jnp.arange(config.unroll_length).reshape(1, -1, 1) * segments
    return (steps + per_minibatch).reshape(config.num_minibatches, -1)
