//! secp256k1 ECDSA public-key recovery for the zkVM guest, built on the `field256` precompile
//! ecall (a7 = [`FIELD256_ECALL`]), which computes one product, sum or difference modulo the
//! secp256k1 base-field prime p or the group order n per call.
//!
//! [`recover_address_zkvm`] accepts and refuses exactly what
//! [`recover_address_portable`](crate::recover::recover_address_portable) does (see
//! [`crate::recover`]); the guest spends a few thousand ecalls per recovery instead of the
//! millions of RV32IM cycles k256's software arithmetic costs. On every target other than
//! riscv32 the six field operations run in a software stand-in with the ecall's exact
//! semantics, so the native tests exercise the same curve code, and [`field_op_counts`]
//! reports how many ecalls a computation would have made.
//!
//! # Cost model and the choices it drives
//!
//! Every ecall costs the same, a product or a sum, so the formulas below minimise the total
//! number of field operations rather than the number of multiplications:
//!
//! - **Doubling** (Jacobian, a = 0) in 12 operations: the usual formula with its result
//!   scaled by 1/2 (X/4, Y/8, Z/2 represent the same point), which removes the small-constant
//!   multiples and leaves one multiplication by 3/2.
//! - **Mixed addition** (Jacobian + affine) in 18 operations, with the sign of the affine
//!   point folded into the formula (subtracting costs nothing extra).
//! - **u₁·G + u₂·R** by interleaved width-w NAF (Shamir's trick) over 129 bit positions
//!   instead of 256: u₁ is split into its 128-bit halves, which multiply G and 2¹²⁸·G from two
//!   constant tables of 32 odd multiples each (4 KiB together), and u₂ is split with the GLV
//!   endomorphism λ·(x, y) = (β·x, y) into two ~128-bit halves, which multiply a runtime table
//!   of R's odd multiples and its image under λ (one multiplication per entry).
//! - R's table is built on an isomorphic curve on which 2R is affine (Jacobian points
//!   (X, Y, Z) on y² = x³ + 7·ζ⁶ are the points (X, Y, Z·ζ) of secp256k1; the doubling and
//!   addition formulas do not involve the curve constant), then rescaled to one common Z, so
//!   every entry is affine on a second isomorphic curve and the main loop adds them with the
//!   mixed formula. The constant G tables are added on that curve by scaling the accumulator's
//!   Z by the curve's scale factor first (19 operations), and the result's Z is scaled back at
//!   the end.
//! - Inversions (mod p, mod n) and the square root by Fermat exponentiation with fixed
//!   addition chains built from runs of ones (255 squarings and 15 multiplications for
//!   p − 2, 253 and 13 for (p + 1)/4), plus a 4-bit sliding window over the irregular low half
//!   of n − 2.
//!
//! One recovery costs about 4,000 field operations (the tests print the exact split).

use alloy_primitives::{Address, B256, Signature, U256};
#[cfg(not(target_arch = "riscv32"))]
use core::sync::atomic::{AtomicU64, Ordering};

/// The ecall number (register a7) of the `field256` precompile.
pub const FIELD256_ECALL: u32 = 0x100;

/// The operations of the `field256` ecall (register a0): z ← (x op y) mod m, canonical, for
/// any 256-bit x and y.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FieldOp {
    /// Product modulo p.
    MulP = 0,
    /// Sum modulo p.
    AddP = 1,
    /// Difference modulo p.
    SubP = 2,
    /// Product modulo n.
    MulN = 3,
    /// Sum modulo n.
    AddN = 4,
    /// Difference modulo n.
    SubN = 5,
}

/// p = 2²⁵⁶ − 2³² − 977, the base-field prime, as little-endian 32-bit words.
pub const P: [u32; 8] =
    words_from_hex("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f");
/// n, the order of the group (and of G), as little-endian 32-bit words.
pub const N: [u32; 8] =
    words_from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
/// ⌊n / 2⌋: the largest s EIP-2 accepts.
const HALF_N: [u32; 8] =
    words_from_hex("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");
/// n − 2, the exponent of the inversion modulo n.
const N_MINUS_2: [u32; 8] =
    words_from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd036413f");
/// 3/2 mod p (the doubling formula's one constant).
pub(crate) const THREE_HALVES: FieldElement = FieldElement(words_from_hex(
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffff7ffffe19",
));
/// The curve constant b = 7.
const CURVE_B: FieldElement = FieldElement([7, 0, 0, 0, 0, 0, 0, 0]);
/// β, a cube root of unity mod p: λ·(x, y) = (β·x, y) on secp256k1.
pub(crate) const BETA: FieldElement = FieldElement(words_from_hex(
    "7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee",
));
/// λ, the cube root of unity mod n that matches [`BETA`].
pub(crate) const LAMBDA: Scalar = Scalar(words_from_hex(
    "5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72",
));
/// −b₁ of the GLV lattice basis (a₁, b₁), (a₂, b₂) with aᵢ + bᵢ·λ ≡ 0 mod n (b₁ < 0).
pub(crate) const MINUS_B1: Scalar = Scalar(words_from_hex(
    "00000000000000000000000000000000e4437ed6010e88286f547fa90abfe4c3",
));
/// b₂ of the GLV lattice basis.
pub(crate) const B2: Scalar = Scalar(words_from_hex(
    "000000000000000000000000000000003086d221a7d46bcde86c90e49284eb15",
));
/// round(2³⁸⁴ · b₂ / n): c₁ = round(k·b₂/n) is (k·G1 + 2³⁸³) >> 384, up to one unit.
pub(crate) const G1: [u32; 8] =
    words_from_hex("3086d221a7d46bcde86c90e49284eb153daa8a1471e8ca7fe893209a45dbb031");
/// round(2³⁸⁴ · (−b₁) / n), for c₂ = round(−k·b₁/n) as [`G1`] is for c₁.
pub(crate) const G2: [u32; 8] =
    words_from_hex("e4437ed6010e88286f547fa90abfe4c4221208ac9df506c61571b4ae8ac47f71");

/// NAF width for the constant tables of G and 2¹²⁸·G (32 odd multiples each).
pub(crate) const G_WINDOW: u32 = 7;
/// NAF width for R and λ·R (8 odd multiples each, built per recovery).
pub(crate) const R_WINDOW: u32 = 5;
/// Number of odd multiples in R's table.
pub(crate) const R_TABLE_LEN: usize = 1 << (R_WINDOW - 2);
/// Digits of a width-w NAF of a value below 2²⁵⁶ (one more than its bits).
const NAF_LEN: usize = 257;

/// Parses 64 big-endian hex digits into little-endian words (constants only).
const fn words_from_hex(hex: &str) -> [u32; 8] {
    let bytes = hex.as_bytes();
    assert!(bytes.len() == 64, "a 256-bit constant has 64 hex digits");
    let mut words = [0u32; 8];
    let mut i = 0;
    while i < 64 {
        let digit = match bytes[i] {
            b'0'..=b'9' => bytes[i] - b'0',
            b'a'..=b'f' => bytes[i] - b'a' + 10,
            _ => panic!("lower-case hex digits only"),
        };
        let word = 7 - i / 8;
        words[word] = (words[word] << 4) | digit as u32;
        i += 1;
    }
    words
}

// --- the ecall and its software stand-in ------------------------------------------------------

/// One `field256` operation through the precompile.
#[cfg(target_arch = "riscv32")]
#[inline(always)]
fn field_op(op: FieldOp, x: &[u32; 8], y: &[u32; 8]) -> [u32; 8] {
    let mut z = core::mem::MaybeUninit::<[u32; 8]>::uninit();
    // SAFETY: the field256 ecall reads the 32 bytes at a2 and at a3 (x and y: live, 4-byte
    // aligned [u32; 8]s), then writes the 32 bytes at a1 (z: a writable, 4-byte aligned
    // [u32; 8]) and changes no register; when it returns all eight words of z are written.
    unsafe {
        core::arch::asm!(
            "ecall",
            in("a7") FIELD256_ECALL,
            in("a0") op as u32,
            in("a1") z.as_mut_ptr(),
            in("a2") x.as_ptr(),
            in("a3") y.as_ptr(),
            options(nostack),
        );
        z.assume_init()
    }
}

/// One `field256` operation in software, with the ecall's semantics, counted in
/// [`field_op_counts`].
#[cfg(not(target_arch = "riscv32"))]
#[inline]
fn field_op(op: FieldOp, x: &[u32; 8], y: &[u32; 8]) -> [u32; 8] {
    FIELD_OPS[op as usize].fetch_add(1, Ordering::Relaxed);
    field_op_software(op, x, y)
}

/// Operations performed by the software stand-in, by [`FieldOp`] code; process-wide.
#[cfg(not(target_arch = "riscv32"))]
static FIELD_OPS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// How many `field256` operations of each kind the software stand-in has performed in this
/// process (all threads): what the guest would have spent in ecalls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldOpCounts {
    /// Products, modulo p or n.
    pub mul: u64,
    /// Sums, modulo p or n.
    pub add: u64,
    /// Differences, modulo p or n.
    pub sub: u64,
}

impl FieldOpCounts {
    /// All operations.
    pub fn total(&self) -> u64 {
        self.mul + self.add + self.sub
    }

    /// The operations counted since `earlier` (a snapshot taken before).
    pub fn since(&self, earlier: &FieldOpCounts) -> FieldOpCounts {
        FieldOpCounts {
            mul: self.mul.saturating_sub(earlier.mul),
            add: self.add.saturating_sub(earlier.add),
            sub: self.sub.saturating_sub(earlier.sub),
        }
    }
}

/// The software stand-in's operation counts so far (native builds only; the counters are
/// process-wide, so concurrent computations on other threads are included).
#[cfg(not(target_arch = "riscv32"))]
pub fn field_op_counts() -> FieldOpCounts {
    let count = |op: FieldOp| FIELD_OPS[op as usize].load(Ordering::Relaxed);
    FieldOpCounts {
        mul: count(FieldOp::MulP) + count(FieldOp::MulN),
        add: count(FieldOp::AddP) + count(FieldOp::AddN),
        sub: count(FieldOp::SubP) + count(FieldOp::SubN),
    }
}

