//! Published signed-note, key and checkpoint vectors, and the parser
//! pitfalls the reference notes list (spec `TL-KEY-*`, `TL-NOTE-*`,
//! `TL-COSIG-*`, `TL-CKPT-*`): Go's `sumdb/note` tests (PeterNeumann,
//! EnochRoot and the malformed-note suite), the C2SP signed-note example,
//! the transparency-dev/formats test key, the Armored Witness cosignatures
//! of a Pixel transparency log checkpoint, a Sigsum tree head, Go's sumdb
//! tree note, and the self-generated `example.com/gpu-audit-log` fixtures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tlog::{
    Checkpoint, CheckpointError, Hash, HashError, KeyError, KeyId, MAX_SIGNATURES, Note, NoteError,
    NoteSignature, SignError, SignatureType, SignerKey, VerifierKey, leaf_hash, open_checkpoint,
};

// ---- golang.org/x/mod/sumdb/note note_test.go ----

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SEED: &str = "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173";
const PETER_PUB: &str = "1a5cd907143c384c41e830c5bce12aa8817ec5649aaabf2c31388b35b2d744d6";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// ---- C2SP signed-note.md ----

const C2SP_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const C2SP_NOTE: &str = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

// ---- transparency-dev/formats log/note_test.go ----

const FORMATS_LOG_SKEY: &str =
    "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ";
const FORMATS_LOG_VKEY: &str = "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs";

// ---- transparency-dev/witness README.md, armored-witness devices/prod ----

const PIXEL_ORIGIN: &str = "developers.google.com/android/binary_transparency/0";
const PIXEL_NOTE: &str = "developers.google.com/android/binary_transparency/0
611
2GZ1zmS5VkfUZmn2ZyR4KZXwHLD+xnwBIWzql/cD50w=

— pixel_transparency_log csh42zBFAiAd3Y1FwqNTt5RglY0uG7heC6Yu1gEbXXPYmZ7LdOILMAIhAIt68PnR/3TADAaC7hvrSHbpziV7TmpIwOUydLmcjyTQ
— ArmoredWitness-small-breeze nRq5UQAAAABnoqrsRIofXn68vTohcAm2KG4ACGyRPNePUk02BSWD0WKV5ElejTk5Z+Tm3GmJ5j/etA+fkL9XuaQsnTyZbr437sF4AQ==
— ArmoredWitness-autumn-wood qZb5XQAAAABnoqrl57G9CblEl3lwwuqzbaJvVMqNiZCbYZseYT1YZHYmls3CmT1wxZ1fNgM4RxHuUxjAwcI2ghTx6R5aCg+L0DGPBA==
";
const SMALL_BREEZE_VKEY: &str =
    "ArmoredWitness-small-breeze+7b3ada3a+AQAWYpUjfGGPQiWOgt6sLWap0P9rVOe+Ofu2uNZbO4FD";
const AUTUMN_WOOD_VKEY: &str =
    "ArmoredWitness-autumn-wood+863571a5+AesIVCbad7gbU07JnA6YfZD0qg4B1c8xF4ISdnt9vjip";

// ---- sigsum-go pkg/types/tree_head_test.go TestSignedTreeHeadVerify ----

/// The raw Ed25519 key of `AAAAC3NzaC1lZDI1NTE5AAAAIN6kw3w2…jpdQ`.
const SIGSUM_PUB: &str = "dea4c37c360568e528b76bb67bf821a37ece0f3f46928603df006db4f08e9750";
const SIGSUM_ORIGIN: &str =
    "sigsum.org/v1/tree/1f8d4547082a5985ad0e59ffe219f7a065e09c6b77a0012daf276e5dd1805b4b";
const SIGSUM_LINE_B64: &str =
    "ofCbgMYOUVG50PDvr1cCLA7DBsDwJ1r+9pMzzInfT9oyjIeUn8+kRWTzUCCTikzWwcULwDSbL1S4L19hBLnNUr4s2Q4=";

// ---- self-generated fixtures (reference §2.3; RFC 8032 is deterministic) ----

const LOG_ORIGIN: &str = "example.com/gpu-audit-log";
const LOG_VKEY: &str =
    "example.com/gpu-audit-log+99787c43+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const WITNESS_VKEY: &str =
    "example.com/witness1+d8fdbfae+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X";
const CHECKPOINT_8: &str = "example.com/gpu-audit-log
8
XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=

— example.com/gpu-audit-log mXh8Q17aErwq/jeggBkRi+JBrbMDWVVJhfSw3Pc2H5YlhZZDLKBakUH+A4bSFeJF8QdfucntHtUuMKIpu/0+4NirSAY=
";
const CHECKPOINT_6_ROOT: &str = "duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=";
const CHECKPOINT_6_LINE: &str = "— example.com/gpu-audit-log mXh8QxuI3biwYzmBe1BLmPAUSWUZjZ+b50UUPAMbEMHpqkMyio4POA+miOBWm60YrBdrR8yYSA4uDZKO3qpxc72X+gY=";
const WITNESS_LINE_1700000000: &str = "— example.com/witness1 2P2/rgAAAABlU/EARRnb6lIFWctJWourNMUCxfBxtbRDOJWkRkVlkUMUIh8UzwSgoYknkjAOw8Ht0wX6T7pU0fm6HH5Cl4Sus5QyAA==";
/// The 8 transparency-dev test leaves' root (hex), what `CHECKPOINT_8` commits to.
const ROOT_8: &str = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn seq_seed(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start + i as u8)
}

