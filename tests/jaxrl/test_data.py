"""Demonstrations: the .npz file round-trips and every bad file is one line naming the problem;
min-max scaling; selecting whole trajectories; the scripted experts; experiments.collect end to
end on a tiny trained run, and every refused command writes nothing."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import envs
import jaxrl
from envs.toy import goal_shares
from experiments import collect
from jaxrl import data, experts, runlog
from jaxrl.config import ConfigError, to_dict
from tests import tiny

ROOT = Path(__file__).resolve().parents[2]
TINY_RUN = {**tiny.TINY, "total_steps": 512, "num_evals": 1}  # a checkpointed run in seconds


def demos(lengths=(3, 4, 2), obs=3, act=2, seed=0) -> data.Demonstrations:
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    terminals = np.zeros(n, bool)
    terminals[np.cumsum(lengths)[0] - 1] = True  # the first trajectory terminated, the others were cut
    return data.Demonstrations(
        states=rng.normal(size=(n, obs)).astype(np.float32),
        actions=rng.uniform(-1, 1, size=(n, act)).astype(np.float32),
        rewards=rng.normal(size=n).astype(np.float32),
        terminals=terminals,
        traj_lengths=np.asarray(lengths, np.int64),
    )


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.collect", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_save_then_load_round_trips_exactly(tmp_path):
    original = demos()
    path = data.save(tmp_path / "demos.npz", original, {"env": "toy/pointmass", "seed": 3})
    loaded = data.load(path, observation_size=3, action_size=2)
    for name, array in original._asdict().items():
        stored = getattr(loaded, name)
        assert stored.dtype == array.dtype and np.array_equal(stored, array), name
    provenance = data.read_provenance(path)
    assert provenance["env"] == "toy/pointmass" and provenance["seed"] == 3 and "created" in provenance
    assert (provenance["transitions"], provenance["trajectories"]) == (9, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demos.json", "demos.npz"]  # no temporary left


def _arrays(**changes):
    return {**demos()._asdict(), **changes}


BAD_FILES = {
    "missing": (None, "no such demonstrations file"),
    "not a zip": (b"states,actions\n1,2\n", "is not an .npz archive"),
    "missing key": ({k: v for k, v in _arrays().items() if k != "actions"}, "has no actions array"),
    "nan": (_arrays(states=np.where(np.eye(9, 3) > 0, np.nan, 0.0)), "states holds 3 NaN or infinite"),
    "inf reward": (_arrays(rewards=np.full(9, np.inf)), "rewards holds 9 NaN or infinite"),
    "empty": (
        _arrays(
            states=np.zeros((0, 3)),
            actions=np.zeros((0, 2)),
            rewards=np.zeros(0),
            terminals=np.zeros(0),
            traj_lengths=np.zeros(0, int),
        ),
        "is empty",
    ),
    "lengths not summing": (
        _arrays(traj_lengths=np.array([3, 4, 3])),
        "traj_lengths sum to 10 but there are 9",
    ),
    "zero length": (_arrays(traj_lengths=np.array([3, 6, 0])), "traj_lengths[2]=0 is invalid"),
    "rows differ": (_arrays(actions=np.zeros((8, 2))), "actions has 8 rows but states has 9"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_one_line_naming_the_problem(tmp_path, case):
    content, message = BAD_FILES[case]
    path = tmp_path / "demos.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.savez(path, **content)
    with pytest.raises(ConfigError) as error:
        data.load(path)
    assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


@pytest.mark.parametrize(
    "sizes, message",
    [
        ((6, 2), "states have 3 dimensions but the environment's observations have 6"),
        ((3, 1), "actions have 2 dimensions but the environment's actions have 1"),
    ],
)
def test_sizes_that_do_not_match_the_environment_are_refused(tmp_path, sizes, message):
    path = data.save(tmp_path / "demos.npz", demos(), {})
    with pytest.raises(ConfigError, match=message):
        data.load(path, *sizes)


def test_save_refuses_invalid_demonstrations_and_writes_nothing(tmp_path):
    with pytest.raises(ConfigError, match="traj_lengths sum to 8"):
        data.save(tmp_path / "demos.npz", demos()._replace(traj_lengths=np.array([3, 4, 1])), {})
    assert list(tmp_path.iterdir()) == []


def test_scale_round_trips_and_maps_constant_dimensions_to_zero():
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    x[:, 1] = 2.5  # a constant dimension
    low, high = data.bounds(demos()._replace(states=x)).states
    scaled = np.asarray(data.scale(x, low, high))
    assert np.all(np.isfinite(scaled)) and np.all(scaled[:, 1] == 0.0)
    assert np.allclose(scaled[:, [0, 2]].min(axis=0), -1) and np.allclose(scaled[:, [0, 2]].max(axis=0), 1)
    restored = np.asarray(data.unscale(scaled, low, high))
    assert np.allclose(restored, x, atol=1e-5) and np.all(restored[:, 1] == 2.5)


def test_zero_reward_trajectories_are_dropped_and_split_keeps_whole_trajectories():
    original = demos(lengths=(2, 3, 1, 4, 2))
    rewards = original.rewards.copy()
    rewards[2:5] = 0.0  # the second trajectory earns nothing
    kept = data.drop_zero_reward_trajectories(original._replace(rewards=rewards))
    assert kept.traj_lengths.tolist() == [2, 1, 4, 2] and kept.num_transitions == 9

    train, held_out = data.split(original, 0.4, 0)
    assert (train.num_trajectories, held_out.num_trajectories) == (3, 2)
    data.check(train)
    data.check(held_out)
    rows = {tuple(row) for part in (train, held_out) for row in part.states}
    assert rows == {tuple(row) for row in original.states}  # every transition in exactly one part
    assert sorted([*train.traj_lengths, *held_out.traj_lengths]) == sorted(original.traj_lengths)


def test_the_multigoal_expert_heads_for_all_four_goals():
    env = envs.make("toy/multigoal")
    collected = experts.collect(env, experts.expert("multigoal", env), 64, jax.random.PRNGKey(0))
    data.check(collected, env.observation_size, env.action_size)
    starts = np.cumsum(collected.traj_lengths) - collected.traj_lengths
    shares = np.asarray(goal_shares(collected.actions[starts]))
    assert np.all(shares > 0.1) and shares.sum() == pytest.approx(1.0), shares
    ends = np.cumsum(collected.traj_lengths) - 1
    assert collected.terminals[ends].all() and collected.terminals.sum() == 64  # each reached its goal


def test_the_pointmass_expert_reaches_the_target():
    env = envs.make("toy/pointmass")
    collected = experts.collect(env, experts.expert("pointmass", env), 16, jax.random.PRNGKey(0), 0.1)
    assert collected.traj_lengths.tolist() == [100] * 16 and not collected.terminals.any()
    assert np.mean(data.trajectory_returns(collected)) > 80  # of at most 100


def test_collect_writes_demonstrations_of_a_trained_run(tmp_path):
    run_dir = tmp_path / "run"
    jaxrl.train(jaxrl.make_config("ppo", **TINY_RUN), run_dir, progress=False)
    out = tmp_path / "demos.npz"
    result = cli("--run-dir", str(run_dir), "--episodes", "6", "--action-noise", "0.1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("6 episodes") and str(out) in lines[0], result.stdout
    env = envs.make("toy/pointmass")
    collected = data.load(out, env.observation_size, env.action_size)
    assert collected.traj_lengths.tolist() == [20] * 6 and np.all(np.abs(collected.actions) <= 1)
    provenance = json.loads(out.with_suffix(".json").read_text())
    assert provenance["env"] == "toy/pointmass" and provenance["action_noise"] == 0.1
    assert provenance["episodes"] == 6 and provenance["source"] == str(run_dir.resolve())


def _no_checkpoint_run(tmp_path):
    run_dir = tmp_path / "fresh"
    run_dir.mkdir()
    runlog.write_config(run_dir, to_dict(jaxrl.make_config("ppo", **TINY_RUN)))
    return ["--run-dir", str(run_dir)]


REFUSED = {
    "neither source": (lambda tmp: [], "exactly one of --run-dir"),
    "both sources": (lambda tmp: ["--run-dir", str(tmp), "--expert", "pointmass"], "exactly one of"),
    "no episodes": (lambda tmp: ["--expert", "pointmass", "--episodes", "0"], "--episodes=0"),
    "negative noise": (
        lambda tmp: ["--expert", "pointmass", "--action-noise", "-0.1"],
        "--action-noise=-0.1",
    ),
    "unwritable folder": (
        lambda tmp: ["--expert", "pointmass", "--out", str(tmp / "missing" / "d.npz")],
        "no such folder",
    ),
    "missing run": (lambda tmp: ["--run-dir", str(tmp / "nothing")], "no such run folder"),
    "run without checkpoint": (_no_checkpoint_run, "has no checkpoint yet"),
    "expert in the wrong env": (
        lambda tmp: ["--expert", "multigoal", "--env", "toy/pointmass"],
        "--expert=multigoal drives toy/multigoal",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_refused_command_is_one_line_and_writes_nothing(tmp_path, case):
    make_args, message = REFUSED[case]
    args = make_args(tmp_path)
    if "--episodes" not in args:
        args += ["--episodes", "2"]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "demos.npz")]
    before = sorted(tmp_path.rglob("*"))
    result = cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_an_existing_out_is_kept_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "demos.npz"
    out.write_text("keep me")
    args = ["--expert", "multigoal", "--episodes", "4", "--out", str(out)]
    with pytest.raises(SystemExit) as refused:
        collect.main(args)
    assert refused.value.code == 2 and "exists already" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    collect.main([*args, "--overwrite"])
    assert data.load(out, 2, 2).num_trajectories == 4


def test_chunks_hold_consecutive_actions_within_each_trajectory():
    states = np.arange(7, dtype=np.float32)[:, None]
    actions = np.arange(7, dtype=np.float32)[:, None] * 10
    demos = data.Demonstrations(
        states, actions, np.ones(7, np.float32), np.zeros(7, bool), np.array([4, 2, 1])
    )
    chunked = data.chunks(demos, 2)
    np.testing.assert_array_equal(chunked.states[:, 0], [0, 1, 2, 4])  # none from the 1-step one
    np.testing.assert_array_equal(chunked.actions, [[0, 10], [10, 20], [20, 30], [40, 50]])
    np.testing.assert_array_equal(chunked.traj_lengths, [3, 1])
    np.testing.assert_array_equal(chunked.rewards, [2, 2, 2, 2])
