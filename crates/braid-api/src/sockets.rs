//! What both WebSockets (the visitor's and the agents' stream) share: the first `auth`
//! frame, heartbeats, frame size limits and close codes.
//!
//! Every frame a socket sends carries an event-log position; a client that reconnects with
//! `after=<the last one>` gets what it missed from the database, then live frames. A socket
//! that falls too far behind (its bounded queue in `braid_live` overflows) is closed with
//! [`SLOW`] and resumes the same way, so a slow client costs the server a bounded amount.

use std::time::{Duration, Instant};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use serde_json::Value;

/// The client sends its token in the first frame (a browser cannot set headers on a
/// WebSocket, and a token in the URL ends up in logs).
pub const AUTH_WITHIN: Duration = Duration::from_secs(10);
/// Pings go out this often; a client silent for [`DEAD_AFTER`] is gone.
pub const PING_EVERY: Duration = Duration::from_secs(20);
pub const DEAD_AFTER: Duration = Duration::from_secs(60);
/// The largest frame a client may send.
pub const MAX_FRAME: usize = 64 * 1024;

/// The token was missing, invalid or expired: get a new one, then reconnect.
pub const UNAUTHORIZED: u16 = 4001;
/// The page's origin is not allowed, or the credentials lack a scope.
pub const FORBIDDEN: u16 = 4003;
/// The client fell behind: reconnect with `after=<last position>`.
pub const SLOW: u16 = 4008;
/// The position to resume after is older than the event log keeps: reload, then
/// reconnect without one.
pub const EXPIRED: u16 = 4010;

pub struct Socket {
    pub session: Session,
    stream: AggregatedMessageStream,
    heard: Instant,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("heard", &self.heard).finish_non_exhaustive()
    }
}

/// What the client did.
#[derive(Debug)]
pub enum Heard {
    Text(String),
    /// A ping, pong or other control frame: the client is alive.
    Nothing,
    Gone,
}

impl Socket {
    pub fn new(session: Session, stream: actix_ws::MessageStream) -> Self {
        let stream = stream.max_frame_size(MAX_FRAME).aggregate_continuations().max_continuation_size(MAX_FRAME);
        Self { session, stream, heard: Instant::now() }
    }

    pub async fn send(&mut self, frame: &Value) -> bool {
        self.session.text(frame.to_string()).await.is_ok()
    }

    pub async fn close(self, code: u16, why: &str) {
        let reason = CloseReason { code: CloseCode::Other(code), description: Some(why.to_owned()) };
        let _ = self.session.close(Some(reason)).await;
    }

    /// The next thing the client sends.
    pub async fn hear(&mut self) -> Heard {
        match self.stream.recv().await {
            Some(Ok(AggregatedMessage::Text(text))) => {
                self.heard = Instant::now();
                Heard::Text(text.to_string())
            }
            Some(Ok(AggregatedMessage::Ping(bytes))) => {
                self.heard = Instant::now();
                let _ = self.session.pong(&bytes).await;
                Heard::Nothing
            }
            Some(Ok(AggregatedMessage::Pong(_) | AggregatedMessage::Binary(_))) => {
                self.heard = Instant::now();
                Heard::Nothing
            }
            Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => Heard::Gone,
        }
    }

    /// The `auth` frame's token, if the client sends one in time.
    pub async fn auth_token(&mut self) -> Option<String> {
        let wait = async {
            loop {
                match self.hear().await {
                    Heard::Text(text) => {
                        let frame: Value = serde_json::from_str(&text).ok()?;
                        return (frame["type"] == "auth").then(|| frame["token"].as_str().map(str::to_owned)).flatten();
                    }
                    Heard::Nothing => continue,
                    Heard::Gone => return None,
                }
            }
        };
        tokio::time::timeout(AUTH_WITHIN, wait).await.ok().flatten()
    }

    /// A heartbeat tick: pings, and says whether the client is still there.
    pub async fn beat(&mut self) -> bool {
        if self.heard.elapsed() > DEAD_AFTER {
            return false;
        }
        self.session.ping(b"").await.is_ok()
    }
}

/// An `error` frame, for a client frame the server could not take (the socket stays open).
pub fn error_frame(code: &str, detail: &str) -> Value {
    serde_json::json!({"type": "error", "code": code, "detail": detail})
}
