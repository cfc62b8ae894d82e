#!/usr/bin/env bash
# Builds HashiCorp Terraform from the Go module proxy (second engine for the e2e suite), the same
# way as build-tofu.sh, into a cache outside the repository; prints the binary's path.
set -euo pipefail
version="${TERRAFORM_VERSION:-v1.13.3}"
cache="${KEYPLANE_TOOL_CACHE:-$HOME/.cache/keyplane-tools}"
bin="$cache/terraform-$version/terraform"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache/terraform-$version"
export GOFLAGS="-mod=mod"
dir=$(cd "$cache" && go mod download -json "github.com/hashicorp/terraform@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "could not download terraform $version" >&2; exit 1; }
(cd "$dir" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .) >&2
mv "$bin.tmp" "$bin"
echo "$bin"
