#!/usr/bin/env bash
# The CUDA checks that need a GPU, as one command, for a machine with an NVIDIA GPU and its
# driver but no internet (no crates.io, no PyPI):
#
#   1. the accel equality tests on the GPU: CUDA backend against the CPU backend and Plonky3
#      (accel/tests/cuda_equality.rs), plus the accel unit tests (discovery, typed errors);
#   2. the quotient interpreter against Plonky3 for every chip (prover/tests/quotient_kernels.rs);
#   3. `zkbox devices`;
#   4. `zkbox bench all --backend cuda:0,cpu --json FILE`, and prints the table; then
#      `zkbox bench quotient --backend cuda:0,cpu` (per-chip interpreter times);
#   5. `zkbox bench prove --backend cpu,cuda:0 --device-compute never,always`: whole proofs
#      on the GPU, which the bench compares byte for byte with the CPU's (it fails if they
#      differ), with `nvidia-smi` sampling memory and utilisation every 0.2 s beside it.
#
# Binaries: a GPU machine usually cannot build (no crate registry), so prepare them on a
# machine that can, then take .tools/gpu-check (and the repository) to the GPU machine:
#
#   scripts/gpu-check.sh --prepare   # here: release build; stripped binaries in .tools/gpu-check/,
#                                    # PTX in .tools/cuda-ptx/, both in .tools/gpu-check.tar.gz
#   scripts/gpu-check.sh             # there: runs the checks with those binaries (carry
#                                    # .tools/gpu-check.tar.gz, or the two folders)
#
# Without .tools/gpu-check it falls back to `cargo build --release --offline` (works where
# the cargo registry cache and a Rust toolchain are present).
#
# NVRTC: the backend compiles its kernels with NVRTC at start (PTX cached on disk). NVRTC
# ships with the CUDA toolkit, not the driver; this script looks in /usr/local/cuda*, in the
# system library folder, and in .tools/cuda (scripts/setup.sh). Where none is found it seeds the PTX
# cache from .tools/cuda-ptx/ (PTX written by the compile check, accel/tests/cuda_compile.rs,
# copied there by --prepare); the driver then JIT-compiles it, which needs a driver at least
# as new as the NVRTC that produced it (12.9 for .tools/cuda).
#
# Options for the benchmark: BENCH_LOG_N (default 16..24), BENCH_COLS (default 256), BENCH_JSON
# (where the JSON goes; default .tools/gpu-check-bench.json), BENCH_ALL=0 (skip `bench all`),
# QUOTIENT_LOG_N (cycles of the `bench quotient` workload, default 20), PROVE_LOG_N (cycles of
# the `bench prove` workloads, default 20..22; BENCH_PROVE=0 skips it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
bundle=$root/.tools/gpu-check