/// The `field256` ecall's semantics in plain integer arithmetic: (x op y) mod m, canonical,
/// for any 256-bit x and y.
#[cfg(not(target_arch = "riscv32"))]
pub fn field_op_software(op: FieldOp, x: &[u32; 8], y: &[u32; 8]) -> [u32; 8] {
    let (modulus, complement) = match op {
        FieldOp::MulP | FieldOp::AddP | FieldOp::SubP => (&P, &P_COMPLEMENT),
        FieldOp::MulN | FieldOp::AddN | FieldOp::SubN => (&N, &N_COMPLEMENT),
    };
    match op {
        FieldOp::MulP | FieldOp::MulN => reduce_wide(mul_wide(x, y), modulus, complement),
        FieldOp::AddP | FieldOp::AddN => {
            let (sum, carry) = add_words(x, y);
            let mut wide = [0u32; 16];
            wide[..8].copy_from_slice(&sum);
            wide[8] = u32::from(carry);
            reduce_wide(wide, modulus, complement)
        }
        FieldOp::SubP | FieldOp::SubN => {
            let x = reduce_once(x, modulus);
            let y = reduce_once(y, modulus);
            let (difference, borrow) = sub_words(&x, &y);
            if borrow {
                // x − y + 2²⁵⁶ + m − 2²⁵⁶: the wrapped sum is the canonical difference.
                add_words(&difference, modulus).0
            } else {
                difference
            }
        }
    }
}

/// 2²⁵⁶ − p.
#[cfg(not(target_arch = "riscv32"))]
const P_COMPLEMENT: [u32; 8] = [0x3d1, 1, 0, 0, 0, 0, 0, 0];
/// 2²⁵⁶ − n (129 bits).
#[cfg(not(target_arch = "riscv32"))]
const N_COMPLEMENT: [u32; 8] = [
    0x2fc9_bebf,
    0x402d_a173,
    0x50b7_5fc4,
    0x4551_2319,
    1,
    0,
    0,
    0,
];

/// `value` mod `modulus` for a 512-bit value, using 2²⁵⁶ ≡ `complement` (mod `modulus`), where
/// `complement` = 2²⁵⁶ − `modulus` < 2¹³⁰ and `modulus` > 2²⁵⁵.
#[cfg(not(target_arch = "riscv32"))]
fn reduce_wide(mut value: [u32; 16], modulus: &[u32; 8], complement: &[u32; 8]) -> [u32; 8] {
    // Fold the high half onto the low half until it is gone: value < 2⁵¹², then < 2³⁸⁷,
    // < 2²⁶², < 2²⁵⁶ + 2¹³⁶, then (at most once more) below 2²⁵⁶.
    loop {
        let mut low = [0u32; 8];
        let mut high = [0u32; 8];
        low.copy_from_slice(&value[..8]);
        high.copy_from_slice(&value[8..]);
        if high == [0; 8] {
            // low < 2²⁵⁶ < 2·modulus.
            return reduce_once(&low, modulus);
        }
        let folded = mul_wide(&high, complement);
        let mut carry = 0u64;
        for (i, (word, &fold)) in value.iter_mut().zip(&folded).enumerate() {
            let sum = u64::from(fold) + u64::from(low.get(i).copied().unwrap_or(0)) + carry;
            *word = sum as u32;
            carry = sum >> 32;
        }
    }
}

/// `value` mod `modulus` for `value` < 2·`modulus`.
#[cfg(not(target_arch = "riscv32"))]
fn reduce_once(value: &[u32; 8], modulus: &[u32; 8]) -> [u32; 8] {
    if less_than(value, modulus) {
        *value
    } else {
        sub_words(value, modulus).0
    }
}

/// x + y and the carry out of bit 255.
#[cfg(not(target_arch = "riscv32"))]
fn add_words(x: &[u32; 8], y: &[u32; 8]) -> ([u32; 8], bool) {
    let mut sum = [0u32; 8];
    let mut carry = 0u64;
    for ((out, &a), &b) in sum.iter_mut().zip(x).zip(y) {
        let word = u64::from(a) + u64::from(b) + carry;
        *out = word as u32;
        carry = word >> 32;
    }
    (sum, carry != 0)
}

/// x − y mod 2²⁵⁶ and whether it borrowed (x < y).
#[cfg(not(target_arch = "riscv32"))]
fn sub_words(x: &[u32; 8], y: &[u32; 8]) -> ([u32; 8], bool) {
    let mut difference = [0u32; 8];
    let mut borrow = false;
    for ((out, &a), &b) in difference.iter_mut().zip(x).zip(y) {
        let (word, borrow_a) = a.overflowing_sub(b);
        let (word, borrow_b) = word.overflowing_sub(u32::from(borrow));
        *out = word;
        borrow = borrow_a || borrow_b;
    }
    (difference, borrow)
}

// --- plain integer helpers (every target) -----------------------------------------------------

/// The 512-bit product x·y (schoolbook), little-endian words.
fn mul_wide(x: &[u32; 8], y: &[u32; 8]) -> [u32; 16] {
    let mut product = [0u32; 16];
    for (i, &a) in x.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &b) in y.iter().enumerate() {
            let word = u64::from(a) * u64::from(b) + u64::from(product[i + j]) + carry;
            product[i + j] = word as u32;
            carry = word >> 32;
        }
        product[i + 8] = carry as u32;
    }
    product
}

/// Whether x < y as 256-bit integers.
fn less_than(x: &[u32; 8], y: &[u32; 8]) -> bool {
    for (a, b) in x.iter().rev().zip(y.iter().rev()) {
        if a != b {
            return a < b;
        }
    }
    false
}

/// Bit `index` of `value` (zero at and above 256).
fn bit(value: &[u32; 8], index: usize) -> u32 {
    value
        .get(index / 32)
        .map_or(0, |word| (word >> (index % 32)) & 1)
}

/// `width` (≤ 31) bits of `value` starting at bit `index` (zero at and above 256).
fn bits(value: &[u32; 8], index: usize, width: u32) -> u32 {
    let word = |i: usize| value.get(i).copied().unwrap_or(0);
    let shift = (index % 32) as u32;
    let low = word(index / 32) >> shift;
    let high = if shift == 0 {
        0
    } else {
        word(index / 32 + 1) << (32 - shift)
    };
    (low | high) & ((1 << width) - 1)
}

/// Number of significant bits of `value`.
fn bit_length(value: &[u32; 8]) -> usize {
    value
        .iter()
        .rposition(|&word| word != 0)
        .map_or(0, |i| 32 * i + 32 - value[i].leading_zeros() as usize)
}

