#!/usr/bin/env bash
# Installs what the build needs, builds, and runs every test (unit, engine and end-to-end).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/Tools/install-deps.sh"
cd "$here"
swift build --build-tests
swift test --skip-build --parallel --num-workers 2 "$@"
