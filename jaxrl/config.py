"""Frozen, validated configuration: the loop's :class:`TrainConfig` and the helpers that every
learner's own config uses.

A config is a frozen dataclass registered as a JAX pytree: numeric hyperparameters (learning
rate, discount, clip range, ...) are leaves, so they are traced and a sweep over them is a
``jax.vmap``; sizes, loop counts, names and flags are static metadata. Each field carries its
help text and its check, so the command line and validation are generated from one place.
Validation raises :class:`ConfigError` with one line naming the bad value and what is valid;
it runs before anything compiles. Every numeric field must be finite unless infinity has a
meaning it declares (``max_grad_norm``: no clip). A field is named as Python spells it
(``learning_rate=inf``) unless the caller names it otherwise (the command line's
``--learning-rate``). :func:`coerce` turns what a user passes into a field's type (a list sweeps
a hyperparameter like a tuple or array) or refuses it, naming the field, the value and the type
expected. This module deliberately knows nothing about how training runs, nor which learners
exist (:mod:`jaxrl.registry` builds configs for a named learner).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np


class ConfigError(ValueError):
    """A configuration value that cannot work; the message is one line."""


Naming = Callable[[str], str]  # a field's name as the user wrote it: learning_rate, --learning-rate


def python_name(field: str) -> str:
    return field


def hyper(
    default: Any, help: str, check: Callable[[Any], str | None] | None = None, infinite: bool = False
) -> Any:
    """A traced numeric hyperparameter; finite unless ``infinite`` (then inf means something)."""
    return dataclasses.field(default=default, metadata={"help": help, "check": check, "infinite": infinite})


def static(default: Any, help: str, check: Callable[[Any], str | None] | None = None) -> Any:
    """A static field (size, count, name or flag): changing it recompiles."""
    return dataclasses.field(default=default, metadata={"help": help, "check": check, "static": True})


def override(base: type, name: str, default: Any = dataclasses.MISSING, help: str | None = None) -> Any:
    """Field ``name`` of the fields class ``base`` redeclared by a config that inherits it, with
    its own default and (when given) its own help text; the check and whether it is static are
    ``base``'s. Without ``default``, ``base``'s default is kept."""
    inherited = base.__dataclass_fields__[name]
    metadata = {**inherited.metadata, **({} if help is None else {"help": help})}
    return dataclasses.field(
        default=inherited.default if default is dataclasses.MISSING else default, metadata=metadata
    )


def pytree_config(cls: type) -> type:
    """Freeze ``cls`` and register it as a pytree whose ``hyper`` fields are the leaves."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    jax.tree_util.register_dataclass(
        cls,
        data_fields=[f.name for f in fields if not f.metadata.get("static")],
        meta_fields=[f.name for f in fields if f.metadata.get("static")],
    )
    return cls


# Checks: each returns None when the value is valid, else what would be valid.
def positive(value: Any) -> str | None:
    return None if np.all(np.asarray(value) > 0) else "a positive number"


def non_negative(value: Any) -> str | None:
    return None if np.all(np.asarray(value) >= 0) else "a number >= 0"


def unit_interval(value: Any) -> str | None:
    v = np.asarray(value)
    return None if np.all((v > 0) & (v <= 1)) else "a number in (0, 1]"


def positive_sizes(value: Sequence[int]) -> str | None:
    ok = len(value) > 0 and all(isinstance(v, int) and v > 0 for v in value)
    return None if ok else "a non-empty list of positive integers, e.g. 64,64"


