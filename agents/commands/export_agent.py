"""Make a shipped trained agent from a run's checkpoint (maintainers; docs/trained_agents.md).

    .venv/bin/python scripts/export_agent.py runs/ppo_1m/features-curvature/checkpoints/frames-300000.zip \\
        --name ppo-features-curvature --description "PPO, fixed curvature features, 300k frames"

Writes trained_agents/<name>/: policy.pt (the policy's float32 weights, no optimizer), config.yaml (the run's
config, evaluated in float32) and agent.json (the source run, commit and its recorded held-out figures, the
SHA-256 of policy.pt and the per-episode outcomes of the reproduction set that tests/test_trained_agents.py
replays).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.run.cli import run_main
from agents.trained_agents import TRAINED_AGENTS_DIR, export_agent, read_agent
from common.errors import MissingFileError


def main(argv: list[str] | None = None) -> None:
    """Export one agent and print what was written."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a checkpoint file inside <run>/checkpoints/")
    parser.add_argument("--name", required=True, help="the agent's name (a folder under trained_agents/)")
    parser.add_argument("--description", required=True, help="one line: trainer, method, base, data or frames")
    parser.add_argument("--out", default=str(TRAINED_AGENTS_DIR), help="the trained agents' folder")
    args = parser.parse_args(argv)
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file() or checkpoint.parent.name != "checkpoints":
        raise MissingFileError("checkpoint", f"{checkpoint} is not a file in a run's checkpoints/ folder", "")
    folder = export_agent(checkpoint, args.name, args.description, Path(args.out))
    info = read_agent(args.name, Path(args.out))
    print(
        f"{folder}: {info['policy_bytes'] / 1e6:.1f} MB policy, reproduction success "
        f"{info['reproduction']['success']:.3f} on {len(info['reproduction']['per_episode'])} episodes"
    )


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2."""
    run_main(main)
