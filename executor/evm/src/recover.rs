//! Transaction sender recovery: the secp256k1 public key from an ECDSA signature and the
//! signing hash, and the address it hashes to.
//!
//! This is the computation `alloy_consensus`'s `recover_signer` performs through k256's
//! `VerifyingKey::recover_from_prehash`, with the same acceptance rules (r and s in
//! [1, n), s ≤ n/2 per EIP-2, R decompressed from r and the y parity, a result that is not the
//! point at infinity), minus one step: k256 verifies the signature against the key it has
//! just recovered, which costs a second double-scalar multiplication and cannot fail for a
//! key computed this way. With Q = r⁻¹(s·R − z·G), verification computes
//! u₁·G + u₂·Q with u₁ = z·s⁻¹ and u₂ = r·s⁻¹, which is z·s⁻¹·G + R − z·s⁻¹·G = R, whose x
//! coordinate is r. Leaving it out halves the cost of recovery, which dominates the EVM
//! guest's cycles (docs/evm.md). The tests check the result against alloy's recovery on
//! random and malformed signatures.
//!
//! Natively (the `std` feature) [`recover_address`] runs the same rules through
//! libsecp256k1 (the `secp256k1` crate): about 4x faster than k256 on the sequencer's
//! machine, where recovery is most of the CPU time spent accepting a transaction
//! (docs/benchmarks.md). The RV32IM guest runs the same rules over the zkVM's `field256`
//! precompile ecall, [`recover_address_zkvm`](crate::secp256k1::recover_address_zkvm) (a few
//! thousand ecalls instead of millions of cycles); other no-std builds keep the pure-Rust
//! path, [`recover_address_portable`]. The tests hold every path to the same answers as alloy
//! on valid, wrong and malformed signatures.

use alloy_consensus::crypto::SECP256K1N_HALF;
use alloy_primitives::{Address, B256, Signature};
use k256::elliptic_curve::ff::PrimeField as _;
use k256::elliptic_curve::group::Group as _;
use k256::elliptic_curve::ops::{Invert as _, LinearCombination as _, Reduce};
use k256::elliptic_curve::point::DecompressPoint as _;
use k256::elliptic_curve::sec1::ToEncodedPoint as _;
use k256::elliptic_curve::subtle::Choice;
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};

/// The address that signed `prehash` with `signature`, or `None` if the signature is not a
/// valid low-s secp256k1 signature of anything (see the module docs for the rules).
pub fn recover_address(signature: &Signature, prehash: &B256) -> Option<Address> {
    #[cfg(feature = "std")]
    return recover_address_libsecp256k1(signature, prehash);
    // The guest: the same rules over the zkVM's field256 precompile (crate::secp256k1).
    #[cfg(all(not(feature = "std"), target_arch = "riscv32"))]
    return crate::secp256k1::recover_address_zkvm(signature, prehash);
    #[cfg(all(not(feature = "std"), not(target_arch = "riscv32")))]
    return recover_address_portable(signature, prehash);
}

/// [`recover_address`] through libsecp256k1 (native builds).
#[cfg(feature = "std")]
pub fn recover_address_libsecp256k1(signature: &Signature, prehash: &B256) -> Option<Address> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    if signature.s() > SECP256K1N_HALF {
        return None;
    }
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&signature.s().to_be_bytes::<32>());
    let id = RecoveryId::from_u8_masked(u8::from(signature.v()));
    // Parsing refuses r or s ≥ n; recovery refuses r or s = 0, an x with no point, and the
    // point at infinity; the message is reduced mod n as k256 does.
    let recoverable = RecoverableSignature::from_compact(&compact, id).ok()?;
    let key = recoverable
        .recover(secp256k1::Message::from_digest(prehash.0))
        .ok()?;
    // 0x04 ‖ x ‖ y; the address is the last 20 bytes of keccak(x ‖ y).
    Some(Address::from_raw_public_key(
        &key.serialize_uncompressed()[1..],
    ))
}

