#version 450
// The middle of a coset LDE: from the bit-reversed coefficients of degree < h (an unscaled
// inverse NTT's output, h = 2^log_h), write the natural-order coefficients of p(shift * x),
// divided by h, into the first h rows of the destination and zeros into the rest of its
// 2^log_out rows. Items: width * 2^log_out. `shift`, `inv_h` and `one` in Montgomery form.

#include "babybear.glsl"
#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Coefficients { uint coeffs_bitrev[]; };
layout(set = 0, binding = 1) writeonly buffer Destination { uint dst[]; };

layout(push_constant) uniform Params {
    uint width;
    uint log_h;
    uint log_out;
    uint shift;
    uint inv_h;
    uint one;
} params;

void main() {
    uint item = linear_item();
    uint width = params.width;
    if (item >= width << params.log_out) return;
    uint col = item % width;
    uint row = item / width;
    uint value = 0u;
    if (row < (1u << params.log_h)) {
        uint factor = bb_mul(bb_pow_monty(params.shift, row, params.one), params.inv_h);
        value = bb_mul(coeffs_bitrev[bit_reverse(row, params.log_h) * width + col], factor);
    }
    dst[item] = value;
}
