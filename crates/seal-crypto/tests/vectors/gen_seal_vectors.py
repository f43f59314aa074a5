#!/usr/bin/env python3
"""Generates seal-known-answers.json (spec SC-VEC-004).

An independent implementation of .specs/seal-crypto.md, written from the
spec text only, with nothing but the Python standard library (hashlib, hmac):

- SC-KEY-002: HKDF-SHA256 (RFC 5869), salt "vram-residency/hkdf-salt/v1",
  IKM the worker secret, info the context string, 32 bytes out;
- SC-KEY-003: fingerprint = first 8 bytes of
  SHA-256("vram-residency/fingerprint/v1" || u64 len(p) || p || key);
- SC-SEAL-002 / SC-SEAL-005: the canonical claim encodings of versions 1 and 2;
- SC-SEAL-001: seal = HMAC-SHA256(seal key, canonical encoding).

Run from anywhere:  python3 gen_seal_vectors.py
It rewrites seal-known-answers.json next to itself. The Rust test
(tests/vectors.rs, `seal_known_answers`) checks the code against that file.
"""

import hashlib
import hmac
import json
import os
import struct

HKDF_SALT = b"vram-residency/hkdf-salt/v1"
CONTEXTS = [
    ("seal", "vram-residency/seal-key/v1"),
    ("audit_chain", "vram-residency/audit-chain-key/v1"),
    ("audit_checkpoint_seed", "vram-residency/audit-checkpoint-key/v1"),
]
FINGERPRINT_DOMAIN = b"vram-residency/fingerprint/v1"
SEAL_DOMAIN = b"vram-residency/seal"

# A fixed 40-byte worker secret (not 32, so a length assumption would show).
WORKER_SECRET = bytes((0x5C + 7 * i) % 256 for i in range(40))


def u16(n):
    return struct.pack(">H", n)


def u64(n):
    return struct.pack(">Q", n)


def hkdf_sha256(salt, ikm, info, length):
    """RFC 5869 extract-then-expand."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def fingerprint(purpose, key):
    data = FINGERPRINT_DOMAIN + u64(len(purpose)) + purpose + key
    return hashlib.sha256(data).digest()[:8].hex()


def field(tag, value):
    return bytes([tag]) + u64(len(value)) + value


def canonical(claims):
    version = claims["version"]
    out = u64(len(SEAL_DOMAIN)) + SEAL_DOMAIN + u16(version)
    out += field(1, claims["shard_id"].encode("utf-8"))
    out += field(2, bytes.fromhex(claims["digest"]))
    out += field(3, bytes.fromhex(claims["chunk_root"]))
    out += field(4, u64(claims["size_bytes"]))
    out += field(5, u64(claims["device_index"]))
    out += field(6, u64(claims["sealed_at_unix_ns"]))
    if version == 1:
        assert "model_ref" not in claims and "shard_position" not in claims
        return out
    assert version == 2
    model_ref = claims.get("model_ref")
    out += field(7, b"\x00" if model_ref is None else b"\x01" + model_ref.encode("utf-8"))
    position = claims.get("shard_position")
    out += field(
        8,
        b"\x00"
        if position is None
        else b"\x01" + u64(position["index"]) + u64(position["total"]),
    )
    return out


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


def claim_sets():
    base = {
        "shard_id": "llama-3-8b:tp0",
        "digest": sha256_hex("weights of llama-3-8b tp0"),
        "chunk_root": sha256_hex("chunked root of llama-3-8b tp0"),
        "size_bytes": 3 * 1024 * 1024 + 5,
        "device_index": 0,
        "sealed_at_unix_ns": 1_700_000_000_123_456_789,
    }
    return [
        ("version 1", dict(base, version=1)),
        ("version 2, no labels (same facts as version 1)", dict(base, version=2)),
        (
            "version 2, model reference only",
            dict(base, version=2, device_index=1, model_ref="llama-3-8b"),
        ),
        (
            "version 2, shard position only",
            dict(base, version=2, shard_position={"index": 0, "total": 1}),
        ),
        (
            "version 2, both labels, a path as model reference",
            {
                "shard_id": "llama-3-70b:tp7",
                "digest": sha256_hex("weights of llama-3-70b tp7"),
                "chunk_root": sha256_hex("chunked root of llama-3-70b tp7"),
                "size_bytes": 17_179_869_184,
                "device_index": 7,
                "sealed_at_unix_ns": 1_712_345_678_000_000_001,
                "version": 2,
                "model_ref": "/models/llama-3-70b/model-00008-of-00008.safetensors",
                "shard_position": {"index": 7, "total": 8},
            },
        ),
        (
            "version 2, non-ASCII model reference, largest integers",
            {
                "shard_id": "m:max",
                "digest": "00" * 32,
                "chunk_root": "ff" * 32,
                "size_bytes": 2**64 - 1,
                "device_index": 2**32 - 1,
                "sealed_at_unix_ns": 2**64 - 1,
                "version": 2,
                "model_ref": "mod\u00e8le-\u00fc/\u03c0",
                "shard_position": {"index": 2**32 - 2, "total": 2**32 - 1},
            },
        ),
    ]


def main():
    keys = []
    derived = {}
    for name, context in CONTEXTS:
        okm = hkdf_sha256(HKDF_SALT, WORKER_SECRET, context.encode(), 32)
        derived[name] = okm
        keys.append(
            {
                "name": name,
                "context": context,
                "derived_hex": okm.hex(),
                "seal_key_fingerprint": fingerprint(b"seal-key", okm),
            }
        )
    seal_key = derived["seal"]
    seals = []
    for name, claims in claim_sets():
        encoding = canonical(claims)
        seals.append(
            {
                "name": name,
                "claims": claims,
                "canonical_hex": encoding.hex(),
                "seal_hex": hmac.new(seal_key, encoding, hashlib.sha256).hexdigest(),
            }
        )
    out = {
        "source": "SC-VEC-004 known answers, computed by gen_seal_vectors.py "
        "(hashlib/hmac only) from the text of .specs/seal-crypto.md "
        "(SC-KEY-002, SC-KEY-003, SC-SEAL-001, SC-SEAL-002, SC-SEAL-005)",
        "hkdf_salt_ascii": HKDF_SALT.decode(),
        "worker_secret_hex": WORKER_SECRET.hex(),
        "worker_secret_fingerprint": fingerprint(b"worker-secret", WORKER_SECRET),
        "keys": keys,
        "seal_key_context": CONTEXTS[0][1],
        "seals": seals,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seal-known-answers.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
