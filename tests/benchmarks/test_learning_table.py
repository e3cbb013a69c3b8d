"""The learning table: a committed table's one command, and completing a table cell by cell."""

import json

import pytest

from benchmarks import learning_table


def test_a_named_table_sets_its_cells_and_flags_beside_it_win():
    definition = learning_table.TABLES["learning_cpu"]
    args = learning_table.parse_args(["--table", "learning_cpu"])
    assert (args.algos, args.envs, args.preset, args.seeds) == (
        list(definition.algos),
        list(definition.envs),
        definition.preset,
        definition.seeds,
    )
    assert args.steps == dict(definition.steps) and args.name == "learning_cpu"
    assert learning_table.parse_args(["--table", "learning_cpu", "--envs", "CartpoleBalance"]).envs == [
        "CartpoleBalance"
    ]


def test_the_bpo_control_differs_from_bpo_only_in_the_objective():
    import jaxrl
    from jaxrl.config import to_dict

    algo, own = learning_table.learner_spec(learning_table.BPO_CONTROL)
    control = to_dict(jaxrl.make_config(algo, preset="cpu", env="CartpoleBalance", **own))
    bpo = to_dict(jaxrl.make_config("bpo", preset="cpu", env="CartpoleBalance"))
    differing = {k for k in control.keys() | bpo.keys() if control.get(k) != bpo.get(k)}
    # PPO's clipped, advantage-normalised loss against BPO's barrier and median: nothing else.
    assert differing == {"algo", "normalize_advantage", "barrier_lambda", "median_cost"}


def test_missing_runs_only_the_cells_the_store_lacks():
    stored = [learning_table.cell_key("toy/pointmass", "ppo")]
    envs, algos = ["toy/pointmass", "CartpoleBalance"], ["ppo", "bpo"]
    assert learning_table.cells_to_run(envs, algos, stored, missing_only=True) == [
        ("toy/pointmass", "bpo"),
        ("CartpoleBalance", "ppo"),
        ("CartpoleBalance", "bpo"),
    ]
    assert len(learning_table.cells_to_run(envs, algos, stored, missing_only=False)) == 4


def fake_cell(algo, env, args, overrides, launch):
    """A cell as ``run_cell`` returns it, without the training (what is tested is the table)."""
    records = [{"env_steps": 1000, "wall_time": 1.0, "eval_return": 5.0, "eval_return_per_seed": [4.0, 6.0]}]
    return {
        "algo": algo, "env": env, "num_seeds": 2, "env_steps": 1000, "wall_time": 1.0,
        "final_mean": 5.0, "final_std": 1.0, "final_per_seed": [4.0, 6.0], "records": records,
        **launch, "finished": f"run {len(args.algos)}",
    }  # fmt: skip


def test_a_table_is_written_and_completed_without_rerunning_its_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(learning_table, "run_cell", fake_cell)
    common = ["--envs", "toy/pointmass", "--out", str(tmp_path), "--name", "tiny", "--seeds", "2"]
    learning_table.main(["--algos", "ppo", *common])
    learning_table.main(["--algos", "ppo", "bpo", "--missing", *common])
    cells = json.loads((tmp_path / "tiny.json").read_text())
    assert {key: cell["finished"] for key, cell in cells.items()} == {
        "toy/pointmass | ppo": "run 1",  # kept from the first run, not re-run
        "toy/pointmass | bpo": "run 2",
    }
    text = (tmp_path / "tiny.md").read_text()
    assert "| toy/pointmass | bpo |" in text and (tmp_path / "tiny_toy-pointmass.png").exists()
    assert "- BPO: `bpo`" in text  # the plots' short name beside the full one
    (tmp_path / "tiny.md").unlink()
    monkeypatch.setattr(learning_table, "run_cell", None)  # --rewrite trains nothing
    learning_table.main(["--rewrite", *common])
    assert (tmp_path / "tiny.md").read_text() == text


def test_legends_name_learners_shortly():
    specs = ["ppo", "ppo:entropy_cost=0", learning_table.BPO_CONTROL, "fpo@c170621", "gorl:decoder=flow"]
    specs.append("gorl:decoder=flow:stage_steps=[160,160,80,80]:refit_unrolls=1")
    assert list(learning_table.plot_labels(specs).values()) == [
        "PPO",
        "PPO ent=0",
        "BPO control",
        "FPO (old, c170621)",
        "GoRL flow",
        "GoRL flow +2",
    ]
    assert learning_table.plot_labels(["ppo@abc", "ppo"]) == {"ppo": "PPO", "ppo@abc": "PPO (old, abc)"}


def test_an_unknown_table_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit):
        learning_table.parse_args(["--table", "nope"])
    assert "nope" in capsys.readouterr().err
