//! Both ends of the tlog-witness protocol without HTTP (spec `TL-WIT-005`
//! to `TL-WIT-007`): a [`Witness`] answering `add-checkpoint` bodies, and
//! the log reading the answers with [`read_response`]. On the reference's
//! fixtures: the 8 transparency-dev test leaves logged as
//! `example.com/gpu-audit-log`, witnessed by `example.com/witness1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use tlog::{
    AddCheckpointRequest, Checkpoint, EMPTY_ROOT, Hash, MAX_COSIGNATURE_LINES,
    MAX_WITNESS_RESPONSE_BYTES, MemoryHashStore, Note, NoteSignature, Refusal, SIZE_CONTENT_TYPE,
    SignatureType, SignerKey, VerifierKey, Witness, WitnessConfigError, WitnessPolicy,
    WitnessRefusal, WitnessReply, WitnessResponseError, WitnessedTree, consistency_proof,
    read_conflict, read_response, tree_root,
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

const WITNESS_VKEY: &str =
    "example.com/witness1+d8fdbfae+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn seq_seed(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start + i as u8)
}

fn log_signer() -> SignerKey {
    SignerKey::from_seed(LOG_ORIGIN, SignatureType::Ed25519, &seq_seed(0)).unwrap()
}

fn witness1_key() -> SignerKey {
    SignerKey::from_seed(
        "example.com/witness1",
        SignatureType::Cosignature,
        &seq_seed(0x20),
    )
    .unwrap()
}

/// witness1, witnessing the test log.
fn witness1() -> Witness {
    let mut witness = Witness::new(&witness1_key());
    witness
        .add_log(LOG_ORIGIN, log_signer().verifier_key())
        .unwrap();
    witness
}

fn tree_of(leaves: &[Vec<u8>]) -> MemoryHashStore {
    MemoryHashStore::from_entries(leaves.iter().cloned()).unwrap()
}

fn test_leaves() -> Vec<Vec<u8>> {
    LEAVES.iter().map(|l| hex(l)).collect()
}

fn tree() -> MemoryHashStore {
    tree_of(&test_leaves())
}

fn note_of(tree: &MemoryHashStore, n: u64, key: &SignerKey) -> Note {
    Checkpoint::new(LOG_ORIGIN, n, tree_root(tree, n).unwrap())
        .unwrap()
        .sign(key)
        .unwrap()
}

/// `key`'s cosignature line of `text` at `time`, as a witness answers it.
fn cosignature_line(text: &str, key: &SignerKey, time: u64) -> String {
    let mut note = Note::new(text).unwrap();
    note.cosign(key, time).unwrap();
    format!("{}\n", note.signatures()[0])
}

/// A cosigner key named `name`, from a seed of `seed` bytes.
fn cosigner(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, SignatureType::Cosignature, &[seed; 32]).unwrap()
}

/// The request body growing `tree` from `old` to `new`, signed by the log.
fn body(tree: &MemoryHashStore, old: u64, new: u64) -> Vec<u8> {
    let proof = consistency_proof(tree, old, new).unwrap();
    AddCheckpointRequest::new(old, proof, note_of(tree, new, &log_signer()))
        .unwrap()
        .to_bytes()
}

fn stored(tree: &MemoryHashStore, n: u64) -> WitnessedTree {
    WitnessedTree {
        size: n,
        root: tree_root(tree, n).unwrap(),
    }
}

/// The reason of a 400 (`Malformed`) refusal; anything else fails the test.
fn malformed_reason<T: std::fmt::Debug>(result: Result<T, WitnessRefusal>) -> String {
    match result {
        Err(WitnessRefusal::Malformed { reason }) => reason,
        other => panic!("not malformed: {other:?}"),
    }
}

/// Opens and cosigns in one go, as a witness does under its lock.
fn answer(
    witness: &Witness,
    body: &[u8],
    held: Option<&WitnessedTree>,
    time: u64,
) -> Result<tlog::Cosigned, WitnessRefusal> {
    let request = witness.open_request(body)?;
    witness.cosign(&request, held, time)
}