/// [`recover_address`] for many signatures at once, in order: eight at a time with AVX-512
/// IFMA where the processor has it ([`crate::secp256k1_x8`], several times libsecp256k1's
/// throughput), each through libsecp256k1 otherwise. The answers, refusals included, are
/// [`recover_address`]'s.
#[cfg(feature = "std")]
pub fn recover_addresses(items: &[(Signature, B256)]) -> alloc::vec::Vec<Option<Address>> {
    #[cfg(target_arch = "x86_64")]
    if items.len() >= MIN_VECTOR_BATCH && crate::secp256k1_x8::available() {
        let mut addresses = alloc::vec::Vec::with_capacity(items.len());
        for chunk in items.chunks(crate::secp256k1_x8::LANES) {
            if chunk.len() < MIN_VECTOR_BATCH {
                addresses.extend(
                    chunk
                        .iter()
                        .map(|(s, h)| recover_address_libsecp256k1(s, h)),
                );
                continue;
            }
            let vector = crate::secp256k1_x8::recover_eight(chunk);
            // Lanes the vector path leaves (refusals, rare exceptional cases) go to
            // libsecp256k1, which decides them.
            addresses.extend(
                chunk
                    .iter()
                    .zip(vector)
                    .map(|((signature, prehash), found)| {
                        found.or_else(|| recover_address_libsecp256k1(signature, prehash))
                    }),
            );
        }
        return addresses;
    }
    items
        .iter()
        .map(|(signature, prehash)| recover_address_libsecp256k1(signature, prehash))
        .collect()
}

/// The fewest signatures worth a vector recovery: eight lanes cost about as much as three
/// libsecp256k1 recoveries (docs/benchmarks.md).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
const MIN_VECTOR_BATCH: usize = 3;

