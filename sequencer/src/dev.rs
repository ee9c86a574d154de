//! The development chain's accounts: keys derived from a BIP-39 mnemonic along the BIP-44
//! Ethereum path `m/44'/60'/0'/0/i`, as anvil and hardhat derive them, and transaction
//! signing with such a key.
//!
//! Derivation (BIP-39 then BIP-32), written out here because it is short:
//! - seed = PBKDF2-HMAC-SHA512(password = the phrase, salt = "mnemonic", 2048 rounds, 64 bytes);
//! - master key, chain code = the halves of HMAC-SHA512(key = "Bitcoin seed", seed);
//! - child i of (k, c): I = HMAC-SHA512(c, 0x00 ‖ k ‖ i) for hardened i (≥ 2^31), else
//!   HMAC-SHA512(c, compressed public key of k ‖ i); the child key is I[..32] + k mod n and
//!   its chain code I[32..].
//!
//! The phrase is not checked against the BIP-39 word list (its checksum is not verified):
//! any phrase derives keys, and the standard one derives anvil's accounts, which the tests
//! check address by address.

use alloy_consensus::{SignableTransaction, TxEnvelope};
use alloy_primitives::{Address, B256, Signature};
use k256::ecdsa::SigningKey;
use k256::elliptic_curve::PrimeField;
use sha2::{Digest, Sha512};

/// The mnemonic anvil and hardhat fund by default.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// A private key and its address.
#[derive(Clone)]
pub struct DevKey {
    key: SigningKey,
    /// The same secret for libsecp256k1, which signs about 4x faster than k256 here (the
    /// load generator signs every transaction of a run up front).
    signer: secp256k1::SecretKey,
    /// The account's address.
    pub address: Address,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("DevKey")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl DevKey {
    /// A key from its 32 secret bytes; `None` if they are not a valid secp256k1 scalar.
    pub fn from_bytes(secret: &[u8; 32]) -> Option<Self> {
        let key = SigningKey::from_bytes(secret.into()).ok()?;
        Some(Self::from_signing_key(key))
    }

    /// A key from a 32-byte seed, for tests and load generators that need many accounts:
    /// the secret is keccak(seed), retried on the (negligible) chance it is not a scalar.
    pub fn from_seed(seed: B256) -> Self {
        let mut secret = alloy_primitives::keccak256(seed);
        loop {
            if let Some(key) = Self::from_bytes(&secret.0) {
                return key;
            }
            secret = alloy_primitives::keccak256(secret);
        }
    }

    fn from_signing_key(key: SigningKey) -> Self {
        let point = key.verifying_key().to_encoded_point(false);
        let hash = alloy_primitives::keccak256(&point.as_bytes()[1..]);
        let address = Address::from_slice(&hash[12..]);
        let signer = secp256k1::SecretKey::from_byte_array(key.to_bytes().into())
            .expect("a k256 signing key is a valid secp256k1 secret");
        DevKey {
            key,
            signer,
            address,
        }
    }

    /// Signs `tx` and returns the signed envelope.
    pub fn sign<T>(&self, tx: T) -> TxEnvelope
    where
        T: SignableTransaction<Signature>,
        TxEnvelope: From<alloy_consensus::Signed<T>>,
    {
        let hash = tx.signature_hash();
        // RFC 6979 nonces and low-s normalisation, as k256 and every Ethereum signer use:
        // the same signature k256 would give (the tests compare).
        let (id, rs) = secp256k1::SECP256K1
            .sign_ecdsa_recoverable(secp256k1::Message::from_digest(hash.0), &self.signer)
            .serialize_compact();
        let signature = Signature::new(
            alloy_primitives::U256::from_be_slice(&rs[..32]),
            alloy_primitives::U256::from_be_slice(&rs[32..]),
            i32::from(id) & 1 == 1,
        );
        tx.into_signed(signature).into()
    }

    /// The secret key's bytes (for handing to tools; never log them).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }
}

/// The first `count` accounts of `phrase` (path `m/44'/60'/0'/0/i`), with an empty password.
pub fn dev_keys(phrase: &str, count: u32) -> Vec<DevKey> {
    let seed = pbkdf2_sha512(phrase.as_bytes(), b"mnemonic", 2048);
    let master = hmac_sha512(b"Bitcoin seed", &seed);
    let mut node = ExtendedKey::from_hmac(&master);
    const H: u32 = 1 << 31;
    for index in [44 | H, 60 | H, H, 0] {
        node = node.child(index);
    }
    (0..count)
        .map(|i| DevKey::from_signing_key(node.child(i).key))
        .collect()
}

struct ExtendedKey {
    key: SigningKey,
    chain_code: [u8; 32],
}

impl ExtendedKey {
    fn from_hmac(i: &[u8; 64]) -> Self {
        let key = SigningKey::from_bytes(i[..32].into())
            .expect("HMAC output is a valid key except with negligible probability");
        ExtendedKey {
            key,
            chain_code: i[32..].try_into().expect("32 bytes"),
        }
    }

