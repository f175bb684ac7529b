//! The limit on a request's URL: a path and query longer than [`MAX_URI_BYTES`] get 414 URI Too
//! Long with the JSON error body. Long inputs belong in a request body.
//!
//! Two places hold the limit, because actix's HTTP/1 parser refuses some URLs before any of
//! the gateway's code runs, with a bare response and no way to configure it: a request target
//! over 65,534 bytes (the `http` crate's own limit) gets an empty 400, a head over 128 KiB an
//! empty 431. So [`RequestLineGuard`] watches the first request line of each connection as
//! the parser reads it and answers 414 itself once the target outgrows the limit, and
//! [`refuse_long_uris`] answers any request that reached the app. A later request on a
//! kept-alive connection meets only the middleware: its URL gets the JSON 414 up to 65,534
//! bytes, and actix's bare 400 past that.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::uri_too_long;

/// The longest path and query the gateway serves, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Bytes a refused client may still send after the 414, read and dropped so that closing the
/// socket does not reset the connection before the client has read the answer.
const MAX_DRAINED_BYTES: usize = 1024 * 1024;

/// Middleware answering 414 to a request whose path and query exceed [`MAX_URI_BYTES`].
pub async fn refuse_long_uris(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, Error> {
    let length = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if length > MAX_URI_BYTES {
        let response = HttpResponse::build(StatusCode::URI_TOO_LONG).json(uri_too_long(MAX_URI_BYTES));
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// A connection whose first request line is watched: once its request target passes
/// [`MAX_URI_BYTES`], the guard answers 414 with the JSON error body, drains what the client
/// still sends (up to a bound) and ends the stream, so the HTTP parser never sees the line end.
/// Past the first line every byte passes untouched.
pub struct RequestLineGuard<T> {
    io: T,
    state: State,
}

enum State {
    /// Reading the first request line.
    Watching { part: LinePart, target_bytes: usize },
    /// The first line ended within the limit.
    Passing,
    /// Writing the 414 answer, from `written` on.
    Refusing { answer: Vec<u8>, written: usize },
    /// Reading and dropping what the client still sends.
    Draining { drained: usize },
    /// The refused connection is over: reads end, writes are dropped.
    Closed,
}

#[derive(Clone, Copy)]
enum LinePart {
    /// Before the method (empty lines may precede it) or within it.
    Method {
        started: bool,
    },
    Target,
    Version,
}

impl<T> RequestLineGuard<T> {
    pub fn new(io: T) -> Self {
        RequestLineGuard {
            io,
            state: State::Watching {
                part: LinePart::Method { started: false },
                target_bytes: 0,
            },
        }
    }

    /// Follows the first request line through `bytes`; true when its target outgrew the limit.
    fn watch(&mut self, bytes: &[u8]) -> bool {
        let State::Watching { part, target_bytes } = &mut self.state else {
            return false;
        };
        for &byte in bytes {
            match (*part, byte) {
                (LinePart::Method { started: false }, b'\r' | b'\n') => {}
                (_, b'\n') => {
                    self.state = State::Passing;
                    return false;
                }
                (LinePart::Method { .. }, b' ') => *part = LinePart::Target,
                (LinePart::Method { .. }, _) => *part = LinePart::Method { started: true },
                (LinePart::Target, b' ') => *part = LinePart::Version,
                (LinePart::Target, _) => {
                    *target_bytes += 1;
                    if *target_bytes > MAX_URI_BYTES {
                        return true;
                    }
                }
                (LinePart::Version, _) => {}
            }
        }
        false
    }
}

/// The whole HTTP/1.1 414 answer, closing the connection.
fn refusal() -> Vec<u8> {
    let body = serde_json::to_vec(&uri_too_long(MAX_URI_BYTES)).unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for RequestLineGuard<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Passing => return Pin::new(&mut this.io).poll_read(cx, buf),
                State::Watching { .. } => {
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
                    let read = buf.filled()[before..].to_vec();
                    if !this.watch(&read) {
                        return Poll::Ready(Ok(()));
                    }
                    // The parser keeps waiting for the rest of the line; it never comes.
                    buf.set_filled(before);
                    tracing::info!(limit = MAX_URI_BYTES, "request target too long; answering 414");
                    this.state = State::Refusing {
                        answer: refusal(),
                        written: 0,
                    };
                }
                State::Refusing { answer, written } => {
                    while *written < answer.len() {
                        let n = ready!(Pin::new(&mut this.io).poll_write(cx, &answer[*written..]))?;
                        if n == 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        *written += n;
                    }
                    ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
                    this.state = State::Draining { drained: 0 };
                }
                State::Draining { drained } => {
                    let mut scratch = [0_u8; 8192];
                    let mut sink = ReadBuf::new(&mut scratch);
                    ready!(Pin::new(&mut this.io).poll_read(cx, &mut sink))?;
                    *drained += sink.filled().len();
                    if sink.filled().is_empty() || *drained > MAX_DRAINED_BYTES {
                        this.state = State::Closed;
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for RequestLineGuard<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.state {
            State::Watching { .. } | State::Passing => Pin::new(&mut this.io).poll_write(cx, buf),
            // The connection answered already (a timeout answer from the parser is dropped).
            State::Refusing { .. } | State::Draining { .. } | State::Closed => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.state {
            State::Watching { .. } | State::Passing => Pin::new(&mut this.io).poll_write_vectored(cx, bufs),
            State::Refusing { .. } | State::Draining { .. } | State::Closed => {
                Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.state {
            State::Watching { .. } | State::Passing => Pin::new(&mut this.io).poll_flush(cx),
            State::Refusing { .. } | State::Draining { .. } | State::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.state {
            State::Watching { .. } | State::Passing => Pin::new(&mut this.io).poll_shutdown(cx),
            State::Refusing { .. } | State::Draining { .. } | State::Closed => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(chunks: &[&[u8]]) -> Option<bool> {
        let mut guard = RequestLineGuard::new(());
        for chunk in chunks {
            if guard.watch(chunk) {
                return Some(true);
            }
        }
        match guard.state {
            State::Passing => Some(false),
            State::Watching { .. } | State::Refusing { .. } | State::Draining { .. } | State::Closed => None,
        }
    }

    #[test]
    fn only_the_request_target_counts_against_the_limit() {
        let at_limit = format!("/{}", "a".repeat(MAX_URI_BYTES - 1));
        let over = format!("/{}", "a".repeat(MAX_URI_BYTES));
        let line = |target: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(watched(&[line(&at_limit).as_bytes()]), Some(false));
        assert_eq!(watched(&[line(&over).as_bytes()]), Some(true));
        // Split anywhere, after empty lines, the same.
        let split = format!("\r\n{}", line(&over));
        let (head, tail) = split.as_bytes().split_at(3);
        assert_eq!(watched(&[head, tail]), Some(true));
        // Long headers after a short line are the parser's business.
        let long_header = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2 * MAX_URI_BYTES));
        assert_eq!(watched(&[long_header.as_bytes()]), Some(false));
        // A line still short of its end, under the limit, is still watched.
        assert_eq!(watched(&[b"GET /abc"]), None);
    }

    #[test]
    fn the_refusal_is_a_complete_json_414() {
        let answer = String::from_utf8(refusal()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], "uri_too_long");
        assert_eq!(body["type"], "invalid_request");
    }
}
