#!/usr/bin/env bash
# A Node package built, tested and deployed by a CodePipeline pipeline with CodeBuild actions,
# run locally: unit tests with a JUnit report, a build artifact, a smoke test of the artifact,
# and an S3 website deploy under the version the build exported. The source is the package's
# git repository: first a local repository made from app/ (found through --repos-root, as
# the pipeline's connection would find it on GitHub), then app/ itself as a working tree,
# uncommitted changes included (--source). Needs git, and node 20 or later: build commands
# run on the local runner.
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

# The repository the pipeline's FullRepositoryId (example-org/slugkit) names.
mkdir -p "$work/repos/slugkit"
cp -R "$here/app/." "$work/repos/slugkit/"
rm -rf "$work/repos/slugkit/node_modules" "$work/repos/slugkit/dist" "$work/repos/slugkit/reports"
git -C "$work/repos/slugkit" init -q -b main
git -C "$work/repos/slugkit" add -A
git -C "$work/repos/slugkit" -c user.name=Example -c user.email=example@example.com \
  commit -q -m "slugkit 1.3.0"

sandpipe s3 mb s3://slugkit-site

# From the repository: the branch head, as CodePipeline would take it.
sandpipe run "$here/pipeline.yaml" --repos-root "$work/repos"
sandpipe s3 cp s3://slugkit-site/slugkit/1.3.0/slugkit.js - | head -1

# From the working tree: app/ as it is now, without committing.
sandpipe run "$here/pipeline.yaml" --source Source="$here/app"

sandpipe s3 ls s3://slugkit-site --recursive
sandpipe s3 cp s3://slugkit-site/slugkit/1.3.0/index.html -
