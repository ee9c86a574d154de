#version 450
// Stages `stage` and `stage + 1` in one pass over memory (radix 4): each invocation owns the
// four rows the two stages combine, base + {0, 1, 2, 3} * 2^stage. Items: width * n / 4.
// Source and destination may be the same buffer.

#include "babybear.glsl"
#include "grid.glsl"
#include "ntt.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Source { uint src[]; };
layout(set = 0, binding = 1) writeonly buffer Destination { uint dst[]; };
layout(set = 0, binding = 2) readonly buffer Twiddles { uint twiddles[]; };

layout(push_constant) uniform Params {
    uint width;
    uint log_n;
    uint stage;
    uint is_dif;
    uint scale;
    uint apply_scale;
} params;

void main() {
    uint item = linear_item();
    uint width = params.width;
    uint log_n = params.log_n;
    if (item >= width << (log_n - 2u)) return;
    uint col = item % width;
    uint quad = item / width;
    uint stage = params.stage;
    uint span = 1u << stage;
    uint j = quad & (span - 1u);
    uint base = ((quad >> stage) << (stage + 2u)) | j;
    uint x0 = src[base * width + col];
    uint x1 = src[(base + span) * width + col];
    uint x2 = src[(base + 2u * span) * width + col];
    uint x3 = src[(base + 3u * span) * width + col];
    uint inner = twiddles[j << (log_n - 1u - stage)];
    uint outer_low = twiddles[j << (log_n - 2u - stage)];
    uint outer_high = twiddles[(j + span) << (log_n - 2u - stage)];
    if (params.is_dif != 0u) {
        ntt_butterfly(x0, x2, outer_low, true);
        ntt_butterfly(x1, x3, outer_high, true);
        ntt_butterfly(x0, x1, inner, true);
        ntt_butterfly(x2, x3, inner, true);
    } else {
        ntt_butterfly(x0, x1, inner, false);
        ntt_butterfly(x2, x3, inner, false);
        ntt_butterfly(x0, x2, outer_low, false);
        ntt_butterfly(x1, x3, outer_high, false);
    }
    if (params.apply_scale != 0u) {
        x0 = bb_mul(x0, params.scale);
        x1 = bb_mul(x1, params.scale);
        x2 = bb_mul(x2, params.scale);
        x3 = bb_mul(x3, params.scale);
    }
    dst[base * width + col] = x0;
    dst[(base + span) * width + col] = x1;
    dst[(base + 2u * span) * width + col] = x2;
    dst[(base + 3u * span) * width + col] = x3;
}