fn log_signer() -> SignerKey {
    SignerKey::from_seed(LOG_ORIGIN, SignatureType::Ed25519, &seq_seed(0)).unwrap()
}

fn witness_signer() -> SignerKey {
    SignerKey::from_seed(
        "example.com/witness1",
        SignatureType::Cosignature,
        &seq_seed(0x20),
    )
    .unwrap()
}

fn vk(s: &str) -> VerifierKey {
    VerifierKey::parse(s).unwrap()
}

/// The checkpoint text of a note (everything before the signatures).
fn body(note: &str) -> &str {
    &note[..note.rfind("\n\n").unwrap() + 1]
}

/// TL-KEY-002, TL-KEY-003: PeterNeumann's skey gives the published seed,
/// public key and vkey; both print back byte for byte.
#[test]
fn tl_key_002_tl_key_003_peter_neumann_keys() {
    let signer = SignerKey::parse(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), KeyId::new(0xc74f20a3));
    assert_eq!(signer.kind(), SignatureType::Ed25519);
    assert_eq!(signer.to_skey().as_str(), PETER_SKEY);
    let from_seed =
        SignerKey::from_seed("PeterNeumann", SignatureType::Ed25519, &unhex(PETER_SEED)).unwrap();
    assert_eq!(from_seed.to_skey().as_str(), PETER_SKEY);
    let vkey = signer.verifier_key();
    assert_eq!(vkey.to_string(), PETER_VKEY);
    assert_eq!(vkey.public_key(), unhex::<32>(PETER_PUB));
    assert_eq!(vk(PETER_VKEY), vkey);
    assert_eq!(vk(PETER_VKEY).key_id().to_string(), "c74f20a3");
}

/// TL-NOTE-001, TL-NOTE-002: `TestSign`: the signature line regenerates byte
/// for byte, the raw signature is the published one, and signing again
/// replaces a line of the same key.
#[test]
fn tl_note_001_tl_note_002_peter_neumann_signs() {
    let signer = SignerKey::parse(PETER_SKEY).unwrap();
    let mut note = Note::new(PETER_TEXT).unwrap();
    note.sign(&signer).unwrap();
    let want = format!("{PETER_TEXT}\n{PETER_SIG}");
    assert_eq!(note.to_string(), want);
    assert_eq!(note.to_bytes(), want.as_bytes());
    let raw = note.signatures()[0].signature();
    assert_eq!(raw.len(), 64);
    assert_eq!(raw[..4], [0xf6, 0x49, 0x92, 0xe0]);
    assert_eq!(raw[60..], [0x1c, 0x09, 0x9c, 0x03]);

    let mut prefilled = Note::new(PETER_TEXT).unwrap();
    prefilled
        .add_signature(NoteSignature::new("PeterNeumann", KeyId::new(0xc74f20a3), vec![1]).unwrap())
        .unwrap();
    prefilled.sign(&signer).unwrap();
    assert_eq!(prefilled.to_string(), want);

    assert_eq!(Note::new("abc"), Err(NoteError::BadText));
    assert_eq!(Note::new(""), Err(NoteError::BadText));
    assert!(NoteSignature::new("a+b", KeyId::new(0), vec![1]).is_err());
    assert!(NoteSignature::new("a", KeyId::new(0), vec![]).is_err());
    assert!(matches!(
        signer.to_cosigner().verifier_key().kind(),
        SignatureType::Cosignature
    ));
    assert!(matches!(
        note.cosign(&signer, 1),
        Err(NoteError::Sign(SignError::WrongKeyType { .. }))
    ));
}

