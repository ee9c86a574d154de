// CUDA prelude: maps the portable kernel vocabulary onto CUDA C++ (compiled by NVRTC).
// The shared sources (babybear.h, ntt.h, poseidon2.h) use only these names, and only
// dimensions 0 and 1.
//
// Dimension 1 spans gridDim.y * gridDim.z blocks: a grid's y extent is limited to 65535
// blocks, too few for the rows of a 2^27-row matrix, so the host splits the blocks of
// dimension 1 over y and z (blockIdx.z counting whole rows of gridDim.y blocks).
#define KERNEL extern "C" __global__
#define GLOBAL
#define LOCAL __shared__
#define CONSTANT
#define DEVICE_FN static __device__ __forceinline__
#define LOCAL_BARRIER() __syncthreads()
#define GROUP_ID(dim) ((dim) == 0 ? blockIdx.x : blockIdx.y + blockIdx.z * gridDim.y)
#define LOCAL_ID(dim) ((dim) == 0 ? threadIdx.x : threadIdx.y)
#define GLOBAL_ID(dim) \
    ((dim) == 0 ? blockIdx.x * blockDim.x + threadIdx.x : GROUP_ID(1) * blockDim.y + threadIdx.y)
typedef unsigned int u32;
typedef unsigned long long u64;
