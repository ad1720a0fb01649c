#!/usr/bin/env bash
# Regenerate every committed experiment report from the committed run folders, and say whether each came out as
# committed. Each runs/<experiment>/report.md names the command that wrote it ("Written by `...`"); this script
# reruns exactly that command (scripts/report.py reads the runs' stored evaluations: nothing trains or
# evaluates again, except reference rows missing from a references.json), then the head pilots' own reports.
# Run from a checkout:
#   bash scripts/experiments/regenerate_reports.sh        # exit status 0: every report.md and report.json unchanged
# Reports rewrite their files in place; `git diff runs/` shows what moved, `git checkout runs/` undoes it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
PY=${PYTHON:-.venv/bin/python}
if [ -n "$(git status --porcelain -- 'runs/*/report.md' 'runs/*/report.json')" ]; then
  echo "error: runs/*/report.md or report.json has uncommitted changes (commit or 'git checkout runs/' first, so the comparison means something)" >&2
  exit 2
fi
shopt -s nullglob globstar
for report in runs/**/report.md; do  # runs/<experiment>/ and a horizon's runs/<experiment>/at_<N>/
  command=$(grep -m1 -o 'Written by `python scripts/[a-z_/]*\.py [^`]*`' "$report" || true)
  if [ -z "$command" ]; then
    continue  # not written by scripts/report.py (the head pilots', below)
  fi
  command=${command#Written by \`python }
  command=${command%\`}
  echo "== $report: $PY $command"
  eval "$PY $command" > /dev/null
done
if [ -f runs/head_pilot/report.md ]; then
  echo "== runs/head_pilot/report.md: $PY scripts/experiments/head_pilot_report.py"
  "$PY" scripts/experiments/head_pilot_report.py > /dev/null
fi
if [ -f runs/head_pilot_val/report.md ]; then
  val_report=(--pilot runs/head_pilot_val --split train_val --compare runs/head_pilot)
  echo "== runs/head_pilot_val/report.md: $PY scripts/experiments/head_pilot_report.py ${val_report[*]}"
  "$PY" scripts/experiments/head_pilot_report.py "${val_report[@]}" > /dev/null
fi
changed=$(git status --porcelain -- 'runs/*/report.md' 'runs/*/report.json')
if [ -n "$changed" ]; then
  echo "these reports differ from the committed ones (git diff runs/ shows how):"
  echo "$changed"
  exit 1
fi
echo "every committed report.md and report.json regenerated unchanged"
