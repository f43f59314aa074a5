//! Every bad input gets its typed error and nothing panics (spec `SC-ERR-001`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use seal_crypto::{
    ChunkTree, ChunkedError, Digest, DigestError, KeyError, SEAL_VERSION_1, SealClaims, SealError,
    SealKey, ShardPosition, Signature, WorkerSecret, context, sha256, sign, validate_model_ref,
    verify,
};

fn valid() -> SealClaims {
    SealClaims::new("model:shard-0", sha256(b"w"), sha256(b"r"), 1, 0, 0).unwrap()
}

#[test]
fn claims_are_validated_before_signing() {
    let (d, r) = (sha256(b"w"), sha256(b"r"));
    assert_eq!(
        SealClaims::new("", d, r, 1, 0, 0),
        Err(SealError::EmptyShardId)
    );
    assert_eq!(
        SealClaims::new(&"a".repeat(257), d, r, 1, 0, 0),
        Err(SealError::ShardIdTooLong {
            max: 256,
            actual: 257
        })
    );
    assert!(SealClaims::new(&"a".repeat(256), d, r, 1, 0, 0).is_ok());
    assert_eq!(
        SealClaims::new("s", d, r, 0, 0, 0),
        Err(SealError::ZeroSize)
    );
    // Claims built by hand are checked again at signing.
    let key = SealKey::from_bytes(&[3; 32]).unwrap();
    let mut c = valid();
    c.size_bytes = 0;
    assert_eq!(sign(&key, &c), Err(SealError::ZeroSize));
    c = valid();
    c.shard_id.clear();
    assert_eq!(sign(&key, &c), Err(SealError::EmptyShardId));
}

/// SC-SEAL-004: the labels of version 2 are validated, with typed errors
/// that name bounds and positions but never echo the text.
#[test]
fn labels_are_validated() {
    assert_eq!(validate_model_ref(""), Err(SealError::EmptyModelRef));
    assert_eq!(
        validate_model_ref(&"m".repeat(1025)),
        Err(SealError::ModelRefTooLong {
            max: 1024,
            actual: 1025
        })
    );
    assert_eq!(validate_model_ref(&"m".repeat(1024)), Ok(()));
    for (text, position) in [("a\0b", 1), ("\u{1b}[31m", 0), ("é\u{85}", 2), ("x\n", 1)] {
        let err = validate_model_ref(text).unwrap_err();
        assert_eq!(
            err,
            SealError::ModelRefControlCharacter { position },
            "{text:?}"
        );
        assert!(!err.to_string().contains(text), "{err}");
    }
    // Paths, catalog names and non-ASCII names are references too.
    for ok in [
        "/models/llama/model-00001-of-00002.safetensors",
        "hf:meta/llama@abc",
        "modèle",
    ] {
        assert_eq!(validate_model_ref(ok), Ok(()), "{ok}");
    }
    assert_eq!(ShardPosition::new(0, 0), Err(SealError::ZeroTotalShards));
    assert_eq!(
        ShardPosition::new(2, 2),
        Err(SealError::ShardIndexOutOfRange { index: 2, total: 2 })
    );
    assert_eq!(
        ShardPosition::new(u32::MAX, u32::MAX),
        Err(SealError::ShardIndexOutOfRange {
            index: u32::MAX,
            total: u32::MAX
        })
    );
    assert!(ShardPosition::new(0, 1).is_ok());
    assert_eq!(valid().with_model_ref(""), Err(SealError::EmptyModelRef));
    // Hand-built claims are checked again when signed and never verify.
    let key = SealKey::from_bytes(&[3; 32]).unwrap();
    let mut c = valid();
    c.shard_position = Some(ShardPosition { index: 3, total: 3 });
    assert_eq!(
        sign(&key, &c),
        Err(SealError::ShardIndexOutOfRange { index: 3, total: 3 })
    );
    c = valid();
    c.model_ref = Some("a\rb".into());
    assert_eq!(
        sign(&key, &c),
        Err(SealError::ModelRefControlCharacter { position: 1 })
    );
}

/// SC-SEAL-006: new seals are version 2; version 1 cannot carry labels and
/// is not signed any more; unknown versions are refused by name.
#[test]
fn versions_are_typed() {
    let key = SealKey::from_bytes(&[3; 32]).unwrap();
    let mut c = valid();
    assert_eq!(c.version, 2);
    c.version = SEAL_VERSION_1;
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(
        sign(&key, &c),
        Err(SealError::RetiredVersion { version: 1 })
    );
    c.model_ref = Some("m".into());
    assert_eq!(
        c.validate(),
        Err(SealError::LabelsNeedNewerVersion { version: 1 })
    );
    c = valid();
    c.version = 3;
    assert_eq!(
        sign(&key, &c),
        Err(SealError::UnsupportedVersion { version: 3 })
    );
    let sig = sign(&key, &valid()).unwrap();
    assert_eq!(
        verify(&key, &c, sig.as_bytes()),
        Err(SealError::VerificationFailed)
    );
}