def one_of(*options: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in options else "one of " + ", ".join(options)


def finite(value: Any) -> str | None:
    return None if np.all(np.isfinite(np.asarray(value))) else "a finite number"


def _expected(f: dataclasses.Field, value: Any) -> str | None:
    """What would be valid for field ``f`` when ``value`` is not: its check's, and finite."""
    check = f.metadata.get("check")
    expected = None if check is None else check(value)
    numeric = np.asarray(value).dtype.kind in "fc"
    if numeric and not f.metadata.get("infinite") and finite(value) is not None:
        return "a finite number" if expected is None else "a finite " + expected.removeprefix("a ")
    return expected


def check_fields(config: Any, name: Naming = python_name) -> None:
    """Check each field's type (:func:`coerce`), run its check, and require numbers to be finite
    unless the field says infinity has a meaning; raise ConfigError on the first failure, naming
    the field by ``name``."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            check_fields(value, name)
            continue
        if "help" in f.metadata:
            coerce(f, value, name)  # a config built without make_config: the type first
        if (expected := _expected(f, value)) is not None:
            raise ConfigError(f"{name(f.name)}={_show(value)} is invalid: expected {expected}")


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if hasattr(value, "tolist"):
        return str(value.tolist())
    return str(value)


@pytree_config
class TrainConfig:
    """Everything the shared loop needs; ``learner`` holds the chosen learner's own config.

    Brax's PPO semantics map as: Brax ``num_envs`` = ``num_envs``; Brax ``batch_size`` =
    ``num_envs * num_unrolls / num_minibatches``; Brax ``num_minibatches`` = ``num_minibatches``;
    Brax ``num_updates_per_batch`` = ``update_epochs``; ``unroll_length`` and
    ``num_timesteps`` = ``total_steps`` likewise. Each iteration collects ``num_unrolls``
    sequential segments of ``unroll_length`` steps from every environment.
    """

    env: str = static("CartpoleBalance", "environment name (see envs.names())")
    algo: str = static("ppo", "learner")
    num_envs: int = static(2048, "parallel training environments", positive)
    unroll_length: int = static(30, "steps per rollout segment", positive)
    num_unrolls: int = static(
        16, "sequential segments per iteration (Brax: batch_size*num_minibatches/num_envs)", positive
    )
    num_minibatches: int = static(32, "minibatches per epoch", positive)
    update_epochs: int = static(16, "passes over each iteration's data", positive)
    total_steps: int = static(60_000_000, "environment steps to train for", positive)
    num_evals: int = static(
        10, "evaluations (and checkpoints) over the run, besides one before each learner phase", positive
    )
    eval_envs: int = static(128, "episodes per evaluation", positive)
    episode_length: int = static(0, "time limit in environment steps (0: the task's own)", non_negative)
    action_repeat: int = static(1, "times each action is repeated", positive)
    action_chunk: int = static(
        1, "actions per policy step, executed in sequence (the policy outputs a chunk)", positive
    )
    seed: int = static(0, "random seed; member i of --seeds N uses seed+i", non_negative)
    num_seeds: int = static(1, "seeds trained side by side in one program (vmap)", positive)
    num_devices: int = static(0, "devices the environments are split over (0: all)", non_negative)
    normalize_obs: bool = static(True, "running observation normalisation")
    minibatch_unit: str = static(
        "transition",
        "what each epoch shuffles into minibatches: single transitions, or whole unroll segments"
        " (Brax's PPO; on CPU much cheaper per epoch, somewhat less sample-efficient)",
        one_of("transition", "segment"),
    )
    advantages_per_epoch: bool = static(
        False, "recompute values and advantages before every epoch ('online advantages')"
    )
    lr_schedule: str = static(
        "constant",
        "learning-rate schedule: constant, linear decay to 0, or kl_adaptive (/1.5 when the KL >"
        " 2 kl_target, x1.5 when 0 < KL < kl_target/2, within [kl_min_learning_rate,"
        " kl_max_learning_rate]; see kl_step and kl_estimate)",
        one_of("constant", "linear", "kl_adaptive"),
    )
    kl_step: str = static(
        "epoch",
        "when kl_adaptive steps the rate: after every epoch on its mean KL (skrl's KLAdaptiveLR),"
        " or before every minibatch's step on that minibatch's KL (rsl_rl's PPO)",
        one_of("epoch", "minibatch"),
    )
    kl_estimate: str = static(
        "sample",
        "the KL kl_adaptive reads: the learner's sample estimate (approx_kl) or the closed-form"
        " KL of the old and new Gaussians (exact: Gaussian actors, ppo and bpo)",
        one_of("sample", "exact"),
    )
    kl_min_learning_rate: float = hyper(1e-6, "kl_adaptive's lower bound on the rate", positive)
    kl_max_learning_rate: float = hyper(1e-2, "kl_adaptive's upper bound on the rate", positive)
    learning_rate: float = hyper(1e-3, "Adam learning rate (the initial one with kl_adaptive)", positive)
    weight_decay: float = hyper(0.0, "AdamW's decoupled weight decay (0: Adam)", non_negative)
    kl_target: float = hyper(0.01, "the KL the kl_adaptive schedule steers towards", positive)
    gamma: float = hyper(0.995, "discount factor", unit_interval)
    gae_lambda: float = hyper(0.95, "GAE lambda", unit_interval)
    reward_scaling: float = hyper(10.0, "multiplier on rewards before advantages", positive)
    max_grad_norm: float = hyper(math.inf, "global gradient-norm clip (inf: none)", positive, infinite=True)
    critic_optimizer: str = static(
        "shared",
        "the critic's optimiser: shared with the actor (one learning rate and schedule), or separate"
        " (its own AdamW at --critic-learning-rate, as fine-tuning references train)",
        one_of("shared", "separate"),
    )
    critic_learning_rate: float = hyper(
        1e-3, "the critic's learning rate (--critic-optimizer separate)", positive
    )
    critic_warmup_iterations: int = static(
        0,
        "first iterations in which only the critic trains (needs --critic-optimizer separate)",
        non_negative,
    )
    update_obs_stats: bool = static(
        True, "take each rollout into the observation statistics (off: they stay as they start)"
    )
    init_from: str = static(
        "",
        "a run folder (e.g. of experiments.pretrain) whose actor and observation statistics a new"
        " run starts from, its critic fresh ('': none)",
    )
    learner: Any = None

    @property
    def transitions_per_iteration(self) -> int:
        """The batch one iteration collects and learns from (one transition per policy step)."""
        return self.num_envs * self.num_unrolls * self.unroll_length

    @property
    def minibatch_size(self) -> int:
        return self.transitions_per_iteration // self.num_minibatches

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps of one iteration: its transitions times the environment steps of one
        policy action (its chunk, each action repeated)."""
        return self.transitions_per_iteration * self.action_repeat * self.action_chunk

    @property
    def num_iterations(self) -> int:
        return self.total_steps // self.steps_per_iteration

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


RSL_RL: dict[str, Any] = {
    "num_envs": 4096,
    "num_unrolls": 1,
    "unroll_length": 24,
    "num_minibatches": 4,
    "update_epochs": 5,
    "learning_rate": 1e-3,
    "lr_schedule": "kl_adaptive",
    "kl_target": 0.01,
    "kl_step": "minibatch",
    "kl_estimate": "exact",
    "kl_min_learning_rate": 1e-5,
    "kl_max_learning_rate": 1e-2,
    "advantages_per_epoch": True,
    "normalize_obs": False,
    "reward_scaling": 1.0,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "max_grad_norm": 1.0,
    "policy_hidden": (512, 256, 128),
    "value_hidden": (512, 256, 128),
}
PRESETS: dict[str, dict[str, Any]] = {
    # MuJoCo Playground's DM Control PPO settings: the defaults of TrainConfig and PPOConfig.
    "playground": {},
    # Brax-PPO settings sized for a few CPU cores: 512 envs, Brax batch 128 x 16 minibatches
    # (4 unrolls of 30), 8 epochs, small networks; PPO learns CartpoleBalance within the 5M steps.
    "cpu": {
        "num_envs": 512,
        "num_unrolls": 4,
        "num_minibatches": 16,
        "update_epochs": 8,
        "total_steps": 5_000_000,
        "policy_hidden": (32, 32),
        "value_hidden": (64, 64),
    },
    # The BPO reference's learning setting (bounded-ratio-rl, cfgs/algo/bpo/mujoco.yaml): returns
    # in the task's own units (BPO's lambda and R - V are), gamma 0.99, lr 3e-4, 10 epochs. It
    # sets no sizes, so it combines with one that does: --preset cpu,bpo.
    "bpo": {
        "normalize_obs": False,
        "reward_scaling": 1.0,
        "gamma": 0.99,
        "learning_rate": 3e-4,
        "update_epochs": 10,
    },
    # Fine-tuning a pre-trained actor (--init-from), as DPPO's and ReinFlow's Gym fine-tuning
    # configs run it (their cfg/gym/finetune/*): the critic its own optimiser (the learners set
    # both rates), the observation statistics those the run starts from (the demonstrations'),
    # gamma 0.99, lambda 0.95, 5 epochs, chunks of 4 actions. It sets no sizes: --preset
    # cpu,finetune on the CPU sizes. The learners add their references' own settings.
    "finetune": {
        "critic_optimizer": "separate",
        "update_obs_stats": False,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "update_epochs": 5,
        "action_chunk": 4,
    },
    # Small and fast on a CPU for toy/pointmass (give --env toy/pointmass): 256 envs x one
    # unroll of 32 steps, 8 minibatches x 4 epochs, small networks, 1.5M steps. The learners
    # add what they need to learn the task at these sizes (their ``presets``). The suite's
    # learning smoke and the pointmass learning checks use it with their own budgets.
    "pointmass": {
        "num_envs": 256,
        "num_unrolls": 1,
        "unroll_length": 32,
        "num_minibatches": 8,
        "update_epochs": 4,
        "total_steps": 1_500_000,
        "num_evals": 4,
        "policy_hidden": (32, 32),
        "value_hidden": (64, 64),
    },
    # Small and fast on a CPU for toy/multigoal and toy/multigoal6 (give --env): 25-step
    # episodes, one update of 8 minibatches x 4 epochs per 6,400 transitions, the same for every
    # learner apart from its own defaults. The mode counts (jaxrl.modes) are measured with it.
    "multigoal": {
        "num_envs": 256,
        "num_unrolls": 1,
        "unroll_length": 25,
        "num_minibatches": 8,
        "update_epochs": 4,
        "policy_hidden": (64, 64),
        "value_hidden": (64, 64),
        "total_steps": 600_000,
        "num_evals": 4,
    },
    # rsl_rl's on-policy runner as BPO's rsl_rl path runs it on IsaacLab (bounded-ratio-rl,
    # cfgs/algo/bpo/isaaclab/*, src/rsl_rl/rsl_bpo.py): 4096 envs x 24 steps an iteration, 4
    # minibatches x 5 epochs, the rate from 1e-3 set by the KL rule before every minibatch step
    # on that minibatch's exact Gaussian KL (target 0.01, within [1e-5, 1e-2]), returns refreshed
    # every epoch, no observation or reward normalisation, gamma 0.99, lambda 0.95, gradient clip
    # 1, widths 512-256-128 (ELU: the learners add it). "rsl_rl_cpu" is the same at the CPU
    # preset's 512 envs and widths.
    "rsl_rl": RSL_RL,
    "rsl_rl_cpu": {**RSL_RL, "num_envs": 512, "policy_hidden": (32, 32), "value_hidden": (64, 64)},
    # PolicyFlow's MultiGoal run (PolicyFlow_srb, scripts/multigoal; give --env toy/multigoal6):
    # 4096 envs x 32 steps (131,072 transitions) an iteration, 4 minibatches x 5 epochs, widths
    # 256-128-64, and the 300 iterations (39.3M steps) of the model its play.py loads; the
    # paper's figure is at 1000-3000 iterations (--total-steps). PolicyFlow adds its weights.
    "multigoal6": {
        "num_envs": 4096,
        "num_unrolls": 1,
        "unroll_length": 32,
        "num_minibatches": 4,
        "update_epochs": 5,
        "policy_hidden": (256, 128, 64),
        "value_hidden": (256, 128, 64),
        "total_steps": 300 * 4096 * 32,
        "num_evals": 10,
    },
}

# MuJoCo Playground's per-task changes to its DM Control PPO settings
# (mujoco_playground/config/dm_control_suite_params.py). They apply under every preset, and a
# preset that sets the same field itself wins: the CPU preset keeps its own budget and epochs,
# and takes the pendulum's action repeat and the discounts. Playground spells the pendulum
# "PendulumSwingUp" in that file, so its own branch never fires; here it applies as intended.
TASK_SETTINGS: dict[str, dict[str, Any]] = {
    "PendulumSwingup": {"action_repeat": 4, "update_epochs": 4},
    "BallInCup": {"gamma": 0.95},
    "FingerSpin": {"gamma": 0.95},
    "AcrobotSwingup": {"total_steps": 100_000_000},
    "AcrobotSwingupSparse": {"total_steps": 100_000_000},
    "SwimmerSwimmer6": {"total_steps": 100_000_000},
    "WalkerRun": {"total_steps": 100_000_000},
}


def preset_names(preset: str | None, name: Naming = python_name) -> list[str]:
    """``"cpu,bpo"`` -> ["cpu", "bpo"] (applied in that order); None -> ["playground"]."""
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"{name('preset')}={preset!r} is invalid: expected a str")
    names = (preset or "playground").split(",")
    for each in names:
        if each not in PRESETS:
            raise ConfigError(
                f"{name('preset')}={preset} is invalid: expected one of {', '.join(PRESETS)}, or"
                f" several joined by commas (e.g. cpu,bpo)"
            )
    return names


