//! The opening's device arithmetic on the CPU backend and on OpenCL (PoCL in CI, every
//! fresh buffer poisoned): FRI folding rounds equal Plonky3's `TwoAdicFriFolding` element
//! for element at every arity zkbox folds by, and the DEEP-reduction and out-of-domain
//! kernels equal the host's arithmetic. Vulkan and CUDA run the same checks in their own
//! test binaries.

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

#[test]
fn the_cpu_backend_opens_like_the_host() {
    check_deep(&*cpu());
}

#[cfg(feature = "opencl")]
#[test]
fn opencl_opens_like_the_host() {
    if let Some(backend) = opencl() {
        check_deep(&*backend);
    }
}
