//! FRI folding rounds on the CPU backend and on OpenCL (PoCL in CI, every fresh buffer
//! poisoned) equal Plonky3's `TwoAdicFriFolding` element for element, at every arity zkbox
//! folds by; Vulkan and CUDA run the same check in their own test binaries.

mod common;

use common::*;

#[test]
fn the_cpu_backend_folds_like_plonky3() {
    check_fri_fold(&*cpu(), 12);
}

#[cfg(feature = "opencl")]
#[test]
fn opencl_folds_like_plonky3() {
    if let Some(backend) = opencl() {
        check_fri_fold(&*backend, 12);
    }
}
