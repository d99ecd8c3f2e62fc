#!/usr/bin/env bash
# CI step after the tests: ichdet installed the way a user installs it. Packs the package,
# installs the tarball into an empty project (CI reaches only the npm registry, so any other
# download fails this step), checks that no ONNX Runtime install script ran (no
# onnxruntime-node, no CUDA library), then runs a short end to end there with the installed
# `ichdet` bin: synth 2 patients → prepare → split → train a tiny MobileNetV2 for one epoch on
# the native accelerator (built by the package's install script) →
# export-onnx → predict --runtime onnx, and checks the predictions file has a row per slice,
# made by the wasm build, with no npm warning on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ichdet-pack-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "ci-pack-check: $*" >&2
  exit 1
}

# 1. Pack: dist/ and bin/ only, no tests, no sources.
tarball="$tmp/$(npm pack --silent --pack-destination "$tmp" | tail -n 1)"
tar -tzf "$tarball" >"$tmp/contents"
for f in package/package.json package/bin/ichdet.js package/dist/index.js package/dist/cli/run.js \
  package/dist/infer/onnx-runtime.js package/dist/view-web/index.html package/dist/view-web/app.js \
  package/dist/view-web/worker.js; do
  grep -qx "$f" "$tmp/contents" || fail "$f is missing from $(basename "$tarball")"
done
if grep -E '^package/(test|src|bench|scripts|\.ci)/' "$tmp/contents"; then
  fail "the tarball holds files outside dist/ and bin/ (listed above)"
fi
echo "packed $(basename "$tarball"): $(wc -l <"$tmp/contents") files"

# 2. Install into an empty project, as `npm install ichdet` would.
app="$tmp/app"
mkdir "$app"
cd "$app"
npm init -y >/dev/null
npm install --no-audit --no-fund "$tarball" 2>"$tmp/install.err" || {
  cat "$tmp/install.err" >&2
  fail "npm install of the tarball failed"
}
[ ! -e node_modules/onnxruntime-node ] || fail "onnxruntime-node was installed (it is an optional peer)"
[ -e node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm ] ||
  fail "onnxruntime-web's wasm file is missing"
cuda=$(find node_modules -name '*onnxruntime_providers_cuda*' -o -name '*providers_tensorrt*' | head -n 1)
[ -z "$cuda" ] || fail "a CUDA library was downloaded: $cuda"
[ -e node_modules/ichdet/native/build/Release/ichdet_native.node ] ||
  fail "the native accelerator was not built at install (ichdet's install script, node-gyp, OpenBLAS)"
echo "installed in $((SECONDS - start)) s (no onnxruntime-node, no CUDA libraries; native accelerator built)"

# 3. End to end with the installed bin.
run() {
  echo "+ ichdet $*"
  npx --no-install ichdet "$@" 2>"$tmp/step.err" >"$tmp/step.out" || {
    cat "$tmp/step.out" "$tmp/step.err" >&2
    fail "ichdet $1 failed"
  }
  if grep -i '^npm warn' "$tmp/step.err"; then fail "npm printed a warning for ichdet $1"; fi
  tail -n 2 "$tmp/step.out"
}
run synth --out data --patients 2 --size 64 --slices-per-series 6:8 --prevalence balanced \
  --workers 1 --no-progress
run prepare --images data/stage_2_train --labels data/stage_2_train.csv --out cache --size 32 \
  --workers 1 --no-progress
run split --cache cache --out split.csv --val 0.5 --seed 1
run train --cache cache --split split.csv --arch MobileNetV2 --out run --size 32 --epochs 1 \
  --batch 4 --weights none --workers 1 --backend native --no-progress
run export-onnx run --out run/best/model.onnx
run predict --model run --input data/stage_2_train --out pred --runtime onnx --no-progress

# 4. The predictions: one row per slice of the two patients, from the wasm build.
node --input-type=module -e "
import { readdirSync, readFileSync } from 'node:fs';
const slices = readdirSync('data/stage_2_train').filter((f) => f.endsWith('.dcm')).length;
const rows = readFileSync('pred/slices.csv', 'utf8').trim().split('\n');
const meta = JSON.parse(readFileSync('pred/predict.json', 'utf8'));
const config = JSON.parse(readFileSync('run/config.json', 'utf8'));
const problems = [];
if (slices < 12) problems.push('synth wrote ' + slices + ' slices, expected at least 12');
if (rows.length !== slices + 1) problems.push('slices.csv has ' + (rows.length - 1) + ' rows for ' + slices + ' slices');
if (!rows[0].startsWith('image_id,')) problems.push('slices.csv header: ' + rows[0]);
for (const r of rows.slice(1)) {
  const p = r.split(',').slice(6, 12).map(Number);
  if (p.length !== 6 || p.some((v) => !(v >= 0 && v <= 1))) problems.push('bad row: ' + r);
}
if (meta.runtime !== 'onnx' || meta.onnxBackend !== 'wasm') problems.push('predict.json: runtime ' + meta.runtime + ', onnxBackend ' + meta.onnxBackend);
if (config.arch !== 'mobilenet_v2') problems.push('run/config.json arch ' + config.arch + ', expected mobilenet_v2');
if (problems.length) { console.error(problems.join('\n')); process.exit(1); }
console.log('predicted ' + slices + ' slices with ONNX Runtime ' + meta.onnxBackend);
" || fail "the predictions are not what was expected"

# 5. ichdet view from the installed package: its bundled client, onnxruntime-web's files and
# the DICOMweb subset answer on 127.0.0.1.
node node_modules/ichdet/bin/ichdet.js view data/stage_2_train --predictions pred --port 0 >"$tmp/view.out" 2>&1 &
view_pid=$!
url=""
for _ in $(seq 1 120); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$tmp/view.out" | head -n 1 || true)
  [ -n "$url" ] && break
  sleep 0.5
done
view_check() {
  [ -n "$url" ] || { cat "$tmp/view.out" >&2; return 1; }
  curl -sf "$url" | grep -q 'Research use only' &&
    curl -sf "${url}static/app.js" >/dev/null &&
    curl -sf "${url}static/worker.js" >/dev/null &&
    curl -sf "${url}ort/ort.wasm.min.mjs" >/dev/null &&
    curl -sfI "${url}ort/ort-wasm-simd-threaded.wasm" | grep -qi 'application/wasm' &&
    curl -sf "${url}dicomweb/studies" | grep -q '0020000D'
}
view_ok=0
view_check && view_ok=1
kill "$view_pid" 2>/dev/null || true
wait "$view_pid" 2>/dev/null || true
[ "$view_ok" = 1 ] || fail "ichdet view did not serve its page, client, ONNX Runtime files and DICOMweb from the installed package"
echo "ichdet view served its client and DICOMweb from the installed package"
cd "$repo"
echo "ci-pack-check: passed in $((SECONDS - start)) s"
