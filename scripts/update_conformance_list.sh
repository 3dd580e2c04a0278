#!/usr/bin/env bash
# Regenerates tests/conformance/passing.txt from a `kiln conformance --json` report: every passed case.
# Usage: scripts/update_conformance_list.sh [REPORT.json] [OUT]   (defaults: build/conformance_report.json,
#        tests/conformance/passing.txt). Make the report with: build/bin/kiln conformance --json REPORT.json
set -euo pipefail
REPORT=${1:-build/conformance_report.json}
OUT=${2:-tests/conformance/passing.txt}
if [ ! -f "$REPORT" ]; then
  echo "update_conformance_list: error: report '$REPORT' not found (run: build/bin/kiln conformance --json $REPORT)" >&2
  exit 2
fi
if ! grep -q '"schema": "kiln.conformance/1"' "$REPORT"; then
  echo "update_conformance_list: error: '$REPORT' is not a kiln.conformance/1 report" >&2
  exit 2
fi
tmp="$OUT.tmp.$$"
{
  echo "# Conformance cases that must keep passing (ctest label \`conformance\` fails if one does not)."
  echo "# One case id per line: <suite>/<case>. Regenerate from a run with scripts/update_conformance_list.sh."
  # The report is written with one key per line and keys sorted, so each case's "id" precedes its "status".
  awk '/^ *"id": "/ { id = $0; sub(/^ *"id": "/, "", id); sub(/",?$/, "", id) }
       /^ *"status": "passed"/ { print id }' "$REPORT" | LC_ALL=C sort
} > "$tmp"
mv "$tmp" "$OUT"
echo "update_conformance_list: $(grep -vc '^#' "$OUT") passing cases written to $OUT"