/// TL-NOTE-002, TL-NOTE-004: `TestOpen`: one verified and one unknown,
/// both verified, neither, an ambiguous key list, a corrupted signature,
/// and duplicated lines.
#[test]
fn tl_note_002_tl_note_004_open() {
    let peter = vk(PETER_VKEY);
    let enoch = vk(ENOCH_VKEY);
    let both = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let note = Note::parse(both.as_bytes()).unwrap();
    assert_eq!(note.text(), PETER_TEXT);
    assert_eq!(note.to_string(), both);

    let one = note.verify(std::slice::from_ref(&peter)).unwrap();
    assert_eq!(one.verified().len(), 1);
    assert_eq!(one.verified()[0].name, "PeterNeumann");
    assert_eq!(one.verified()[0].key_id, KeyId::new(0xc74f20a3));
    assert_eq!(one.verified()[0].timestamp, None);
    assert_eq!(one.unverified().len(), 1);
    assert_eq!(one.unverified()[0].name(), "EnochRoot");
    assert_eq!(one.unverified()[0].key_id(), KeyId::new(0xaf0cfe78));
    assert!(one.is_signed_by(&peter));
    assert!(!one.is_signed_by(&enoch));

    let two = note.verify(&[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(two.verified().len(), 2);
    assert!(two.unverified().is_empty());

    assert_eq!(
        note.verify(&[]),
        Err(NoteError::NoVerifiedSignature { unverified: 2 })
    );

    let enoch_only = Note::parse(format!("{PETER_TEXT}\n{ENOCH_SIG}").as_bytes()).unwrap();
    let err = enoch_only
        .verify(&[enoch.clone(), peter.clone(), enoch.clone()])
        .unwrap_err();
    assert_eq!(
        err,
        NoteError::AmbiguousKey {
            name: "EnochRoot".into(),
            key_id: KeyId::new(0xaf0cfe78)
        }
    );
    assert!(err.to_string().contains("EnochRoot"));
    // An unused duplicate is harmless.
    let peter_only = Note::parse(format!("{PETER_TEXT}\n{PETER_SIG}").as_bytes()).unwrap();
    peter_only
        .verify(&[enoch.clone(), peter.clone(), enoch.clone()])
        .unwrap();

    // "ABCD" inserted at byte 60 of Peter's line: a known key's signature
    // fails, so the whole note is rejected.
    let corrupt = format!("{PETER_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(
        Note::parse(corrupt.as_bytes())
            .unwrap()
            .verify(std::slice::from_ref(&peter)),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: KeyId::new(0xc74f20a3)
        })
    );

    // Duplicated verified and unverified lines: one of each kept.
    let enoch_abcd = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    let dup = format!("{PETER_TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_abcd}");
    let opened = Note::parse(dup.as_bytes())
        .unwrap()
        .verify(std::slice::from_ref(&peter))
        .unwrap();
    assert_eq!(opened.verified().len(), 1);
    assert_eq!(opened.unverified().len(), 2);
    assert_eq!(
        opened.unverified()[1].to_string(),
        enoch_abcd.trim_end_matches('\n')
    );
}

/// TL-NOTE-001: `TestOpen`'s malformed messages, and more.
#[test]
fn tl_note_001_malformed_notes() {
    let peter = vk(PETER_VKEY);
    let bad: Vec<Vec<u8>> = vec![
        PETER_TEXT.into(),
        format!("{PETER_TEXT}\n").into(),
        format!("{PETER_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]).into(),
        format!("\x01{PETER_TEXT}\n{PETER_SIG}").into(),
        [b"\xff".as_slice(), format!("{PETER_TEXT}\n{PETER_SIG}").as_bytes()].concat(),
        format!("{PETER_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=").into(),
        format!("{PETER_TEXT}\n{PETER_SIG}Unexpected line.\n").into(),
        // More: CR, tab, NUL in the text; a hyphen instead of an em dash;
        // no space; bad base64; a 4-byte (ID only) signature; an empty
        // line inside the signature block; an empty note.
        format!("a\r\n\n{PETER_SIG}").into(),
        format!("a\tb\n\n{PETER_SIG}").into(),
        format!("a\0\n\n{PETER_SIG}").into(),
        format!("{PETER_TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").into(),
        format!("{PETER_TEXT}\n—PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").into(),
        format!("{PETER_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n").into(),
        format!("{PETER_TEXT}\n— PeterNeumann \n").into(),
        format!("{PETER_TEXT}\n— PeterNeumann\n").into(),
        format!("{PETER_TEXT}\n— +x x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").into(),
        b"".to_vec(),
        b"\n\n".to_vec(),
    ];
    for msg in bad {
        let result = Note::parse(&msg);
        assert!(
            result.is_err(),
            "{:?} parsed",
            String::from_utf8_lossy(&msg)
        );
        // Nor, of course, does it verify through any path.
        if let Ok(note) = result {
            assert!(note.verify(std::slice::from_ref(&peter)).is_err());
        }
    }
    assert!(matches!(
        Note::parse(b"\xffabc\n\n"),
        Err(NoteError::NotUtf8 { offset: 0 })
    ));
    assert!(matches!(
        Note::parse(b"a\x01\n\n"),
        Err(NoteError::ControlCharacter { byte: 1, offset: 1 })
    ));
    // A one-byte signature is well-formed (Go reads 5 bytes and up) but a
    // known key's check fails.
    let one_byte = format!("{PETER_TEXT}\n— PeterNeumann x08go/Y=\n");
    assert!(matches!(
        Note::parse(one_byte.as_bytes())
            .unwrap()
            .verify(std::slice::from_ref(&peter)),
        Err(NoteError::InvalidSignature { .. })
    ));
    // DEL (0x7f) is not below U+0020, so the spec allows it, as Go does.
    let del = format!("a\x7f\n\n{PETER_SIG}");
    Note::parse(del.as_bytes()).unwrap();
    // The text may hold empty lines; the last one separates.
    let text = "a\n\nb\n";
    let mut note = Note::new(text).unwrap();
    note.sign(&SignerKey::parse(PETER_SKEY).unwrap()).unwrap();
    let parsed = Note::parse(&note.to_bytes()).unwrap();
    assert_eq!(parsed.text(), text);
    parsed.verify(std::slice::from_ref(&peter)).unwrap();
}

/// TL-NOTE-005: 16 signatures (the spec's floor) and 100 (Go's limit) are
/// read; 101 are malformed, with or without known keys; a note refuses a
/// 101st signature.
#[test]
fn tl_note_005_signature_count_limits() {
    let signers: Vec<SignerKey> = (0..MAX_SIGNATURES as u8)
        .map(|i| SignerKey::from_seed(&format!("k{i}"), SignatureType::Ed25519, &[i; 32]).unwrap())
        .collect();
    let keys: Vec<VerifierKey> = signers.iter().map(SignerKey::verifier_key).collect();
    for count in [16, MAX_SIGNATURES] {
        let mut note = Note::new("many signers\n").unwrap();
        for signer in &signers[..count] {
            note.sign(signer).unwrap();
        }
        let opened = Note::parse(&note.to_bytes())
            .unwrap()
            .verify(&keys)
            .unwrap();
        assert_eq!(opened.verified().len(), count);
    }
    let mut full = Note::new("many signers\n").unwrap();
    for signer in &signers {
        full.sign(signer).unwrap();
    }
    let extra = SignerKey::from_seed("k100", SignatureType::Ed25519, &[200; 32]).unwrap();
    assert_eq!(
        full.sign(&extra),
        Err(NoteError::TooManySignatures { max: 100 })
    );
    let peter = vk(PETER_VKEY);
    let hundred_and_one = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(101));
    assert_eq!(
        Note::parse(hundred_and_one.as_bytes()),
        Err(NoteError::TooManySignatures { max: 100 })
    );
    let hundred = format!("{PETER_TEXT}\n{}", PETER_SIG.repeat(100));
    let opened = Note::parse(hundred.as_bytes())
        .unwrap()
        .verify(&[peter])
        .unwrap();
    assert_eq!(opened.verified().len(), 1);
}

