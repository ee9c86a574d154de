#!/usr/bin/env bash
# Installs everything zkbox needs on a fresh Debian 12 machine, through the registries'
# ordinary clients only. Idempotent: when everything is present it checks and exits in well
# under 5 seconds without changing anything.
#
#   scripts/setup.sh            install what is missing
#   scripts/setup.sh --check    exit 1 if anything is missing, install nothing
set -euo pipefail

check_only=false
[[ ${1:-} == --check ]] && check_only=true

# Debian packages, grouped by what needs them.
apt_packages=(
  # OpenCL on the CPU (PoCL) and the ICD loader the `ocl` crate links against
  pocl-opencl-icd ocl-icd-opencl-dev clinfo
  # Vulkan on the CPU (Mesa's lavapipe) and the shader tools
  mesa-vulkan-drivers libvulkan1 libvulkan-dev vulkan-tools glslc spirv-tools
  # gRPC code generation
  protobuf-compiler
  # The RISC-V guest toolchain (ARCHITECTURE.md, "Guest toolchain") and a reference emulator
  rustc-web cargo-web rust-web-src lld-22 gcc-riscv64-unknown-elf qemu-user
  # Build basics for -sys crates
  build-essential pkg-config
)

missing_apt=()
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${apt_packages[@]}" 2>/dev/null || true)
for pkg in "${apt_packages[@]}"; do
  grep -qE "^${pkg} ii" <<<"$installed" || missing_apt+=("$pkg")
done

# The Rust toolchain pinned in rust-toolchain.toml must have rustfmt and clippy.
missing_rust=()
for tool in rustfmt cargo-clippy; do
  command -v "$tool" >/dev/null 2>&1 || missing_rust+=("$tool")
done

# CUDA compile check (accel/tests/cuda_compile.rs): NVIDIA's NVRTC and ptxas from PyPI, pinned,
# in the git-ignored .tools/cuda. No GPU, driver or CUDA toolkit is needed for it. The stamp
# file holds the pins, so changing a pin reinstalls; when present this costs one file read.
cuda_tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/cuda"
cuda_pins="nvidia-cuda-nvcc-cu12==12.9.86 nvidia-cuda-nvrtc-cu12==12.9.86"
if [[ "$(cat "$cuda_tools/.pins" 2>/dev/null)" != "$cuda_pins" ]]; then
  if $check_only; then
    echo "setup: missing: CUDA compile tools in .tools/cuda ($cuda_pins)"
    exit 1
  fi
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "setup: installing python3-pip for the CUDA compile tools"
    cuda_sudo=()
    [[ $(id -u) -ne 0 ]] && cuda_sudo=(sudo)
    "${cuda_sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${cuda_sudo[@]}" apt-get install -y -qq --no-install-recommends python3-pip
  fi
  echo "setup: installing $cuda_pins into .tools/cuda"
  rm -rf "$cuda_tools.partial"
  # One pip call: --target does not merge into an existing nvidia/ folder.
  # shellcheck disable=SC2086
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
    --target "$cuda_tools.partial" $cuda_pins
  echo "$cuda_pins" >"$cuda_tools.partial/.pins"
  rm -rf "$cuda_tools"
  mv "$cuda_tools.partial" "$cuda_tools"
fi

# foundry's cast (the sequencer's JSON-RPC tests) and anvil (the load benchmark's peer) from
# the npm registry, pinned, in the git-ignored .tools/foundry; the stamp holds the pins.
foundry_tools="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/foundry"
foundry_pins="@foundry-rs/cast-linux-amd64@1.7.1 @foundry-rs/anvil-linux-amd64@1.7.1"
if [[ "$(cat "$foundry_tools/.pins" 2>/dev/null)" != "$foundry_pins" ]]; then
  if $check_only; then
    echo "setup: missing: foundry cast and anvil in .tools/foundry ($foundry_pins)"
    exit 1
  fi
  echo "setup: installing $foundry_pins into .tools/foundry"
  rm -rf "$foundry_tools.partial"
  mkdir -p "$foundry_tools.partial"
  # shellcheck disable=SC2086
  npm install --silent --no-audit --no-fund --prefix "$foundry_tools.partial" $foundry_pins
  echo "$foundry_pins" >"$foundry_tools.partial/.pins"
  rm -rf "$foundry_tools"
  mv "$foundry_tools.partial" "$foundry_tools"
fi

if [[ ${#missing_apt[@]} -eq 0 && ${#missing_rust[@]} -eq 0 ]]; then
  echo "setup: everything present"
  exit 0
fi
if $check_only; then
  echo "setup: missing: ${missing_apt[*]} ${missing_rust[*]}"
  exit 1
fi

if [[ ${#missing_apt[@]} -gt 0 ]]; then
  echo "setup: installing Debian packages: ${missing_apt[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing_apt[@]}"
fi
if [[ ${#missing_rust[@]} -gt 0 ]]; then
  echo "setup: adding rustup components rustfmt and clippy"
  rustup component add rustfmt clippy
fi
echo "setup: done"
