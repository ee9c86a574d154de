// The PCS opening's row arithmetic (zkbox_accel::deep documents the math): combining a
// committed matrix's columns with powers of a challenge, accumulating DEEP quotients, and the
// column sums of out-of-domain evaluation. Matrices hold canonical words; extension
// elements are 4 words; uses q_ext_mul from quotient.h. Where two canonical values meet, the
// Montgomery product is x * y / 2^32, so the result is scaled back by 2^32 (bb_to_monty)
// once, after the sum.

// out[x] = sum_i powers[i] * matrix[x][i] for each row x < rows. `powers` holds `width`
// extension elements in Montgomery form. Items: rows.
KERNEL void combine_rows(GLOBAL const u32* matrix, GLOBAL const u32* powers, GLOBAL u32* out,
                         u32 width, u32 rows) {
    u32 x = GLOBAL_ID(0);
    if (x >= rows) return;
    GLOBAL const u32* row = matrix + (u64)x * width;
    u32 acc[4] = {0u, 0u, 0u, 0u};
    for (u32 i = 0; i < width; i++) {
        u32 value = row[i];
        // Montgomery power times a canonical value: canonical.
        for (u32 k = 0; k < 4u; k++) acc[k] = bb_add(acc[k], bb_mul(powers[4u * i + k], value));
    }
    GLOBAL u32* dst = out + 4u * (u64)x;
    for (u32 k = 0; k < 4u; k++) dst[k] = acc[k];
}

// acc[x] += (c - s * combined[x]) * denominators[x] for each row x < rows, where
// scalars = c (canonical) then s (Montgomery). Items: rows.
KERNEL void deep_accumulate(GLOBAL const u32* combined, GLOBAL const u32* denominators,
                            GLOBAL u32* acc, GLOBAL const u32* scalars, u32 rows) {
    u32 x = GLOBAL_ID(0);
    if (x >= rows) return;
    GLOBAL const u32* r = combined + 4u * (u64)x;
    GLOBAL const u32* d = denominators + 4u * (u64)x;
    u32 scaled[4];
    q_ext_mul(scalars[4], scalars[5], scalars[6], scalars[7], r[0], r[1], r[2], r[3], scaled);
    u32 diff[4];
    for (u32 k = 0; k < 4u; k++) diff[k] = bb_sub(scalars[k], scaled[k]);
    u32 term[4];
    q_ext_mul(diff[0], diff[1], diff[2], diff[3], d[0], d[1], d[2], d[3], term);
    GLOBAL u32* a = acc + 4u * (u64)x;
    for (u32 k = 0; k < 4u; k++) a[k] = bb_add(a[k], bb_to_monty(term[k]));
}

// Partial column sums: out[(chunk * width + col)] = sum over rows r of the chunk (rows
// chunk * chunk_rows .. min(rows, (chunk + 1) * chunk_rows)) of weights[r] * matrix[r][col],
// 4 words each. Items: (width, ceil(rows / chunk_rows)).
KERNEL void column_dot(GLOBAL const u32* matrix, GLOBAL const u32* weights, GLOBAL u32* out,
                       u32 width, u32 rows, u32 chunk_rows) {
    u32 col = GLOBAL_ID(0);
    u32 chunk = GLOBAL_ID(1);
    u32 first = chunk * chunk_rows;
    if (col >= width || first >= rows) return;
    u32 last = rows - first < chunk_rows ? rows : first + chunk_rows;
    u32 acc[4] = {0u, 0u, 0u, 0u};
    for (u32 r = first; r < last; r++) {
        u32 value = matrix[(u64)r * width + col];
        GLOBAL const u32* w = weights + 4u * (u64)r;
        for (u32 k = 0; k < 4u; k++) acc[k] = bb_add(acc[k], bb_mul(w[k], value));
    }
    GLOBAL u32* dst = out + 4u * ((u64)chunk * width + col);
    for (u32 k = 0; k < 4u; k++) dst[k] = bb_to_monty(acc[k]);
}