/// TL-WIT-005: the witness cosigns the reference's 6 → 8 request against
/// its stored size-6 tree, and its answer is the published line byte for
/// byte; the tree to store is (8, root). A first request (`old 0`) is
/// cosigned from the empty tree; the same size again is cosigned again.
#[test]
fn tl_wit_005_witness_cosigns_consistent_checkpoints() {
    let tree = tree();
    let witness = witness1();
    assert_eq!(witness.verifier_key().to_string(), WITNESS_VKEY);
    assert_eq!(witness.name(), "example.com/witness1");

    let request = witness
        .open_request(ADD_CHECKPOINT_6_TO_8.as_bytes())
        .unwrap();
    assert_eq!(request.origin(), LOG_ORIGIN);
    assert_eq!(request.old_size(), 6);
    assert_eq!(request.checkpoint().size(), 8);
    let cosigned = witness
        .cosign(&request, Some(&stored(&tree, 6)), 1_700_000_100)
        .unwrap();
    assert_eq!(cosigned.body(), ADD_CHECKPOINT_RESPONSE);
    assert_eq!(cosigned.tree, stored(&tree, 8));

    // First contact: old 0 from the empty tree (stored or not).
    for held in [None, Some(&WitnessedTree::EMPTY)] {
        let first = answer(&witness, &body(&tree, 0, 6), held, 7).unwrap();
        assert_eq!(first.tree, stored(&tree, 6));
    }
    // The same checkpoint again: an empty proof, equal roots.
    let again = answer(&witness, &body(&tree, 8, 8), Some(&stored(&tree, 8)), 9).unwrap();
    assert_eq!(again.tree, stored(&tree, 8));
    // The empty tree itself.
    let empty = answer(&witness, &body(&tree, 0, 0), None, 9).unwrap();
    assert_eq!(empty.tree, WitnessedTree::EMPTY);

    // A witness configured with its 0x01 key signs as the cosigner.
    let plain = SignerKey::from_seed(
        "example.com/witness1",
        SignatureType::Ed25519,
        &seq_seed(0x20),
    )
    .unwrap();
    let mut from_plain = Witness::new(&plain);
    from_plain
        .add_log(LOG_ORIGIN, log_signer().verifier_key())
        .unwrap();
    assert_eq!(from_plain.verifier_key().to_string(), WITNESS_VKEY);
}

