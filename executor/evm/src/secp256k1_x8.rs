//! secp256k1 sender recovery for eight signatures at once with AVX-512 IFMA (native x86-64
//! builds whose processor has it; [`crate::recover::recover_addresses`] checks at run time).
//!
//! The algorithm is [`crate::secp256k1`]'s — u₂ split with the GLV endomorphism, u₁ split into
//! 128-bit halves, the four halves' digits interleaved under one chain of doublings, R's odd
//! multiples made affine on an isomorphic curve — with every field operation done for eight
//! independent signatures in the eight 64-bit lanes of 512-bit registers. Each lane's digits
//! select its own table entry (a gather). The digits are regular signed windows (every window
//! odd, never zero: [`regular_digits`]) rather than the scalar code's NAFs, so all lanes add
//! at the same positions: with NAFs, some lane has a nonzero digit at most positions, and
//! the vector code would pay an addition there for every lane.
//!
//! A field element is five 52-bit limbs per lane (radix 2⁵²), the width of IFMA's
//! multipliers (`vpmadd52luq`/`vpmadd52huq` read the low 52 bits of each operand, so every
//! operation returns limbs below 2⁵²). Values stay below 2²⁶⁰ but not necessarily below p;
//! [`canonical`] reduces fully where a value is compared, tested for parity or written out.
//! Products fold limbs past 2²⁶⁰ back with 2²⁶⁰ ≡ 2⁴·(2³² + 977) (mod p).
//!
//! Only the common case runs here. A lane whose signature is malformed (r or s outside
//! [1, n), a high s), whose R does not decompress, whose table or sum meets an exceptional
//! addition (H = 0) or whose sum ends at infinity is recovered again by libsecp256k1
//! ([`crate::recover::recover_address_libsecp256k1`]), so refusals are libsecp256k1's by
//! construction, and the tests hold the accepted answers to it on random signatures.

use crate::secp256k1::{
    B2, BETA, G_MULTIPLES, G_WINDOW, G1, G2, G128_MULTIPLES, LAMBDA, MINUS_B1, R_TABLE_LEN,
    R_WINDOW, THREE_HALVES, mul_shift_384, words_from_be_bytes,
};
use alloc::vec;
use alloc::vec::Vec;
use alloy_consensus::crypto::SECP256K1N_HALF;
use alloy_primitives::{Address, B256, Signature};
use core::arch::x86_64::*;
use k256::elliptic_curve::ff::PrimeField as _;
use k256::elliptic_curve::ops::{Invert as _, Reduce};
use k256::elliptic_curve::scalar::IsHigh as _;
use std::sync::OnceLock;

/// Signatures recovered together: one per 64-bit lane of a 512-bit register.
pub const LANES: usize = 8;

/// 2⁵² − 1: a limb's bits.
const MASK52: i64 = (1 << 52) - 1;
/// 2⁴⁸ − 1: the bits of the top limb below 2²⁵⁶.
const MASK48: i64 = (1 << 48) - 1;
/// 2²⁶⁰ mod p = 2⁴·(2³² + 977).
const FOLD_260: i64 = 0x1000003D10;
/// 2²⁵⁶ mod p = 2³² + 977.
const FOLD_256: i64 = 0x1000003D1;
/// p in 52-bit limbs.
const P_LIMBS: [i64; 5] = [
    0xFFFFEFFFFFC2F,
    0xFFFFFFFFFFFFF,
    0xFFFFFFFFFFFFF,
    0xFFFFFFFFFFFFF,
    0xFFFFFFFFFFFF,
];

/// 3/2 mod p (the doubling formula's constant) in 52-bit limbs.
const THREE_HALVES_LIMBS: [u64; 5] = limbs_from_words(&THREE_HALVES.0);
/// β (λ·(x, y) = (β·x, y)) in 52-bit limbs.
const BETA_LIMBS: [u64; 5] = limbs_from_words(&BETA.0);

/// Eight field elements, limb-major: `0[k]` holds limb k of every lane.
#[derive(Clone, Copy)]
struct Fe([__m512i; 5]);

/// Eight Jacobian points (X, Y, Z) ~ (X/Z², Y/Z³).
#[derive(Clone, Copy)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

/// Eight affine points.
#[derive(Clone, Copy)]
struct Affine {
    x: Fe,
    y: Fe,
}

/// A 256-bit value given as eight little-endian 32-bit words, in 52-bit limbs.
const fn limbs_from_words(words: &[u32; 8]) -> [u64; 5] {
    let w = [
        words[0] as u64 | (words[1] as u64) << 32,
        words[2] as u64 | (words[3] as u64) << 32,
        words[4] as u64 | (words[5] as u64) << 32,
        words[6] as u64 | (words[7] as u64) << 32,
    ];
    let mask = MASK52 as u64;
    [
        w[0] & mask,
        ((w[0] >> 52) | (w[1] << 12)) & mask,
        ((w[1] >> 40) | (w[2] << 24)) & mask,
        ((w[2] >> 28) | (w[3] << 36)) & mask,
        w[3] >> 16,
    ]
}

/// Big-endian bytes of a value below 2²⁵⁶ given in 52-bit limbs.
fn be_bytes_from_limbs(limbs: &[u64; 5]) -> [u8; 32] {
    let w = [
        limbs[0] | (limbs[1] << 52),
        (limbs[1] >> 12) | (limbs[2] << 40),
        (limbs[2] >> 24) | (limbs[3] << 28),
        (limbs[3] >> 36) | (limbs[4] << 16),
    ];
    let mut bytes = [0u8; 32];
    for (i, word) in w.iter().enumerate() {
        bytes[24 - 8 * i..32 - 8 * i].copy_from_slice(&word.to_be_bytes());
    }
    bytes
}

// --- field arithmetic ----------------------------------------------------------------------------

