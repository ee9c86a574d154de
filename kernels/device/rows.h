// Row selection on the device. Splitting a chip's quotient values into their chunks is
// this: chunk j of k is every k-th row from row j (Plonky3's `split_evals`).

// dst row r = src row (first + r * step), every word of it, for each r < rows. Items: rows.
KERNEL void strided_rows(GLOBAL const u32* src, GLOBAL u32* dst, u32 width, u32 rows, u32 first,
                         u32 step) {
    u32 r = GLOBAL_ID(0);
    if (r >= rows) return;
    GLOBAL const u32* from = src + ((u64)first + (u64)r * step) * width;
    GLOBAL u32* to = dst + (u64)r * width;
    for (u32 c = 0; c < width; c++) to[c] = from[c];
}

// dst row i = src row indices[i], every word of it, for each i < count: the rows a query
// opens, gathered so that only they cross back. Items: count.
KERNEL void gather_rows(GLOBAL const u32* src, GLOBAL const u32* indices, GLOBAL u32* dst,
                        u32 width, u32 count) {
    u32 i = GLOBAL_ID(0);
    if (i >= count) return;
    GLOBAL const u32* from = src + (u64)indices[i] * width;
    GLOBAL u32* to = dst + (u64)i * width;
    for (u32 c = 0; c < width; c++) to[c] = from[c];
}