/// TL-WIT-005: every refusal has its status: 404 unknown origin; 403 no
/// signature of the log's key (another key, a corrupted signature, only a
/// witness's cosignature); 400 malformed, oversized, not a checkpoint or
/// `old` above the size; 409 naming the size held (body `<size>\n`,
/// `text/x.tlog.size`); 422 a failing proof, a fork at equal sizes, a
/// truncate-and-resume, `old 0` with a proof, a size-0 checkpoint whose
/// root is not SHA-256(""); 500 for a timestamp of 0. The stored tree is
/// never what the witness returns on a refusal.
#[test]
fn tl_wit_005_witness_refusals_and_statuses() {
    let tree = tree();
    let witness = witness1();
    let status = |r: Result<tlog::Cosigned, WitnessRefusal>| r.unwrap_err().status();

    // 404: another origin.
    let other =
        SignerKey::from_seed("example.com/other", SignatureType::Ed25519, &[9; 32]).unwrap();
    let other_note = Checkpoint::new("example.com/other", 1, tree_root(&tree, 1).unwrap())
        .unwrap()
        .sign(&other)
        .unwrap();
    let unknown = AddCheckpointRequest::new(0, vec![], other_note).unwrap();
    let refusal = witness.open_request(&unknown.to_bytes()).unwrap_err();
    assert_eq!(
        refusal,
        WitnessRefusal::UnknownOrigin {
            origin: "example.com/other".into()
        }
    );
    assert_eq!(refusal.status(), 404);

    // 403: signed by another key of the same name.
    let impostor = SignerKey::from_seed(LOG_ORIGIN, SignatureType::Ed25519, &[0xee; 32]).unwrap();
    let forged = AddCheckpointRequest::new(0, vec![], note_of(&tree, 8, &impostor)).unwrap();
    let refusal = witness.open_request(&forged.to_bytes()).unwrap_err();
    assert!(
        matches!(refusal, WitnessRefusal::Forbidden { .. }),
        "{refusal:?}"
    );
    assert_eq!(refusal.status(), 403);
    // 403: the log's own line, corrupted.
    let corrupted = ADD_CHECKPOINT_6_TO_8.replace("mXh8Q17a", "mXh8Q17b");
    assert_eq!(status(answer(&witness, corrupted.as_bytes(), None, 1)), 403);
    // 403: only a witness's cosignature, no log signature.
    let mut cosigned_only = Note::new(note_of(&tree, 8, &log_signer()).text()).unwrap();
    cosigned_only.cosign(&witness1_key(), 5).unwrap();
    let request = AddCheckpointRequest::new(0, vec![], cosigned_only).unwrap();
    assert_eq!(status(answer(&witness, &request.to_bytes(), None, 1)), 403);
    // Signatures of unknown keys beside the log's are ignored.
    let mut extra = note_of(&tree, 8, &log_signer());
    extra
        .sign(
            &SignerKey::from_seed("example.com/mirror", SignatureType::Ed25519, &[4; 32]).unwrap(),
        )
        .unwrap();
    extra.cosign(&cosigner("someone", 3), 4).unwrap();
    let request = AddCheckpointRequest::new(0, vec![], extra).unwrap();
    answer(&witness, &request.to_bytes(), None, 1).unwrap();

    // 400: malformed bodies.
    for bad in [
        &b""[..],
        b"old 6\n",
        b"hello",
        b"old 06\n\nexample.com/gpu-audit-log\n",
    ] {
        assert_eq!(status(answer(&witness, bad, None, 1)), 400, "{bad:?}");
    }
    let huge = vec![b'a'; tlog::MAX_ADD_CHECKPOINT_BODY_BYTES + 1];
    assert_eq!(
        malformed_reason(answer(&witness, &huge, None, 1)),
        "the body is 131073 bytes, more than 131072"
    );
    let mut not_checkpoint = Note::new("hello\n").unwrap();
    not_checkpoint.sign(&log_signer()).unwrap();
    let request = AddCheckpointRequest::new(0, vec![], not_checkpoint).unwrap();
    assert_eq!(status(answer(&witness, &request.to_bytes(), None, 1)), 400);
    let above = AddCheckpointRequest::new(9, vec![], note_of(&tree, 8, &log_signer())).unwrap();
    assert_eq!(
        status(answer(
            &witness,
            &above.to_bytes(),
            Some(&WitnessedTree {
                size: 9,
                root: EMPTY_ROOT
            }),
            1
        )),
        400
    );

    // 409: old is not what the witness holds; the body names its size.
    let refusal = answer(&witness, &body(&tree, 0, 8), Some(&stored(&tree, 6)), 1).unwrap_err();
    assert_eq!(refusal, WitnessRefusal::Conflict { old: 0, size: 6 });
    assert_eq!(refusal.status(), 409);
    assert_eq!(refusal.body(), "6\n");
    assert_eq!(refusal.content_type(), SIZE_CONTENT_TYPE);
    let refusal = answer(&witness, &body(&tree, 7, 8), Some(&stored(&tree, 6)), 1).unwrap_err();
    assert_eq!(refusal, WitnessRefusal::Conflict { old: 7, size: 6 });
    // A never-seen log holds 0.
    let refusal = answer(&witness, &body(&tree, 6, 8), None, 1).unwrap_err();
    assert_eq!(refusal, WitnessRefusal::Conflict { old: 6, size: 0 });
    assert_eq!(refusal.body(), "0\n");

    // 422: the proof does not lead from the stored root.
    let wrong_root = WitnessedTree {
        size: 6,
        root: tree_root(&tree, 5).unwrap(),
    };
    assert_eq!(
        status(answer(
            &witness,
            ADD_CHECKPOINT_6_TO_8.as_bytes(),
            Some(&wrong_root),
            1
        )),
        422
    );
    // 422: a fork at equal sizes.
    let forked = WitnessedTree {
        size: 8,
        root: Hash::from_slice(&[7; 32]).unwrap(),
    };
    assert_eq!(
        status(answer(&witness, &body(&tree, 8, 8), Some(&forked), 1)),
        422
    );
    // 422: truncate and resume: cut back to 4, append 4 other leaves.
    let mut resumed = test_leaves();
    resumed.truncate(4);
    resumed.extend((0..4u8).map(|i| vec![0xaa, i]));
    let resumed = tree_of(&resumed);
    assert_eq!(
        status(answer(
            &witness,
            &body(&resumed, 6, 8),
            Some(&stored(&tree, 6)),
            1
        )),
        422
    );
    // 422: old 0 with a proof.
    let with_proof = AddCheckpointRequest::new(
        0,
        vec![tree_root(&tree, 1).unwrap()],
        note_of(&tree, 8, &log_signer()),
    )
    .unwrap();
    assert_eq!(
        status(answer(&witness, &with_proof.to_bytes(), None, 1)),
        422
    );
    // 422: a size-0 checkpoint whose root is not SHA-256("").
    let bad_empty = Checkpoint::new(LOG_ORIGIN, 0, tree_root(&tree, 1).unwrap())
        .unwrap()
        .sign(&log_signer())
        .unwrap();
    let request = AddCheckpointRequest::new(0, vec![], bad_empty).unwrap();
    assert_eq!(status(answer(&witness, &request.to_bytes(), None, 1)), 422);

    // 500: the witness will not cosign at time 0.
    let refusal = answer(&witness, &body(&tree, 0, 8), None, 0).unwrap_err();
    assert!(matches!(refusal, WitnessRefusal::Internal { .. }));
    assert_eq!(refusal.status(), 500);
    assert!(refusal.body().ends_with('\n'));
    // The largest timestamp a cosignature carries (2^63 - 1, C2SP
    // tlog-cosignature) is accepted; one more is not.
    let max_timestamp = (1u64 << 63) - 1;
    let last = answer(&witness, &body(&tree, 0, 8), None, max_timestamp).unwrap();
    assert!(last.body().contains("example.com/witness1"));
    let refusal = answer(&witness, &body(&tree, 0, 8), None, max_timestamp + 1).unwrap_err();
    assert!(
        matches!(refusal, WitnessRefusal::Internal { .. }),
        "{refusal:?}"
    );
}

