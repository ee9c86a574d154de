// Poseidon2 over BabyBear, width 16 (Plonky3's default_babybear_poseidon2_16), as in
// device/poseidon2.h. The round constants come from the host in the storage buffer at
// binding 3, in Montgomery form: initial external rounds (P2_HALF_FULL_ROUNDS x 16), internal
// rounds (P2_PARTIAL_ROUNDS), terminal external rounds (P2_HALF_FULL_ROUNDS x 16), then the 16
// diagonal entries d of the internal matrix 1*1^T + diag(d). The round counts are
// specialization constants set from Plonky3's parameters.
//
// One invocation runs one permutation with its 16-word state in registers; the state is in
// Montgomery form inside the permutation, canonical everywhere else.

#ifndef POSEIDON2_GLSL
#define POSEIDON2_GLSL

layout(constant_id = 3) const uint P2_HALF_FULL_ROUNDS = 0u;
layout(constant_id = 4) const uint P2_PARTIAL_ROUNDS = 0u;

layout(set = 0, binding = 3) readonly buffer Poseidon2Constants { uint p2_constants[]; };

const uint P2_WIDTH = 16u;
const uint P2_RATE = 8u;
const uint P2_DIGEST = 8u;
const uint P2_INTERNAL_OFFSET = P2_HALF_FULL_ROUNDS * P2_WIDTH;
const uint P2_TERMINAL_OFFSET = P2_INTERNAL_OFFSET + P2_PARTIAL_ROUNDS;
const uint P2_DIAG_OFFSET = P2_TERMINAL_OFFSET + P2_HALF_FULL_ROUNDS * P2_WIDTH;

uint p2_sbox(uint x) {
    uint x2 = bb_mul(x, x);
    uint x3 = bb_mul(x2, x);
    uint x4 = bb_mul(x2, x2);
    return bb_mul(x3, x4);
}

// The 4x4 block [[2,3,1,1],[1,2,3,1],[1,1,2,3],[3,1,1,2]] applied to s[at .. at + 3].
void p2_mat4(inout uint s[16], uint at) {
    uint x0 = s[at];
    uint x1 = s[at + 1u];
    uint x2 = s[at + 2u];
    uint x3 = s[at + 3u];
    uint t01 = bb_add(x0, x1);
    uint t23 = bb_add(x2, x3);
    uint t0123 = bb_add(t01, t23);
    uint t01123 = bb_add(t0123, x1);
    uint t01233 = bb_add(t0123, x3);
    s[at + 3u] = bb_add(t01233, bb_add(x0, x0));
    s[at + 1u] = bb_add(t01123, bb_add(x2, x2));
    s[at] = bb_add(t01123, t01);
    s[at + 2u] = bb_add(t01233, t23);
}

// External linear layer circ(2*M4, M4, M4, M4): M4 on each block, then add the column sums.
void p2_external_linear(inout uint s[16]) {
    for (uint block = 0u; block < P2_WIDTH; block += 4u) p2_mat4(s, block);
    for (uint k = 0u; k < 4u; k++) {
        uint sum = bb_add(bb_add(s[k], s[4u + k]), bb_add(s[8u + k], s[12u + k]));
        for (uint block = 0u; block < P2_WIDTH; block += 4u) s[block + k] = bb_add(s[block + k], sum);
    }
}

void p2_external_rounds(inout uint s[16], uint offset) {
    for (uint round = 0u; round < P2_HALF_FULL_ROUNDS; round++) {
        for (uint i = 0u; i < P2_WIDTH; i++)
            s[i] = p2_sbox(bb_add(s[i], p2_constants[offset + round * P2_WIDTH + i]));
        p2_external_linear(s);
    }
}

// The permutation on a Montgomery-form state.
void p2_permute(inout uint s[16]) {
    p2_external_linear(s);
    p2_external_rounds(s, 0u);
    for (uint round = 0u; round < P2_PARTIAL_ROUNDS; round++) {
        s[0] = p2_sbox(bb_add(s[0], p2_constants[P2_INTERNAL_OFFSET + round]));
        uint sum = 0u;
        for (uint i = 0u; i < P2_WIDTH; i++) sum = bb_add(sum, s[i]);
        for (uint i = 0u; i < P2_WIDTH; i++)
            s[i] = bb_add(bb_mul(s[i], p2_constants[P2_DIAG_OFFSET + i]), sum);
    }
    p2_external_rounds(s, P2_TERMINAL_OFFSET);
}

#endif