def preset_settings(preset: str | None, name: Naming = python_name) -> dict[str, Any]:
    """The loop's and learners' fields that ``preset`` (one name or several) sets, in order."""
    return {k: v for each in preset_names(preset, name) for k, v in PRESETS[each].items()}


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name != "learner"]


def scale_envs(config: TrainConfig, factor: float, name: Naming = python_name) -> TrainConfig:
    """The co-scaling recipe of "Preventing Learning Stagnation in PPO by Scaling to 1 Million
    Parallel Environments" (2025): ``factor`` times the environments and the minibatches, so the
    minibatch size and the learning rate stay as they are and each iteration takes ``factor``
    times the gradient steps on ``factor`` times the data. ``total_steps`` is unchanged."""
    num_envs, num_minibatches = config.num_envs * factor, config.num_minibatches * factor
    if (
        not (0 < factor < math.inf)
        or num_envs != round(num_envs)
        or num_minibatches != round(num_minibatches)
    ):
        raise ConfigError(
            f"{name('scale_envs')}={factor} is invalid: expected a factor that keeps"
            f" {name('num_envs')}={config.num_envs} and {name('num_minibatches')}={config.num_minibatches}"
            f" whole numbers"
        )
    scaled = config.replace(num_envs=round(num_envs), num_minibatches=round(num_minibatches))
    validate(scaled, name)
    return scaled


