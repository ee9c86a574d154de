//! `zkbox prove` and `zkbox verify` as users run them: a guest proven to a file, verified
//! with and without its ELF, and every bad input answered with its documented exit status.

use std::path::PathBuf;
use std::process::{Command, Output};

fn zkbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("zkbox runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn guest(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/guests")
        .join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} missing (make guests)",
        path.display()
    );
    eprintln!("skipping: {} not built", path.display());
    None
}

#[test]
fn prove_then_verify_a_guest() {
    let Some(fibonacci) = guest("fibonacci") else {
        return;
    };
    let Some(keccak) = guest("keccak") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("n");
    std::fs::write(&input, 25u32.to_le_bytes()).unwrap();
    let proof = dir.path().join("fib.proof");
    let (elf, input, proof_path) = (
        fibonacci.to_str().unwrap(),
        input.to_str().unwrap(),
        proof.to_str().unwrap(),
    );

    let out = zkbox(&["prove", elf, "--input", input, "-o", proof_path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // fib(25) = 75025 = 0x00012511, little-endian.
    assert!(stdout.contains("output: 11250100"), "{stdout}");
    assert!(stdout.contains("exit code: 0"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("executing") && stderr.contains("segment 1 of 1"),
        "{stderr}"
    );

    for args in [
        vec!["verify", proof_path, "--elf", elf],
        vec!["verify", proof_path],
    ] {
        let out = zkbox(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.starts_with("valid\n"), "{stdout}");
        assert!(stdout.contains("output: 11250100"), "{stdout}");
    }

    // The same proof file, byte for byte, from another backend.
    let same_proof_on = |backend: &[&str], name: &str| {
        let other = dir.path().join(format!("fib-{name}.proof"));
        let mut args = vec!["prove", elf, "--input", input];
        args.extend_from_slice(backend);
        args.extend(["-o", other.to_str().unwrap()]);
        let out = zkbox(&args);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(
            std::fs::read(&other).unwrap() == std::fs::read(&proof).unwrap(),
            "the {name} proof differs from the CPU path's"
        );
    };
    // On accel's CPU backend (its LDEs and trees through the accel seam, in the host's
    // memory).
    same_proof_on(&["--backend", "cpu:0"], "accel-cpu");
    // On PoCL, its quotients on the OpenCL interpreter.
    if std::env::var("ZKBOX_SKIP_OPENCL").as_deref() != Ok("1") {
        same_proof_on(
            &["--backend", "opencl:0", "--device-compute", "always"],
            "opencl",
        );
    }

    // The same run in segments of 400 cycles: a chain of proofs, verified link by link.
    let segmented = dir.path().join("fib-segments.proof");
    let segmented_path = segmented.to_str().unwrap();
    let out = zkbox(&[
        "prove",
        elf,
        "--input",
        input,
        "--segment-cycles",
        "400",
        "-o",
        segmented_path,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("output: 11250100"), "{stdout}");
    assert!(!stdout.contains("segments: 1\n"), "{stdout}");
    assert!(
        text(&out.stderr).contains("segment 3 of "),
        "{}",
        text(&out.stderr)
    );
    let out = zkbox(&["verify", segmented_path, "--elf", elf]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("output: 11250100"));
    let out = zkbox(&["prove", elf, "--segment-cycles", "0", "-o", segmented_path]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Too little memory for any segment: refused before proving, exit 1.
    let out = zkbox(&[
        "prove",
        elf,
        "--input",
        input,
        "--memory-mib",
        "64",
        "-o",
        segmented_path,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not enough memory"),
        "{}",
        text(&out.stderr)
    );

    // Another program's ELF: invalid, exit 1.
    let out = zkbox(&["verify", proof_path, "--elf", keccak.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("invalid"));

    // A flipped byte in the middle: invalid (exit 1) or not a proof (exit 65), never valid.
    let mut bytes = std::fs::read(&proof).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    let flipped = dir.path().join("flipped.proof");
    std::fs::write(&flipped, &bytes).unwrap();
    let out = zkbox(&["verify", flipped.to_str().unwrap()]);
    assert!(
        matches!(out.status.code(), Some(1 | 65)),
        "{:?}",
        out.status
    );

    // Garbage, another version, a missing file.
    let garbage = dir.path().join("garbage.proof");
    std::fs::write(&garbage, b"not a proof at all").unwrap();
    assert_eq!(
        zkbox(&["verify", garbage.to_str().unwrap()]).status.code(),
        Some(65)
    );
    let mut other_version = std::fs::read(&proof).unwrap();
    other_version[8] = 9;
    std::fs::write(&garbage, &other_version).unwrap();
    let out = zkbox(&["verify", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    assert!(
        text(&out.stderr).contains("version 9"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        zkbox(&["verify", "/nonexistent/p.proof"]).status.code(),
        Some(66)
    );
}

#[test]
fn prove_refuses_bad_input_with_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("p.proof");
    let proof = proof.to_str().unwrap();
    let not_elf = dir.path().join("not.elf");
    std::fs::write(&not_elf, b"\x7fELF but not really").unwrap();
    assert_eq!(
        zkbox(&["prove", not_elf.to_str().unwrap(), "-o", proof])
            .status
            .code(),
        Some(65)
    );
    assert_eq!(
        zkbox(&["prove", "/nonexistent.elf", "-o", proof])
            .status
            .code(),
        Some(66)
    );
    let Some(fibonacci) = guest("fibonacci") else {
        return;
    };
    let elf = fibonacci.to_str().unwrap();
    // A cycle limit the guest exceeds: an execution error, no proof.
    let out = zkbox(&["prove", elf, "--max-cycles", "100", "-o", proof]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out.stderr));
    assert!(!std::path::Path::new(proof).exists());
    // Not a device name: a usage error.
    let out = zkbox(&["prove", elf, "--backend", "gpu", "-o", proof]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Not a quotient placement: a usage error that lists the choices.
    let out = zkbox(&["prove", elf, "--device-compute", "sometimes", "-o", proof]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("auto, always or never"),
        "{}",
        text(&out.stderr)
    );
    // A device this machine does not have: the cause, named, and no proof.
    let out = zkbox(&["prove", elf, "--backend", "cuda:7", "-o", proof]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cuda:7"),
        "{}",
        text(&out.stderr)
    );
    assert!(!std::path::Path::new(proof).exists());
}

/// `zkbox bench prove` times real proofs and attributes their time to Plonky3's stages: a
/// renamed span upstream would leave a stage at zero and fail here.
#[test]
fn bench_prove_reports_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("prove.json");
    let svg = dir.path().join("prove.svg");
    let out = zkbox(&[
        "bench",
        "prove",
        "--log-n",
        "11..11",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let first = &report["results"][0];
    assert_eq!(first["workload"], "integer-mix 2^11");
    assert!(first["cycles"].as_u64().unwrap() > 2000, "{first}");
    let stages = &first["stages"];
    let mut sum = 0.0;
    for stage in [
        "execute", "witness", "lde", "merkle", "logup", "quotient", "open", "fri", "other",
    ] {
        let seconds = stages[stage].as_f64().unwrap();
        assert!(seconds >= 0.0, "{stage}: {stages}");
        if !matches!(stage, "execute" | "other") {
            assert!(seconds > 0.0, "no time attributed to {stage}: {stages}");
        }
        sum += seconds;
    }
    let total = stages["total"].as_f64().unwrap();
    assert!(
        (sum - total).abs() < 0.05 * total + 1e-3,
        "{sum} vs {total}"
    );
    assert!(first["proof_bytes"].as_u64().unwrap() > 10_000);
    assert!(first["verify_median_ms"].as_f64().unwrap() > 0.0);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<rect"));

    // On PoCL, quotients on the host and on the device as rows of their own; the command
    // fails if the two proofs differ.
    if std::env::var("ZKBOX_SKIP_OPENCL").as_deref() != Ok("1") {
        let out = zkbox(&[
            "bench",
            "prove",
            "--backend",
            "opencl:0",
            "--device-compute",
            "never,always",
            "--log-n",
            "11..11",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let rows: Vec<_> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["workload"] == "integer-mix 2^11")
            .map(|r| r["backend"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            rows,
            [
                "opencl:0 (accel) compute-never",
                "opencl:0 (accel) compute-always"
            ],
            "{report}"
        );
    }

    let refused = zkbox(&["bench", "prove", "--backend", "tpu:0"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
}

/// `zkbox bench quotient` reports every chip's constraint-evaluation time in real proofs.
#[test]
fn bench_quotient_times_every_chip() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("quotient.json");
    let out = zkbox(&[
        "bench",
        "quotient",
        "--log-n",
        "11..11",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("quotient stage"),
        "{}",
        text(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let chips = report["results"][0]["chips"].as_array().unwrap();
    // Every chip but the precompiles', which a program without their calls leaves out.
    assert_eq!(chips.len(), zkbox_prover::chips::ChipSet::REQUIRED.len());
    let alu = chips.iter().find(|c| c["chip"] == "alu").unwrap();
    assert!(alu["rows"].as_u64().unwrap() >= 1024, "{alu}");
    assert!(alu["median_ms"].as_f64().unwrap() > 0.0, "{alu}");
    assert!(
        report["results"][0]["stage_median_seconds"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}
