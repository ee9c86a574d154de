#version 450
// The Vulkan twin of combine_rows in device/deep.h: out[x] = sum_i powers[i] * matrix[x][i]
// for each row x < rows, `powers` holding `width` extension elements in Montgomery form.
// Items: rows.

#include "babybear.glsl"
#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Matrix { uint matrix[]; };
layout(set = 0, binding = 1) readonly buffer Powers { uint powers[]; };
layout(set = 0, binding = 2) writeonly buffer Combined { uint combined[]; };

layout(push_constant) uniform Params {
    uint width;
    uint rows;
} params;

void main() {
    uint x = linear_item();
    if (x >= params.rows) return;
    uint base = x * params.width;
    uvec4 acc = uvec4(0u);
    for (uint i = 0u; i < params.width; i++) {
        uint value = matrix[base + i];
        // Montgomery power times a canonical value: canonical.
        acc = uvec4(bb_add(acc.x, bb_mul(powers[4u * i], value)),
                    bb_add(acc.y, bb_mul(powers[4u * i + 1u], value)),
                    bb_add(acc.z, bb_mul(powers[4u * i + 2u], value)),
                    bb_add(acc.w, bb_mul(powers[4u * i + 3u], value)));
    }
    combined[4u * x] = acc.x;
    combined[4u * x + 1u] = acc.y;
    combined[4u * x + 2u] = acc.z;
    combined[4u * x + 3u] = acc.w;
}
