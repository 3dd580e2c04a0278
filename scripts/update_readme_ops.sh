#!/usr/bin/env bash
# Regenerates (or with --check, verifies) the supported-op table in README.md from kiln's op registry.
# Usage: scripts/update_readme_ops.sh [--check] [path/to/kiln] [README.md]
set -euo pipefail
CHECK=0
if [ "${1:-}" = "--check" ]; then CHECK=1; shift; fi
KILN=${1:-build/bin/kiln}
README=${2:-$(dirname "$0")/../README.md}
table=$("$(dirname "$0")/gen_op_table.sh" "$KILN")
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
awk -v table="$table" '
  /<!-- op-table:begin -->/ { print; print table; skip = 1; next }
  /<!-- op-table:end -->/ { skip = 0 }
  !skip { print }' "$README" > "$tmp"
if [ $CHECK = 1 ]; then
  if ! diff -q "$README" "$tmp" >/dev/null; then
    echo "README.md's op table is stale: run scripts/update_readme_ops.sh after building" >&2
    diff "$README" "$tmp" | head -20 >&2
    exit 1
  fi
  echo "README.md op table matches the registry"
else
  cat "$tmp" > "$README.tmp.$$" && mv "$README.tmp.$$" "$README"
  echo "README.md op table updated"
fi
