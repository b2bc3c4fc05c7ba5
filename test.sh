#!/usr/bin/env bash
# Builds everything (restoring NuGet packages and patching TorchSharp's native library where needed) and runs the
# whole test suite. Exits non-zero when a build step or a test fails. CI (.ci/run) runs exactly this.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet build Surgeon.sln -c Release -v quiet -nologo
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test Surgeon.sln -c Release --no-build -nologo --logger "console;verbosity=normal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line for CI and humans: "tests: N passed, N failed, N skipped".
count() { grep -E "^ +$1: +[0-9]+" "$log" | tail -1 | sed -E 's/[^0-9]*([0-9]+).*/\1/' || true; }
passed=$(count Passed); failed=$(count Failed); skipped=$(count Skipped)
if [[ -n "$passed$failed" ]]; then
  echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
fi
exit "$status"
