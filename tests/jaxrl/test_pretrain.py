"""Behaviour cloning (jaxrl.pretrain, experiments.pretrain) and starting a run from its actor
(--init-from): tiny networks on toy/pointmass expert data, a few epochs."""

import dataclasses
import hashlib
import importlib
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
import jaxrl
from experiments import pretrain as pretrain_cli
from experiments import train as train_cli
from jaxrl import data, experts, training
from jaxrl.learners.base import actor_keys
from jaxrl.pretrain import CloneConfig, ema_of, pretrain, track_ema
from tests import tiny

CLONING = [name for name in jaxrl.LEARNERS if name != "gorl"]
FEW_EPOCHS = CloneConfig(epochs=5, batch_size=64, patience=5)


@pytest.fixture(scope="module")
def demos():
    env = envs.make("toy/pointmass", episode_length=50)
    return experts.collect(env, experts.expert("pointmass", env), 20, jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def demos_file(demos, tmp_path_factory):
    return data.save(tmp_path_factory.mktemp("data") / "pointmass.npz", demos, {"expert": "pointmass"})


@pytest.fixture(scope="module")
def pretrained(demos, tmp_path_factory):
    """A PPO run folder pre-trained for two epochs, and its result."""
    run_dir = tmp_path_factory.mktemp("runs") / "pretrained"
    config = jaxrl.make_config("ppo", **tiny.TINY)
    result = pretrain(config, demos, run_dir, CloneConfig(epochs=2, batch_size=64), progress=False)
    return run_dir, result


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def one_error_line(capsys, call) -> str:
    with pytest.raises(SystemExit) as exit_info:
        call()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_gorl_has_no_clone_loss():
    assert jaxrl.make_learner("gorl", 6, 2).clone_loss is None


@pytest.mark.parametrize("algo", CLONING)
def test_cloning_lowers_the_held_out_loss(demos, algo):
    config = jaxrl.make_config(algo, **tiny.TINY)
    result = pretrain(config, demos, None, FEW_EPOCHS, progress=False)
    losses = [record["held_out_loss"] for record in result.records]
    assert result.best_held_out_loss == min(losses) < losses[0], losses


def test_a_pretrained_run_is_a_run(pretrained):
    run_dir, result = pretrained
    assert {"config.json", "pretrain.jsonl", "pretrain_curve.png"} <= {p.name for p in run_dir.iterdir()}
    assert len((run_dir / "pretrain.jsonl").read_text().splitlines()) == len(result.records)
    assert jaxrl.evaluate_run(run_dir, episodes=2).shape == (1, 2)
    stats = result.state.obs_stats
    assert float(stats.count[0]) > 0  # the data's statistics, not empty ones


def test_init_from_starts_from_the_pretrained_actor_and_statistics(pretrained):
    run_dir, result = pretrained
    config = jaxrl.make_config("ppo", **tiny.TINY, seed=1, num_seeds=2, init_from=str(run_dir))
    state = training.initial_state(config)
    fresh = training.initial_state(config.replace(init_from=""))

    def leaves(tree):
        return jax.tree.leaves(tree)

    learner = training.build(config)[1]
    pretrained_actor = {key: result.state.params[key] for key in actor_keys(learner, result.state.params)}
    started_actor = {key: state.params[key] for key in actor_keys(learner, state.params)}
    for a, b in zip(leaves(started_actor), leaves(pretrained_actor), strict=True):
        for seed in range(2):
            np.testing.assert_array_equal(a[seed], b[0])
    for a, b in zip(leaves(state.obs_stats), leaves(result.state.obs_stats), strict=True):
        np.testing.assert_array_equal(a[1], b[0])
    for a, b in zip(leaves(state.params["value"]), leaves(fresh.params["value"]), strict=True):
        np.testing.assert_array_equal(a, b)  # the critic is the fresh one
    obs = jnp.linspace(-1.0, 1.0, 12).reshape(2, 6)
    started = training.policy_of(config, state, seed_index=1, deterministic=True)
    loaded = jaxrl.load_policy(run_dir, deterministic=True)
    np.testing.assert_array_equal(started(obs, jax.random.PRNGKey(0)), loaded(obs, jax.random.PRNGKey(0)))


@pytest.mark.parametrize(
    "flags, shown",
    [
        (["--algo", "bpo"], "this run is bpo"),
        (["--algo", "ppo", "--policy-hidden", "32"], "policy_hidden=32"),
    ],
)
def test_init_from_another_algo_or_size_is_refused_in_one_line(pretrained, tmp_path, capsys, flags, shown):
    run_dir, _ = pretrained
    flags = [*tiny.flags(), *flags, "--init-from", str(run_dir), "--run-dir", str(tmp_path / "new")]
    line = one_error_line(capsys, lambda: train_cli.main(flags))
    assert f"--init-from={run_dir} holds ppo" in line and shown in line and "does not fit" in line
    assert not (tmp_path / "new").exists()


def test_a_refused_pretrain_leaves_the_folder_unchanged(pretrained, demos_file, capsys):
    run_dir, _ = pretrained
    before = snapshot(run_dir)
    args = ["--algo", "ppo", "--data", str(demos_file), "--run-dir", str(run_dir), *tiny.flags()]
    assert "already holds a run" in one_error_line(capsys, lambda: pretrain_cli.main(args))
    assert snapshot(run_dir) == before


def test_pretrain_refuses_data_of_other_sizes_before_writing(tmp_path, capsys):
    env = envs.make("toy/multigoal")
    path = data.save(
        tmp_path / "multigoal.npz",
        experts.collect(env, experts.expert("multigoal", env), 2, jax.random.PRNGKey(0)),
        {},
    )
    args = ["--algo", "ppo", "--data", str(path), "--run-dir", str(tmp_path / "run"), *tiny.flags()]
    assert "states have 2 dimensions" in one_error_line(capsys, lambda: pretrain_cli.main(args))
    assert not (tmp_path / "run").exists()


def test_init_from_a_folder_without_a_run_is_refused_in_one_line(tmp_path, capsys):
    flags = [*tiny.flags(), "--init-from", str(tmp_path), "--run-dir", str(tmp_path / "new")]
    line = one_error_line(capsys, lambda: train_cli.main(flags))
    assert line.startswith(f"error: --init-from={tmp_path}:") and "not a jaxrl run folder" in line
    assert not (tmp_path / "new").exists()


def test_the_kept_parameters_are_the_bias_corrected_moving_average():
    optimizer = track_ema(0.5)
    params = jnp.zeros(())
    state = optimizer.init(params)
    for target in (1.0, 4.0):  # the parameters after each step
        _, state = optimizer.update(jnp.asarray(target) - params, state, params)
        params = jnp.asarray(target)
    # (0.25 * 1 + 0.5 * 4) / (1 - 0.5^2): the later step weighted twice the earlier
    np.testing.assert_allclose(ema_of((None, state), 0.5), 3.0)


def test_dppo_fine_tunes_from_a_cloned_actor_with_its_early_steps_frozen(demos, tmp_path):
    config = jaxrl.make_config("dppo", **tiny.TINY, denoising_steps=4, finetune_steps=2)
    pretrain(config, demos, tmp_path / "bc", FEW_EPOCHS, progress=False)
    tuned = jaxrl.train(config.replace(init_from=str(tmp_path / "bc")), tmp_path / "ft", progress=False)
    cloned = training._restored_run(tmp_path / "bc")[3].params["policy"]
    frozen = tuned.state.aux["frozen_policy"]
    for kept, start in zip(jax.tree.leaves(frozen), jax.tree.leaves(cloned), strict=True):
        np.testing.assert_array_equal(kept[0], start[0])


def test_a_killed_pretraining_continues_to_the_uninterrupted_result(demos, tmp_path, monkeypatch):
    module = importlib.import_module("jaxrl.pretrain")
    config = jaxrl.make_config("ppo", **tiny.TINY)
    clone = CloneConfig(epochs=4, batch_size=64, patience=4)
    whole = pretrain(config, demos, tmp_path / "whole", clone, progress=False)
    save = module.save_progress

    def killed_after_two_epochs(run_dir, progress):
        save(run_dir, progress)
        if progress.done == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(module, "save_progress", killed_after_two_epochs)
    split = tmp_path / "split"
    with pytest.raises(KeyboardInterrupt):
        pretrain(config, demos, split, clone, progress=False)
    monkeypatch.undo()
    assert checkpoint_free(split) and (split / module.PROGRESS_FILE).is_file()
    before = snapshot(split)
    message = "stopped after epoch 2 with other clone field epochs: 4 there, 5 now"
    with pytest.raises(jaxrl.ConfigError, match=message):
        pretrain(config, demos, split, dataclasses.replace(clone, epochs=5), progress=False)
    assert snapshot(split) == before
    resumed = pretrain(config, demos, split, clone, progress=False)
    assert resumed.records == whole.records and resumed.best_epoch == whole.best_epoch
    chex.assert_trees_all_equal(resumed.state.params, whole.state.params)
    assert (split / "pretrain.jsonl").read_text() == (tmp_path / "whole" / "pretrain.jsonl").read_text()
    assert not (split / module.PROGRESS_FILE).exists()


def checkpoint_free(run_dir: Path) -> bool:
    return not (run_dir / "checkpoints").exists()
