//! Property tests of seals, encodings and the chunked digest (spec
//! `SC-SEAL-*`, `SC-CHUNK-004`). Named `prop_*` so `cargo xtask proptest`
//! can run them at a nightly-sized case count.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use seal_crypto::{
    CHUNK_SIZE, ChunkTree, Digest, SEAL_VERSION, SealClaims, SealError, SealKey, sign, verify,
};

/// The default case count unless `PROPTEST_CASES` overrides it.
fn config(default_cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    config
}

fn shard_id() -> impl Strategy<Value = String> {
    // Any Unicode except controls, 1..=256 bytes.
    "\\PC{1,80}".prop_filter("fits 256 bytes", |s| s.len() <= 256)
}

fn digest() -> impl Strategy<Value = Digest> {
    any::<[u8; 32]>().prop_map(Digest::from_bytes)
}

prop_compose! {
    fn claims()(
        id in shard_id(),
        digest in digest(),
        root in digest(),
        size in 1u64..=(1 << 40),
        device in any::<u32>(),
        at in any::<u64>(),
    ) -> SealClaims {
        SealClaims::new(&id, digest, root, size, device, at).unwrap()
    }
}

fn key() -> impl Strategy<Value = SealKey> {
    prop::collection::vec(any::<u8>(), 32..=96).prop_map(|b| SealKey::from_bytes(&b).unwrap())
}

/// Decodes `SealClaims::canonical_bytes` back into claims. That the
/// encoding decodes is what makes it injective.
fn decode(bytes: &[u8]) -> SealClaims {
    let mut at = 0usize;
    let mut take = |n: usize| {
        let out = &bytes[at..at + n];
        at += n;
        out
    };
    let domain_len = u64::from_be_bytes(take(8).try_into().unwrap()) as usize;
    assert_eq!(take(domain_len), b"vram-residency/seal");
    let version = u16::from_be_bytes(take(2).try_into().unwrap());
    let mut fields = Vec::new();
    for tag in 1..=6u8 {
        assert_eq!(take(1), [tag]);
        let len = u64::from_be_bytes(take(8).try_into().unwrap()) as usize;
        fields.push(take(len).to_vec());
    }
    let u = |f: &Vec<u8>| u64::from_be_bytes(f.as_slice().try_into().unwrap());
    let claims = SealClaims {
        shard_id: String::from_utf8(fields[0].clone()).unwrap(),
        digest: Digest::from_slice(&fields[1]).unwrap(),
        chunk_root: Digest::from_slice(&fields[2]).unwrap(),
        size_bytes: u(&fields[3]),
        device_index: u32::try_from(u(&fields[4])).unwrap(),
        sealed_at_unix_ns: u(&fields[5]),
        version,
    };
    assert_eq!(at, bytes.len(), "trailing bytes");
    claims
}

/// One way of changing exactly one claim field.
fn mutate(claims: &SealClaims, field: u8, salt: u64) -> SealClaims {
    let mut c = claims.clone();
    let bump = salt | 1; // never zero, so the field always changes
    match field % 7 {
        0 => c.shard_id.push('x'),
        1 => {
            let mut b = *c.digest.as_bytes();
            b[(salt % 32) as usize] ^= 1 << (salt % 8);
            c.digest = Digest::from_bytes(b);
        }
        2 => {
            let mut b = *c.chunk_root.as_bytes();
            b[(salt % 32) as usize] ^= 1 << (salt % 8);
            c.chunk_root = Digest::from_bytes(b);
        }
        3 => c.size_bytes ^= bump,
        4 => c.device_index ^= bump as u32 | 1,
        5 => c.sealed_at_unix_ns ^= bump,
        _ => c.version = SEAL_VERSION.wrapping_add(1 + (salt % 100) as u16),
    }
    c
}

proptest! {
    #![proptest_config(config(64))]

    /// SC-SEAL-001: any valid claims sign and verify.
    #[test]
    fn prop_sign_verify_round_trip(c in claims(), k in key()) {
        let sig = sign(&k, &c).unwrap();
        prop_assert!(verify(&k, &c, sig.as_bytes()).is_ok());
    }

    /// SC-SEAL-003: flipping any single bit of the signature fails.
    #[test]
    fn prop_signature_bit_flip_fails(c in claims(), k in key(), bit in 0usize..256) {
        let mut sig = *sign(&k, &c).unwrap().as_bytes();
        sig[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(verify(&k, &c, &sig), Err(SealError::VerificationFailed));
    }

    /// SC-SEAL-003: a truncated or over-long signature fails the same way.
    #[test]
    fn prop_signature_length_change_fails(c in claims(), k in key(), cut in 0usize..32, extra in any::<u8>()) {
        let sig = sign(&k, &c).unwrap();
        prop_assert_eq!(verify(&k, &c, &sig.as_bytes()[..cut]), Err(SealError::VerificationFailed));
        let mut long = sig.as_bytes().to_vec();
        long.push(extra);
        prop_assert_eq!(verify(&k, &c, &long), Err(SealError::VerificationFailed));
    }

    /// SC-SEAL-003: changing any one claim field fails.
    #[test]
    fn prop_changed_claim_fails(c in claims(), k in key(), field in 0u8..7, salt in any::<u64>()) {
        let sig = sign(&k, &c).unwrap();
        let changed = mutate(&c, field, salt);
        prop_assert_ne!(&changed, &c);
        prop_assert_eq!(verify(&k, &changed, sig.as_bytes()), Err(SealError::VerificationFailed));
    }

    /// SC-SEAL-003: another key fails.
    #[test]
    fn prop_wrong_key_fails(c in claims(), k1 in key(), k2 in key()) {
        prop_assume!(k1.fingerprint() != k2.fingerprint());
        let sig = sign(&k1, &c).unwrap();
        prop_assert_eq!(verify(&k2, &c, sig.as_bytes()), Err(SealError::VerificationFailed));
    }

    /// SC-SEAL-002: the encoding decodes back to the same claims (so it is
    /// injective), and two different claim sets never share an encoding.
    #[test]
    fn prop_encoding_is_injective(a in claims(), b in claims(), field in 0u8..7, salt in any::<u64>()) {
        prop_assert_eq!(decode(&a.canonical_bytes()), a.clone());
        let near = mutate(&a, field, salt);
        prop_assert_ne!(near.canonical_bytes(), a.canonical_bytes());
        prop_assert_eq!(a == b, a.canonical_bytes() == b.canonical_bytes());
    }
}

proptest! {
    #![proptest_config(config(8))]

    /// SC-CHUNK-004: the chunked root does not depend on how many threads
    /// compute it.
    #[test]
    fn prop_chunked_root_independent_of_threads(len in 0usize..(5 * CHUNK_SIZE + 1000), seed in any::<u64>()) {
        let mut x = seed | 1;
        let data: Vec<u8> = (0..len).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 }).collect();
        let roots: Vec<Digest> = [1, 2, 3, 7]
            .iter()
            .map(|&threads| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| ChunkTree::from_bytes(&data).root())
            })
            .collect();
        prop_assert!(roots.windows(2).all(|w| w[0] == w[1]));
    }
}
