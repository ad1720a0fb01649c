"""Choose the presets' RGB head from the head pilot (scripts/experiments/head_pilot.sh; docs/experiments.md, Design).

    python scripts/experiments/head_pilot_report.py      # prints and writes runs/head_pilot/report.md
    python scripts/experiments/head_pilot_report.py --pilot runs/head_pilot_val --split train_val \
        --compare runs/head_pilot                        # the re-check on the validation buildings (head_pilot_val.sh)

For each head variant: features(curvature) - features(random base) in success, paired seed x episode bootstrap
over the finished seeds (agents/evaluation/stats.py). The rule fixed before the pilot ran: the variant with the largest
mean gap wins; variants within 0.03 of the largest are tied and the tie goes to the higher features(curvature).
Every run must have been evaluated on ``--split``; ``--compare`` names another pilot folder and says whether the
same variant wins there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agents.evaluation.eval_report import policy_entry  # noqa: E402
from agents.evaluation.run_folder import find_run_folders  # noqa: E402
from agents.evaluation.stats import Difference, paired_bootstrap  # noqa: E402
from agents.run.cli import error_line  # noqa: E402
from common.atomic_io import atomic_write_text  # noqa: E402
from common.errors import BadInputError, UserError  # noqa: E402

PILOT = ROOT / "runs" / "head_pilot"
SPLIT = "heldout"
TIE = 0.03


def runs_of(folder: Path, split: str) -> dict[str, dict[str, float]]:
    """run folder -> episode id -> success, for the finished seeds below ``folder`` (each evaluated on ``split``)."""
    out = {}
    for run in find_run_folders([folder]):
        try:
            result = policy_entry(run)["result"]
        except (OSError, ValueError):
            continue  # not finished
        if result.get("split") != split:
            raise BadInputError(
                "--split", f"{run} was evaluated on {result.get('split')!r}, not {split!r}", "pass its split"
            )
        out[run.name] = {ep["episode_id"]: float(ep["success"]) for ep in result["per_episode"]}
    return out


def pilot_rows(pilot: Path, split: str) -> list[tuple[str, Difference]]:
    """(variant, features(curvature) - features(random)) for every variant with both bases finished."""
    variants = sorted(
        {p.name.rsplit("-", 1)[0] for p in pilot.iterdir() if p.is_dir() and p.name.endswith("-curvature")}
    )
    rows = []
    for v in variants:
        curv, rand = runs_of(pilot / f"{v}-curvature", split), runs_of(pilot / f"{v}-random", split)
        if curv and rand:
            rows.append((v, paired_bootstrap(curv, rand, names=(f"{v}-curvature", f"{v}-random"))))
    return rows


def chosen_variant(rows: list[tuple[str, Difference]]) -> str:
    """The rule: the largest gap; within TIE of it, the higher features(curvature)."""
    best_gap = max(d.mean for _, d in rows)
    tied = [(v, d) for v, d in rows if d.mean >= best_gap - TIE]
    return max(tied, key=lambda vd: vd[1].mean_a)[0]


def main() -> int:
    """Print the gap of every variant with both bases finished, and the chosen variant."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pilot", type=Path, default=PILOT, help="the pilot's folder (default runs/head_pilot)")
    parser.add_argument("--split", default=SPLIT, help="the split its runs were evaluated on (default heldout)")
    parser.add_argument("--compare", type=Path, default=None, help="another pilot folder (its runs on heldout)")
    args = parser.parse_args()
    try:
        rows = pilot_rows(args.pilot, args.split)
        other_rows = pilot_rows(args.compare, SPLIT) if args.compare is not None else []
    except UserError as err:
        print(error_line(err), file=sys.stderr)
        return 2
    if not rows:
        print("no variant has finished runs with both bases", file=sys.stderr)
        return 1
    chosen = chosen_variant(rows)
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
    if args.split != SPLIT:
        episodes = rows[0][1].episodes
        text = f"Evaluated on split {args.split}: {episodes} episodes per run.\n\n" + text
    if args.compare is not None:
        other = chosen_variant(other_rows) if other_rows else None
        verdict = "the same variant" if other == chosen else "a different variant"
        text += f"\n{args.compare.name} (split {SPLIT}) chose {other}: {verdict}.\n"
    print(text)
    title = "Head pilot" if args.split == SPLIT else f"Head pilot on split {args.split}"
    atomic_write_text(args.pilot / "report.md", f"# {title} (scripts/experiments/head_pilot_report.py)\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
