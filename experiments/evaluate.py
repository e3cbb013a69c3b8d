"""Evaluate a run's latest checkpoint: mean and standard deviation of the episode return.

python -m experiments.evaluate --run-dir runs/ppo-CartpoleBalance-... --episodes 100
python -m experiments.evaluate --run-dir runs/ppo-CartpoleBalance-... --video out.mp4

``--video`` (MP4, or GIF by its name) also renders episodes of the deterministic policy: MuJoCo's
renderer for the MuJoCo Playground and Brax tasks (``MUJOCO_GL`` defaults to ``egl`` here, so it
runs headless), 2-D trajectories for the toy tasks. A video that cannot be written (its folder
cannot be created or written, a read-only filesystem) is refused before anything compiles, one
line and exit code 2; one that fails while written (a full disk) is one line and exit code 1,
and leaves no partial file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from experiments.cli import OneLineParser, fail


def check_video(path: Path) -> None:
    """Exit 2 with one line unless the video can be written: a .mp4 or .gif name, no folder in
    the way, and a folder that can be created or written."""
    from jaxrl.config import ConfigError
    from jaxrl.runlog import check_writable

    if path.suffix.lower() not in (".mp4", ".gif"):
        fail(f"--video={path} is invalid: expected a .mp4 or .gif file name")
    if path.is_dir():
        fail(f"--video={path} is a folder: expected a .mp4 or .gif file name")
    try:
        check_writable(path.parent)
    except ConfigError as error:
        fail(f"--video={path}: {error}")


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m experiments.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="run folder written by experiments.train")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per seed (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed (default: 0)")
    parser.add_argument(
        "--stochastic", action="store_true", help="sample actions instead of the deterministic policy"
    )
    parser.add_argument("--video", default=None, metavar="PATH", help="write a video (.mp4 or .gif) to PATH")
    parser.add_argument("--video-episodes", type=int, default=1, help="episodes in the video (default: 1)")
    parser.add_argument("--width", type=int, default=320, help="video width in pixels (default: 320)")
    parser.add_argument("--height", type=int, default=240, help="video height in pixels (default: 240)")
    parser.add_argument("--camera", default=None, help="MuJoCo camera name (default: the free camera)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for name in ("episodes", "video_episodes", "width", "height"):
        if getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')}={getattr(args, name)} is invalid: expected a positive integer")
    if Path(args.run_dir).exists() and not Path(args.run_dir).is_dir():
        fail(f"--run-dir={args.run_dir} is a file, not a run folder")
    if not Path(args.run_dir).is_dir():
        fail(f"--run-dir={args.run_dir}: no such run folder")
    if args.video is not None:
        os.environ.setdefault("MUJOCO_GL", "egl")  # before MuJoCo is imported: headless rendering
        check_video(Path(args.video))
    import numpy as np

    import jaxrl
    from jaxrl.config import ConfigError

    try:
        returns = jaxrl.evaluate_run(
            args.run_dir, args.episodes, args.seed, deterministic=not args.stochastic
        )
    except ConfigError as error:
        fail(str(error))
    for index, seed_returns in enumerate(returns):
        spread = f"{np.mean(seed_returns):.2f} +- {np.std(seed_returns):.2f}"
        print(f"seed {index}: return {spread} over {args.episodes} episodes")
    print(f"all: return {np.mean(returns):.2f} +- {np.std(returns):.2f} over {returns.size} episodes")
    if args.video is not None:
        write_video(args)


def write_video(args) -> None:
    """Render ``--video-episodes`` of the run's deterministic policy to ``--video``; exit 1 with
    one line if writing it fails."""
    from jaxrl import runlog, video

    frames, fps = video.run_frames(
        args.run_dir,
        args.video_episodes,
        args.seed,
        width=args.width,
        height=args.height,
        camera=args.camera,
    )
    try:
        path = video.write(args.video, frames, fps)
    except (OSError, RuntimeError) as error:  # mediapy reports ffmpeg's failure as a RuntimeError
        problem = runlog.cause(error) if isinstance(error, OSError) else str(error).strip().splitlines()[-1]
        fail(f"writing --video={args.video} failed: {problem}", code=1)
    print(f"video: {len(frames)} frames at {fps:.0f} fps in {path}")


if __name__ == "__main__":
    main()
