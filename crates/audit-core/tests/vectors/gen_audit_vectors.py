#!/usr/bin/env python3
"""Generates audit-wire.json (spec AC-085).

An independent implementation of the "Wire format" section of
.specs/audit-core.md (AC-070 to AC-084), written from the spec text only,
with nothing but the Python standard library (hashlib, hmac) and a short
pure-Python Ed25519 (RFC 8032 section 6, signing only, plus a check):

- AC-070: the canonical encoding (u64 len(domain) || domain || u16 version,
  then u8 tag || u64 len || value per field);
- AC-071: HKDF-SHA256 of the audit chain key and the checkpoint seed;
- AC-072 / AC-073: record encodings, event JSON text and record MACs;
- AC-074 / AC-075: genesis value and chain links;
- AC-076: anchor MACs, versions 1 and 2;
- AC-078 / AC-079: checkpoint signed messages, Ed25519 signatures, files;
- AC-080: NDJSON export lines;
- AC-084: the CLI reads the secret file minus one trailing "\\n".

Run from anywhere:  python3 gen_audit_vectors.py
It rewrites audit-wire.json next to itself. The Rust test
(tests/wire_vectors.rs) checks the code against that file.
"""

import datetime
import hashlib
import hmac
import json
import os
import struct

HKDF_SALT = b"vram-residency/hkdf-salt/v1"
CHAIN_CONTEXT = "vram-residency/audit-chain-key/v1"
CHECKPOINT_CONTEXT = "vram-residency/audit-checkpoint-key/v1"
RECORD_DOMAIN = "vram-residency/audit-record"
GENESIS_DOMAIN = "vram-residency/audit-genesis"
ANCHOR_DOMAIN = "vram-residency/audit-anchor"
CHECKPOINT_DOMAIN = "vram-residency/audit-checkpoint"

# AC-084: the secret file as `openssl rand -hex 32 > FILE` writes it. The
# secret is its bytes minus the one trailing "\n": 64 ASCII hex digits,
# not the 32 bytes they spell.
SECRET_FILE = b"cb6c678b17a70e0e130302516adf6036f2e5499549e0e10e95be784db52d4205\n"
WORKER_SECRET = SECRET_FILE[:-1] if SECRET_FILE.endswith(b"\n") else SECRET_FILE
# Non-ASCII, so a length counted in characters instead of bytes would show.
WORKER_ID = "w\u00f6rker-07"

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


# --- AC-070: canonical encoding -------------------------------------------


def u16(n):
    return struct.pack(">H", n)


def u64(n):
    return struct.pack(">Q", n)


def i64(n):
    return struct.pack(">q", n)


def encode(domain, version, fields):
    """fields: (tag, bytes) in the order the spec's table lists them."""
    d = domain.encode("utf-8")
    out = u64(len(d)) + d + u16(version)
    for tag, value in fields:
        out += bytes([tag]) + u64(len(value)) + value
    return out


# --- AC-071: keys -----------------------------------------------------------


def hkdf_sha256(salt, ikm, info, length):
    """RFC 5869 extract-then-expand."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def mac(key, message):
    return hmac.new(key, message, hashlib.sha256).digest()


# --- Ed25519, RFC 8032 section 6 (PureEd25519) -----------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = t1 * 2 * D * t2 % P
    dd = z1 * 2 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, point):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, point)
        point = _add(point, point)
        s >>= 1
    return q


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
G = (_GX, _GY, 1, _GX * _GY % P)


def _compress(point):
    zinv = pow(point[2], P - 2, P)
    x, y = point[0] * zinv % P, point[1] * zinv % P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decompress(s):
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def _sha512_int(data):
    return int.from_bytes(hashlib.sha512(data).digest(), "little")


def _expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def ed25519_public(seed):
    a, _ = _expand(seed)
    return _compress(_mul(a, G))


def ed25519_sign(seed, message):
    a, prefix = _expand(seed)
    public = _compress(_mul(a, G))
    r = _sha512_int(prefix + message) % L
    big_r = _compress(_mul(r, G))
    s = (r + _sha512_int(big_r + public + message) * a) % L
    return big_r + int.to_bytes(s, 32, "little")


def ed25519_verify(public, message, signature):
    a = _decompress(public)
    r = _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    h = _sha512_int(signature[:32] + public + message) % L
    return _equal(_mul(s, G), _add(r, _mul(h, a)))


# --- AC-073: JSON text as the log writes it ---------------------------------


def json_string(text):
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = []
    for ch in text:
        if ch in short:
            out.append(short[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def json_text(value):
    """Compact; object keys sorted by their UTF-8 bytes; no floats."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        assert -(2**63) <= value < 2**64
        return str(value)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-8"))
        return "{" + ",".join(json_string(k) + ":" + json_text(value[k]) for k in keys) + "}"
    raise TypeError("no floats in these vectors: %r" % (value,))


def json_ordered(pairs):
    """A compact object whose fields keep the given order (AC-080)."""
    return "{" + ",".join(json_string(k) + ":" + v for k, v in pairs) + "}"


