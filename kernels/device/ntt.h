// Batched radix-2 NTTs over BabyBear on row-major matrices (one polynomial per column).
//
// Layout and access pattern: element (row, col) lives at row * width + col. Work-item
// dimension 0 always walks columns, so neighbouring work-items touch neighbouring words and
// every global access is coalesced for matrices with a few dozen columns or more.
//
// Two butterfly orders:
// - DIT (Cooley-Tukey): bit-reversed input -> natural output; stage s combines rows 2^s apart,
//   s = 0, 1, ..., log_n - 1.
// - DIF (Gentleman-Sande): natural input -> bit-reversed output; the same stages in reverse.
// Stage s uses the twiddle w_n^(j * 2^(log_n - 1 - s)) for butterfly offset j < 2^s; the host
// passes one table of w_n^k, k < n/2, in Montgomery form (w_n^-k for inverse transforms).
//
// Strategy: stages whose butterflies span fewer than 2^NTT_TILE_LOG rows run fused in
// ntt_tile, a tile of 2^NTT_TILE_LOG rows x NTT_TILE_COLS columns held in local (shared)
// memory; the remaining wide stages run straight from global memory, two stages per pass
// (ntt_stage_pair, radix 4) plus one single stage (ntt_stage) when their count is odd. NTT_TILE_LOG and NTT_TILE_COLS are defined by the host per device.

DEVICE_FN void ntt_butterfly(u32* a, u32* b, u32 twiddle, u32 is_dif) {
    if (is_dif) {
        u32 sum = bb_add(*a, *b);
        *b = bb_mul(bb_sub(*a, *b), twiddle);
        *a = sum;
    } else {
        u32 t = bb_mul(*b, twiddle);
        *b = bb_sub(*a, t);
        *a = bb_add(*a, t);
    }
}

// One radix-2 stage over the whole matrix. Global size: (width, n / 2). `src` may equal `dst`.
// When `apply_scale` is set, outputs are multiplied by `scale` (Montgomery form), which is how
// an inverse transform folds in its 1/n on its last stage.
KERNEL void ntt_stage(GLOBAL const u32* src, GLOBAL u32* dst, u32 width, u32 log_n, u32 stage,
                      u32 is_dif, GLOBAL const u32* twiddles, u32 scale, u32 apply_scale) {
    u32 col = GLOBAL_ID(0);
    u32 butterfly = GLOBAL_ID(1);
    if (col >= width || butterfly >= (1u << log_n) / 2) return;
    u32 span = 1u << stage;
    u32 j = butterfly & (span - 1);
    u64 row0 = (u64)(((butterfly >> stage) << (stage + 1)) | j);
    u64 row1 = row0 + span;
    u32 a = src[row0 * width + col];
    u32 b = src[row1 * width + col];
    ntt_butterfly(&a, &b, twiddles[j << (log_n - 1 - stage)], is_dif);
    if (apply_scale) {
        a = bb_mul(a, scale);
        b = bb_mul(b, scale);
    }
    dst[row0 * width + col] = a;
    dst[row1 * width + col] = b;
}

// Stages `stage` and `stage + 1` in one pass over memory (radix 4): each work-item owns the
// four rows the two stages combine, base + {0, 1, 2, 3} * 2^stage. Global size: (width, n / 4).
KERNEL void ntt_stage_pair(GLOBAL const u32* src, GLOBAL u32* dst, u32 width, u32 log_n,
                           u32 stage, u32 is_dif, GLOBAL const u32* twiddles, u32 scale,
                           u32 apply_scale) {
    u32 col = GLOBAL_ID(0);
    u32 quad = GLOBAL_ID(1);
    if (col >= width || quad >= (1u << log_n) / 4) return;
    u32 span = 1u << stage;
    u32 j = quad & (span - 1);
    u64 base = (u64)(((quad >> stage) << (stage + 2)) | j);
    u64 rows[4] = {base, base + span, base + 2 * (u64)span, base + 3 * (u64)span};
    u32 x[4];
    for (u32 k = 0; k < 4; k++) x[k] = src[rows[k] * width + col];
    u32 inner = twiddles[j << (log_n - 1 - stage)];
    u32 outer_low = twiddles[j << (log_n - 2 - stage)];
    u32 outer_high = twiddles[(j + span) << (log_n - 2 - stage)];
    if (is_dif) {
        ntt_butterfly(&x[0], &x[2], outer_low, 1);
        ntt_butterfly(&x[1], &x[3], outer_high, 1);
        ntt_butterfly(&x[0], &x[1], inner, 1);
        ntt_butterfly(&x[2], &x[3], inner, 1);
    } else {
        ntt_butterfly(&x[0], &x[1], inner, 0);
        ntt_butterfly(&x[2], &x[3], inner, 0);
        ntt_butterfly(&x[0], &x[2], outer_low, 0);
        ntt_butterfly(&x[1], &x[3], outer_high, 0);
    }
    for (u32 k = 0; k < 4; k++) dst[rows[k] * width + col] = apply_scale ? bb_mul(x[k], scale) : x[k];
}

