// OpenCL prelude: maps the portable kernel vocabulary onto OpenCL C 1.2.
// The shared sources (babybear.h, ntt.h, poseidon2.h) use only these names.
#define KERNEL __kernel
#define GLOBAL __global
#define LOCAL __local
#define CONSTANT __constant
#define DEVICE_FN static inline
#define LOCAL_BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#define GLOBAL_ID(dim) ((uint)get_global_id(dim))
#define LOCAL_ID(dim) ((uint)get_local_id(dim))
#define GROUP_ID(dim) ((uint)get_group_id(dim))
typedef unsigned int u32;
typedef unsigned long u64;
