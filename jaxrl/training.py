"""Running training from Python: :func:`train`, :func:`resume` (with the rule of what may
change when a run continues), :func:`policy_of`, :func:`load_policy` and :func:`evaluate_run`.

The seeds of a run (``num_seeds``; member i uses ``seed + i`` and, for a swept hyperparameter,
its i-th value) are one vmapped, jitted program. :func:`train` initialises or restores the
state, compiles, then trains in chunks between evaluations; after each evaluation it calls one
list of callbacks: the metrics line, the loggers, the checkpoint, the learning curve, the
progress bar and the user's ``on_eval``, in that order, so a checkpoint never lacks its record.
A learner's phases run between chunks at the iterations they name, each as its own
seed-vmapped program, before the checkpoint of that iteration; a record's ``stage`` counts the
phases run before its chunk. A non-finite metric stops the run with :class:`TrainingDiverged`
before anything of its chunk is written. A run folder that cannot be written is refused before
anything compiles (:func:`jaxrl.runlog.check_writable`); a write that fails during the run (a
full disk) stops it with :class:`~jaxrl.runlog.RunWriteError`, and the run resumes from its
latest complete checkpoint. A run folder has one writer at a time
(:mod:`jaxrl.runlock`), and a resume restarts from the latest complete checkpoint, dropping the
records written after it. The state is laid out over the devices by :mod:`jaxrl.parallel`. In a
run of several processes every process calls the same functions in the same order; process 0
alone holds the lock, writes the config, metrics and curve and shows progress, and all of them
write their shards of each checkpoint (the run folder must be one shared folder). Command-line
parsing lives in ``experiments/``, the loop's mathematics in :mod:`jaxrl.loop`.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import envs
from jaxrl import checkpoint, parallel, runlock, runlog
from jaxrl import config as configs
from jaxrl import loggers as loggers_module
from jaxrl.config import ConfigError, Naming, TrainConfig, python_name, to_dict
from jaxrl.learners.base import Learner, actor_keys
from jaxrl.loop import Loop, TrainState, make_loop
from jaxrl.registry import from_dict, make_learner, validate
from jaxrl.rollout import policy_action

LOSS_KEYS_EXCLUDED = ("episodes", "episode_return_sum")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; nothing from the failing chunk was saved."""


class TrainResult(NamedTuple):
    state: TrainState  # leaves carry a leading axis of num_seeds
    metrics: list[dict[str, Any]]
    config: TrainConfig


def make_env(config: TrainConfig) -> envs.EpisodeWrapper:
    """The single environment of a training config: its time limit, action repeat and chunks."""
    return envs.make(
        config.env,
        episode_length=config.episode_length or None,
        action_repeat=config.action_repeat,
        action_chunk=config.action_chunk,
    )


def build(config: TrainConfig) -> tuple[envs.EpisodeWrapper, Learner, Loop]:
    env = make_env(config)
    learner = make_learner(config.algo, env.observation_size, env.action_size)
    return env, learner, make_loop(env, learner, config)


def footprint_bytes(compiled: jax.stages.Compiled) -> int | None:
    """Device memory a compiled program needs (arguments + outputs + temporaries - donated
    aliases), from XLA's own analysis; None where the backend does not report it."""
    stats = compiled.memory_analysis()
    if stats is None:
        return None
    total = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return int(total - stats.alias_size_in_bytes)


def _compiled_chunk(loop: Loop, config: TrainConfig, mesh, state: Any, members: TrainConfig):
    """The compiled, seed-vmapped ``run_iterations`` for ``state`` (arrays or their shapes)."""
    run_iterations = jax.vmap(loop.run_iterations, in_axes=(0, 0, None))
    shardings = parallel.state_shardings(state, mesh, config.num_envs)
    out_shardings = (shardings, parallel.replicated(mesh))  # every metric's sum replicated
    run = jax.jit(run_iterations, donate_argnums=0, out_shardings=out_shardings)
    return run.lower(state, members, jnp.int32(0)).compile()


