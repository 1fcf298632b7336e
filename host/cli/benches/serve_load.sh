#!/usr/bin/env bash
# Load on `sandpipe serve` from a second process (wrk, Debian's package): GetPipelineState at
# 64 concurrent connections against the server's own floor (GET /_sandpipe/health, no state
# read) in the same run, then a 1 GiB S3 PUT and GET through curl against `cp` of the same
# file, with the server's peak RSS (VmHWM). Needs a release build:
#   cargo build --release -p sandpipe-cli && host/cli/benches/serve_load.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$repo/target}/release/sandpipe"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

# The tutorial pipeline, run once from the CLI so the registry has it and its stages have
# an execution for GetPipelineState to report.
"$bin" s3 mb s3://source-bucket >/dev/null
"$bin" s3 mb s3://target-bucket >/dev/null
"$bin" s3api put-bucket-versioning --bucket source-bucket --versioning-configuration Status=Enabled
echo "Hello" > file && "$bin" s3 cp file s3://source-bucket >/dev/null
"$bin" run --plain "$repo/examples/s3-to-s3/pipeline.json" >/dev/null 2>&1
"$bin" s3 mb s3://big >/dev/null

"$bin" serve --port 0 > serve.log 2>&1 &
server=$!
for _ in $(seq 50); do grep -q listening serve.log && break; sleep 0.1; done
url="$(sed -n 's/.*listening on //p' serve.log)"

cat > state.lua <<'LUA'
wrk.method = "POST"
wrk.body = '{"name": "pipeline"}'
wrk.headers["X-Amz-Target"] = "CodePipeline_20150709.GetPipelineState"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
LUA
echo "== GET /_sandpipe/health (the server's floor)"
wrk -t2 -c64 -d10s --latency "$url/_sandpipe/health" | grep -E "Requests/sec|99%|50%"
echo "== GetPipelineState"
wrk -t2 -c64 -d10s --latency -s state.lua "$url/" | grep -E "Requests/sec|99%|50%|Non-2xx"

echo "== 1 GiB: cp, then S3 PUT and GET through the server"
head -c 1073741824 /dev/urandom > big.bin
/usr/bin/time -f "cp: %e s" cp big.bin copy.bin && rm copy.bin
/usr/bin/time -f "PUT: %e s" curl -sf -T big.bin "$url/big/big.bin" -o /dev/null
/usr/bin/time -f "GET: %e s" curl -sf "$url/big/big.bin" -o back.bin
cmp big.bin back.bin && echo "round trip identical"
grep VmHWM "/proc/$server/status"
