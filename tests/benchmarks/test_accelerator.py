"""benchmarks/accelerator.py --smoke on CPU: the one accelerator check runs end to end (timed
cells, compile-only cells, Brax's PPO against ours) and writes its JSON and table with the
device, commit and command, before a GPU is ever lent. PPO alone and without Brax's side keeps
it short (Brax's PPO compiles an MJX task in fresh processes: minutes on 2 cores); ``python -m
benchmarks.accelerator --smoke`` runs all seven learners and Brax's PPO."""

import json

from benchmarks import accelerator


def test_smoke_runs_every_kind_of_cell_and_writes_the_results(tmp_path):
    accelerator.main(["--smoke", "--algos", "ppo", "--no-brax", "--out-dir", str(tmp_path)])
    payload = json.loads((tmp_path / "accelerator_smoke_cpu.json").read_text())
    assert payload["device"] == "cpu" and payload["commit"] and "--smoke" in payload["command"]
    kinds = [(r["kind"], r.get("algo"), r["num_envs"]) for r in payload["rows"]]
    assert kinds == [("timed", "ppo", 8), ("memory", "ppo", 16)]
    timed = payload["rows"][0]
    assert timed["sps"] > 0 and timed["memory_bytes"] > 0
    assert payload["rows"][1]["memory_bytes"] > 0 and payload["rows"][1]["sps"] is None
    table = (tmp_path / "accelerator_smoke_cpu.md").read_text()
    assert "(memory only) |" in table and "Command: `python -m benchmarks.accelerator --smoke" in table


def test_cells_that_would_end_past_the_budget_are_skipped_and_listed(tmp_path):
    accelerator.main(["--smoke", "--algos", "ppo", "--budget", "0", "--out-dir", str(tmp_path)])
    payload = json.loads((tmp_path / "accelerator_smoke_cpu.json").read_text())
    assert [r["kind"] for r in payload["rows"]] == ["skipped"] * 3
    table = (tmp_path / "accelerator_smoke_cpu.md").read_text()
    assert "(no learner measured)" in table and "skipped: it would have ended past the time budget" in table
