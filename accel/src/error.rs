//! Typed errors of the compute-device layer.

use crate::device::{BackendKind, DeviceId};

/// Everything that can go wrong in `zkbox-accel`.
///
/// Bad input (shapes, sizes) is reported before any device work starts; device failures
/// name the device and what its driver said.
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
    /// No device of that name on this machine.
    #[error("no device {device} on this machine")]
    NoSuchDevice {
        /// The device asked for.
        device: DeviceId,
    },
    /// A matrix height (row count) that is not a power of two.
    #[error("matrix height {height} is not a power of two")]
    HeightNotPowerOfTwo {
        /// The height given.
        height: usize,
    },
    /// A transform larger than BabyBear's two-adic subgroup (2^27 elements).
    #[error("transform of 2^{log_size} rows exceeds BabyBear's two-adicity (2^{max_log_size})")]
    SizeBeyondTwoAdicity {
        /// log2 of the requested size.
        log_size: usize,
        /// log2 of the largest supported size.
        max_log_size: usize,
    },
    /// A matrix with no columns, or a matrix with no rows where rows are needed.
    #[error("matrix has {width} columns and {height} rows; both must be at least 1")]
    EmptyMatrix {
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
    },
    /// Host data whose length is not `width * height`.
    #[error("{len} values do not form a matrix of width {width}")]
    RaggedMatrix {
        /// Number of values.
        len: usize,
        /// Expected width.
        width: usize,
    },
    /// A matrix in the wrong row order for the operation.
    #[error("{operation} needs its input in {expected} row order")]
    WrongRowOrder {
        /// The operation.
        operation: &'static str,
        /// The order it needs.
        expected: &'static str,
    },
    /// Two matrices that must have the same shape do not.
    #[error("shape mismatch: {detail}")]
    ShapeMismatch {
        /// What differs.
        detail: String,
    },
    /// A constraint program that reads or writes outside its shape or the interpreters'
    /// limits (see `zkbox_accel::quotient`).
    #[error("invalid quotient program: {reason}")]
    InvalidProgram {
        /// What is wrong, and where.
        reason: String,
    },
    /// Matrices committed in one Merkle tree whose heights this backend cannot combine.
    #[error("unsupported Merkle tree heights {heights:?}: {reason}")]
    UnsupportedTreeHeights {
        /// The heights given.
        heights: Vec<usize>,
        /// Why.
        reason: &'static str,
    },
    /// A leaf index outside the tree.
    #[error("leaf index {index} out of range for a tree of {leaves} leaves")]
    LeafIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The number of leaves.
        leaves: usize,
    },
    /// The device has too little memory for the buffer requested.
    #[error("{device}: out of device memory allocating {requested_bytes} bytes ({detail})")]
    OutOfDeviceMemory {
        /// The device.
        device: DeviceId,
        /// Bytes asked for.
        requested_bytes: u64,
        /// The limit hit, or the driver's words.
        detail: String,
    },
    /// The device's compiler rejected the kernel sources.
    #[error("{device}: kernel build failed: {log}")]
    KernelBuild {
        /// The device.
        device: DeviceId,
        /// The compiler's log.
        log: String,
    },
    /// The device stopped working mid-run (a fault that leaves its context unusable: an
    /// illegal address, an uncorrectable ECC error, the device falling off the bus); work
    /// queued on it is lost and the backend must be reopened.
    #[error("{device}: device lost during {operation}: {reason}")]
    DeviceLost {
        /// The device.
        device: DeviceId,
        /// What was being done when the loss was noticed.
        operation: &'static str,
        /// What the driver said.
        reason: String,
    },
    /// Any other failure reported by a device driver.
    #[error("{device}: {operation} failed: {reason}")]
    Driver {
        /// The device.
        device: DeviceId,
        /// What was being done.
        operation: &'static str,
        /// What the driver said.
        reason: String,
    },
}
