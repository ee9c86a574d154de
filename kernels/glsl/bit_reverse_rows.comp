#version 450
// Destination row bit_reverse(r) = source row r. Items: width * 2^log_n. Out of place only.

#include "babybear.glsl"
#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Source { uint src[]; };
layout(set = 0, binding = 1) writeonly buffer Destination { uint dst[]; };

layout(push_constant) uniform Params {
    uint width;
    uint log_n;
} params;

void main() {
    uint item = linear_item();
    uint width = params.width;
    if (item >= width << params.log_n) return;
    uint col = item % width;
    uint row = item / width;
    dst[bit_reverse(row, params.log_n) * width + col] = src[item];
}
