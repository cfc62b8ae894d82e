#!/usr/bin/env bash
# Installs the CDK tools the CDKTF tests drive into a cache outside the repository (like
# .ci/build-tofu.sh) and prints the directory holding their node_modules:
#   install-cdk-tools.sh cdktf   cdktf-cli 0.21.0 (`cdktf synth/deploy/destroy`)
#   install-cdk-tools.sh cdktn   CDK Terrain 0.24.0: cdktn-cli (`cdktn synth/deploy/destroy`, Node >= 22.19),
#                                the cdktn library and the constructs it supports
# They are not devDependencies: cdktf-cli alone is ~400 MB that only these tests need. Install
# scripts are skipped: the only one, cdktf-cli's node-pty build, would try a download from GitHub
# first; the binding is compiled below instead when this Node needs it.
set -euo pipefail
cache="${KEYPLANE_TOOL_CACHE:-$HOME/.cache/keyplane-tools}"
case "${1:-}" in
  cdktf) dir="$cache/cdktf-cli-0.21.0"; packages=(cdktf-cli@0.21.0) ;;
  cdktn) dir="$cache/cdktn-cli-0.24.0"; packages=(cdktn-cli@0.24.0 cdktn@0.24.0 constructs@10.7.0) ;;
  *) echo "usage: $0 cdktf|cdktn" >&2; exit 2 ;;
esac
if [ ! -f "$dir/.installed" ]; then
  mkdir -p "$dir"
  printf '{"name":"keyplane-%s-tools","private":true}\n' "$1" > "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "${packages[@]}") >&2
  touch "$dir/.installed"
fi
# cdktf-cli loads node-pty when it starts. CDKTF is no longer released, and its node-pty ships
# prebuilt bindings up to Node 22's ABI only: on a newer Node the binding is compiled for the Node
# running here (with npm's node-gyp, from that Node's own headers when it has them) once per ABI change.
pty="$dir/node_modules/@cdktf/node-pty-prebuilt-multiarch"
if [ "$1" = cdktf ] && ! node -e 'require(process.argv[1])' "$pty" 2>/dev/null; then
  node_home=$(node -p 'path.dirname(path.dirname(fs.realpathSync(process.execPath)))')
  node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  headers=()
  [ -f "$node_home/include/node/node.h" ] && headers=(--nodedir="$node_home")
  (cd "$pty" && node "$node_gyp" rebuild --loglevel=error "${headers[@]}") >"$dir/node-pty-build.log" 2>&1 \
    || { cat "$dir/node-pty-build.log" >&2; exit 1; }
  node -e 'require(process.argv[1])' "$pty"
fi
echo "$dir"
