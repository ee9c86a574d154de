//! The `field256` system call: 256-bit modular arithmetic over secp256k1's base field p and
//! group order n, the operations ECDSA sender recovery spends almost all of its RV32IM cycles
//! on (docs/evm.md). One call is one cycle of the emulator and one row of the prover's
//! field chip (docs/guest-abi.md).
//!
//! Operands are 256-bit integers stored as eight little-endian 32-bit words, least
//! significant word first. The inputs need not be reduced; the result always is. Every
//! operation is the integer identity `numerator = q·m + z` with `0 ≤ z < m`, which is what the
//! prover's chip constrains:
//!
//! | op | numerator | quotient q |
//! |---|---|---|
//! | mul | x·y | below 2^257 |
//! | add | x + y | 0..=2 |
//! | sub | x + 2m − y | 0..=3 (the 2m keeps the numerator non-negative) |

/// A 256-bit operand: eight little-endian 32-bit words, least significant first.
pub type Words = [u32; 8];

/// secp256k1's base field prime p = 2^256 − 2^32 − 977, as [`Words`].
pub const P: Words = [
    0xFFFF_FC2F,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
    0xFFFF_FFFF,
    0xFFFF_FFFF,
    0xFFFF_FFFF,
    0xFFFF_FFFF,
    0xFFFF_FFFF,
];

/// secp256k1's group order n, as [`Words`].
pub const N: Words = [
    0xD036_4141,
    0xBFD2_5E8C,
    0xAF48_A03B,
    0xBAAE_DCE6,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
    0xFFFF_FFFF,
    0xFFFF_FFFF,
];

/// Bytes of the quotient the prover's chip holds: a product of two 256-bit inputs divided
/// by a modulus above 2^255 can reach 2^257.
pub const QUOTIENT_BYTES: usize = 33;

/// Which integer operation a call performs before reducing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// x·y.
    Mul,
    /// x + y.
    Add,
    /// x − y (computed as x + 2m − y).
    Sub,
}

/// One of the six operations, selected by the call's a0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field256Op {
    /// The integer operation.
    pub arith: Arith,
    /// True for the group order n, false for the base field p.
    pub order: bool,
}

impl Field256Op {
    /// The operation with code `code` (a0): 0 mul, 1 add, 2 sub modulo p; 3, 4, 5 the same
    /// modulo n. `None` for any other value.
    pub fn from_code(code: u32) -> Option<Self> {
        let arith = match code % 3 {
            0 => Arith::Mul,
            1 => Arith::Add,
            _ => Arith::Sub,
        };
        (code < 6).then_some(Field256Op {
            arith,
            order: code >= 3,
        })
    }

    /// The call's a0 for this operation.
    pub fn code(self) -> u32 {
        let arith = match self.arith {
            Arith::Mul => 0,
            Arith::Add => 1,
            Arith::Sub => 2,
        };
        arith + if self.order { 3 } else { 0 }
    }

    /// The modulus the result is reduced by.
    pub fn modulus(self) -> &'static Words {
        if self.order { &N } else { &P }
    }
}

/// The result of one call and the quotient that proves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field256Result {
    /// The reduced result, `0 ≤ z < m`.
    pub z: Words,
    /// The quotient of the numerator by m, little-endian bytes.
    pub q: [u8; QUOTIENT_BYTES],
}

/// 512-bit working value: sixteen little-endian 32-bit limbs.
type Wide = [u32; 16];

/// Performs `op` on `x` and `y`.
pub fn compute(op: Field256Op, x: &Words, y: &Words) -> Field256Result {
    let m = op.modulus();
    let mut numerator: Wide = [0; 16];
    match op.arith {
        Arith::Mul => {
            for (i, &xi) in x.iter().enumerate() {
                let mut carry = 0u64;
                for (j, &yj) in y.iter().enumerate() {
                    let t = u64::from(xi) * u64::from(yj) + u64::from(numerator[i + j]) + carry;
                    numerator[i + j] = t as u32;
                    carry = t >> 32;
                }
                numerator[i + 8] = carry as u32;
            }
        }
        Arith::Add => add_into(&mut numerator, &[x, y]),
        Arith::Sub => {
            add_into(&mut numerator, &[x, m, m]);
            let borrow = sub_words(&mut numerator, y);
            debug_assert!(!borrow, "x + 2m − y is never negative");
        }
    }
    let (z, q) = divide(numerator, m);
    Field256Result { z, q }
}

