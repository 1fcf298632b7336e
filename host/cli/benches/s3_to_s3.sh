#!/bin/sh
# What `sandpipe run examples/s3-to-s3/pipeline.json` does, as plain file operations with as
# few processes as the work allows: the obvious alternative the warm-run benchmark measures
# sandpipe against. Buckets are directories under $1; each action gets a fresh work
# directory, removed afterwards.
set -eu
root="$1"
run="$$"
work="$root/work/$run"
artifact="intermediate-artifact-file"
key="$root/artifact-store-bucket/pipeline/$run"

# Source action: fetch the object into the action's output, and store it in the artifact
# store under a fresh key with its digest.
mkdir -p "$work/source/out/$artifact" "$work/deploy/archives" "$work/deploy/in/$artifact" \
  "$root/artifact-store-bucket/pipeline" "$root/target-bucket" "$root/executions"
cp "$root/source-bucket/file" "$work/source/out/$artifact/file"
cp "$work/source/out/$artifact/file" "$key"
set -- $(sha256sum "$key")
digest="$1"

# Deploy action: stage the artifact (its bytes and its tree), check its digest, upload it
# to the target bucket with its ETag.
cp "$key" "$work/deploy/archives/$artifact"
set -- $(sha256sum "$work/deploy/archives/$artifact")
test "$1" = "$digest"
cp "$key" "$work/deploy/in/$artifact/file"
cp "$work/deploy/in/$artifact/file" "$root/target-bucket/output-artifact-file"
set -- $(md5sum "$root/target-bucket/output-artifact-file")

# The record of the run, and the work directories gone.
printf '{"id":"%s","artifact":"%s","sha256":"%s","etag":"%s","status":"Succeeded"}\n' \
  "$run" "$key" "$digest" "$1" >> "$root/executions/records.jsonl"
rm -rf "$work"