/// Little-endian words of a big-endian 32-byte integer.
pub(crate) fn words_from_be_bytes(bytes: &[u8; 32]) -> [u32; 8] {
    let mut words = [0u32; 8];
    for (word, chunk) in words.iter_mut().zip(bytes.rchunks_exact(4)) {
        *word = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    words
}

/// The big-endian 32-byte form of little-endian words.
fn words_to_be_bytes(words: &[u32; 8]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.rchunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    bytes
}

/// Little-endian words of a [`U256`].
fn words_from_u256(value: &U256) -> [u32; 8] {
    let mut words = [0u32; 8];
    for (pair, limb) in words.chunks_exact_mut(2).zip(value.as_limbs()) {
        pair[0] = *limb as u32;
        pair[1] = (*limb >> 32) as u32;
    }
    words
}

// --- field elements and scalars -------------------------------------------------------------

/// An integer modulo p (the secp256k1 base field) as eight little-endian 32-bit words, laid
/// out as the `field256` ecall reads and writes it.
///
/// Every arithmetic result is canonical (below p); values built from words or bytes need not
/// be, and the arithmetic accepts them, but [`is_zero`](Self::is_zero),
/// [`is_odd`](Self::is_odd), equality and [`to_be_bytes`](Self::to_be_bytes) see the words as
/// they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(4))]
pub struct FieldElement(pub [u32; 8]);

/// An integer modulo n (the secp256k1 group order) in the same layout as [`FieldElement`],
/// with the same canonical-result rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(4))]
pub struct Scalar(pub [u32; 8]);

/// The arithmetic [`FieldElement`] and [`Scalar`] share, each over its own modulus's three
/// operations.
macro_rules! residue_arithmetic {
    ($t:ident, $mul:ident, $add:ident, $sub:ident, $m:literal) => {
        impl $t {
            /// 0.
            pub const ZERO: Self = Self([0; 8]);
            /// 1.
            pub const ONE: Self = Self([1, 0, 0, 0, 0, 0, 0, 0]);

            /// The integer with these big-endian bytes (not reduced).
            pub fn from_be_bytes(bytes: &[u8; 32]) -> Self {
                Self(words_from_be_bytes(bytes))
            }

            /// The big-endian bytes of the words as they are.
            pub fn to_be_bytes(&self) -> [u8; 32] {
                words_to_be_bytes(&self.0)
            }

            #[doc = concat!("self · other mod ", $m, " (one ecall).")]
            #[inline]
            pub fn mul(&self, other: &Self) -> Self {
                Self(field_op(FieldOp::$mul, &self.0, &other.0))
            }

            #[doc = concat!("self² mod ", $m, " (one ecall).")]
            #[inline]
            pub fn square(&self) -> Self {
                self.mul(self)
            }

            #[doc = concat!("self + other mod ", $m, " (one ecall).")]
            #[inline]
            pub fn add(&self, other: &Self) -> Self {
                Self(field_op(FieldOp::$add, &self.0, &other.0))
            }

            #[doc = concat!("self − other mod ", $m, " (one ecall).")]
            #[inline]
            pub fn sub(&self, other: &Self) -> Self {
                Self(field_op(FieldOp::$sub, &self.0, &other.0))
            }

            #[doc = concat!("−self mod ", $m, " (one ecall).")]
            #[inline]
            pub fn neg(&self) -> Self {
                Self::ZERO.sub(self)
            }

            /// Whether the words are all zero (the canonical zero).
            pub fn is_zero(&self) -> bool {
                self.0 == [0; 8]
            }

            /// self^(2^k): k squarings.
            fn square_times(&self, k: u32) -> Self {
                let mut power = *self;
                for _ in 0..k {
                    power = power.square();
                }
                power
            }
        }
    };
}

residue_arithmetic!(FieldElement, MulP, AddP, SubP, "p");
residue_arithmetic!(Scalar, MulN, AddN, SubN, "n");

impl FieldElement {
    /// Whether the integer is odd (the parity of a canonical y coordinate).
    pub fn is_odd(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// x223 = self^(2²²³ − 1) together with x2 = self^(2² − 1) and x22 = self^(2²² − 1), the
    /// common prefix of the chains for p − 2 and (p + 1)/4 (222 squarings, 11 products).
    fn pow_prefix(&self) -> (Self, Self, Self) {
        // xk = self^(2^k − 1): a run of k one bits.
        let x2 = self.square().mul(self);
        let x3 = x2.square().mul(self);
        let x6 = x3.square_times(3).mul(&x3);
        let x9 = x6.square_times(3).mul(&x3);
        let x11 = x9.square_times(2).mul(&x2);
        let x22 = x11.square_times(11).mul(&x11);
        let x44 = x22.square_times(22).mul(&x22);
        let x88 = x44.square_times(44).mul(&x44);
        let x176 = x88.square_times(88).mul(&x88);
        let x220 = x176.square_times(44).mul(&x44);
        let x223 = x220.square_times(3).mul(&x3);
        (x223, x2, x22)
    }

    /// self⁻¹ mod p as self^(p − 2) (270 ecalls); zero for zero.
    pub fn invert(&self) -> Self {
        // p − 2 = [223 ones] 0 [22 ones] 0000 1 0 11 0 1.
        let (x223, x2, x22) = self.pow_prefix();
        x223.square_times(23)
            .mul(&x22)
            .square_times(5)
            .mul(self)
            .square_times(3)
            .mul(&x2)
            .square_times(2)
            .mul(self)
    }

    /// A square root of a canonical `self` mod p, or `None` if it has none: the candidate
    /// self^((p + 1)/4) (266 ecalls) is a root exactly when its square is `self` (one more).
    pub fn sqrt(&self) -> Option<Self> {
        // (p + 1)/4 = [223 ones] 0 [22 ones] 0000 11 00.
        let (x223, x2, x22) = self.pow_prefix();
        let root = x223
            .square_times(23)
            .mul(&x22)
            .square_times(6)
            .mul(&x2)
            .square_times(2);
        (root.square() == *self).then_some(root)
    }
}

impl Scalar {
    /// Whether the integer (as it is) lies in [1, n): a valid nonzero scalar.
    pub fn is_nonzero_canonical(&self) -> bool {
        !self.is_zero() && less_than(&self.0, &N)
    }

    /// Whether the integer (as it is) exceeds ⌊n/2⌋ (a "high" s in EIP-2's sense).
    pub fn is_high(&self) -> bool {
        less_than(&HALF_N, &self.0)
    }

    /// self⁻¹ mod n as self^(n − 2) (about 300 ecalls); zero for zero.
    pub fn invert(&self) -> Self {
        // Odd powers self¹, self³, …, self¹⁵ for a 4-bit sliding window.
        let square = self.square();
        let mut odd = [*self; 8];
        for i in 1..odd.len() {
            odd[i] = odd[i - 1].mul(&square);
        }
        // The top 128 bits of n − 2 are 127 ones and a zero: build x127 = self^(2¹²⁷ − 1)
        // from runs of ones (xk = self^(2^k − 1); x2, x3 and x4 are self³, self⁷, self¹⁵).
        let (x1, x2, x4) = (odd[0], odd[1], odd[7]);
        let x8 = x4.square_times(4).mul(&x4);
        let x16 = x8.square_times(8).mul(&x8);
        let x32 = x16.square_times(16).mul(&x16);
        let x64 = x32.square_times(32).mul(&x32);
        let x96 = x64.square_times(32).mul(&x32);
        let x112 = x96.square_times(16).mul(&x16);
        let x120 = x112.square_times(8).mul(&x8);
        let x124 = x120.square_times(4).mul(&x4);
        let x126 = x124.square_times(2).mul(&x2);
        let mut power = x126.square().mul(&x1);
        // Bits 128 (zero) down to 0, left to right, in windows of at most 4 bits that start
        // and end with a one.
        let mut top = 128usize;
        loop {
            if bit(&N_MINUS_2, top) == 0 {
                power = power.square();
            } else {
                let mut low = top.saturating_sub(3);
                while bit(&N_MINUS_2, low) == 0 {
                    low += 1;
                }
                let width = (top - low + 1) as u32;
                power = power.square_times(width);
                power = power.mul(&odd[(bits(&N_MINUS_2, low, width) >> 1) as usize]);
                top = low;
            }
            if top == 0 {
                break;
            }
            top -= 1;
        }
        power
    }
}

// --- points -----------------------------------------------------------------------------------

/// An affine point (x, y) of secp256k1 (never the point at infinity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AffinePoint {
    /// x, canonical.
    pub x: FieldElement,
    /// y, canonical.
    pub y: FieldElement,
}

/// A point of secp256k1 in Jacobian coordinates: (X, Y, Z) is the affine point
/// (X/Z², Y/Z³); Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JacobianPoint {
    /// X.
    pub x: FieldElement,
    /// Y.
    pub y: FieldElement,
    /// Z (zero for the point at infinity).
    pub z: FieldElement,
}

impl AffinePoint {
    /// The generator G.
    pub const GENERATOR: Self = Self::from_hex(
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
    );

    /// A point from big-endian hex coordinates (constants only).
    const fn from_hex(x: &str, y: &str) -> Self {
        Self {
            x: FieldElement(words_from_hex(x)),
            y: FieldElement(words_from_hex(y)),
        }
    }

    /// The point with this x (canonical) whose y has the given parity, or `None` if
    /// x³ + 7 is not a square (about 270 ecalls).
    pub fn decompress(x: &FieldElement, y_is_odd: bool) -> Option<Self> {
        let y_squared = x.square().mul(x).add(&CURVE_B);
        let y = y_squared.sqrt()?;
        let y = if y.is_odd() == y_is_odd { y } else { y.neg() };
        Some(Self { x: *x, y })
    }

    /// −self (one ecall).
    pub fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: self.y.neg(),
        }
    }

    /// Whether y² = x³ + 7 (four ecalls).
    pub fn is_on_curve(&self) -> bool {
        self.y.square() == self.x.square().mul(&self.x).add(&CURVE_B)
    }

    /// The 64-byte uncompressed encoding without its 0x04 prefix: x ‖ y, big-endian.
    pub fn to_raw_public_key(&self) -> [u8; 64] {
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&self.x.to_be_bytes());
        raw[32..].copy_from_slice(&self.y.to_be_bytes());
        raw
    }
}

impl From<AffinePoint> for JacobianPoint {
    fn from(point: AffinePoint) -> Self {
        Self {
            x: point.x,
            y: point.y,
            z: FieldElement::ONE,
        }
    }
}

impl JacobianPoint {
    /// The point at infinity.
    pub const INFINITY: Self = Self {
        x: FieldElement::ONE,
        y: FieldElement::ONE,
        z: FieldElement::ZERO,
    };

    /// Whether this is the point at infinity.
    pub fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }

    /// −self (one ecall).
    pub fn neg(&self) -> Self {
        Self {
            y: self.y.neg(),
            ..*self
        }
    }

    /// The affine form, or `None` for the point at infinity (274 ecalls).
    pub fn to_affine(&self) -> Option<AffinePoint> {
        if self.is_infinity() {
            return None;
        }
        let z_inv = self.z.invert();
        let z_inv2 = z_inv.square();
        let z_inv3 = z_inv2.mul(&z_inv);
        Some(AffinePoint {
            x: self.x.mul(&z_inv2),
            y: self.y.mul(&z_inv3),
        })
    }

    /// 2·self (12 ecalls; 11 when Z = 1).
    ///
    /// With H = 3X²/2 and T = X·Y², the double is (H² − 2T, H·(T − X') − Y⁴, Y·Z): the
    /// textbook (M² − 2S, M·(S − X') − 8Y⁴, 2·Y·Z) with M = 3X², S = 4·X·Y², scaled by 1/2.
    /// The formula never uses the curve constant, so it holds on every curve y² = x³ + b.
    pub fn double(&self) -> Self {
        if self.is_infinity() {
            return *self;
        }
        let h = self.x.square().mul(&THREE_HALVES);
        let y2 = self.y.square();
        let y4 = y2.square();
        let t = self.x.mul(&y2);
        let x3 = h.square().sub(&t.add(&t));
        let y3 = h.mul(&t.sub(&x3)).sub(&y4);
        // A point with y = 0 would have order 2 (secp256k1 has none): Z' = 0, infinity.
        let z3 = if self.z == FieldElement::ONE {
            self.y
        } else {
            self.y.mul(&self.z)
        };
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self + `point` (18 ecalls), any case included: P + P doubles, P + (−P) is infinity.
    pub fn add_affine(&self, point: &AffinePoint) -> Self {
        self.add_affine_signed(point, false, None).0
    }

    /// self + `other` for two Jacobian points (23 ecalls), any case included.
    pub fn add(&self, other: &Self) -> Self {
        if self.is_infinity() {
            return *other;
        }
        if other.is_infinity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = other.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = other.x.mul(&z1z1);
        let s1 = self.y.mul(&other.z).mul(&z2z2);
        let s2 = other.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Self::INFINITY
            };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = u1.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v).sub(&v);
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&hhh));
        let z3 = self.z.mul(&other.z).mul(&h);
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// self ± `point`, where `point` is affine in this point's coordinates, or, with
    /// `scale` = Some(s), is the Jacobian point (x, y, 1/s) (the accumulator's Z is multiplied
    /// by s instead: one more ecall). Returns the sum and, for the generic case, the factor H
    /// with Z_sum = Z_self · H.
    ///
    /// 18 ecalls in general (19 with `scale`; fewer when Z = 1), with the sign folded in:
    /// for −point, R' = S₂ + Y₁ = −R and Y₃ = R'·(X₃ − V) − Y₁·H³ = R·(V − X₃) − Y₁·H³.
    fn add_affine_signed(
        &self,
        point: &AffinePoint,
        negate: bool,
        scale: Option<&FieldElement>,
    ) -> (Self, Option<FieldElement>) {
        if self.is_infinity() {
            let (x, y) = match scale {
                None => (point.x, point.y),
                Some(s) => {
                    let s2 = s.square();
                    (point.x.mul(&s2), point.y.mul(&s2.mul(s)))
                }
            };
            let y = if negate { y.neg() } else { y };
            return (
                Self {
                    x,
                    y,
                    z: FieldElement::ONE,
                },
                None,
            );
        }
        // u2 = x₂·Z₁², s2 = ±y₂·Z₁³ (with Z₁ scaled into the point's frame).
        let (u2, s2) = match scale {
            None if self.z == FieldElement::ONE => (point.x, point.y),
            None => {
                let z1z1 = self.z.square();
                (point.x.mul(&z1z1), point.y.mul(&self.z.mul(&z1z1)))
            }
            Some(s) => {
                let z = self.z.mul(s);
                let z1z1 = z.square();
                (point.x.mul(&z1z1), point.y.mul(&z.mul(&z1z1)))
            }
        };
        let h = u2.sub(&self.x);
        let r = if negate {
            s2.add(&self.y)
        } else {
            s2.sub(&self.y)
        };
        if h.is_zero() {
            let sum = if r.is_zero() {
                self.double()
            } else {
                Self::INFINITY
            };
            return (sum, None);
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = self.x.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v).sub(&v);
        let slope_term = if negate { x3.sub(&v) } else { v.sub(&x3) };
        let y3 = r.mul(&slope_term).sub(&self.y.mul(&hhh));
        let z3 = if self.z == FieldElement::ONE {
            h
        } else {
            self.z.mul(&h)
        };
        (
            Self {
                x: x3,
                y: y3,
                z: z3,
            },
            Some(h),
        )
    }
}

