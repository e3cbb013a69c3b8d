"""Videos: a MuJoCo task rendered headless (EGL) to frames that show the scene, a toy task's
trajectory drawn, and both encodings (MP4 through the ffmpeg wheel, GIF)."""

import jax
import jax.numpy as jnp
import numpy as np

import envs
from jaxrl import video


def push(env):
    return jax.jit(lambda obs, key: jnp.ones(env.action_size))


def test_mujoco_task_renders_frames_that_are_not_blank():
    env = envs.make("CartpoleBalance", episode_length=6)
    frames = video.frames(env, push(env), width=64, height=48)
    assert frames.shape == (7, 48, 64, 3) and frames.dtype == np.uint8  # the reset and 6 steps
    for frame in frames:
        assert frame.std() > 10 and len(np.unique(frame.reshape(-1, 3), axis=0)) > 50
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() > 0.1  # the pushed cart moved


def test_toy_trajectory_is_drawn_and_encoded(tmp_path):
    env = envs.make("toy/pointmass", episode_length=10)
    frames = video.frames(env, push(env), episodes=2, width=80, height=80)
    assert frames.shape == (22, 80, 80, 3)
    assert not np.array_equal(frames[1], frames[10])  # the point moved along its trail
    mp4 = video.write(tmp_path / "clip.mp4", frames, video.fps(env))
    gif = video.write(tmp_path / "clip.gif", frames, video.fps(env))
    assert mp4.read_bytes()[4:8] == b"ftyp" and gif.read_bytes()[:6] == b"GIF89a"
