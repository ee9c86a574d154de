#!/usr/bin/env bash
# Builds the RV32IM guests (executor/guest/) with Debian's rustc-web toolchain and the C/assembly
# test programs with gcc-riscv64-unknown-elf, then copies each ELF to target/guests/<name>.
#
#   scripts/build-guests.sh           build (incremental; offline once the registry has what
#                                     executor/guest/Cargo.lock names)
#   scripts/build-guests.sh --check   build, then check every ELF's headers and run the guests
#                                     that qemu-riscv32 can run against their expected outputs
#
# The guest workspace is never built by rustup's toolchain (it has no RISC-V core/alloc): this
# script calls /usr/bin/cargo and /usr/bin/rustc explicitly and clears the environment that a
# rustup shim, an enclosing cargo, or the main workspace could leak into the build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
guest_dir="$root/executor/guest"
target_json="$guest_dir/riscv32im-zkbox-zkvm-elf.json"
build_dir="$root/target/guest-build"
out_dir="$root/target/guests"
check=false
[[ ${1:-} == --check ]] && check=true

# The Rust guests: every crate under executor/guest/guests/ (its folder, package and binary
# share one name); each binary becomes target/guests/<name>.
rust_guests=()
for manifest in "$guest_dir"/guests/*/Cargo.toml; do
  rust_guests+=("$(basename "$(dirname "$manifest")")")
done

# --- toolchain ---------------------------------------------------------------------------
cargo_bin=/usr/bin/cargo
rustc_bin=/usr/bin/rustc
for tool in "$cargo_bin" "$rustc_bin"; do
  [[ -x $tool ]] || { echo "build-guests: $tool missing (Debian packages rustc-web, cargo-web; run scripts/setup.sh)" >&2; exit 1; }
done
linker=""
for candidate in /usr/bin/rust-lld /usr/bin/ld.lld-22 /usr/bin/ld.lld; do
  if [[ -x $candidate ]]; then linker=$candidate; break; fi
done
[[ -n $linker ]] || { echo "build-guests: no lld found (Debian package lld-22)" >&2; exit 1; }

# Drop whatever an enclosing cargo, rustup or the caller set for the host build: flags, target
# directory, wrappers, toolchain overrides. CARGO_HOME (the registry cache) and network
# settings stay.
while IFS= read -r var; do
  case $var in
    CARGO_HOME | CARGO_NET_* | CARGO_HTTP_* | CARGO_REGISTRIES_*) ;;
    CARGO* | RUSTC* | RUSTDOC* | RUSTFLAGS | RUSTUP_TOOLCHAIN | RUSTUP_TOOLCHAIN_SOURCE) unset "$var" ;;
  esac
done < <(compgen -e)

export RUSTC=$rustc_bin
export RUSTC_BOOTSTRAP=1
# lower-atomic: the target is single-threaded, atomics become plain loads and stores.
# -Tzkbox-guest.x: the SDK's linker script (its build script puts it on the search path).
export RUSTFLAGS="-C passes=lower-atomic -C link-arg=-Tzkbox-guest.x"
export CARGO_TARGET_RISCV32IM_ZKBOX_ZKVM_ELF_LINKER=$linker
export CARGO_TARGET_DIR=$build_dir

build_std=(-Zbuild-std=core,alloc -Zbuild-std-features=compiler-builtins-mem -Zjson-target-spec)

mkdir -p "$out_dir"
start=$SECONDS
(
  cd "$guest_dir"
  "$cargo_bin" build --release --locked "${build_std[@]}" --target "$target_json" \
    $(printf -- '--bin %s ' "${rust_guests[@]}")
)
for name in "${rust_guests[@]}"; do
  install -m 0755 "$build_dir/riscv32im-zkbox-zkvm-elf/release/$name" "$out_dir/$name"
done

# --- C and assembly test programs ------------------------------------------------------------
gcc=/usr/bin/riscv64-unknown-elf-gcc
[[ -x $gcc ]] || { echo "build-guests: $gcc missing (Debian package gcc-riscv64-unknown-elf)" >&2; exit 1; }
shopt -s nullglob
for src in "$guest_dir"/selftest/*.S; do
  name=$(basename "$src" .S)
  elf="$out_dir/$name"
  if [[ ! -e $elf || $src -nt $elf || $guest_dir/sdk/zkbox-guest.x -nt $elf ]]; then
    # --no-relax: the binary is exactly the assembly (no gp-relative rewriting).
    "$gcc" -march=rv32im_zifencei -mabi=ilp32 -nostdlib -nostartfiles -static \
      -Wl,--no-relax -Wl,--build-id=none -T "$guest_dir/sdk/zkbox-guest.x" -o "$elf" "$src"
    chmod 0755 "$elf"
  fi
done
echo "build-guests: $(ls "$out_dir" | wc -l) guests in ${out_dir#"$root"/} ($((SECONDS - start)) s)"

$check || exit 0

# --- checks ---------------------------------------------------------------------------------
readelf=/usr/bin/riscv64-unknown-elf-readelf
status=0
fail() { echo "build-guests: check failed: $*" >&2; status=1; }

# Every ELF: ELF32, little-endian, RISC-V, executable, entry in an executable segment, every
# PT_LOAD inside [0x1000, 0x7800_0000).
for elf in "$out_dir"/*; do
  name=$(basename "$elf")
  header=$("$readelf" -h "$elf")
  grep -q 'Class:[[:space:]]*ELF32' <<<"$header" || fail "$name: not ELF32"
  grep -q "little endian" <<<"$header" || fail "$name: not little-endian"
  grep -q 'Machine:[[:space:]]*RISC-V' <<<"$header" || fail "$name: not RISC-V"
  grep -q 'Type:[[:space:]]*EXEC' <<<"$header" || fail "$name: not a static executable"
  entry=$(awk '/Entry point address/ { print $4 }' <<<"$header")
  entry_ok=false
  while read -r type offset vaddr paddr filesz memsz flags; do
    [[ $type == LOAD ]] || continue
    lo=$((vaddr)); hi=$((vaddr + memsz))
    ((lo >= 0x1000 && hi <= 0x78000000)) || fail "$name: PT_LOAD $vaddr+$memsz outside 0x1000..0x78000000"
    if [[ $flags == *E* ]] && ((entry >= lo && entry < hi)); then entry_ok=true; fi
  done < <("$readelf" -lW "$elf" | awk '$1 == "LOAD" { f = $7; for (i = 8; i < NF; i++) f = f $i; print $1, $2, $3, $4, $5, $6, f }')
  $entry_ok || fail "$name: entry $entry is not in an executable PT_LOAD segment"
  "$readelf" -lW "$elf" | grep -qE '^\s+(DYNAMIC|INTERP|TLS)' && fail "$name: has DYNAMIC/INTERP/TLS segments"
done

# qemu-riscv32 runs the assembly self-test as it is (it keeps its own stack in .bss). The Rust
# guests put their stack at 0x7800_0000, which Linux user mode never maps, so they run under
# qemu only when relinked with the SDK's reference layout zkbox-guest-qemu.x (heap and stack
# inside .bss); those ELFs stay in target/guest-build-qemu and are never used for proving.
qemu=/usr/bin/qemu-riscv32
if [[ -x $qemu ]]; then
  elf="$out_dir/rv32im-selftest"
  expected="$guest_dir/selftest/rv32im-selftest.expected"
  got=$("$qemu" "$elf" </dev/null 2>/dev/null | od -An -v -tx4 -w4 | tr -d ' ') || fail "rv32im-selftest: non-zero exit under qemu"
  [[ $got == "$(grep -v '^#' "$expected")" ]] || fail "rv32im-selftest: output differs from ${expected#"$root"/}"

  # evm-stf is left out: it has no qemu vectors (tests/tests/evm_guest.rs checks it against
  # native execution in zkbox's own emulator), and relinking it means rebuilding revm and
  # alloy for the second layout, minutes on the 2-core VM.
  qemu_guests=()
  for name in "${rust_guests[@]}"; do
    [[ $name == evm-stf ]] || qemu_guests+=("$name")
  done
  qemu_build="$root/target/guest-build-qemu"
  (
    cd "$guest_dir"
    RUSTFLAGS="-C passes=lower-atomic -C link-arg=-Tzkbox-guest-qemu.x" CARGO_TARGET_DIR=$qemu_build \
      "$cargo_bin" build --release --locked --quiet "${build_std[@]}" --target "$target_json" \
      $(printf -- '--bin %s ' "${qemu_guests[@]}")
  )
  bin="$qemu_build/riscv32im-zkbox-zkvm-elf/release"
  # run_guest NAME INPUT_HEX EXPECTED_EXIT EXPECTED_OUTPUT_HEX [LOG_SUBSTRING]
  run_guest() {
    local tmp rc out
    tmp=$(mktemp -d)
    printf "$(sed 's/../\\x&/g' <<<"$2")" >"$tmp/input"
    "$qemu" "$bin/$1" <"$tmp/input" >"$tmp/output" 2>"$tmp/log" && rc=0 || rc=$?
    out=$(od -An -v -tx1 "$tmp/output" | tr -d ' \n')
    ((rc == $3)) || fail "$1 (input '$2'): exit status $rc, expected $3"
    [[ $out == "$4" ]] || fail "$1 (input '$2'): output '$out', expected '$4'"
    if [[ -n ${5:-} ]] && ! grep -qF "$5" "$tmp/log"; then fail "$1 (input '$2'): debug log lacks '$5'"; fi
    rm -rf "$tmp"
  }
  run_guest fibonacci "" 0 37000000 "fib(10) mod 2^32 = 55"
  run_guest fibonacci 14000000 0 6d1a0000
  run_guest fibonacci e8030000 0 4b60c05c
  run_guest fibonacci a0860100 0 7b4a1634
  run_guest keccak "" 0 c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470
  run_guest keccak 01000000616263 0 4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45
  run_guest keccak 02000000616263 0 b8e12eedbb60e5321db47f5a3bfeb8ec0ff6ae9af10020cc61bb8c82ae0b7b66
  run_guest keccak e80300007a6b626f78 0 4f8ee2dc4f855d75af5fee2ddf784afa224519c34bf77dadcc2b34baac0ea417
  run_guest keccak 6162 101 "" "panicked at"
  run_guest panic "" 101 "" "zkbox panic guest: deliberate panic"
  run_guest heap "" 0 b02e052ae80300001600000000000000 "heap: 704982704 1000 Some(5), zeroed sum 0"
  run_guest heap 01 101 b02e052ae80300001600000000000000 "memory allocation of 1879048192 bytes failed"
else
  echo "build-guests: qemu-riscv32 missing, skipping the qemu runs" >&2
fi
((status == 0)) && echo "build-guests: checks passed"
exit $status