/// TL-WIT-005: a witness refuses a configuration that would let a log
/// through unchecked: a cosigner key as a log key, an origin twice, its own
/// key as a log's, an origin that is not one.
#[test]
fn tl_wit_005_witness_configuration() {
    let mut witness = witness1();
    assert_eq!(
        witness.add_log(LOG_ORIGIN, log_signer().verifier_key()),
        Err(WitnessConfigError::DuplicateOrigin {
            origin: LOG_ORIGIN.into()
        })
    );
    assert!(matches!(
        witness.add_log("example.com/b", log_signer().to_cosigner().verifier_key()),
        Err(WitnessConfigError::LogKeyNotEd25519 { .. })
    ));
    let own = SignerKey::from_seed("own", SignatureType::Ed25519, &seq_seed(0x20)).unwrap();
    assert!(matches!(
        witness.add_log("example.com/c", own.verifier_key()),
        Err(WitnessConfigError::LogIsWitness { .. })
    ));
    for bad in ["", "a\nb"] {
        assert!(matches!(
            witness.add_log(bad, log_signer().verifier_key()),
            Err(WitnessConfigError::BadOrigin { .. })
        ));
    }
}

/// TL-WIT-006: the log reads a 200 as the witness's verified cosignature
/// lines (the fixture's at 1700000100; lines of other keys left out; the
/// witness's 0x01 vkey works as its cosigner key), and a 409 as the size
/// the witness holds.
#[test]
fn tl_wit_006_log_reads_cosignatures_and_conflicts() {
    let sent = AddCheckpointRequest::parse(ADD_CHECKPOINT_6_TO_8.as_bytes())
        .unwrap()
        .checkpoint()
        .clone();
    let key = VerifierKey::parse(WITNESS_VKEY).unwrap();
    let WitnessReply::Cosigned(lines) =
        read_response(200, ADD_CHECKPOINT_RESPONSE.as_bytes(), &sent, &key).unwrap()
    else {
        panic!("not cosigned");
    };
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].timestamp, 1_700_000_100);
    assert_eq!(format!("{}\n", lines[0].signature), ADD_CHECKPOINT_RESPONSE);
    // The stored note with the line verifies under a 1-of-1 policy.
    let mut note = sent.clone();
    note.add_signature(lines[0].signature.clone()).unwrap();
    let policy = WitnessPolicy::new(log_signer().verifier_key(), vec![key.clone()], 1).unwrap();
    policy.verify(&note.to_bytes(), LOG_ORIGIN).unwrap();

    // Other keys' lines (another witness, say an ML-DSA key) are left out,
    // and a repeated line counted once.
    let other = cosignature_line(sent.text(), &cosigner("example.com/witness2", 5), 3);
    let mixed = format!("{other}{ADD_CHECKPOINT_RESPONSE}{ADD_CHECKPOINT_RESPONSE}");
    let plain_key = SignerKey::from_seed(
        "example.com/witness1",
        SignatureType::Ed25519,
        &seq_seed(0x20),
    )
    .unwrap()
    .verifier_key();
    assert_eq!(
        read_response(200, mixed.as_bytes(), &sent, &plain_key).unwrap(),
        WitnessReply::Cosigned(lines)
    );

    // 409: `<size>\n`, canonical.
    assert_eq!(
        read_response(409, b"6\n", &sent, &key).unwrap(),
        WitnessReply::Conflict { size: 6 }
    );
    assert_eq!(read_conflict(b"0\n"), Ok(0));
    assert_eq!(read_conflict(b"18446744073709551615\n"), Ok(u64::MAX));
    for bad in [
        &b""[..],
        b"6",
        b"06\n",
        b"6\n\n",
        b" 6\n",
        b"-6\n",
        b"\xff\n",
        b"18446744073709551616\n",
    ] {
        assert_eq!(
            read_conflict(bad),
            Err(WitnessResponseError::BadConflictBody),
            "{bad:?}"
        );
    }
    assert_eq!(
        read_conflict(b"000000000000000000000006\n"),
        Err(WitnessResponseError::BodyTooLarge { max: 21 })
    );
}

