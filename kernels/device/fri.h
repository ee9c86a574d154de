// One arity-2 FRI folding round (Plonky3's TwoAdicFriFolding, arity 2), the step every
// folding round of zkbox's FRI is made of: folding by 2^k is k of these with beta, beta^2,
// beta^4, ...
//
// `src` holds n = 2 * half extension elements (4 canonical words each) in bit-reversed
// order, so the two evaluations at x and -x sit next to each other. Work-item i < half
// writes element i of the folded vector:
//
//     out[i] = (lo + hi) / 2 + (lo - hi) * beta * g_inv^rev(i) / 2
//
// with lo = src[2i], hi = src[2i + 1], g_inv the inverse of a generator of the order-n
// subgroup and rev reversing log_half bits. `g_inv` and `beta` come in Montgomery form;
// uses q_ext_mul from quotient.h. Items: half.
KERNEL void fri_fold(GLOBAL const u32* src, GLOBAL u32* dst, u32 log_half, u32 g_inv, u32 beta0,
                     u32 beta1, u32 beta2, u32 beta3) {
    u32 i = GLOBAL_ID(0);
    u32 folded_len = 1u << log_half;
    if (i >= folded_len) return;
    u32 one = bb_to_monty(1u);
    u32 inv_two = bb_to_monty(((u32)BB_P + 1u) / 2u);
    // g_inv^rev(i) / 2, Montgomery form.
    u32 factor = bb_mul(bb_pow_monty(g_inv, bit_reverse(i, log_half), one), inv_two);
    GLOBAL const u32* lo = src + 8u * (u64)i;
    GLOBAL const u32* hi = lo + 4;
    u32 diff[4];
    u32 sum[4];
    for (u32 k = 0; k < 4u; k++) {
        diff[k] = bb_sub(lo[k], hi[k]);
        // Canonical times Montgomery is canonical.
        sum[k] = bb_mul(bb_add(lo[k], hi[k]), inv_two);
    }
    u32 product[4];
    q_ext_mul(diff[0], diff[1], diff[2], diff[3], bb_mul(beta0, factor), bb_mul(beta1, factor),
              bb_mul(beta2, factor), bb_mul(beta3, factor), product);
    GLOBAL u32* out = dst + 4u * (u64)i;
    for (u32 k = 0; k < 4u; k++) out[k] = bb_add(sum[k], product[k]);
}

// acc[x] += factor * addend[x] for each extension element x < n (4 canonical words each):
// FRI adds a reduced opening of the folded vector's height onto it, weighted by
// beta^arity. `factor` in Montgomery form; uses q_ext_mul from quotient.h. Items: n.
KERNEL void fri_add_scaled(GLOBAL u32* acc, GLOBAL const u32* addend, u32 n, u32 factor0,
                           u32 factor1, u32 factor2, u32 factor3) {
    u32 x = GLOBAL_ID(0);
    if (x >= n) return;
    GLOBAL const u32* a = addend + 4u * (u64)x;
    u32 product[4];
    // Canonical times Montgomery is canonical.
    q_ext_mul(a[0], a[1], a[2], a[3], factor0, factor1, factor2, factor3, product);
    GLOBAL u32* out = acc + 4u * (u64)x;
    for (u32 k = 0; k < 4u; k++) out[k] = bb_add(out[k], product[k]);
}
