#!/usr/bin/env bash
# The LocalStack CodePipeline tutorial (an S3 object flows from one bucket to another through
# a pipeline), done locally against sandpipe's embedded S3. Runs from a fresh clone: the first
# build compiles sandpipe and its wasm action providers.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# The wasm target is listed in rust-toolchain.toml; rustup installs it only when auto-install
# is on, so ask for it (the build script would too).
if command -v rustup >/dev/null 2>&1; then
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
fi
cargo build --quiet --manifest-path "$repo/Cargo.toml" -p sandpipe-cli
bin="${CARGO_TARGET_DIR:-$repo/target}/debug/sandpipe"
sandpipe() { echo "\$ sandpipe $*" >&2; "$bin" "$@"; }

sandpipe s3 mb s3://source-bucket
sandpipe s3 mb s3://target-bucket
sandpipe s3api put-bucket-versioning --bucket source-bucket --versioning-configuration Status=Enabled
echo "Hello LocalStack!" > file
sandpipe s3 cp file s3://source-bucket

sandpipe run "$here/pipeline.json"

sandpipe s3 cp s3://target-bucket/output-artifact-file output-artifact-file
if cmp -s file output-artifact-file; then
  echo "target-bucket/output-artifact-file holds exactly the uploaded bytes"
else
  echo "target-bucket/output-artifact-file differs from the uploaded file" >&2
  exit 1
fi
