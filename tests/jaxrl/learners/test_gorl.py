"""GoRL: the identity decoder of stage 0, deterministic flow and DDIM decoders, the decoder refit,
stages that advance with a fresh encoder, the command line, and a resume inside the last stage."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from experiments import train
from jaxrl.actors import decoder as gorl_decoder
from jaxrl.learners import gorl
from jaxrl.optim import minibatch_sgd
from jaxrl.training import build

# Iterations of 256 steps: stages of 2, 2, 1 and 2 iterations, boundaries after 2, 4 and 5.
STAGES = dict(
    stage_steps=(512, 512, 256, 512),
    refit_unrolls=2,
    refit_samples=256,
    refit_batch=64,
    refit_epochs=3,
    refit_patience=2,
    decoder_hidden=(16, 16),
)


@pytest.fixture
def gorl_config(tiny_config):
    def make(decoder="flow", **overrides):
        return tiny_config("gorl", decoder=decoder, **{**STAGES, **overrides})

    return make


def later_stage(aux):
    return {**aux, "stage": jnp.ones((), jnp.int32)}


@pytest.mark.parametrize("decoder", gorl_decoder.DECODERS)
def test_stage_zero_acts_with_tanh_of_the_latent(gorl_config, decoder):
    config = gorl_config(decoder)
    _, learner, loop = build(config)
    state = loop.init(jax.random.PRNGKey(0), config)
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 6))
    action, extras = learner.act(state.params, state.aux, obs, jax.random.PRNGKey(2), config.learner, obs)
    np.testing.assert_array_equal(extras["raw_action"], extras["latent"])
    np.testing.assert_array_equal(action, jnp.tanh(extras["latent"]))
    mean = learner.act_deterministic(state.params, state.aux, obs, config.learner, obs)
    assert not np.allclose(
        mean, learner.act_deterministic(state.params, later_stage(state.aux), obs, config.learner, obs)
    )


@pytest.mark.parametrize("decoder", gorl_decoder.DECODERS)
def test_decoders_are_deterministic_maps_of_the_latent(gorl_config, decoder):
    config = gorl_config(decoder)
    _, learner, loop = build(config)
    state = loop.init(jax.random.PRNGKey(0), config)
    aux = later_stage(state.aux)
    obs = jnp.tile(jax.random.normal(jax.random.PRNGKey(1), (1, 6)), (4, 1))
    act = jax.jit(lambda key: learner.act(state.params, aux, obs, key, config.learner, obs))
    first, second = act(jax.random.PRNGKey(2)), act(jax.random.PRNGKey(2))
    chex.assert_trees_all_equal(first, second)
    assert not np.allclose(first[1]["raw_action"], first[1]["latent"])  # a decoder, not the identity
    other = act(jax.random.PRNGKey(3))
    assert not np.allclose(first[1]["raw_action"], other[1]["raw_action"])  # exploration is the latent's
    deterministic = jax.jit(lambda: learner.act_deterministic(state.params, aux, obs, config.learner, obs))
    np.testing.assert_array_equal(deterministic(), deterministic())


@pytest.mark.parametrize("decoder", gorl_decoder.DECODERS)
def test_refit_lowers_the_held_out_loss(gorl_config, decoder):
    settings = dict(refit_samples=2048, refit_batch=128, refit_epochs=20, refit_patience=20)
    config = gorl_config(decoder, refit_learning_rate=3e-3, **settings)
    obs = jax.random.normal(jax.random.PRNGKey(0), (2048, 3))
    actions = jnp.stack([jnp.sin(2.0 * obs[:, 0]), obs[:, 1] * obs[:, 2]], axis=-1)
    fit = jax.jit(lambda key: gorl_decoder.fit(minibatch_sgd, key, (obs, actions), config.learner))
    _, initial, best = fit(jax.random.PRNGKey(1))
    assert float(best) < 0.8 * float(initial), (initial, best)


@pytest.mark.parametrize("total_steps", [1_500_000, 6_000_000, 180_000_000])
def test_the_default_stages_split_any_budget_as_the_reference_splits_its_180m(total_steps):
    config = jaxrl.make_config("gorl", preset="cpu", env="toy/pointmass", total_steps=total_steps)
    iterations = config.num_iterations
    boundaries = np.array(gorl.stage_iterations(config))
    # the reference's 60M, 60M, 30M, 30M: stages end after 1/3, 2/3 and 5/6 of the iterations
    np.testing.assert_allclose(boundaries / iterations, [1 / 3, 2 / 3, 5 / 6], atol=2 / iterations)


def test_a_stage_boundary_refits_the_decoder_and_resets_the_encoder(gorl_config):
    config = gorl_config().replace(learning_rate=0.0)
    assert gorl.stage_iterations(config) == (2, 4, 5)
    _, learner, loop = build(config)
    state = loop.init(jax.random.PRNGKey(0), config)
    for _ in range(2):
        state, _ = loop.iteration(state, config)
    after = jax.jit(loop.phases[0])(state, config)
    encoder_key = jax.random.split(jax.random.split(state.key)[1], 3)[2]
    fresh = learner.init(encoder_key, config.learner)
    chex.assert_trees_all_equal(after.params, fresh)
    chex.assert_trees_all_equal(after.opt_state, loop.init(jax.random.PRNGKey(5), config).opt_state)
    assert int(after.aux["stage"]) == 1 and int(after.iteration) == 2
    assert not np.allclose(after.aux["decoder"]["params"]["MLP_0"]["Dense_0"]["kernel"],
                           state.aux["decoder"]["params"]["MLP_0"]["Dense_0"]["kernel"])  # fmt: skip
    # The loss sees what act saw in a later stage too: the ratio is 1 before any update.
    _, metrics = loop.iteration(after, config)
    assert abs(float(metrics["approx_kl"])) < 1e-7 and float(metrics["clip_fraction"]) == 0.0


def test_the_decoder_reads_raw_observations_through_its_own_frozen_statistics(gorl_config):
    config = gorl_config()
    _, learner, loop = build(config)
    state = loop.init(jax.random.PRNGKey(0), config)
    for _ in range(2):
        state, _ = loop.iteration(state, config)
    state = jax.jit(loop.phases[0])(state, config)
    fitted = state.aux["decoder_obs"]
    assert float(fitted.count) == 2 * 16 * 8  # the refit's pairs: 2 segments of 16 envs x 8 steps
    raw = 3.0 * jax.random.normal(jax.random.PRNGKey(1), (5, 6)) + 1.0
    z = jax.random.normal(jax.random.PRNGKey(2), (5, 2))

    def decoded(aux, latent):
        obs = gorl.decoder_input(aux["decoder_obs"], raw)
        return gorl_decoder.decode(aux["decoder"], obs, latent, config.learner)

    before = decoded(state.aux, z)
    stats = state.obs_stats
    for _ in range(2):  # the encoder trains on and the loop's statistics move; stage 1 lasts
        state, _ = loop.iteration(state, config)
    assert int(state.aux["stage"]) == 1 and float(state.obs_stats.count) > float(stats.count)
    assert not np.allclose(state.obs_stats.mean, stats.mean)
    np.testing.assert_array_equal(decoded(state.aux, z), before)
    # Acting decodes its latent so: the raw observation under the decoder's own statistics.
    seen = jaxrl.rollout.observe(config, state.obs_stats, raw)
    _, extras = learner.act(state.params, state.aux, seen, jax.random.PRNGKey(3), config.learner, raw)
    np.testing.assert_allclose(
        extras["raw_action"], decoded(state.aux, extras["latent"]), rtol=1e-5, atol=1e-6
    )


def test_a_bad_decoder_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exit:
        train.main(["--algo", "gorl", "--decoder", "foo", "--env", "toy/pointmass"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and lines == [
        "error: --decoder=foo is invalid: expected one of flow, diffusion"
    ]


def test_a_run_stopped_in_its_last_stage_resumes_bit_identically(gorl_config, tmp_path):
    # The shorter run evaluates at other iterations, and refit data under the best-evaluated
    # encoder would follow them: the current encoder's keep the two runs' stages alike.
    config = gorl_config(total_steps=1792, num_seeds=2, refit_encoder="current")
    whole = jaxrl.train(config, tmp_path / "whole", progress=False)
    jaxrl.train(config.replace(total_steps=1536), tmp_path / "split", progress=False)
    records = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    # Evaluations every 3 iterations and before each phase (after iterations 2, 4 and 5).
    assert [(r["iteration"], r["stage"]) for r in records] == [(2, 0), (3, 1), (4, 1), (5, 2), (6, 3)]
    resumed = jaxrl.resume(tmp_path / "split", total_steps=1792, progress=False)
    assert [int(s) for s in resumed.state.aux["stage"]] == [3, 3]
    chex.assert_trees_all_equal(resumed.state, whole.state)
    assert [(r["iteration"], r["stage"]) for r in whole.metrics] == [(2, 0), (4, 1), (5, 2), (7, 3)]


def test_each_stage_keeps_its_best_evaluated_encoder_ties_to_the_later(gorl_config):
    config = gorl_config()
    _, learner, loop = build(config)
    state = loop.init(jax.random.PRNGKey(0), config)
    assert float(state.aux["best"]["return"]) == -np.inf
    first = jax.tree.map(lambda x: x + 1.0, state.params)
    second = jax.tree.map(lambda x: x + 2.0, state.params)
    aux = learner.on_evaluation(first, state.aux, jnp.float32(5.0), config.learner)
    kept = learner.on_evaluation(second, aux, jnp.float32(3.0), config.learner)
    chex.assert_trees_all_equal(kept["best"]["params"], first)
    tied = learner.on_evaluation(second, kept, jnp.float32(5.0), config.learner)
    chex.assert_trees_all_equal(tied["best"]["params"], second)
    assert "best" not in learner.init_aux(jax.random.PRNGKey(0), gorl_config(refit_encoder="current").learner)