def validate(config: TrainConfig, name: Naming = python_name) -> None:
    """Raise ConfigError, one line, for the first value that cannot work (the algo's name is
    :mod:`jaxrl.registry`'s to check), naming fields by ``name``."""
    import envs

    try:
        envs.check_name(config.env)
    except ValueError as error:
        raise ConfigError(f"{name('env')}={config.env} is invalid: {error}") from None
    check_fields(config, name)
    batch = config.transitions_per_iteration
    if batch % config.num_minibatches:
        raise ConfigError(
            f"{name('num_minibatches')}={config.num_minibatches} must divide the {batch} transitions of"
            f" an iteration (num_envs*num_unrolls*unroll_length)"
        )
    segments = config.num_envs * config.num_unrolls
    if config.minibatch_unit == "segment" and segments % config.num_minibatches:
        raise ConfigError(
            f"{name('num_minibatches')}={config.num_minibatches} must divide the {segments} segments of"
            f" an iteration (num_envs*num_unrolls) with {name('minibatch_unit')}=segment; use"
            f" {name('minibatch_unit')}=transition or a divisor"
        )
    if config.critic_warmup_iterations and config.critic_optimizer != "separate":
        raise ConfigError(
            f"--critic-warmup-iterations={config.critic_warmup_iterations} needs"
            f" --critic-optimizer=separate: a shared optimiser cannot train the critic alone"
        )
    if np.any(np.asarray(config.kl_min_learning_rate) > np.asarray(config.kl_max_learning_rate)):
        raise ConfigError(
            f"{name('kl_min_learning_rate')}={config.kl_min_learning_rate} is above"
            f" {name('kl_max_learning_rate')}={config.kl_max_learning_rate}: expected min <= max"
        )
    if config.total_steps < config.steps_per_iteration:
        raise ConfigError(
            f"{name('total_steps')}={config.total_steps} is less than one iteration"
            f" ({config.steps_per_iteration} steps ="
            f" num_envs*num_unrolls*unroll_length*action_repeat*action_chunk)"
        )
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not f.metadata.get("static") and np.ndim(value) > 0 and np.shape(value) != (config.num_seeds,):
            raise ConfigError(
                f"{name(f.name)} has shape {np.shape(value)}: a swept hyperparameter needs one value per"
                f" seed, shape ({config.num_seeds},)"
            )


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _as_int(value: Any) -> int | None:
    if _is_real(value) and float(value).is_integer():
        return int(value)
    return None