def memory_footprint(config: TrainConfig) -> int | None:
    """Bytes of device memory training ``config`` needs (:func:`footprint_bytes` of its compiled
    chunk), found by compiling against shapes only: nothing of that size is allocated."""
    validate(config)
    mesh = parallel.mesh_for(config)
    _, _, loop = build(config)
    members = member_configs(config)
    abstract = jax.eval_shape(jax.vmap(loop.init), member_keys(config), members)
    return footprint_bytes(_compiled_chunk(loop, config, mesh, abstract, members))


def member_configs(config: TrainConfig) -> TrainConfig:
    """The config with every traced leaf as a float32 vector of one value per seed."""
    return jax.tree.map(
        lambda leaf: jnp.broadcast_to(jnp.asarray(leaf, jnp.float32), (config.num_seeds,)), config
    )


def member_keys(config: TrainConfig) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(config.seed + i) for i in range(config.num_seeds)])


def evaluation_keys(keys: jax.Array, iteration: int) -> jax.Array:
    """Evaluation draws its own stream, so evaluating never changes what training does."""
    return jax.vmap(lambda key: jax.random.fold_in(jax.random.fold_in(key, 1), iteration))(keys)


def _restore_state(run_dir: Path, loop: Loop, config: TrainConfig) -> TrainState:
    abstract = jax.eval_shape(jax.vmap(loop.init), member_keys(config), member_configs(config))
    shardings = parallel.state_shardings(abstract, parallel.mesh_for(config), config.num_envs)
    abstract = jax.tree.map(
        lambda s, sharding: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), abstract, shardings
    )
    return checkpoint.restore(run_dir, abstract)


class Pretrained(NamedTuple):
    """One seed's actor parameters (the actor's top-level keys only) and observation statistics
    of a run that another starts from (``init_from``), on the host."""

    actor: dict[str, Any]
    obs_stats: Any


def _describe(config: TrainConfig, env: envs.EpisodeWrapper) -> str:
    return (
        f"{config.algo} on {config.env}: observations {env.observation_size}, actions {env.action_size},"
        f" policy_hidden={_shown(list(getattr(config.learner, 'policy_hidden', ())))}"
    )


def check_init_from(config: TrainConfig) -> tuple[TrainConfig, Loop, tuple[str, ...]] | None:
    """The stored config and loop of the run ``config.init_from`` names and its actor's keys
    (None without ``init_from``), found from shapes only: nothing compiles or is written.
    ConfigError, one line naming both runs' algo and sizes, unless that run holds a checkpoint of
    the same algo whose actor has this run's parameter shapes; GoRL, whose actions also depend on
    its decoder (aux state), is refused."""
    if not config.init_from:
        return None
    source = Path(config.init_from)
    try:
        stored = load_config(source)
    except ConfigError as error:
        raise ConfigError(f"--init-from={source}: {error}") from None
    if checkpoint.latest_iteration(source) is None:
        raise ConfigError(f"--init-from={source} has no checkpoint to start from")
    env, learner, _ = build(config)
    stored_env, _, stored_loop = build(stored)
    if learner.clone_loss is None:
        raise ConfigError(
            f"--init-from={source}: {config.algo} cannot start from another run's actor (its actions"
            " also depend on state outside its parameters)"
        )
    fresh = jax.eval_shape(learner.init, jax.random.PRNGKey(0), config.learner)
    abstract = jax.eval_shape(jax.vmap(stored_loop.init), member_keys(stored), member_configs(stored))
    keys = actor_keys(learner, fresh)
    fits = stored.algo == config.algo and set(keys) == set(actor_keys(learner, abstract.params))
    shapes = lambda tree, skip: jax.tree.map(lambda x: x.shape[skip:], tree)  # noqa: E731
    if not fits or any(shapes(abstract.params[k], 1) != shapes(fresh[k], 0) for k in keys):
        raise ConfigError(
            f"--init-from={source} holds {_describe(stored, stored_env)}; this run is"
            f" {_describe(config, env)}: its actor does not fit"
        )
    return stored, stored_loop, keys


