//! Helpers shared by the backend conformance tests: seeded random matrices, the backends
//! under test, and Plonky3 reference results.

#![allow(dead_code)]

use std::sync::Arc;

use p3_baby_bear::BabyBear;
use p3_field::PrimeField32;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::util::reverse_matrix_index_bits;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use zkbox_accel::{CpuBackend, RowOrder};

/// Word no kernel may leave behind: not a canonical BabyBear element.
pub const POISON: u32 = 0xFFFF_FFFF;

/// A deterministic generator for one test.
pub fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

/// Uniform non-zero field elements.
pub fn random_values(rng: &mut SmallRng, len: usize) -> Vec<BabyBear> {
    (0..len)
        .map(|_| BabyBear::new(rng.random_range(1..BabyBear::ORDER_U32)))
        .collect()
}

/// A random matrix.
pub fn random_matrix(rng: &mut SmallRng, width: usize, height: usize) -> RowMajorMatrix<BabyBear> {
    RowMajorMatrix::new(random_values(rng, width * height), width)
}

/// `matrix` with its rows put in `order` (from natural).
pub fn in_order(mut matrix: RowMajorMatrix<BabyBear>, order: RowOrder) -> RowMajorMatrix<BabyBear> {
    if order == RowOrder::BitReversed {
        reverse_matrix_index_bits(&mut matrix);
    }
    matrix
}

/// The CPU backend.
pub fn cpu() -> Arc<CpuBackend> {
    Arc::new(CpuBackend::new())
}

/// The first OpenCL device (PoCL in CI), every fresh buffer poisoned, shared by the tests
/// of one binary. Panics with a clear message when there is none, unless
/// `ZKBOX_SKIP_OPENCL=1` (then `None`).
#[cfg(feature = "opencl")]
pub fn opencl() -> Option<Arc<zkbox_accel::OpenClBackend>> {
    static SHARED: std::sync::OnceLock<Option<Arc<zkbox_accel::OpenClBackend>>> =
        std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| match zkbox_accel::OpenClBackend::open(0) {
            Ok(backend) => Some(Arc::new(backend.poison_new_buffers(POISON))),
            Err(err) if std::env::var("ZKBOX_SKIP_OPENCL").as_deref() == Ok("1") => {
                eprintln!("skipping OpenCL checks: {err}");
                None
            }
            Err(err) => panic!("no OpenCL device (install PoCL or set ZKBOX_SKIP_OPENCL=1): {err}"),
        })
        .clone()
}
