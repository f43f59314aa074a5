//! Witness policies, tlog-witness `add-checkpoint` bodies and tlog-proofs
//! (spec `TL-WIT-*`, `TL-TPROOF-*`), on the reference's self-generated
//! fixtures: the 8 transparency-dev test leaves logged as
//! `example.com/gpu-audit-log`, grown from 6 to 8, cosigned by
//! `example.com/witness1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tlog::{
    AddCheckpointError, AddCheckpointRequest, Checkpoint, CheckpointError, ConsistencyCheckError,
    EMPTY_ROOT, Hash, MemoryHashStore, Note, NoteError, NoteSignature, PolicyError, SignatureType,
    SignerKey, TlogProof, TlogProofError, VerifierKey, VerifyError, WitnessPolicy,
    consistency_proof, inclusion_proof, leaf_hash, tree_root,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

const LOG_ORIGIN: &str = "example.com/gpu-audit-log";
const LOG_VKEY: &str =
    "example.com/gpu-audit-log+99787c43+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const WITNESS_VKEY: &str =
    "example.com/witness1+d8fdbfae+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X";

/// The reference's add-checkpoint request (tree grown 6 → 8).
const ADD_CHECKPOINT_6_TO_8: &str = "old 6
DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=
yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=
037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=

example.com/gpu-audit-log
8
XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=

— example.com/gpu-audit-log mXh8Q17aErwq/jeggBkRi+JBrbMDWVVJhfSw3Pc2H5YlhZZDLKBakUH+A4bSFeJF8QdfucntHtUuMKIpu/0+4NirSAY=
";

/// The witness's expected 200 body for it, at time 1700000100.
const ADD_CHECKPOINT_RESPONSE: &str = "— example.com/witness1 2P2/rgAAAABlU/FkSjIVEjYK80HSQDX6owrkNNzV9ETST1nKz+P4o6Ao9xtlqFdyJ0F9V5fNUm0stsKJ49E37YtmxAq9Luzl1XO4Dw==\n";

/// The reference's tlog-proof of leaf 5 in the size-8 checkpoint.
const TLOG_PROOF_5: &str = "c2sp.org/tlog-proof@v1
index 5
vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=
yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=
037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=

example.com/gpu-audit-log
8
XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=

— example.com/gpu-audit-log mXh8Q17aErwq/jeggBkRi+JBrbMDWVVJhfSw3Pc2H5YlhZZDLKBakUH+A4bSFeJF8QdfucntHtUuMKIpu/0+4NirSAY=
";

const WITNESS_LINE_1700000000: &str = "— example.com/witness1 2P2/rgAAAABlU/EARRnb6lIFWctJWourNMUCxfBxtbRDOJWkRkVlkUMUIh8UzwSgoYknkjAOw8Ht0wX6T7pU0fm6HH5Cl4Sus5QyAA==";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn seq_seed(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start + i as u8)
}

fn vk(s: &str) -> VerifierKey {
    VerifierKey::parse(s).unwrap()
}

fn log_signer() -> SignerKey {
    SignerKey::from_seed(LOG_ORIGIN, SignatureType::Ed25519, &seq_seed(0)).unwrap()
}

fn witness(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, SignatureType::Cosignature, &seq_seed(seed)).unwrap()
}

fn witness1() -> SignerKey {
    witness("example.com/witness1", 0x20)
}

fn tree() -> MemoryHashStore {
    MemoryHashStore::from_entries(LEAVES.iter().map(|l| hex(l))).unwrap()
}

/// The size-`n` checkpoint of the test tree, signed by the log.
fn checkpoint_note(n: u64) -> Note {
    let root = tree_root(&tree(), n).unwrap();
    Checkpoint::new(LOG_ORIGIN, n, root)
        .unwrap()
        .sign(&log_signer())
        .unwrap()
}

