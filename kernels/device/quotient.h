// Quotient evaluation: one interpreter for the constraint bytecode of every AIR
// (zkbox_accel::quotient documents the opcodes and the table layout; the host generates the
// programs from the AIRs' symbolic constraints and lowers them into `tables`).
//
// One work-item per point i of the quotient domain (height n): it runs the program on the
// current row i and the next row (i + next_step) mod n, accumulates weight * constraint into
// an extension-field sum, multiplies it by 1/Z_H(x_i) and writes the 4 canonical words of
// the result to out[4i..4i+4].
//
// Registers hold MONTGOMERY form; matrices are canonical and convert on load. The extension
// is BabyBear[x]/(x^4 - W), with Q_EXT_W (W in Montgomery form), Q_MAX_BASE and Q_MAX_EXT
// defined by the host.

DEVICE_FN u32 q_row(u32 row, u32 bit_reversed, u32 log_n) {
    return bit_reversed ? bit_reverse(row, log_n) : row;
}

DEVICE_FN u32 q_neg(u32 a) { return bb_sub(0u, a); }

// (a0 + a1 x + a2 x^2 + a3 x^3)(b0 + ...) mod x^4 - W, all in Montgomery form.
DEVICE_FN void q_ext_mul(u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1, u32 b2, u32 b3,
                         u32* c) {
    u32 w = (u32)Q_EXT_W;
    c[0] = bb_add(bb_mul(a0, b0),
                  bb_mul(w, bb_add(bb_add(bb_mul(a1, b3), bb_mul(a2, b2)), bb_mul(a3, b1))));
    c[1] = bb_add(bb_add(bb_mul(a0, b1), bb_mul(a1, b0)),
                  bb_mul(w, bb_add(bb_mul(a2, b3), bb_mul(a3, b2))));
    c[2] = bb_add(bb_add(bb_mul(a0, b2), bb_mul(a1, b1)),
                  bb_add(bb_mul(a2, b0), bb_mul(w, bb_mul(a3, b3))));
    c[3] = bb_add(bb_add(bb_mul(a0, b3), bb_mul(a1, b2)), bb_add(bb_mul(a2, b1), bb_mul(a3, b0)));
}

