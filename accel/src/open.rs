//! Opening a backend named at run time ([`DeviceId`]) and handing it to code that is generic
//! over [`Backend`]: the one place that maps a device name to a backend type.

use std::sync::Arc;

use crate::AccelError;
use crate::backend::Backend;
use crate::cpu_backend::CpuBackend;
use crate::device::{BackendKind, DeviceId};

/// Code generic over the backend, run on whichever one [`with_backend`] opens.
pub trait BackendVisitor {
    /// What the visit returns.
    type Output;
    /// Runs on the opened backend.
    fn visit<B: Backend + 'static>(self, backend: Arc<B>) -> Self::Output;
}

/// Opens device `id` and runs `visitor` on it; a device that cannot be opened (absent, no
/// driver, backend not built in) is an error naming it.
pub fn with_backend<V: BackendVisitor>(id: DeviceId, visitor: V) -> Result<V::Output, AccelError> {
    match id.backend {
        BackendKind::Cpu => Ok(visitor.visit(Arc::new(CpuBackend::new()))),
        #[cfg(feature = "opencl")]
        BackendKind::OpenCl => Ok(visitor.visit(Arc::new(crate::OpenClBackend::open(id.index)?))),
        #[cfg(feature = "vulkan")]
        BackendKind::Vulkan => Ok(visitor.visit(Arc::new(crate::VulkanBackend::open(id.index)?))),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => Ok(visitor.visit(Arc::new(crate::CudaBackend::open(id.index)?))),
        // Reached only in builds with some backend feature off.
        #[allow(unreachable_patterns)]
        other => Err(AccelError::BackendUnavailable {
            backend: other,
            reason: "not built into this binary".to_owned(),
        }),
    }
}
