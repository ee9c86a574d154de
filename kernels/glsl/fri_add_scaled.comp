#version 450
// The Vulkan twin of fri_add_scaled in device/fri.h: acc[x] += factor * addend[x] for each
// extension element x < n (4 canonical words each), `factor` in Montgomery form, so the
// product of a canonical and a Montgomery operand is canonical. Items: n.

#include "babybear.glsl"
#include "extension.glsl"
#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) buffer Accumulator { uint acc[]; };
layout(set = 0, binding = 1) readonly buffer Addend { uint addend[]; };

layout(push_constant) uniform Params {
    uint n;
    uint factor0;
    uint factor1;
    uint factor2;
    uint factor3;
} params;

void main() {
    uint x = linear_item();
    if (x >= params.n) return;
    uint at = 4u * x;
    uvec4 factor = uvec4(params.factor0, params.factor1, params.factor2, params.factor3);
    uvec4 a = uvec4(addend[at], addend[at + 1u], addend[at + 2u], addend[at + 3u]);
    uvec4 sum = q_ext_add(uvec4(acc[at], acc[at + 1u], acc[at + 2u], acc[at + 3u]), q_ext_mul(a, factor));
    acc[at] = sum.x;
    acc[at + 1u] = sum.y;
    acc[at + 2u] = sum.z;
    acc[at + 3u] = sum.w;
}