#[test]
fn wrong_length_digests_and_signatures_are_typed() {
    assert_eq!(
        Digest::from_slice(&[0; 33]),
        Err(DigestError::WrongLength {
            expected: 32,
            actual: 33
        })
    );
    assert_eq!(
        "zz".repeat(32).parse::<Digest>(),
        Err(DigestError::NotHex { position: 0 })
    );
    assert_eq!(
        Signature::from_slice(&[0; 16]),
        Err(SealError::WrongLength {
            field: "signature",
            expected: 32,
            actual: 16
        })
    );
}

#[test]
fn any_signature_mismatch_is_one_error_kind() {
    let secret = WorkerSecret::new(&[8; 40]).unwrap();
    let key = SealKey::derive(&secret, context::SEAL).unwrap();
    let other = SealKey::derive(&secret, context::AUDIT_CHAIN).unwrap();
    let c = valid();
    let sig = sign(&key, &c).unwrap();
    for bad in [
        &[][..],
        &[0u8; 32][..],
        &sig.as_bytes()[..31],
        &[0u8; 64][..],
    ] {
        assert_eq!(verify(&key, &c, bad), Err(SealError::VerificationFailed));
    }
    assert_eq!(
        verify(&other, &c, sig.as_bytes()),
        Err(SealError::VerificationFailed)
    );
    // Invalid claims never verify, and say nothing more than a mismatch.
    let mut zero = c.clone();
    zero.size_bytes = 0;
    assert_eq!(
        verify(&key, &zero, sig.as_bytes()),
        Err(SealError::VerificationFailed)
    );
    // Debug shows the hex (a seal is not secret), named.
    assert_eq!(format!("{sig:?}"), format!("Signature({sig})"));
    // Round-trip through the signature's own text form.
    let parsed: Signature = serde_json::from_str(&serde_json::to_string(&sig).unwrap()).unwrap();
    assert!(verify(&key, &c, parsed.as_bytes()).is_ok());
}

/// SC-KEY-001: secrets and keys of 32 to 1024 bytes; the error names the
/// bound.
#[test]
fn sc_key_001_key_bounds_name_the_bound() {
    for (len, want) in [
        (0, KeyError::Empty),
        (
            31,
            KeyError::TooShort {
                min: 32,
                actual: 31,
            },
        ),
        (
            1025,
            KeyError::TooLong {
                max: 1024,
                actual: 1025,
            },
        ),
    ] {
        assert_eq!(SealKey::from_bytes(&vec![1; len]).unwrap_err(), want);
        assert_eq!(WorkerSecret::new(&vec![1; len]).unwrap_err(), want);
    }
    let msg = KeyError::TooLong {
        max: 1024,
        actual: 2000,
    }
    .to_string();
    assert!(msg.contains("1024") && msg.contains("2000"), "{msg}");
}

#[test]
fn errors_never_show_key_bytes() {
    let key = SealKey::from_bytes(&[0x5A; 32]).unwrap();
    let secret = WorkerSecret::new(&[0x5A; 32]).unwrap();
    for shown in [format!("{key:?}"), format!("{secret:?}")] {
        assert!(!shown.to_lowercase().contains("5a5a"), "{shown}");
        assert!(!shown.contains("90, 90"), "{shown}");
    }
}

/// SC-CHUNK-002: a changed chunk, a wrong index or a chunk of the wrong
/// length for its position are typed errors.
#[test]
fn sc_chunk_002_chunk_errors_are_typed() {
    let tree = ChunkTree::from_bytes(&[0; 10]);
    assert_eq!(
        tree.check_chunk(0, &[1; 10]),
        Err(ChunkedError::Mismatch { index: 0 })
    );
    assert_eq!(
        tree.check_chunk(4, &[0; 10]),
        Err(ChunkedError::NoSuchChunk { index: 4, count: 1 })
    );
    let proof = tree.proof(0).unwrap();
    // A chunk of the wrong length for its position never verifies.
    assert_eq!(
        seal_crypto::verify_chunk(&tree.root(), 10, &[0; 9], &proof),
        Err(ChunkedError::Mismatch { index: 0 })
    );
}