/// TL-WIT-003: the reference's add-checkpoint body parses into its parts
/// and prints back byte for byte; a request built from our tree and log key
/// is the same bytes.
#[test]
fn tl_wit_003_add_checkpoint_fixture_round_trips() {
    let request = AddCheckpointRequest::parse(ADD_CHECKPOINT_6_TO_8.as_bytes()).unwrap();
    assert_eq!(request.old_size(), 6);
    assert_eq!(request.proof().len(), 3);
    assert_eq!(request.checkpoint().signatures().len(), 1);
    assert_eq!(request.to_bytes(), ADD_CHECKPOINT_6_TO_8.as_bytes());
    let tree = tree();
    let built = AddCheckpointRequest::new(
        6,
        consistency_proof(&tree, 6, 8).unwrap(),
        checkpoint_note(8),
    )
    .unwrap();
    assert_eq!(built.to_string(), ADD_CHECKPOINT_6_TO_8);
    assert_eq!(built, request);
}

/// TL-WIT-003: the witness's answer at 1700000100 regenerates byte for byte,
/// parses as signature lines, and verifies once appended to the checkpoint.
#[test]
fn tl_wit_003_add_checkpoint_response() {
    let request = AddCheckpointRequest::parse(ADD_CHECKPOINT_6_TO_8.as_bytes()).unwrap();
    let mut cosigned = request.checkpoint().clone();
    cosigned.cosign(&witness1(), 1_700_000_100).unwrap();
    let line = cosigned.signatures()[1].to_string();
    assert_eq!(format!("{line}\n"), ADD_CHECKPOINT_RESPONSE);

    let lines = NoteSignature::parse_lines(ADD_CHECKPOINT_RESPONSE).unwrap();
    assert_eq!(lines.len(), 1);
    let mut note = request.checkpoint().clone();
    for sig in lines {
        note.add_signature(sig).unwrap();
    }
    let verified = note.verify(&[vk(LOG_VKEY), vk(WITNESS_VKEY)]).unwrap();
    assert_eq!(verified.verified()[1].timestamp, Some(1_700_000_100));
    for bad in [
        "",
        "\n",
        "— example.com/witness1 2P2/\n",
        "x\n",
        "— a AAAAAAA=\n\n",
    ] {
        assert!(NoteSignature::parse_lines(bad).is_err(), "{bad:?}");
    }
}

/// TL-WIT-004: the witness's consistency checks: the fixture passes against
/// the size-6 root; a wrong old root, `old 0` with a proof, `old > size`,
/// equal sizes with another root, and a size-0 checkpoint whose root is not
/// SHA-256("") fail.
#[test]
fn tl_wit_004_witness_consistency_checks() {
    let tree = tree();
    let request = AddCheckpointRequest::parse(ADD_CHECKPOINT_6_TO_8.as_bytes()).unwrap();
    let signed = tlog::open_checkpoint(
        &request.checkpoint().to_bytes(),
        LOG_ORIGIN,
        &vk(LOG_VKEY),
        &[],
    )
    .unwrap();
    let root6 = tree_root(&tree, 6).unwrap();
    assert_eq!(
        &request.check_consistency(&root6).unwrap(),
        signed.checkpoint()
    );
    assert!(matches!(
        request.check_consistency(&tree_root(&tree, 5).unwrap()),
        Err(ConsistencyCheckError::Proof(
            VerifyError::OldRootMismatch | VerifyError::NewRootMismatch
        ))
    ));

    let with = |old: u64, proof: Vec<Hash>, note: Note| {
        AddCheckpointRequest::new(old, proof, note).unwrap()
    };
    let note8 = checkpoint_note(8);
    let root8 = tree_root(&tree, 8).unwrap();
    // old 0: an empty proof, whatever the witness stored.
    with(0, vec![], note8.clone())
        .check_consistency(&EMPTY_ROOT)
        .unwrap();
    assert_eq!(
        with(0, vec![root6], note8.clone()).check_consistency(&EMPTY_ROOT),
        Err(ConsistencyCheckError::ProofFromEmptyTree { len: 1 })
    );
    assert_eq!(
        with(9, vec![], note8.clone()).check_consistency(&root6),
        Err(ConsistencyCheckError::OldLargerThanNew { old: 9, size: 8 })
    );
    assert_eq!(
        with(8, vec![], note8.clone()).check_consistency(&root6),
        Err(ConsistencyCheckError::Proof(
            VerifyError::EqualSizesDifferentRoots { size: 8 }
        ))
    );
    with(8, vec![], note8.clone())
        .check_consistency(&root8)
        .unwrap();
    let bad_empty = Checkpoint::new(LOG_ORIGIN, 0, root6).unwrap();
    assert_eq!(
        with(0, vec![], bad_empty.sign(&log_signer()).unwrap()).check_consistency(&EMPTY_ROOT),
        Err(ConsistencyCheckError::WrongEmptyRoot { root: root6 })
    );
    let empty = Checkpoint::new(LOG_ORIGIN, 0, EMPTY_ROOT).unwrap();
    with(0, vec![], empty.sign(&log_signer()).unwrap())
        .check_consistency(&EMPTY_ROOT)
        .unwrap();
    // The note must be a checkpoint.
    let mut not_a_checkpoint = Note::new("hello\n").unwrap();
    not_a_checkpoint.sign(&log_signer()).unwrap();
    assert_eq!(
        with(0, vec![], not_a_checkpoint).check_consistency(&EMPTY_ROOT),
        Err(ConsistencyCheckError::Checkpoint(CheckpointError::TooShort))
    );
}

