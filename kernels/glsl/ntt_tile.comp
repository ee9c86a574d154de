#version 450
// Stages 0 .. stages-1 (DIT: ascending; DIF: descending) fused in shared memory. Each
// work-group owns one block of 2^stages consecutive rows and NTT_TILE_COLS columns; its
// NTT_TILE_PAIRS invocations per column each do one butterfly per stage. The host sizes
// the tile per device (specialization constants 5 and 6) and never passes more stages than
// the tile holds. Work-group g covers column group g % column_groups, row block
// g / column_groups. Source and destination may be the same buffer.

#include "babybear.glsl"
#include "grid.glsl"
#include "ntt.glsl"

layout(constant_id = 5) const uint NTT_TILE_COLS = 1u;
layout(constant_id = 6) const uint NTT_TILE_PAIRS = 1u;
layout(local_size_x_id = 5, local_size_y_id = 6) in;

layout(set = 0, binding = 0) readonly buffer Source { uint src[]; };
layout(set = 0, binding = 1) writeonly buffer Destination { uint dst[]; };
layout(set = 0, binding = 2) readonly buffer Twiddles { uint twiddles[]; };

layout(push_constant) uniform Params {
    uint width;
    uint log_n;
    uint stages;
    uint is_dif;
    uint scale;
    uint apply_scale;
    uint column_groups;
    uint groups;
} params;

shared uint tile[2u * NTT_TILE_COLS * NTT_TILE_PAIRS];

void main() {
    uint group = linear_group();
    // Uniform across the work-group, so no invocation skips a barrier another one reaches.
    if (group >= params.groups) return;
    uint tile_cols = NTT_TILE_COLS;
    uint lane = gl_LocalInvocationID.x;
    uint pair = gl_LocalInvocationID.y;
    uint width = params.width;
    uint stages = params.stages;
    uint col = (group % params.column_groups) * tile_cols + lane;
    uint rows = 1u << stages;
    uint half_rows = rows / 2u;
    uint first_row = (group / params.column_groups) * rows;
    bool in_range = col < width && pair < half_rows;
    bool is_dif = params.is_dif != 0u;

    if (in_range) {
        tile[pair * tile_cols + lane] = src[(first_row + pair) * width + col];
        tile[(pair + half_rows) * tile_cols + lane] = src[(first_row + pair + half_rows) * width + col];
    }
    memoryBarrierShared();
    barrier();
    for (uint step = 0u; step < stages; step++) {
        uint stage = is_dif ? stages - 1u - step : step;
        if (in_range) {
            uint span = 1u << stage;
            uint j = pair & (span - 1u);
            uint row0 = ((pair >> stage) << (stage + 1u)) | j;
            uint a = tile[row0 * tile_cols + lane];
            uint b = tile[(row0 + span) * tile_cols + lane];
            ntt_butterfly(a, b, twiddles[j << (params.log_n - 1u - stage)], is_dif);
            tile[row0 * tile_cols + lane] = a;
            tile[(row0 + span) * tile_cols + lane] = b;
        }
        memoryBarrierShared();
        barrier();
    }
    if (in_range) {
        uint a = tile[pair * tile_cols + lane];
        uint b = tile[(pair + half_rows) * tile_cols + lane];
        if (params.apply_scale != 0u) {
            a = bb_mul(a, params.scale);
            b = bb_mul(b, params.scale);
        }
        dst[(first_row + pair) * width + col] = a;
        dst[(first_row + pair + half_rows) * width + col] = b;
    }
}