/// Declares functions that run with AVX-512F and IFMA enabled (callable only from functions
/// that have them, or unsafely after checking the processor).
macro_rules! simd_fns {
    ($($(#[$meta:meta])* fn $name:ident $args:tt $(-> $ret:ty)? $body:block)*) => {
        $(
            $(#[$meta])*
            #[inline]
            #[target_feature(enable = "avx512f,avx512ifma")]
            fn $name $args $(-> $ret)? $body
        )*
    };
}

simd_fns! {
    /// Every lane holds `value`.
    fn splat(value: i64) -> __m512i {
        _mm512_set1_epi64(value)
    }

    /// The same field element in every lane.
    fn fe_splat(limbs: &[u64; 5]) -> Fe {
        Fe(limbs.map(|l| splat(l as i64)))
    }

    /// Per-lane values (as 52-bit limbs) into the limb-major layout.
    fn fe_from_lanes(lanes: &[[u64; 5]; LANES]) -> Fe {
        Fe(core::array::from_fn(|k| {
            let limb: [u64; LANES] = core::array::from_fn(|lane| lanes[lane][k]);
            // SAFETY: `limb` is 64 readable bytes; the load has no alignment requirement.
            unsafe { _mm512_loadu_si512(limb.as_ptr().cast()) }
        }))
    }

    /// The limb-major layout back into per-lane limbs.
    fn fe_to_lanes(value: &[__m512i; 5]) -> [[u64; 5]; LANES] {
        let mut limbs = [[0u64; LANES]; 5];
        for (k, out) in limbs.iter_mut().enumerate() {
            // SAFETY: `out` is 64 writable bytes; the store has no alignment requirement.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), value[k]) };
        }
        core::array::from_fn(|lane| core::array::from_fn(|k| limbs[k][lane]))
    }

    /// Propagates carries through limbs 0-4 (each left below 2⁵²) and returns the carry out
    /// of limb 4.
    fn carry_pass(t: &mut [__m512i; 5]) -> __m512i {
        let mask = splat(MASK52);
        for k in 0..4 {
            t[k + 1] = _mm512_add_epi64(t[k + 1], _mm512_srli_epi64::<52>(t[k]));
            t[k] = _mm512_and_si512(t[k], mask);
        }
        let carry = _mm512_srli_epi64::<52>(t[4]);
        t[4] = _mm512_and_si512(t[4], mask);
        carry
    }

    /// Limbs below 2⁵² for a value whose carry out of limb 4 stays below 2¹⁴ (every caller's
    /// is at most 3): the carry folds back as carry·2⁴·(2³² + 977). If that pushes limb 0 past
    /// 2⁵² (rare), a second pass; its carry, if any, leaves a remainder below 2⁵¹, so the
    /// second fold cannot overflow.
    fn normalize(mut t: [__m512i; 5]) -> Fe {
        let fold = splat(FOLD_260);
        let carry = carry_pass(&mut t);
        t[0] = _mm512_madd52lo_epu64(t[0], carry, fold);
        if _mm512_cmpgt_epu64_mask(t[0], splat(MASK52)) != 0 {
            let carry = carry_pass(&mut t);
            t[0] = _mm512_madd52lo_epu64(t[0], carry, fold);
        }
        Fe(t)
    }

    /// Reduces a 10-column product (each column below 2⁵⁶) to a field element.
    fn reduce_product(mut t: [__m512i; 10]) -> Fe {
        let mask = splat(MASK52);
        for k in 0..9 {
            t[k + 1] = _mm512_add_epi64(t[k + 1], _mm512_srli_epi64::<52>(t[k]));
            t[k] = _mm512_and_si512(t[k], mask);
        }
        // Columns 5-9 (each below 2⁵² now: the product is below 2⁵²⁰) fold into 0-5.
        let fold = splat(FOLD_260);
        let mut low = [t[0], t[1], t[2], t[3], t[4]];
        for k in 0..4 {
            low[k] = _mm512_madd52lo_epu64(low[k], t[5 + k], fold);
            low[k + 1] = _mm512_madd52hi_epu64(low[k + 1], t[5 + k], fold);
        }
        low[4] = _mm512_madd52lo_epu64(low[4], t[9], fold);
        let mut above = _mm512_madd52hi_epu64(_mm512_setzero_si512(), t[9], fold);
        // Columns below 3·2⁵²; what carries past limb 4 joins `above` (below 2³⁸ in all).
        above = _mm512_add_epi64(above, carry_pass(&mut low));
        low[0] = _mm512_madd52lo_epu64(low[0], above, fold);
        low[1] = _mm512_madd52hi_epu64(low[1], above, fold);
        normalize(low)
    }

    /// a·b.
    fn mul(a: &Fe, b: &Fe) -> Fe {
        let mut t = [_mm512_setzero_si512(); 10];
        for i in 0..5 {
            for j in 0..5 {
                t[i + j] = _mm512_madd52lo_epu64(t[i + j], a.0[i], b.0[j]);
                t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a.0[i], b.0[j]);
            }
        }
        reduce_product(t)
    }

    /// a²: the cross products once, doubled, then the squares (15 products instead of 25).
    fn sqr(a: &Fe) -> Fe {
        let mut t = [_mm512_setzero_si512(); 10];
        for i in 0..5 {
            for j in i + 1..5 {
                t[i + j] = _mm512_madd52lo_epu64(t[i + j], a.0[i], a.0[j]);
                t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a.0[i], a.0[j]);
            }
        }
        for column in t.iter_mut() {
            *column = _mm512_slli_epi64::<1>(*column);
        }
        for i in 0..5 {
            t[2 * i] = _mm512_madd52lo_epu64(t[2 * i], a.0[i], a.0[i]);
            t[2 * i + 1] = _mm512_madd52hi_epu64(t[2 * i + 1], a.0[i], a.0[i]);
        }
        reduce_product(t)
    }

    /// a^(2^k).
    fn sqr_times(a: &Fe, k: u32) -> Fe {
        let mut power = *a;
        for _ in 0..k {
            power = sqr(&power);
        }
        power
    }

    /// a + b.
    fn add(a: &Fe, b: &Fe) -> Fe {
        normalize(core::array::from_fn(|k| _mm512_add_epi64(a.0[k], b.0[k])))
    }

    /// a − b, as a + 32·p − b limb by limb (32·p's limbs all exceed 2⁵², so no limb goes
    /// negative).
    fn sub(a: &Fe, b: &Fe) -> Fe {
        normalize(core::array::from_fn(|k| {
            let offset = splat(P_LIMBS[k] * 32);
            _mm512_sub_epi64(_mm512_add_epi64(a.0[k], offset), b.0[k])
        }))
    }

    /// −a.
    fn neg(a: &Fe) -> Fe {
        sub(&Fe([_mm512_setzero_si512(); 5]), a)
    }

    /// b in the lanes `mask` selects, a in the others.
    fn select(mask: __mmask8, a: &Fe, b: &Fe) -> Fe {
        Fe(core::array::from_fn(|k| _mm512_mask_blend_epi64(mask, a.0[k], b.0[k])))
    }

    /// The canonical limbs (value below p) of each lane.
    fn canonical(a: &Fe) -> [__m512i; 5] {
        let mut t = a.0;
        let mask = splat(MASK52);
        // Below 2²⁶⁰: fold the bits from 2²⁵⁶ up as ·(2³² + 977), twice (the second fold
        // only ever carries 1, into a remainder far below 2⁵²); then below 2²⁵⁶ < 2p.
        for _ in 0..2 {
            let above = _mm512_srli_epi64::<48>(t[4]);
            t[4] = _mm512_and_si512(t[4], splat(MASK48));
            t[0] = _mm512_madd52lo_epu64(t[0], above, splat(FOLD_256));
            for k in 0..4 {
                t[k + 1] = _mm512_add_epi64(t[k + 1], _mm512_srli_epi64::<52>(t[k]));
                t[k] = _mm512_and_si512(t[k], mask);
            }
        }
        // Subtract p where the value is at least p (no borrow out).
        let mut borrow = _mm512_setzero_si512();
        let mut difference = [_mm512_setzero_si512(); 5];
        for k in 0..5 {
            let d = _mm512_sub_epi64(_mm512_sub_epi64(t[k], splat(P_LIMBS[k])), borrow);
            borrow = _mm512_srli_epi64::<63>(d);
            difference[k] = _mm512_and_si512(d, mask);
        }
        let at_least_p = _mm512_cmpeq_epi64_mask(borrow, _mm512_setzero_si512());
        core::array::from_fn(|k| _mm512_mask_blend_epi64(at_least_p, t[k], difference[k]))
    }

    /// The lanes holding zero (mod p).
    fn is_zero(a: &Fe) -> __mmask8 {
        let t = canonical(a);
        let any = _mm512_or_si512(
            _mm512_or_si512(t[0], t[1]),
            _mm512_or_si512(_mm512_or_si512(t[2], t[3]), t[4]),
        );
        _mm512_cmpeq_epi64_mask(any, _mm512_setzero_si512())
    }

    /// (a^(2²²³ − 1), a^(2² − 1), a^(2²² − 1)): the prefix the chains for p − 2 and (p + 1)/4
    /// share (as in [`crate::secp256k1`]).
    fn pow_prefix(a: &Fe) -> (Fe, Fe, Fe) {
        let x2 = mul(&sqr(a), a);
        let x3 = mul(&sqr(&x2), a);
        let x6 = mul(&sqr_times(&x3, 3), &x3);
        let x9 = mul(&sqr_times(&x6, 3), &x3);
        let x11 = mul(&sqr_times(&x9, 2), &x2);
        let x22 = mul(&sqr_times(&x11, 11), &x11);
        let x44 = mul(&sqr_times(&x22, 22), &x22);
        let x88 = mul(&sqr_times(&x44, 44), &x44);
        let x176 = mul(&sqr_times(&x88, 88), &x88);
        let x220 = mul(&sqr_times(&x176, 44), &x44);
        let x223 = mul(&sqr_times(&x220, 3), &x3);
        (x223, x2, x22)
    }

    /// a⁻¹ as a^(p − 2) (zero for zero).
    fn invert(a: &Fe) -> Fe {
        let (x223, x2, x22) = pow_prefix(a);
        let t = mul(&sqr_times(&x223, 23), &x22);
        let t = mul(&sqr_times(&t, 5), a);
        let t = mul(&sqr_times(&t, 3), &x2);
        mul(&sqr_times(&t, 2), a)
    }

    /// a^((p + 1)/4): a square root of a wherever a has one.
    fn sqrt_candidate(a: &Fe) -> Fe {
        let (x223, x2, x22) = pow_prefix(a);
        let t = mul(&sqr_times(&x223, 23), &x22);
        let t = mul(&sqr_times(&t, 6), &x2);
        sqr_times(&t, 2)
    }

    // --- points ------------------------------------------------------------------------------

    /// 2·P (the halved-scale formula of [`crate::secp256k1`]: no curve constant, so it holds
    /// on the isomorphic curves too).
    fn double(p: &Jacobian) -> Jacobian {
        let h = mul(&sqr(&p.x), &fe_splat(&THREE_HALVES_LIMBS));
        let y2 = sqr(&p.y);
        let y4 = sqr(&y2);
        let t = mul(&p.x, &y2);
        let x3 = sub(&sqr(&h), &add(&t, &t));
        let y3 = sub(&mul(&h, &sub(&t, &x3)), &y4);
        Jacobian {
            x: x3,
            y: y3,
            z: mul(&p.y, &p.z),
        }
    }

    /// P + Q for Q affine in P's frame, or, with `scale` = s, the point (x, y, 1/s): the
    /// generic case only (H = 0 gives garbage; the caller checks the returned H).
    fn add_affine(p: &Jacobian, q: &Affine, scale: Option<&Fe>) -> (Jacobian, Fe) {
        let z = match scale {
            Some(s) => mul(&p.z, s),
            None => p.z,
        };
        let z1z1 = sqr(&z);
        let u2 = mul(&q.x, &z1z1);
        let s2 = mul(&q.y, &mul(&z, &z1z1));
        let h = sub(&u2, &p.x);
        let r = sub(&s2, &p.y);
        let hh = sqr(&h);
        let hhh = mul(&h, &hh);
        let v = mul(&p.x, &hh);
        let x3 = sub(&sub(&sub(&sqr(&r), &hhh), &v), &v);
        let y3 = sub(&mul(&r, &sub(&v, &x3)), &mul(&p.y, &hhh));
        (
            Jacobian {
                x: x3,
                y: y3,
                z: mul(&p.z, &h),
            },
            h,
        )
    }

    /// Q in the lanes `mask` selects, P in the others.
    fn select_point(mask: __mmask8, p: &Jacobian, q: &Jacobian) -> Jacobian {
        Jacobian {
            x: select(mask, &p.x, &q.x),
            y: select(mask, &p.y, &q.y),
            z: select(mask, &p.z, &q.z),
        }
    }

    /// Adds, in each lane whose digit is nonzero, the table entry the digit selects (negated
    /// for a negative digit, and again where `negate` marks the lane's scalar negative).
    fn sum_add_entries(
        sum: &mut Sum,
        digit: __m512i,
        negate: __mmask8,
        table: &[i64],
        per_lane: bool,
        scale: Option<&Fe>,
    ) {
        let active = _mm512_test_epi64_mask(digit, digit);
        if active == 0 {
            return;
        }
        let one = fe_splat(&[1, 0, 0, 0, 0]);
        let negative = _mm512_cmplt_epi64_mask(digit, _mm512_setzero_si512()) ^ negate;
        // Clamped to the table, so no digit can read past it (a wrong digit gives a wrong
        // sum, never a stray read; the recoding never makes one).
        let entries = table.len() as i64 / if per_lane { 80 } else { 10 };
        let index = _mm512_min_epu64(
            _mm512_srli_epi64::<1>(_mm512_abs_epi64(digit)),
            splat(entries - 1),
        );
        let entry = gather(table, index, per_lane);
        let entry = Affine {
            x: entry.x,
            y: select(negative, &entry.y, &neg(&entry.y)),
        };
        let live = active & !sum.at_infinity;
        if live != 0 {
            let (added, h) = add_affine(&sum.point, &entry, scale);
            // H = 0: the sum meets ±entry (an exceptional case): libsecp256k1 decides.
            sum.fallback |= is_zero(&h) & live;
            sum.point = select_point(live, &sum.point, &added);
        }
        let fresh = active & sum.at_infinity;
        if fresh != 0 {
            // The first term: the entry itself, brought to the accumulator's frame.
            let start = match scale {
                Some(s) => {
                    let s2 = sqr(s);
                    Affine {
                        x: mul(&entry.x, &s2),
                        y: mul(&entry.y, &mul(&s2, s)),
                    }
                }
                None => entry,
            };
            let start = Jacobian {
                x: start.x,
                y: start.y,
                z: one,
            };
            sum.point = select_point(fresh, &sum.point, &start);
            sum.at_infinity &= !fresh;
        }
    }

    /// Eight digits (one per lane) as 64-bit lanes.
    fn load_digits(digits: &[i8; LANES]) -> __m512i {
        _mm512_cvtepi8_epi64(_mm_cvtsi64_si128(i64::from_le_bytes(digits.map(|d| d as u8))))
    }

    /// The table entries `index` (one per lane, each below the table's entry count: callers
    /// clamp) of a table laid out as
    /// `[entry][coordinate][limb]` (shared by all lanes, `lane_stride` 0) or
    /// `[entry][coordinate][limb][lane]` (one table per lane, `lane_stride` 1).
    fn gather(table: &[i64], index: __m512i, per_lane: bool) -> Affine {
        // index·80 + lane or index·10, by shifts (a 64-bit multiply needs AVX-512DQ).
        let (base, limb_stride) = if per_lane {
            let times80 = _mm512_add_epi64(
                _mm512_slli_epi64::<6>(index),
                _mm512_slli_epi64::<4>(index),
            );
            let lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
            (_mm512_add_epi64(times80, lanes), 8)
        } else {
            let times10 = _mm512_add_epi64(
                _mm512_slli_epi64::<3>(index),
                _mm512_slli_epi64::<1>(index),
            );
            (times10, 1)
        };
        let limb = |offset: i64| {
            let offsets = _mm512_add_epi64(base, splat(offset));
            // SAFETY: every offset is below the table's length: the caller clamps entries to
            // the table's entry count, and the strides match its layout.
            unsafe { _mm512_i64gather_epi64::<8>(offsets, table.as_ptr()) }
        };
        Affine {
            x: Fe(core::array::from_fn(|k| limb(k as i64 * limb_stride))),
            y: Fe(core::array::from_fn(|k| limb((5 + k as i64) * limb_stride))),
        }
    }

    /// The recovery of eight lanes from their prepared inputs: each lane's address, or
    /// `None` where the lane must be recovered by libsecp256k1 instead.
    fn recover_lanes(inputs: &[Option<LaneInput>; LANES]) -> [Option<Address>; LANES] {
        let mut fallback: __mmask8 = 0;
        for (lane, input) in inputs.iter().enumerate() {
            if input.is_none() {
                fallback |= 1 << lane;
            }
        }
        let lane_or_dummy = |lane: usize| inputs[lane].as_ref().unwrap_or(&DUMMY_LANE);
        let one = fe_splat(&[1, 0, 0, 0, 0]);

        // R: x = r and y = ±√(x³ + 7) with the signature's parity.
        let x = fe_from_lanes(&core::array::from_fn(|lane| lane_or_dummy(lane).r));
        let y_squared = add(&mul(&sqr(&x), &x), &fe_splat(&[7, 0, 0, 0, 0]));
        let y = sqrt_candidate(&y_squared);
        fallback |= !is_zero(&sub(&sqr(&y), &y_squared));
        let odd = _mm512_test_epi64_mask(canonical(&y)[0], splat(1));
        let mut want_odd: __mmask8 = 0;
        for lane in 0..LANES {
            if lane_or_dummy(lane).y_odd {
                want_odd |= 1 << lane;
            }
        }
        let y = select(odd ^ want_odd, &y, &neg(&y));

        // R's odd multiples, affine on the curve scaled by the last one's Z (see
        // crate::secp256k1's OddMultiples): D = 2R = (X_D, Y_D, ζ) is affine on the curve
        // scaled by ζ, where R is (x·ζ², y·ζ³).
        let doubled = double(&Jacobian { x, y, z: one });
        let zeta = doubled.z;
        let zeta2 = sqr(&zeta);
        let step = Affine {
            x: doubled.x,
            y: doubled.y,
        };
        let mut multiples = [Jacobian {
            x: mul(&x, &zeta2),
            y: mul(&y, &mul(&zeta2, &zeta)),
            z: one,
        }; R_TABLE_LEN];
        let mut ratios = [one; R_TABLE_LEN];
        for i in 1..R_TABLE_LEN {
            let (sum, ratio) = add_affine(&multiples[i - 1], &step, None);
            fallback |= is_zero(&ratio);
            multiples[i] = sum;
            ratios[i] = ratio;
        }
        let last = R_TABLE_LEN - 1;
        let mut points = [Affine {
            x: multiples[last].x,
            y: multiples[last].y,
        }; R_TABLE_LEN];
        let mut rho = ratios[last];
        for i in (0..last).rev() {
            if i + 1 < last {
                rho = mul(&rho, &ratios[i + 1]);
            }
            let rho2 = sqr(&rho);
            points[i] = Affine {
                x: mul(&multiples[i].x, &rho2),
                y: mul(&multiples[i].y, &mul(&rho2, &rho)),
            };
        }
        let scale = mul(&multiples[last].z, &zeta);
        let beta = fe_splat(&BETA_LIMBS);
        // [entry][coordinate][limb][lane] for R and λ·R.
        let mut r_table = vec![0i64; R_TABLE_LEN * 10 * LANES];
        let mut lambda_table = vec![0i64; R_TABLE_LEN * 10 * LANES];
        for (i, point) in points.iter().enumerate() {
            let lambda_x = mul(&point.x, &beta);
            for (c, (plain, lambda)) in [(&point.x, &lambda_x), (&point.y, &point.y)]
                .into_iter()
                .enumerate()
            {
                for k in 0..5 {
                    let at = ((i * 2 + c) * 5 + k) * LANES;
                    // SAFETY: `at + 8` is within both tables (i < R_TABLE_LEN, c < 2, k < 5).
                    unsafe {
                        _mm512_storeu_si512(r_table[at..].as_mut_ptr().cast(), plain.0[k]);
                        _mm512_storeu_si512(lambda_table[at..].as_mut_ptr().cast(), lambda.0[k]);
                    }
                }
            }
        }

        // Digits, [scalar][position][lane]: u₁'s low and high halves (G's tables), u₂'s GLV
        // halves (R's); then each lane's correction for a scalar recoded as k + 1.
        let mut digits = vec![[[0i8; LANES]; DIGIT_POSITIONS]; 4];
        let mut corrections = [[0i8; LANES]; 4];
        let mut negate = [0 as __mmask8; 4];
        for lane in 0..LANES {
            let Some(input) = &inputs[lane] else { continue };
            for (which, (scalar, window)) in input.scalars().iter().enumerate() {
                match regular_digits(scalar, *window) {
                    Some((lane_digits, even)) => {
                        for (position, digit) in lane_digits.iter().enumerate() {
                            digits[which][position * *window as usize][lane] = *digit;
                        }
                        corrections[which][lane] = -i8::from(even);
                    }
                    // Out of range (never, for canonical inputs): libsecp256k1 decides.
                    None => fallback |= 1 << lane,
                }
            }
            if input.k1_negative {
                negate[2] |= 1 << lane;
            }
            if input.k2_negative {
                negate[3] |= 1 << lane;
            }
        }
        let g_tables = g_tables();
        let tables: [(&[i64], bool, Option<&Fe>); 4] = [
            (&g_tables.0, false, Some(&scale)),
            (&g_tables.1, false, Some(&scale)),
            (&r_table, true, None),
            (&lambda_table, true, None),
        ];

        let mut sum = Sum {
            point: Jacobian {
                x: one,
                y: one,
                z: Fe([_mm512_setzero_si512(); 5]),
            },
            at_infinity: 0xff,
            fallback,
        };
        for position in (0..DIGIT_POSITIONS).rev() {
            sum.point = double(&sum.point);
            for (which, (table, per_lane, scale)) in tables.iter().enumerate() {
                let digit = load_digits(&digits[which][position]);
                sum.add_entries(digit, negate[which], table, *per_lane, *scale);
            }
        }
        for (which, (table, per_lane, scale)) in tables.iter().enumerate() {
            let digit = load_digits(&corrections[which]);
            sum.add_entries(digit, negate[which], table, *per_lane, *scale);
        }
        let Sum {
            point: sum,
            at_infinity,
            mut fallback,
        } = sum;
        fallback |= at_infinity;

        // Back to secp256k1 (Z·scale), then affine.
        let z_inverse = invert(&mul(&sum.z, &scale));
        let z_inverse2 = sqr(&z_inverse);
        let key_x = fe_to_lanes(&canonical(&mul(&sum.x, &z_inverse2)));
        let key_y = fe_to_lanes(&canonical(&mul(&sum.y, &mul(&z_inverse2, &z_inverse))));
        core::array::from_fn(|lane| {
            if fallback & (1 << lane) != 0 {
                return None;
            }
            let mut raw = [0u8; 64];
            raw[..32].copy_from_slice(&be_bytes_from_limbs(&key_x[lane]));
            raw[32..].copy_from_slice(&be_bytes_from_limbs(&key_y[lane]));
            Some(Address::from_raw_public_key(&raw))
        })
    }
}

/// The running sum of eight lanes.
struct Sum {
    /// The sum, on the isomorphic curve R's table lives on.
    point: Jacobian,
    /// Lanes whose sum is still the point at infinity (no term added yet).
    at_infinity: __mmask8,
    /// Lanes libsecp256k1 must decide.
    fallback: __mmask8,
}

impl Sum {
    /// [`sum_add_entries`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add_entries(
        &mut self,
        digit: __m512i,
        negate: __mmask8,
        table: &[i64],
        per_lane: bool,
        scale: Option<&Fe>,
    ) {
        sum_add_entries(self, digit, negate, table, per_lane, scale)
    }
}

