"""Choose the presets' RGB head from the head pilot (scripts/experiments/head_pilot.sh; docs/experiments.md, Design).

    python scripts/experiments/head_pilot_report.py      # prints and writes runs/head_pilot/report.md

For each head variant: features(curvature) - features(random base) in success, paired seed x episode bootstrap
over the finished seeds (agents/evaluation/stats.py). The rule fixed before the pilot ran: the variant with the largest
mean gap wins; variants within 0.03 of the largest are tied and the tie goes to the higher features(curvature).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agents.evaluation.eval_report import policy_entry  # noqa: E402
from agents.evaluation.run_folder import find_run_folders  # noqa: E402
from agents.evaluation.stats import paired_bootstrap  # noqa: E402
from common.atomic_io import atomic_write_text  # noqa: E402

PILOT = ROOT / "runs" / "head_pilot"
TIE = 0.03


def runs_of(folder: Path) -> dict[str, dict[str, float]]:
    """run folder -> episode id -> success, for the finished seeds below ``folder``."""
    out = {}
    for run in find_run_folders([folder]):
        try:
            result = policy_entry(run)["result"]
        except (OSError, ValueError):
            continue  # not finished
        out[run.name] = {ep["episode_id"]: float(ep["success"]) for ep in result["per_episode"]}
    return out


def main() -> int:
    """Print the gap of every variant with both bases finished, and the chosen variant."""
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    variants = sorted(
        {p.name.rsplit("-", 1)[0] for p in PILOT.iterdir() if p.is_dir() and p.name.endswith("-curvature")}
    )
    rows = []
    for v in variants:
        curv, rand = runs_of(PILOT / f"{v}-curvature"), runs_of(PILOT / f"{v}-random")
        if curv and rand:
            rows.append((v, paired_bootstrap(curv, rand, names=(f"{v}-curvature", f"{v}-random"))))
    if not rows:
        print("no variant has finished runs with both bases", file=sys.stderr)
        return 1
    best_gap = max(d.mean for _, d in rows)
    tied = [(v, d) for v, d in rows if d.mean >= best_gap - TIE]
    chosen = max(tied, key=lambda vd: vd[1].mean_a)[0]
    lines = [
        "| head variant | seeds (curvature / random) | features(curvature) | features(random) | gap [95% CI] |",
        "|---|---|---:|---:|---|",
    ]
    for v, d in rows:
        mark = " **chosen**" if v == chosen else ""
        lines.append(
            f"| {v}{mark} | {d.seeds_a} / {d.seeds_b} | {d.mean_a:.3f} | {d.mean_b:.3f} | "
            f"{d.mean:+.3f} [{d.ci95[0]:+.3f}, {d.ci95[1]:+.3f}] |"
        )
    text = (
        "\n".join(lines)
        + f"\n\nRule: largest gap; within {TIE} of it, the higher features(curvature). Chosen: {chosen}.\n"
    )
    print(text)
    atomic_write_text(PILOT / "report.md", "# Head pilot (scripts/experiments/head_pilot_report.py)\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