/// Adds the given 256-bit values into `acc` (which must start at zero).
fn add_into(acc: &mut Wide, terms: &[&Words]) {
    for term in terms {
        let mut carry = 0u64;
        for (k, limb) in acc.iter_mut().enumerate() {
            let t = u64::from(*limb) + u64::from(term.get(k).copied().unwrap_or(0)) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
    }
}

/// `acc -= value` over `acc`'s width; returns whether it borrowed out of the top.
fn sub_words(acc: &mut [u32], value: &[u32]) -> bool {
    let mut borrow = 0i64;
    for (k, limb) in acc.iter_mut().enumerate() {
        let t = i64::from(*limb) - i64::from(value.get(k).copied().unwrap_or(0)) - borrow;
        *limb = t as u32;
        borrow = i64::from(t < 0);
    }
    borrow != 0
}

/// `(numerator mod m, numerator / m)` for a modulus `m = 2^256 − c` with `c < 2^130`
/// (both of secp256k1's): the high half `h` of the numerator is worth `h·m + h·c`, so `h`
/// goes to the quotient and `h·c` back into the low half, until nothing is left above
/// 2^256; then at most two subtractions of m.
fn divide(mut numerator: Wide, m: &Words) -> (Words, [u8; QUOTIENT_BYTES]) {
    // c = 2^256 − m.
    let mut c: Wide = [0; 16];
    c[8] = 1;
    sub_words(&mut c, m);
    let mut q: Wide = [0; 16];
    loop {
        let high: Words = numerator[8..].try_into().expect("eight limbs");
        if high == [0; 8] {
            break;
        }
        add_into_at(&mut q, &high);
        let mut next: Wide = [0; 16];
        next[..8].copy_from_slice(&numerator[..8]);
        for (i, &hi) in high.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &cj) in c[..5].iter().enumerate() {
                let t = u64::from(hi) * u64::from(cj) + u64::from(next[i + j]) + carry;
                next[i + j] = t as u32;
                carry = t >> 32;
            }
            let mut k = i + 5;
            while carry != 0 {
                let t = u64::from(next[k]) + carry;
                next[k] = t as u32;
                carry = t >> 32;
                k += 1;
            }
        }
        numerator = next;
    }
    let mut low: Words = numerator[..8].try_into().expect("eight limbs");
    while !less_than(&low, m) {
        sub_words(&mut low, m);
        add_into_at(&mut q, &[1, 0, 0, 0, 0, 0, 0, 0]);
    }
    let mut bytes = [0u8; QUOTIENT_BYTES];
    for (k, byte) in bytes.iter_mut().enumerate() {
        *byte = (q[k / 4] >> (8 * (k % 4))) as u8;
    }
    debug_assert!(q[9..].iter().all(|&l| l == 0) && q[8] <= 0xFF, "q < 2^264");
    (low, bytes)
}

/// `acc += value` (no carry out of `acc`'s width is possible for the quotients here).
fn add_into_at(acc: &mut Wide, value: &Words) {
    let mut carry = 0u64;
    for (k, limb) in acc.iter_mut().enumerate() {
        let t = u64::from(*limb) + u64::from(value.get(k).copied().unwrap_or(0)) + carry;
        *limb = t as u32;
        carry = t >> 32;
    }
}

