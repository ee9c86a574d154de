#version 450
// The Vulkan twin of gather_rows in device/rows.h: dst row i = src row indices[i] for each
// i < count, `width` words a row. Items: count.

#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Source { uint src[]; };
layout(set = 0, binding = 1) readonly buffer Indices { uint indices[]; };
layout(set = 0, binding = 2) writeonly buffer Destination { uint dst[]; };

layout(push_constant) uniform Params {
    uint width;
    uint count;
} params;

void main() {
    uint i = linear_item();
    if (i >= params.count) return;
    uint from = indices[i] * params.width;
    uint to = i * params.width;
    for (uint c = 0u; c < params.width; c++) dst[to + c] = src[from + c];
}
