#!/usr/bin/env bash
# `aqua --help` wall time beside a bare interpreter, measured in the same run with hyperfine.
#   bench/cli/help_time.sh [RUNS]
set -euo pipefail
runs="${1:-30}"
venv="${AQUA_VENV:-$HOME/.cache/aqua/venv-py$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}"
py="$venv/bin/python"
out="$(mktemp -d)"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$out/help.json" \
  -n "python -c pass" "$py -c pass" \
  -n "aqua --help" "$venv/bin/aqua --help" \
  -n "aqua slo --help" "$venv/bin/aqua slo --help" >/dev/null
"$py" - "$out/help.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = next(r for r in results if r["command"] == "python -c pass")["median"]
print("| command | median ms | min ms | max ms | above bare python ms |")
print("|---|---:|---:|---:|---:|")
for r in results:
    print(f"| `{r['command']}` | {r['median']*1e3:.1f} | {r['min']*1e3:.1f} | {r['max']*1e3:.1f} | {(r['median']-base)*1e3:+.1f} |")
PY
