#!/usr/bin/env bash
# Builds OpenTofu from the Go module proxy into a cache outside the repository and prints the binary's path.
# go.mod of opentofu carries `replace` directives, so `go install module@version` refuses; build inside the
# module directory that `go mod download` reports instead.
set -euo pipefail
# The machine's Go lives in /usr/local/go; CI's environment may not have it on PATH.
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
version="${TOFU_VERSION:-v1.11.0}"
cache="${KEYPLANE_TOOL_CACHE:-$HOME/.cache/keyplane-tools}"
bin="$cache/tofu-$version/tofu"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache/tofu-$version"
export GOFLAGS="-mod=mod"
dir=$(cd "$cache" && go mod download -json "github.com/opentofu/opentofu@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "could not download opentofu $version" >&2; exit 1; }
(cd "$dir" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" ./cmd/tofu) >&2
mv "$bin.tmp" "$bin"
echo "$bin"
