//! The CUDA compile check: the exact program the CUDA backend hands NVRTC at run time
//! (`CudaProgram`, the CUDA prelude + generated defines + the shared sources) is compiled by
//! NVRTC to PTX and by `ptxas` to SASS for sm_80 (A100) and sm_90 (H100/H200), with no GPU.
//!
//! It fails on any NVRTC warning, any ptxas warning (`--warning-as-error`), any register
//! spill (`--warn-on-spills`) and any kernel missing from the output, and prints registers,
//! shared memory and stack per kernel into the test log.
//!
//! The tools come from PyPI (`nvidia-cuda-nvrtc-cu12` and `nvidia-cuda-nvcc-cu12`, whose
//! wheels ship NVRTC and ptxas but no `nvcc` driver), installed by `scripts/setup.sh` into
//! `.tools/cuda`. Where they are missing the check says so and passes, except under CI
//! (`CI=true`), where a missing tool fails it: the check cannot silently not run there.

#![cfg(feature = "cuda")]

use std::path::{Path, PathBuf};
use std::process::Command;

use zkbox_accel::{AccelError, BackendKind, CudaProgram, DeviceId};

/// The architectures every kernel must build for without spills.
const TARGETS: [(u32, u32); 2] = [(8, 0), (9, 0)];

struct Tools {
    nvrtc: PathBuf,
    ptxas: PathBuf,
}

fn tools() -> Option<Tools> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/cuda/nvidia");
    let tools = Tools {
        nvrtc: root.join("cuda_nvrtc/lib/libnvrtc.so.12"),
        ptxas: root.join("cuda_nvcc/bin/ptxas"),
    };
    if tools.nvrtc.is_file() && tools.ptxas.is_file() {
        zkbox_accel::load_nvrtc_from(&tools.nvrtc).expect("NVRTC loads");
        return Some(tools);
    }
    let missing = "NVRTC and ptxas are not in .tools/cuda (run scripts/setup.sh)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{missing}");
    }
    eprintln!("skipping the CUDA compile check: {missing}");
    None
}

fn nominal_device() -> DeviceId {
    DeviceId {
        backend: BackendKind::Cuda,
        index: 0,
    }
}

/// What ptxas reports for one kernel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct KernelUsage {
    name: String,
    registers: u32,
    shared_bytes: u32,
    stack_bytes: u32,
    spill_store_bytes: u32,
    spill_load_bytes: u32,
}

/// The number just before `unit` in `line` ("24 registers" -> 24).
fn number_before(line: &str, unit: &str) -> Option<u32> {
    let end = line.find(unit)?;
    line[..end].split_whitespace().last()?.parse().ok()
}

/// Parses `ptxas -v` output into one record per kernel.
fn parse_ptxas(output: &str) -> Vec<KernelUsage> {
    let mut kernels: Vec<KernelUsage> = Vec::new();
    for line in output.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or_default().to_owned();
            kernels.push(KernelUsage {
                name,
                ..KernelUsage::default()
            });
            continue;
        }
        let Some(kernel) = kernels.last_mut() else {
            continue;
        };
        if line.contains("bytes stack frame") {
            kernel.stack_bytes = number_before(line, " bytes stack frame").unwrap_or(0);
            kernel.spill_store_bytes = number_before(line, " bytes spill stores").unwrap_or(0);
            kernel.spill_load_bytes = number_before(line, " bytes spill loads").unwrap_or(0);
        } else if line.contains("Used ") && line.contains(" registers") {
            kernel.registers = number_before(line, " registers").unwrap_or(0);
            kernel.shared_bytes = number_before(line, " bytes smem").unwrap_or(0);
        }
    }
    kernels
}