/// TL-WIT-006: what the log must not take from a 200: a corrupted line of
/// the witness's key, its line over another checkpoint, time 0, no line of
/// its key (these are alarms); a body over the bound, more than 16 lines,
/// lines that are not signature lines (these are not). 403, 404 and 422 are
/// alarms, 400 and other statuses are not.
#[test]
fn tl_wit_006_log_refuses_bad_answers() {
    let tree = tree();
    let sent = note_of(&tree, 8, &log_signer());
    let key = witness1().verifier_key();
    let read = |body: &[u8]| read_response(200, body, &sent, &key);

    let corrupted = ADD_CHECKPOINT_RESPONSE.replace("2P2/rgAAAABlU/Fk", "2P2/rgAAAABlU/Fl");
    let err = read(corrupted.as_bytes()).unwrap_err();
    assert!(
        matches!(err, WitnessResponseError::BadCosignature { .. }),
        "{err:?}"
    );
    assert!(err.is_alarm());

    // witness1's cosignature of the size-6 checkpoint, offered for size 8.
    let six = cosignature_line(note_of(&tree, 6, &log_signer()).text(), &witness1_key(), 10);
    let err = read(six.as_bytes()).unwrap_err();
    assert!(matches!(err, WitnessResponseError::BadCosignature { .. }));
    assert!(err.is_alarm());

    // A valid signature stating time 0.
    let zero = cosignature_line(sent.text(), &witness1_key(), 0);
    let err = read(zero.as_bytes()).unwrap_err();
    assert!(matches!(err, WitnessResponseError::BadCosignature { .. }));

    // Only another key's line.
    let other = cosignature_line(sent.text(), &cosigner("example.com/witness2", 5), 3);
    let err = read(other.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        WitnessResponseError::NoCosignature {
            witness: key.to_string(),
            lines: 1
        }
    );
    assert!(err.is_alarm());
    // Another key of witness1's name is another key too: not a bad
    // cosignature of ours, just no cosignature.
    let impostor = cosignature_line(sent.text(), &cosigner("example.com/witness1", 6), 3);
    assert_eq!(
        read(impostor.as_bytes()).unwrap_err(),
        WitnessResponseError::NoCosignature {
            witness: key.to_string(),
            lines: 1
        }
    );

    // Bounds and shape: not alarms, the answer is just unusable.
    let good = cosignature_line(sent.text(), &witness1_key(), 11);
    read(good.as_bytes()).unwrap();
    let many = good.repeat(MAX_COSIGNATURE_LINES + 1);
    assert_eq!(
        read(many.as_bytes()).unwrap_err(),
        WitnessResponseError::TooManyLines
    );
    read(good.repeat(MAX_COSIGNATURE_LINES).as_bytes()).unwrap();
    let huge = vec![b'a'; MAX_WITNESS_RESPONSE_BYTES + 1];
    assert_eq!(
        read(&huge).unwrap_err(),
        WitnessResponseError::BodyTooLarge {
            max: MAX_WITNESS_RESPONSE_BYTES
        }
    );
    // Exactly the limit is read (and refused for what it says).
    let at_limit = vec![b'a'; MAX_WITNESS_RESPONSE_BYTES];
    assert!(matches!(
        read(&at_limit).unwrap_err(),
        WitnessResponseError::NotSignatureLines(_)
    ));
    for bad in [
        &b""[..],
        b"\n",
        b"ok\n",
        b"\xff\n",
        good.trim_end().as_bytes(),
    ] {
        let err = read(bad).unwrap_err();
        assert!(
            matches!(err, WitnessResponseError::NotSignatureLines(_)),
            "{bad:?}: {err:?}"
        );
        assert!(!err.is_alarm());
    }
    assert!(!WitnessResponseError::BadConflictBody.is_alarm());

    for (status, refusal, alarm) in [
        (400, Refusal::Malformed, false),
        (403, Refusal::Forbidden, true),
        (404, Refusal::UnknownOrigin, true),
        (422, Refusal::Inconsistent, true),
    ] {
        let reply = read_response(status, b"whatever", &sent, &key).unwrap();
        assert_eq!(reply, WitnessReply::Refused(refusal));
        assert_eq!(reply.is_alarm(), alarm, "{status}");
        assert_eq!(refusal.status(), status);
        assert!(refusal.to_string().starts_with(&status.to_string()));
    }
    for status in [201, 301, 500, 503] {
        let reply = read_response(status, b"", &sent, &key).unwrap();
        assert_eq!(reply, WitnessReply::Unexpected { status });
        assert!(!reply.is_alarm());
    }
}