def pretrained_actor(config: TrainConfig) -> Pretrained | None:
    """The actor and observation statistics (seed 0's) of the run ``config.init_from`` names,
    loaded on the host after :func:`check_init_from`; None without ``init_from``."""
    checked = check_init_from(config)
    if checked is None:
        return None
    stored, stored_loop, keys = checked
    state = _restore_state(Path(config.init_from), stored_loop, stored)
    params, stats = jax.device_get(jax.tree.map(lambda x: x[0], (state.params, state.obs_stats)))
    return Pretrained({k: params[k] for k in keys}, stats)


def with_pretrained(state: TrainState, pretrained: Pretrained, learner: Learner) -> TrainState:
    """``state`` (a leading seed axis) with ``pretrained``'s actor and observation statistics in
    every seed, each array placed as the one it replaces; the critic stays the fresh one, and the
    learner's frozen copy (:attr:`~jaxrl.learners.base.Learner.freeze`) is taken anew."""

    def put(new, old):
        return jax.device_put(jnp.broadcast_to(jnp.asarray(new, old.dtype), old.shape), old.sharding)

    actor = {k: jax.tree.map(put, v, state.params[k]) for k, v in pretrained.actor.items()}
    stats = jax.tree.map(put, pretrained.obs_stats, state.obs_stats)
    params = {**state.params, **actor}
    aux = state.aux if learner.freeze is None else jax.vmap(learner.freeze)(params, state.aux)
    return state._replace(params=params, aux=aux, obs_stats=stats)


def initial_state(config: TrainConfig) -> TrainState:
    """The state a new run of ``config`` starts training from (before any iteration): fresh, with
    ``init_from``'s actor and observation statistics when it names a run."""
    validate(config)
    mesh = parallel.mesh_for(config)
    _, learner, loop = build(config)
    members, keys = jax.device_put((member_configs(config), member_keys(config)), parallel.replicated(mesh))
    pretrained = pretrained_actor(config)
    return _initial_state(learner, loop, config, mesh, None, False, members, keys, pretrained)[0]


def phase_schedule(learner: Learner, config: TrainConfig) -> dict[int, list[int]]:
    """Iteration -> the indices of the learner's phases that run after it, in order."""
    schedule: dict[int, list[int]] = {}
    for index, phase in enumerate(learner.phases):
        for point in phase.iterations(config):
            if 0 < point < config.num_iterations:
                schedule.setdefault(int(point), []).append(index)
    return dict(sorted(schedule.items()))


def _compiled_phase(loop: Loop, index: int, config: TrainConfig, mesh, state: Any, members: TrainConfig):
    """The compiled, seed-vmapped phase ``index`` of the learner."""
    shardings = parallel.state_shardings(state, mesh, config.num_envs)
    run = jax.jit(jax.vmap(loop.phases[index]), donate_argnums=0, out_shardings=shardings)
    return run.lower(state, members).compile()


def _summarise(sums: dict[str, np.ndarray], iterations: int) -> dict[str, Any]:
    """Host-side means over the chunk's iterations and over seeds."""
    record = {k: float(np.mean(v) / iterations) for k, v in sums.items() if k not in LOSS_KEYS_EXCLUDED}
    episodes = float(np.sum(sums["episodes"]))
    record["train_return"] = float(np.sum(sums["episode_return_sum"]) / episodes) if episodes else None
    return record