// --- u₁·G + u₂·R --------------------------------------------------------------------------------

/// R's odd multiples R, 3R, …, 15R and their images under λ, all affine on one curve
/// isomorphic to secp256k1: a Jacobian point (X, Y, Z) of that curve is the secp256k1 point
/// (X, Y, Z·`scale`).
struct OddMultiples {
    /// (2i + 1)·R.
    points: [AffinePoint; R_TABLE_LEN],
    /// λ·(2i + 1)·R = (β·x, y).
    lambda_points: [AffinePoint; R_TABLE_LEN],
    /// The isomorphism's scale factor.
    scale: FieldElement,
}

impl OddMultiples {
    /// The table for a point on the curve (about 180 ecalls), or `None` if a step
    /// degenerates, which no point of secp256k1 can make happen (its order n is prime, so
    /// (2i ± 1)·R ≠ ±2R).
    fn new(point: &AffinePoint) -> Option<Self> {
        // D = 2R = (X_D, Y_D, ζ); on the curve scaled by ζ, D is the affine (X_D, Y_D) and R
        // is (x·ζ², y·ζ³).
        let double = JacobianPoint::from(*point).double();
        let zeta = double.z;
        let zeta2 = zeta.square();
        let step = AffinePoint {
            x: double.x,
            y: double.y,
        };
        let mut multiples = [JacobianPoint::INFINITY; R_TABLE_LEN];
        let mut ratios = [FieldElement::ONE; R_TABLE_LEN];
        multiples[0] = JacobianPoint {
            x: point.x.mul(&zeta2),
            y: point.y.mul(&zeta2.mul(&zeta)),
            z: FieldElement::ONE,
        };
        // Z_i = Z_{i−1}·H_i.
        for i in 1..R_TABLE_LEN {
            let (sum, ratio) = multiples[i - 1].add_affine_signed(&step, false, None);
            multiples[i] = sum;
            ratios[i] = ratio?;
        }
        // Bring every entry to the last one's Z: entry i times ρ_i = H_{i+1}·…·H_last
        // ((X, Y, Z) ~ (X·ρ², Y·ρ³, Z·ρ)), which makes them all affine on the curve scaled by
        // that Z as well.
        let last = R_TABLE_LEN - 1;
        let mut points = [AffinePoint {
            x: multiples[last].x,
            y: multiples[last].y,
        }; R_TABLE_LEN];
        let mut rho = ratios[last];
        for i in (0..last).rev() {
            if i + 1 < last {
                rho = rho.mul(&ratios[i + 1]);
            }
            let rho2 = rho.square();
            points[i] = AffinePoint {
                x: multiples[i].x.mul(&rho2),
                y: multiples[i].y.mul(&rho2.mul(&rho)),
            };
        }
        let lambda_points = points.map(|p| AffinePoint {
            x: p.x.mul(&BETA),
            y: p.y,
        });
        Some(Self {
            points,
            lambda_points,
            scale: multiples[last].z.mul(&zeta),
        })
    }
}

/// A scalar's width-`window` NAF, least significant digit first (odd digits in
/// (−2^(window−1), 2^(window−1)), any two nonzero digits at least `window` apart), and its
/// length; digits past the length are zero.
fn naf(value: &[u32; 8], window: u32) -> ([i8; NAF_LEN], usize) {
    let mut digits = [0i8; NAF_LEN];
    let length = bit_length(value);
    // What is left to write is (value >> position) + carry.
    let mut carry = 0u32;
    let mut position = 0usize;
    while position < length {
        if bit(value, position) == carry {
            // Even: a zero digit (the carry, if any, moves up with it).
            position += 1;
            continue;
        }
        let mut digit = (bits(value, position, window) + carry) as i32;
        carry = (digit as u32 >> (window - 1)) & 1;
        digit -= (carry << window) as i32;
        digits[position] = digit as i8;
        position += window as usize;
    }
    // A window reaching past the top bit has a zero top bit, so it leaves no carry: the
    // loop ends at exactly `length` whenever a carry is left.
    if carry != 0 {
        digits[length] = 1;
        return (digits, length + 1);
    }
    let used = digits.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
    (digits, used)
}

/// The table index of a nonzero NAF digit d: (|d| − 1)/2.
fn table_index(digit: i8) -> usize {
    (digit.unsigned_abs() >> 1) as usize
}

/// (k · constant + 2³⁸³) >> 384: round(k·constant / 2³⁸⁴), at most 129 bits.
pub(crate) fn mul_shift_384(k: &[u32; 8], constant: &[u32; 8]) -> [u32; 8] {
    let product = mul_wide(k, constant);
    let mut quotient = [0u32; 8];
    quotient[..4].copy_from_slice(&product[12..]);
    // Round half up: add bit 383.
    let mut carry = u64::from(product[11] >> 31);
    for word in quotient.iter_mut() {
        let sum = u64::from(*word) + carry;
        *word = sum as u32;
        carry = sum >> 32;
    }
    quotient
}

/// k = k₁ + k₂·λ mod n with |k₁|, |k₂| < 2¹²⁸ (GLV), as (|k₁|, k₁ < 0, |k₂|, k₂ < 0), for a
/// canonical k (7 to 9 ecalls).
///
/// With the lattice basis (a₁, b₁), (a₂, b₂) of {(a, b) : a + b·λ ≡ 0 mod n},
/// c₁ = round(b₂·k/n) and c₂ = round(−b₁·k/n), k₂ = −c₁·b₁ − c₂·b₂ and k₁ = k − k₂·λ. The
/// identity holds whatever c₁ and c₂ are; their rounding only keeps the halves short.
fn split_lambda(k: &Scalar) -> (Scalar, bool, Scalar, bool) {
    let c1 = Scalar(mul_shift_384(&k.0, &G1));
    let c2 = Scalar(mul_shift_384(&k.0, &G2));
    let k2 = c1.mul(&MINUS_B1).sub(&c2.mul(&B2));
    let k1 = k.sub(&k2.mul(&LAMBDA));
    let magnitude = |s: Scalar| {
        if s.is_high() {
            (s.neg(), true)
        } else {
            (s, false)
        }
    };
    let (k1, k1_negative) = magnitude(k1);
    let (k2, k2_negative) = magnitude(k2);
    (k1, k1_negative, k2, k2_negative)
}

/// u₁·G + u₂·R for canonical scalars and a point R on the curve, or `None` if building R's
/// table of odd multiples degenerates (never, for a point on the curve).
///
/// Interleaves four NAFs over at most 129 bit positions: u₁'s low and high 128 bits with the
/// constant tables of G and 2¹²⁸·G, and u₂'s GLV halves with R's and λ·R's runtime table.
pub fn mul_add_generator(u1: &Scalar, u2: &Scalar, point: &AffinePoint) -> Option<JacobianPoint> {
    let table = OddMultiples::new(point)?;
    let (k1, k1_negative, k2, k2_negative) = split_lambda(u2);
    let mut u1_low = [0u32; 8];
    let mut u1_high = [0u32; 8];
    u1_low[..4].copy_from_slice(&u1.0[..4]);
    u1_high[..4].copy_from_slice(&u1.0[4..]);
    let (g_low, g_low_len) = naf(&u1_low, G_WINDOW);
    let (g_high, g_high_len) = naf(&u1_high, G_WINDOW);
    let (r_low, r_low_len) = naf(&k1.0, R_WINDOW);
    let (r_lambda, r_lambda_len) = naf(&k2.0, R_WINDOW);
    let length = g_low_len.max(g_high_len).max(r_low_len).max(r_lambda_len);

    // The accumulator lives on the table's isomorphic curve.
    let mut sum = JacobianPoint::INFINITY;
    for i in (0..length).rev() {
        sum = sum.double();
        let digit = r_low[i];
        if digit != 0 {
            let entry = &table.points[table_index(digit)];
            sum = sum
                .add_affine_signed(entry, (digit < 0) != k1_negative, None)
                .0;
        }
        let digit = r_lambda[i];
        if digit != 0 {
            let entry = &table.lambda_points[table_index(digit)];
            sum = sum
                .add_affine_signed(entry, (digit < 0) != k2_negative, None)
                .0;
        }
        let digit = g_low[i];
        if digit != 0 {
            let entry = &G_MULTIPLES[table_index(digit)];
            sum = sum
                .add_affine_signed(entry, digit < 0, Some(&table.scale))
                .0;
        }
        let digit = g_high[i];
        if digit != 0 {
            let entry = &G128_MULTIPLES[table_index(digit)];
            sum = sum
                .add_affine_signed(entry, digit < 0, Some(&table.scale))
                .0;
        }
    }
    if sum.is_infinity() {
        return Some(JacobianPoint::INFINITY);
    }
    Some(JacobianPoint {
        z: sum.z.mul(&table.scale),
        ..sum
    })
}

