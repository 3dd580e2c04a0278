#!/usr/bin/env bash
# The README's supported-op table (markdown) from kiln's op registry.
# Usage: scripts/gen_op_table.sh [KILN]                   print the table (KILN default: build/bin/kiln)
#        scripts/gen_op_table.sh --update README.md [KILN] rewrite the part between the op-table markers
#        scripts/gen_op_table.sh --check README.md [KILN]  exit 1 if that part is stale
set -euo pipefail
MODE=print
DOC=""
if [ "${1:-}" = "--update" ] || [ "${1:-}" = "--check" ]; then
  MODE=${1#--}
  DOC=${2:?"gen_op_table: $1 needs a file (e.g. README.md)"}
  shift 2
fi
KILN=${1:-build/bin/kiln}
if [ ! -x "$KILN" ]; then
  echo "gen_op_table: error: '$KILN' not found; build it first (cmake --build build --target kiln_cli)" >&2
  exit 2
fi
if [ "$MODE" = print ]; then
  exec "$KILN" ops --markdown
fi
if ! grep -q '<!-- op-table:begin -->' "$DOC" || ! grep -q '<!-- op-table:end -->' "$DOC"; then
  echo "gen_op_table: error: $DOC has no <!-- op-table:begin --> / <!-- op-table:end --> markers" >&2
  exit 2
fi
table=$(mktemp)
fresh=$(mktemp)
trap 'rm -f "$table" "$fresh"' EXIT
"$KILN" ops --markdown > "$table"
awk -v table="$table" '
  /<!-- op-table:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /<!-- op-table:end -->/ { skip = 0 }
  !skip { print }' "$DOC" > "$fresh"
if [ "$MODE" = check ]; then
  if ! cmp -s "$fresh" "$DOC"; then
    echo "gen_op_table: $DOC's op table is stale; run: scripts/gen_op_table.sh --update $DOC" >&2
    diff -u "$DOC" "$fresh" | head -40 >&2 || true
    exit 1
  fi
  echo "gen_op_table: $DOC's op table is up to date"
else
  cp "$fresh" "$DOC"
  echo "gen_op_table: updated the op table in $DOC ($(grep -c '^| ' "$table") rows incl. header)"
fi