if [[ ${1:-} == --prepare ]]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
  cargo build --release --locked --bin zkbox
  # The compile check writes the PTX the backend would compile (and seeds the PTX cache).
  cargo test --release --locked -p zkbox-accel --test cuda_compile -- --nocapture
  mapfile -t tests < <(cargo test --release --locked -p zkbox-accel --lib --test cuda_equality \
    --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"] + " " + m["executable"])')
  mapfile -t -O "${#tests[@]}" tests < <(cargo test --release --locked -p zkbox-prover \
    --test quotient_kernels --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"] + " " + m["executable"])')
  rm -rf "$bundle" && mkdir -p "$bundle" "$root/.tools/cuda-ptx"
  cp "$CARGO_TARGET_DIR/release/zkbox" "$bundle/zkbox"
  for entry in "${tests[@]}"; do
    name=${entry%% *}
    cp "${entry#* }" "$bundle/test-${name//-/_}"
  done
  strip "$bundle"/* || true
  cp "$CARGO_TARGET_DIR"/tmp/cuda-kernels/*.ptx "$root/.tools/cuda-ptx/"
  # A compressed copy for carrying to the GPU machine (its carry limit is 64 MiB).
  tar -C "$root/.tools" -czf "$root/.tools/gpu-check.tar.gz" gpu-check cuda-ptx
  ls -la "$bundle" "$root/.tools/cuda-ptx" "$root/.tools/gpu-check.tar.gz"
  exit 0
fi

if [[ ! -d $bundle && -f $root/.tools/gpu-check.tar.gz ]]; then
  tar -C "$root/.tools" -xzf "$root/.tools/gpu-check.tar.gz"
fi

echo "== GPU and driver"
if ! command -v nvidia-smi >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so'; then
  echo "gpu-check: no NVIDIA driver on this machine (no nvidia-smi, no libcuda.so)" >&2
  exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv || true

echo "== NVRTC"
nvrtc_dir=
for dir in /usr/local/cuda/lib64 /usr/local/cuda-*/lib64 /usr/lib/x86_64-linux-gnu \
  "$root/.tools/cuda/nvidia/cuda_nvrtc/lib"; do
  if compgen -G "$dir/libnvrtc.so*" >/dev/null; then
    nvrtc_dir=$dir
    break
  fi
done
if [[ -n $nvrtc_dir ]]; then
  echo "NVRTC from $nvrtc_dir"
  export LD_LIBRARY_PATH=$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
elif compgen -G "$root/.tools/cuda-ptx/*.ptx" >/dev/null; then
  echo "no NVRTC here: seeding the PTX cache from .tools/cuda-ptx"
  export XDG_CACHE_HOME=$root/.tools/gpu-check-cache
  mkdir -p "$XDG_CACHE_HOME/zkbox/cuda"
  cp "$root"/.tools/cuda-ptx/*.ptx "$XDG_CACHE_HOME/zkbox/cuda/"
else
  echo "gpu-check: no NVRTC (CUDA toolkit) and no prepared PTX in .tools/cuda-ptx" >&2
  exit 1
fi

echo "== binaries"
if [[ -x $bundle/zkbox ]]; then
  zkbox=$bundle/zkbox
  lib_tests=$bundle/test-zkbox_accel
  equality_tests=$bundle/test-cuda_equality
  quotient_tests=$bundle/test-quotient_kernels
else
  echo "no .tools/gpu-check: building offline"
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
  cargo build --release --offline --bin zkbox
  zkbox=$CARGO_TARGET_DIR/release/zkbox
  cargo test --release --offline -p zkbox-accel --lib --test cuda_equality --no-run
  lib_tests=$(ls -t "$CARGO_TARGET_DIR"/release/deps/zkbox_accel-* | grep -v '\.d$' | head -1)
  equality_tests=$(ls -t "$CARGO_TARGET_DIR"/release/deps/cuda_equality-* | grep -v '\.d$' | head -1)
  cargo test --release --offline -p zkbox-prover --test quotient_kernels --no-run
  quotient_tests=$(ls -t "$CARGO_TARGET_DIR"/release/deps/quotient_kernels-* | grep -v '\.d$' | head -1)
fi

echo "== zkbox devices"
"$zkbox" devices
"$zkbox" devices | grep -q '^cuda:0 ' || { echo "gpu-check: zkbox devices lists no cuda:0" >&2; exit 1; }

echo "== accel unit tests"
"$lib_tests" --test-threads=1 cuda discovery
echo "== CUDA equality tests (GPU against CPU and Plonky3)"
"$equality_tests" --test-threads=1 --nocapture
echo "== quotient interpreter against Plonky3, every chip, on cuda:0"
quotient_log=$root/.tools/gpu-check-quotient.log
"$quotient_tests" --test-threads=1 --nocapture cuda 2>&1 | tee "$quotient_log"
grep -q "on cuda:0" "$quotient_log" ||
  { echo "gpu-check: the quotient test did not run on cuda:0" >&2; exit 1; }

json=${BENCH_JSON:-$root/.tools/gpu-check-bench.json}
if [[ ${BENCH_ALL:-1} == 1 ]]; then
  echo "== zkbox bench all --backend cuda:0,cpu"
  "$zkbox" bench all --backend cuda:0,cpu --log-n "${BENCH_LOG_N:-16..24}" --cols "${BENCH_COLS:-256}" \
    --json "$json"
fi
echo "== zkbox bench quotient --backend cuda:0,cpu"
"$zkbox" bench quotient --backend cuda:0,cpu --log-n "${QUOTIENT_LOG_N:-20}" \
  --json "${json%.json}-quotient.json"
if [[ ${BENCH_PROVE:-1} == 1 ]]; then
  echo "== zkbox bench prove --backend cpu,cuda:0 --device-compute never,always"
  samples=${json%.json}-prove-nvidia-smi.csv
  nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu,utilization.memory \
    --format=csv -lms 200 >"$samples" 2>/dev/null &
  sampler=$!
  status=0
  RUST_LOG=${RUST_LOG:-zkbox_prover=info} ZKBOX_GUESTS=${ZKBOX_GUESTS:-/nonexistent} \
    "$zkbox" bench prove --backend cpu,cuda:0 --device-compute never,always \
    --log-n "${PROVE_LOG_N:-20..22}" --json "${json%.json}-prove.json" || status=$?
  kill "$sampler" 2>/dev/null || true
  echo "nvidia-smi samples in $samples (peak memory.used: $(awk -F', ' 'NR > 1 { v = $2 + 0; if (v > m) m = v } END { print m + 0 }' "$samples") MiB)"
  [[ $status == 0 ]] || { echo "gpu-check: bench prove failed ($status)" >&2; exit "$status"; }
fi
echo "gpu-check: passed; benchmark JSON in $json, ${json%.json}-quotient.json and ${json%.json}-prove.json"
