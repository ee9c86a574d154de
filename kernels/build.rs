//! Compiles the GLSL compute shaders in `glsl/` to SPIR-V with `glslc`, when feature `spirv`
//! is on (the Vulkan backend turns it on). Each `glsl/NAME.comp` becomes `$OUT_DIR/NAME.spv`,
//! which `src/lib.rs` embeds. `glsl/*.glsl` files are included by the shaders, not compiled.
//!
//! A shader that does not compile fails the build with glslc's message. `GLSLC` overrides
//! the compiler's path (default: `glslc` on `PATH`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, exit};

/// The SPIR-V environment the shaders target: Vulkan 1.0 (SPIR-V 1.0), so any Vulkan device
/// can run them; nothing in them needs a later version.
const TARGET_ENV: &str = "vulkan1.0";

fn main() {
    let glsl_dir = Path::new("glsl");
    println!("cargo:rerun-if-changed=glsl");
    println!("cargo:rerun-if-env-changed=GLSLC");
    if env::var_os("CARGO_FEATURE_SPIRV").is_none() {
        return;
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR unset")));
    let glslc = env::var_os("GLSLC").unwrap_or_else(|| "glslc".into());

    let entries = std::fs::read_dir(glsl_dir)
        .unwrap_or_else(|err| fail(&format!("cannot read {}: {err}", glsl_dir.display())));
    let mut shaders: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry
            .unwrap_or_else(|err| fail(&format!("cannot list {}: {err}", glsl_dir.display())))
            .path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.extension().is_some_and(|e| e == "comp") {
            shaders.push(path);
        }
    }
    shaders.sort();

    for shader in &shaders {
        let name = shader
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_else(|| fail(&format!("shader name {} is not UTF-8", shader.display())));
        let output = out_dir.join(format!("{name}.spv"));
        let result = Command::new(&glslc)
            .arg(format!("--target-env={TARGET_ENV}"))
            .arg("-O")
            .arg("-Werror")
            .arg("-I")
            .arg(glsl_dir)
            .arg("-o")
            .arg(&output)
            .arg(shader)
            .output();
        match result {
            Ok(run) if run.status.success() => {}
            Ok(run) => fail(&format!(
                "glslc rejected {}:\n{}{}",
                shader.display(),
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            )),
            Err(err) => fail(&format!(
                "cannot run glslc ({}): {err}\nInstall it (Debian package `glslc`, see \
                 scripts/setup.sh), point GLSLC at it, or build zkbox-accel without feature \
                 `vulkan`.",
                glslc.to_string_lossy()
            )),
        }
    }
}

/// Stops the build with `message` (cargo prints it under the build script's output).
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1)
}
