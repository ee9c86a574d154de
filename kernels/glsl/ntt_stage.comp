#version 450
// One radix-2 stage over the whole matrix (row-major, one polynomial per column). Items:
// width * n / 2, item = butterfly * width + column, so neighbouring invocations touch
// neighbouring words. Source and destination may be the same buffer. With `apply_scale`, the
// outputs are multiplied by `scale` (Montgomery form): an inverse transform's 1/n on its last
// stage. Stage s combines rows 2^s apart with twiddle w^(j * 2^(log_n - 1 - s)).

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
    if (item >= width << (log_n - 1u)) return;
    uint col = item % width;
    uint butterfly = item / width;
    uint stage = params.stage;
    uint span = 1u << stage;
    uint j = butterfly & (span - 1u);
    uint row0 = ((butterfly >> stage) << (stage + 1u)) | j;
    uint row1 = row0 + span;
    uint a = src[row0 * width + col];
    uint b = src[row1 * width + col];
    ntt_butterfly(a, b, twiddles[j << (log_n - 1u - stage)], params.is_dif != 0u);
    if (params.apply_scale != 0u) {
        a = bb_mul(a, params.scale);
        b = bb_mul(b, params.scale);
    }
    dst[row0 * width + col] = a;
    dst[row1 * width + col] = b;
}
