"""scripts/experiments/head_pilot_report.py: the committed head pilot's report regenerates byte for byte from a copy of
its runs, and the same script reports a pilot evaluated on another split (the validation re-check) and compares the
two choices. About 20 s: the paired bootstraps of 3 variants, three times."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "runs" / "head_pilot"


def report_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    spec = importlib.util.spec_from_file_location(
        "head_pilot_report", ROOT / "scripts/experiments/head_pilot_report.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["head_pilot_report.py", *args])
    return module.main()


def copy_pilot(target: Path, split: str | None = None) -> Path:
    """The committed pilot's results.json and config.yaml under ``target``; ``split`` relabels its evaluations."""
    for path in PILOT.glob("*/*/results.json"):
        out = target / path.relative_to(PILOT)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path.with_name("config.yaml"), out.with_name("config.yaml"))
        tree = json.loads(path.read_text())
        if split is not None:
            (tree.get("evaluation") or tree["heldout"])["split"] = split
        out.write_text(json.dumps(tree))
    return target


@pytest.mark.skipif(not (PILOT / "report.md").exists(), reason="needs the committed runs/head_pilot")
def test_committed_report_regenerates_and_another_split_is_reported_and_compared(tmp_path, monkeypatch, capsys):
    heldout = copy_pilot(tmp_path / "head_pilot")
    assert report_main(monkeypatch, "--pilot", str(heldout)) == 0
    assert (heldout / "report.md").read_bytes() == (PILOT / "report.md").read_bytes()

    assert report_main(monkeypatch, "--pilot", str(heldout), "--split", "train_val") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --split: ") and "was evaluated on 'heldout', not 'train_val'" in err
    assert err.count("\n") == 1

    val = copy_pilot(tmp_path / "head_pilot_val", split="train_val")
    code = report_main(monkeypatch, "--pilot", str(val), "--split", "train_val", "--compare", str(heldout))
    assert code == 0
    text = (val / "report.md").read_text()
    assert text.startswith("# Head pilot on split train_val (scripts/experiments/head_pilot_report.py)\n")
    assert "Evaluated on split train_val: 420 episodes per run." in text
    assert "Chosen: A-current." in text
    assert text.endswith("head_pilot (split heldout) chose A-current: the same variant.\n")
