"""Videos of a policy: episodes rendered to RGB frames, written to MP4 or GIF, shown inline.

:func:`frames` runs a policy (any jitted ``(obs, key) -> action``, such as
:func:`jaxrl.load_policy` returns) for whole episodes of one environment in one jitted scan,
then draws every control step. MuJoCo Playground and Brax tasks are drawn by MuJoCo's own
renderer from each step's ``qpos``/``qvel`` (headless machines need ``MUJOCO_GL=egl`` set
before MuJoCo is first imported); the pure-JAX toy tasks, which have no renderer, are drawn as
2-D trajectories with matplotlib (no pyplot: nothing global changes). Videos are encoded as
MuJoCo Playground encodes them, with ``mediapy``, using the ffmpeg binary of the
``imageio-ffmpeg`` wheel when no ``ffmpeg`` is on the path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import envs

Policy = Callable[[jax.Array, jax.Array], jax.Array]


def episode_runner(env: envs.EpisodeWrapper, policy: Policy) -> Callable[[jax.Array], tuple[Any, int]]:
    """``key -> (physics, length)``: the physics state before every step of one episode (first
    the reset, stacked along a leading time axis of ``length + 1``) and its length in control
    steps. The episode runs in one jitted scan, compiled once for every key."""

    def step(state: envs.State, key: jax.Array):
        next_state = env.step(state, policy(state.obs, key))
        return next_state, (next_state.physics, next_state.terminated + next_state.truncated)

    @jax.jit
    def run(key: jax.Array):
        reset_key, step_key = jax.random.split(key)
        first = env.reset(reset_key)
        _, (physics, ended) = jax.lax.scan(step, first, jax.random.split(step_key, env.episode_length))
        physics = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first.physics, physics)
        return physics, ended

    def episode(key: jax.Array) -> tuple[Any, int]:
        physics, ended = jax.device_get(run(key))
        ends = np.flatnonzero(np.asarray(ended) > 0)
        length = int(ends[0]) + 1 if ends.size else len(ended)
        return jax.tree.map(lambda x: x[: length + 1], physics), length

    return episode


def _mujoco_frames(env: envs.EpisodeWrapper, physics: Any, width: int, height: int, camera) -> np.ndarray:
    import mujoco

    backend = env.env.backend
    if hasattr(backend, "mj_model"):  # MuJoCo Playground: the MJX data is physics.data
        model, data = backend.mj_model, physics.data
        qpos, qvel = data.qpos, data.qvel
    else:  # Brax: the pipeline state holds q and qd
        model, data = backend.sys.mj_model, physics.pipeline_state
        qpos, qvel = data.q, data.qd
    mocap = model.nmocap and hasattr(data, "mocap_pos")
    try:
        renderer = mujoco.Renderer(model, height=height, width=width)
    except mujoco.FatalError as error:
        raise RuntimeError(
            f"MuJoCo cannot render ({error}); on a machine without a display set MUJOCO_GL=egl"
            " before MuJoCo is imported (the Debian packages libegl1 and libgl1-mesa-dri provide EGL)"
        ) from error
    frame_data = mujoco.MjData(model)
    images = []
    for t in range(len(qpos)):
        frame_data.qpos, frame_data.qvel = qpos[t], qvel[t]
        if mocap:
            frame_data.mocap_pos, frame_data.mocap_quat = data.mocap_pos[t], data.mocap_quat[t]
        mujoco.mj_forward(model, frame_data)
        renderer.update_scene(frame_data, camera=-1 if camera is None else camera)
        images.append(renderer.render())
    renderer.close()
    return np.stack(images)


def _toy_frames(env: envs.EpisodeWrapper, physics: Any, width: int, height: int) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from envs.toy import GOALS, PointMassPhysics

    if isinstance(physics, PointMassPhysics):
        path, targets, limit = np.asarray(physics.position), np.asarray(physics.target[:1]), 2.0
    else:  # toy/multigoal: the physics is the position
        path, targets, limit = np.asarray(physics), np.asarray(GOALS), 1.3
    figure = Figure(figsize=(width / 100, height / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axis = figure.add_axes((0.02, 0.02, 0.96, 0.96))
    axis.set(xlim=(-limit, limit), ylim=(-limit, limit), xticks=[], yticks=[], aspect="equal")
    axis.scatter(targets[:, 0], targets[:, 1], s=200, marker="*", color="C2", zorder=1)
    (trail,) = axis.plot([], [], color="C0", lw=1.5, alpha=0.6)
    (point,) = axis.plot([], [], "o", color="C0", ms=8)
    images = []
    for t in range(len(path)):
        trail.set_data(path[: t + 1, 0], path[: t + 1, 1])
        point.set_data(path[t : t + 1, 0], path[t : t + 1, 1])
        canvas.draw()
        images.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return np.stack(images)


def frames(
    env: envs.EpisodeWrapper,
    policy: Policy,
    episodes: int = 1,
    seed: int = 0,
    width: int = 320,
    height: int = 240,
    camera: str | int | None = None,
) -> np.ndarray:
    """RGB frames ``[T, height, width, 3]`` (uint8) of ``episodes`` episodes of ``policy``, one
    per control step plus each episode's first state, episodes one after another."""
    from envs.toy import TOY_ENVS

    episode = episode_runner(env, policy)
    clips = []
    for index in range(episodes):
        physics, _ = episode(jax.random.fold_in(jax.random.PRNGKey(seed), index))
        if isinstance(env.env, tuple(TOY_ENVS.values())):
            clips.append(_toy_frames(env, physics, width, height))
        else:
            clips.append(_mujoco_frames(env, physics, width, height, camera))
    return np.concatenate(clips)


def fps(env: envs.EpisodeWrapper) -> float:
    """Real-time frames per second: one frame per control step of the environment."""
    backend = getattr(env.env, "backend", None)
    dt = getattr(backend, "dt", None)
    return float(1.0 / (float(dt) * env.steps_per_action)) if dt is not None else 20.0


def run_frames(
    run_dir: str | Path, episodes: int = 1, seed: int = 0, **kwargs: Any
) -> tuple[np.ndarray, float]:
    """:func:`frames` of the deterministic policy of a run folder's latest checkpoint, and the
    frame rate to play them at."""
    from jaxrl.training import load_config, load_policy, make_env

    env = make_env(load_config(run_dir))
    policy = load_policy(run_dir, deterministic=True)
    return frames(env, policy, episodes, seed, **kwargs), fps(env)


def _use_ffmpeg_wheel() -> None:
    import mediapy

    if shutil.which("ffmpeg") is None:
        import imageio_ffmpeg

        mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())


def write(path: str | Path, images: np.ndarray, fps: float) -> Path:
    """Encode ``images`` to ``path``: H.264 MP4, or GIF when the name ends in ``.gif``; whole or
    not at all (a failed write, such as on a full disk, leaves no file behind)."""
    import mediapy

    _use_ffmpeg_wheel()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "gif" if path.suffix.lower() == ".gif" else "h264"
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")  # ffmpeg reads the container from it
    try:
        mediapy.write_video(temporary, images, fps=fps, codec=codec)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def show(images: np.ndarray, fps: float, **kwargs: Any) -> Any:
    """Show ``images`` as a video inline in a notebook (``mediapy.show_video``)."""
    import mediapy

    _use_ffmpeg_wheel()
    return mediapy.show_video(images, fps=fps, **kwargs)
