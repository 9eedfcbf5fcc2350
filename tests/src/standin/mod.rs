//! A local stand-in for the Anthropic Messages API, for end-to-end tests with
//! the real Claude Code (`ANTHROPIC_BASE_URL` points at it).
//!
//! It answers `POST /v1/messages` (streaming SSE and plain JSON),
//! `POST /v1/messages/count_tokens`, `GET /v1/models` and `/api/hello`, with
//! the headers and error bodies of the real API (`/work/shared/protocol.md`),
//! and behaves per credential (the `Authorization: Bearer` or `x-api-key`
//! value): see [`Behaviour`]. It records every request and the tokens it
//! served per credential, so a test can compare them with what Kage recorded.
//!
//! ```no_run
//! use kage_tests::standin::{Behaviour, StandIn};
//! let standin = StandIn::start();
//! standin.set("sk-ant-oat01-test-alpha", Behaviour::FiveHourLimit { at_request: 2, resets_at: None });
//! // … run Claude Code with ANTHROPIC_BASE_URL = standin.base_url() …
//! let served = standin.served("sk-ant-oat01-test-alpha");
//! ```

mod reply;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

pub use reply::Usage;

/// How the stand-in answers one credential's `/v1/messages` requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Every request succeeds; the 5-hour utilization grows by 1 % a request.
    Ok,
    /// Requests before `at_request` (1-based, counted per credential) succeed
    /// with utilization `n / at_request`; from `at_request` on, HTTP 429 with
    /// the unified headers of a spent 5-hour window resetting at `resets_at`
    /// (epoch seconds; default: 5 hours after the stand-in started).
    FiveHourLimit {
        at_request: u32,
        resets_at: Option<i64>,
    },
    /// HTTP 429 without unified headers, with `retry-after` (a burst limit).
    Burst { retry_after_secs: u64 },
    /// HTTP 401 `authentication_error`.
    Unauthorized,
    /// HTTP 529 `overloaded_error`.
    Overloaded,
    /// Success with `allowed_warning` and the given 5-hour utilization (0–1).
    NearLimit { utilization: f64 },
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, e.g. `/v1/messages?beta=true`.
    pub uri: String,
    /// The `x-api-key` value, else the `Authorization: Bearer` value.
    pub credential: Option<String>,
    /// Sent as `Authorization: Bearer` (a subscription or gateway token).
    pub bearer: bool,
    /// The `anthropic-beta` header.
    pub beta: Option<String>,
    /// The `x-claude-code-session-id` header.
    pub claude_session_id: Option<String>,
    /// Every header but `authorization` and `x-api-key`, names lowercase.
    pub headers: Vec<(String, String)>,
    pub model: Option<String>,
    pub stream: bool,
    /// How many tools the request offers (Claude Code's conversation turns
    /// offer its tools; its side queries, such as the session title, none).
    pub tools: usize,
    /// The request body's `messages` array (`Value::Null` when absent).
    pub messages: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// Tokens served by this response (successful messages only).
    pub served: Option<Usage>,
    /// The `anthropic-ratelimit-unified-5h-utilization` answered, if any.
    pub five_hour_utilization: Option<f64>,
}

impl RecordedRequest {
    /// A `/v1/messages` request (not `count_tokens`).
    pub fn is_message(&self) -> bool {
        self.method == "POST" && self.uri.split('?').next() == Some("/v1/messages")
    }

    /// A Claude Code side query (no tools offered: the session title and
    /// the like), not a conversation turn. Its usage is served and billed but
    /// never written to the session's transcript.
    pub fn is_side_query(&self) -> bool {
        self.is_message() && self.tools == 0
    }

    /// Every text of the request's messages, in order (string contents and
    /// `text` blocks), for asserting that an earlier turn is still there.
    pub fn texts(&self) -> Vec<String> {
        let mut texts = Vec::new();
        for message in self.messages.as_array().into_iter().flatten() {
            match &message["content"] {
                Value::String(text) => texts.push(text.clone()),
                Value::Array(blocks) => texts.extend(
                    blocks
                        .iter()
                        .filter_map(|block| block["text"].as_str().map(str::to_owned)),
                ),
                _ => {}
            }
        }
        texts
    }
}

