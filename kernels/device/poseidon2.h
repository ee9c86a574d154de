// Poseidon2 over BabyBear, width 16, and the binary Merkle tree built from it, matching
// Plonky3's PaddingFreeSponge<Perm, 16, 8, 8> leaf hash and TruncatedPermutation<Perm, 2, 8, 16>
// compression.
//
// Round constants come from the host in one buffer, in Montgomery form (see
// P2_CONSTANTS_LAYOUT in zkbox-accel): initial external rounds (P2_HALF_FULL_ROUNDS x 16),
// internal rounds (P2_PARTIAL_ROUNDS), terminal external rounds (P2_HALF_FULL_ROUNDS x 16),
// then the 16 diagonal entries of the internal matrix (1 + diag). The host defines
// P2_HALF_FULL_ROUNDS and P2_PARTIAL_ROUNDS from Plonky3's parameters, and P2_GROUP_ROWS (the
// rows one leaf-hashing work-group stages through local memory) per device.
//
// One work-item runs one permutation with its 16-word state in registers. Digests and matrix
// values in global memory are canonical; the state is Montgomery inside the permutation.

#define P2_WIDTH 16
#define P2_RATE 8
#define P2_DIGEST 8
#define P2_INTERNAL_OFFSET (P2_HALF_FULL_ROUNDS * P2_WIDTH)
#define P2_TERMINAL_OFFSET (P2_INTERNAL_OFFSET + P2_PARTIAL_ROUNDS)
#define P2_DIAG_OFFSET (P2_TERMINAL_OFFSET + P2_HALF_FULL_ROUNDS * P2_WIDTH)

DEVICE_FN u32 p2_sbox(u32 x) {
    u32 x2 = bb_mul(x, x);
    u32 x3 = bb_mul(x2, x);
    u32 x4 = bb_mul(x2, x2);
    return bb_mul(x3, x4);
}

// The 4x4 MDS block [[2,3,1,1],[1,2,3,1],[1,1,2,3],[3,1,1,2]] applied in place.
DEVICE_FN void p2_mat4(u32* x) {
    u32 t01 = bb_add(x[0], x[1]);
    u32 t23 = bb_add(x[2], x[3]);
    u32 t0123 = bb_add(t01, t23);
    u32 t01123 = bb_add(t0123, x[1]);
    u32 t01233 = bb_add(t0123, x[3]);
    u32 y3 = bb_add(t01233, bb_add(x[0], x[0]));
    u32 y1 = bb_add(t01123, bb_add(x[2], x[2]));
    u32 y0 = bb_add(t01123, t01);
    u32 y2 = bb_add(t01233, t23);
    x[0] = y0;
    x[1] = y1;
    x[2] = y2;
    x[3] = y3;
}

// External linear layer: circ(2M4, M4, M4, M4) as mat4 on each block plus the column sums.
DEVICE_FN void p2_external_linear(u32* s) {
    for (u32 block = 0; block < P2_WIDTH; block += 4) p2_mat4(s + block);
    for (u32 k = 0; k < 4; k++) {
        u32 sum = bb_add(bb_add(s[k], s[4 + k]), bb_add(s[8 + k], s[12 + k]));
        for (u32 block = 0; block < P2_WIDTH; block += 4) s[block + k] = bb_add(s[block + k], sum);
    }
}

DEVICE_FN void p2_external_rounds(u32* s, CONSTANT const u32* round_constants) {
    for (u32 round = 0; round < P2_HALF_FULL_ROUNDS; round++) {
        for (u32 i = 0; i < P2_WIDTH; i++)
            s[i] = p2_sbox(bb_add(s[i], round_constants[round * P2_WIDTH + i]));
        p2_external_linear(s);
    }
}

// The permutation on a Montgomery-form state.
DEVICE_FN void p2_permute(u32* s, CONSTANT const u32* constants) {
    p2_external_linear(s);
    p2_external_rounds(s, constants);
    for (u32 round = 0; round < P2_PARTIAL_ROUNDS; round++) {
        s[0] = p2_sbox(bb_add(s[0], constants[P2_INTERNAL_OFFSET + round]));
        u32 sum = 0;
        for (u32 i = 0; i < P2_WIDTH; i++) sum = bb_add(sum, s[i]);
        for (u32 i = 0; i < P2_WIDTH; i++)
            s[i] = bb_add(bb_mul(s[i], constants[P2_DIAG_OFFSET + i]), sum);
    }
    p2_external_rounds(s, constants + P2_TERMINAL_OFFSET);
}

