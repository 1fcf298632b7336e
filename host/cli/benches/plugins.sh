#!/usr/bin/env bash
# Plugins, measured: `action new` + `build` + `install` + a run of each language's scaffold
# (first build included, in a fresh directory with a fresh compile cache), and what compiling
# ahead at install saves the first run of an 18 MB Python plugin, against installing it
# without (--no-precompile), in the same run. Needs a release build and the guest tools
# (SANDPIPE_COMPONENTIZE_PY, SANDPIPE_COMPONENTIZE_JS, as .ci/run installs them):
#   cargo build --release -p sandpipe-cli && host/cli/benches/plugins.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$repo/target}/release/sandpipe"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export SANDPIPE_CACHE_DIR="$work/cache" XDG_CONFIG_HOME="$work/config"

seconds() { python3 -c 'import sys,time; print(f"{time.time()-float(sys.argv[1]):.1f}")' "$1"; }
now() { python3 -c 'import time; print(time.time())'; }

"$bin" s3 mb s3://src >/dev/null
"$bin" s3api put-bucket-versioning --bucket src --versioning-configuration Status=Enabled
echo "from the source" > readme.txt && python3 -c 'import zipfile; z=zipfile.ZipFile("src.zip","w"); z.write("readme.txt"); z.close()'
"$bin" s3 cp src.zip s3://src/src.zip >/dev/null
"$bin" s3 mb s3://site >/dev/null

pipeline() {
  cat > "$1.json" <<EOF
{"pipeline": {"name": "$1", "roleArn": "arn:aws:iam::123456789012:role/r",
 "artifactStore": {"type": "S3", "location": "artifacts"},
 "stages": [
  {"name": "Source", "actions": [{"name": "Fetch",
    "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
    "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
    "outputArtifacts": [{"name": "Src"}]}]},
  {"name": "Build", "actions": [{"name": "Hello", "namespace": "HelloNs",
    "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "$1", "version": "1"},
    "configuration": {"Name": "sandpipe"},
    "inputArtifacts": [{"name": "Src"}], "outputArtifacts": [{"name": "Greeted"}]}]},
  {"name": "Deploy", "actions": [{"name": "Publish",
    "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
    "configuration": {"BucketName": "site", "Extract": "true", "ObjectKey": "$1/#{HelloNs.Greeting}"},
    "inputArtifacts": [{"name": "Greeted"}]}]}]}}
EOF
}

for lang in rust python javascript; do
  provider="Hello${lang^}"
  pipeline "$provider"
  start=$(now)
  "$bin" action new "hello-$lang" --lang "$lang" --type "Build/Custom/$provider/1" >/dev/null
  "$bin" action build "hello-$lang" >/dev/null 2>&1
  "$bin" action install "hello-$lang/dist/hello-$lang.wasm" >/dev/null
  "$bin" run --plain "$provider.json" >/dev/null 2>&1
  echo "$lang: new + build + install + run: $(seconds "$start") s ($(stat -c %s "hello-$lang/dist/hello-$lang.wasm") bytes)"
done

# The first run of a freshly rebuilt Python plugin: compiled at install, or at the run.
"$bin" action build hello-python >/dev/null 2>&1
start=$(now); "$bin" action install --no-precompile hello-python/dist/hello-python.wasm >/dev/null
echo "python rebuilt, install --no-precompile: $(seconds "$start") s"
start=$(now); "$bin" run --plain HelloPython.json >/dev/null 2>&1
echo "  its first run (compiles): $(seconds "$start") s"
"$bin" action build hello-python >/dev/null 2>&1
start=$(now); "$bin" action install hello-python/dist/hello-python.wasm >/dev/null
echo "python rebuilt, install (compiles ahead): $(seconds "$start") s"
start=$(now); "$bin" run --plain HelloPython.json >/dev/null 2>&1
echo "  its first run: $(seconds "$start") s"

# A Rust plugin rebuilt with only its manifest changed keeps its compiled code.
before=$(ls "$SANDPIPE_CACHE_DIR/components" | wc -l)
sed -i 's/^version: 0.1.0/version: 0.1.1/' hello-rust/sandpipe-action.yaml
"$bin" action build hello-rust >/dev/null 2>&1
"$bin" action install hello-rust/dist/hello-rust.wasm
after=$(ls "$SANDPIPE_CACHE_DIR/components" | wc -l)
echo "compile cache entries before and after a manifest-only rebuild and install: $before, $after"

# What discovery costs a run that uses no plugin: validate with the three installed, and
# without them.
start=$(now); for _ in $(seq 20); do "$bin" validate HelloRust.json >/dev/null; done
with=$(seconds "$start")
mv .sandpipe/actions plugins-aside
start=$(now); for _ in $(seq 20); do "$bin" validate --provider Build/Custom/HelloRust/1=plugins-aside/hello-rust.wasm HelloRust.json >/dev/null; done
without=$(seconds "$start")
echo "20 validates with 3 plugins installed (one 19 MB): $with s; with none (--provider): $without s"
