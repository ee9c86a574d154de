//! End-to-end tests that cross zkbox's crates (in `tests/tests/`).
//!
//! **Owns**: tests that need several crates or whole processes at once, and the helpers
//! they share. **Must not** be a dependency of any other crate.

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}
