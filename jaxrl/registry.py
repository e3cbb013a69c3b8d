"""The registry of learners and the configs built for them: ``LEARNERS[name]`` is a
:class:`~jaxrl.learners.base.LearnerFactory`; :func:`make_config` and :func:`from_dict` build a
validated :class:`~jaxrl.config.TrainConfig` for a named learner.

It imports the config and every learner module; neither imports it, so adding a learner is a
line here and no import cycle hides behind function-level imports.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxrl import config as configs
from jaxrl.config import ConfigError, Naming, TrainConfig, python_name
from jaxrl.learners import bpo, dppo, fpo, gorl, policyflow, ppo, reinflow
from jaxrl.learners.base import Learner, LearnerFactory

LEARNERS: dict[str, LearnerFactory] = {
    factory.name: factory
    for factory in (
        ppo.FACTORY,
        bpo.FACTORY,
        fpo.FACTORY,
        dppo.FACTORY,
        reinflow.FACTORY,
        policyflow.FACTORY,
        gorl.FACTORY,
    )
}


def make_learner(name: str, observation_size: int, action_size: int) -> Learner:
    return LEARNERS[name].make(observation_size, action_size)


def check_algo(algo: Any, flag: str = "--algo=") -> LearnerFactory:
    if not isinstance(algo, str) or algo not in LEARNERS:
        raise ConfigError(f"{flag}{algo} is invalid: expected one of {', '.join(LEARNERS)}")
    return LEARNERS[algo]


def validate(config: TrainConfig, name: Naming = python_name) -> None:
    """Raise ConfigError, one line, for the first value that cannot work."""
    factory = check_algo(config.algo, name("algo") + "=")
    configs.validate(config, name)
    if config.kl_estimate == "exact" and not factory.exact_kl:
        offered = ", ".join(n for n, f in LEARNERS.items() if f.exact_kl)
        raise ConfigError(
            f"{name('kl_estimate')}=exact is invalid for algo {config.algo}: its actor has no"
            f" closed-form KL; expected sample (exact: {offered})"
        )


def preset_values(
    algo: str, preset: str | None, env: str | None = None, name: Naming = python_name
) -> dict[str, Any]:
    """What ``preset`` sets for ``algo`` on ``env``: the task's own settings
    (:data:`~jaxrl.config.TASK_SETTINGS`), then each named preset with the learner's additions
    to it, in order."""
    values = dict(configs.TASK_SETTINGS.get(env, {}) if isinstance(env, str) else {})
    for each in configs.preset_names(preset, name):
        values.update({**configs.PRESETS[each], **LEARNERS[algo].presets.get(each, {})})
    return values


def make_config(algo: str = "ppo", preset: str | None = None, **overrides: Any) -> TrainConfig:
    """A validated TrainConfig for ``algo``: defaults (the learner's own loop defaults over
    the loop's), then the task's and the preset's settings, then ``overrides``.

    Overrides may name fields of TrainConfig or of the learner's config, flat. A swept
    hyperparameter is a list, tuple or array of one value per seed; a value of the wrong type
    is a ConfigError naming the field, the value and the type expected, before anything traces.
    """
    return build_config(algo, preset, overrides)


def build_config(
    algo: str, preset: str | None, overrides: dict[str, Any], name: Naming = python_name
) -> TrainConfig:
    """:func:`make_config`, its messages naming each field by ``name`` (the command line's flags)."""
    factory = check_algo(algo, name("algo") + "=")
    learner_type = factory.config_type
    env = overrides.get("env", TrainConfig.env)
    values = {**factory.loop_defaults, **preset_values(algo, preset, env, name), **overrides}
    fields = {f.name: f for cls in (learner_type, TrainConfig) for f in dataclasses.fields(cls)}
    fields.pop("learner")
    unknown = sorted(set(values) - set(fields) - {"algo"})
    if unknown:
        raise ConfigError(f"unknown config field {unknown[0]!r} for algo {algo!r}")
    values = {k: configs.coerce(fields[k], v, name) for k, v in values.items() if k != "algo"}
    learner_names = set(configs.field_names(learner_type))
    loop_names = set(configs.field_names(TrainConfig))
    learner_config = learner_type(**{k: v for k, v in values.items() if k in learner_names})
    config = TrainConfig(
        algo=algo, learner=learner_config, **{k: v for k, v in values.items() if k in loop_names}
    )
    validate(config, name)
    return config


# Fields added after runs were stored without them: a missing one takes its default.
ADDED_FIELDS = (
    "init_from",
    "critic_optimizer",
    "critic_learning_rate",
    "critic_warmup_iterations",
    "update_obs_stats",
    "action_chunk",
    "finetune_steps",
    "noise_hold",
    "noise_decay",
    "kl_step",
    "kl_estimate",
    "kl_min_learning_rate",
    "kl_max_learning_rate",
    "activation",
    "action_scale",
)


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """Inverse of :func:`jaxrl.config.to_dict`: JSON's lists become the config's tuples (layer
    sizes) and float32 vectors (a swept hyperparameter, one value per seed). Every field must be
    present, except those of :data:`ADDED_FIELDS`."""
    algo = values.get("algo")
    factory = check_algo(algo, "algo=")
    fields = [
        f
        for cls in (TrainConfig, factory.config_type)
        for f in dataclasses.fields(cls)
        if f.name not in ("learner", "algo")
    ]
    missing = [f.name for f in fields if f.name not in values and f.name not in ADDED_FIELDS]
    if missing:
        raise ConfigError(f"field {missing[0]!r} is missing")
    present = [f for f in fields if f.name in values]
    return make_config(algo, **{f.name: configs.from_json(f, values[f.name]) for f in present})
