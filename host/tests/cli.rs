//! The `zkbox` binary as users and scripts see it: version, devices, exit statuses, config
//! errors, `serve` answering on the endpoints it prints (foundry's `cast` reads its chain),
//! and `loadgen` driving it.

use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use zkbox_sequencer::dev::ANVIL_ACCOUNTS as DEV_ACCOUNTS;

fn zkbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("zkbox runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_names_the_commit() {
    let out = zkbox(&["--version"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.starts_with(concat!("zkbox ", env!("CARGO_PKG_VERSION"), " (commit ")),
        "{text}"
    );
}

#[test]
fn devices_lists_the_cpu_as_table_and_json() {
    let out = zkbox(&["devices"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l.starts_with("cpu ")));

    let out = zkbox(&["devices", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["devices"][0]["id"], "cpu");
    assert!(json["devices"][0]["memory_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn devices_lists_opencl_when_an_icd_is_installed() {
    // The setup script installs PoCL; where an ICD is registered, it must show up.
    let has_icd = std::fs::read_dir("/etc/OpenCL/vendors").is_ok_and(|mut d| d.next().is_some());
    if !has_icd {
        eprintln!("no OpenCL ICD registered on this machine; skipping");
        return;
    }
    let out = zkbox(&["devices", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = json["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"opencl:0"),
        "devices: {ids:?}; stderr: {}",
        stderr(&out)
    );
}

#[test]
fn unbuilt_subcommands_say_so_and_exit_2() {
    let cases: &[&[&str]] = &[&["client", "jobs", "list"]];
    for args in cases {
        let out = zkbox(args);
        assert_eq!(out.status.code(), Some(2), "zkbox {args:?}");
        assert!(
            stderr(&out).contains("not built yet"),
            "zkbox {args:?}: {}",
            stderr(&out)
        );
        assert!(
            stdout(&out).is_empty(),
            "zkbox {args:?} printed a result: {}",
            stdout(&out)
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(zkbox(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(zkbox(&["bench", "everything"]).status.code(), Some(2));
    assert_eq!(
        zkbox(&["prove", "g.elf"]).status.code(),
        Some(2),
        "-o is required"
    );
}

#[test]
fn config_errors_name_the_key_and_file_and_exit_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[metrics]\nlisten = \"nowhere\"\n").unwrap();
    let out = zkbox(&["--config", path.to_str().unwrap(), "devices"]);
    assert_eq!(out.status.code(), Some(78));
    let err = stderr(&out);
    assert!(
        err.contains("metrics.listen") && err.contains(path.to_str().unwrap()),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = zkbox(&["--config", "/nonexistent.toml", "devices"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("/nonexistent.toml"));

    let out = Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .arg("devices")
        .env("ZKBOX_LOG__LEVL", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("ZKBOX_LOG__LEVL"), "{}", stderr(&out));
}

/// Reads `name: url` lines from serve's stdout until `name` appears.
fn wait_for_endpoint(lines: &mut impl BufRead, name: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "serve exited before printing {name}"
        );
        if let Some(url) = line.trim().strip_prefix(&format!("{name}: ")) {
            return url.to_owned();
        }
    }
}

fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_prints_its_endpoints_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zkbox.toml");
    std::fs::write(
        &config,
        "[metrics]\nlisten = \"127.0.0.1:0\"\n[json_rpc]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let url = wait_for_endpoint(&mut out, "metrics");
    let rpc = wait_for_endpoint(&mut out, "json-rpc");
    assert!(rpc.starts_with("http://127.0.0.1:"), "{rpc}");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    assert!(data.is_dir(), "serve creates its data directory");

    let response = http_get(&url);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("zkbox_build_info{"), "{response}");
    let health = http_get(&url.replace("/metrics", "/healthz"));
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );

    // SIGTERM stops it cleanly.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "serve exited with {status}: {err}");
    assert!(err.contains("grpc: not built yet"), "{err}");
    assert!(err.contains("metrics endpoint listening"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "colour codes in logs written to a pipe: {err:?}"
    );
}

/// foundry's `cast` as scripts/setup.sh installs it.
fn cast(args: &[&str]) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.tools/foundry/node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    let out = Command::new(path).args(args).output().unwrap();
    assert!(out.status.success(), "cast {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn serve_funds_the_dev_accounts_and_loadgen_measures_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zkbox.toml");
    std::fs::write(
        &config,
        "[metrics]\nenabled = false\n[json_rpc]\nlisten = \"127.0.0.1:0\"\n\
         [sequencer]\nblock_interval_ms = 100\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rpc = wait_for_endpoint(
        &mut BufReader::new(child.stdout.take().unwrap()),
        "json-rpc",
    );
    // Habits from anvil work unchanged: chain 31337, 10,000 ETH in each dev account.
    assert_eq!(cast(&["chain-id", "--rpc-url", &rpc]), "31337");
    for account in DEV_ACCOUNTS {
        assert_eq!(
            cast(&["balance", "--rpc-url", &rpc, account]),
            "10000000000000000000000",
            "{account}"
        );
    }
    // The mnemonic's eleventh account is not funded.
    let eleventh = "0xBcd4042DE499D14e55001CcbB24a551F3b954096";
    assert_eq!(cast(&["balance", "--rpc-url", &rpc, eleventh]), "0");

    let report = dir.path().join("load.json");
    let out = zkbox(&[
        "loadgen",
        "--rpc",
        &rpc,
        "--kind",
        "erc20",
        "--tps",
        "100",
        "--duration",
        "2",
        "--senders",
        "4",
        "--concurrency",
        "4",
        "--json",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    for word in [
        "submitted",
        "accepted",
        "included",
        "acceptance",
        "confirmation",
        "p99",
    ] {
        assert!(table.contains(word), "{word} missing from:\n{table}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["kind"], "erc20", "{report}");
    assert_eq!(report["target_tps"], 100);
    assert!(report["client"].as_str().unwrap().starts_with("zkbox/"));
    let count = |key: &str| report[key].as_u64().unwrap();
    assert!((150..=200).contains(&count("submitted")), "{report}");
    assert_eq!(count("accepted"), count("submitted"), "{report}");
    assert_eq!(count("rejected"), 0, "{report}");
    assert_eq!(count("included"), count("accepted"), "{report}");
    for (latency, samples) in [("acceptance", "accepted"), ("confirmation", "included")] {
        let l = &report[latency];
        assert_eq!(l["count"].as_u64(), Some(count(samples)), "{report}");
        let ms = |q: &str| l[q].as_f64().unwrap();
        assert!(
            0.0 < ms("p50_ms") && ms("p50_ms") <= ms("p95_ms") && ms("p95_ms") <= ms("p99_ms"),
            "{report}"
        );
        assert!(ms("p99_ms") <= ms("max_ms"), "{report}");
    }
    assert!(report["included_tps"].as_f64().unwrap() > 0.0);
    // Setup came from the first dev account: four fundings, the token, four token gifts.
    assert_eq!(cast(&["nonce", "--rpc-url", &rpc, DEV_ACCOUNTS[0]]), "9");

    // Bad arguments and a dead endpoint: a clear error, exit 1.
    let out = zkbox(&[
        "loadgen",
        "--rpc",
        &rpc,
        "--senders",
        "0",
        "--duration",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("senders"), "{}", stderr(&out));
    let out = zkbox(&["loadgen", "--rpc", &rpc, "--tps", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("above zero"), "{}", stderr(&out));
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let out = zkbox(&["loadgen", "--rpc", &dead_url, "--duration", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&dead_url), "{}", stderr(&out));

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn serve_reports_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .args(["serve", "--data-dir", dir.path().to_str().unwrap()])
        .env("ZKBOX_METRICS__LISTEN", &addr)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&addr) && err.contains("cannot listen"),
        "{err}"
    );
}

fn guest_path(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/guests")
        .join(name);
    assert!(
        path.exists(),
        "{} missing: build the guests first (make guests)",
        path.display()
    );
    path.to_str().unwrap().to_owned()
}

#[test]
fn run_prints_cycles_and_output_and_passes_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("n");
    std::fs::write(&input, 20u32.to_le_bytes()).unwrap();
    let raw = dir.path().join("out.bin");
    let out = zkbox(&[
        "run",
        &guest_path("fibonacci"),
        "--input",
        input.to_str().unwrap(),
        "--output",
        raw.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let cycles: u64 = lines[0].strip_prefix("cycles: ").unwrap().parse().unwrap();
    assert!(cycles > 20);
    assert_eq!(
        lines[1],
        format!("output: {}", "6d1a0000"),
        "fib(20) = 6765 = 0x1a6d, little-endian"
    );
    assert_eq!(std::fs::read(&raw).unwrap(), 6765u32.to_le_bytes());
    assert!(
        stderr(&out).contains("fib(20)"),
        "the debug log goes to stderr: {}",
        stderr(&out)
    );

    let out = zkbox(&["run", &guest_path("panic")]);
    assert_eq!(out.status.code(), Some(101));
    assert!(
        stderr(&out).contains("deliberate panic"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out).lines().nth(1), Some("output: "));
}

#[test]
fn run_reports_execution_errors_with_101() {
    let out = zkbox(&["run", &guest_path("fibonacci"), "--max-cycles", "10"]);
    assert_eq!(out.status.code(), Some(101));
    let err = stderr(&out);
    assert!(err.contains("cycle limit of 10 reached at pc 0x"), "{err}");
    assert!(stdout(&out).starts_with("cycles: 10\n"), "{}", stdout(&out));
}

#[test]
fn run_refuses_bad_files_with_documented_codes() {
    let dir = tempfile::tempdir().unwrap();
    let not_elf = dir.path().join("notes.txt");
    std::fs::write(&not_elf, "not a program").unwrap();
    let out = zkbox(&["run", not_elf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("not an ELF"), "{}", stderr(&out));

    // A real x86-64 ELF: this very test binary's sibling, zkbox itself.
    let out = zkbox(&["run", env!("CARGO_BIN_EXE_zkbox")]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("64-bit"), "{}", stderr(&out));

    let out = zkbox(&["run", "/nonexistent/guest.elf"]);
    assert_eq!(out.status.code(), Some(66));
    assert!(stderr(&out).contains("/nonexistent/guest.elf"));

    let out = zkbox(&[
        "run",
        &guest_path("fibonacci"),
        "--input",
        "/nonexistent/input",
    ]);
    assert_eq!(out.status.code(), Some(66));
    assert!(stdout(&out).is_empty());

    let out = zkbox(&["run", &guest_path("fibonacci"), "--max-cycles", "0"]);
    assert_eq!(
        out.status.code(),
        Some(78),
        "a zero cycle limit is a configuration error"
    );
}

#[test]
fn bench_exec_measures_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("exec.json");
    let out = zkbox(&[
        "bench",
        "exec",
        "--log-n",
        "16",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("integer-mix"));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let first = &report["results"][0];
    assert!(first["plain_median_ips"].as_f64().unwrap() > 0.0);
    assert!(first["traced_median_ips"].as_f64().unwrap() > 0.0);
    assert!(report["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(report["machine"]["date"].as_str().unwrap().len(), 10);
}

#[test]
fn bench_kernels_check_then_time_and_write_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("b.json"), dir.path().join("b.svg"));
    let out = zkbox(&[
        "bench",
        "all",
        "--backend",
        "cpu",
        "--log-n",
        "4..5",
        "--cols",
        "3",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("plonky3"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["rows"].as_array().unwrap().len(), 12);
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}

#[test]
fn bench_rejects_unknown_backends_and_bad_sizes() {
    let out = zkbox(&["bench", "ntt", "--backend", "tpu:0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = zkbox(&["bench", "ntt", "--log-n", "3..40"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}