/// TL-WIT-007: a log and a witness, end to end without HTTP: the witness
/// follows the tree 0 → 3 → 6 → 8, each answer read back and verified by
/// the log; a stale `old` gets a 409 and the retry from the size named
/// succeeds; a truncate-and-resume (CVE-2023-31438: cut to 4, 4 other
/// leaves appended) and a rollback are refused and leave the witness's
/// tree as it was.
#[test]
fn tl_wit_007_log_and_witness_end_to_end() {
    let tree = tree();
    let witness = witness1();
    let key = witness.verifier_key();
    let mut held: Option<WitnessedTree> = None;
    let mut time = 1_700_000_000;
    let mut submit =
        |tree: &MemoryHashStore, old: u64, new: u64, held: &mut Option<WitnessedTree>| {
            time += 1;
            let body = body(tree, old, new);
            let sent = AddCheckpointRequest::parse(&body)
                .unwrap()
                .checkpoint()
                .clone();
            let (status, answer) = match answer(&witness, &body, held.as_ref(), time) {
                Ok(cosigned) => {
                    *held = Some(cosigned.tree);
                    (200, cosigned.body())
                }
                Err(refusal) => (refusal.status(), refusal.body()),
            };
            read_response(status, answer.as_bytes(), &sent, &key).unwrap()
        };
    for (old, new) in [(0, 3), (3, 6), (6, 8)] {
        let reply = submit(&tree, old, new, &mut held);
        assert!(
            matches!(reply, WitnessReply::Cosigned(ref l) if l.len() == 1),
            "{reply:?}"
        );
        assert_eq!(held, Some(stored(&tree, new)));
    }
    // The log forgot what the witness holds: 409, then the retry.
    assert_eq!(
        submit(&tree, 0, 8, &mut held),
        WitnessReply::Conflict { size: 8 }
    );
    assert!(matches!(
        submit(&tree, 8, 8, &mut held),
        WitnessReply::Cosigned(_)
    ));

    // Truncate and resume: the witness holds 8; the log shows a tree of 8
    // (and then 10) that shares only the first 4 leaves.
    let mut resumed = test_leaves();
    resumed.truncate(4);
    resumed.extend((0..6u8).map(|i| vec![0xaa, i]));
    let resumed = tree_of(&resumed);
    for new in [8, 10] {
        let reply = submit(&resumed, 8, new, &mut held);
        assert_eq!(reply, WitnessReply::Refused(Refusal::Inconsistent));
        assert!(reply.is_alarm());
        assert_eq!(held, Some(stored(&tree, 8)));
    }
    // Rollback: an older checkpoint from old 0 is told the witness holds 8,
    // more than the checkpoint: the log knows it was cut.
    assert_eq!(
        submit(&tree, 0, 5, &mut held),
        WitnessReply::Conflict { size: 8 }
    );
    assert_eq!(held, Some(stored(&tree, 8)));
    assert_ne!(tree_root(&tree, 8).unwrap(), EMPTY_ROOT);
}

