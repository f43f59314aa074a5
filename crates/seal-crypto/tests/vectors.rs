//! Published test vectors run through the public API (spec `SC-VEC-*`), the
//! chunked-digest vectors of `.specs/seal-crypto.md` (`SC-CHUNK-001`) and the
//! known answers for keys and seals of every version (`SC-VEC-004`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use seal_crypto::{
    ChunkTree, Digest, KeyError, SEAL_VERSION, SEAL_VERSION_1, SUPPORTED_SEAL_VERSIONS, SealClaims,
    SealError, SealKey, Sha256Stream, ShardDigester, WorkerSecret, context, sha256, sha256_reader,
    sign, verify,
};
use serde_json::Value;

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    file["vectors"].as_array().unwrap().clone()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// SC-VEC-001: FIPS 180-4 SHA-256 examples, one-shot, streamed byte by byte
/// and through a reader.
#[test]
fn fips180_4_sha256_examples() {
    let vectors = load("fips180-4-sha256.json");
    assert_eq!(vectors.len(), 5);
    for v in vectors {
        let unit = v["message_ascii"].as_str().unwrap().as_bytes();
        let message = unit.repeat(v["repeat"].as_u64().unwrap() as usize);
        let want: Digest = v["digest"].as_str().unwrap().parse().unwrap();
        assert_eq!(sha256(&message), want, "{}", v["name"]);
        assert_eq!(
            sha256_reader(&message[..]).unwrap(),
            (want, message.len() as u64)
        );
        let mut stream = Sha256Stream::new();
        message.chunks(3).for_each(|c| stream.update(c));
        assert_eq!(stream.finish(), want);
        assert_eq!(want.to_string(), v["digest"].as_str().unwrap());
    }
}

/// SC-VEC-002: RFC 4231 through `SealKey`. Cases 6 and 7 (131-byte keys)
/// apply and must match; cases 1-5 use keys under 32 bytes, which a
/// `SealKey` refuses with the bound.
#[test]
fn rfc4231_through_seal_key() {
    for v in load("rfc4231-hmac-sha256.json") {
        let key = hex(v["key"].as_str().unwrap());
        let data = hex(v["data"].as_str().unwrap());
        let want = hex(v["hmac_sha256"].as_str().unwrap());
        match SealKey::from_bytes(&key) {
            Ok(seal_key) => {
                assert!(key.len() >= 32);
                let tag = seal_key.mac(&data);
                assert_eq!(&tag[..want.len()], &want[..], "case {}", v["test_case"]);
                if want.len() == 32 {
                    seal_key.verify_mac(&data, &want).unwrap();
                }
            }
            Err(e) => assert_eq!(
                e,
                KeyError::TooShort {
                    min: 32,
                    actual: key.len()
                }
            ),
        }
    }
}

/// SC-CHUNK-001: the chunked digest matches an independent implementation.
#[test]
fn chunked_digest_v1_vectors() {
    let vectors = load("chunked-digest-v1.json");
    assert_eq!(vectors.len(), 6);
    for v in vectors {
        let len = v["length"].as_u64().unwrap() as usize;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let root: Digest = v["chunked_root"].as_str().unwrap().parse().unwrap();
        let plain: Digest = v["plain_sha256"].as_str().unwrap().parse().unwrap();
        let tree = ChunkTree::from_bytes(&data);
        assert_eq!(tree.root(), root, "{}", v["name"]);
        assert_eq!(tree.chunk_count(), v["chunk_count"].as_u64().unwrap());
        let mut digester = ShardDigester::new();
        data.chunks(100_003).for_each(|c| digester.update(c));
        let both = digester.finish();
        assert_eq!((both.plain, both.chunks.root()), (plain, root));
    }
}