// --- recovery -----------------------------------------------------------------------------------

/// The public key that signed `prehash` with `signature`, or `None` where
/// [`recover_address_portable`](crate::recover::recover_address_portable) refuses: r or s
/// outside [1, n), s > n/2 (EIP-2), no curve point with x = r, or Q at infinity.
///
/// Q = r⁻¹·(s·R − z·G) = u₁·G + u₂·R with u₁ = −z·r⁻¹, u₂ = s·r⁻¹ and z the prehash mod n.
pub fn recover_public_key(signature: &Signature, prehash: &B256) -> Option<AffinePoint> {
    let r = Scalar(words_from_u256(&signature.r()));
    let s = Scalar(words_from_u256(&signature.s()));
    if s.is_high() || !r.is_nonzero_canonical() || !s.is_nonzero_canonical() {
        return None;
    }
    // R: x = r (r < n < p, canonical) and the signature's y parity.
    let big_r = AffinePoint::decompress(&FieldElement(r.0), signature.v())?;
    // z need not be reduced: the ecall reduces its inputs.
    let z = Scalar::from_be_bytes(&prehash.0);
    let r_inv = r.invert();
    let u1 = z.mul(&r_inv).neg();
    let u2 = s.mul(&r_inv);
    mul_add_generator(&u1, &u2, &big_r)?.to_affine()
}

/// The address that signed `prehash` with `signature` (the last 20 bytes of keccak256(x ‖ y)
/// of the recovered key), or `None` for what
/// [`recover_address_portable`](crate::recover::recover_address_portable) refuses; about
/// 4,000 `field256` ecalls.
pub fn recover_address_zkvm(signature: &Signature, prehash: &B256) -> Option<Address> {
    let key = recover_public_key(signature, prehash)?;
    Some(Address::from_raw_public_key(&key.to_raw_public_key()))
}

// --- constant tables ------------------------------------------------------------------------------