#[derive(Default)]
struct Inner {
    behaviours: HashMap<String, Behaviour>,
    message_counts: HashMap<String, u32>,
    served: HashMap<String, Usage>,
    requests: Vec<RecordedRequest>,
    replies: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
    /// Epoch seconds when the stand-in started: the default window resets
    /// are five hours (and seven days) after it.
    started_at: i64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running stand-in on `127.0.0.1:<free port>`, served on its own thread;
/// stopped when dropped.
pub struct StandIn {
    address: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl StandIn {
    /// Start a stand-in on a free port of 127.0.0.1 (works from sync and
    /// async tests alike: it runs its own runtime on its own thread).
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("a socket address"))
            .expect("start the Anthropic API stand-in on 127.0.0.1")
    }

    /// Start a stand-in on `address` (port 0 for a free one).
    pub fn start_on(address: SocketAddr) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            changed: Condvar::new(),
            started_at: reply::now(),
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("anthropic-standin".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a tokio listener for the stand-in");
                    let app = Router::new().fallback(
                        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                            let state = Arc::clone(&state);
                            async move { handle(&state, &method, &uri, &headers, &body) }
                        },
                    );
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        Ok(Self {
            address,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: the value for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How requests with `credential` are answered (unknown credentials get 401).
    pub fn set(&self, credential: &str, behaviour: Behaviour) {
        self.shared
            .lock()
            .behaviours
            .insert(credential.to_owned(), behaviour);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The `/v1/messages` requests made with `credential`.
    pub fn message_requests(&self, credential: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_message() && r.credential.as_deref() == Some(credential))
            .collect()
    }

    /// Tokens served to `credential` so far (zero when none).
    /// Tokens served to `credential` for conversation turns (requests that
    /// offer tools): what Claude Code writes to the session's transcript.
    pub fn served_conversation(&self, credential: &str) -> Usage {
        self.served_where(credential, |request| !request.is_side_query())
    }

    /// Tokens served to `credential` for side queries (the session title
    /// and the like): billed, but in no transcript.
    pub fn served_side_queries(&self, credential: &str) -> Usage {
        self.served_where(credential, RecordedRequest::is_side_query)
    }

    fn served_where(&self, credential: &str, keep: impl Fn(&RecordedRequest) -> bool) -> Usage {
        let mut sum = Usage::default();
        for request in self.message_requests(credential) {
            if keep(&request)
                && let Some(served) = request.served
            {
                sum.add(served);
            }
        }
        sum
    }

    pub fn served(&self, credential: &str) -> Usage {
        self.shared
            .lock()
            .served
            .get(credential)
            .copied()
            .unwrap_or_default()
    }

    /// Wait until `check` holds for the requests so far (woken by every new
    /// request); false when `timeout` passes first.
    pub fn wait_for(&self, timeout: Duration, check: impl Fn(&[RecordedRequest]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.shared.lock();
        loop {
            if check(&inner.requests) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inner = self
                .shared
                .changed
                .wait_timeout(inner, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// The default 5-hour reset (epoch seconds): five hours after the start.
    pub fn five_hour_reset(&self) -> i64 {
        self.shared.started_at + 5 * 3600
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The credential a request carries, and whether it came as a bearer token.
fn credential(headers: &HeaderMap) -> (Option<String>, bool) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(key) = header("x-api-key") {
        return (Some(key), false);
    }
    match header("authorization").and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned))
    {
        Some(token) => (Some(token), true),
        None => (None, false),
    }
}

fn handle(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let (credential, bearer) = credential(headers);
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let mut recorded = RecordedRequest {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), ToString::to_string),
        credential: credential.clone(),
        bearer,
        beta: header("anthropic-beta"),
        claude_session_id: header("x-claude-code-session-id"),
        headers: headers
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "authorization" | "x-api-key"))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or("<binary>").to_owned(),
                )
            })
            .collect(),
        model: request["model"].as_str().map(str::to_owned),
        tools: request["tools"].as_array().map_or(0, Vec::len),
        stream: request["stream"].as_bool().unwrap_or(false),
        messages: request["messages"].clone(),
        status: 200,
        served: None,
        five_hour_utilization: None,
    };
    let mut inner = shared.lock();
    let answer = answer(
        shared,
        &mut inner,
        &mut recorded,
        method,
        uri.path(),
        &request,
    );
    recorded.status = answer.status().as_u16();
    inner.requests.push(recorded);
    drop(inner);
    shared.changed.notify_all();
    answer
}