/// Runs ptxas as the check does (verbose, spills warned, warnings as errors); returns whether
/// it succeeded and what it printed.
fn ptxas(tools: &Tools, ptx: &Path, arch: &str, cubin: &Path, extra: &[&str]) -> (bool, String) {
    let output = Command::new(&tools.ptxas)
        .args([
            "-arch",
            arch,
            "-v",
            "--warn-on-spills",
            "--warning-as-error",
        ])
        .args(extra)
        .arg("-o")
        .arg(cubin)
        .arg(ptx)
        .output()
        .expect("ptxas runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), log)
}

/// The check can fail: a kernel squeezed into 24 registers (the least sm_90 allows) spills, and ptxas (with the check's
/// flags) rejects it while the parser sees the spill.
#[test]
fn a_spilling_kernel_fails_the_check() {
    let Some(tools) = tools() else { return };
    let pressure = CudaProgram::from_source(format!(
        "{}\nKERNEL void pressure(GLOBAL u32* x) {{\n\
         u32 v[48];\n\
         for (u32 i = 0; i < 48; i++) v[i] = x[i * (threadIdx.x + 1)];\n\
         u32 s = 0;\n\
         for (u32 i = 0; i < 48; i++) s += v[i] * v[47 - i] + (s >> 3);\n\
         x[threadIdx.x] = s;\n}}\n",
        zkbox_kernels::PRELUDE_CUDA.text
    ));
    let compiled = pressure.compile_ptx(nominal_device(), (9, 0)).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cuda-pressure");
    std::fs::create_dir_all(&dir).unwrap();
    let ptx = dir.join("pressure.ptx");
    std::fs::write(&ptx, &compiled.ptx).unwrap();
    let cubin = dir.join("pressure.cubin");
    let (succeeded, log) = ptxas(&tools, &ptx, "sm_90", &cubin, &["--maxrregcount", "24"]);
    assert!(!succeeded, "ptxas accepted a spilling kernel:\n{log}");
    let usage = parse_ptxas(&log);
    assert!(
        usage.iter().any(|k| k.spill_store_bytes > 0),
        "no spill parsed from:\n{log}"
    );
}

#[test]
fn ptxas_output_is_parsed() {
    let sample = "ptxas info    : 0 bytes gmem\n\
        ptxas info    : Compiling entry function 'ntt_tile' for 'sm_90'\n\
        ptxas info    : Function properties for ntt_tile\n\
        \x20   8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
        ptxas info    : Used 30 registers, used 1 barriers, 8192 bytes smem, 412 bytes cmem[0]\n";
    assert_eq!(
        parse_ptxas(sample),
        vec![KernelUsage {
            name: "ntt_tile".to_owned(),
            registers: 30,
            shared_bytes: 8192,
            stack_bytes: 8,
            spill_store_bytes: 4,
            spill_load_bytes: 12,
        }]
    );
}

#[test]
fn every_kernel_compiles_for_sm80_and_sm90_without_warnings_or_spills() {
    let Some(tools) = tools() else { return };
    let program = CudaProgram::new();
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cuda-kernels");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut failures = Vec::new();
    for (major, minor) in TARGETS {
        let compiled = program
            .compile_ptx(nominal_device(), (major, minor))
            .unwrap_or_else(|err| panic!("NVRTC failed for compute_{major}{minor}: {err}"));
        if !compiled.log.is_empty() {
            failures.push(format!(
                "NVRTC warned for compute_{major}{minor}:\n{}",
                compiled.log
            ));
        }
        // Named as the backend's PTX cache names it, so the files can seed a cache.
        let key = program.cache_key((major, minor));
        let ptx_path = out_dir.join(format!("{key}.ptx"));
        std::fs::write(&ptx_path, &compiled.ptx).unwrap();
        let arch = format!("sm_{major}{minor}");
        let cubin = out_dir.join(format!("{key}.{arch}.cubin"));
        let (succeeded, log) = ptxas(&tools, &ptx_path, &arch, &cubin, &[]);
        if !succeeded {
            failures.push(format!("ptxas failed for {arch}:\n{log}"));
            continue;
        }
        if log.contains("warning") {
            failures.push(format!("ptxas warned for {arch}:\n{log}"));
        }
        let kernels = parse_ptxas(&log);
        println!("{arch}: kernel                      regs  smem B  stack B  spill st/ld B");
        for kernel in &kernels {
            println!(
                "{arch}: {:<27} {:>4}  {:>6}  {:>7}  {:>5}/{}",
                kernel.name,
                kernel.registers,
                kernel.shared_bytes,
                kernel.stack_bytes,
                kernel.spill_store_bytes,
                kernel.spill_load_bytes
            );
            if kernel.spill_store_bytes > 0 || kernel.spill_load_bytes > 0 {
                failures.push(format!("{arch}: {} spills registers", kernel.name));
            }
        }
        for name in program.kernel_names() {
            if !kernels.iter().any(|k| k.name == *name) {
                failures.push(format!("{arch}: ptxas reported no kernel {name}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_kernel_nvrtc_rejects_is_a_typed_error_with_its_log() {
    if tools().is_none() {
        return;
    }
    let broken = CudaProgram::from_source(format!(
        "{}\nKERNEL void broken(GLOBAL u32* x) {{ x[0] = undeclared_word; }}\n",
        zkbox_kernels::PRELUDE_CUDA.text
    ));
    match broken.compile_ptx(nominal_device(), (9, 0)) {
        Err(AccelError::KernelBuild { device, log }) => {
            assert_eq!(device, nominal_device());
            assert!(
                log.contains("undeclared_word"),
                "log names the problem: {log}"
            );
        }
        other => panic!("expected a kernel build error, got {other:?}"),
    }
}

/// A specialized quotient kernel (a constraint program unrolled into straight-line CUDA, as
/// the backend builds one per chip) compiles cleanly: a program that uses every opcode.
#[test]
fn a_specialized_quotient_kernel_compiles_for_sm80_and_sm90() {
    use zkbox_accel::quotient::{Instruction, Opcode, QuotientProgram, QuotientShape};
    let Some(tools) = tools() else { return };
    let ins = |op, dst, a, b| Instruction { op, dst, a, b };
    let program = QuotientProgram {
        instructions: vec![
            ins(Opcode::Main, 0, 0, 0),
            ins(Opcode::Preprocessed, 1, 0, 1),
            ins(Opcode::Periodic, 2, 0, 0),
            ins(Opcode::Public, 3, 0, 0),
            ins(Opcode::Constant, 4, 7, 0),
            ins(Opcode::Selector, 5, 2, 0),
            ins(Opcode::Add, 0, 0, 1),
            ins(Opcode::Sub, 1, 2, 3),
            ins(Opcode::Mul, 2, 4, 5),
            ins(Opcode::Neg, 3, 0, 0),
            ins(Opcode::Permutation, 0, 1, 1),
            ins(Opcode::Challenge, 1, 0, 0),
            ins(Opcode::PermutationValue, 2, 0, 0),
            ins(Opcode::ExtConstant, 3, 0, 0),
            ins(Opcode::Lift, 4, 1, 0),
            ins(Opcode::ExtAdd, 0, 0, 1),
            ins(Opcode::ExtSub, 1, 2, 3),
            ins(Opcode::ExtMul, 2, 0, 4),
            ins(Opcode::ExtNeg, 3, 2, 0),
            ins(Opcode::ExtAddBase, 0, 3, 2),
            ins(Opcode::ExtSubBase, 1, 0, 3),
            ins(Opcode::BaseSubExt, 2, 3, 1),
            ins(Opcode::ExtMulBase, 3, 2, 0),
            ins(Opcode::AccumulateBase, 0, 1, 0),
            ins(Opcode::AccumulateExt, 0, 3, 1),
        ],
        ext_constants: vec![<zkbox_accel::quotient::Ext as p3_field::BasedVectorSpace<
            _,
        >>::from_basis_coefficients_fn(|k| {
            p3_baby_bear::BabyBear::new(k as u32 + 5)
        })],
        base_registers: 6,
        ext_registers: 5,
        shape: QuotientShape {
            main_width: 1,
            preprocessed_width: 1,
            permutation_columns: 2,
            periodic_width: 1,
            public_values: 1,
            challenges: 1,
            permutation_values: 1,
            weights: 2,
        },
    };
    program.validate().expect("the test program is valid");
    let source = CudaProgram::specialized_quotient(&program);
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cuda-kernels-specialized");
    std::fs::create_dir_all(&out_dir).unwrap();
    for (major, minor) in TARGETS {
        let compiled = source
            .compile_ptx(nominal_device(), (major, minor))
            .unwrap_or_else(|err| panic!("NVRTC failed for compute_{major}{minor}: {err}"));
        // The kernel takes only the field helpers it needs, so NVRTC may note helpers
        // (e.g. bb_pow_monty) it never calls; any other warning fails.
        let other_warnings: Vec<&str> = compiled
            .log
            .lines()
            .filter(|l| l.contains("warning #") && !l.contains("#177-D"))
            .collect();
        assert!(other_warnings.is_empty(), "NVRTC warned: {}", compiled.log);
        let arch = format!("sm_{major}{minor}");
        let ptx_path = out_dir.join(format!("{arch}.ptx"));
        std::fs::write(&ptx_path, &compiled.ptx).unwrap();
        let (succeeded, log) = ptxas(
            &tools,
            &ptx_path,
            &arch,
            &out_dir.join(format!("{arch}.cubin")),
            &[],
        );
        assert!(
            succeeded && !log.contains("warning"),
            "ptxas for {arch}:\n{log}"
        );
        let kernels = parse_ptxas(&log);
        assert!(
            kernels.iter().any(|k| k.name == "quotient_specialized"),
            "{arch}: no quotient_specialized in\n{log}"
        );
    }
}