/// Bit positions the digits cover: the scalars are below 2¹²⁹ and their top digit sits at
/// most at bit 132 (see [`regular_digits`]).
const DIGIT_POSITIONS: usize = 133;
/// Window of the digits that select from G's tables (32 odd multiples: digits ±1 … ±63).
const G_DIGIT_WINDOW: u32 = G_WINDOW - 1;
/// Window of the digits that select from R's tables (8 odd multiples: digits ±1 … ±15).
const R_DIGIT_WINDOW: u32 = R_WINDOW - 1;

/// A scalar below 2¹²⁹ as odd digits d₀, d₁, … in ±(1 … 2^w − 1), k = Σ dᵢ·2^(w·i) — every
/// window has a nonzero digit, so all eight lanes add at the same positions (a width-w NAF
/// would leave most positions adding in some lane) — and whether the scalar was even and
/// recoded as k + 1 (its sum then needs one base point taken away). `None` if the scalar
/// is too large (never, for the halves the recovery makes).
fn regular_digits(scalar: &[u32; 8], window: u32) -> Option<(Vec<i8>, bool)> {
    let mut k = alloy_primitives::U256::from_limbs(core::array::from_fn(|i| {
        u64::from(scalar[2 * i]) | (u64::from(scalar[2 * i + 1]) << 32)
    }));
    if k.bit_len() > 129 {
        return None;
    }
    let even = !k.bit(0);
    k += alloy_primitives::U256::from(u8::from(even));
    let count = (DIGIT_POSITIONS - 1) / window as usize + 1;
    let mut digits = Vec::with_capacity(count);
    let modulus = 1i64 << (window + 1);
    for _ in 0..count - 1 {
        // k odd: d = (k mod 2^(w+1)) − 2^w is odd, and (k − d)/2^w is odd again.
        let digit = (k.as_limbs()[0] as i64 & (modulus - 1)) - (1 << window);
        k = if digit >= 0 {
            k - alloy_primitives::U256::from(digit)
        } else {
            k + alloy_primitives::U256::from(-digit)
        } >> window as usize;
        digits.push(digit as i8);
    }
    // What is left is the top digit: odd and below 2^w.
    if k >= alloy_primitives::U256::from(1u64 << window) {
        return None;
    }
    digits.push(k.as_limbs()[0] as i8);
    Some((digits, even))
}

