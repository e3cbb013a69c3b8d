"""Diffusion actor: a K-step denoising chain of Gaussian transitions with an exact likelihood,
on DDPM or DDIM step schedules (Ho et al. 2020; Song et al. 2021).

A noise predictor eps_theta(x^j, j/K, s) (an MLP on [s, x^j, time embedding]) drives the chain
x^K ~ N(0, I) -> x^(K-1) -> ... -> x^0, the pre-squash action. With a cosine schedule
alpha_bar_j (alpha_bar_0 = 1), x0_hat = (x^j - sqrt(1 - alpha_bar_j) eps_hat) / sqrt(alpha_bar_j)
and each transition is N(mean_j, std_j^2) with

    DDPM: mean_j = c1_j x0c + c2_j x^j,  c1_j = sqrt(alpha_bar_{j-1}) beta_j / (1 - alpha_bar_j),
          c2_j = sqrt(alpha_j) (1 - alpha_bar_{j-1}) / (1 - alpha_bar_j),
          std_j^2 = beta_j (1 - alpha_bar_{j-1}) / (1 - alpha_bar_j)
    DDIM (eta = 0): mean_j = sqrt(alpha_bar_{j-1}) x0c + sqrt(1 - alpha_bar_{j-1}) eps_c, std_j = 0,
          eps_c = (x^j - sqrt(alpha_bar_j) x0c) / sqrt(1 - alpha_bar_j)

where x0c = clip(x0_hat, -x0_clip, x0_clip) (DPPO's "denoised clip": without it the first,
noisiest steps multiply eps_hat by up to 1/sqrt(alpha_bar_K) and tiny parameter changes move
their means by many stds). Every std is floored at ``min_std`` (DPPO's exploration floor), so
even DDIM's chain is a proper Gaussian chain whose log-likelihood is exact
(:mod:`jaxrl.actors.chain`). Chain index k = 0..K-1 of :mod:`chain` is denoising step
j = K - k. The deterministic (evaluation) action runs the chain with zero noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

SCHEDULES = ("ddpm", "ddim")


def cosine_alpha_bar(num_steps: int, offset: float = 0.008) -> np.ndarray:
    """alpha_bar_j for j = 0..K (alpha_bar_0 = 1), the cosine schedule of Nichol & Dhariwal 2021,
    with betas capped at 0.999."""
    f = np.cos((np.arange(num_steps + 1) / num_steps + offset) / (1 + offset) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = np.clip(1.0 - alpha_bar[1:] / alpha_bar[:-1], 0.0, 0.999)
    return np.concatenate([[1.0], np.cumprod(1.0 - betas)])


def coefficients(num_steps: int, schedule: str) -> dict[str, np.ndarray]:
    """Per chain index k = 0..K-1: x0_hat = x0_from_x x + x0_from_eps eps_hat, then
    mean = from_x0 clip(x0_hat) + from_x x, and the std before its floor."""
    alpha_bar = cosine_alpha_bar(num_steps)
    j = np.arange(num_steps, 0, -1)  # the denoising step of chain index k
    current, previous = alpha_bar[j], alpha_bar[j - 1]
    if schedule == "ddpm":
        beta = 1.0 - current / previous
        from_x0 = np.sqrt(previous) * beta / (1.0 - current)
        from_x = np.sqrt(1.0 - beta) * (1.0 - previous) / (1.0 - current)
        std = np.sqrt(beta * (1.0 - previous) / (1.0 - current))
    elif schedule == "ddim":  # eps re-derived from the clipped x0_hat, as DPPO does
        from_x = np.sqrt(1.0 - previous) / np.sqrt(1.0 - current)
        from_x0 = np.sqrt(previous) - from_x * np.sqrt(current)
        std = np.zeros(num_steps)
    else:
        raise ValueError(f"schedule={schedule!r} is invalid: expected one of {', '.join(SCHEDULES)}")
    out = {
        "x0_from_x": 1.0 / np.sqrt(current),
        "x0_from_eps": -np.sqrt(1.0 - current) / np.sqrt(current),
        "from_x0": from_x0,
        "from_x": from_x,
        "std": std,
    }
    return {name: value.astype(np.float32) for name, value in out.items()}


def denoising_step(
    predict_noise, num_steps: int, schedule: str, min_std: jax.Array, x0_clip: jax.Array
) -> Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    """The chain's ``step(x, k) -> (mean, std)`` for a noise predictor ``predict_noise(x, t)``."""
    c = {name: jnp.asarray(value) for name, value in coefficients(num_steps, schedule).items()}

    def step(x: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
        t = (num_steps - k) / num_steps  # j / K
        x0_hat = c["x0_from_x"][k] * x + c["x0_from_eps"][k] * predict_noise(x, t)
        mean = c["from_x0"][k] * jnp.clip(x0_hat, -x0_clip, x0_clip) + c["from_x"][k] * x
        return mean, jnp.maximum(c["std"][k], min_std)

    return step
