"""Pre-training a learner's actor on demonstrations (behaviour cloning), into a run folder that
training can start from.

:func:`pretrain` builds the learner of a :class:`~jaxrl.config.TrainConfig`, fixes the
observation statistics to the training demonstrations' (so the actor sees the states normalised
exactly as it will act on them), and fits the actor with the learner's own ``clone_loss``
(:class:`~jaxrl.learners.base.Learner`) by minibatch Adam through the loop's
:func:`jaxrl.optim.minibatch_sgd`, on a cosine learning-rate decay. Whole trajectories are held
out (:func:`jaxrl.data.split`); the held-out loss is measured after every epoch, the best
held-out parameters are kept, and fitting stops after ``patience`` epochs without improvement.
With a run folder it writes what a training run would: ``config.json``, ``pretrain.jsonl`` (one
line per epoch: epoch, train_loss, held_out_loss), a loss curve (``pretrain_curve.png``) and a
checkpoint at iteration 0 of a whole :class:`~jaxrl.loop.TrainState` (the fitted actor in every
seed, fresh critics, optimiser and environments), so :func:`jaxrl.load_policy`,
:func:`jaxrl.evaluate_run`, ``experiments.evaluate`` and ``--init-from`` read it as any run.
Until that checkpoint, the fit's state after every epoch (``pretrain_progress.npz``, beside
``pretrain_settings.json``: the cloning settings and a digest of the demonstrations) lets a
killed pre-training continue exactly where it stopped.
As the references do, the parameters kept and evaluated are an exponential moving average
(decay 0.995, bias-corrected, updated every step rather than every 10th after a warm-up). What
it does not do: the references' action chunks and min-max scaling of observations (states are
standardised by the loop's statistics instead); and one actor is fitted (seed ``config.seed``)
and copied into every seed of the state. GoRL, which has no ``clone_loss``, is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl import checkpoint, data, normalize, optim, runlock, runlog
from jaxrl.config import ConfigError, TrainConfig, to_dict
from jaxrl.learners.base import Learner, actor_keys
from jaxrl.loop import TrainState
from jaxrl.registry import validate
from jaxrl.rollout import observe

RECORDS_FILE, CURVE_FILE = "pretrain.jsonl", "pretrain_curve.png"
# Where a pre-training stands after each epoch (removed once its checkpoint is written): what it
# was started with, and the fit's state, so that a killed one continues where it stopped.
SETTINGS_FILE, PROGRESS_FILE = "pretrain_settings.json", "pretrain_progress.npz"


@dataclasses.dataclass(frozen=True)
class CloneConfig:
    """How the actor is fitted; the defaults are ReinFlow's pre-training (batch 128, Adam at
    1e-3 decayed by a cosine to 1e-4), with early stopping on the held-out loss."""

    epochs: int = 200
    batch_size: int = 128
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    held_out_fraction: float = 0.1
    patience: int = 20
    ema_decay: float = 0.995  # of the parameters, bias-corrected; 0: the parameters themselves

    def check(self) -> None:
        """ConfigError, one line, for the first value that cannot work."""
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}={value} is invalid: expected a positive integer")
        for name in ("learning_rate", "final_learning_rate"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}={value} is invalid: expected a positive number")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay={self.ema_decay} is invalid: expected a number in [0, 1)")
        if not 0.0 < self.held_out_fraction < 1.0:
            raise ConfigError(
                f"held_out_fraction={self.held_out_fraction} is invalid: expected a number in (0, 1)"
            )


class PretrainResult(NamedTuple):
    state: TrainState  # leaves carry a leading axis of num_seeds
    records: list[dict[str, Any]]  # one per epoch: epoch, train_loss, held_out_loss
    best_held_out_loss: float
    best_epoch: int


def data_stats(states: np.ndarray) -> normalize.RunningStats:
    """Observation statistics (mean and variance) of the demonstrations' states."""
    return normalize.update(normalize.RunningStats.zeros(states.shape[-1]), jnp.asarray(states))