/// SC-DIG-002: the plain digest of a file equals `sha256sum` of it, and the
/// chunked root computed from the file equals the one from memory.
#[test]
fn file_digest_matches_sha256sum() {
    let dir = std::env::temp_dir().join(format!("seal-crypto-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shard.bin");
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 99u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    let (ours, n) = sha256_reader(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(n, data.len() as u64);
    match std::process::Command::new("sha256sum").arg(&path).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8(out.stdout).unwrap();
            assert_eq!(text.split_whitespace().next().unwrap(), ours.to_string());
        }
        // `cargo xtask ci` sets VRAM_REQUIRE_TOOLS=1: there a missing tool
        // fails the test instead of quietly narrowing it.
        _ if std::env::var_os("VRAM_REQUIRE_TOOLS").is_some_and(|v| v == "1") => {
            panic!(
                "sha256sum is required under `cargo xtask ci` (VRAM_REQUIRE_TOOLS=1); install coreutils"
            )
        }
        _ => eprintln!("sha256sum not available: compared with the in-memory digest only"),
    }
    assert_eq!(ours, sha256(&data));
    let from_file = ChunkTree::from_file(&std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(from_file, ChunkTree::from_bytes(&data));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SC-VEC-004 (and SC-KEY-002, SC-KEY-003, SC-SEAL-001, SC-SEAL-002,
/// SC-SEAL-005, SC-SEAL-006): the code reproduces the known answers that an
/// independent Python implementation of the spec computed
/// (`tests/vectors/gen_seal_vectors.py`): derived keys and fingerprints for
/// every context, and the canonical encoding and seal of claims of every
/// version. Version-2 claims sign to the listed seal; every listed seal,
/// version 1 included, verifies; version 1 is no longer signed.
#[test]
fn seal_known_answers() {
    let path = format!(
        "{}/tests/vectors/seal-known-answers.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

    let secret = WorkerSecret::new(&hex(file["worker_secret_hex"].as_str().unwrap())).unwrap();
    assert_eq!(
        secret.fingerprint().to_string(),
        file["worker_secret_fingerprint"].as_str().unwrap()
    );

    // Every HKDF context of SC-KEY-002, by the constants the code uses.
    let keys = file["keys"].as_array().unwrap();
    let contexts = [
        ("seal", context::SEAL),
        ("audit_chain", context::AUDIT_CHAIN),
        ("audit_checkpoint_seed", context::AUDIT_CHECKPOINT),
    ];
    assert_eq!(keys.len(), contexts.len());
    for (k, (name, ctx)) in keys.iter().zip(contexts) {
        assert_eq!(k["name"], name);
        assert_eq!(k["context"], ctx, "{name}: context string");
        let derived = secret.derive_bytes(ctx).unwrap();
        assert_eq!(
            derived.to_vec(),
            hex(k["derived_hex"].as_str().unwrap()),
            "{name}: derived key"
        );
        let key = SealKey::derive(&secret, ctx).unwrap();
        assert_eq!(
            key.fingerprint().to_string(),
            k["seal_key_fingerprint"].as_str().unwrap(),
            "{name}: fingerprint"
        );
        assert_eq!(
            SealKey::from_bytes(derived.as_slice())
                .unwrap()
                .fingerprint(),
            key.fingerprint()
        );
    }

    let key = SealKey::derive(&secret, context::SEAL).unwrap();
    let seals = file["seals"].as_array().unwrap();
    let mut versions_seen = Vec::new();
    for v in seals {
        let name = v["name"].as_str().unwrap();
        let claims: SealClaims = serde_json::from_value(v["claims"].clone()).unwrap();
        // Stored claims read back and write out unchanged (absent labels
        // are omitted, so version-1 claims keep their old form).
        assert_eq!(
            serde_json::to_value(&claims).unwrap(),
            v["claims"],
            "{name}"
        );
        claims.validate().unwrap();
        let canonical = hex(v["canonical_hex"].as_str().unwrap());
        let seal = hex(v["seal_hex"].as_str().unwrap());
        assert_eq!(
            claims.canonical_bytes(),
            canonical,
            "{name}: canonical encoding"
        );
        assert_eq!(key.mac(&canonical).to_vec(), seal, "{name}: MAC");
        verify(&key, &claims, &seal).unwrap_or_else(|e| panic!("{name}: {e}"));
        match claims.version {
            SEAL_VERSION => {
                assert_eq!(
                    sign(&key, &claims).unwrap().as_bytes().to_vec(),
                    seal,
                    "{name}"
                );
            }
            SEAL_VERSION_1 => assert_eq!(
                sign(&key, &claims),
                Err(SealError::RetiredVersion { version: 1 }),
                "{name}"
            ),
            other => panic!("{name}: unexpected version {other}"),
        }
        // The seal binds the version: the same facts under the other
        // version do not verify.
        let mut other = claims.clone();
        other.version = if claims.version == SEAL_VERSION {
            SEAL_VERSION_1
        } else {
            SEAL_VERSION
        };
        assert_eq!(
            verify(&key, &other, &seal),
            Err(SealError::VerificationFailed),
            "{name}"
        );
        versions_seen.push(claims.version);
    }
    for version in SUPPORTED_SEAL_VERSIONS {
        assert!(
            versions_seen.contains(&version),
            "no vector for version {version}"
        );
    }
    assert!(seals.len() >= 6);
}