/// TL-KEY-002: `TestNewVerifier`: every proper substring and every byte
/// increment of PeterNeumann's vkey is refused, and so are the wrong-length
/// and unknown-algorithm keys with adjusted IDs.
#[test]
fn tl_key_002_vkey_manglings_are_refused() {
    VerifierKey::parse(PETER_VKEY).unwrap();
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                let sub = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(VerifierKey::parse(sub).is_err(), "{sub:?} accepted");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let s = String::from_utf8(m).unwrap();
        assert!(VerifierKey::parse(&s).is_err(), "{s:?} accepted");
    }
    // Go's lenient base64 reads this as 37 bytes (and then refuses the
    // length); its last character has stray low bits, so the strict
    // decoder refuses it first.
    assert!(matches!(
        VerifierKey::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(KeyError::Malformed { .. })
    ));
    // A well-formed key of the wrong length, with its ID adjusted.
    let long = [[0x01].as_slice(), &[0x11; 33]].concat();
    let id = KeyId::compute("PeterNeumann", 0x01, &long[1..]);
    assert_eq!(
        VerifierKey::parse(&format!("PeterNeumann+{id}+{}", base64_of(&long))),
        Err(KeyError::WrongKeyLength { len: 33 })
    );
    assert_eq!(
        VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(KeyError::UnsupportedType(0x65))
    );
    // Upper-case hex is not the canonical form.
    assert!(VerifierKey::parse(&PETER_VKEY.replace("c74f20a3", "C74F20A3")).is_err());
}

/// TL-KEY-003: `TestNewSigner`: every proper substring and byte increment
/// of the skey is refused; errors never show the key.
#[test]
fn tl_key_003_skey_manglings_are_refused() {
    let b = PETER_SKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                let sub = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(SignerKey::parse(sub).is_err(), "{sub:?} accepted");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let s = String::from_utf8(m).unwrap();
        match SignerKey::parse(&s) {
            Ok(_) => panic!("{s:?} accepted"),
            Err(e) => assert!(!e.to_string().contains("AYEKFALV"), "{e}"),
        }
    }
    assert!(
        !format!("{:?}", SignerKey::parse(PETER_SKEY).unwrap()).contains("AYEKFALV"),
        "Debug shows the seed"
    );
}

/// TL-KEY-002: a `+` inside the base64 of a key does not split it: the
/// transparency-dev/formats test key (`+` in both the skey and the vkey).
#[test]
fn tl_key_002_plus_inside_base64() {
    let signer = SignerKey::parse(FORMATS_LOG_SKEY).unwrap();
    assert_eq!(signer.verifier_key().to_string(), FORMATS_LOG_VKEY);
    let vkey = vk(FORMATS_LOG_VKEY);
    assert_eq!(vkey.name(), "Log");
    assert_eq!(vkey.key_id(), KeyId::new(0x2271c621));
    assert_eq!(vkey.to_string(), FORMATS_LOG_VKEY);
    assert_eq!(vk(LOG_VKEY).to_string(), LOG_VKEY);
    // The key name itself may not hold a '+'.
    assert!(matches!(
        VerifierKey::new("a+b", SignatureType::Ed25519, &[0x11; 32]),
        Err(KeyError::BadName { .. })
    ));
}

