"""Training with the environments split over 4 (simulated CPU) devices equals training on one
device for the same global batch, up to floating-point summation order."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    import jaxrl

    algo = sys.argv[1]
    overrides = dict(env="toy/pointmass", num_envs=64, num_unrolls=1, unroll_length=16,
                     num_minibatches=4, update_epochs=2, total_steps=64 * 16 * 3, num_evals=1,
                     policy_hidden=(16, 16), value_hidden=(16, 16), num_seeds=2)
    results = {}
    for devices in (1, 4):
        config = jaxrl.make_config(algo, num_devices=devices, **overrides)
        result = jaxrl.train(config, progress=False)
        env_obs = result.state.env_state.obs
        results[devices] = {
            "params": [np.asarray(x).tolist() for x in jax.tree.leaves(result.state.params)],
            "stats": [np.asarray(x).tolist() for x in jax.tree.leaves(result.state.obs_stats)],
            "eval": result.metrics[-1]["eval_return_per_seed"],
            "env_devices": len(env_obs.sharding.device_set),
            "param_devices": len(jax.tree.leaves(result.state.params)[0].sharding.device_set),
        }
    print(json.dumps({"device_count": jax.device_count(), **results}))
    """
)


@pytest.mark.parametrize("algo", ["ppo"])  # the layout is the loop's, whatever the learner
def test_four_devices_match_one(algo):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    output = subprocess.run(
        [sys.executable, "-c", SCRIPT, algo], env=env, capture_output=True, text=True, check=True
    ).stdout
    out = json.loads(output.strip().splitlines()[-1])
    one, four = out["1"], out["4"]
    assert out["device_count"] == 4
    assert (one["env_devices"], four["env_devices"], four["param_devices"]) == (1, 4, 4)
    for a, b in zip(one["params"] + one["stats"], four["params"] + four["stats"], strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(four["eval"], one["eval"], rtol=1e-3)
