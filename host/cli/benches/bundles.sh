#!/usr/bin/env bash
# Reproducible runs, measured: `sandpipe export` of an execution holding 2 × 256 MB artifacts
# against `tar | zstd -3` of the artifact bucket holding them (the same bytes read and
# compressed at the same level; the bundle also digests every entry twice, once for the
# manifest and once as it writes), and `sandpipe replay BUNDLE` in an empty state directory (verify, import,
# run, compare) against a plain `sandpipe run` of the pipeline, in the same run; wall time
# and peak RSS of each. Needs a release build, zstd and GNU time:
#   cargo build --release -p sandpipe-cli && host/cli/benches/bundles.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$repo/target}/release/sandpipe"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# 64 files of 4 MB: half random (incompressible), half text.
mkdir src
python3 - <<'PY'
import os
for i in range(64):
    with open(f"src/f{i:02}.bin", "wb") as f:
        if i % 2:
            f.write(os.urandom(4 << 20))
        else:
            f.write((b"line %d of a text file that compresses well\n" % i) * ((4 << 20) // 46))
PY
(cd src && zip -q -0 -r ../src.zip .)
"$bin" s3 mb s3://src >/dev/null
"$bin" s3api put-bucket-versioning --bucket src --versioning-configuration Status=Enabled >/dev/null
"$bin" s3 cp src.zip s3://src/src.zip >/dev/null
cat > pipeline.json <<'JSON'
{"pipeline": {"name": "big", "pipelineType": "V2", "roleArn": "arn:aws:iam::123456789012:role/r",
 "artifactStore": {"type": "S3", "location": "artifacts"},
 "stages": [
  {"name": "Source", "actions": [{"name": "Fetch",
    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
    "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
    "outputArtifacts": [{"name": "Src"}]}]},
  {"name": "Build", "actions": [{"name": "Copy",
    "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
    "commands": ["mkdir -p out", "cp f*.bin out/"],
    "inputArtifacts": [{"name": "Src"}],
    "outputArtifacts": [{"name": "Out", "files": ["out/**/*"]}]}]}
 ]}}
JSON

measure() { # label, command…: wall seconds and peak RSS (MiB)
  local label="$1"; shift
  /usr/bin/time -f "%e %M" -o time.txt "$@" >/dev/null 2>&1
  read -r seconds kib < time.txt
  printf '%-44s %7.2f s %7d MiB\n' "$label" "$seconds" "$((kib / 1024))"
}

measure "sandpipe run (the original)" "$bin" run --plain pipeline.json
for round in 1 2 3; do
  measure "sandpipe export (round $round)" "$bin" export -o "run$round.tar.zst"
  rm -f alt.tar.zst
  measure "tar | zstd -3 of the artifact bucket" bash -c \
    "tar -cf - .sandpipe/s3/artifacts | zstd -3 -q -o alt.tar.zst"
done
cmp run1.tar.zst run2.tar.zst && cmp run2.tar.zst run3.tar.zst && echo "3 exports, the same bytes: $(stat -c %s run1.tar.zst) bytes (tar | zstd: $(stat -c %s alt.tar.zst))"
for round in 1 2 3; do
  measure "sandpipe replay BUNDLE, empty state (round $round)" "$bin" --state-dir "fresh$round" replay run1.tar.zst --plain
  measure "sandpipe run of the pipeline" "$bin" run --plain pipeline.json
done
