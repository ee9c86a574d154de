//! Errors of proving and verifying.

/// Why a run could not be proven.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The guest failed to execute.
    #[error("execution failed: {0}")]
    Execution(#[from] zkbox_executor::ExecError),
    /// The run used an instruction no chip proves yet.
    #[error("instruction {instruction:#010x} ({what}) at pc {pc:#010x} is not provable yet")]
    Unsupported {
        /// Its address.
        pc: u32,
        /// The instruction word.
        instruction: u32,
        /// What it is.
        what: String,
    },
    /// The run did not end in an exit `ecall`.
    #[error("the run did not end with an exit ecall")]
    NoExit,
    /// The run is longer than one segment may be.
    #[error("{cycles} cycles is more than one segment's maximum of {max}")]
    TooManyCycles {
        /// Cycles run.
        cycles: u64,
        /// The maximum.
        max: u64,
    },
    /// The run wrote more public output than a proof carries.
    #[error("{bytes} bytes of public output is more than a proof carries ({max})")]
    OutputTooLarge {
        /// Bytes written.
        bytes: usize,
        /// The maximum.
        max: usize,
    },
    /// The execution trace disagrees with its own replay (an emulator bug).
    #[error("inconsistent trace: {0}")]
    Inconsistent(String),
    /// The STARK prover failed.
    #[error("the STARK prover failed: {0}")]
    Stark(String),
    /// Not even the smallest segment fits the memory there is (decided before any work).
    #[error(
        "not enough memory to prove: a segment needs about {} MiB of host memory ({} MiB \
         available) and {} MiB on the device ({} MiB available)",
        needed_host >> 20,
        available_host >> 20,
        needed_device >> 20,
        available_device >> 20
    )]
    InsufficientMemory {
        /// Estimated host bytes for the smallest segment.
        needed_host: u64,
        /// Host bytes available.
        available_host: u64,
        /// Estimated device bytes (0 on the CPU path).
        needed_device: u64,
        /// Device bytes available.
        available_device: u64,
    },
    /// The proving device could not be opened; nothing was proven and the job can be retried
    /// on another device.
    #[error("proving device {device}: {source}")]
    Device {
        /// The device.
        device: zkbox_accel::DeviceId,
        /// Why.
        source: zkbox_accel::AccelError,
    },
    /// A device proof failed the check it gets before it is returned: the device computed
    /// a wrong value without reporting an error. No proof is returned; the job can be
    /// retried on another device.
    #[error("the proof made on {device} does not verify, so it is not returned: {source}")]
    DeviceProofRejected {
        /// The device.
        device: zkbox_accel::DeviceId,
        /// What the verifier rejected.
        source: VerifyError,
    },
}

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Not a zkbox proof file.
    #[error("not a zkbox proof (bad magic number)")]
    BadMagic,
    /// A proof file of another format version.
    #[error("proof format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The file is truncated or its body does not decode.
    #[error("malformed proof file: {0}")]
    Malformed(String),
    /// The proof is for another program than the ELF given.
    #[error("the proof is for another program (program commitment differs)")]
    WrongProgram,
    /// The proof's shape is not one this verifier accepts.
    #[error("invalid proof shape: {0}")]
    Shape(String),
    /// The STARK verifier rejected the proof.
    #[error("invalid proof: {0}")]
    Invalid(String),
}
