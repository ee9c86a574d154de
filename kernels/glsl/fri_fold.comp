#version 450
// One arity-2 FRI folding round: the Vulkan twin of device/fri.h (same formula, same
// layout). `src` holds 2 * half extension elements (4 canonical words each) in bit-reversed
// order; invocation i < half writes
//     dst[i] = (lo + hi) / 2 + (lo - hi) * beta * g_inv^rev(i) / 2
// with lo = src[2i], hi = src[2i + 1] and rev reversing log_half bits. `g_inv` and `beta`
// in Montgomery form. Items: half.

#include "babybear.glsl"
#include "extension.glsl"
#include "grid.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Source { uint src[]; };
layout(set = 0, binding = 1) writeonly buffer Destination { uint dst[]; };

layout(push_constant) uniform Params {
    uint log_half;
    uint g_inv;
    uint beta0;
    uint beta1;
    uint beta2;
    uint beta3;
} params;

void main() {
    uint i = linear_item();
    if (i >= (1u << params.log_half)) return;
    uint one = bb_to_monty(1u);
    uint inv_two = bb_to_monty((BB_P + 1u) / 2u);
    // g_inv^rev(i) / 2, Montgomery form.
    uint factor = bb_mul(bb_pow_monty(params.g_inv, bit_reverse(i, params.log_half), one), inv_two);
    uvec4 lo = uvec4(src[8u * i], src[8u * i + 1u], src[8u * i + 2u], src[8u * i + 3u]);
    uvec4 hi = uvec4(src[8u * i + 4u], src[8u * i + 5u], src[8u * i + 6u], src[8u * i + 7u]);
    // Canonical times Montgomery is canonical.
    uvec4 sum = uvec4(bb_mul(bb_add(lo.x, hi.x), inv_two), bb_mul(bb_add(lo.y, hi.y), inv_two),
                      bb_mul(bb_add(lo.z, hi.z), inv_two), bb_mul(bb_add(lo.w, hi.w), inv_two));
    uvec4 scaled_beta = uvec4(bb_mul(params.beta0, factor), bb_mul(params.beta1, factor),
                              bb_mul(params.beta2, factor), bb_mul(params.beta3, factor));
    uvec4 folded = q_ext_add(sum, q_ext_mul(q_ext_sub(lo, hi), scaled_beta));
    dst[4u * i] = folded.x;
    dst[4u * i + 1u] = folded.y;
    dst[4u * i + 2u] = folded.z;
    dst[4u * i + 3u] = folded.w;
}
