#version 450
// The Vulkan twin of strided_rows in device/rows.h: dst row r = src row (first + r * step)
// for each r < rows, `width` words a row. Items: rows.

#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Source { uint src[]; };
layout(set = 0, binding = 1) writeonly buffer Destination { uint dst[]; };

layout(push_constant) uniform Params {
    uint width;
    uint rows;
    uint first;
    uint step;
} params;

void main() {
    uint r = linear_item();
    if (r >= params.rows) return;
    uint from = (params.first + r * params.step) * params.width;
    uint to = r * params.width;
    for (uint c = 0u; c < params.width; c++) dst[to + c] = src[from + c];
}
