// BabyBear arithmetic for the Vulkan compute shaders, p = 15 * 2^27 + 1.
//
// The same representation as device/babybear.h: buffers hold CANONICAL values (0 <= x < p);
// constants (twiddles, shifts, Poseidon2 round constants) arrive in MONTGOMERY form
// (x * 2^32 mod p), and a Montgomery product of a canonical value and a Montgomery constant is
// canonical. 32x32 -> 64-bit products use umulExtended, so no shader needs 64-bit integers.
//
// Nothing here is typed in by hand: the host sets the field's specialization constants from
// Plonky3's BabyBear when it creates each pipeline.
//
// Specialization constant ids shared by every shader (the host passes all of them to every
// pipeline; a shader ignores those it does not declare):
//   0 BB_P, 1 BB_MU (p^-1 mod 2^32), 2 BB_R2 (2^64 mod p),
//   3 P2_HALF_FULL_ROUNDS, 4 P2_PARTIAL_ROUNDS,
//   5 NTT tile columns, 6 NTT tile butterfly rows (half the tile's rows),
//   7 P2 rows per leaf-hashing work-group, 8 invocations per group of element-wise shaders,
//   9, 10 the quotient interpreter's register files, 11 the extension's W (extension.glsl).

#ifndef BABYBEAR_GLSL
#define BABYBEAR_GLSL

layout(constant_id = 0) const uint BB_P = 0u;
layout(constant_id = 1) const uint BB_MU = 0u;
layout(constant_id = 2) const uint BB_R2 = 0u;

// (hi * 2^32 + lo) / 2^32 mod p, for hi * 2^32 + lo < p * 2^32.
uint bb_monty_reduce(uint hi, uint lo) {
    uint t = lo * BB_MU;
    uint u_hi;
    uint u_lo;
    umulExtended(t, BB_P, u_hi, u_lo);
    // The low words cancel exactly (t * p = lo mod 2^32), so only the high words subtract.
    uint r = hi - u_hi;
    return hi < u_hi ? r + BB_P : r;
}

// a * b / 2^32 mod p: canonical * Montgomery = canonical; Montgomery * Montgomery = Montgomery.
uint bb_mul(uint a, uint b) {
    uint hi;
    uint lo;
    umulExtended(a, b, hi, lo);
    return bb_monty_reduce(hi, lo);
}

uint bb_add(uint a, uint b) {
    uint s = a + b;
    return s >= BB_P ? s - BB_P : s;
}

uint bb_sub(uint a, uint b) { return a >= b ? a - b : a + BB_P - b; }

uint bb_to_monty(uint canonical) { return bb_mul(canonical, BB_R2); }

uint bb_from_monty(uint monty) { return bb_monty_reduce(0u, monty); }

// base^exponent, base and result in Montgomery form; `one` is 1 in Montgomery form.
uint bb_pow_monty(uint base, uint exponent, uint one) {
    uint result = one;
    while (exponent != 0u) {
        if ((exponent & 1u) != 0u) result = bb_mul(result, base);
        base = bb_mul(base, base);
        exponent >>= 1;
    }
    return result;
}

// The low `bits` bits of `index` in reverse order.
uint bit_reverse(uint index, uint bits) {
    return bits == 0u ? 0u : bitfieldReverse(index) >> (32u - bits);
}

#endif