/// TL-NOTE-002: the C2SP signed-note example verifies under its vkey.
#[test]
fn tl_note_002_c2sp_example() {
    let key = vk(C2SP_VKEY);
    let pubkey = key.public_key();
    assert_eq!(pubkey[..2], [0xe9, 0x32]);
    assert_eq!(pubkey[30..], [0x4d, 0xa4]);
    let note = Note::parse(C2SP_NOTE.as_bytes()).unwrap();
    let opened = note.verify(&[key]).unwrap();
    assert_eq!(opened.text(), "This is an example message.\n");
    assert_eq!(note.to_string(), C2SP_NOTE);
}

/// TL-NOTE-002, TL-CKPT-001: the Sigsum tree head of `TestSignedTreeHeadVerify`
/// as a signed note: key ID a1f09b80, the published signature verifies,
/// and the body parses as a checkpoint of size 4 and root 7bca01e8…99c9.
#[test]
fn tl_note_002_sigsum_tree_head() {
    let key = VerifierKey::new(SIGSUM_ORIGIN, SignatureType::Ed25519, &unhex(SIGSUM_PUB)).unwrap();
    assert_eq!(key.key_id().to_string(), "a1f09b80");
    let text = format!("{SIGSUM_ORIGIN}\n4\ne8oB6Ic3mZ/eXB1uysJ648tJ4U8hvNPnJFwnaHe4mck=\n");
    let note = format!("{text}\n— {SIGSUM_ORIGIN} {SIGSUM_LINE_B64}\n");
    let signed = open_checkpoint(note.as_bytes(), SIGSUM_ORIGIN, &key, &[]).unwrap();
    assert_eq!(signed.checkpoint().size(), 4);
    assert_eq!(
        signed.checkpoint().root().to_string(),
        "7bca01e88737999fde5c1d6ecac27ae3cb49e14f21bcd3e7245c276877b899c9"
    );
    let sig = signed.note().signatures()[0].signature();
    assert_eq!(sig[..4], [0xc6, 0x0e, 0x51, 0x51]);
    assert_eq!(sig[61..], [0x2c, 0xd9, 0x0e]);
}

/// TL-CKPT-001: Go's sumdb tree note body: size 123456789012, root
/// `RecordHash("hello world")`.
#[test]
fn tl_ckpt_001_go_sumdb_tree_note() {
    let text = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
    let checkpoint = Checkpoint::from_text(text).unwrap();
    assert_eq!(checkpoint.origin(), "go.sum database tree");
    assert_eq!(checkpoint.size(), 123_456_789_012);
    assert_eq!(*checkpoint.root(), leaf_hash(b"hello world"));
    assert!(checkpoint.extensions().is_empty());
    assert_eq!(checkpoint.to_text(), text);
}

/// TL-KEY-004, TL-COSIG-002: the Armored Witness cosignatures on a Pixel
/// transparency log checkpoint verify with the witnesses' published type
/// 0x01 vkeys turned into cosigner keys (IDs 9d1ab951 and a996f95d, times
/// 1738713836 and 1738713829); the log's ECDSA line stays unverified.
#[test]
fn tl_key_004_tl_cosig_002_armored_witness_cosignatures() {
    let breeze = vk(SMALL_BREEZE_VKEY);
    let autumn = vk(AUTUMN_WOOD_VKEY);
    assert_eq!(breeze.key_id().to_string(), "7b3ada3a");
    assert_eq!(autumn.key_id().to_string(), "863571a5");
    let (breeze, autumn) = (breeze.to_cosigner(), autumn.to_cosigner());
    assert_eq!(breeze.key_id().to_string(), "9d1ab951");
    assert_eq!(autumn.key_id().to_string(), "a996f95d");
    assert_eq!(breeze.kind(), SignatureType::Cosignature);
    assert_eq!(vk(&breeze.to_string()), breeze, "a 0x04 vkey round-trips");

    let note = Note::parse(PIXEL_NOTE.as_bytes()).unwrap();
    assert_eq!(note.signatures().len(), 3);
    assert_eq!(note.to_string(), PIXEL_NOTE);
    let opened = note.verify(&[breeze.clone(), autumn.clone()]).unwrap();
    let times: Vec<_> = opened
        .verified()
        .iter()
        .map(|s| (s.name.as_str(), s.key_id.to_string(), s.timestamp))
        .collect();
    assert_eq!(
        times,
        [
            (
                "ArmoredWitness-small-breeze",
                "9d1ab951".to_owned(),
                Some(1_738_713_836)
            ),
            (
                "ArmoredWitness-autumn-wood",
                "a996f95d".to_owned(),
                Some(1_738_713_829)
            ),
        ]
    );
    assert_eq!(opened.unverified().len(), 1);
    assert_eq!(opened.unverified()[0].name(), "pixel_transparency_log");
    // The witnesses' 0x01 keys match no line: nothing verifies.
    assert_eq!(
        note.verify(&[vk(SMALL_BREEZE_VKEY), vk(AUTUMN_WOOD_VKEY)]),
        Err(NoteError::NoVerifiedSignature { unverified: 3 })
    );
    // A checkpoint of the Pixel log needs the Pixel log's key (ECDSA here,
    // unsupported): the witnesses alone never make it one.
    let err = open_checkpoint(
        PIXEL_NOTE.as_bytes(),
        PIXEL_ORIGIN,
        &vk(SMALL_BREEZE_VKEY),
        &[autumn],
    )
    .unwrap_err();
    assert!(
        matches!(err, CheckpointError::NotSignedByLog { .. })
            || matches!(err, CheckpointError::Note(_)),
        "{err:?}"
    );
}

