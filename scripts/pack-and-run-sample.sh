#!/usr/bin/env bash
# Packs the library (and the CLI as a dotnet tool), then uses them as a user would:
#   1. dotnet pack src/Surgeon and src/Surgeon.Cli into artifacts/packages
#   2. restores samples/PruneDigits from that folder (its nuget.config) into a FRESH NuGet packages folder, so a stale
#      cached Surgeon package of the same version is never used; builds and runs it (it prints its accuracy)
#   3. installs the tool into a temporary --tool-path from the same folder and runs 'surgeon --help' and a short
#      'surgeon demo' from there
# Dependencies other than Surgeon come from the machine's NuGet cache when they are there (a read-only fallback folder
# that leaves Surgeon out), else from nuget.org. Prints each step's time and the package sizes. CI runs it after the
# tests (.ci/run). Exits non-zero when a step fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
packages="$root/artifacts/packages"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
step() { echo "== $1 ($((SECONDS - start)) s)"; }

step "pack"
rm -rf "$packages"
dotnet pack src/Surgeon/Surgeon.csproj -c Release -o "$packages" -v quiet -nologo
dotnet pack src/Surgeon.Cli/Surgeon.Cli.csproj -c Release -o "$packages" -v quiet -nologo
library=$(find "$packages" -maxdepth 1 -name 'Surgeon.[0-9]*.nupkg' | head -1)
tool=$(find "$packages" -maxdepth 1 -name 'Surgeon.Tool.[0-9]*.nupkg' | head -1)
[[ -n "$library" && -n "$tool" ]] || { echo "error: dotnet pack wrote no Surgeon and Surgeon.Tool packages in $packages" >&2; exit 1; }
version="${library##*/Surgeon.}"; version="${version%.nupkg}"
for p in "$library" "$tool"; do echo "package ${p##*/}: $(stat -c %s "$p") bytes"; done

# A fresh packages folder; the machine's cache (without Surgeon or the tool) as a fallback folder, read only.
export NUGET_PACKAGES="$work/nuget-packages"
cache="$(dotnet nuget locals global-packages -l | sed -E 's/^global-packages: //')"
fallback="$work/nuget-fallback"
mkdir -p "$NUGET_PACKAGES" "$fallback"
if [[ -d "$cache" ]]; then
  for dir in "$cache"/*/; do
    id="$(basename "$dir")"
    [[ "$id" == "surgeon" || "$id" == "surgeon.tool" ]] || ln -s "$dir" "$fallback/$id"
  done
fi

step "restore and build samples/PruneDigits against Surgeon $version"
sample="$work/PruneDigits"
dotnet build samples/PruneDigits/PruneDigits.csproj -c Release -v quiet -nologo -p:SurgeonVersion="[$version]" \
  -p:RestoreFallbackFolders="$fallback" -p:RestoreNoCache=true -o "$sample"
step "run the sample"
(cd "$work" && dotnet "$sample/PruneDigits.dll" 0.9 "$work/mlpnet-cbs.onnx")
[[ -s "$work/mlpnet-cbs.onnx" ]] || { echo "error: the sample wrote no ONNX file" >&2; exit 1; }

step "install the tool into a temporary --tool-path"
tools="$work/tools"
dotnet tool install Surgeon.Tool --version "$version" --tool-path "$tools" --add-source "$packages" >/dev/null
step "surgeon --help (from the tool)"
"$tools/surgeon" --help | head -5
step "surgeon demo (from the tool; 1 epoch, mp and cbs)"
(cd "$work" && "$tools/surgeon" demo --epochs 1 --methods mp,cbs --out-dir "$work/demo" --quiet)
step "done"
