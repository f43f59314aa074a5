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
    CHUNK_SIZE, ChunkTree, Digest, SEAL_VERSION, SEAL_VERSION_1, SealClaims, SealError, SealKey,
    ShardPosition, sign, verify,
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

fn model_ref() -> impl Strategy<Value = Option<String>> {
    // Any Unicode except controls, paths included, 1..=1024 bytes; or none.
    prop::option::of("\\PC{1,200}".prop_filter("fits 1024 bytes", |s| s.len() <= 1024))
}

fn position() -> impl Strategy<Value = Option<ShardPosition>> {
    prop::option::of(
        (1u32..=u32::MAX)
            .prop_flat_map(|total| (0..total, Just(total)))
            .prop_map(|(index, total)| ShardPosition::new(index, total).unwrap()),
    )
}

prop_compose! {
    /// Claims at the current version, with or without each label.
    fn claims()(
        id in shard_id(),
        digest in digest(),
        root in digest(),
        size in 1u64..=(1 << 40),
        device in any::<u32>(),
        at in any::<u64>(),
        model in model_ref(),
        position in position(),
    ) -> SealClaims {
        let mut c = SealClaims::new(&id, digest, root, size, device, at).unwrap();
        if let Some(model) = model {
            c = c.with_model_ref(&model).unwrap();
        }
        if let Some(position) = position {
            c = c.with_shard_position(position).unwrap();
        }
        c
    }
}

/// Version-1 claims, as a seal stored before version 2 holds them.
fn v1_claims() -> impl Strategy<Value = SealClaims> {
    claims().prop_map(|mut c| {
        c.version = SEAL_VERSION_1;
        c.model_ref = None;
        c.shard_position = None;
        c
    })
}

fn key() -> impl Strategy<Value = SealKey> {
    prop::collection::vec(any::<u8>(), 32..=96).prop_map(|b| SealKey::from_bytes(&b).unwrap())
}

/// Decodes `SealClaims::canonical_bytes` back into claims (version 1:
/// tags 1-6; version 2: tags 1-8 with presence bytes). That the encoding
/// decodes is what makes it injective.
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
    let last_tag = if version == SEAL_VERSION_1 { 6 } else { 8 };
    let mut fields = Vec::new();
    for tag in 1..=last_tag {
        assert_eq!(take(1), [tag]);
        let len = u64::from_be_bytes(take(8).try_into().unwrap()) as usize;
        fields.push(take(len).to_vec());
    }
    let u = |f: &[u8]| u64::from_be_bytes(f.try_into().unwrap());
    let (model_ref, shard_position) = if version == SEAL_VERSION_1 {
        (None, None)
    } else {
        let model = match fields[6].split_first().unwrap() {
            (0, []) => None,
            (1, text) => Some(String::from_utf8(text.to_vec()).unwrap()),
            other => panic!("bad model_ref field {other:?}"),
        };
        let position = match fields[7].split_first().unwrap() {
            (0, []) => None,
            (1, rest) if rest.len() == 16 => Some(ShardPosition {
                index: u32::try_from(u(&rest[..8])).unwrap(),
                total: u32::try_from(u(&rest[8..])).unwrap(),
            }),
            other => panic!("bad shard_position field {other:?}"),
        };
        (model, position)
    };
    let claims = SealClaims {
        shard_id: String::from_utf8(fields[0].clone()).unwrap(),
        digest: Digest::from_slice(&fields[1]).unwrap(),
        chunk_root: Digest::from_slice(&fields[2]).unwrap(),
        size_bytes: u(&fields[3]),
        device_index: u32::try_from(u(&fields[4])).unwrap(),
        sealed_at_unix_ns: u(&fields[5]),
        version,
        model_ref,
        shard_position,
    };
    assert_eq!(at, bytes.len(), "trailing bytes");
    claims
}

/// One way of changing exactly one claim field.
fn mutate(claims: &SealClaims, field: u8, salt: u64) -> SealClaims {
    let mut c = claims.clone();
    let bump = salt | 1; // never zero, so the field always changes
    match field % 9 {
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
        6 => {
            c.model_ref = match c.model_ref.take() {
                None => Some("m".repeat(1 + (salt % 4) as usize)),
                Some(m) if salt.is_multiple_of(2) => Some(m + "x"),
                Some(_) => None,
            }
        }
        7 => {
            c.shard_position = match c.shard_position {
                None => Some(ShardPosition::new(0, 1).unwrap()),
                Some(_) if salt.is_multiple_of(3) => None,
                Some(p) if p.index + 1 < p.total => {
                    Some(ShardPosition::new(p.index + 1, p.total).unwrap())
                }
                Some(p) if p.total < u32::MAX => {
                    Some(ShardPosition::new(p.index, p.total + 1).unwrap())
                }
                Some(p) => Some(ShardPosition::new(p.index - 1, p.total).unwrap()),
            }
        }
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

    /// SC-SEAL-003: changing any one claim field, labels included, fails.
    #[test]
    fn prop_changed_claim_fails(c in claims(), k in key(), field in 0u8..9, salt in any::<u64>()) {
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
    fn prop_encoding_is_injective(a in claims(), b in claims(), old in v1_claims(), field in 0u8..9, salt in any::<u64>()) {
        prop_assert_eq!(decode(&a.canonical_bytes()), a.clone());
        prop_assert_eq!(decode(&old.canonical_bytes()), old.clone());
        let near = mutate(&a, field, salt);
        prop_assert_ne!(near.canonical_bytes(), a.canonical_bytes());
        prop_assert_eq!(a == b, a.canonical_bytes() == b.canonical_bytes());
        prop_assert_ne!(old.canonical_bytes(), a.canonical_bytes());
    }

    /// SC-SEAL-006: a version-1 seal (made before version 2 existed, so
    /// computed here as the MAC of its encoding) still verifies; changing
    /// any of its fields, or giving it a label, fails; it is not re-signed.
    #[test]
    fn prop_v1_seals_still_verify(c in v1_claims(), k in key(), field in 0u8..6, salt in any::<u64>()) {
        let stored = k.mac(&c.canonical_bytes());
        prop_assert!(verify(&k, &c, &stored).is_ok());
        prop_assert_eq!(verify(&k, &mutate(&c, field, salt), &stored), Err(SealError::VerificationFailed));
        let mut labelled = c.clone();
        labelled.model_ref = Some("m".into());
        prop_assert_eq!(verify(&k, &labelled, &stored), Err(SealError::VerificationFailed));
        prop_assert_eq!(sign(&k, &c), Err(SealError::RetiredVersion { version: SEAL_VERSION_1 }));
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