/// [`recover_address`] in pure Rust over k256's curve arithmetic: the no-std path off RV32IM,
/// and the reference the other paths are tested against.
pub fn recover_address_portable(signature: &Signature, prehash: &B256) -> Option<Address> {
    if signature.s() > SECP256K1N_HALF {
        return None;
    }
    let r_bytes = FieldBytes::from(signature.r().to_be_bytes::<32>());
    let s_bytes = FieldBytes::from(signature.s().to_be_bytes::<32>());
    // `from_repr` refuses values ≥ n; zero is refused below.
    let r = Option::<Scalar>::from(Scalar::from_repr(r_bytes))?;
    let s = Option::<Scalar>::from(Scalar::from_repr(s_bytes))?;
    if bool::from(r.is_zero() | s.is_zero()) {
        return None;
    }
    let z = <Scalar as Reduce<k256::U256>>::reduce_bytes(&FieldBytes::from(prehash.0));
    // R: the point with x = r (r < n < p, so no reduction to undo) and the given y parity.
    let parity = Choice::from(u8::from(signature.v()));
    let big_r = Option::<AffinePoint>::from(AffinePoint::decompress(&r_bytes, parity))?;
    // r is public: a variable-time inversion (binary extended Euclid) leaks nothing secret.
    let r_inv = Option::<Scalar>::from(r.invert_vartime())?;
    let u1 = -(r_inv * z);
    let u2 = r_inv * s;
    let q = ProjectivePoint::lincomb(
        &ProjectivePoint::GENERATOR,
        &u1,
        &ProjectivePoint::from(big_r),
        &u2,
    );
    if bool::from(q.is_identity()) {
        return None;
    }
    let encoded = q.to_affine().to_encoded_point(false);
    // 0x04 ‖ x ‖ y; the address is the last 20 bytes of keccak(x ‖ y).
    Some(Address::from_raw_public_key(encoded.as_bytes().get(1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::crypto::secp256k1::recover_signer;
    use alloy_primitives::{U256, keccak256};
    use k256::ecdsa::SigningKey;

    /// secp256k1's group order n.
    const N: U256 = U256::from_be_bytes(alloy_primitives::hex!(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
    ));

    fn sign(key: &SigningKey, prehash: &B256) -> Signature {
        let (sig, id) = key.sign_prehash_recoverable(prehash.as_slice()).unwrap();
        Signature::from_signature_and_parity(sig, id.is_y_odd())
    }

    fn alloy(signature: &Signature, prehash: &B256) -> Option<Address> {
        recover_signer(signature, *prehash).ok()
    }

    type Recover = fn(&Signature, &B256) -> Option<Address>;

    /// Every recovery path this build has, each held to alloy's answers.
    const PATHS: &[(&str, Recover)] = &[
        ("portable", recover_address_portable),
        ("libsecp256k1", recover_address_libsecp256k1),
        ("zkvm", crate::secp256k1::recover_address_zkvm),
        ("default", recover_address),
        ("batch", batch_of_one),
    ];

    /// [`recover_addresses`] over eight copies of one signature, interleaved with seven
    /// other (valid) signatures so the vector path sees mixed lanes; every copy must agree.
    fn batch_of_one(signature: &Signature, prehash: &B256) -> Option<Address> {
        let key = SigningKey::from_slice(&[3; 32]).unwrap();
        let mut items = alloc::vec::Vec::new();
        for i in 0..8u8 {
            items.push((*signature, *prehash));
            let other = keccak256([i]);
            items.push((sign(&key, &other), other));
        }
        let found = recover_addresses(&items);
        let signer = Some(Address::from_public_key(key.verifying_key()));
        for pair in found.chunks(2) {
            assert_eq!(pair[0], found[0], "every copy recovers the same");
            assert_eq!(pair[1], signer, "the interleaved signatures are unaffected");
        }
        found[0]
    }

    #[test]
    fn agrees_with_alloy_on_valid_signatures() {
        for &(path, recover_address) in PATHS {
            for i in 0u32..40 {
                let key = SigningKey::from_slice(keccak256(i.to_be_bytes()).as_slice()).unwrap();
                let prehash = keccak256([i.to_be_bytes(), [7; 4]].concat());
                let signature = sign(&key, &prehash);
                let expected = Address::from_public_key(key.verifying_key());
                assert_eq!(
                    recover_address(&signature, &prehash),
                    Some(expected),
                    "{path}"
                );
                assert_eq!(alloy(&signature, &prehash), Some(expected));
                // Another message or the other parity gives another key (or none): never the
                // signer.
                let other = keccak256(prehash);
                let theirs = alloy(&signature, &other);
                assert_eq!(recover_address(&signature, &other), theirs, "{path}");
                assert_ne!(theirs, Some(expected));
                let flipped = signature.with_parity(!signature.v());
                let theirs = alloy(&flipped, &prehash);
                assert_eq!(recover_address(&flipped, &prehash), theirs, "{path}");
                assert_ne!(theirs, Some(expected));
            }
        }
    }

    #[test]
    fn refuses_what_alloy_refuses() {
        let key = SigningKey::from_slice(&[9; 32]).unwrap();
        let prehash = keccak256(b"zkbox");
        let good = sign(&key, &prehash);
        let (r, s) = (good.r(), good.s());
        let cases = [
            ("high s (EIP-2)", Signature::new(r, N - s, !good.v())),
            ("r = 0", Signature::new(U256::ZERO, s, good.v())),
            ("s = 0", Signature::new(r, U256::ZERO, good.v())),
            ("r = n", Signature::new(N, s, good.v())),
            ("r > n", Signature::new(N + U256::from(5), s, good.v())),
            ("s = n", Signature::new(r, N, good.v())),
            ("r = max", Signature::new(U256::MAX, s, good.v())),
        ];
        for &(path, recover_address) in PATHS {
            for (what, signature) in &cases {
                assert_eq!(recover_address(signature, &prehash), None, "{path}: {what}");
                assert_eq!(alloy(signature, &prehash), None, "{what}");
            }
            // x values with no point on the curve: both refuse the same ones.
            let mut refused = 0;
            for x in 1u64..40 {
                let signature = Signature::new(U256::from(x), s, false);
                let ours = recover_address(&signature, &prehash);
                assert_eq!(ours, alloy(&signature, &prehash), "{path}: r = {x}");
                refused += usize::from(ours.is_none());
            }
            assert!(
                refused > 5,
                "about half of all x have no point: {refused} of 39"
            );
        }
    }

    #[test]
    fn paths_agree_on_random_signatures_and_messages() {
        // Random (r, s, parity, message): mostly not a signature of anything the signer
        // meant, but each is either a key or a refusal, and every path must say the same.
        let mut seed = keccak256(b"recover paths");
        let mut agreed_keys = 0;
        for _ in 0..200 {
            let r = U256::from_be_bytes(seed.0);
            seed = keccak256(seed);
            let s = U256::from_be_bytes(seed.0) >> (seed[0] % 4) as usize;
            seed = keccak256(seed);
            let signature = Signature::new(r, s, seed[0] & 1 == 1);
            let expected = alloy(&signature, &seed);
            for &(path, recover_address) in PATHS {
                assert_eq!(recover_address(&signature, &seed), expected, "{path}");
            }
            agreed_keys += usize::from(expected.is_some());
            seed = keccak256(seed);
        }
        assert!(agreed_keys > 20, "too few recoverable cases: {agreed_keys}");
    }
}