/// TL-WIT-003: malformed bodies: leading zeroes, a sign, no `old` line,
/// 64 proof lines, a 31-byte hash, no empty line, no signatures.
#[test]
fn tl_wit_003_malformed_add_checkpoint_bodies() {
    let tail = &ADD_CHECKPOINT_6_TO_8[ADD_CHECKPOINT_6_TO_8.find("\n\n").unwrap() + 2..];
    let hash = "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=\n";
    for (body, want) in [
        (format!("old 06\n\n{tail}"), AddCheckpointError::BadOldSize),
        (format!("old +6\n\n{tail}"), AddCheckpointError::BadOldSize),
        (format!("old  6\n\n{tail}"), AddCheckpointError::BadOldSize),
        (format!("Old 6\n\n{tail}"), AddCheckpointError::BadOldSize),
        ("old 6".to_owned(), AddCheckpointError::BadOldSize),
        (
            format!("old 6\n{}\n{tail}", hash.repeat(64)),
            AddCheckpointError::TooManyProofHashes,
        ),
        (format!("old 6\n{hash}"), AddCheckpointError::NoCheckpoint),
        (
            format!("old 6\nDrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY7w==\n\n{tail}"),
            AddCheckpointError::BadProofHash {
                number: 1,
                source: tlog::HashError::WrongLength { len: 31 },
            },
        ),
        (
            "old 6\n\nexample.com/gpu-audit-log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
                .into(),
            AddCheckpointError::Note(NoteError::NoSignatureBlock),
        ),
    ] {
        assert_eq!(
            AddCheckpointRequest::parse(body.as_bytes()),
            Err(want),
            "{body:?}"
        );
    }
    // 63 lines is the most a client may send.
    let max = format!("old 6\n{}\n{tail}", hash.repeat(63));
    assert_eq!(
        AddCheckpointRequest::parse(max.as_bytes())
            .unwrap()
            .proof()
            .len(),
        63
    );
    assert_eq!(
        AddCheckpointRequest::new(1, vec![EMPTY_ROOT; 64], checkpoint_note(8)),
        Err(AddCheckpointError::TooManyProofHashes)
    );
    assert_eq!(
        AddCheckpointRequest::parse(b"old 6\n\xff\n\n"),
        Err(AddCheckpointError::NotUtf8)
    );
}

