#!/usr/bin/env bash
# A Node package built, tested and deployed by a CodePipeline pipeline with CodeBuild actions,
# run locally: unit tests with a JUnit report, a build artifact, a smoke test of the artifact,
# and an S3 website deploy under the version the build exported. Needs node (20 or later) on
# this machine: build commands run on the local runner.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if command -v rustup >/dev/null 2>&1; then
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
fi
cargo build --quiet --manifest-path "$repo/Cargo.toml" -p sandpipe-cli
bin="${CARGO_TARGET_DIR:-$repo/target}/debug/sandpipe"
export SANDPIPE_STATE_DIR="$work/.sandpipe"
sandpipe() { echo "\$ sandpipe $*" >&2; "$bin" "$@"; }

sandpipe s3 mb s3://slugkit-source
sandpipe s3api put-bucket-versioning --bucket slugkit-source --versioning-configuration Status=Enabled
sandpipe s3 mb s3://slugkit-site
(cd "$here/app" && python3 -c '
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for root, dirs, files in os.walk("."):
        dirs[:] = sorted(d for d in dirs if d not in ("node_modules", "dist", "reports"))
        for name in sorted(files):
            z.write(os.path.join(root, name))
' "$work/app.zip")
sandpipe s3 cp "$work/app.zip" s3://slugkit-source/app.zip

sandpipe run "$here/pipeline.yaml"

sandpipe s3 ls s3://slugkit-site --recursive
sandpipe s3 cp s3://slugkit-site/slugkit/1.3.0/index.html -