// --- constant tables ---------------------------------------------------------------------------

/// G's and 2¹²⁸·G's odd multiples as `[entry][coordinate][limb]`, for [`gather`].
fn g_tables() -> &'static (Vec<i64>, Vec<i64>) {
    static TABLES: OnceLock<(Vec<i64>, Vec<i64>)> = OnceLock::new();
    TABLES.get_or_init(|| {
        let layout = |points: &[crate::secp256k1::AffinePoint]| {
            points
                .iter()
                .flat_map(|p| {
                    let x = limbs_from_words(&p.x.0);
                    let y = limbs_from_words(&p.y.0);
                    x.into_iter().chain(y).map(|l| l as i64)
                })
                .collect::<Vec<_>>()
        };
        (layout(&G_MULTIPLES), layout(&G128_MULTIPLES))
    })
}

// --- per-lane scalars ----------------------------------------------------------------------------

/// One signature's inputs to the vector recovery.
#[derive(Clone, Copy, Debug)]
struct LaneInput {
    /// r as a field element (R's x), 52-bit limbs.
    r: [u64; 5],
    /// R's y parity.
    y_odd: bool,
    /// u₁ = −z·r⁻¹ mod n, little-endian words.
    u1: [u32; 8],
    /// |k₁| and its sign, with u₂ = s·r⁻¹ = k₁ + k₂·λ (GLV).
    k1: [u32; 8],
    /// Whether k₁ is negative.
    k1_negative: bool,
    /// |k₂|.
    k2: [u32; 8],
    /// Whether k₂ is negative.
    k2_negative: bool,
}