/// `a < b` for 256-bit values.
fn less_than(a: &Words, b: &Words) -> bool {
    for k in (0..8).rev() {
        if a[k] != b[k] {
            return a[k] < b[k];
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arbitrary-width little-endian multiply-accumulate used to check `numerator = q·m + z`
    /// independently of `compute`'s reduction.
    fn mul_add(a: &[u32], b: &[u32], add: &[u32]) -> Vec<u32> {
        let mut out = vec![0u32; a.len() + b.len() + 2];
        for (k, &v) in add.iter().enumerate() {
            out[k] = v;
        }
        for (i, &ai) in a.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &bj) in b.iter().enumerate() {
                let t = u64::from(ai) * u64::from(bj) + u64::from(out[i + j]) + carry;
                out[i + j] = t as u32;
                carry = t >> 32;
            }
            let mut k = i + b.len();
            while carry != 0 {
                let t = u64::from(out[k]) + carry;
                out[k] = t as u32;
                carry = t >> 32;
                k += 1;
            }
        }
        while out.last() == Some(&0) {
            out.pop();
        }
        out
    }

    fn trimmed(v: &[u32]) -> Vec<u32> {
        let mut v = v.to_vec();
        while v.last() == Some(&0) {
            v.pop();
        }
        v
    }

    fn q_words(q: &[u8; QUOTIENT_BYTES]) -> Vec<u32> {
        let mut words = vec![0u32; 9];
        for (k, &b) in q.iter().enumerate() {
            words[k / 4] |= u32::from(b) << (8 * (k % 4));
        }
        words
    }

    /// The numerator of `op` as an integer (sub: x + 2m − y).
    fn numerator(op: Field256Op, x: &Words, y: &Words) -> Vec<u32> {
        let m = op.modulus();
        match op.arith {
            Arith::Mul => mul_add(x, y, &[]),
            Arith::Add => mul_add(x, &[1], y),
            Arith::Sub => {
                let mut v = mul_add(m, &[2], x);
                v.resize(10, 0);
                assert!(!sub_words(&mut v, y));
                trimmed(&v)
            }
        }
    }

    fn next(seed: &mut u64) -> u32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        (*seed >> 16) as u32
    }

    fn edge_values() -> Vec<Words> {
        let mut p_plus_1 = P;
        p_plus_1[0] += 1;
        let mut n_minus_1 = N;
        n_minus_1[0] -= 1;
        vec![
            [0; 8],
            [1, 0, 0, 0, 0, 0, 0, 0],
            P,
            p_plus_1,
            N,
            n_minus_1,
            [u32::MAX; 8],
            [0, 0, 0, 0, 0, 0, 0, 0x8000_0000],
        ]
    }

    #[test]
    fn results_are_reduced_and_satisfy_the_identity_the_chip_checks() {
        let mut seed = 0x2545_F491_4F6C_DD1D;
        let mut values = edge_values();
        for _ in 0..60 {
            values.push(core::array::from_fn(|_| next(&mut seed)));
        }
        for code in 0..6 {
            let op = Field256Op::from_code(code).unwrap();
            assert_eq!(op.code(), code);
            for x in &values {
                for y in values.iter().step_by(3) {
                    let r = compute(op, x, y);
                    assert!(less_than(&r.z, op.modulus()), "{op:?}: z not reduced");
                    let rebuilt = mul_add(&q_words(&r.q), op.modulus(), &r.z);
                    assert_eq!(rebuilt, numerator(op, x, y), "{op:?} {x:x?} {y:x?}");
                }
            }
        }
    }

    #[test]
    fn small_cases_by_hand() {
        let one = [1, 0, 0, 0, 0, 0, 0, 0];
        let two = [2, 0, 0, 0, 0, 0, 0, 0];
        let mul_p = Field256Op::from_code(0).unwrap();
        let sub_p = Field256Op::from_code(2).unwrap();
        let add_n = Field256Op::from_code(4).unwrap();
        assert_eq!(compute(mul_p, &two, &two).z, [4, 0, 0, 0, 0, 0, 0, 0]);
        // 1 − 2 = p − 1.
        let mut p_minus_1 = P;
        p_minus_1[0] -= 1;
        assert_eq!(compute(sub_p, &one, &two).z, p_minus_1);
        // (n − 1) + 2 = 1 mod n.
        let mut n_minus_1 = N;
        n_minus_1[0] -= 1;
        assert_eq!(compute(add_n, &n_minus_1, &two).z, one);
        // (p − 1)² = 1 mod p.
        assert_eq!(compute(mul_p, &p_minus_1, &p_minus_1).z, one);
        assert_eq!(Field256Op::from_code(6), None);
        assert_eq!(Field256Op::from_code(u32::MAX), None);
    }
}