def json_pretty_ordered(pairs):
    """serde_json's pretty form of a flat object (AC-079)."""
    return "{\n" + ",\n".join("  " + json_string(k) + ": " + v for k, v in pairs) + "\n}"


def rfc3339(ts_ns):
    """UTC, the fewest groups of three fraction digits, none when zero."""
    secs, nanos = divmod(ts_ns, 10**9)
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=secs)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos == 0:
        frac = ""
    elif nanos % 10**6 == 0:
        frac = ".%03d" % (nanos // 10**6)
    elif nanos % 10**3 == 0:
        frac = ".%06d" % (nanos // 10**3)
    else:
        frac = ".%09d" % nanos
    return text + frac + "Z"


def uuid_v7(unix_ms, rand_a, rand_b):
    """48-bit ms || ver 7 || 12 bits || variant 0b10 || 62 bits."""
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    raw = value.to_bytes(16, "big")
    h = raw.hex()
    return raw, "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


# --- the log ----------------------------------------------------------------


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


def records_spec():
    """Three events, with the payload keys AC-073 lists for built-in kinds."""
    digest = sha256_hex("weights of llama-3-8b tp0")
    reason = 'out of memory: "pool 0" full\nnext try in 5 s \u2013 \u03a9'
    custom_payload = {
        "zeta": [1, -2, True, None, 18446744073709551615, -9223372036854775808],
        "Alpha": {"b": "tab\there \u0001 / \u007f \\ end", "a": 0},
        "\u00c9moji": "\U0001f980",
        "_": "",
    }
    return [
        {
            "name": "VramSealed: critical, with a shard id",
            "constructor": "vram_sealed",
            "args": {"shard_id": "llama-3-8b:tp0", "device": 0, "bytes": 17179869184, "digest": digest},
            "kind": "VramSealed",
            "severity": "critical",
            "shard_id": "llama-3-8b:tp0",
            "payload": {"shard_id": "llama-3-8b:tp0", "device": 0, "bytes": 17179869184, "digest": digest},
            "ts_ns": 1_700_000_000_123_456_789,
            "uuid": (1_700_000_000_123, 0x0A1, 0x0123456789ABCDE),
        },
        {
            "name": "VramAllocationFailed: medium, no shard id, escapes in a string",
            "constructor": "vram_allocation_failed",
            "args": {"requested": 8589934592, "available": 1073741824, "reason": reason, "device": 1},
            "kind": "VramAllocationFailed",
            "severity": "medium",
            "shard_id": None,
            "payload": {"requested": 8589934592, "available": 1073741824, "reason": reason, "device": 1},
            "ts_ns": 1_700_000_001_000_250_000,
            "uuid": (1_700_000_001_000, 0xFFF, 0x3FFFFFFFFFFFFFFF),
        },
        {
            "name": "custom kind: low, non-ASCII shard id, nested payload",
            "constructor": "custom",
            "args": {"kind": "BackupTaken.v2", "severity": "low", "shard_id": "shard/\u00fc-1", "payload": custom_payload},
            "kind": "BackupTaken.v2",
            "severity": "low",
            "shard_id": "shard/\u00fc-1",
            "payload": custom_payload,
            "ts_ns": 1_700_000_002_500_000_000,
            "uuid": (1_700_000_002_500, 0x000, 0x0000000000000001),
        },
    ]


def record_encoding(worker_id, seq, id_bytes, ts_ns, kind, rank, shard_id, event, prev_mac):
    """AC-072."""
    present = b"\x00" if shard_id is None else b"\x01"
    shard = b"" if shard_id is None else shard_id.encode("utf-8")
    return encode(
        RECORD_DOMAIN,
        1,
        [
            (1, worker_id.encode("utf-8")),
            (2, u64(seq)),
            (3, id_bytes),
            (4, i64(ts_ns)),
            (5, kind.encode("utf-8")),
            (6, i64(rank)),
            (7, present),
            (8, shard),
            (9, event.encode("utf-8")),
            (10, prev_mac),
        ],
    )


def anchor_encoding(version, worker_id, seq, record_mac, dropped, ts_ns):
    """AC-076."""
    fields = [(1, worker_id.encode("utf-8")), (2, u64(seq)), (3, record_mac)]
    if version == 2:
        fields += [(4, i64(dropped)), (5, i64(ts_ns))]
    return encode(ANCHOR_DOMAIN, version, fields)


def checkpoint(seed, public, worker_id, last_seq, head_mac, record_count, created_ns):
    """AC-078 and AC-079."""
    message = encode(
        CHECKPOINT_DOMAIN,
        1,
        [
            (1, worker_id.encode("utf-8")),
            (2, u64(last_seq)),
            (3, head_mac),
            (4, u64(record_count)),
            (5, i64(created_ns)),
        ],
    )
    signature = ed25519_sign(seed, message)
    assert ed25519_verify(public, message, signature)
    fields = [
        ("version", "1"),
        ("worker_id", json_string(worker_id)),
        ("last_seq", str(last_seq)),
        ("head_mac", json_string(head_mac.hex())),
        ("record_count", str(record_count)),
        ("created_at", json_string(rfc3339(created_ns))),
        ("public_key", json_string(public.hex())),
        ("signature", json_string(signature.hex())),
    ]
    return {
        "last_seq": last_seq,
        "head_mac_hex": head_mac.hex(),
        "record_count": record_count,
        "created_ns": created_ns,
        "signed_message_hex": message.hex(),
        "signature_hex": signature.hex(),
        "file_text": json_pretty_ordered(fields),
    }


def main():
    chain_key = hkdf_sha256(HKDF_SALT, WORKER_SECRET, CHAIN_CONTEXT.encode(), 32)
    seed = hkdf_sha256(HKDF_SALT, WORKER_SECRET, CHECKPOINT_CONTEXT.encode(), 32)
    public = ed25519_public(seed)

    genesis_encoding = encode(GENESIS_DOMAIN, 1, [(1, WORKER_ID.encode("utf-8"))])
    genesis = mac(chain_key, genesis_encoding)

    records = []
    prev = genesis
    for seq, spec in enumerate(records_spec(), start=1):
        id_bytes, id_text = uuid_v7(*spec["uuid"])
        event = json_text(spec["payload"])
        rank = SEVERITY_RANK[spec["severity"]]
        encoding = record_encoding(
            WORKER_ID, seq, id_bytes, spec["ts_ns"], spec["kind"], rank, spec["shard_id"], event, prev
        )
        record_mac = mac(chain_key, encoding)
        line = json_ordered(
            [
                ("seq", str(seq)),
                ("id", json_string(id_text)),
                ("timestamp", json_string(rfc3339(spec["ts_ns"]))),
                ("kind", json_string(spec["kind"])),
                ("severity", json_string(spec["severity"])),
                ("worker_id", json_string(WORKER_ID)),
                ("shard_id", "null" if spec["shard_id"] is None else json_string(spec["shard_id"])),
                ("event", event),
                ("prev_mac", json_string(prev.hex())),
                ("mac", json_string(record_mac.hex())),
            ]
        )
        records.append(
            {
                "name": spec["name"],
                "constructor": spec["constructor"],
                "args": spec["args"],
                "seq": seq,
                "id": id_text,
                "id_hex": id_bytes.hex(),
                "ts_ns": spec["ts_ns"],
                "timestamp": rfc3339(spec["ts_ns"]),
                "kind": spec["kind"],
                "severity": spec["severity"],
                "severity_rank": rank,
                "worker_id": WORKER_ID,
                "shard_id": spec["shard_id"],
                "event_json": event,
                "prev_mac_hex": prev.hex(),
                "encoding_hex": encoding.hex(),
                "mac_hex": record_mac.hex(),
                "ndjson_line": line,
            }
        )
        prev = record_mac

    # Retention after record 2: records 1 and 2 dropped, record 3 kept.
    anchor_seq, dropped, anchor_ts = 2, 2, 1_700_000_300_000_000_007
    anchor_record_mac = bytes.fromhex(records[1]["mac_hex"])
    anchors = []
    for version in (1, 2):
        encoding = anchor_encoding(version, WORKER_ID, anchor_seq, anchor_record_mac, dropped, anchor_ts)
        anchors.append(
            {
                "name": "anchor v%d (schema %d file)" % (version, version),
                "schema_version": version,
                "seq": anchor_seq,
                "mac_hex": anchor_record_mac.hex(),
                "dropped": dropped,
                "ts_ns": anchor_ts,
                "encoding_hex": encoding.hex(),
                "anchor_mac_hex": mac(chain_key, encoding).hex(),
            }
        )

    checkpoints = [
        dict(
            name="after record 3",
            **checkpoint(seed, public, WORKER_ID, 3, prev, 3, 1_700_000_100_000_000_000),
        ),
        dict(
            name="empty log: head is the genesis value",
            **checkpoint(seed, public, WORKER_ID, 0, genesis, 0, 1_700_000_000_000_500_000),
        ),
    ]

    out = {
        "source": "AC-085 known answers, computed by gen_audit_vectors.py (hashlib/hmac "
        "and a pure-Python RFC 8032 Ed25519) from the text of the Wire format "
        "section of .specs/audit-core.md (AC-070 to AC-084)",
        "secret_file_hex": SECRET_FILE.hex(),
        "worker_secret_hex": WORKER_SECRET.hex(),
        "worker_id": WORKER_ID,
        "keys": {
            "hkdf_salt_ascii": HKDF_SALT.decode(),
            "audit_chain_context": CHAIN_CONTEXT,
            "audit_chain_key_hex": chain_key.hex(),
            "audit_checkpoint_context": CHECKPOINT_CONTEXT,
            "checkpoint_seed_hex": seed.hex(),
            "checkpoint_public_key_hex": public.hex(),
        },
        "genesis": {
            "encoding_hex": genesis_encoding.hex(),
            "mac_hex": genesis.hex(),
        },
        "records": records,
        "anchors": anchors,
        "checkpoints": checkpoints,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "audit-wire.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