// Permutes `count` canonical states of 16 words in place. Global size: (count).
KERNEL void poseidon2_permute_states(GLOBAL u32* states, u32 count, CONSTANT const u32* constants) {
    u32 index = GLOBAL_ID(0);
    if (index >= count) return;
    u32 s[P2_WIDTH];
    for (u32 i = 0; i < P2_WIDTH; i++) s[i] = bb_to_monty(states[(u64)index * P2_WIDTH + i]);
    p2_permute(s, constants);
    for (u32 i = 0; i < P2_WIDTH; i++) states[(u64)index * P2_WIDTH + i] = bb_from_monty(s[i]);
}

// Absorbs row `r` of one matrix into sponge r, continuing a stream in which
// `absorbed_before` elements (the widths of earlier matrices of the same leaf) were absorbed.
// With `is_first`, the sponge starts at zero; otherwise its state is loaded from `sponges`
// (Montgomery form). With `is_last`, the sponge is finished and its 8-word digest written to
// `digests` (canonical); otherwise the state is stored back to `sponges`.
//
// Access pattern: each work-item owns one row, but the rows are read through local memory a
// rate-sized chunk at a time: the P2_GROUP_ROWS work-items of a group load the group's
// P2_GROUP_ROWS x 8 chunk together, neighbouring work-items reading neighbouring words, instead
// of each striding through memory by `width`. Local size: (P2_GROUP_ROWS); global size:
// (height rounded up to P2_GROUP_ROWS).
KERNEL void poseidon2_absorb_rows(GLOBAL const u32* matrix, u32 width, u32 height,
                                  GLOBAL u32* sponges, u32 absorbed_before, u32 is_first,
                                  u32 is_last, GLOBAL u32* digests,
                                  CONSTANT const u32* constants) {
    LOCAL u32 chunk[P2_GROUP_ROWS * P2_RATE];
    u32 lane = LOCAL_ID(0);
    u32 first_row = GROUP_ID(0) * P2_GROUP_ROWS;
    u32 row = first_row + lane;
    int active = row < height;
    u32 s[P2_WIDTH];
    for (u32 i = 0; i < P2_WIDTH; i++)
        s[i] = (is_first || !active) ? 0u : sponges[(u64)row * P2_WIDTH + i];
    u32 position = absorbed_before % P2_RATE;
    for (u32 col = 0; col < width;) {
        u32 count = P2_RATE - position;
        if (count > width - col) count = width - col;
        // Cooperative load: word k of the chunk is row k / count, column col + k % count.
        for (u32 k = lane; k < P2_GROUP_ROWS * count; k += P2_GROUP_ROWS) {
            u32 chunk_row = first_row + k / count;
            if (chunk_row < height)
                chunk[k] = matrix[(u64)chunk_row * width + col + k % count];
        }
        LOCAL_BARRIER();
        for (u32 i = 0; i < count; i++) s[position + i] = bb_to_monty(chunk[lane * count + i]);
        LOCAL_BARRIER();
        position += count;
        col += count;
        if (position == P2_RATE) {
            p2_permute(s, constants);
            position = 0;
        }
    }
    if (!active) return;
    if (is_last) {
        if (position != 0) p2_permute(s, constants);
        for (u32 i = 0; i < P2_DIGEST; i++) digests[(u64)row * P2_DIGEST + i] = bb_from_monty(s[i]);
    } else {
        for (u32 i = 0; i < P2_WIDTH; i++) sponges[(u64)row * P2_WIDTH + i] = s[i];
    }
}

// One Merkle level: parent i = compress(child 2i, child 2i+1), then, with `has_injected`,
// parent i = compress(parent i, injected i) where `injected` holds the row digests of the
// shorter matrices that join the tree at this level. Global size: (count).
KERNEL void merkle_compress_level(GLOBAL const u32* children, GLOBAL u32* parents, u32 count,
                                  GLOBAL const u32* injected, u32 has_injected,
                                  CONSTANT const u32* constants) {
    u32 index = GLOBAL_ID(0);
    if (index >= count) return;
    u32 s[P2_WIDTH];
    for (u32 i = 0; i < P2_WIDTH; i++) s[i] = bb_to_monty(children[(u64)index * P2_WIDTH + i]);
    p2_permute(s, constants);
    if (has_injected) {
        for (u32 i = 0; i < P2_DIGEST; i++)
            s[P2_DIGEST + i] = bb_to_monty(injected[(u64)index * P2_DIGEST + i]);
        p2_permute(s, constants);
    }
    for (u32 i = 0; i < P2_DIGEST; i++) parents[(u64)index * P2_DIGEST + i] = bb_from_monty(s[i]);
}
