"""Digests of every learner's final training state and metrics on the tests' tiny configuration,
to show that a restructuring changed no number.

    python -m benchmarks.fingerprint --out before.json            # at the commit before a change
    python -m benchmarks.fingerprint --out after.json --against before.json   # exit 1 on a difference

Each case trains 2 seeds vmapped (``tests/tiny.py``: toy/pointmass, tiny networks) without a run
folder and hashes every leaf of the final :class:`~jaxrl.loop.TrainState` (dtype, shape, bytes)
and the evaluation records without their timings. Besides each learner at its defaults, the cases
cover the loop's options (advantages per epoch with the KL-adaptive rate, segment minibatches with
the linear schedule) and GoRL through two decoder refits of each kind. Digests are comparable on
one machine and one JAX version; XLA may order floating-point work differently elsewhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

TIMINGS = {"train_sps", "compile_seconds", "wall_time", "phase_seconds", "memory_bytes"}
REFITS = dict(stage_steps=(512, 512), refit_unrolls=2, refit_samples=200, refit_epochs=2, refit_batch=64)
CASES: dict[str, dict[str, Any]] = {
    "ppo:per_epoch_kl": dict(advantages_per_epoch=True, lr_schedule="kl_adaptive"),
    "ppo:segment_linear": dict(minibatch_unit="segment", lr_schedule="linear"),
    "gorl:stages": REFITS,
    "gorl:diffusion_stages": dict(decoder="diffusion", **REFITS),
}


def digest(tree: Any) -> str:
    import jax
    import numpy as np

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        a = np.asarray(leaf)
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def fingerprint(name: str, settings: dict[str, Any]) -> dict[str, str]:
    import jaxrl
    from tests.tiny import LEARNER_TINY, TINY

    algo = name.split(":")[0]
    config = jaxrl.make_config(algo, **{**TINY, **LEARNER_TINY.get(algo, {}), "num_seeds": 2, **settings})
    result = jaxrl.train(config, progress=False)
    records = [{k: v for k, v in r.items() if k not in TIMINGS} for r in result.metrics]
    metrics = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]
    return {"state": digest(result.state), "params": digest(result.state.params), "metrics": metrics}


def main(argv: list[str] | None = None) -> None:
    from jaxrl.registry import LEARNERS

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fingerprint", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON file of the digests")
    parser.add_argument("--against", type=Path, default=None, help="digests to compare with")
    args = parser.parse_args(argv)
    cases = {algo: {} for algo in LEARNERS} | CASES
    digests = {}
    for name, settings in cases.items():
        digests[name] = fingerprint(name, settings)
        print(name, digests[name], flush=True)
    args.out.write_text(json.dumps(digests, indent=1) + "\n")
    if args.against is not None:
        before = json.loads(args.against.read_text())
        differ = [name for name in digests if before.get(name) != digests[name]]
        print("identical" if not differ else f"different: {', '.join(differ)}")
        sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
