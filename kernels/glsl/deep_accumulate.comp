#version 450
// The Vulkan twin of deep_accumulate in device/deep.h: acc[x] += (c - s * combined[x]) *
// denominators[x] for each row x < rows, with scalars = c (canonical) then s (Montgomery).
// The product of two canonical operands is scaled back by 2^32 (bb_to_monty). Items: rows.

#include "babybear.glsl"
#include "extension.glsl"
#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Combined { uint combined[]; };
layout(set = 0, binding = 1) readonly buffer Denominators { uint denominators[]; };
layout(set = 0, binding = 2) buffer Accumulator { uint acc[]; };
layout(set = 0, binding = 3) readonly buffer Scalars { uint scalars[]; };

layout(push_constant) uniform Params {
    uint rows;
} params;

void main() {
    uint x = linear_item();
    if (x >= params.rows) return;
    uvec4 c = uvec4(scalars[0], scalars[1], scalars[2], scalars[3]);
    uvec4 s = uvec4(scalars[4], scalars[5], scalars[6], scalars[7]);
    uint at = 4u * x;
    uvec4 row = uvec4(combined[at], combined[at + 1u], combined[at + 2u], combined[at + 3u]);
    uvec4 denominator =
        uvec4(denominators[at], denominators[at + 1u], denominators[at + 2u], denominators[at + 3u]);
    uvec4 term = q_ext_mul(q_ext_sub(c, q_ext_mul(s, row)), denominator);
    term = uvec4(bb_to_monty(term.x), bb_to_monty(term.y), bb_to_monty(term.z), bb_to_monty(term.w));
    uvec4 sum = q_ext_add(uvec4(acc[at], acc[at + 1u], acc[at + 2u], acc[at + 3u]), term);
    acc[at] = sum.x;
    acc[at + 1u] = sum.y;
    acc[at + 2u] = sum.z;
    acc[at + 3u] = sum.w;
}
