// Arithmetic in BabyBear's degree-4 extension BabyBear[x]/(x^4 - W) for the Vulkan compute
// shaders, an element as the uvec4 of its coefficients. A product of a canonical and a
// Montgomery operand is canonical, as in babybear.glsl.

#ifndef EXTENSION_GLSL
#define EXTENSION_GLSL

#include "babybear.glsl"

// The extension's W (x^4 = W) in Montgomery form, set by the host from zkbox_accel::quotient.
layout(constant_id = 11) const uint Q_EXT_W = 0u;

uvec4 q_ext_mul(uvec4 a, uvec4 b) {
    uvec4 c;
    c.x = bb_add(bb_mul(a.x, b.x),
                 bb_mul(Q_EXT_W, bb_add(bb_add(bb_mul(a.y, b.w), bb_mul(a.z, b.z)), bb_mul(a.w, b.y))));
    c.y = bb_add(bb_add(bb_mul(a.x, b.y), bb_mul(a.y, b.x)),
                 bb_mul(Q_EXT_W, bb_add(bb_mul(a.z, b.w), bb_mul(a.w, b.z))));
    c.z = bb_add(bb_add(bb_mul(a.x, b.z), bb_mul(a.y, b.y)),
                 bb_add(bb_mul(a.z, b.x), bb_mul(Q_EXT_W, bb_mul(a.w, b.w))));
    c.w = bb_add(bb_add(bb_mul(a.x, b.w), bb_mul(a.y, b.z)), bb_add(bb_mul(a.z, b.y), bb_mul(a.w, b.x)));
    return c;
}

uvec4 q_ext_add(uvec4 a, uvec4 b) {
    return uvec4(bb_add(a.x, b.x), bb_add(a.y, b.y), bb_add(a.z, b.z), bb_add(a.w, b.w));
}

uvec4 q_ext_sub(uvec4 a, uvec4 b) {
    return uvec4(bb_sub(a.x, b.x), bb_sub(a.y, b.y), bb_sub(a.z, b.z), bb_sub(a.w, b.w));
}

#endif