impl LaneInput {
    /// The four scalars and their digit windows: u₁'s low and high 128 bits (G, 2¹²⁸·G),
    /// |k₁| and |k₂| (R, λ·R).
    fn scalars(&self) -> [([u32; 8], u32); 4] {
        let mut low = [0u32; 8];
        let mut high = [0u32; 8];
        low[..4].copy_from_slice(&self.u1[..4]);
        high[..4].copy_from_slice(&self.u1[4..]);
        [
            (low, G_DIGIT_WINDOW),
            (high, G_DIGIT_WINDOW),
            (self.k1, R_DIGIT_WINDOW),
            (self.k2, R_DIGIT_WINDOW),
        ]
    }
}

/// Inputs for an unused lane: its R is decompressed like any other, but it has no digits and
/// is always flagged for libsecp256k1 (which the caller skips for lanes past the input).
const DUMMY_LANE: LaneInput = LaneInput {
    r: [1, 0, 0, 0, 0],
    y_odd: false,
    u1: [0; 8],
    k1: [0; 8],
    k1_negative: false,
    k2: [0; 8],
    k2_negative: false,
};

/// A k256 scalar from little-endian words below n.
fn scalar_from_words(words: &[u32; 8]) -> k256::Scalar {
    let mut bytes = [0u8; 32];
    for (i, word) in words.iter().enumerate() {
        bytes[28 - 4 * i..32 - 4 * i].copy_from_slice(&word.to_be_bytes());
    }
    k256::Scalar::from_repr(bytes.into()).expect("below n")
}

