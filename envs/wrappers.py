"""Wrappers that turn one environment into what the training loop steps.

:class:`EpisodeWrapper` adds action repeat and a time limit (``truncated`` at the limit, never
on top of a termination) to a single environment. :class:`BatchedEnv` runs ``num_envs`` copies
with ``jax.vmap`` and resets ended episodes automatically, keeping the final observation of an
ended episode in ``info["final_obs"]`` (so a truncated episode can be bootstrapped) and the
return and length of every ended episode in ``info["done_return"]``/``info["done_length"]``.
Resets draw fresh initial states from per-environment keys rather than replaying a cached first
state, and run only when some environment in the batch has ended. :func:`vmap_envs` is the
vectorisation they use, also under the loop's vmap over seeds. These wrappers deliberately know
nothing about policies or learning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import custom_batching

from envs.core import Env, State


class EpisodeWrapper:
    """Repeats each action ``action_repeat`` times and truncates after ``episode_length``
    environment steps (counted before action repeat, as Brax counts them).

    With ``action_chunk`` C > 1 a policy step is a chunk of C actions (the policy's action has
    C times the task's size, action after action), executed in sequence, each repeated
    ``action_repeat`` times, their rewards summed: the action chunks of DPPO's and ReinFlow's
    fine-tuning (their ``act_steps``). Reward after a termination within a step is not earned.
    """

    def __init__(self, env: Env, episode_length: int, action_repeat: int = 1, action_chunk: int = 1):
        self.env = env
        self.episode_length = episode_length
        self.action_repeat = action_repeat
        self.action_chunk = action_chunk
        self.observation_size = env.observation_size
        self.action_size = env.action_size * action_chunk

    @property
    def steps_per_action(self) -> int:
        """Environment steps one policy action takes (its chunk, each action repeated)."""
        return self.action_repeat * self.action_chunk

    @property
    def policy_steps(self) -> int:
        """Policy steps of a whole episode: the time limit in policy steps, rounded up."""
        return math.ceil(self.episode_length / self.steps_per_action)

    def reset(self, key: jax.Array) -> State:
        state = self.env.reset(key)
        return state._replace(info={**state.info, "steps": jnp.int32(0)})

    def step(self, state: State, action: jax.Array) -> State:
        def repeat(carry, action):
            inner, total_reward = carry
            inner = self.env.step(inner, action)
            # Reward after a termination within the repeat is not earned.
            total_reward = total_reward + jnp.where(inner.terminated > 0, 0.0, 1.0) * inner.reward
            return (inner, total_reward), None

        # Every environment step's action: each of the chunk's, action_repeat times.
        actions = jnp.repeat(action.reshape(self.action_chunk, -1), self.action_repeat, axis=0)
        inner = state._replace(info={k: v for k, v in state.info.items() if k != "steps"})
        inner = self.env.step(inner, actions[0])
        total_reward = inner.reward
        if self.steps_per_action > 1:
            (inner, total_reward), _ = jax.lax.scan(repeat, (inner, total_reward), actions[1:])
        steps = state.info["steps"] + self.steps_per_action
        terminated = inner.terminated
        truncated = jnp.where((steps >= self.episode_length) & (terminated == 0), 1.0, 0.0).astype(
            jnp.float32
        )
        return inner._replace(reward=total_reward, truncated=truncated, info={**inner.info, "steps": steps})


def fold_outer_vmap(batched_fn: Callable[..., Any]) -> Callable[..., Any]:
    """``batched_fn``, whose arguments and results all lead with the environment axis, made to
    fold a further ``vmap`` (the loop's seeds, ``[seeds, envs, ...]``) into that axis instead of
    nesting a second batch dimension.

    XLA:CPU keeps even a size-1 seeds axis in every shape of the physics, which slows MJX's
    contact solver; and a ``lax.cond`` inside
    ``batched_fn`` stays a branch, where nesting would turn it into a select that runs both sides.
    Environments are folded major (``[envs * seeds]``), so an environment axis sharded over
    devices stays contiguous on each device. Unbatched arguments are broadcast over the seeds.
    Like every ``custom_vmap``, the result is not reverse-differentiable; the loop never
    differentiates an environment.

    ``custom_vmap`` traces ``batched_fn`` once for its unbatched form and again, folded, when
    vmapped. With an outer axis of size 1 (one seed) both see the same shapes, so one ``jit``
    serves both from a single trace (seconds of every compilation on a physics step), provided
    both run under the same abstract-mesh context: JAX's vmap rule names the empty mesh
    explicitly, so every call here names the current one.
    """
    jitted = jax.jit(batched_fn)

    def traced_once(*args):
        with jax.sharding.use_abstract_mesh(jax.sharding.get_abstract_mesh()):
            return jitted(*args)

    @custom_batching.custom_vmap
    def folded(*args):
        return traced_once(*args)

    @folded.def_vmap
    def fold_outer_axis(axis_size: int, in_batched: list[Any], *args):
        def fold(is_batched: bool, x: jax.Array) -> jax.Array:
            x = (
                jnp.moveaxis(x, 0, 1)
                if is_batched
                else jnp.broadcast_to(x[:, None], (x.shape[0], axis_size, *x.shape[1:]))
            )
            return x.reshape(x.shape[0] * axis_size, *x.shape[2:])

        def unfold(x: jax.Array) -> jax.Array:
            return jnp.moveaxis(x.reshape(x.shape[0] // axis_size, axis_size, *x.shape[1:]), 1, 0)

        out = folded(*jax.tree.map(fold, list(in_batched), list(args)))
        return jax.tree.map(unfold, out), jax.tree.map(lambda _: True, out)

    return folded


def vmap_envs(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``jax.vmap(fn)`` over the leading (environment) axis of every argument and result, folding
    any further ``vmap`` into that axis (:func:`fold_outer_vmap`)."""
    return fold_outer_vmap(jax.vmap(fn))


def _select(mask: jax.Array, on_true, on_false):
    """Per-environment select over two batched pytrees of equal structure."""

    def pick(a, b):
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, on_true, on_false)


def postpone_time_limit(state: State, steps: jax.Array | int) -> State:
    """``state`` (an :class:`EpisodeWrapper`'s, any leading axes) with its time limit ``steps``
    environment steps further away (a negative ``steps``: nearer): its episodes run that much
    longer before they are truncated."""
    return state._replace(info={**state.info, "steps": state.info["steps"] - steps})


class BatchedEnv:
    """``num_envs`` copies of an environment, vectorised, with auto-reset and episode stats.

    Ended episodes restart from a fresh ``reset``, computed only at steps where some episode
    ended. Under a ``vmap`` that branch would become a select that resets every environment at
    every step (200 physics steps each for a DM Control cheetah), so ``step`` folds an outer
    vmap (the loop's seeds) into the environment axis: the branch is taken when an episode of
    any seed ended.
    """

    def __init__(self, env: Env, num_envs: int):
        self.env = env
        self.num_envs = num_envs
        self.observation_size = env.observation_size
        self.action_size = env.action_size
        self.episode_length = env.episode_length
        self._reset_all = vmap_envs(env.reset)
        self._step_all = jax.vmap(env.step)  # step itself folds an outer vmap
        self.step = fold_outer_vmap(self._step_and_reset_ended)

    def _fresh(self, keys: jax.Array) -> State:
        reset_keys, next_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
        state = self._reset_all(reset_keys)
        zeros = jnp.zeros(keys.shape[:1], jnp.float32)
        stats = {
            "rng": next_keys,
            "final_obs": state.obs,
            "episode_return": zeros,
            "episode_length": zeros,
            "done_return": zeros,
            "done_length": zeros,
        }
        return state._replace(info={**state.info, **stats})

    def reset(self, key: jax.Array) -> State:
        return self._fresh(jax.random.split(key, self.num_envs))

    def _step_and_reset_ended(self, state: State, action: jax.Array) -> State:
        own = ("rng", "final_obs", "episode_return", "episode_length", "done_return", "done_length")
        inner = state._replace(info={k: v for k, v in state.info.items() if k not in own})
        stepped = self._step_all(inner, action)
        episode_return = state.info["episode_return"] + stepped.reward
        episode_length = state.info["episode_length"] + 1
        done = (stepped.terminated > 0) | (stepped.truncated > 0)
        stats = {
            "rng": state.info["rng"],
            "final_obs": stepped.obs,
            "episode_return": jnp.where(done, 0.0, episode_return),
            "episode_length": jnp.where(done, 0.0, episode_length),
            "done_return": episode_return,
            "done_length": episode_length,
        }
        stepped = stepped._replace(info={**stepped.info, **stats})

        def reset_ended(state: State) -> State:
            fresh = self._fresh(state.info["rng"])
            # The step's outcome (reward, flags, final observation, stats) survives the reset.
            fresh = fresh._replace(
                reward=state.reward,
                terminated=state.terminated,
                truncated=state.truncated,
                info={**fresh.info, **{k: stats[k] for k in own if k != "rng"}},
            )
            return _select(done, fresh, state)

        return jax.lax.cond(jnp.any(done), reset_ended, lambda s: s, stepped)