fn answer(
    shared: &Shared,
    inner: &mut Inner,
    recorded: &mut RecordedRequest,
    method: &Method,
    path: &str,
    request: &Value,
) -> Response {
    match (method.as_str(), path) {
        ("POST", "/v1/messages") => {}
        ("POST", "/v1/messages/count_tokens") => {
            return reply::json(
                StatusCode::OK,
                &serde_json::json!({"input_tokens": reply::input_tokens(request)}),
            );
        }
        ("GET", "/v1/models") => return reply::json(StatusCode::OK, &reply::models()),
        // Claude Code pre-connects with `HEAD /`; gateways answer `/api/hello`.
        ("HEAD", _) | ("GET", "/api/hello") => {
            return reply::json(StatusCode::OK, &serde_json::json!({}));
        }
        _ => {
            return reply::error(
                StatusCode::NOT_FOUND,
                "not_found_error",
                &format!("the stand-in does not serve {method} {path}"),
            );
        }
    }
    let Some(credential) = recorded.credential.clone() else {
        return reply::error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        );
    };
    let Some(behaviour) = inner.behaviours.get(&credential).cloned() else {
        return reply::unauthorized(recorded.bearer);
    };
    let count = inner.message_counts.entry(credential.clone()).or_insert(0);
    *count += 1;
    let n = *count;
    let five_hour_reset = shared.started_at + 5 * 3600;
    let limits = |utilization: f64, status: &'static str, reset: i64| reply::Limits {
        status,
        five_hour_utilization: utilization,
        five_hour_reset: reset,
        seven_day_reset: shared.started_at + 7 * 24 * 3600,
    };
    let window = match behaviour {
        Behaviour::Ok => limits((f64::from(n) / 100.0).min(0.8), "allowed", five_hour_reset),
        Behaviour::NearLimit { utilization } => {
            limits(utilization, "allowed_warning", five_hour_reset)
        }
        Behaviour::FiveHourLimit {
            at_request,
            resets_at,
        } => {
            let reset = resets_at.unwrap_or(five_hour_reset);
            if n >= at_request {
                recorded.five_hour_utilization = Some(1.01);
                return reply::five_hour_limit(
                    recorded.bearer,
                    reset,
                    shared.started_at + 7 * 24 * 3600,
                );
            }
            limits(f64::from(n) / f64::from(at_request), "allowed", reset)
        }
        Behaviour::Burst { retry_after_secs } => return reply::burst(retry_after_secs),
        Behaviour::Unauthorized => return reply::unauthorized(recorded.bearer),
        Behaviour::Overloaded => {
            return reply::error(
                StatusCode::from_u16(529).expect("529 is a status code"),
                "overloaded_error",
                "Overloaded",
            );
        }
    };
    inner.replies += 1;
    let usage = reply::usage_for(request, inner.replies);
    inner.served.entry(credential).or_default().add(usage);
    recorded.served = Some(usage);
    if recorded.bearer {
        recorded.five_hour_utilization = Some(window.five_hour_utilization);
    }
    let message = reply::Message {
        id: format!("msg_standin{:08}", inner.replies),
        model: recorded
            .model
            .clone()
            .unwrap_or_else(|| "claude-sonnet-4-5".to_owned()),
        text: format!("Stand-in reply {}.", inner.replies),
        usage,
    };
    let mut response = if recorded.stream {
        reply::stream(&message)
    } else {
        reply::json(StatusCode::OK, &message.json())
    };
    reply::add_limit_headers(response.headers_mut(), recorded.bearer, &window);
    response
}

/// A response with `body` (used by [`reply`]).
fn response(status: StatusCode, content_type: &str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    reply::set(response.headers_mut(), "content-type", content_type);
    reply::set(
        response.headers_mut(),
        "request-id",
        &format!("req_standin{}", uuid::Uuid::new_v4().simple()),
    );
    response
}