// Stages 0 .. stages-1 (DIT: ascending; DIF: descending) fused in local memory, each
// work-group owning one block of 2^stages consecutive rows and NTT_TILE_COLS columns.
// Local size: (NTT_TILE_COLS, 2^NTT_TILE_LOG / 2); global size: (width rounded up to
// NTT_TILE_COLS, (n >> stages) * 2^NTT_TILE_LOG / 2). `stages` <= NTT_TILE_LOG.
KERNEL void ntt_tile(GLOBAL const u32* src, GLOBAL u32* dst, u32 width, u32 log_n, u32 stages,
                     u32 is_dif, GLOBAL const u32* twiddles, u32 scale, u32 apply_scale) {
    LOCAL u32 tile[(1u << NTT_TILE_LOG) * NTT_TILE_COLS];
    u32 lane = LOCAL_ID(0);
    u32 pair = LOCAL_ID(1);
    u32 col = GROUP_ID(0) * NTT_TILE_COLS + lane;
    u32 rows = 1u << stages;
    u64 first_row = (u64)GROUP_ID(1) * rows;
    int active = col < width && pair < rows / 2;

    if (active) {
        tile[pair * NTT_TILE_COLS + lane] = src[(first_row + pair) * width + col];
        tile[(pair + rows / 2) * NTT_TILE_COLS + lane] =
            src[(first_row + pair + rows / 2) * width + col];
    }
    LOCAL_BARRIER();
    for (u32 step = 0; step < stages; step++) {
        u32 stage = is_dif ? stages - 1 - step : step;
        if (active) {
            u32 span = 1u << stage;
            u32 j = pair & (span - 1);
            u32 row0 = ((pair >> stage) << (stage + 1)) | j;
            u32 a = tile[row0 * NTT_TILE_COLS + lane];
            u32 b = tile[(row0 + span) * NTT_TILE_COLS + lane];
            ntt_butterfly(&a, &b, twiddles[j << (log_n - 1 - stage)], is_dif);
            tile[row0 * NTT_TILE_COLS + lane] = a;
            tile[(row0 + span) * NTT_TILE_COLS + lane] = b;
        }
        LOCAL_BARRIER();
    }
    if (active) {
        u32 a = tile[pair * NTT_TILE_COLS + lane];
        u32 b = tile[(pair + rows / 2) * NTT_TILE_COLS + lane];
        if (apply_scale) {
            a = bb_mul(a, scale);
            b = bb_mul(b, scale);
        }
        dst[(first_row + pair) * width + col] = a;
        dst[(first_row + pair + rows / 2) * width + col] = b;
    }
}

// dst row bit_reverse(r) = src row r. Global size: (width, n). Out of place only.
KERNEL void bit_reverse_rows(GLOBAL const u32* src, GLOBAL u32* dst, u32 width, u32 log_n) {
    u32 col = GLOBAL_ID(0);
    u32 row = GLOBAL_ID(1);
    if (col >= width || row >= (1u << log_n)) return;
    dst[(u64)bit_reverse(row, log_n) * width + col] = src[(u64)row * width + col];
}

// The middle of a coset LDE: from the bit-reversed coefficients of degree < h (unscaled
// inverse NTT output, h = 2^log_h), write the natural-order coefficients of p(shift * x),
// divided by h, into the first h rows of `dst`, and zeros into the rest of its
// 2^log_out rows. Global size: (width, 2^log_out). `shift`, `inv_h`, `one` in Montgomery form.
KERNEL void coset_scale_pad(GLOBAL const u32* coeffs_bitrev, GLOBAL u32* dst, u32 width,
                            u32 log_h, u32 log_out, u32 shift, u32 inv_h, u32 one) {
    u32 col = GLOBAL_ID(0);
    u32 row = GLOBAL_ID(1);
    if (col >= width || row >= (1u << log_out)) return;
    u32 value = 0;
    if (row < (1u << log_h)) {
        u32 factor = bb_mul(bb_pow_monty(shift, row, one), inv_h);
        value = bb_mul(coeffs_bitrev[(u64)bit_reverse(row, log_h) * width + col], factor);
    }
    dst[(u64)row * width + col] = value;
}

