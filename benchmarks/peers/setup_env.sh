#!/usr/bin/env bash
# The peers' own environment for benchmarks/run.py: opensr-utils and sen2sr, never satsr dependencies.
# Usage: bash benchmarks/peers/setup_env.sh [VENV]   (default: .venv-peers at the repository root)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${1:-${SATSR_PEERS_VENV:-$ROOT/.venv-peers}}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import opensr_utils, sen2sr, satsr" 2>/dev/null; then
    echo "$VENV: ready"; exit 0
fi
python3 -m venv "$VENV"
# torch and torchvision from a local wheel folder when the machine has one (no GBs of downloads)
if [ -d /opt/wheels ]; then FIND=(--find-links /opt/wheels); else FIND=(); fi
"$VENV/bin/pip" install -q "${FIND[@]}" torch torchvision
"$VENV/bin/pip" install -q "${FIND[@]}" opensr-utils==2.1.0 sen2sr==0.8.5
"$VENV/bin/pip" install -q "${FIND[@]}" -e "$ROOT"   # satsr itself, to build the same models
"$VENV/bin/python" -c "import opensr_utils, sen2sr, satsr; print('$VENV: ready')"
