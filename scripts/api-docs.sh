#!/usr/bin/env bash
# Builds the API reference and guides (docfx 2.81.0, a local tool in .config/dotnet-tools.json) into docs/_site.
# The library's build already fails on a public member without XML docs (CS1591); docfx's own warnings (a broken link,
# a bad cross-reference) are errors here too. Open docs/_site/index.html, or serve it: dotnet docfx serve docs/_site
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet tool restore >/dev/null
rm -rf docs/api docs/_site
dotnet docfx docs/docfx.json --warningsAsErrors
echo "API docs: docs/_site/index.html ($(find docs/_site -name '*.html' | wc -l) pages)"