// Stages first_stage .. first_stage + stages - 1 (DIT: ascending; DIF: descending) fused in
// local (shared) memory, for any first_stage: the general form of ntt_tile, which lets every
// pass of a large NTT do NTT_STRIDED_LOG stages (a 2^24-row NTT is three passes over memory).
//
// A work-group owns the rows high * 2^(first_stage + stages) + j * 2^first_stage + low, for
// all j < 2^stages and a range of `low`. For fixed j, the words of consecutive `low` and all
// columns form one contiguous run of width * 2^first_stage words, so the group walks that run
// `lanes` words at a time (lanes = min(NTT_STRIDED_LANES, run)): every load and store is a
// contiguous run of `lanes` words per row, whatever the width, including one column. The
// NTT_STRIDED_THREADS work-items are split into lanes x (NTT_STRIDED_THREADS / lanes) and
// loop over the 2^stages rows. The butterfly of stage s combining row r and r + 2^s uses the
// twiddle index r mod 2^s = (j mod 2^(s - first_stage)) * 2^first_stage + low.
// Local size: (NTT_STRIDED_THREADS); global size: (ceil(run / lanes) * NTT_STRIDED_THREADS,
// 2^(log_n - first_stage - stages)). 1 <= stages <= NTT_STRIDED_LOG. `src` may equal `dst`.
// Defaults for hosts that do not size the strided tile (the OpenCL backend does not use it).
#ifndef NTT_STRIDED_LOG
#define NTT_STRIDED_LOG 6u
#endif
#ifndef NTT_STRIDED_LANES
#define NTT_STRIDED_LANES 4u
#endif
#ifndef NTT_STRIDED_THREADS
#define NTT_STRIDED_THREADS 64u
#endif

KERNEL void ntt_tile_strided(GLOBAL const u32* src, GLOBAL u32* dst, u32 width, u32 log_n,
                             u32 first_stage, u32 stages, u32 is_dif,
                             GLOBAL const u32* twiddles, u32 scale, u32 apply_scale) {
    LOCAL u32 tile[(1u << NTT_STRIDED_LOG) * NTT_STRIDED_LANES];
    u32 run = width << first_stage;
    u32 lanes = run < NTT_STRIDED_LANES ? run : NTT_STRIDED_LANES;
    u32 thread = LOCAL_ID(0);
    u32 lane = thread % lanes;
    u32 first_pair = thread / lanes;
    u32 pair_step = NTT_STRIDED_THREADS / lanes;
    u32 q = GROUP_ID(0) * lanes + lane;
    int active = q < run && first_pair < pair_step;
    u32 rows = 1u << stages;
    u32 half_rows = rows / 2;
    u32 low = active ? q / width : 0;
    u64 base = (((u64)GROUP_ID(1)) << (first_stage + stages)) * width + q;

    if (active) {
        for (u32 row = first_pair; row < rows; row += pair_step)
            tile[row * lanes + lane] = src[base + (u64)row * run];
    }
    LOCAL_BARRIER();
    for (u32 step = 0; step < stages; step++) {
        u32 level = is_dif ? stages - 1 - step : step;
        if (active) {
            u32 span = 1u << level;
            u32 stage = first_stage + level;
            for (u32 pair = first_pair; pair < half_rows; pair += pair_step) {
                u32 j = pair & (span - 1);
                u32 row0 = ((pair >> level) << (level + 1)) | j;
                u32 twiddle = twiddles[((j << first_stage) | low) << (log_n - 1 - stage)];
                u32 a = tile[row0 * lanes + lane];
                u32 b = tile[(row0 + span) * lanes + lane];
                ntt_butterfly(&a, &b, twiddle, is_dif);
                tile[row0 * lanes + lane] = a;
                tile[(row0 + span) * lanes + lane] = b;
            }
        }
        LOCAL_BARRIER();
    }
    if (active) {
        for (u32 row = first_pair; row < rows; row += pair_step) {
            u32 value = tile[row * lanes + lane];
            dst[base + (u64)row * run] = apply_scale ? bb_mul(value, scale) : value;
        }
    }
}
