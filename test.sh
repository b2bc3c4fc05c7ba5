#!/usr/bin/env bash
# Builds everything (restoring NuGet packages and patching TorchSharp's native library where needed) and runs the
# whole test suite. Exits non-zero when a build step or a test fails. CI (.ci/run) runs exactly this.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# The real-Slurm test (tests/Surgeon.Tests/Cli/RealSlurmTests.cs) starts munged, slurmctld and slurmd itself; it needs
# Debian's slurm-wlm and munge packages, installed here when missing (as root, e.g. in CI). Without them it is skipped.
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1 || ! command -v sbatch >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing slurm-wlm and munge for the real-Slurm test" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; } >/dev/null 2>&1 \
      || echo "warning: could not install slurm-wlm and munge; the real-Slurm test will be skipped" >&2
  fi
fi
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
