//! A tlog-witness (c2sp.org/tlog-witness v1.0.0) for the tests: a real HTTP
//! server on 127.0.0.1 (a `TcpListener` on port 0, one thread, minimal
//! HTTP/1.1: one request per connection, `Content-Length` bodies) that
//! answers `POST /add-checkpoint` with `tlog::Witness`: 200 and its
//! cosignature, 409 and the size it holds, 403, 404, 422, 400.
//!
//! It knows log origins and their keys, keeps `(size, root)` per origin in
//! memory (the lock is held from the size check to the store: the
//! compare-and-swap the spec asks for), and records every request it
//! answered. Tests can set the tree it holds, or make it misbehave.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use audit_core::tlog::{
    MAX_ADD_CHECKPOINT_BODY_BYTES, NoteSignature, SignatureType, SignerKey, VerifierKey, Witness,
    WitnessRefusal, WitnessedTree,
};

/// A request the witness answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The request's `old` (None if the body did not parse).
    pub old: Option<u64>,
    /// The checkpoint's size (None if the body did not parse).
    pub size: Option<u64>,
    /// The status answered.
    pub status: u16,
}

/// How the witness misbehaves, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Answers every request with this status and an empty body.
    Status(u16),
    /// Answers 200 with a line that carries its name and key ID but a
    /// signature by another key.
    ForgedCosignature,
}

struct State {
    witness: Witness,
    key: SignerKey,
    trees: HashMap<String, WitnessedTree>,
    seen: Vec<Seen>,
    clock: u64,
    misbehaviour: Option<Misbehaviour>,
}

/// A running witness; stopped when dropped.
pub struct TestWitness {
    addr: SocketAddr,
    vkey: VerifierKey,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestWitness {
    /// A witness named `name` (cosigner key from `seed`) witnessing `logs`
    /// (origin, Ed25519 vkey).
    pub fn start(name: &str, seed: u8, logs: &[(&str, VerifierKey)]) -> Self {
        let key = SignerKey::from_seed(name, SignatureType::Cosignature, &[seed; 32]).unwrap();
        let mut witness = Witness::new(&key);
        for (origin, log_key) in logs {
            witness.add_log(origin, log_key.clone()).unwrap();
        }
        let vkey = witness.verifier_key();
        let state = Arc::new(Mutex::new(State {
            witness,
            key,
            trees: HashMap::new(),
            seen: Vec::new(),
            clock: 1_700_000_000,
            misbehaviour: None,
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &state);
                    }
                }
            })
        };
        Self {
            addr,
            vkey,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Its submission prefix.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its cosigner vkey.
    pub fn vkey(&self) -> VerifierKey {
        self.vkey.clone()
    }

    /// The `--witness` argument for it.
    pub fn arg(&self) -> String {
        format!("{}={}", self.url(), self.vkey)
    }

    /// The tree it holds for `origin`.
    pub fn tree(&self, origin: &str) -> Option<WitnessedTree> {
        self.state.lock().unwrap().trees.get(origin).copied()
    }

    /// Makes it hold `tree` for `origin`.
    pub fn set_tree(&self, origin: &str, tree: WitnessedTree) {
        self.state
            .lock()
            .unwrap()
            .trees
            .insert(origin.to_owned(), tree);
    }

    /// The requests it answered, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Makes it misbehave from now on.
    pub fn misbehave(&self, how: Misbehaviour) {
        self.state.lock().unwrap().misbehaviour = Some(how);
    }
}

impl Drop for TestWitness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn respond(mut stream: TcpStream, status: u16, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

/// Reads one request (head at most 16 KiB, body its Content-Length, at
/// most the protocol's bound) and answers it.
fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone.take(16 * 1024 + MAX_ADD_CHECKPOINT_BODY_BYTES as u64));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return; // the wake-up connection, or a client that went away
    }
    let mut length: Option<usize> = None;
    let mut head_bytes = request_line.len();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.is_empty() {
            return;
        }
        head_bytes += line.len();
        if head_bytes > 16 * 1024 {
            return respond(stream, 400, "text/plain", "head too large\n");
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok();
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if path != "/add-checkpoint" {
        return respond(stream, 404, "text/plain", "no such endpoint\n");
    }
    if method != "POST" {
        return respond(stream, 405, "text/plain", "POST only\n");
    }
    let Some(length) = length else {
        return respond(stream, 411, "text/plain", "Content-Length required\n");
    };
    if length > MAX_ADD_CHECKPOINT_BODY_BYTES {
        return respond(stream, 400, "text/plain", "body too large\n");
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, content_type, answer) = add_checkpoint(&body, state);
    respond(stream, status, content_type, &answer);
}

/// The tlog-witness logic, under the state's lock from the size check to
/// the store.
fn add_checkpoint(body: &[u8], state: &Mutex<State>) -> (u16, &'static str, String) {
    let mut state = state.lock().unwrap();
    let parsed = audit_core::tlog::AddCheckpointRequest::parse(body).ok();
    let size = parsed.as_ref().and_then(|r| {
        audit_core::tlog::Checkpoint::from_text(r.checkpoint().text())
            .ok()
            .map(|c| c.size())
    });
    let old = parsed.as_ref().map(|r| r.old_size());
    state.clock += 1;
    let time = state.clock;
    let outcome: Result<(u16, &'static str, String), WitnessRefusal> = match state.misbehaviour {
        Some(Misbehaviour::Status(status)) => Ok((status, "text/plain", String::new())),
        Some(Misbehaviour::ForgedCosignature) => {
            let other =
                SignerKey::from_seed(state.key.name(), SignatureType::Cosignature, &[0xfe; 32])
                    .unwrap();
            let mut note =
                audit_core::tlog::Note::new(parsed.as_ref().unwrap().checkpoint().text()).unwrap();
            note.cosign(&other, time).unwrap();
            let line = NoteSignature::new(
                state.key.name(),
                state.key.key_id(),
                note.signatures()[0].signature().to_vec(),
            )
            .unwrap();
            Ok((200, "text/plain; charset=utf-8", format!("{line}\n")))
        }
        None => state.witness.open_request(body).and_then(|request| {
            let held = state.trees.get(request.origin()).copied();
            let cosigned = state.witness.cosign(&request, held.as_ref(), time)?;
            // Persist before answering.
            state
                .trees
                .insert(request.origin().to_owned(), cosigned.tree);
            Ok((200, "text/plain; charset=utf-8", cosigned.body()))
        }),
    };
    let (status, content_type, answer) = match outcome {
        Ok(answer) => answer,
        Err(refusal) => (refusal.status(), refusal.content_type(), refusal.body()),
    };
    state.seen.push(Seen { old, size, status });
    (status, content_type, answer)
}