/// A k256 scalar's little-endian words.
fn words_from_scalar(scalar: &k256::Scalar) -> [u32; 8] {
    words_from_be_bytes(&scalar.to_bytes().into())
}

/// |k| and whether k is "negative" (above n/2).
fn magnitude(k: k256::Scalar) -> ([u32; 8], bool) {
    if bool::from(k.is_high()) {
        (words_from_scalar(&-k), true)
    } else {
        (words_from_scalar(&k), false)
    }
}

/// The lane inputs of up to eight signatures: `None` for those libsecp256k1 must handle
/// (r or s outside [1, n), s above n/2). The eight r⁻¹ share one inversion (Montgomery's
/// trick).
fn prepare(items: &[(Signature, B256)]) -> [Option<LaneInput>; LANES] {
    let mut rs = [None; LANES];
    for (lane, (signature, _)) in items.iter().enumerate().take(LANES) {
        if signature.s() > SECP256K1N_HALF {
            continue;
        }
        let r = Option::<k256::Scalar>::from(k256::Scalar::from_repr(
            signature.r().to_be_bytes::<32>().into(),
        ));
        let s = Option::<k256::Scalar>::from(k256::Scalar::from_repr(
            signature.s().to_be_bytes::<32>().into(),
        ));
        if let (Some(r), Some(s)) = (r, s)
            && !bool::from(r.is_zero() | s.is_zero())
        {
            rs[lane] = Some((r, s));
        }
    }
    // Prefix products, one inversion, then each r⁻¹ from the products on either side.
    let mut prefix = [k256::Scalar::ONE; LANES + 1];
    for lane in 0..LANES {
        prefix[lane + 1] = match rs[lane] {
            Some((r, _)) => prefix[lane] * r,
            None => prefix[lane],
        };
    }
    let Some(mut inverse) = Option::<k256::Scalar>::from(prefix[LANES].invert_vartime()) else {
        return [None; LANES];
    };
    let mut r_inverses = [k256::Scalar::ZERO; LANES];
    for lane in (0..LANES).rev() {
        if let Some((r, _)) = rs[lane] {
            r_inverses[lane] = inverse * prefix[lane];
            inverse *= r;
        }
    }
    core::array::from_fn(|lane| {
        let (r, s) = rs[lane]?;
        let (signature, prehash) = &items[lane];
        let z = <k256::Scalar as Reduce<k256::U256>>::reduce_bytes(&prehash.0.into());
        let u1 = -(z * r_inverses[lane]);
        let u2 = s * r_inverses[lane];
        // GLV: c₁ = round(b₂·u₂/n), c₂ = round(−b₁·u₂/n), k₂ = −c₁·b₁ − c₂·b₂, k₁ = u₂ − k₂·λ.
        let u2_words = words_from_scalar(&u2);
        let c1 = scalar_from_words(&mul_shift_384(&u2_words, &G1));
        let c2 = scalar_from_words(&mul_shift_384(&u2_words, &G2));
        let k2 = c1 * scalar_from_words(&MINUS_B1.0) - c2 * scalar_from_words(&B2.0);
        let k1 = u2 - k2 * scalar_from_words(&LAMBDA.0);
        let (k1, k1_negative) = magnitude(k1);
        let (k2, k2_negative) = magnitude(k2);
        Some(LaneInput {
            r: limbs_from_words(&words_from_scalar(&r)),
            y_odd: u8::from(signature.v()) == 1,
            u1: words_from_scalar(&u1),
            k1,
            k1_negative,
            k2,
            k2_negative,
        })
    })
}

