// BabyBear arithmetic, p = 15 * 2^27 + 1.
//
// Representation: matrices in device memory hold CANONICAL values (0 <= x < p). Constants
// (twiddles, coset shifts, Poseidon2 round constants) are passed in MONTGOMERY form
// (x * 2^32 mod p). Montgomery-multiplying a canonical value by a Montgomery constant gives
// a canonical product, so the NTT needs no conversions at all; Poseidon2 converts its state
// into Montgomery form on entry and back on exit.
//
// The host defines BB_P (the modulus) and BB_MU (p^-1 mod 2^32) and BB_R2 (2^64 mod p) before
// this file, computed from Plonky3's BabyBear, so no field constant is typed in by hand.

// (x / 2^32) mod p for x < p * 2^32.
DEVICE_FN u32 bb_monty_reduce(u64 x) {
    u32 t = (u32)x * (u32)BB_MU;
    u64 u = (u64)t * (u64)BB_P;
    u32 hi = (u32)((x - u) >> 32);
    return x < u ? hi + (u32)BB_P : hi;
}

// a * b / 2^32 mod p: canonical * Montgomery = canonical; Montgomery * Montgomery = Montgomery.
DEVICE_FN u32 bb_mul(u32 a, u32 b) { return bb_monty_reduce((u64)a * (u64)b); }

DEVICE_FN u32 bb_add(u32 a, u32 b) {
    u32 s = a + b;
    return s >= (u32)BB_P ? s - (u32)BB_P : s;
}

DEVICE_FN u32 bb_sub(u32 a, u32 b) { return a >= b ? a - b : a + (u32)BB_P - b; }

DEVICE_FN u32 bb_to_monty(u32 canonical) { return bb_mul(canonical, (u32)BB_R2); }

DEVICE_FN u32 bb_from_monty(u32 monty) { return bb_monty_reduce((u64)monty); }

// base^exponent, both base and result in Montgomery form; `one` is 1 in Montgomery form.
DEVICE_FN u32 bb_pow_monty(u32 base, u32 exponent, u32 one) {
    u32 result = one;
    while (exponent != 0) {
        if (exponent & 1u) result = bb_mul(result, base);
        base = bb_mul(base, base);
        exponent >>= 1;
    }
    return result;
}

DEVICE_FN u32 bit_reverse(u32 index, u32 bits) {
    u32 reversed = 0;
    for (u32 i = 0; i < bits; i++) {
        reversed = (reversed << 1) | (index & 1u);
        index >>= 1;
    }
    return reversed;
}
