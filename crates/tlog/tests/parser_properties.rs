//! Property tests of every text parser (spec `TL-PARSE-001`): on any
//! input, random or a mutated valid fixture, a parser returns a value or an
//! error and never panics; whatever it accepts, it prints back byte for
//! byte (one value, one text form). Named `prop_*` for `cargo xtask
//! proptest`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use tlog::{
    AddCheckpointRequest, Checkpoint, Note, NoteSignature, SignatureType, SignerKey, TlogProof,
    VerifierKey, open_checkpoint,
};

fn config(default_cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    config
}

const COSIGNED_CHECKPOINT: &str = "example.com/gpu-audit-log
8
XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=

— example.com/gpu-audit-log mXh8Q17aErwq/jeggBkRi+JBrbMDWVVJhfSw3Pc2H5YlhZZDLKBakUH+A4bSFeJF8QdfucntHtUuMKIpu/0+4NirSAY=
— example.com/witness1 2P2/rgAAAABlU/EARRnb6lIFWctJWourNMUCxfBxtbRDOJWkRkVlkUMUIh8UzwSgoYknkjAOw8Ht0wX6T7pU0fm6HH5Cl4Sus5QyAA==
";
const LOG_VKEY: &str =
    "example.com/gpu-audit-log+99787c43+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const WITNESS_VKEY: &str =
    "example.com/witness1+d8fdbfae+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X";
const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const HASHES: &str = "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=
yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=
037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=
";

/// A valid input with up to four random edits: a byte replaced, inserted
/// or removed (from a small alphabet of the characters that matter).
fn mutated(valid: String) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<prop::sample::Index>(),
        0..3u8,
        prop::sample::select(vec![
            b'\n', b' ', b'+', b'=', b'0', b'A', b'/', 0xe2, 0x80, 0x94, 0x00, 0xff, b'a',
        ]),
    );
    prop::collection::vec(edit, 0..4).prop_map(move |edits| {
        let mut bytes = valid.clone().into_bytes();
        for (at, kind, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => {}
            }
        }
        bytes
    })
}

fn any_input(valid: String) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mutated(valid),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn vkeys() -> Vec<VerifierKey> {
    vec![
        VerifierKey::parse(LOG_VKEY).unwrap(),
        VerifierKey::parse(WITNESS_VKEY).unwrap(),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// TL-PARSE-001: notes, and checkpoints opened from them.
    #[test]
    fn prop_notes_parse_or_refuse(input in any_input(COSIGNED_CHECKPOINT.to_owned())) {
        if let Ok(note) = Note::parse(&input) {
            prop_assert_eq!(note.to_bytes(), input.clone());
            let _ = note.verify(&vkeys());
        }
        let keys = vkeys();
        let _ = open_checkpoint(&input, "example.com/gpu-audit-log", &keys[0], &keys[1..]);
        if let Ok(text) = std::str::from_utf8(&input) {
            if let Ok(checkpoint) = Checkpoint::from_text(text) {
                prop_assert_eq!(checkpoint.to_text(), text);
            }
            if let Ok(lines) = NoteSignature::parse_lines(text) {
                let printed: String = lines.iter().map(|l| format!("{l}\n")).collect();
                prop_assert_eq!(printed, text);
            }
        }
    }

    /// TL-PARSE-001: verifier and signer keys.
    #[test]
    fn prop_keys_parse_or_refuse(
        vkey in any_input(WITNESS_VKEY.to_owned()),
        skey in any_input(SKEY.to_owned()),
    ) {
        if let Ok(text) = std::str::from_utf8(&vkey)
            && let Ok(key) = VerifierKey::parse(text)
        {
            prop_assert_eq!(key.to_string(), text);
        }
        if let Ok(text) = std::str::from_utf8(&skey)
            && let Ok(key) = SignerKey::parse(text)
        {
            let printed = key.to_skey();
            prop_assert_eq!(printed.as_str(), text);
        }
    }

    /// TL-PARSE-001: tlog-proof and add-checkpoint bodies.
    #[test]
    fn prop_witness_bodies_parse_or_refuse(
        proof in any_input(format!("c2sp.org/tlog-proof@v1\nextra AAEC\nindex 5\n{HASHES}\n{COSIGNED_CHECKPOINT}")),
        request in any_input(format!("old 6\n{HASHES}\n{COSIGNED_CHECKPOINT}")),
    ) {
        if let Ok(parsed) = TlogProof::parse(&proof) {
            prop_assert_eq!(parsed.to_bytes(), proof);
        }
        if let Ok(parsed) = AddCheckpointRequest::parse(&request) {
            prop_assert_eq!(parsed.to_bytes(), request);
            let _ = parsed.check_consistency(&tlog::EMPTY_ROOT);
        }
    }
}

proptest! {
    // Ed25519 in an unoptimized build is slow: fewer cases here.
    #![proptest_config(config(64))]

    /// TL-PARSE-001, TL-NOTE-001: any note text signed by any signers
    /// parses back to the same note and verifies.
    #[test]
    fn prop_signed_notes_round_trip(
        lines in prop::collection::vec("[^\\x00-\\x1f]{0,30}", 1..6),
        signers in prop::collection::vec(("[a-z0-9./-]{1,20}", any::<[u8; 32]>(), any::<bool>(), any::<u32>()), 1..5),
    ) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut note = Note::new(text.clone()).unwrap();
        let mut keys = Vec::new();
        for (name, seed, cosigner, time) in &signers {
            let kind = if *cosigner { SignatureType::Cosignature } else { SignatureType::Ed25519 };
            let key = SignerKey::from_seed(name, kind, seed).unwrap();
            if keys.iter().any(|k: &VerifierKey| k.name() == key.name() && k.key_id() == key.key_id()) {
                continue;
            }
            if *cosigner {
                note.cosign(&key, u64::from(*time)).unwrap();
            } else {
                note.sign(&key).unwrap();
            }
            keys.push(key.verifier_key());
        }
        let parsed = Note::parse(&note.to_bytes()).unwrap();
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.text(), text);
        let verified = parsed.verify(&keys).unwrap();
        prop_assert_eq!(verified.verified().len(), keys.len());
    }
}