KERNEL void quotient_eval(GLOBAL const u32* tables, GLOBAL const u32* main_lde,
                          GLOBAL const u32* preprocessed_lde, GLOBAL const u32* permutation_lde,
                          GLOBAL u32* out) {
    u32 i = GLOBAL_ID(0);
    u32 n = tables[0];
    if (i >= n) return;
    u32 log_n = tables[1];
    u32 rows[2];
    rows[0] = i;
    rows[1] = (i + tables[2]) & (n - 1u);
    u32 count = tables[3];
    u32 main_width = tables[4];
    u32 main_rev = tables[5];
    u32 pre_width = tables[6];
    u32 pre_rev = tables[7];
    u32 perm_width = tables[8];
    u32 perm_rev = tables[9];
    u32 periodic_width = tables[10];
    u32 periodic_row = tables[11] == 0u ? 0u : i % tables[11];
    GLOBAL const u32* code = tables + tables[12];
    GLOBAL const u32* periodic = tables + tables[13] + periodic_row * periodic_width;
    GLOBAL const u32* sels = tables + tables[14] + 4u * i;

    u32 base[Q_MAX_BASE];
    u32 ext[4u * Q_MAX_EXT];
    u32 acc0 = 0u, acc1 = 0u, acc2 = 0u, acc3 = 0u;

    for (u32 pc = 0; pc < count; pc++) {
        u32 op = code[4u * pc];
        u32 d = code[4u * pc + 1u];
        u32 a = code[4u * pc + 2u];
        u32 b = code[4u * pc + 3u];
        u32 e0;
        switch (op) {
        case 0u:  // main
            base[d] = bb_to_monty(
                main_lde[(u64)q_row(rows[b], main_rev, log_n) * main_width + a]);
            break;
        case 1u:  // preprocessed
            base[d] = bb_to_monty(
                preprocessed_lde[(u64)q_row(rows[b], pre_rev, log_n) * pre_width + a]);
            break;
        case 2u:  // periodic
            base[d] = periodic[a];
            break;
        case 3u:  // table word (public value)
            base[d] = tables[a];
            break;
        case 4u:  // immediate (Montgomery constant)
            base[d] = a;
            break;
        case 5u:  // selector
            base[d] = sels[a];
            break;
        case 6u:
            base[d] = bb_add(base[a], base[b]);
            break;
        case 7u:
            base[d] = bb_sub(base[a], base[b]);
            break;
        case 8u:
            base[d] = bb_mul(base[a], base[b]);
            break;
        case 9u:
            base[d] = q_neg(base[a]);
            break;
        case 10u: {  // permutation column (4 base columns)
            GLOBAL const u32* cell =
                permutation_lde + (u64)q_row(rows[b], perm_rev, log_n) * perm_width + 4u * a;
            ext[4u * d] = bb_to_monty(cell[0]);
            ext[4u * d + 1u] = bb_to_monty(cell[1]);
            ext[4u * d + 2u] = bb_to_monty(cell[2]);
            ext[4u * d + 3u] = bb_to_monty(cell[3]);
            break;
        }
        case 11u:  // table extension value (challenge, permutation value, constant)
            ext[4u * d] = tables[a];
            ext[4u * d + 1u] = tables[a + 1u];
            ext[4u * d + 2u] = tables[a + 2u];
            ext[4u * d + 3u] = tables[a + 3u];
            break;
        case 14u:  // lift
            e0 = base[a];
            ext[4u * d] = e0;
            ext[4u * d + 1u] = 0u;
            ext[4u * d + 2u] = 0u;
            ext[4u * d + 3u] = 0u;
            break;
        case 15u:
        case 16u:
            for (u32 k = 0; k < 4u; k++) {
                u32 x = ext[4u * a + k], y = ext[4u * b + k];
                ext[4u * d + k] = op == 15u ? bb_add(x, y) : bb_sub(x, y);
            }
            break;
        case 17u: {  // extension product
            u32 c[4];
            q_ext_mul(ext[4u * a], ext[4u * a + 1u], ext[4u * a + 2u], ext[4u * a + 3u],
                      ext[4u * b], ext[4u * b + 1u], ext[4u * b + 2u], ext[4u * b + 3u], c);
            for (u32 k = 0; k < 4u; k++) ext[4u * d + k] = c[k];
            break;
        }
        case 18u:
            for (u32 k = 0; k < 4u; k++) ext[4u * d + k] = q_neg(ext[4u * a + k]);
            break;
        case 19u:  // ext + base
        case 20u:  // ext - base
            e0 = op == 19u ? bb_add(ext[4u * a], base[b]) : bb_sub(ext[4u * a], base[b]);
            ext[4u * d + 1u] = ext[4u * a + 1u];
            ext[4u * d + 2u] = ext[4u * a + 2u];
            ext[4u * d + 3u] = ext[4u * a + 3u];
            ext[4u * d] = e0;
            break;
        case 21u:  // base - ext
            e0 = bb_sub(base[a], ext[4u * b]);
            ext[4u * d + 1u] = q_neg(ext[4u * b + 1u]);
            ext[4u * d + 2u] = q_neg(ext[4u * b + 2u]);
            ext[4u * d + 3u] = q_neg(ext[4u * b + 3u]);
            ext[4u * d] = e0;
            break;
        case 22u: {  // ext * base
            u32 s = base[b];
            for (u32 k = 0; k < 4u; k++) ext[4u * d + k] = bb_mul(ext[4u * a + k], s);
            break;
        }
        case 23u: {  // acc += weight * base
            u32 s = base[a];
            acc0 = bb_add(acc0, bb_mul(tables[b], s));
            acc1 = bb_add(acc1, bb_mul(tables[b + 1u], s));
            acc2 = bb_add(acc2, bb_mul(tables[b + 2u], s));
            acc3 = bb_add(acc3, bb_mul(tables[b + 3u], s));
            break;
        }
        case 24u: {  // acc += weight * ext
            u32 c[4];
            q_ext_mul(ext[4u * a], ext[4u * a + 1u], ext[4u * a + 2u], ext[4u * a + 3u],
                      tables[b], tables[b + 1u], tables[b + 2u], tables[b + 3u], c);
            acc0 = bb_add(acc0, c[0]);
            acc1 = bb_add(acc1, c[1]);
            acc2 = bb_add(acc2, c[2]);
            acc3 = bb_add(acc3, c[3]);
            break;
        }
        default:
            break;
        }
    }
    u32 inv_z = sels[3];
    out[4u * i] = bb_from_monty(bb_mul(acc0, inv_z));
    out[4u * i + 1u] = bb_from_monty(bb_mul(acc1, inv_z));
    out[4u * i + 2u] = bb_from_monty(bb_mul(acc2, inv_z));
    out[4u * i + 3u] = bb_from_monty(bb_mul(acc3, inv_z));
}