def epoch_indices(key: jax.Array, count: int, batch_size: int) -> jax.Array:
    """One epoch's minibatches [M, B] of a random permutation of ``count`` rows (the last partial
    minibatch dropped; one minibatch of all rows when there are fewer than ``batch_size``)."""
    size = min(batch_size, count)
    return jax.random.permutation(key, count)[: (count // size) * size].reshape(-1, size)


class EmaState(NamedTuple):
    steps: jax.Array
    ema: Any  # the decayed sum of the parameters after each step, not yet bias-corrected


def track_ema(decay: float) -> optax.GradientTransformation:
    """Leaves the updates as they are and keeps, in its state, the exponential moving average of
    the parameters each update leads to (see :func:`ema_of`)."""

    def init(params):
        return EmaState(jnp.zeros((), jnp.int32), jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params):
        stepped = optax.apply_updates(params, updates)
        ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema, stepped)
        return updates, EmaState(state.steps + 1, ema)

    return optax.GradientTransformation(init, update)


def ema_of(opt_state: Any, decay: float) -> Any:
    """The bias-corrected average ema / (1 - decay^steps) of :func:`make_optimizer`'s state: a
    weighted mean of the parameters after every step so far, the latest weighted most."""
    state: EmaState = opt_state[1]
    correction = 1.0 - jnp.asarray(decay, jnp.float32) ** state.steps
    return jax.tree.map(lambda e: e / correction, state.ema)


def make_optimizer(clone: CloneConfig, steps: int) -> optax.GradientTransformation:
    """Adam on a cosine decay from ``learning_rate`` to ``final_learning_rate`` over ``steps``,
    with the parameters' moving average (:func:`track_ema`) in its state."""
    schedule = optax.cosine_decay_schedule(
        clone.learning_rate, max(steps, 1), alpha=clone.final_learning_rate / clone.learning_rate
    )
    return optax.chain(optax.adam(schedule), track_ema(clone.ema_decay))


def _programs(learner: Learner, config: TrainConfig, stats, optimizer, critics: dict[str, Any]):
    """The jitted ``epoch(actor, opt_state, obs, actions, indices, key) -> (actor, opt_state,
    mean train loss)`` (that of the trained, not the averaged, parameters) and
    ``held_out(actor, obs, actions, key) -> loss`` of the clone loss on raw states, normalised
    under ``stats``; ``critics`` complete the parameters, untrained."""

    def loss(actor, minibatch, key):
        obs, action = minibatch
        params = {**critics, **actor}
        value, metrics = learner.clone_loss(params, observe(config, stats, obs), action, key, config.learner)
        return value, {**metrics, "loss": value}

    @jax.jit
    def epoch(actor, opt_state, obs, actions, indices, key):
        actor, opt_state, metrics = optim.minibatch_sgd(
            loss, optimizer, actor, opt_state, (obs, actions), indices, key
        )
        return actor, opt_state, jnp.mean(metrics["loss"])

    @jax.jit
    def held_out(actor, obs, actions, key):
        return loss(actor, (obs, actions), key)[0]

    return epoch, held_out


class FitProgress(NamedTuple):
    """Where a fit stands after an epoch: enough to continue it exactly."""

    arrays: Any  # (actor, opt_state, key, best actor): the trained and the kept parameters
    best_loss: float
    best_epoch: int
    records: list[dict[str, Any]]  # one per epoch done

    @property
    def done(self) -> int:
        return len(self.records)


def fit(
    learner: Learner,
    config: TrainConfig,
    params: Any,
    stats: normalize.RunningStats,
    train: data.Demonstrations,
    held_out: data.Demonstrations,
    clone: CloneConfig,
    key: jax.Array,
    on_epoch=None,
    progress: FitProgress | None = None,
) -> tuple[Any, list[dict[str, Any]], int]:
    """The actor parameters of ``params`` fitted on ``train`` (the critics untouched), the
    per-epoch records and the best epoch: the returned actor is the parameters' moving average
    at the epoch of the best held-out loss (the held-out loss is the average's). ``on_epoch``
    gets each epoch's :class:`FitProgress`; a fit given one continues from it exactly."""
    steps_per_epoch = max(len(train.states) // clone.batch_size, 1)
    optimizer = make_optimizer(clone, clone.epochs * steps_per_epoch)
    actor = {k: params[k] for k in actor_keys(learner, params)}
    critics = {k: v for k, v in params.items() if k not in actor}
    epoch, held_out_loss = _programs(learner, config, stats, optimizer, critics)
    train_obs, train_actions = jnp.asarray(train.states), jnp.asarray(train.actions)
    held_obs, held_actions = jnp.asarray(held_out.states), jnp.asarray(held_out.actions)
    held_key, key = jax.random.split(key)  # one fixed draw of (t, noise): epochs compare alike
    fresh = (actor, optimizer.init(actor), key, actor)
    progress = progress or FitProgress(fresh, math.inf, 0, [])
    arrays = progress.arrays
    if isinstance(arrays, list):  # leaves read from disk
        arrays = jax.tree.unflatten(jax.tree.structure(fresh), arrays)
    (actor, opt_state, key, best), best_loss, best_epoch, records = arrays, *progress[1:]
    records = list(records)
    stopped = best_epoch and len(records) - best_epoch >= clone.patience
    for index in range(len(records) + 1, 0 if stopped else clone.epochs + 1):
        key, order_key, step_key = jax.random.split(key, 3)
        indices = epoch_indices(order_key, len(train.states), clone.batch_size)
        actor, opt_state, train_loss = epoch(actor, opt_state, train_obs, train_actions, indices, step_key)
        averaged = ema_of(opt_state, clone.ema_decay)
        loss = float(held_out_loss(averaged, held_obs, held_actions, held_key))
        records.append({"epoch": index, "train_loss": float(train_loss), "held_out_loss": loss})
        if loss < best_loss:
            best, best_loss, best_epoch = averaged, loss, index
        if on_epoch is not None:
            on_epoch(FitProgress((actor, opt_state, key, best), best_loss, best_epoch, list(records)))
        if index - best_epoch >= clone.patience:
            break
    return {**params, **best}, records, best_epoch


def with_actor(learner: Learner, state: TrainState, params: Any, stats: normalize.RunningStats) -> TrainState:
    """``state`` (a leading seed axis) with the actor of one seed's ``params`` and ``stats`` in
    every seed; its critics, optimiser, environments and keys are left as they are."""
    seeds = jax.tree.leaves(state.iteration)[0].shape[0]
    broadcast = lambda x: jnp.broadcast_to(x, (seeds, *jnp.shape(x)))  # noqa: E731
    actor = {k: jax.tree.map(broadcast, params[k]) for k in actor_keys(learner, params)}
    return state._replace(params={**state.params, **actor}, obs_stats=jax.tree.map(broadcast, stats))


def save_progress(run_dir: Path, progress: FitProgress) -> None:
    """The fit's state after an epoch, written atomically: a kill leaves the last one whole."""
    meta = {"best_loss": progress.best_loss, "best_epoch": progress.best_epoch, "records": progress.records}
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(progress.arrays)]

    def write(path: Path) -> None:
        with open(path, "wb") as file:
            np.savez(file, *leaves, meta=np.array(json.dumps(meta)))

    runlog.atomic_write(run_dir / PROGRESS_FILE, write)


def write_records(run_dir: Path, records: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(record) + "\n" for record in records)
    runlog.atomic_write(run_dir / RECORDS_FILE, lambda p: p.write_text(text))


def load_progress(run_dir: Path) -> FitProgress:
    """The progress :func:`save_progress` wrote, its arrays as a list of leaves."""
    with np.load(run_dir / PROGRESS_FILE) as stored:
        meta = json.loads(str(stored["meta"]))
        leaves = [stored[f"arr_{index}"] for index in range(len(stored.files) - 1)]
    return FitProgress(leaves, meta["best_loss"], meta["best_epoch"], meta["records"])


def demos_digest(demos: data.Demonstrations) -> str:
    """A digest of the demonstrations' states, actions and trajectory lengths."""
    digest = hashlib.sha256()
    for array in (demos.states, demos.actions, demos.traj_lengths):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def check_resumable(run_dir: Path, settings: dict[str, Any]) -> None:
    """ConfigError, one line, when the pre-training stopped in ``run_dir`` was started with other
    ``settings`` (its config, cloning settings or demonstrations) than these."""
    stored = {
        "config": json.loads((run_dir / runlog.CONFIG_FILE).read_text()),
        **json.loads((run_dir / SETTINGS_FILE).read_text()),
    }
    epochs = len(load_progress(run_dir).records)
    for part in ("config", "clone", "data"):
        old, new = stored.get(part), settings[part]
        if old != new:
            if isinstance(old, dict) and isinstance(new, dict):
                name = next(k for k in sorted({*old, *new}) if old.get(k) != new.get(k))
                what = f"{part} field {name}: {old.get(name)} there, {new.get(name)} now"
            else:
                what = "demonstrations (another digest)"
            raise ConfigError(
                f"{run_dir} holds a pre-training stopped after epoch {epochs} with other {what}:"
                " give its own settings to continue it, or choose another run folder"
            )


def check_folder(run_dir: Path) -> None:
    """ConfigError, one line, for a folder that is a file or already holds another run (a
    checkpoint, training metrics, or a config without pre-training records); nothing is written.
    A pre-training stopped before its checkpoint continues (:func:`pretrain`)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file, not a run folder")
    step = checkpoint.latest_iteration(run_dir)
    if step is not None:
        raise ConfigError(
            f"{run_dir} already holds a run checkpointed at iteration {step}: choose another run folder"
        )
    has_config = (run_dir / runlog.CONFIG_FILE).is_file()
    if (run_dir / runlog.METRICS_FILE).is_file() or (has_config and not (run_dir / RECORDS_FILE).is_file()):
        raise ConfigError(f"{run_dir} already holds a training run: choose another run folder")


def _clear(run_dir: Path) -> None:
    """Remove what a pre-training stopped before its first epoch's progress left."""
    for name in (RECORDS_FILE, CURVE_FILE, SETTINGS_FILE, PROGRESS_FILE):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / checkpoint.FOLDER, ignore_errors=True)


