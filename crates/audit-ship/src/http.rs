//! The HTTP calls of the witness client and the shipper: a POST of a body
//! and a GET, each with a timeout on the whole exchange and a bound on the
//! answer's body. Plain
//! `http://` only (the workspace builds `ureq` without a TLS stack); no
//! redirects followed, no proxy from the environment, no compression.

use std::time::Duration;

/// An answer: its status and body (at most the bound asked).
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body, at most the bound asked.
    pub body: Vec<u8>,
}

/// Why no answer was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The body is longer than the bound.
    #[error("the answer's body is more than {max} bytes; not read")]
    BodyTooLarge {
        /// The bound.
        max: usize,
    },
    /// The exchange failed: no connection, a timeout, a broken answer.
    #[error("{0}")]
    Transport(String),
}

/// Checks that `url` is a plain `http://` URL with a host; `Err` says why.
pub fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            "https is not supported (this build has no TLS); use an http:// URL, e.g. through a local TLS-terminating proxy".to_owned()
        } else {
            "must start with http://".to_owned()
        });
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("holds a space or a control character".to_owned());
    }
    url.parse::<ureq::http::Uri>()
        .map(|_| ())
        .map_err(|e| format!("is not a URL: {e}"))
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .max_response_header_size(16 * 1024)
        .user_agent(concat!("audit-ship/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// POSTs `body` to `url` as `content_type` and reads the answer, its body
/// at most `max_body` bytes. `timeout` bounds the whole exchange
/// (resolving, connecting, sending, receiving).
pub fn post(
    url: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
    max_body: usize,
) -> Result<Response, HttpError> {
    let response = agent(timeout)
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .map_err(|e| transport(e, timeout))?;
    read(response, timeout, max_body)
}

/// GETs `url` and reads the answer, its body at most `max_body` bytes,
/// within `timeout`.
pub fn get(url: &str, timeout: Duration, max_body: usize) -> Result<Response, HttpError> {
    let response = agent(timeout)
        .get(url)
        .call()
        .map_err(|e| transport(e, timeout))?;
    read(response, timeout, max_body)
}

fn read(
    mut response: ureq::http::Response<ureq::Body>,
    timeout: Duration,
    max_body: usize,
) -> Result<Response, HttpError> {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(u64::try_from(max_body).unwrap_or(u64::MAX))
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => HttpError::BodyTooLarge { max: max_body },
            other => transport(other, timeout),
        })?;
    Ok(Response { status, body })
}

fn transport(error: ureq::Error, timeout: Duration) -> HttpError {
    HttpError::Transport(match error {
        ureq::Error::Timeout(_) => format!("no answer within {} ms", timeout.as_millis()),
        other => other.to_string(),
    })
}