    fn child(&self, index: u32) -> Self {
        let mut data = Vec::with_capacity(37);
        if index >= 1 << 31 {
            data.push(0);
            data.extend_from_slice(&self.key.to_bytes());
        } else {
            let public = self.key.verifying_key().to_encoded_point(true);
            data.extend_from_slice(public.as_bytes());
        }
        data.extend_from_slice(&index.to_be_bytes());
        let i = hmac_sha512(&self.chain_code, &data);
        let tweak = k256::Scalar::from_repr(k256::FieldBytes::from(
            <[u8; 32]>::try_from(&i[..32]).expect("32 bytes"),
        ))
        .into_option()
        .expect("a child tweak below the group order, except with negligible probability");
        let parent = *self.key.as_nonzero_scalar().as_ref();
        let child = parent + tweak;
        let key = SigningKey::from_bytes(&child.to_bytes())
            .expect("a non-zero child key, except with negligible probability");
        ExtendedKey {
            key,
            chain_code: i[32..].try_into().expect("32 bytes"),
        }
    }
}

/// HMAC (RFC 2104) with SHA-512.
fn hmac_sha512(key: &[u8], message: &[u8]) -> [u8; 64] {
    const BLOCK: usize = 128;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..64].copy_from_slice(&Sha512::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha512::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha512::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// PBKDF2 (RFC 8018) with HMAC-SHA512, one 64-byte block.
fn pbkdf2_sha512(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 64] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha512(password, &first);
    let mut out = u;
    for _ in 1..rounds {
        u = hmac_sha512(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// The ten accounts anvil and hardhat fund with [`DEV_MNEMONIC`], as they print them: written
/// out (not derived) so that tests can check derivation and funding against them.
pub const ANVIL_ACCOUNTS: [&str; 10] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
];

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::transaction::SignerRecoverable;

    #[test]
    fn the_standard_mnemonic_derives_anvils_accounts() {
        let keys = dev_keys(DEV_MNEMONIC, 10);
        for (key, want) in keys.iter().zip(ANVIL_ACCOUNTS) {
            assert_eq!(key.address, want.parse::<Address>().unwrap());
        }
        assert_ne!(dev_keys("another phrase", 1)[0].address, keys[0].address);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha512(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            alloy_primitives::hex::encode(mac),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn signed_transactions_recover_to_the_signer() {
        let key = DevKey::from_seed(B256::with_last_byte(7));
        let mut parities = [0; 2];
        for nonce in 0..24 {
            let tx = alloy_consensus::TxEip1559 {
                chain_id: 31337,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 2,
                max_priority_fee_per_gas: 1,
                to: alloy_primitives::TxKind::Call(Address::ZERO),
                ..Default::default()
            };
            let signed = key.sign(tx.clone());
            assert_eq!(signed.recover_signer().unwrap(), key.address);
            // The same deterministic signature as k256's.
            let (sig, id) = key
                .key
                .sign_prehash_recoverable(tx.signature_hash().as_slice())
                .unwrap();
            let expected = Signature::from_signature_and_parity(sig, id.is_y_odd());
            assert_eq!(signed.signature(), &expected, "nonce {nonce}");
            parities[usize::from(expected.v())] += 1;
        }
        assert!(
            parities[0] > 0 && parities[1] > 0,
            "both parities: {parities:?}"
        );
        assert!(!format!("{key:?}").contains(&alloy_primitives::hex::encode(key.secret_bytes())));
    }
}
