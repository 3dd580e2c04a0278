#!/usr/bin/env bash
# Prints the README's supported-op table (markdown) from kiln's op registry.
# Usage: scripts/gen_op_table.sh [path/to/kiln]   (default: build/bin/kiln)
set -euo pipefail
KILN=${1:-build/bin/kiln}
if [ ! -x "$KILN" ]; then
  echo "gen_op_table: error: '$KILN' not found; build it first (cmake --build build --target kiln_cli)" >&2
  exit 2
fi
exec "$KILN" ops --markdown