def _as_sizes(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, (list, tuple)):
        return None
    sizes = tuple(_as_int(v) for v in value)
    return None if None in sizes else sizes


def _as_hyper(value: Any) -> Any:
    """A number stays one; a list, tuple or array of numbers is a float32 vector (a sweep)."""
    if _is_real(value):
        return value
    if isinstance(value, (list, tuple)):
        return np.asarray(value, np.float32) if value and all(map(_is_real, value)) else None
    dtype = getattr(value, "dtype", None)
    return value if dtype is not None and np.issubdtype(dtype, np.number) else None


_STATIC_TYPES: dict[type, tuple[Callable[[Any], Any], str]] = {
    bool: (lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else None, "True or False"),
    int: (_as_int, "an integer"),
    float: (lambda v: float(v) if _is_real(v) else None, "a number"),
    str: (lambda v: v if isinstance(v, str) else None, "a str"),
    tuple: (_as_sizes, "a list or tuple of integers"),
}


def coerce(f: dataclasses.Field, value: Any, name: Naming = python_name) -> Any:
    """``value`` as field ``f``'s type: a hyperparameter is a number, or a list, tuple or array
    of them (a sweep, one value per seed: a float32 vector); a static field is its default's
    type (an integral float is an int, a list of sizes a tuple). ConfigError, one line naming
    the field, the value and the type expected, for anything else."""
    if not f.metadata.get("static"):
        converted, expected = _as_hyper(value), "a number, or a list, tuple or array of them (one per seed)"
    else:
        convert, expected = _STATIC_TYPES[type(f.default)]
        converted = convert(value)
    if converted is None:
        raise ConfigError(f"{name(f.name)}={value!r} is invalid: expected {expected}")
    return converted


def to_dict(config: TrainConfig) -> dict[str, Any]:
    """JSON-ready dict, learner fields flattened next to the loop's."""
    out = {}
    for cfg in (config, config.learner):
        for f in dataclasses.fields(cfg):
            if f.name == "learner":
                continue
            value = getattr(cfg, f.name)
            out[f.name] = value.tolist() if hasattr(value, "tolist") else value
    return out


def from_json(f: dataclasses.Field, value: Any) -> Any:
    """A field's value from its JSON form: lists become tuples (static) or float32 vectors."""
    if not isinstance(value, list):
        return value
    if f.metadata.get("static"):
        return tuple(value)
    return np.asarray(value, np.float32)