proptest! {
    /// TL-WIT-005, TL-WIT-006: any bytes as a request body or an answer
    /// give a status or a typed error, never a panic.
    #[test]
    fn tl_wit_005_tl_wit_006_any_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        status in prop_oneof![Just(200u16), Just(409u16), any::<u16>()],
        cut in 0usize..600,
    ) {
        let witness = witness1();
        let _ = witness.open_request(&bytes).map(|r| witness.cosign(&r, None, 1));
        // Mutated fixtures: a prefix of the request and of the answer.
        let fixture = ADD_CHECKPOINT_6_TO_8.as_bytes();
        let _ = witness.open_request(&fixture[..cut.min(fixture.len())]);
        let sent = AddCheckpointRequest::parse(fixture).unwrap().checkpoint().clone();
        let key = witness.verifier_key();
        let _ = read_response(status, &bytes, &sent, &key);
        let answer = ADD_CHECKPOINT_RESPONSE.as_bytes();
        let _ = read_response(200, &answer[..cut.min(answer.len())], &sent, &key);
        let _ = NoteSignature::parse_lines(&String::from_utf8_lossy(&bytes));
    }
}

/// TL-WIT-005: the largest request the formats allow (63 proof hashes, a
/// checkpoint note with 100 signatures) fits under the body limit, and a
/// body of exactly the limit is refused for what it says, not its size.
#[test]
fn tl_wit_005_the_largest_request_fits_the_body_limit() {
    let tree = tree();
    let mut note = note_of(&tree, 8, &log_signer());
    for i in 1..100u8 {
        let name = format!("example.com/another-log-with-a-longer-name-{i:03}");
        let other = SignerKey::from_seed(&name, SignatureType::Ed25519, &[i; 32]).unwrap();
        note.sign(&other).unwrap();
    }
    assert_eq!(note.signatures().len(), 100);
    let proof = vec![Hash::from_slice(&[7; 32]).unwrap(); 63];
    let body = AddCheckpointRequest::new(6, proof, note)
        .unwrap()
        .to_bytes();
    assert!(
        body.len() <= tlog::MAX_ADD_CHECKPOINT_BODY_BYTES,
        "{} bytes",
        body.len()
    );
    let opened = witness1().open_request(&body).unwrap();
    assert_eq!((opened.old_size(), opened.checkpoint().size()), (6, 8));

    let mut padded = body;
    padded.resize(tlog::MAX_ADD_CHECKPOINT_BODY_BYTES, b'\n');
    let reason = malformed_reason(witness1().open_request(&padded));
    assert!(!reason.contains("more than"), "{reason}");
}
