#version 450
// Absorbs row r of one matrix into sponge r (Plonky3's PaddingFreeSponge<Perm, 16, 8, 8>),
// continuing a stream in which `absorbed_before` elements (the widths of earlier matrices of
// the same leaf) were absorbed. With `is_first` the sponge starts at zero, otherwise its
// Montgomery-form state is loaded from `sponges`; with `is_last` the sponge is finished and
// its 8-word digest written (canonical) to `digests`, otherwise the state is stored back.
//
// Each invocation owns one row, but the group's rows are read through shared memory one
// rate-sized chunk at a time, neighbouring invocations reading neighbouring words, instead of
// each striding through memory by `width`. Work-group size: P2_GROUP_ROWS.

#include "babybear.glsl"
#include "grid.glsl"
#include "poseidon2.glsl"

layout(constant_id = 7) const uint P2_GROUP_ROWS = 1u;
layout(local_size_x_id = 7) in;

layout(set = 0, binding = 0) readonly buffer Matrix { uint matrix[]; };
layout(set = 0, binding = 1) buffer Sponges { uint sponges[]; };
layout(set = 0, binding = 2) writeonly buffer Digests { uint digests[]; };

layout(push_constant) uniform Params {
    uint width;
    uint height;
    uint absorbed_before;
    uint is_first;
    uint is_last;
    uint groups;
} params;

shared uint chunk[P2_GROUP_ROWS * P2_RATE];

void main() {
    uint group = linear_group();
    // Uniform across the work-group, so no invocation skips a barrier another one reaches.
    if (group >= params.groups) return;
    uint group_rows = P2_GROUP_ROWS;
    uint lane = gl_LocalInvocationID.x;
    uint first_row = group * group_rows;
    uint row = first_row + lane;
    uint width = params.width;
    uint height = params.height;
    bool in_range = row < height;
    uint s[16];
    for (uint i = 0u; i < P2_WIDTH; i++)
        s[i] = (params.is_first != 0u || !in_range) ? 0u : sponges[row * P2_WIDTH + i];
    uint position = params.absorbed_before % P2_RATE;
    for (uint col = 0u; col < width;) {
        uint count = min(P2_RATE - position, width - col);
        // Cooperative load: word k of the chunk is row k / count, column col + k % count.
        for (uint k = lane; k < group_rows * count; k += group_rows) {
            uint chunk_row = first_row + k / count;
            if (chunk_row < height) chunk[k] = matrix[chunk_row * width + col + k % count];
        }
        memoryBarrierShared();
        barrier();
        for (uint i = 0u; i < count; i++) s[position + i] = bb_to_monty(chunk[lane * count + i]);
        memoryBarrierShared();
        barrier();
        position += count;
        col += count;
        if (position == P2_RATE) {
            p2_permute(s);
            position = 0u;
        }
    }
    if (!in_range) return;
    if (params.is_last != 0u) {
        if (position != 0u) p2_permute(s);
        for (uint i = 0u; i < P2_DIGEST; i++) digests[row * P2_DIGEST + i] = bb_from_monty(s[i]);
    } else {
        for (uint i = 0u; i < P2_WIDTH; i++) sponges[row * P2_WIDTH + i] = s[i];
    }
}