def plot_losses(path: Path, records: list[dict[str, Any]], title: str) -> None:
    """The training and held-out clone losses against epochs (a bare Figure: no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    axis = fig.subplots()
    epochs = [r["epoch"] for r in records]
    for name, label in (("train_loss", "train"), ("held_out_loss", "held out")):
        axis.plot(epochs, [r[name] for r in records], marker="o", markersize=3, label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel("clone loss")
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(title)
    fig.tight_layout()
    runlog.atomic_write(path, lambda p: fig.savefig(p, dpi=100, format="png"))


def pretrain(
    config: TrainConfig,
    demos: data.Demonstrations,
    run_dir: str | Path | None = None,
    clone: CloneConfig = CloneConfig(),  # noqa: B008 (frozen)
    progress: bool = True,
) -> PretrainResult:
    """Fit ``config``'s learner's actor to ``demos`` (see the module's description); with
    ``run_dir``, write a run folder there, holding its lock. ConfigError, one line, before
    anything compiles or is written, for a learner without ``clone_loss``, demonstrations of
    other sizes than the environment's, invalid ``clone`` settings or a folder holding a run.

    A pre-training killed in ``run_dir`` continues from its last finished epoch, to the result an
    uninterrupted one gives, when it is given the same config, cloning settings and
    demonstrations (a one-line ConfigError names the first that differs)."""
    from jaxrl.training import build

    validate(config)
    clone.check()
    env, learner, loop = build(config)
    if learner.clone_loss is None:
        raise ConfigError(
            f"{config.algo} has no clone_loss: its actor cannot be pre-trained on demonstrations"
        )
    data.check(demos, env.observation_size, env.env.action_size, "demonstrations")
    demos = data.chunks(demos, env.action_chunk)  # a chunked policy clones windows of actions
    train, held_out = data.split(demos, clone.held_out_fraction, config.seed)
    if run_dir is None:
        return _pretrain(config, loop, learner, train, held_out, clone, None, progress)
    run_dir = Path(run_dir)
    settings = {"config": to_dict(config), "clone": dataclasses.asdict(clone), "data": demos_digest(demos)}
    settings = json.loads(json.dumps(settings))  # as stored: tuples are lists there
    check_folder(run_dir)
    with runlock.hold(run_dir):
        check_folder(run_dir)
        stopped = None
        if (run_dir / PROGRESS_FILE).is_file():
            check_resumable(run_dir, settings)
            stopped = load_progress(run_dir)
            write_records(run_dir, stopped.records)  # a kill may have left one more
        else:
            _clear(run_dir)
            runlog.write_config(run_dir, settings["config"])
            text = json.dumps({k: settings[k] for k in ("clone", "data")}, indent=1) + "\n"
            runlog.atomic_write(run_dir / SETTINGS_FILE, lambda p: p.write_text(text))
        return _pretrain(config, loop, learner, train, held_out, clone, run_dir, progress, stopped)


def _pretrain(
    config, loop, learner, train, held_out, clone, run_dir, progress, stopped: FitProgress | None = None
) -> PretrainResult:
    from tqdm.auto import tqdm

    from jaxrl.training import member_configs, member_keys

    state = jax.jit(jax.vmap(loop.init))(member_keys(config), member_configs(config))
    stats = data_stats(train.states)
    done = stopped.done if stopped is not None else 0
    with tqdm(
        total=clone.epochs,
        initial=done,
        unit="epoch",
        disable=not progress,
        desc=f"pretrain {config.algo} {config.env}",
    ) as bar:

        def on_epoch(fitted: FitProgress) -> None:
            record = fitted.records[-1]
            if run_dir is not None:
                save_progress(run_dir, fitted)
                write_records(run_dir, fitted.records)
            bar.update(1)
            bar.set_postfix(train=f"{record['train_loss']:.4f}", held_out=f"{record['held_out_loss']:.4f}")

        first = jax.tree.map(lambda x: x[0], state.params)
        key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 2)
        params, records, best_epoch = fit(
            learner, config, first, stats, train, held_out, clone, key, on_epoch, stopped
        )
    state = with_actor(learner, state, params, stats)
    best = records[best_epoch - 1]["held_out_loss"]
    if run_dir is not None:
        plot_losses(run_dir / CURVE_FILE, records, f"pre-training {config.algo} on {config.env}")
        with checkpoint.manager(run_dir) as checkpoints:
            checkpoint.save(checkpoints, 0, state)
        (run_dir / PROGRESS_FILE).unlink()  # the checkpoint holds the result now
    return PretrainResult(state, records, best, best_epoch)