/// TL-TPROOF-001: the reference's tlog-proof parses and prints back byte
/// for byte, and is what our tree and log key produce; with an `extra` line
/// too.
#[test]
fn tl_tproof_001_fixture_round_trips() {
    let proof = TlogProof::parse(TLOG_PROOF_5.as_bytes()).unwrap();
    assert_eq!(proof.index(), 5);
    assert_eq!(proof.extra(), None);
    assert_eq!(proof.proof().len(), 3);
    assert_eq!(proof.to_bytes(), TLOG_PROOF_5.as_bytes());
    let built = TlogProof::new(
        5,
        inclusion_proof(&tree(), 8, 5).unwrap(),
        checkpoint_note(8),
    )
    .unwrap();
    assert_eq!(built.to_string(), TLOG_PROOF_5);

    let with_extra = built.clone().with_extra(b"vrf proof".to_vec()).unwrap();
    let text = with_extra.to_string();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra dnJmIHByb29m\nindex 5\n"));
    let parsed = TlogProof::parse(text.as_bytes()).unwrap();
    assert_eq!(parsed.extra(), Some(b"vrf proof".as_slice()));
    assert_eq!(parsed, with_extra);
    assert!(built.with_extra(vec![]).is_err());
}

/// TL-TPROOF-002: a tlog-proof proves leaf 5 under the log key alone and
/// under a 1-of-1 policy once witness1 has cosigned; a wrong leaf, a
/// missing cosignature or another origin fail.
#[test]
fn tl_tproof_002_verification() {
    let leaf5 = leaf_hash(&hex(LEAVES[5]));
    let proof = TlogProof::parse(TLOG_PROOF_5.as_bytes()).unwrap();
    let signed = proof
        .verify_log_signature(&leaf5, LOG_ORIGIN, &vk(LOG_VKEY))
        .unwrap();
    assert_eq!(signed.checkpoint().size(), 8);
    assert!(matches!(
        proof.verify_log_signature(&leaf_hash(&hex(LEAVES[4])), LOG_ORIGIN, &vk(LOG_VKEY)),
        Err(TlogProofError::Inclusion(VerifyError::RootMismatch))
    ));
    assert!(matches!(
        proof.verify_log_signature(&leaf5, "example.com/other", &vk(LOG_VKEY)),
        Err(TlogProofError::Checkpoint(
            CheckpointError::OriginMismatch { .. }
        ))
    ));

    let policy = WitnessPolicy::new(vk(LOG_VKEY), vec![vk(WITNESS_VKEY)], 1).unwrap();
    assert!(matches!(
        proof.verify(&leaf5, LOG_ORIGIN, &policy),
        Err(TlogProofError::Policy(PolicyError::QuorumNotMet {
            cosigned: 0,
            quorum: 1,
            ..
        }))
    ));
    let mut cosigned_note = proof.checkpoint().clone();
    cosigned_note
        .add_signature(NoteSignature::parse_line(WITNESS_LINE_1700000000).unwrap())
        .unwrap();
    let cosigned = TlogProof::new(5, proof.proof().to_vec(), cosigned_note).unwrap();
    let report = cosigned.verify(&leaf5, LOG_ORIGIN, &policy).unwrap();
    assert_eq!(report.cosigned()[0].timestamp, 1_700_000_000);
    let reparsed = TlogProof::parse(&cosigned.to_bytes()).unwrap();
    reparsed.verify(&leaf5, LOG_ORIGIN, &policy).unwrap();
    assert!(matches!(
        reparsed.verify(&leaf_hash(b"not logged"), LOG_ORIGIN, &policy),
        Err(TlogProofError::Inclusion(VerifyError::RootMismatch))
    ));
}

