//! Typed errors of the compute-device layer.

use crate::device::BackendKind;

/// Everything that can go wrong in `zkbox-accel`.
#[derive(Debug, thiserror::Error)]
pub enum AccelError {
    /// A device name that is not `cpu`, `opencl:N`, `cuda:N` or `vulkan:N`.
    #[error("invalid device name {name:?}: expected cpu, opencl:N, cuda:N or vulkan:N")]
    InvalidDeviceName {
        /// The name as given.
        name: String,
    },
    /// A backend's driver or platform could not be queried.
    #[error("{backend} backend unavailable: {reason}")]
    BackendUnavailable {
        /// Which backend.
        backend: BackendKind,
        /// What the driver said.
        reason: String,
    },
}