def train(
    config: TrainConfig,
    run_dir: str | Path | None = None,
    progress: bool = True,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    loggers: Sequence[str] = (),
    _resume: bool = False,
) -> TrainResult:
    """Train ``config.num_seeds`` seeds in one program; returns the final state and metrics.

    With ``run_dir``, writes the config, ``metrics.jsonl``, a learning curve and checkpoints
    there, holding the folder's lock throughout; a folder that cannot be written is a
    ConfigError before anything compiles, a write that fails later a
    :class:`~jaxrl.runlog.RunWriteError`. A folder holding a checkpoint is refused
    (:func:`resume` continues it); one without (a run stopped before its first checkpoint) is
    started over. A new run with ``config.init_from`` starts from that run's actor and
    observation statistics (:func:`pretrained_actor`). ``on_eval`` is called with each
    evaluation's record. ``loggers``
    (``"tensorboard"``, ``"wandb"``; they need ``run_dir``) receive every record too
    (:mod:`jaxrl.loggers`).
    """
    validate(config)
    mesh = parallel.mesh_for(config)
    if loggers and run_dir is None:
        raise ConfigError(f"loggers {', '.join(loggers)} need a run folder")
    loggers_module.check(loggers)
    pretrained = None if _resume else pretrained_actor(config)  # checked before anything is written
    if run_dir is None:
        return _train(config, mesh, None, progress, on_eval, loggers, _resume, pretrained)
    run_dir = Path(run_dir)
    _check_not_a_file(run_dir)
    runlog.check_writable(run_dir)
    with contextlib.ExitStack() as stack:
        with runlog.writing(run_dir):
            stack.enter_context(hold(run_dir))
            if not _resume:
                _prepare_fresh(run_dir)
        return _train(config, mesh, run_dir, progress, on_eval, loggers, _resume, pretrained)


@contextlib.contextmanager
def hold(run_dir: str | Path) -> Iterator[None]:
    """:func:`jaxrl.runlock.hold` in the process that writes the run folder (process 0); the
    other processes of a distributed run write nothing but their share of each checkpoint, and
    learn from process 0 whether the folder is busy, so that all of them refuse it together."""
    if jax.process_count() == 1:
        with runlock.hold(run_dir):
            yield
        return
    from jax.experimental import multihost_utils

    with contextlib.ExitStack() as stack:
        busy = None
        if parallel.is_writer():
            try:
                stack.enter_context(runlock.hold(run_dir))
            except runlock.RunFolderBusy as error:
                busy = error
        if multihost_utils.broadcast_one_to_all(np.int32(busy is not None)):
            raise busy or runlock.RunFolderBusy(
                f"{run_dir} is being written by another trainer (see process 0)"
            )
        yield


