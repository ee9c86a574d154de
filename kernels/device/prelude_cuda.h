// CUDA prelude: maps the portable kernel vocabulary onto CUDA C++ (compiled by NVRTC).
// The shared sources (babybear.h, ntt.h, poseidon2.h) use only these names.
#define KERNEL extern "C" __global__
#define GLOBAL
#define LOCAL __shared__
#define CONSTANT
#define DEVICE_FN static __device__ __forceinline__
#define LOCAL_BARRIER() __syncthreads()
#define GLOBAL_ID(dim) ((dim) == 0 ? blockIdx.x * blockDim.x + threadIdx.x : (dim) == 1 ? blockIdx.y * blockDim.y + threadIdx.y : blockIdx.z * blockDim.z + threadIdx.z)
#define LOCAL_ID(dim) ((dim) == 0 ? threadIdx.x : (dim) == 1 ? threadIdx.y : threadIdx.z)
#define GROUP_ID(dim) ((dim) == 0 ? blockIdx.x : (dim) == 1 ? blockIdx.y : blockIdx.z)
typedef unsigned int u32;
typedef unsigned long long u64;