/// TL-TPROOF-001: malformed tlog-proofs are refused.
#[test]
fn tl_tproof_001_malformed() {
    let after_index = &TLOG_PROOF_5["c2sp.org/tlog-proof@v1\nindex 5\n".len()..];
    let note = &TLOG_PROOF_5[TLOG_PROOF_5.find("\n\n").unwrap() + 2..];
    let hash = "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=\n";
    for (text, want) in [
        (
            format!("c2sp.org/tlog-proof@v2\nindex 5\n{after_index}"),
            TlogProofError::BadHeader,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 05\n{after_index}"),
            TlogProofError::BadIndex,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex -5\n{after_index}"),
            TlogProofError::BadIndex,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\n{after_index}"),
            TlogProofError::BadIndex,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 5\n{after_index}"),
            TlogProofError::BadExtra,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nextra \nindex 5\n{after_index}"),
            TlogProofError::BadExtra,
        ),
        (
            format!(
                "c2sp.org/tlog-proof@v1\nindex 5\n{}\n{note}",
                hash.repeat(65)
            ),
            TlogProofError::TooManyProofHashes,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 5\n{hash}"),
            TlogProofError::NoCheckpoint,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 5\nAAAA\n\n{note}"),
            TlogProofError::BadProofHash {
                number: 1,
                source: tlog::HashError::WrongLength { len: 3 },
            },
        ),
        (
            "c2sp.org/tlog-proof@v1\nindex 5\n\nno signatures\n".into(),
            TlogProofError::Note(NoteError::NoSignatureBlock),
        ),
    ] {
        assert_eq!(TlogProof::parse(text.as_bytes()), Err(want), "{text:?}");
    }
    assert_eq!(TlogProof::parse(b"\xff"), Err(TlogProofError::NotUtf8));
    // 64 hashes is the most an inclusion proof has.
    let max = format!(
        "c2sp.org/tlog-proof@v1\nindex 5\n{}\n{note}",
        hash.repeat(64)
    );
    assert_eq!(TlogProof::parse(max.as_bytes()).unwrap().proof().len(), 64);
}

/// TL-WIT-001: a policy is 1 ≤ k ≤ n distinct witnesses, none the log; a
/// witness's 0x01 vkey becomes its cosigner key.
#[test]
fn tl_wit_001_policy_construction() {
    let log = vk(LOG_VKEY);
    let w1 = vk(WITNESS_VKEY);
    let w2 = witness("example.com/witness2", 0x40).verifier_key();
    assert_eq!(
        WitnessPolicy::new(log.clone(), vec![w1.clone()], 0),
        Err(PolicyError::BadQuorum {
            quorum: 0,
            witnesses: 1
        })
    );
    assert_eq!(
        WitnessPolicy::new(log.clone(), vec![w1.clone()], 2),
        Err(PolicyError::BadQuorum {
            quorum: 2,
            witnesses: 1
        })
    );
    assert_eq!(
        WitnessPolicy::new(log.clone(), vec![], 1),
        Err(PolicyError::BadQuorum {
            quorum: 1,
            witnesses: 0
        })
    );
    assert_eq!(
        WitnessPolicy::new(log.clone(), vec![w1.clone(), w1.clone()], 1),
        Err(PolicyError::DuplicateWitness {
            name: "example.com/witness1".into()
        })
    );
    // The same key under another name still counts once.
    let same_key = VerifierKey::new(
        "example.com/alias",
        SignatureType::Cosignature,
        &w1.public_key(),
    )
    .unwrap();
    assert!(matches!(
        WitnessPolicy::new(log.clone(), vec![w1.clone(), same_key], 2),
        Err(PolicyError::DuplicateWitness { .. })
    ));
    // The log's own key is not a witness.
    let log_as_witness = VerifierKey::new(
        "example.com/self",
        SignatureType::Cosignature,
        &log.public_key(),
    )
    .unwrap();
    assert!(matches!(
        WitnessPolicy::new(log.clone(), vec![log_as_witness], 1),
        Err(PolicyError::WitnessIsLog { .. })
    ));
    // A witness key cannot be the log key.
    assert!(matches!(
        WitnessPolicy::new(w1.clone(), vec![w2.clone()], 1),
        Err(PolicyError::Checkpoint(
            CheckpointError::LogKeyNotEd25519 { .. }
        ))
    ));
    // 0x01 witness vkeys are turned into cosigner keys.
    let plain = SignerKey::from_seed(
        "example.com/witness1",
        SignatureType::Ed25519,
        &seq_seed(0x20),
    )
    .unwrap()
    .verifier_key();
    assert_eq!(plain.key_id().to_string(), "add2b00e");
    let policy = WitnessPolicy::new(log, vec![plain, w2], 2).unwrap();
    assert_eq!(policy.witnesses()[0], w1);
    assert_eq!(policy.quorum(), 2);
    assert_eq!(policy.log_key(), &vk(LOG_VKEY));
}

