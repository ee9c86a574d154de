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
