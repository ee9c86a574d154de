#version 450
// Permutes `count` canonical 16-word states in place. Items: count.

#include "babybear.glsl"
#include "grid.glsl"
#include "poseidon2.glsl"

layout(local_size_x_id = 8) in;

layout(set = 0, binding = 0) buffer States { uint states[]; };

layout(push_constant) uniform Params {
    uint count;
} params;

void main() {
    uint index = linear_item();
    if (index >= params.count) return;
    uint s[16];
    for (uint i = 0u; i < P2_WIDTH; i++) s[i] = bb_to_monty(states[index * P2_WIDTH + i]);
    p2_permute(s);
    for (uint i = 0u; i < P2_WIDTH; i++) states[index * P2_WIDTH + i] = bb_from_monty(s[i]);
}