/// TL-CKPT-005, TL-COSIG-002: the self-generated fixtures regenerate byte
/// for byte: keys, the size-8 and size-6 checkpoints' log signatures, and
/// witness1's cosignature at 1700000000; the cosigner's 0x01 ID would be
/// add2b00e.
#[test]
fn tl_ckpt_005_tl_cosig_002_self_generated_fixtures() {
    let log = log_signer();
    let witness = witness_signer();
    assert_eq!(log.verifier_key().to_string(), LOG_VKEY);
    assert_eq!(witness.verifier_key().to_string(), WITNESS_VKEY);
    let as_plain = SignerKey::from_seed(
        "example.com/witness1",
        SignatureType::Ed25519,
        &seq_seed(0x20),
    )
    .unwrap();
    assert_eq!(as_plain.key_id().to_string(), "add2b00e");
    assert_eq!(
        as_plain.to_cosigner().verifier_key().to_string(),
        WITNESS_VKEY
    );
    assert_eq!(
        SignerKey::parse(&witness.to_skey()).unwrap().key_id(),
        witness.key_id()
    );

    let checkpoint = Checkpoint::new(LOG_ORIGIN, 8, ROOT_8.parse().unwrap()).unwrap();
    let mut note = checkpoint.sign(&log).unwrap();
    assert_eq!(note.to_string(), CHECKPOINT_8);
    let six =
        Checkpoint::new(LOG_ORIGIN, 6, Hash::from_base64(CHECKPOINT_6_ROOT).unwrap()).unwrap();
    assert_eq!(
        six.sign(&log).unwrap().signatures()[0].to_string(),
        CHECKPOINT_6_LINE
    );

    note.cosign(&witness, 1_700_000_000).unwrap();
    assert_eq!(note.signatures()[1].to_string(), WITNESS_LINE_1700000000);
    assert_eq!(note.signatures()[1].signature().len(), 8 + 64);
    assert_eq!(
        format!("{}", note.signatures()[1]).len(),
        "— example.com/witness1 ".len() + 104
    );

    let signed = open_checkpoint(
        &note.to_bytes(),
        LOG_ORIGIN,
        &vk(LOG_VKEY),
        &[vk(WITNESS_VKEY)],
    )
    .unwrap();
    assert_eq!(signed.checkpoint(), &checkpoint);
    assert_eq!(signed.log_signature().name, LOG_ORIGIN);
    assert_eq!(signed.verified().verified().len(), 2);
    assert_eq!(
        signed.verified().verified()[1].timestamp,
        Some(1_700_000_000)
    );
    // Verified with the log key only, the cosignature is kept aside.
    let log_only = open_checkpoint(&note.to_bytes(), LOG_ORIGIN, &vk(LOG_VKEY), &[]).unwrap();
    assert_eq!(log_only.verified().unverified().len(), 1);
}