def _sync(name: str) -> None:
    """Wait until every process of a distributed run gets here (nothing to wait for in one)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _prepare_fresh(run_dir: Path) -> None:
    """Refuse a folder holding a checkpoint; clear what a run stopped before its first one left."""
    step = checkpoint.latest_iteration(run_dir)
    if step is not None:
        raise ConfigError(
            f"{run_dir} already holds a run checkpointed at iteration {step}: continue it with"
            f" --resume {run_dir} (jaxrl.resume) or choose another folder"
        )
    if parallel.is_writer() and (run_dir / runlog.CONFIG_FILE).is_file():
        runlog.clear_outputs(run_dir)
        shutil.rmtree(run_dir / checkpoint.FOLDER, ignore_errors=True)
    _sync("jaxrl: run folder prepared")


Callback = Callable[[dict[str, Any], TrainState], None]


class Programs(NamedTuple):
    """The compiled, seed-vmapped programs of a run and what compiling them measured."""

    chunk: jax.stages.Compiled  # (state, members, iterations) -> (state, summed metrics)
    evaluate: Callable[..., tuple[jax.Array, jax.Array]]
    phases: dict[int, jax.stages.Compiled]  # the learner's phases that the schedule uses
    schedule: dict[int, list[int]]  # iteration -> indices of the phases run after it
    memory_bytes: int | None
    compile_seconds: float
    # (state, members, eval returns per seed) -> state: the learner's on_evaluation, if it has one
    evaluated: Callable[..., TrainState] | None = None


def _initial_state(
    learner: Learner,
    loop: Loop,
    config: TrainConfig,
    mesh: Any,
    run_dir: Path | None,
    resuming: bool,
    members,
    keys,
    pretrained: Pretrained | None = None,
) -> tuple[TrainState, list[dict[str, Any]], float]:
    """A fresh state (with ``pretrained``'s actor, if given), or the run folder's latest
    checkpoint with the metrics it keeps (those written after it are dropped); and the wall time
    the run had taken before."""
    if not resuming:
        init = jax.vmap(loop.init)
        shardings = parallel.state_shardings(jax.eval_shape(init, keys, members), mesh, config.num_envs)
        state = jax.jit(init, out_shardings=shardings)(keys, members)
        return state if pretrained is None else with_pretrained(state, pretrained, learner), [], 0.0
    state = _restore_state(run_dir, loop, config)
    done_steps = int(state.iteration[0]) * config.steps_per_iteration
    records = [r for r in runlog.read_metrics(run_dir) if r["env_steps"] <= done_steps]
    if parallel.is_writer():
        with runlog.writing(run_dir):
            runlog.keep_metrics_until(run_dir, done_steps)
    return state, records, records[-1]["wall_time"] if records else 0.0


def _compile(
    loop: Loop, learner: Learner, config: TrainConfig, mesh: Any, state: TrainState, members
) -> Programs:
    started = time.perf_counter()
    chunk = _compiled_chunk(loop, config, mesh, state, members)
    evaluate = jax.jit(jax.vmap(loop.evaluate), out_shardings=parallel.replicated(mesh))
    schedule = phase_schedule(learner, config)
    used = sorted({index for indices in schedule.values() for index in indices})
    phases = {index: _compiled_phase(loop, index, config, mesh, state, members) for index in used}
    evaluated = None
    if learner.on_evaluation is not None:

        def keep(state: TrainState, member: TrainConfig, eval_return: jax.Array) -> TrainState:
            aux = learner.on_evaluation(state.params, state.aux, eval_return, member.learner)
            return state._replace(aux=aux)

        shardings = parallel.state_shardings(state, mesh, config.num_envs)
        evaluated = jax.jit(jax.vmap(keep), donate_argnums=0, out_shardings=shardings)
    seconds = time.perf_counter() - started
    return Programs(chunk, evaluate, phases, schedule, footprint_bytes(chunk), seconds, evaluated)


def _callbacks(
    config: TrainConfig,
    run_dir: Path | None,
    records: list[dict[str, Any]],
    start_step: int,
    loggers: Sequence[str],
    on_eval: Callable[[dict[str, Any]], None] | None,
    bar: Any,
    stack: contextlib.ExitStack,
) -> list[Callback]:
    """What happens after each evaluation, in order: the metrics line, the loggers, the
    checkpoint (every process writes its shards), the learning curve, the progress bar and the
    user's ``on_eval``. The metrics line comes first, so a checkpoint never lacks its record."""
    writes: list[Callback] = []  # each OSError they raise (a full disk) is a RunWriteError
    writer = run_dir is not None and parallel.is_writer()
    if writer:
        writes.append(lambda record, state: runlog.append_metrics(run_dir, record))
        for metric_logger in loggers_module.make(loggers, run_dir, to_dict(config), start_step):
            stack.callback(metric_logger.close)
            writes.append(lambda record, state, log=metric_logger.log: log(record))
    if run_dir is not None:
        checkpoints = stack.enter_context(contextlib.closing(checkpoint.manager(run_dir)))
        writes.append(lambda record, state: checkpoint.save(checkpoints, record["iteration"], state))
    if writer:
        title = f"{config.algo} on {config.env}"
        writes.append(lambda record, state: runlog.plot_learning_curve(run_dir, records, title))
    callbacks = [_writes(run_dir, callback) for callback in writes]
    callbacks.append(lambda record, state: _show_progress(bar, config, record))
    if on_eval is not None:
        callbacks.append(lambda record, state: on_eval(record))
    return callbacks


def _writes(run_dir: Path, callback: Callback) -> Callback:
    """``callback``, with an OSError it raises (a full disk) as :class:`runlog.RunWriteError`."""

    def written(record: dict[str, Any], state: TrainState) -> None:
        with runlog.writing(run_dir):
            callback(record, state)

    return written


def _progress_bar(config: TrainConfig, iteration: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=config.num_iterations * config.steps_per_iteration,
        initial=iteration * config.steps_per_iteration,
        unit="step",
        unit_scale=True,
        disable=not (progress and parallel.is_writer()),
        dynamic_ncols=True,
        desc=f"{config.algo} {config.env}",
    )


def _show_progress(bar: Any, config: TrainConfig, record: dict[str, Any]) -> None:
    bar.update(record["iteration"] * config.steps_per_iteration - bar.n)
    train_return = record["train_return"]
    bar.set_postfix(
        **({"stage": record["stage"]} if "stage" in record else {}),
        sps=f"{record['train_sps']:.0f}",
        eval=f"{record['eval_return']:.1f}",
        train="-" if train_return is None else f"{train_return:.1f}",
    )


def _train_until(
    programs: Programs, state: TrainState, members, iteration: int, until: int
) -> tuple[TrainState, dict[str, np.ndarray], float]:
    """Train from ``iteration`` to ``until`` (no phase lies between: phases run after the
    evaluations); returns the state, the metrics summed over the iterations and the seconds
    spent. :class:`TrainingDiverged` if a metric became non-finite."""
    started = time.perf_counter()
    state, sums = programs.chunk(state, members, jnp.int32(until - iteration))
    sums = jax.device_get(sums)
    train_seconds = time.perf_counter() - started
    non_finite = [k for k, v in sums.items() if not np.all(np.isfinite(v))]
    if non_finite:
        raise TrainingDiverged(
            f"{', '.join(non_finite)} became non-finite before iteration {until}; the"
            f" last checkpoint and metrics are those of iteration {iteration}"
        )
    return state, sums, train_seconds


def evaluation_points(config: TrainConfig, schedule: dict[int, list[int]]) -> list[int]:
    """The iterations after which a run evaluates (and checkpoints): every
    ceil(num_iterations / num_evals) iterations, the last, and every iteration after which a
    phase of the learner runs, so each phase is preceded by an evaluation of what it changes."""
    chunk = math.ceil(config.num_iterations / config.num_evals)
    regular = range(chunk, config.num_iterations, chunk)
    return sorted({*regular, config.num_iterations, *schedule})


def _evaluation_record(
    config: TrainConfig, programs: Programs, state: TrainState, members, keys, iteration: int
) -> dict[str, Any]:
    """The evaluation of ``state`` after ``iteration`` iterations, with the run's measurements
    (the caller adds the time, the training metrics and the stage)."""
    returns, lengths = jax.device_get(
        programs.evaluate(state.params, state.aux, state.obs_stats, evaluation_keys(keys, iteration), members)
    )
    return {
        "env_steps": iteration * config.steps_per_iteration,
        "iteration": iteration,
        "eval_return": float(np.mean(returns)),
        "eval_return_std": float(np.std(returns)),
        "eval_return_per_seed": np.mean(returns, axis=1).tolist(),
        "eval_length": float(np.mean(lengths)),
    }


def _train(
    config: TrainConfig,
    mesh: Any,
    run_dir: Path | None,
    progress: bool,
    on_eval: Callable[[dict[str, Any]], None] | None,
    loggers: Sequence[str],
    resuming: bool,
    pretrained: Pretrained | None = None,
) -> TrainResult:
    """Initialise (with ``pretrained``'s actor, if given) or restore, compile, then train in
    chunks between evaluations, calling every callback after each evaluation."""
    _, learner, loop = build(config)
    members, keys = jax.device_put((member_configs(config), member_keys(config)), parallel.replicated(mesh))
    state, records, elapsed_before = _initial_state(
        learner, loop, config, mesh, run_dir, resuming, members, keys, pretrained
    )
    if run_dir is not None and parallel.is_writer():
        with runlog.writing(run_dir):
            runlog.write_config(run_dir, to_dict(config))
    iteration = int(state.iteration[0])
    started = time.perf_counter()
    programs = _compile(loop, learner, config, mesh, state, members)
    points = evaluation_points(config, programs.schedule)
    phase_seconds = 0.0
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(_progress_bar(config, iteration, progress))
        start_step = iteration * config.steps_per_iteration
        callbacks = _callbacks(config, run_dir, records, start_step, loggers, on_eval, bar, stack)
        while iteration < config.num_iterations:
            first, until = iteration, next(point for point in points if point > iteration)
            state, sums, train_seconds = _train_until(programs, state, members, iteration, until)
            iteration = until
            record = {
                **_evaluation_record(config, programs, state, members, keys, iteration),
                "train_sps": (iteration - first) * config.steps_per_iteration / train_seconds,
                "compile_seconds": programs.compile_seconds,
                "memory_bytes": programs.memory_bytes,
                "wall_time": elapsed_before + time.perf_counter() - started,
                **_summarise(sums, iteration - first),
            }
            if programs.schedule:  # the stage evaluated, and the time of the phases its chunk began with
                record["stage"] = sum(len(i) for point, i in programs.schedule.items() if point < iteration)
                record["phase_seconds"] = phase_seconds
            if programs.evaluated is not None:  # before a phase at this iteration reads it
                returns = jnp.asarray(record["eval_return_per_seed"], jnp.float32)
                state = programs.evaluated(state, members, jax.device_put(returns, parallel.replicated(mesh)))
            state, phase_seconds = _run_phases(programs, iteration, state, members, 0.0)
            records.append(record)
            for callback in callbacks:
                callback(record, state)
    return TrainResult(state, records, config)


def _run_phases(
    programs: Programs, iteration: int, state: TrainState, members, seconds: float
) -> tuple[TrainState, float]:
    """The state after the phases scheduled at ``iteration``, and ``seconds`` plus their time."""
    if iteration not in programs.schedule:
        return state, seconds
    started = time.perf_counter()
    for index in programs.schedule[iteration]:
        state = programs.phases[index](state, members)
    jax.block_until_ready(state)
    return state, seconds + time.perf_counter() - started


def resume(
    run_dir: str | Path,
    total_steps: int | None = None,
    progress: bool = True,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    loggers: Sequence[str] = (),
    **fields: Any,
) -> TrainResult:
    """Continue the run in ``run_dir`` from its latest checkpoint, to ``total_steps`` if given.

    ``fields`` (config fields, flat, as :func:`jaxrl.make_config` takes them) may repeat the
    run's stored values; a different value is a :class:`ConfigError` (:func:`check_unchanged`).
    """
    stored = load_config(run_dir)
    if fields:
        proposed = from_dict({**to_dict(stored), **fields})
        check_unchanged(stored, proposed, {name: name + "={}" for name in fields}, run_dir)
    config, done_steps = resume_config(run_dir, total_steps)
    if done_steps is None:
        raise ConfigError(f"--resume={run_dir} has no checkpoint to resume from")
    return train(config, run_dir, progress=progress, on_eval=on_eval, loggers=loggers, _resume=True)


def train_or_resume(
    config: TrainConfig,
    run_dir: str | Path,
    progress: bool = True,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    loggers: Sequence[str] = (),
) -> TrainResult:
    """Train ``config`` in ``run_dir``, or continue it from the folder's latest checkpoint: what a
    script that may be killed and run again calls. The stored config must equal ``config`` in
    every field but the total steps (a :class:`ConfigError` names the first that differs), so
    that a changed setting never passes for the folder's older run."""
    if checkpoint.latest_iteration(run_dir) is None:
        return train(config, run_dir, progress=progress, on_eval=on_eval, loggers=loggers)
    check_unchanged(load_config(run_dir), config, {name: name + "={}" for name in to_dict(config)}, run_dir)
    return resume(run_dir, config.total_steps, progress=progress, on_eval=on_eval, loggers=loggers)


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def check_unchanged(
    stored: TrainConfig,
    proposed: TrainConfig,
    sources: dict[str, str],
    run_dir: str | Path,
    total_steps_name: str = "total_steps",
) -> None:
    """The rule of what may change when a run continues: every field in ``sources`` must hold
    its stored value in ``proposed``, except the total steps, which :func:`resume_config` lets
    grow. ``sources`` maps a field to how the caller set it, with ``{}`` where the value goes
    (``"--preset=cpu (which sets num_envs={})"``); ConfigError names the first that differs."""
    command = json.loads(json.dumps(to_dict(proposed)))
    saved = json.loads(json.dumps(to_dict(stored)))
    for field, source in sources.items():
        if field != "total_steps" and command[field] != saved[field]:
            raise ConfigError(
                f"{source.format(_shown(command[field]))} differs from the run's stored"
                f" {field}={_shown(saved[field])} ({Path(run_dir) / runlog.CONFIG_FILE}); only"
                f" {total_steps_name} may change when resuming"
            )


def resume_config(
    run_dir: str | Path, total_steps: int | None = None, name: Naming = python_name
) -> tuple[TrainConfig, int | None]:
    """The stored config of ``run_dir`` (to ``total_steps`` if given) and the environment steps
    of its latest checkpoint (None without one); ConfigError, naming the field by ``name``, if
    ``total_steps`` is below them."""
    config = load_config(run_dir)
    if total_steps is not None:
        steps = configs.coerce(TrainConfig.__dataclass_fields__["total_steps"], total_steps, name)
        config = config.replace(total_steps=steps)
        validate(config, name)
    iteration = checkpoint.latest_iteration(run_dir)
    if iteration is None:
        return config, None
    done_steps = iteration * config.steps_per_iteration
    if config.total_steps < done_steps:
        raise ConfigError(
            f"{name('total_steps')}={config.total_steps} is less than the {done_steps} steps {run_dir}"
            f" has already trained; the total may only grow"
        )
    return config, done_steps


def _check_not_a_file(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file, not a run folder")


def load_config(run_dir: str | Path) -> TrainConfig:
    """The config stored in ``run_dir``; ConfigError, one line naming the file, if it is missing,
    unreadable or not a valid config."""
    run_dir = Path(run_dir)
    _check_not_a_file(run_dir)
    path = run_dir / runlog.CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no {runlog.CONFIG_FILE}: not a jaxrl run folder")
    values = runlog.read_config(run_dir)
    try:
        return from_dict(values)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{path} holds values that do not form a config: {error}") from None


def _restored_run(run_dir: str | Path) -> tuple[TrainConfig, Loop, Any, TrainState]:
    config = load_config(run_dir)
    if checkpoint.latest_iteration(run_dir) is None:
        raise ConfigError(f"run folder {str(run_dir)!r} has no checkpoint yet")
    env, learner, loop = build(config)
    return config, loop, learner, _restore_state(Path(run_dir), loop, config)


def policy_of(
    config: TrainConfig, state: TrainState, seed_index: int = 0, deterministic: bool = False
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A jitted ``(obs, key) -> action`` of seed ``seed_index`` of a training state.

    Observations are normalised as in training; ``deterministic`` ignores the key and returns
    the evaluation action. Works on one observation or a batch.
    """
    _, learner, _ = build(config)
    params, aux, stats = jax.tree.map(lambda x: x[seed_index], (state.params, state.aux, state.obs_stats))
    config_of_seed = jax.tree.map(lambda x: x[seed_index], member_configs(config))

    @jax.jit
    def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
        return policy_action(learner, config_of_seed, params, aux, stats, obs, key, deterministic)[0]

    return policy


def load_policy(
    run_dir: str | Path, seed_index: int = 0, deterministic: bool = False
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """:func:`policy_of` the run's latest checkpoint."""
    config, _, _, state = _restored_run(run_dir)
    return policy_of(config, state, seed_index, deterministic)


def evaluate_run(
    run_dir: str | Path, episodes: int = 100, seed: int = 0, deterministic: bool = True
) -> np.ndarray:
    """Returns of ``episodes`` episodes for each seed of the run: shape [num_seeds, episodes]."""
    config, loop, _, state = _restored_run(run_dir)
    members = member_configs(config.replace(eval_envs=episodes))
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(jnp.arange(config.num_seeds))
    evaluate = jax.jit(jax.vmap(lambda p, a, s, k, c: loop.evaluate(p, a, s, k, c, deterministic)))
    returns, _ = evaluate(state.params, state.aux, state.obs_stats, keys, members)
    return np.asarray(returns)
