#version 450
// Quotient evaluation: the Vulkan twin of device/quotient.h (same bytecode, same tables; see
// zkbox_accel::quotient). One invocation per point i of the quotient domain; the result's 4
// canonical words go to the tables buffer at the output offset (header word 15), which the
// host copies out.

#include "babybear.glsl"
#include "extension.glsl"
#include "grid.glsl"

layout(local_size_x_id = 8) in;

// Register files, set by the host from zkbox_accel::quotient.
layout(constant_id = 9) const uint Q_MAX_BASE = 1u;
layout(constant_id = 10) const uint Q_MAX_EXT = 1u;

layout(set = 0, binding = 0) buffer Tables { uint tables[]; };
layout(set = 0, binding = 1) readonly buffer Main { uint main_lde[]; };
layout(set = 0, binding = 2) readonly buffer Preprocessed { uint preprocessed_lde[]; };
layout(set = 0, binding = 3) readonly buffer Permutation { uint permutation_lde[]; };

uint q_row(uint row, uint bit_reversed, uint log_n) {
    return bit_reversed != 0u ? bit_reverse(row, log_n) : row;
}

uint q_neg(uint a) { return bb_sub(0u, a); }

uint base_regs[Q_MAX_BASE];
uvec4 ext_regs[Q_MAX_EXT];

void main() {
    uint i = linear_item();
    uint n = tables[0];
    if (i >= n) return;
    uint log_n = tables[1];
    uint rows[2] = uint[2](i, (i + tables[2]) & (n - 1u));
    uint count = tables[3];
    uint main_width = tables[4];
    uint main_rev = tables[5];
    uint pre_width = tables[6];
    uint pre_rev = tables[7];
    uint perm_width = tables[8];
    uint perm_rev = tables[9];
    uint periodic_width = tables[10];
    uint periodic_row = tables[11] == 0u ? 0u : i % tables[11];
    uint code = tables[12];
    uint periodic = tables[13] + periodic_row * periodic_width;
    uint sels = tables[14] + 4u * i;
    uvec4 acc = uvec4(0u);

    for (uint pc = 0u; pc < count; pc++) {
        uint op = tables[code + 4u * pc];
        uint d = tables[code + 4u * pc + 1u];
        uint a = tables[code + 4u * pc + 2u];
        uint b = tables[code + 4u * pc + 3u];
        switch (op) {
        case 0u:
            base_regs[d] = bb_to_monty(main_lde[q_row(rows[b], main_rev, log_n) * main_width + a]);
            break;
        case 1u:
            base_regs[d] = bb_to_monty(preprocessed_lde[q_row(rows[b], pre_rev, log_n) * pre_width + a]);
            break;
        case 2u:
            base_regs[d] = tables[periodic + a];
            break;
        case 3u:
            base_regs[d] = tables[a];
            break;
        case 4u:
            base_regs[d] = a;
            break;
        case 5u:
            base_regs[d] = tables[sels + a];
            break;
        case 6u:
            base_regs[d] = bb_add(base_regs[a], base_regs[b]);
            break;
        case 7u:
            base_regs[d] = bb_sub(base_regs[a], base_regs[b]);
            break;
        case 8u:
            base_regs[d] = bb_mul(base_regs[a], base_regs[b]);
            break;
        case 9u:
            base_regs[d] = q_neg(base_regs[a]);
            break;
        case 10u: {
            uint cell = q_row(rows[b], perm_rev, log_n) * perm_width + 4u * a;
            ext_regs[d] = uvec4(bb_to_monty(permutation_lde[cell]), bb_to_monty(permutation_lde[cell + 1u]),
                                bb_to_monty(permutation_lde[cell + 2u]), bb_to_monty(permutation_lde[cell + 3u]));
            break;
        }
        case 11u:
            ext_regs[d] = uvec4(tables[a], tables[a + 1u], tables[a + 2u], tables[a + 3u]);
            break;
        case 14u:
            ext_regs[d] = uvec4(base_regs[a], 0u, 0u, 0u);
            break;
        case 15u:
            ext_regs[d] = q_ext_add(ext_regs[a], ext_regs[b]);
            break;
        case 16u:
            ext_regs[d] = q_ext_sub(ext_regs[a], ext_regs[b]);
            break;
        case 17u:
            ext_regs[d] = q_ext_mul(ext_regs[a], ext_regs[b]);
            break;
        case 18u:
            ext_regs[d] = q_ext_sub(uvec4(0u), ext_regs[a]);
            break;
        case 19u:
            ext_regs[d] = q_ext_add(ext_regs[a], uvec4(base_regs[b], 0u, 0u, 0u));
            break;
        case 20u:
            ext_regs[d] = q_ext_sub(ext_regs[a], uvec4(base_regs[b], 0u, 0u, 0u));
            break;
        case 21u:
            ext_regs[d] = q_ext_sub(uvec4(base_regs[a], 0u, 0u, 0u), ext_regs[b]);
            break;
        case 22u: {
            uint s = base_regs[b];
            uvec4 x = ext_regs[a];
            ext_regs[d] = uvec4(bb_mul(x.x, s), bb_mul(x.y, s), bb_mul(x.z, s), bb_mul(x.w, s));
            break;
        }
        case 23u: {
            uint s = base_regs[a];
            acc = q_ext_add(acc, uvec4(bb_mul(tables[b], s), bb_mul(tables[b + 1u], s),
                                       bb_mul(tables[b + 2u], s), bb_mul(tables[b + 3u], s)));
            break;
        }
        case 24u:
            acc = q_ext_add(acc, q_ext_mul(ext_regs[a], uvec4(tables[b], tables[b + 1u],
                                                              tables[b + 2u], tables[b + 3u])));
            break;
        default:
            break;
        }
    }
    uint inv_z = tables[sels + 3u];
    uint out_at = tables[15] + 4u * i;
    tables[out_at] = bb_from_monty(bb_mul(acc.x, inv_z));
    tables[out_at + 1u] = bb_from_monty(bb_mul(acc.y, inv_z));
    tables[out_at + 2u] = bb_from_monty(bb_mul(acc.z, inv_z));
    tables[out_at + 3u] = bb_from_monty(bb_mul(acc.w, inv_z));
}