/// (2i + 1)·G for i in 0..32, affine.
pub(crate) static G_MULTIPLES: [AffinePoint; 32] = [
    AffinePoint::from_hex(
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
    ),
    AffinePoint::from_hex(
        "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
        "388f7b0f632de8140fe337e62a37f3566500a99934c2231b6cb9fd7584b8e672",
    ),
    AffinePoint::from_hex(
        "2f8bde4d1a07209355b4a7250a5c5128e88b84bddc619ab7cba8d569b240efe4",
        "d8ac222636e5e3d6d4dba9dda6c9c426f788271bab0d6840dca87d3aa6ac62d6",
    ),
    AffinePoint::from_hex(
        "5cbdf0646e5db4eaa398f365f2ea7a0e3d419b7e0330e39ce92bddedcac4f9bc",
        "6aebca40ba255960a3178d6d861a54dba813d0b813fde7b5a5082628087264da",
    ),
    AffinePoint::from_hex(
        "acd484e2f0c7f65309ad178a9f559abde09796974c57e714c35f110dfc27ccbe",
        "cc338921b0a7d9fd64380971763b61e9add888a4375f8e0f05cc262ac64f9c37",
    ),
    AffinePoint::from_hex(
        "774ae7f858a9411e5ef4246b70c65aac5649980be5c17891bbec17895da008cb",
        "d984a032eb6b5e190243dd56d7b7b365372db1e2dff9d6a8301d74c9c953c61b",
    ),
    AffinePoint::from_hex(
        "f28773c2d975288bc7d1d205c3748651b075fbc6610e58cddeeddf8f19405aa8",
        "0ab0902e8d880a89758212eb65cdaf473a1a06da521fa91f29b5cb52db03ed81",
    ),
    AffinePoint::from_hex(
        "d7924d4f7d43ea965a465ae3095ff41131e5946f3c85f79e44adbcf8e27e080e",
        "581e2872a86c72a683842ec228cc6defea40af2bd896d3a5c504dc9ff6a26b58",
    ),
    AffinePoint::from_hex(
        "defdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34",
        "4211ab0694635168e997b0ead2a93daeced1f4a04a95c0f6cfb199f69e56eb77",
    ),
    AffinePoint::from_hex(
        "2b4ea0a797a443d293ef5cff444f4979f06acfebd7e86d277475656138385b6c",
        "85e89bc037945d93b343083b5a1c86131a01f60c50269763b570c854e5c09b7a",
    ),
    AffinePoint::from_hex(
        "352bbf4a4cdd12564f93fa332ce333301d9ad40271f8107181340aef25be59d5",
        "321eb4075348f534d59c18259dda3e1f4a1b3b2e71b1039c67bd3d8bcf81998c",
    ),
    AffinePoint::from_hex(
        "2fa2104d6b38d11b0230010559879124e42ab8dfeff5ff29dc9cdadd4ecacc3f",
        "02de1068295dd865b64569335bd5dd80181d70ecfc882648423ba76b532b7d67",
    ),
    AffinePoint::from_hex(
        "9248279b09b4d68dab21a9b066edda83263c3d84e09572e269ca0cd7f5453714",
        "73016f7bf234aade5d1aa71bdea2b1ff3fc0de2a887912ffe54a32ce97cb3402",
    ),
    AffinePoint::from_hex(
        "daed4f2be3a8bf278e70132fb0beb7522f570e144bf615c07e996d443dee8729",
        "a69dce4a7d6c98e8d4a1aca87ef8d7003f83c230f3afa726ab40e52290be1c55",
    ),
    AffinePoint::from_hex(
        "c44d12c7065d812e8acf28d7cbb19f9011ecd9e9fdf281b0e6a3b5e87d22e7db",
        "2119a460ce326cdc76c45926c982fdac0e106e861edf61c5a039063f0e0e6482",
    ),
    AffinePoint::from_hex(
        "6a245bf6dc698504c89a20cfded60853152b695336c28063b61c65cbd269e6b4",
        "e022cf42c2bd4a708b3f5126f16a24ad8b33ba48d0423b6efd5e6348100d8a82",
    ),
    AffinePoint::from_hex(
        "1697ffa6fd9de627c077e3d2fe541084ce13300b0bec1146f95ae57f0d0bd6a5",
        "b9c398f186806f5d27561506e4557433a2cf15009e498ae7adee9d63d01b2396",
    ),
    AffinePoint::from_hex(
        "605bdb019981718b986d0f07e834cb0d9deb8360ffb7f61df982345ef27a7479",
        "02972d2de4f8d20681a78d93ec96fe23c26bfae84fb14db43b01e1e9056b8c49",
    ),
    AffinePoint::from_hex(
        "62d14dab4150bf497402fdc45a215e10dcb01c354959b10cfe31c7e9d87ff33d",
        "80fc06bd8cc5b01098088a1950eed0db01aa132967ab472235f5642483b25eaf",
    ),
    AffinePoint::from_hex(
        "80c60ad0040f27dade5b4b06c408e56b2c50e9f56b9b8b425e555c2f86308b6f",
        "1c38303f1cc5c30f26e66bad7fe72f70a65eed4cbe7024eb1aa01f56430bd57a",
    ),
    AffinePoint::from_hex(
        "7a9375ad6167ad54aa74c6348cc54d344cc5dc9487d847049d5eabb0fa03c8fb",
        "0d0e3fa9eca8726909559e0d79269046bdc59ea10c70ce2b02d499ec224dc7f7",
    ),
    AffinePoint::from_hex(
        "d528ecd9b696b54c907a9ed045447a79bb408ec39b68df504bb51f459bc3ffc9",
        "eecf41253136e5f99966f21881fd656ebc4345405c520dbc063465b521409933",
    ),
    AffinePoint::from_hex(
        "049370a4b5f43412ea25f514e8ecdad05266115e4a7ecb1387231808f8b45963",
        "758f3f41afd6ed428b3081b0512fd62a54c3f3afbb5b6764b653052a12949c9a",
    ),
    AffinePoint::from_hex(
        "77f230936ee88cbbd73df930d64702ef881d811e0e1498e2f1c13eb1fc345d74",
        "958ef42a7886b6400a08266e9ba1b37896c95330d97077cbbe8eb3c7671c60d6",
    ),
    AffinePoint::from_hex(
        "f2dac991cc4ce4b9ea44887e5c7c0bce58c80074ab9d4dbaeb28531b7739f530",
        "e0dedc9b3b2f8dad4da1f32dec2531df9eb5fbeb0598e4fd1a117dba703a3c37",
    ),
    AffinePoint::from_hex(
        "463b3d9f662621fb1b4be8fbbe2520125a216cdfc9dae3debcba4850c690d45b",
        "5ed430d78c296c3543114306dd8622d7c622e27c970a1de31cb377b01af7307e",
    ),
    AffinePoint::from_hex(
        "f16f804244e46e2a09232d4aff3b59976b98fac14328a2d1a32496b49998f247",
        "cedabd9b82203f7e13d206fcdf4e33d92a6c53c26e5cce26d6579962c4e31df6",
    ),
    AffinePoint::from_hex(
        "caf754272dc84563b0352b7a14311af55d245315ace27c65369e15f7151d41d1",
        "cb474660ef35f5f2a41b643fa5e460575f4fa9b7962232a5c32f908318a04476",
    ),
    AffinePoint::from_hex(
        "2600ca4b282cb986f85d0f1709979d8b44a09c07cb86d7c124497bc86f082120",
        "4119b88753c15bd6a693b03fcddbb45d5ac6be74ab5f0ef44b0be9475a7e4b40",
    ),
    AffinePoint::from_hex(
        "7635ca72d7e8432c338ec53cd12220bc01c48685e24f7dc8c602a7746998e435",
        "091b649609489d613d1d5e590f78e6d74ecfc061d57048bad9e76f302c5b9c61",
    ),
    AffinePoint::from_hex(
        "754e3239f325570cdbbf4a87deee8a66b7f2b33479d468fbc1a50743bf56cc18",
        "0673fb86e5bda30fb3cd0ed304ea49a023ee33d0197a695d0c5d98093c536683",
    ),
    AffinePoint::from_hex(
        "e3e6bd1071a1e96aff57859c82d570f0330800661d1c952f9fe2694691d9b9e8",
        "59c9e0bba394e76f40c0aa58379a3cb6a5a2283993e90c4167002af4920e37f5",
    ),
];
/// (2i + 1)·2¹²⁸·G for i in 0..32, affine.
pub(crate) static G128_MULTIPLES: [AffinePoint; 32] = [
    AffinePoint::from_hex(
        "8f68b9d2f63b5f339239c1ad981f162ee88c5678723ea3351b7b444c9ec4c0da",
        "662a9f2dba063986de1d90c2b6be215dbbea2cfe95510bfdf23cbf79501fff82",
    ),
    AffinePoint::from_hex(
        "38381dbe2e509f228ba93363f2451f08fd845cb351d954be18e2b8edd23809fa",
        "e4a32d0a0fb917dcb09405a5520eb1cc3681fccb32d8f24dbd707518331fed52",
    ),
    AffinePoint::from_hex(
        "49262724e4372ae6f6921b82aa4699a1f186aea5401226303ea4264897c2a310",
        "1337e773bca7abf95a2cfa569714303b6d163612a75ff8ce0c41b6815e27ded0",
    ),
    AffinePoint::from_hex(
        "e306568c1a240c90d5e253b3e477e2f84dcc1a56ff06db8d1384b079cebd2d31",
        "0eac6fe378934260888f2b107f7d0db6ffbc8042be373826692b408392546e44",
    ),
    AffinePoint::from_hex(
        "3b9e100e2428cefc271b0e7623fbd63374ebf8d9aab41dd9c530c39e363136b0",
        "fafb98152d16bb71df1533eb8f475b26a2ae28a33ad31f81953ec16f6cdbbc8a",
    ),
    AffinePoint::from_hex(
        "bb0aad49712ac9a92b76ca80f5dedef717ca07688107beee9608f0472f485d3f",
        "ea699c53c58354798ecd201f7297da34895a5afa31670bffe79392503ca2f975",
    ),
    AffinePoint::from_hex(
        "79090ac8e4eefcc0d4e8eb197afe0113e1e58b4db01123de4aeed33a36718dc9",
        "eaab722b91905b8f13d816cbcd9aaa56dd36afb70ba9008b963322b11cfae7c5",
    ),
    AffinePoint::from_hex(
        "e77c81ade9f97b551c03dbbce549ba668dd71de7cd775ad2a269694c7f60c7d1",
        "3acf1478eef81321c5fc3b323ea81543631470f71c2986d34ec581f282d72449",
    ),
    AffinePoint::from_hex(
        "de2b5ce9dbce511cf2d8878e3ded87cc3d633daea2d45341501fb3a455ccf6b0",
        "f10576f3d3c3e0e1bbf717e98b1a374465b8c45ac66318bb34829eb711100666",
    ),
    AffinePoint::from_hex(
        "d07bddffd491a2fe1ea59fbd7c12121729659ca5de46658b26b1460b13c03c56",
        "b2ad4708cd3c97dd0f9c40e2a1de04d561d963ff8cc2eea76be3f60c2b405ce7",
    ),
    AffinePoint::from_hex(
        "82403e7c5d3016af3765ec4c396ce8e10f8da45c434b825710edab41bb6a4d51",
        "0d09661be27cb7674456baddb3e8405199ab6ccc4ec67c1b11e92ead7b463b19",
    ),
    AffinePoint::from_hex(
        "eadc3131fbd626f5263faa58c4caf4d9930f933d9541c23f438cb486750680cf",
        "d3c977b1c9b4a8975c64b36c972d5d01a388fb9dc3791a7436094ff12c87a914",
    ),
    AffinePoint::from_hex(
        "3903ee5f6758ff24c518a4b386748f4f36bdd65cb77e78ac609f2909fc7987d9",
        "0e92194ea15241d640915934bd2347498d222a184927a8dab0cfe2ae182be83b",
    ),
    AffinePoint::from_hex(
        "d0803b7839ab48a38475bdccf9a9f2195759c343dbbf8e9323e1f8825be6a5d9",
        "2cc3b180ff29c97ea12ec15fb38bafa404ecf06ce51d1d242894a92664582f0b",
    ),
    AffinePoint::from_hex(
        "1f56f096b18a7499a153a5aeacf8be058496dd23da8e6c19215628fbc0567ed0",
        "fef22b8a3b52f490830044360b65cd69c94189f41a93c0d51fc13cb4379dff58",
    ),
    AffinePoint::from_hex(
        "1d9f69b1a4a47432e386f5250234aa3079e947cfcf2032974e0fc05b638e213b",
        "d898ec17949c0761b38500c3a2b1da245438d5b3d3f6f72041f15d6ee4d4ccbb",
    ),
    AffinePoint::from_hex(
        "0128c9134d9dcb7812fc436105c67ad055213354dc8008b1aeb5a9dcfb629efd",
        "fee3e54add152610d97259360099d662c160c8e4ec6f76e45ff418180be67c96",
    ),
    AffinePoint::from_hex(
        "21ec012f5a95b94d244b8d519756075c301f28548e2c51fc49c0e3d90d1a9685",
        "2def210577af497f4c7fef716949f28e7418eda6fd5fc162d128de193cde08ae",
    ),
    AffinePoint::from_hex(
        "688f5202fb9d8bc09e480e894c7cfc74761c3be77dafb11c584228363e331cc5",
        "96ba7d5963b541a72ec7cabd924034341a393eaf89eebd9462d9c218c7302cd3",
    ),
    AffinePoint::from_hex(
        "fb5c9eea1cb9a8f5b3314c3000a50d350744d0ef0e8bbf682e4d3ab4f7f02baf",
        "29fb8844e18fc551fb28bd2695c5e95c6868e0cc7e526af091157e9dfb630418",
    ),
    AffinePoint::from_hex(
        "f1479fe22eedae3f2f5f6a5d84a9de1d593168ec7b52380de0b3625ccac03421",
        "1a642d5d2fd88b8213b50d1a3fbd3419c0b4630c48352131cb856b2e22764606",
    ),
    AffinePoint::from_hex(
        "2273edc5e819977493c5b0e09fe0effa00f60f7b2898565a69f5c7b2bf1a7950",
        "b3aea2388fd978d929f1a1df98495358b64691fc4f50b530906ae39efe7bda12",
    ),
    AffinePoint::from_hex(
        "99f8480c30504378b47d10b32b39da2f496d59f4b146285656f05ad79bef5214",
        "e001d55d8e2242868d8bd397cb5aa99ed930e437e4e6215171da7ae66264b2cd",
    ),
    AffinePoint::from_hex(
        "0382257fe4751280d74fdfc6993c864209c000d587f57635bc9656ba996a6f1f",
        "c2dc733dfe52cb06265a4f1da6b5f1f930dbfa39e36599731c672aad8b51d474",
    ),
    AffinePoint::from_hex(
        "23a136329125386be45f4e1b2acc847a62e5eaf9f6d5f4526e145e7fecefb24b",
        "9129777e0643ba222bf817a1af7155f1413cc3703734ba6f49f15f55996854c0",
    ),
    AffinePoint::from_hex(
        "6659ea6058a664dea35791a18c5cded48cf5593dc440b9d48a30ac3579149f0b",
        "2adcc705a85d836fb347b69e742fc6c35300d1d8e534f1ffc820c6d6b2f2199d",
    ),
    AffinePoint::from_hex(
        "52dc3bc6e1acd3b47ece6f6c89fd2a3e2899b48741421033037a67dd1ba939fc",
        "5daeb34632ad107fbd83d9da15a3c4ff1e8f6ba3ee5193e2709e89c343d05746",
    ),
    AffinePoint::from_hex(
        "524b2a9793cd5745bd9189ba9c947bc1693fbceb75f074f617376b10d5573551",
        "9e8099d6cb23fb1a9deb92cc3e8a2fb5a6865ac63dececa02d146e1bbcc80b71",
    ),
    AffinePoint::from_hex(
        "732181a8e2bc5953923e6c3dd960e9b7525b7b95e59069976fe791561782756e",
        "2516c6b35592eb0a42ba193c0bae98abe3c42d96148f1d84edac621a722e4823",
    ),
    AffinePoint::from_hex(
        "b8e8942d926e38fdf338496ac2ef6fca49a7ae3df76eb15d8d570111e502664b",
        "7990d56e7dea588e4d670ba22031e6c79724864169e51d77f792f5edbefaf8eb",
    ),
    AffinePoint::from_hex(
        "144e88f63e73abff72cac11e7ddccf7919e744e6278941ae18d1b797e098e4e5",
        "063cdbf35df3c6550c58197fea54633d158705cf7dc2eb3b4e09f83c3021837c",
    ),
    AffinePoint::from_hex(
        "9436e3dc489ecd8e2d16a739c9c73e3d60e5bc936815703975b8efbd5c3a9081",
        "1460531f50cb6ebfd1aa7806ea84e7f78e8d76b2b3a66d5e03a0bf6039a7e59c",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use alloy_consensus::crypto::secp256k1::recover_signer;
    use alloy_primitives::keccak256;
    use alloy_primitives::ruint::Uint;
    use k256::ProjectivePoint;
    use k256::ecdsa::SigningKey;
    use k256::elliptic_curve::ops::Reduce;
    use k256::elliptic_curve::sec1::ToEncodedPoint as _;

    /// A deterministic stream of pseudo-random 32-byte values.
    struct Stream(B256);

    impl Stream {
        fn new(label: &str) -> Self {
            Self(keccak256(label.as_bytes()))
        }

        fn bytes(&mut self) -> [u8; 32] {
            self.0 = keccak256(self.0);
            self.0.0
        }

        fn words(&mut self) -> [u32; 8] {
            words_from_be_bytes(&self.bytes())
        }

        /// A random canonical scalar.
        fn scalar(&mut self) -> Scalar {
            Scalar(self.words()).add(&Scalar::ZERO)
        }

        /// A random nonzero canonical field element.
        fn field_element(&mut self) -> FieldElement {
            FieldElement(self.words()).add(&FieldElement::ONE)
        }
    }

    fn to_u256(words: &[u32; 8]) -> U256 {
        U256::from_be_bytes(words_to_be_bytes(words))
    }

    fn from_u256(value: U256) -> [u32; 8] {
        words_from_u256(&value)
    }

    fn k256_scalar(scalar: &Scalar) -> k256::Scalar {
        <k256::Scalar as Reduce<k256::U256>>::reduce_bytes(&scalar.to_be_bytes().into())
    }

    /// k256's point as ours (`None` at infinity).
    fn from_k256(point: &ProjectivePoint) -> Option<AffinePoint> {
        let encoded = point.to_affine().to_encoded_point(false);
        let coordinate = |bytes: Option<&k256::FieldBytes>| -> Option<FieldElement> {
            let bytes: [u8; 32] = (*bytes?).into();
            Some(FieldElement::from_be_bytes(&bytes))
        };
        Some(AffinePoint {
            x: coordinate(encoded.x())?,
            y: coordinate(encoded.y())?,
        })
    }

    /// The same point with Jacobian coordinates scaled by `lambda`.
    fn rescaled(point: &AffinePoint, lambda: &FieldElement) -> JacobianPoint {
        let lambda2 = lambda.square();
        JacobianPoint {
            x: point.x.mul(&lambda2),
            y: point.y.mul(&lambda2.mul(lambda)),
            z: *lambda,
        }
    }

    fn reference(op: FieldOp, x: U256, y: U256) -> U256 {
        let modulus = match op {
            FieldOp::MulP | FieldOp::AddP | FieldOp::SubP => to_u256(&P),
            FieldOp::MulN | FieldOp::AddN | FieldOp::SubN => to_u256(&N),
        };
        match op {
            FieldOp::MulP | FieldOp::MulN => x.mul_mod(y, modulus),
            FieldOp::AddP | FieldOp::AddN => x.add_mod(y, modulus),
            FieldOp::SubP | FieldOp::SubN => (x % modulus).add_mod(modulus - y % modulus, modulus),
        }
    }

    #[test]
    fn field_ops_match_integer_reference() {
        let mut stream = Stream::new("field ops");
        for (modulus, ops) in [
            (P, [FieldOp::MulP, FieldOp::AddP, FieldOp::SubP]),
            (N, [FieldOp::MulN, FieldOp::AddN, FieldOp::SubN]),
        ] {
            let m = to_u256(&modulus);
            let complement = U256::ZERO.wrapping_sub(m);
            let mut values = vec![
                U256::ZERO,
                U256::from(1),
                U256::from(2),
                m - U256::from(1),
                m,
                m + U256::from(1),
                U256::MAX,
                U256::MAX - U256::from(1),
                U256::from(1) << 255,
                U256::from(1) << 128,
                complement,
                complement - U256::from(1),
                m >> 1,
            ];
            for _ in 0..40 {
                let value = to_u256(&stream.words());
                values.push(value);
                // Values at or above m, and values with few bits.
                values.push(m.saturating_add(value >> 130));
                values.push(value >> (value.byte(0) as usize));
            }
            for op in ops {
                for &x in &values {
                    for &y in &values {
                        let got = field_op_software(op, &from_u256(x), &from_u256(y));
                        assert_eq!(to_u256(&got), reference(op, x, y), "{op:?}({x:#x}, {y:#x})");
                    }
                }
            }
            // The counted path and in-place use (z = z ⋅ z) agree with it.
            for &x in &values[..20] {
                let mut z = [x, x];
                for op in ops {
                    let expected = reference(op, z[0], z[0]);
                    let mut words = from_u256(z[0]);
                    words = field_op(op, &words, &words);
                    z = [to_u256(&words), expected];
                    assert_eq!(z[0], z[1], "{op:?} in place");
                }
            }
        }
    }

    #[test]
    fn exponentiations_match_reference() {
        let p = to_u256(&P);
        let n = to_u256(&N);
        let mut stream = Stream::new("exponentiations");
        let mut values = vec![U256::ZERO, U256::from(1), U256::from(2), U256::from(7)];
        values.extend([p - U256::from(1), n - U256::from(1), n >> 1]);
        values.extend((0..40).map(|_| to_u256(&stream.words()) % n));
        let mut roots = 0;
        for &value in &values {
            let x = FieldElement(from_u256(value));
            let inverse = to_u256(&x.invert().0);
            assert_eq!(
                inverse,
                value.pow_mod(p - U256::from(2), p),
                "1/{value:#x} mod p"
            );
            let candidate = value.pow_mod((p + U256::from(1)) >> 2, p);
            match x.sqrt() {
                Some(root) => {
                    assert_eq!(to_u256(&root.0), candidate);
                    assert_eq!(candidate.mul_mod(candidate, p), value);
                    roots += 1;
                }
                None => assert_ne!(candidate.mul_mod(candidate, p), value),
            }
            let s = Scalar(from_u256(value));
            let inverse = to_u256(&s.invert().0);
            assert_eq!(
                inverse,
                value.pow_mod(n - U256::from(2), n),
                "1/{value:#x} mod n"
            );
            if value != U256::ZERO {
                assert_eq!(inverse.mul_mod(value, n), U256::from(1));
            }
        }
        assert!(roots > 10 && roots < values.len() - 10, "{roots} squares");
    }

    #[test]
    fn constant_tables_match_k256() {
        let two_128 = k256_scalar(&Scalar(from_u256(U256::from(1) << 128)));
        let g = ProjectivePoint::GENERATOR;
        assert_eq!(from_k256(&g), Some(AffinePoint::GENERATOR));
        for (i, (low, high)) in G_MULTIPLES.iter().zip(&G128_MULTIPLES).enumerate() {
            let multiple = k256::Scalar::from(2 * i as u64 + 1);
            assert_eq!(from_k256(&(g * multiple)), Some(*low), "{}G", 2 * i + 1);
            assert_eq!(
                from_k256(&(g * two_128 * multiple)),
                Some(*high),
                "{}·2¹²⁸G",
                2 * i + 1
            );
            assert!(low.is_on_curve() && high.is_on_curve());
        }
        // λ·(x, y) = (β·x, y), and λ, β are cube roots of unity.
        let lambda_g = from_k256(&(g * k256_scalar(&LAMBDA))).unwrap();
        assert_eq!(lambda_g.x, AffinePoint::GENERATOR.x.mul(&BETA));
        assert_eq!(lambda_g.y, AffinePoint::GENERATOR.y);
        assert_eq!(LAMBDA.square().mul(&LAMBDA), Scalar::ONE);
        assert_eq!(BETA.square().mul(&BETA), FieldElement::ONE);
        assert_eq!(
            THREE_HALVES.add(&THREE_HALVES),
            FieldElement([3, 0, 0, 0, 0, 0, 0, 0])
        );
    }

    #[test]
    fn point_operations_match_k256() {
        let mut stream = Stream::new("points");
        let g = ProjectivePoint::GENERATOR;
        for _ in 0..30 {
            let (a, b) = (k256_scalar(&stream.scalar()), k256_scalar(&stream.scalar()));
            let (big_a, big_b) = (g * a, g * b);
            let (pa, pb) = (from_k256(&big_a).unwrap(), from_k256(&big_b).unwrap());
            let ja = rescaled(&pa, &stream.field_element());
            let jb = rescaled(&pb, &stream.field_element());
            let ja_again = rescaled(&pa, &stream.field_element());
            assert_eq!(ja.to_affine(), Some(pa));
            assert!(pa.is_on_curve());
            assert_eq!(ja.double().to_affine(), from_k256(&big_a.double()));
            assert_eq!(
                JacobianPoint::from(pa).double().to_affine(),
                from_k256(&big_a.double())
            );
            assert_eq!(ja.add_affine(&pb).to_affine(), from_k256(&(big_a + big_b)));
            assert_eq!(ja.add(&jb).to_affine(), from_k256(&(big_a + big_b)));
            assert_eq!(
                JacobianPoint::from(pa).add_affine(&pb).to_affine(),
                from_k256(&(big_a + big_b))
            );
            let (difference, _) = ja.add_affine_signed(&pb, true, None);
            assert_eq!(difference.to_affine(), from_k256(&(big_a - big_b)));
            // P + P, P + (−P), infinity on either side.
            assert_eq!(ja.add_affine(&pa).to_affine(), from_k256(&big_a.double()));
            assert_eq!(ja.add(&ja_again).to_affine(), from_k256(&big_a.double()));
            assert!(ja.add_affine(&pa.neg()).is_infinity());
            assert!(ja.add_affine_signed(&pa, true, None).0.is_infinity());
            assert!(ja.add(&ja_again.neg()).is_infinity());
            assert_eq!(
                JacobianPoint::INFINITY.add_affine(&pa).to_affine(),
                Some(pa)
            );
            assert_eq!(JacobianPoint::INFINITY.add(&ja).to_affine(), Some(pa));
            assert_eq!(ja.add(&JacobianPoint::INFINITY).to_affine(), Some(pa));
            assert!(JacobianPoint::INFINITY.double().is_infinity());
            assert_eq!(JacobianPoint::INFINITY.to_affine(), None);
            // A point given as the Jacobian (x, y, 1/s), added with the scale s.
            let s = stream.field_element();
            for (point, big) in [(pb, big_b), (pa, big_a)] {
                let scaled = rescaled(&point, &s.invert());
                let scaled = AffinePoint {
                    x: scaled.x,
                    y: scaled.y,
                };
                let sum = |negate| ja.add_affine_signed(&scaled, negate, Some(&s)).0;
                assert_eq!(sum(false).to_affine(), from_k256(&(big_a + big)));
                assert_eq!(sum(true).to_affine(), from_k256(&(big_a - big)));
                let alone = JacobianPoint::INFINITY.add_affine_signed(&scaled, true, Some(&s));
                assert_eq!(alone.0.to_affine(), from_k256(&-big));
            }
            // Decompression finds both roots.
            assert_eq!(AffinePoint::decompress(&pa.x, pa.y.is_odd()), Some(pa));
            assert_eq!(
                AffinePoint::decompress(&pa.x, !pa.y.is_odd()),
                Some(pa.neg())
            );
        }
    }

    #[test]
    fn naf_digits_recombine() {
        type U512 = Uint<512, 8>;
        let mut stream = Stream::new("naf");
        let mut values = vec![
            [0u32; 8],
            [1, 0, 0, 0, 0, 0, 0, 0],
            [u32::MAX; 8],
            N,
            HALF_N,
        ];
        values.push(from_u256(U256::from(1) << 255));
        values.push(from_u256((U256::from(1) << 128) - U256::from(1)));
        for _ in 0..50 {
            let value = to_u256(&stream.words());
            values.push(from_u256(value));
            values.push(from_u256(value >> (value.byte(0) as usize)));
        }
        for value in &values {
            for window in [R_WINDOW, G_WINDOW] {
                let (digits, length) = naf(value, window);
                let (mut positive, mut negative) = (U512::ZERO, U512::ZERO);
                let mut last = None;
                for (i, &digit) in digits.iter().enumerate() {
                    if digit == 0 {
                        continue;
                    }
                    assert!(i < length, "digit past the length");
                    assert!(digit % 2 != 0 && i32::from(digit).abs() < 1 << (window - 1));
                    if let Some(previous) = last {
                        assert!(i - previous >= window as usize, "digits too close");
                    }
                    last = Some(i);
                    let term = U512::from(i32::from(digit).unsigned_abs()) << i;
                    if digit > 0 {
                        positive += term;
                    } else {
                        negative += term;
                    }
                }
                assert_eq!(last.map_or(0, |i| i + 1), length);
                assert_eq!(
                    positive - negative,
                    U512::from(to_u256(value)),
                    "{value:x?}"
                );
            }
        }
    }

    #[test]
    fn lambda_split_recombines_into_short_halves() {
        let n = to_u256(&N);
        let lambda = to_u256(&LAMBDA.0);
        let mut stream = Stream::new("glv");
        let mut values = vec![
            Scalar::ZERO,
            Scalar::ONE,
            Scalar(HALF_N),
            LAMBDA,
            LAMBDA.square(),
        ];
        values.push(Scalar(from_u256(n - U256::from(1))));
        values.push(Scalar(from_u256((n >> 1) + U256::from(1))));
        values.push(Scalar(from_u256(U256::from(1) << 128)));
        values.extend((0..500).map(|_| stream.scalar()));
        for k in &values {
            let (k1, k1_negative, k2, k2_negative) = split_lambda(k);
            assert!(
                bit_length(&k1.0) <= 128 && bit_length(&k2.0) <= 128,
                "{k:x?}"
            );
            let signed = |s: &Scalar, negative: bool| {
                let value = to_u256(&s.0);
                if negative { (n - value) % n } else { value }
            };
            let k1 = signed(&k1, k1_negative);
            let k2 = signed(&k2, k2_negative);
            assert_eq!(k1.add_mod(k2.mul_mod(lambda, n), n), to_u256(&k.0));
        }
    }

    #[test]
    fn mul_add_generator_matches_k256() {
        let n = to_u256(&N);
        let g = ProjectivePoint::GENERATOR;
        let mut stream = Stream::new("lincomb");
        let scalar = |value: U256| Scalar(from_u256(value));
        let mut cases = Vec::new();
        for _ in 0..30 {
            let point = g * k256_scalar(&stream.scalar());
            cases.push((stream.scalar(), stream.scalar(), point));
        }
        let edges = [
            U256::ZERO,
            U256::from(1),
            n - U256::from(1),
            n >> 1,
            U256::from(1) << 128,
            (U256::from(1) << 128) - U256::from(1),
            to_u256(&LAMBDA.0),
        ];
        for &u1 in &edges {
            for &u2 in &edges[1..] {
                let point = g * k256_scalar(&stream.scalar());
                cases.push((scalar(u1), scalar(u2), point));
            }
        }
        // R related to G: sums that pass through P + P and P + (−P), and the infinity result.
        for _ in 0..5 {
            let u = stream.scalar();
            let c = stream.scalar();
            cases.push((u, Scalar::ONE, g * k256_scalar(&u.neg())));
            cases.push((u, u, g));
            cases.push((u, u, -g));
            cases.push((u.mul(&c), c.neg(), g * k256_scalar(&u)));
            cases.push((u, c, g * k256_scalar(&LAMBDA)));
        }
        let mut infinities = 0;
        for (u1, u2, point) in &cases {
            let expected = g * k256_scalar(u1) + point * &k256_scalar(u2);
            let ours = mul_add_generator(u1, u2, &from_k256(point).unwrap()).unwrap();
            assert_eq!(ours.to_affine(), from_k256(&expected), "{u1:x?} {u2:x?}");
            infinities += usize::from(ours.is_infinity());
        }
        assert!(infinities >= 10, "{infinities}");
    }

    fn sign(key: &SigningKey, prehash: &B256) -> Signature {
        let (signature, id) = key.sign_prehash_recoverable(prehash.as_slice()).unwrap();
        Signature::from_signature_and_parity(signature, id.is_y_odd())
    }

    #[test]
    fn recovery_matches_alloy() {
        let mut stream = Stream::new("recovery");
        for _ in 0..120 {
            let key = SigningKey::from_slice(&stream.bytes()).unwrap();
            let prehash = B256::from(stream.bytes());
            let signature = sign(&key, &prehash);
            let expected = Address::from_public_key(key.verifying_key());
            assert_eq!(recover_signer(&signature, prehash).ok(), Some(expected));
            assert_eq!(recover_address_zkvm(&signature, &prehash), Some(expected));
            // The s on EIP-2's boundary and just past it, a flipped parity, another message.
            let n = to_u256(&N);
            let variants = [
                Signature::new(signature.r(), n >> 1, signature.v()),
                Signature::new(signature.r(), (n >> 1) + U256::from(1), signature.v()),
                signature.with_parity(!signature.v()),
                Signature::new(n - U256::from(1), signature.s(), signature.v()),
                Signature::new(
                    to_u256(&P) - n + U256::from(7),
                    signature.s(),
                    signature.v(),
                ),
            ];
            for variant in &variants {
                assert_eq!(
                    recover_address_zkvm(variant, &prehash),
                    recover_signer(variant, prehash).ok(),
                    "{variant:?}"
                );
            }
            let other = keccak256(prehash);
            assert_eq!(
                recover_address_zkvm(&signature, &other),
                recover_signer(&signature, other).ok()
            );
        }
        // Messages at and above n reduce mod n, as k256 does.
        let key = SigningKey::from_slice(&[3; 32]).unwrap();
        for prehash in [
            B256::repeat_byte(0xff),
            B256::from(words_to_be_bytes(&N)),
            B256::ZERO,
        ] {
            let signature = sign(&key, &prehash);
            let expected = Address::from_public_key(key.verifying_key());
            assert_eq!(recover_address_zkvm(&signature, &prehash), Some(expected));
        }
    }

    /// The field operations `run` performs, measured until two runs in a row agree (other
    /// tests share the process-wide counters).
    fn count_ops(run: impl Fn()) -> FieldOpCounts {
        let mut previous = None;
        for _ in 0..10_000 {
            let before = field_op_counts();
            run();
            let counts = field_op_counts().since(&before);
            if previous == Some(counts) {
                return counts;
            }
            previous = Some(counts);
        }
        panic!("the field-op counters never held still");
    }

    #[test]
    fn recovery_op_count() {
        let key = SigningKey::from_slice(&[5; 32]).unwrap();
        let prehash = keccak256(b"transfer");
        let signature = sign(&key, &prehash);
        let r = Scalar(words_from_u256(&signature.r()));
        let x = FieldElement(r.0);
        let point = AffinePoint::decompress(&x, signature.v()).unwrap();
        let u = Scalar(words_from_u256(&signature.s()));
        let total = count_ops(|| {
            recover_address_zkvm(&signature, &prehash).unwrap();
        });
        let decompress = count_ops(|| {
            AffinePoint::decompress(&x, signature.v()).unwrap();
        });
        let invert_n = count_ops(|| {
            r.invert();
        });
        let invert_p = count_ops(|| {
            x.invert();
        });
        let table = count_ops(|| {
            OddMultiples::new(&point).unwrap();
        });
        let lincomb = count_ops(|| {
            mul_add_generator(&u, &u, &point).unwrap();
        });
        std::println!(
            "field ops per recovery: {} ({} mul, {} add, {} sub); decompression {}, \
             inversion mod n {}, inversion mod p {}, R table {}, u1·G + u2·R {} (table included)",
            total.total(),
            total.mul,
            total.add,
            total.sub,
            decompress.total(),
            invert_n.total(),
            invert_p.total(),
            table.total(),
            lincomb.total(),
        );
        assert!(total.total() < 4_500, "{total:?}");
        // Other signatures differ only in their NAFs' densities.
        let mut stream = Stream::new("op counts");
        let (mut sum, mut most) = (0, 0);
        for _ in 0..20 {
            let key = SigningKey::from_slice(&stream.bytes()).unwrap();
            let prehash = B256::from(stream.bytes());
            let signature = sign(&key, &prehash);
            let ops = count_ops(|| {
                recover_address_zkvm(&signature, &prehash).unwrap();
            })
            .total();
            sum += ops;
            most = most.max(ops);
        }
        std::println!("over 20 signatures: mean {}, max {most}", sum / 20);
        assert!(most < 4_500, "{most}");
    }
}