/// TL-CKPT-004: a note verified only by a witness's cosignature is not a
/// checkpoint of the log; nor does a witness key pass as the log key; nor
/// does either signature verify when relabelled as the other's.
#[test]
fn tl_ckpt_004_witness_only_note_is_not_a_checkpoint() {
    let witness = witness_signer();
    let mut note = Note::new(body(CHECKPOINT_8)).unwrap();
    note.cosign(&witness, 1_700_000_000).unwrap();
    let bytes = note.to_bytes();
    // As a note it verifies, under the witness key.
    note.verify(&[vk(WITNESS_VKEY)]).unwrap();
    let err = open_checkpoint(&bytes, LOG_ORIGIN, &vk(LOG_VKEY), &[vk(WITNESS_VKEY)]).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::NotSignedByLog { verified_by, .. } if verified_by == &["example.com/witness1"]),
        "{err:?}"
    );
    assert_eq!(
        open_checkpoint(&bytes, LOG_ORIGIN, &vk(LOG_VKEY), &[]),
        Err(CheckpointError::Note(NoteError::NoVerifiedSignature {
            unverified: 1
        }))
    );
    assert!(matches!(
        open_checkpoint(&bytes, LOG_ORIGIN, &vk(WITNESS_VKEY), &[]),
        Err(CheckpointError::LogKeyNotEd25519 { .. })
    ));
    // The same key named like the log, as a cosigner: still refused.
    let impostor =
        SignerKey::from_seed(LOG_ORIGIN, SignatureType::Cosignature, &seq_seed(0)).unwrap();
    let mut forged = Note::new(body(CHECKPOINT_8)).unwrap();
    forged.cosign(&impostor, 5).unwrap();
    assert!(matches!(
        open_checkpoint(
            &forged.to_bytes(),
            LOG_ORIGIN,
            &vk(LOG_VKEY),
            &[impostor.verifier_key()]
        ),
        Err(CheckpointError::NotSignedByLog { .. })
    ));

    // Relabel: the cosignature's bytes under the log's name and 0x01 ID,
    // and the log's signature under the witness's name and 0x04 ID.
    let log_key = vk(LOG_VKEY);
    let witness_key = vk(WITNESS_VKEY);
    let cosig = note.signatures()[0].signature().to_vec();
    let mut relabelled = Note::new(body(CHECKPOINT_8)).unwrap();
    relabelled
        .add_signature(
            NoteSignature::new(LOG_ORIGIN, log_key.key_id(), cosig[8..].to_vec()).unwrap(),
        )
        .unwrap();
    assert!(matches!(
        open_checkpoint(&relabelled.to_bytes(), LOG_ORIGIN, &log_key, &[]),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));
    let log_sig = Note::parse(CHECKPOINT_8.as_bytes()).unwrap().signatures()[0]
        .signature()
        .to_vec();
    let mut relabelled = Note::new(body(CHECKPOINT_8)).unwrap();
    let mut payload = 1_700_000_000u64.to_be_bytes().to_vec();
    payload.extend_from_slice(&log_sig);
    relabelled
        .add_signature(
            NoteSignature::new("example.com/witness1", witness_key.key_id(), payload).unwrap(),
        )
        .unwrap();
    assert!(matches!(
        relabelled.verify(&[witness_key]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

/// TL-CKPT-004: the origin must be the expected one.
#[test]
fn tl_ckpt_004_origin_must_match() {
    assert_eq!(
        open_checkpoint(
            CHECKPOINT_8.as_bytes(),
            "example.com/other-log",
            &vk(LOG_VKEY),
            &[]
        ),
        Err(CheckpointError::OriginMismatch {
            expected: "example.com/other-log".into(),
            found: LOG_ORIGIN.into()
        })
    );
}

/// TL-CKPT-002, TL-CKPT-003: the checkpoint parser pitfalls: `08`, signs,
/// spaces, overflow, 31- and 33-byte roots, non-canonical base64, an empty
/// extension line, missing lines, an empty origin.
#[test]
fn tl_ckpt_002_tl_ckpt_003_checkpoint_pitfalls() {
    let root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
    let good = format!("{LOG_ORIGIN}\n8\n{root}\n");
    Checkpoint::from_text(&good).unwrap();
    for size in [
        "08",
        "00",
        "+8",
        "-8",
        " 8",
        "8 ",
        "8.0",
        "0x8",
        "",
        "18446744073709551616",
    ] {
        let text = format!("{LOG_ORIGIN}\n{size}\n{root}\n");
        assert_eq!(
            Checkpoint::from_text(&text),
            Err(CheckpointError::BadSize { line: size.into() }),
            "{size:?}"
        );
    }
    let max = format!("{LOG_ORIGIN}\n18446744073709551615\n{root}\n");
    assert_eq!(Checkpoint::from_text(&max).unwrap().size(), u64::MAX);
    let empty = format!("{LOG_ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
    assert_eq!(
        *Checkpoint::from_text(&empty).unwrap().root(),
        tlog::EMPTY_ROOT
    );

    let cases = [
        (base64_of(&[7; 31]), HashError::WrongLength { len: 31 }),
        (base64_of(&[7; 33]), HashError::WrongLength { len: 33 }),
        (
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=".into(),
            HashError::NotBase64,
        ),
        (
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg".into(),
            HashError::NotBase64,
        ),
        (
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=".into(),
            HashError::NotBase64,
        ),
        (
            " XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=".into(),
            HashError::NotBase64,
        ),
        ("".into(), HashError::NotBase64),
    ];
    for (line, source) in cases {
        let text = format!("{LOG_ORIGIN}\n8\n{line}\n");
        assert_eq!(
            Checkpoint::from_text(&text),
            Err(CheckpointError::BadRootHash { line, source })
        );
    }
    for (text, want) in [
        (
            format!("{LOG_ORIGIN}\n8\n{root}\n\n"),
            CheckpointError::BadExtension { number: 1 },
        ),
        (
            format!("{LOG_ORIGIN}\n8\n{root}\next\n\n"),
            CheckpointError::BadExtension { number: 2 },
        ),
        (
            format!("{LOG_ORIGIN}\n8\n{root}"),
            CheckpointError::TooShort,
        ),
        (format!("{LOG_ORIGIN}\n8\n"), CheckpointError::TooShort),
        (String::new(), CheckpointError::TooShort),
        (format!("\n8\n{root}\n"), CheckpointError::BadOrigin),
    ] {
        assert_eq!(Checkpoint::from_text(&text), Err(want), "{text:?}");
    }
    // Extension lines round-trip.
    let with_ext = format!("{LOG_ORIGIN}\n8\n{root}\nfirst ext\nsecond\n");
    let parsed = Checkpoint::from_text(&with_ext).unwrap();
    assert_eq!(parsed.extensions(), ["first ext", "second"]);
    assert_eq!(parsed.to_text(), with_ext);
    assert!(Checkpoint::new("", 1, tlog::EMPTY_ROOT).is_err());
    assert!(
        Checkpoint::new(LOG_ORIGIN, 1, tlog::EMPTY_ROOT)
            .unwrap()
            .with_extension("")
            .is_err()
    );
    // A strict parser is reached through open_checkpoint too.
    let log = log_signer();
    let mut note = Note::new(format!("{LOG_ORIGIN}\n08\n{root}\n")).unwrap();
    note.sign(&log).unwrap();
    assert!(matches!(
        open_checkpoint(&note.to_bytes(), LOG_ORIGIN, &vk(LOG_VKEY), &[]),
        Err(CheckpointError::BadSize { .. })
    ));
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// TL-COSIG-001: a cosignature's timestamp above 2^63 − 1 is refused when
/// signing and never verifies; a cosigner cannot make a plain signature.
#[test]
fn tl_cosig_001_timestamp_bounds() {
    let witness = witness_signer();
    let mut note = Note::new(body(CHECKPOINT_8)).unwrap();
    assert_eq!(
        note.cosign(&witness, 1 << 63),
        Err(NoteError::Sign(SignError::TimestampTooLarge(1 << 63)))
    );
    note.cosign(&witness, (1 << 63) - 1).unwrap();
    note.verify(&[vk(WITNESS_VKEY)]).unwrap();
    // Rewrite the timestamp field to 2^63: the signature cannot verify.
    let mut payload = note.signatures()[0].signature().to_vec();
    payload[..8].copy_from_slice(&(1u64 << 63).to_be_bytes());
    let mut tampered = Note::new(body(CHECKPOINT_8)).unwrap();
    tampered
        .add_signature(
            NoteSignature::new("example.com/witness1", witness.key_id(), payload).unwrap(),
        )
        .unwrap();
    assert!(matches!(
        tampered.verify(&[vk(WITNESS_VKEY)]),
        Err(NoteError::InvalidSignature { .. })
    ));
    assert!(matches!(
        note.sign(&witness),
        Err(NoteError::Sign(SignError::WrongKeyType { .. }))
    ));
}

/// TL-CKPT-001: an origin or extension line holding a control character
/// (a tab, a carriage return, an escape) is refused when built, and a body
/// holding one does not parse.
#[test]
fn tl_ckpt_001_control_characters_are_refused_in_lines() {
    let root = tlog::EMPTY_ROOT;
    for bad in ["log\tone", "log\rone", "log\u{1b}[2J", ""] {
        assert!(
            tlog::Checkpoint::new(bad, 1, root).is_err(),
            "origin {bad:?} was accepted"
        );
    }
    let good = tlog::Checkpoint::new("example.com/log", 1, root).unwrap();
    assert!(good.clone().with_extension("ext\u{7}").is_err());
    assert!(good.clone().with_extension("").is_err());
    let text = good.with_extension("fine").unwrap().to_text();
    assert!(tlog::Checkpoint::from_text(&text).is_ok());
    let tampered = text.replacen("example.com/log", "example.com/\u{1}log", 1);
    assert!(tlog::Checkpoint::from_text(&tampered).is_err());
}

/// TL-NOTE-001, TL-KEY-001: the small things a signature line is made of.
/// A key ID's value and `Debug` form; a verifier key's, a signature line's
/// and a note's `Debug` forms name what they hold; a bad line is numbered
/// from 1; `add_signature` replaces only a line of the same name *and* key
/// ID; a signature listed twice is verified once.
#[test]
fn tl_note_001_key_ids_lines_and_signatures_in_detail() {
    let id = KeyId::new(0x0102_0304);
    assert_eq!(id.value(), 0x0102_0304);
    assert_eq!(format!("{id:?}"), "KeyId(01020304)");
    let key = SignerKey::from_seed("example.com/a", SignatureType::Ed25519, &[3; 32]).unwrap();
    let vkey = key.verifier_key();
    assert_eq!(format!("{vkey:?}"), format!("VerifierKey({vkey})"));

    let mut note = Note::new("text\n").unwrap();
    note.sign(&key).unwrap();
    let line = note.signatures()[0].clone();
    assert_eq!(format!("{line:?}"), format!("NoteSignature({line})"));
    let shown = format!("{note:?}");
    assert!(
        shown.contains("text") && shown.contains(&line.to_string()),
        "{shown}"
    );

    // The second line is bad: it is named line 2.
    let lines = format!("{line}\nnot a line\n");
    assert!(matches!(
        NoteSignature::parse_lines(&lines),
        Err(NoteError::BadSignatureLine { line: 2, .. })
    ));

    // Same name, another key (so another key ID): a second line, not a
    // replacement, and a second verified signature.
    let rotated = SignerKey::from_seed("example.com/a", SignatureType::Ed25519, &[4; 32]).unwrap();
    assert_ne!(rotated.key_id(), key.key_id());
    let mut both = Note::new("text\n").unwrap();
    both.sign(&key).unwrap();
    both.sign(&rotated).unwrap();
    assert_eq!(both.signatures().len(), 2);
    let verified = both
        .verify(&[vkey.clone(), rotated.verifier_key()])
        .unwrap();
    assert_eq!(verified.verified().len(), 2);
    // Signing again with the same key replaces its line.
    both.sign(&key).unwrap();
    assert_eq!(both.signatures().len(), 2);

    // One line listed twice in a note's text: verified once.
    let doubled = format!("text\n\n{line}\n{line}\n");
    let verified = Note::parse(doubled.as_bytes())
        .unwrap()
        .verify(&[vkey])
        .unwrap();
    assert_eq!(verified.verified().len(), 1);
}
