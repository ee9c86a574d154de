#version 450
// The Vulkan twin of column_dot in device/deep.h: partial column sums
// out[chunk * width + col] = sum over the chunk's rows r of weights[r] * matrix[r][col]
// (4 words each; canonical weights times canonical values, so the sum is scaled back by
// 2^32 with bb_to_monty). Items: width * ceil(rows / chunk_rows), item = chunk * width + col.

#include "babybear.glsl"
#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Matrix { uint matrix[]; };
layout(set = 0, binding = 1) readonly buffer Weights { uint weights[]; };
layout(set = 0, binding = 2) writeonly buffer Partials { uint partials[]; };

layout(push_constant) uniform Params {
    uint width;
    uint rows;
    uint chunk_rows;
} params;

void main() {
    uint item = linear_item();
    uint col = item % params.width;
    uint chunk = item / params.width;
    uint first = chunk * params.chunk_rows;
    if (first >= params.rows) return;
    uint last = params.rows - first < params.chunk_rows ? params.rows : first + params.chunk_rows;
    uvec4 acc = uvec4(0u);
    for (uint r = first; r < last; r++) {
        uint value = matrix[r * params.width + col];
        acc = uvec4(bb_add(acc.x, bb_mul(weights[4u * r], value)),
                    bb_add(acc.y, bb_mul(weights[4u * r + 1u], value)),
                    bb_add(acc.z, bb_mul(weights[4u * r + 2u], value)),
                    bb_add(acc.w, bb_mul(weights[4u * r + 3u], value)));
    }
    partials[4u * item] = bb_to_monty(acc.x);
    partials[4u * item + 1u] = bb_to_monty(acc.y);
    partials[4u * item + 2u] = bb_to_monty(acc.z);
    partials[4u * item + 3u] = bb_to_monty(acc.w);
}
