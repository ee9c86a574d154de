#version 450
// One Merkle level (Plonky3's TruncatedPermutation<Perm, 2, 8, 16>): parent i =
// compress(child 2i, child 2i + 1), then, with `has_injected`, parent i =
// compress(parent i, injected i), where `injected` holds the row digests of the shorter
// matrices that join the tree at this level. Items: count (the parents).

#include "babybear.glsl"
#include "grid.glsl"
#include "poseidon2.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) readonly buffer Children { uint children[]; };
layout(set = 0, binding = 1) writeonly buffer Parents { uint parents[]; };
layout(set = 0, binding = 2) readonly buffer Injected { uint injected[]; };

layout(push_constant) uniform Params {
    uint count;
    uint has_injected;
} params;

void main() {
    uint index = linear_item();
    if (index >= params.count) return;
    uint s[16];
    for (uint i = 0u; i < P2_WIDTH; i++) s[i] = bb_to_monty(children[index * P2_WIDTH + i]);
    p2_permute(s);
    if (params.has_injected != 0u) {
        for (uint i = 0u; i < P2_DIGEST; i++)
            s[P2_DIGEST + i] = bb_to_monty(injected[index * P2_DIGEST + i]);
        p2_permute(s);
    }
    for (uint i = 0u; i < P2_DIGEST; i++) parents[index * P2_DIGEST + i] = bb_from_monty(s[i]);
}