/// TL-WIT-002: k-of-n: the report names who cosigned (with times) and who
/// did not; the quorum is met only with k valid cosignatures; an unknown
/// cosigner does not count; a bad cosignature by a policy witness, or a
/// checkpoint the log did not sign, is an error.
#[test]
fn tl_wit_002_quorum() {
    let witnesses: Vec<SignerKey> = (0..3)
        .map(|i| witness(&format!("example.com/w{i}"), 0x40 + 32 * i))
        .collect();
    let keys: Vec<VerifierKey> = witnesses.iter().map(SignerKey::verifier_key).collect();
    let policy = WitnessPolicy::new(vk(LOG_VKEY), keys, 2).unwrap();

    let mut note = checkpoint_note(8);
    let report = policy.check(&note.to_bytes(), LOG_ORIGIN).unwrap();
    assert!(report.cosigned().is_empty());
    assert_eq!(
        report.missing(),
        ["example.com/w0", "example.com/w1", "example.com/w2"]
    );
    assert!(!report.quorum_met());

    note.cosign(&witnesses[2], 1_700_000_002).unwrap();
    // A stranger's cosignature is ignored.
    note.cosign(&witness("example.com/stranger", 0xa0), 1_700_000_009)
        .unwrap();
    let report = policy.check(&note.to_bytes(), LOG_ORIGIN).unwrap();
    assert_eq!(report.cosigned().len(), 1);
    assert_eq!(report.quorum(), 2);
    let err = policy.verify(&note.to_bytes(), LOG_ORIGIN).unwrap_err();
    assert_eq!(
        err,
        PolicyError::QuorumNotMet {
            cosigned: 1,
            quorum: 2,
            missing: vec!["example.com/w0".into(), "example.com/w1".into()]
        }
    );
    assert!(err.to_string().contains("do not trust"), "{err}");

    note.cosign(&witnesses[0], 1_700_000_000).unwrap();
    let report = policy.verify(&note.to_bytes(), LOG_ORIGIN).unwrap();
    assert!(report.quorum_met());
    let who: Vec<_> = report
        .cosigned()
        .iter()
        .map(|c| (c.name.as_str(), c.timestamp))
        .collect();
    assert_eq!(
        who,
        [
            ("example.com/w0", 1_700_000_000),
            ("example.com/w2", 1_700_000_002)
        ]
    );
    assert_eq!(report.missing(), ["example.com/w1"]);
    assert_eq!(report.checkpoint().size(), 8);
    assert_eq!(report.cosigned()[0].key_id, witnesses[0].key_id());

    // w1's cosignature over another checkpoint, pasted on: rejected.
    let mut other = checkpoint_note(7);
    other.cosign(&witnesses[1], 1_700_000_001).unwrap();
    let mut pasted = note.clone();
    pasted.add_signature(other.signatures()[1].clone()).unwrap();
    assert!(matches!(
        policy.check(&pasted.to_bytes(), LOG_ORIGIN),
        Err(PolicyError::Checkpoint(CheckpointError::Note(
            NoteError::InvalidSignature { .. }
        )))
    ));

    // Cosignatures without the log's signature: not a checkpoint.
    let text = note.text().to_owned();
    let mut unsigned = Note::new(text).unwrap();
    for w in &witnesses {
        unsigned.cosign(w, 1).unwrap();
    }
    assert!(matches!(
        policy.check(&unsigned.to_bytes(), LOG_ORIGIN),
        Err(PolicyError::Checkpoint(
            CheckpointError::NotSignedByLog { .. }
        ))
    ));
}
