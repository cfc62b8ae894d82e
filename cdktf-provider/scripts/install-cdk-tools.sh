#!/usr/bin/env bash
# Installs the CDK tools the CDKTF tests drive into a cache outside the repository (like
# .ci/build-tofu.sh) and prints the directory holding their node_modules:
#   install-cdk-tools.sh cdktf   cdktf-cli 0.21.0 (`cdktf synth/deploy/destroy`)
#   install-cdk-tools.sh cdktn   CDK Terrain 0.24.0: the cdktn library and the constructs it supports
#                                (cdktn-cli needs Node >= 22.19; the project runs on Node 20)
# They are not devDependencies: cdktf-cli alone is ~400 MB that only these tests need. Install
# scripts are skipped: the only one, cdktf-cli's node-pty build, would download a prebuilt binary or
# compile one, and the CLI runs without it (the tests drive it non-interactively).
set -euo pipefail
cache="${KEYPLANE_TOOL_CACHE:-$HOME/.cache/keyplane-tools}"
case "${1:-}" in
  cdktf) dir="$cache/cdktf-cli-0.21.0"; packages=(cdktf-cli@0.21.0) ;;
  cdktn) dir="$cache/cdktn-0.24.0"; packages=(cdktn@0.24.0 constructs@10.7.0) ;;
  *) echo "usage: $0 cdktf|cdktn" >&2; exit 2 ;;
esac
if [ -f "$dir/.installed" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir"
printf '{"name":"keyplane-%s-tools","private":true}\n' "$1" > "$dir/package.json"
(cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "${packages[@]}") >&2
touch "$dir/.installed"
echo "$dir"