/// Whether this processor runs the vector recovery (AVX-512F and IFMA).
pub fn available() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512ifma")
}

/// Recovers up to eight signatures' addresses together; `None` for those to recover with
/// libsecp256k1 instead (see the module docs). Panics if the processor lacks AVX-512F or IFMA
/// ([`available`]) or more than eight are given.
pub fn recover_eight(items: &[(Signature, B256)]) -> [Option<Address>; LANES] {
    assert!(items.len() <= LANES, "at most {LANES} signatures at once");
    assert!(available(), "AVX-512F and IFMA are required");
    let inputs = prepare(items);
    // SAFETY: the processor has AVX-512F and IFMA (checked above).
    unsafe { recover_lanes(&inputs) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{U256, U512};

    /// p as a U256.
    const P: U256 = U256::from_be_bytes(alloy_primitives::hex!(
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"
    ));

    /// The value of five limbs (up to 2²⁶⁰ − 1) mod p.
    fn value_of(limbs: &[u64; 5]) -> U256 {
        let mut v = U512::ZERO;
        for (k, limb) in limbs.iter().enumerate() {
            v += U512::from(*limb) << (52 * k);
        }
        U256::from_limbs_slice(&(v % U512::from(P)).as_limbs()[..4])
    }

    /// A canonical value's 64-bit limbs (little-endian).
    fn be_limbs(limbs: &[u64; 5]) -> [u64; 4] {
        let bytes = be_bytes_from_limbs(limbs);
        U256::from_be_bytes(bytes).into_limbs()
    }

    fn limbs_of(v: U256) -> [u64; 5] {
        let words: [u32; 8] = core::array::from_fn(|i| (v >> (32 * i)).as_limbs()[0] as u32);
        limbs_from_words(&words)
    }

    /// Field operations on eight lanes of random and extreme inputs (limbs all ones, values
    /// just below 2²⁶⁰, p and its neighbours) agree with U256 modular arithmetic.
    #[test]
    fn field_arithmetic_matches_u256() {
        if !available() {
            std::eprintln!("skipped: no AVX-512 IFMA on this processor");
            return;
        }
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let top = (1u64 << 52) - 1;
        let extremes = [
            [top; 5],
            [top, top, top, top, 0],
            limbs_of(P),
            limbs_of(P - U256::from(1)),
            limbs_of(P + U256::from(1)),
            [0; 5],
            [1, 0, 0, 0, 0],
            [0, 0, 0, 0, top],
        ];
        for round in 0..200 {
            let mut lanes = [[[0u64; 5]; LANES]; 2];
            for (which, side) in lanes.iter_mut().enumerate() {
                for (lane, limbs) in side.iter_mut().enumerate() {
                    *limbs = if round % 4 == 0 {
                        extremes[(lane + which * 3 + round) % extremes.len()]
                    } else {
                        core::array::from_fn(|_| next() & top)
                    };
                }
            }
            // SAFETY: the processor has AVX-512F and IFMA (checked above).
            let results = unsafe {
                let a = fe_from_lanes(&lanes[0]);
                let b = fe_from_lanes(&lanes[1]);
                [
                    fe_to_lanes(&mul(&a, &b).0),
                    fe_to_lanes(&sqr(&a).0),
                    fe_to_lanes(&add(&a, &b).0),
                    fe_to_lanes(&sub(&a, &b).0),
                    fe_to_lanes(&canonical(&a)),
                    fe_to_lanes(&invert(&a).0),
                ]
            };
            for lane in 0..LANES {
                let a = value_of(&lanes[0][lane]);
                let b = value_of(&lanes[1][lane]);
                let expected = [
                    a.mul_mod(b, P),
                    a.mul_mod(a, P),
                    a.add_mod(b, P),
                    a.add_mod(P - b, P),
                    a,
                    if a.is_zero() {
                        a
                    } else {
                        a.inv_mod(P).unwrap()
                    },
                ];
                for (op, (result, want)) in results.iter().zip(expected).enumerate() {
                    let limbs = &result[lane];
                    assert!(limbs.iter().all(|l| *l < 1 << 52), "op {op}: a limb ≥ 2^52");
                    assert_eq!(value_of(limbs), want, "op {op} lane {lane} round {round}");
                }
                let canonical = &results[4][lane];
                assert!(
                    canonical[4] < 1 << 48 && value_of(canonical) == a,
                    "canonical is a"
                );
                assert!(
                    U256::from_limbs_slice(&be_limbs(canonical)) < P,
                    "canonical is below p"
                );
            }
        }
    }

    /// Random keys and messages: every lane of the vector path answers (no fallback) and
    /// agrees with libsecp256k1; the batch recovery agrees for every batch length.
    #[test]
    fn recovers_what_libsecp256k1_recovers() {
        use crate::recover::{recover_address_libsecp256k1, recover_addresses};
        use alloy_primitives::keccak256;
        use k256::ecdsa::SigningKey;
        if !available() {
            std::eprintln!("skipped: no AVX-512 IFMA on this processor");
            return;
        }
        let mut seed = keccak256(b"secp256k1_x8");
        let mut items = Vec::new();
        for _ in 0..400 {
            let key = SigningKey::from_slice(seed.as_slice()).unwrap();
            seed = keccak256(seed);
            let (signature, id) = key.sign_prehash_recoverable(seed.as_slice()).unwrap();
            let signature = Signature::from_signature_and_parity(signature, id.is_y_odd());
            items.push((
                signature,
                seed,
                Address::from_public_key(key.verifying_key()),
            ));
            seed = keccak256(seed);
        }
        // z ≡ 0 (a zero message, and n itself): u₁ = 0 recodes as 1 and is corrected.
        let n = B256::from(alloy_primitives::hex!(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
        ));
        for (i, prehash) in [B256::ZERO, n].into_iter().cycle().take(16).enumerate() {
            let key = SigningKey::from_slice(keccak256([i as u8, 9]).as_slice()).unwrap();
            let (signature, id) = key.sign_prehash_recoverable(prehash.as_slice()).unwrap();
            let signature = Signature::from_signature_and_parity(signature, id.is_y_odd());
            items.push((
                signature,
                prehash,
                Address::from_public_key(key.verifying_key()),
            ));
        }
        for chunk in items.chunks(LANES) {
            let pairs: Vec<_> = chunk.iter().map(|(s, h, _)| (*s, *h)).collect();
            let found = recover_eight(&pairs);
            for (lane, (_, _, signer)) in chunk.iter().enumerate() {
                assert_eq!(found[lane], Some(*signer), "lane {lane}");
            }
        }
        // Mixed batches: valid, flipped parity (another key), other message, malformed.
        let mut mixed = Vec::new();
        for (i, (signature, prehash, _)) in items.iter().take(60).enumerate() {
            let item = match i % 5 {
                0 | 1 => (*signature, *prehash),
                2 => (signature.with_parity(!signature.v()), *prehash),
                3 => (*signature, keccak256(prehash)),
                _ => (
                    Signature::new(signature.r(), alloy_primitives::U256::ZERO, false),
                    *prehash,
                ),
            };
            mixed.push(item);
        }
        for length in 0..=mixed.len().min(21) {
            let batch = &mixed[..length];
            let expected: Vec<_> = batch
                .iter()
                .map(|(s, h)| recover_address_libsecp256k1(s, h))
                .collect();
            assert_eq!(recover_addresses(batch), expected, "length {length}");
        }
        let expected: Vec<_> = mixed
            .iter()
            .map(|(s, h)| recover_address_libsecp256k1(s, h))
            .collect();
        assert_eq!(recover_addresses(&mixed), expected);
    }

    /// The exceptional additions random signatures never reach: a sum that meets the entry
    /// (P + P) or its negation (P + (−P)) marks the lane for libsecp256k1; other lanes and
    /// other entries do not.
    #[test]
    fn exceptional_additions_fall_back() {
        if !available() {
            std::eprintln!("skipped: no AVX-512 IFMA on this processor");
            return;
        }
        let g = &G_MULTIPLES[0];
        let tables = g_tables();
        for (digit, exceptional) in [(1i8, true), (-1, true), (3, false), (-5, false)] {
            // SAFETY: the processor has AVX-512F and IFMA (checked above).
            let fallback = unsafe {
                let one = fe_splat(&[1, 0, 0, 0, 0]);
                let mut sum = Sum {
                    point: Jacobian {
                        x: fe_splat(&limbs_from_words(&g.x.0)),
                        y: fe_splat(&limbs_from_words(&g.y.0)),
                        z: one,
                    },
                    at_infinity: 0,
                    fallback: 0,
                };
                // Lanes 0-3 add the digit; lanes 4-7 add nothing.
                let digits = [digit, digit, digit, digit, 0, 0, 0, 0];
                sum.add_entries(load_digits(&digits), 0, &tables.0, false, Some(&one));
                sum.fallback
            };
            let expected = if exceptional { 0x0f } else { 0 };
            assert_eq!(fallback, expected, "digit {digit}");
        }
    }
}
