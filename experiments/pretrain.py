"""Pre-train a learner's actor on demonstrations (behaviour cloning) into a run folder.

    python -m experiments.pretrain --algo reinflow --env toy/pointmass --data demos.npz --run-dir runs/bc
    python -m experiments.train --algo reinflow --env toy/pointmass --init-from runs/bc   # then fine-tune

The learner's own clone loss (its reference's pre-training loss) is fitted by minibatch Adam on a
cosine decay (``--learning-rate`` to a tenth of it), keeping the parameters' moving average
(``--ema-decay``), with whole trajectories held out (``--held-out``) and early stopping after
``--patience`` epochs without a better held-out loss (:mod:`jaxrl.pretrain`). Every config flag of
``experiments.train`` sets the run's config (the network sizes, the environment's settings), except
``--learning-rate``, which here is the cloning's. The folder receives the config,
``pretrain.jsonl``, a loss curve and a checkpoint that ``experiments.evaluate --run-dir`` and
``experiments.train --init-from`` read. A pre-training that was killed continues from its last
finished epoch when its command is run again (the same settings and data; another value is
refused in one line). Invalid input (demonstrations of other sizes than the
environment's, a folder that holds a run) exits with code 2 and one line on stderr before anything
compiles, and changes nothing in the folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from experiments.cli import OneLineParser, add_config_flags, fail, given

SKIPPED = ("algo", "num_seeds", "learning_rate", "init_from")  # not config flags here


def parse(argv: list[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The arguments and the config fields the user set."""
    from jaxrl.config import PRESETS, TrainConfig
    from jaxrl.pretrain import CloneConfig
    from jaxrl.registry import LEARNERS

    first = OneLineParser(add_help=False)
    first.add_argument("--algo", default="ppo")
    algo = first.parse_known_args(argv)[0].algo
    if algo not in LEARNERS:
        fail(f"--algo={algo} is invalid: expected one of {', '.join(LEARNERS)}")
    defaults = CloneConfig()
    parser = OneLineParser(prog="python -m experiments.pretrain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", default="ppo", help=f"learner: {', '.join(LEARNERS)} (default: ppo)")
    parser.add_argument(
        "--data", required=True, metavar="FILE.npz", help="demonstrations (jaxrl.data layout)"
    )
    parser.add_argument("--run-dir", required=True, help="the run folder to write (must not hold a run)")
    parser.add_argument("--preset", default=None, help=f"settings preset: {', '.join(PRESETS)}")
    parser.add_argument(
        "--seeds", dest="num_seeds", type=int, default=None, help="seeds of the run (default: 1)"
    )
    parser.add_argument(
        "--epochs", type=int, default=defaults.epochs, help="most epochs (default: %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="(default: %(default)s)")
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=defaults.learning_rate,
        help="Adam's initial rate, decayed by a cosine to a tenth of it (default: %(default)s)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=defaults.patience,
        help="epochs without improvement (default: %(default)s)",
    )
    parser.add_argument(
        "--held-out",
        type=float,
        default=defaults.held_out_fraction,
        help="fraction of trajectories held out (default: %(default)s)",
    )
    parser.add_argument(
        "--ema-decay",
        type=float,
        default=defaults.ema_decay,
        help="decay of the parameters' moving average that is kept (0: none; default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    loop_names = add_config_flags(parser, TrainConfig, skip=SKIPPED, defaults=LEARNERS[algo].loop_defaults)
    learner_names = add_config_flags(parser, LEARNERS[algo].config_type)
    args = parser.parse_args(argv)
    return args, given(args, loop_names + learner_names + ["num_seeds"])


def main(argv: list[str] | None = None) -> None:
    args, overrides = parse(list(sys.argv[1:] if argv is None else argv))
    import jaxrl
    from jaxrl import data
    from jaxrl.config import ConfigError
    from jaxrl.pretrain import CloneConfig, check_folder, pretrain
    from jaxrl.training import make_env

    try:
        config = jaxrl.make_config(args.algo, preset=args.preset, **overrides)
        clone = CloneConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            final_learning_rate=args.learning_rate / 10.0,
            held_out_fraction=args.held_out,
            patience=args.patience,
            ema_decay=args.ema_decay,
        )
        clone.check()
        check_folder(Path(args.run_dir))
        env = make_env(config)
        demos = data.load(args.data, env.observation_size, env.env.action_size)
        result = pretrain(config, demos, args.run_dir, clone, progress=not args.no_progress)
    except ConfigError as error:
        fail(str(error))
    except KeyboardInterrupt:
        print(f"\ninterrupted: run the same command again to continue in {args.run_dir}", file=sys.stderr)
        raise SystemExit(130) from None
    print(
        f"done: best held-out loss {result.best_held_out_loss:.4g} at epoch {result.best_epoch}"
        f" of {len(result.records)}; run folder {args.run_dir}"
    )


if __name__ == "__main__":
    main()
