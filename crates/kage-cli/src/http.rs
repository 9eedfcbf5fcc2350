//! A tiny HTTP/1.1 responder for `kage metrics --listen`: `GET /metrics`
//! and `GET /healthz` on tokio's `TcpListener`, one request per connection
//! (`Connection: close`), nothing else.
//!
//! It is hand-written rather than built on hyper or axum: two read-only
//! routes need no more, and the shipped binaries stay free of an HTTP server
//! stack (`xtask/src/layering.rs` keeps axum, hyper and tower test-only;
//! `docs/decisions.md` says why).
//!
//! Every scrape reads the store afresh, bounded by a timeout: a store that
//! does not answer in time gets `503 Service Unavailable` with a message,
//! never a hanging scrape. Scrapes that arrive together share reads
//! ([`SharedReads`]): each gets a read that began after it arrived.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The longest request head read (request line and headers).
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait before accepting again after `accept` failed (e.g. out
/// of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The Prometheus text exposition format's content type.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// One HTTP response, always sent with `Connection: close`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
    /// `HEAD`: the headers of the `GET` answer, without the body.
    pub(crate) head_only: bool,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: PLAIN_TEXT,
            body: body.into(),
            head_only: false,
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    /// The bytes on the wire.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        bytes
    }
}

/// What the metrics route serves: a fresh rendering of the store per call.
pub(crate) trait Render: Clone + Send + Sync + 'static {
    fn render(&self) -> impl Future<Output = anyhow::Result<String>> + Send;
}

impl<F, Fut> Render for F
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<String>> + Send,
{
    fn render(&self) -> impl Future<Output = anyhow::Result<String>> + Send {
        self()
    }
}

/// Scrapes that arrive together share store reads: each scrape is answered
/// with the rendering of a read that began after the scrape arrived (never
/// an older one), one read at a time, so a burst of 50 scrapes costs two or
/// three reads instead of 50 queued on the store's connections.
#[derive(Clone)]
pub(crate) struct SharedReads<R> {
    render: R,
    latest: Arc<tokio::sync::Mutex<Option<Read>>>,
}

/// When a successful read began, and its rendering.
type Read = (Instant, Arc<str>);

impl<R: Render> SharedReads<R> {
    pub(crate) fn new(render: R) -> Self {
        Self {
            render,
            latest: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }
}

impl<R: Render> Render for SharedReads<R> {
    async fn render(&self) -> anyhow::Result<String> {
        let arrived = Instant::now();
        // Fair (first come, first served): a scrape waits for at most the
        // read in progress and its own.
        let mut latest = self.latest.lock().await;
        if let Some((started, body)) = latest.as_ref()
            && *started >= arrived
        {
            return Ok(body.to_string());
        }
        let started = Instant::now();
        let body = self.render.render().await?;
        *latest = Some((started, Arc::from(body.as_str())));
        Ok(body)
    }
}

/// Accept connections on `listener` for ever, each answered on its own task.
pub(crate) async fn serve(listener: TcpListener, metrics: impl Render, scrape_timeout: Duration) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(error) = answer(stream, &metrics, scrape_timeout).await {
                        tracing::debug!(%error, "a metrics client went away");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "could not accept a metrics connection; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn answer(
    mut stream: TcpStream,
    metrics: &impl Render,
    scrape_timeout: Duration,
) -> io::Result<()> {
    let response = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Err(_elapsed) => Response::text(400, "the request head did not arrive in time\n"),
        Ok(Err(error)) => return Err(error),
        Ok(Ok(Head::TooLarge)) => Response::text(431, "the request head is too large\n"),
        Ok(Ok(Head::Complete(head))) => respond(&head, metrics, scrape_timeout).await,
    };
    stream.write_all(&response.to_bytes()).await?;
    stream.shutdown().await
}

enum Head {
    Complete(String),
    TooLarge,
}

/// Read until the blank line that ends the request head (or the peer stops
/// sending).
async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0_u8; 1024];
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
        if head.windows(4).any(|window| window == b"\r\n\r\n")
            || head.windows(2).any(|window| window == b"\n\n")
        {
            break;
        }
        if head.len() > MAX_HEAD_BYTES {
            return Ok(Head::TooLarge);
        }
    }
    Ok(Head::Complete(String::from_utf8_lossy(&head).into_owned()))
}

/// The answer to the request whose head is `head`.
pub(crate) async fn respond(
    head: &str,
    metrics: &impl Render,
    scrape_timeout: Duration,
) -> Response {
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Response::text(
            400,
            "expected a request line such as `GET /metrics HTTP/1.1`\n",
        );
    };
    if !version.starts_with("HTTP/1.") {
        return Response::text(400, "only HTTP/1.0 and HTTP/1.1 are served\n");
    }
    let path = target.split_once('?').map_or(target, |(path, _query)| path);
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => {
            return Response::text(405, "only GET and HEAD are served; try GET /metrics\n");
        }
    };
    let mut response = match path {
        "/metrics" => scrape(metrics, scrape_timeout).await,
        "/healthz" => Response::text(200, "ok\n"),
        _ => Response::text(404, "not found; the routes are /metrics and /healthz\n"),
    };
    response.head_only = head_only;
    response
}

async fn scrape(metrics: &impl Render, scrape_timeout: Duration) -> Response {
    match tokio::time::timeout(scrape_timeout, metrics.render()).await {
        Ok(Ok(body)) => Response {
            status: 200,
            content_type: PROMETHEUS_TEXT,
            body,
            head_only: false,
        },
        Ok(Err(error)) => Response::text(
            503,
            format!(
                "kage: could not read the pool: {error:#}; check the store with `kage subscription status`\n"
            ),
        ),
        Err(_elapsed) => Response::text(
            503,
            format!(
                "kage: the store did not answer within {} ms; scrape again later, or raise --scrape-timeout if the store is slow\n",
                scrape_timeout.as_millis()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::{PROMETHEUS_TEXT, Response, respond, serve};

    const TIMEOUT: Duration = Duration::from_millis(200);

    fn fixed() -> impl Fn() -> std::future::Ready<anyhow::Result<String>> + Clone {
        || std::future::ready(Ok("kage_up 1\n".to_owned()))
    }

    #[tokio::test]
    async fn metrics_are_served_with_the_prometheus_content_type() {
        let response = respond(
            "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            &fixed(),
            TIMEOUT,
        )
        .await;
        assert_eq!(response.status, 200);
        assert_eq!(response.content_type, PROMETHEUS_TEXT);
        assert_eq!(response.body, "kage_up 1\n");
        let query = respond("GET /metrics?x=1 HTTP/1.0\r\n\r\n", &fixed(), TIMEOUT).await;
        assert_eq!(query.status, 200);
    }

    #[tokio::test]
    async fn health_unknown_paths_and_methods() {
        assert_eq!(
            respond("GET /healthz HTTP/1.1\r\n\r\n", &fixed(), TIMEOUT)
                .await
                .body,
            "ok\n"
        );
        assert_eq!(
            respond("GET / HTTP/1.1\r\n\r\n", &fixed(), TIMEOUT)
                .await
                .status,
            404
        );
        let post = respond("POST /metrics HTTP/1.1\r\n\r\n", &fixed(), TIMEOUT).await;
        assert_eq!(post.status, 405);
        assert!(String::from_utf8_lossy(&post.to_bytes()).contains("Allow: GET, HEAD\r\n"));
        assert_eq!(
            respond("nonsense\r\n\r\n", &fixed(), TIMEOUT).await.status,
            400
        );
        assert_eq!(
            respond("GET /metrics SPDY/3\r\n\r\n", &fixed(), TIMEOUT)
                .await
                .status,
            400
        );
    }

    #[tokio::test]
    async fn head_sends_the_length_but_no_body() {
        let response = respond("HEAD /metrics HTTP/1.1\r\n\r\n", &fixed(), TIMEOUT).await;
        let wire = String::from_utf8(response.to_bytes()).unwrap();
        assert!(wire.contains("Content-Length: 10\r\n"), "{wire}");
        assert!(wire.ends_with("\r\n\r\n"), "{wire}");
    }

    #[tokio::test]
    async fn a_slow_store_answers_503_in_time() {
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(String::new())
        };
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            respond("GET /metrics HTTP/1.1\r\n\r\n", &slow, TIMEOUT),
        )
        .await
        .expect("the scrape is bounded by its timeout");
        assert_eq!(response.status, 503);
        assert!(
            response.body.contains("did not answer within 200 ms"),
            "{}",
            response.body
        );
    }

    #[tokio::test]
    async fn a_failing_store_answers_503_with_the_error() {
        let failing = || async { Err(anyhow::anyhow!("database is locked")) };
        let response = respond("GET /metrics HTTP/1.1\r\n\r\n", &failing, TIMEOUT).await;
        assert_eq!(response.status, 503);
        assert!(
            response.body.contains("database is locked"),
            "{}",
            response.body
        );
    }

    async fn get(address: std::net::SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn serves_over_tcp_one_request_per_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, fixed(), TIMEOUT));
        let answer = get(address, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nkage_up 1\n"), "{answer}");
        server.abort();
    }

    /// A store read that takes `pause` and says which read it was and
    /// when it began.
    #[derive(Clone)]
    struct CountedReads {
        reads: std::sync::Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>,
        pause: Duration,
    }

    impl CountedReads {
        fn new(pause: Duration) -> Self {
            Self {
                reads: std::sync::Arc::default(),
                pause,
            }
        }

        fn count(&self) -> usize {
            self.reads.lock().unwrap().len()
        }
    }

    impl super::Render for CountedReads {
        fn render(&self) -> impl std::future::Future<Output = anyhow::Result<String>> + Send {
            let reads = std::sync::Arc::clone(&self.reads);
            let pause = self.pause;
            async move {
                let number = {
                    let mut reads = reads.lock().unwrap();
                    reads.push(tokio::time::Instant::now());
                    reads.len()
                };
                tokio::time::sleep(pause).await;
                Ok(format!("read {number}\n"))
            }
        }
    }

    #[tokio::test]
    async fn scrapes_at_once_share_reads_that_began_after_they_arrived() {
        use super::{Render as _, SharedReads};
        let store = CountedReads::new(Duration::from_millis(50));
        let shared = SharedReads::new(store.clone());
        let mut scrapes = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let shared = shared.clone();
            let reads = std::sync::Arc::clone(&store.reads);
            scrapes.spawn(async move {
                let arrived = tokio::time::Instant::now();
                let body = shared.render().await.unwrap();
                let number: usize = body.trim().trim_start_matches("read ").parse().unwrap();
                let began = reads.lock().unwrap()[number - 1];
                assert!(
                    began >= arrived,
                    "read {number} began before the scrape arrived"
                );
            });
        }
        while let Some(scrape) = scrapes.join_next().await {
            scrape.unwrap();
        }
        let reads = store.count();
        assert!(
            (1..=3).contains(&reads),
            "20 scrapes at once took {reads} reads"
        );
        // One after the other, every scrape reads afresh.
        for expected in reads + 1..=reads + 3 {
            assert_eq!(shared.render().await.unwrap(), format!("read {expected}\n"));
        }
    }

    #[tokio::test]
    async fn a_failed_read_is_not_shared_with_later_scrapes() {
        use super::{Render as _, SharedReads};
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&calls);
        let shared = SharedReads::new(move || {
            let number = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if number == 0 {
                    Err(anyhow::anyhow!("database is locked"))
                } else {
                    Ok("kage_up 1\n".to_owned())
                }
            }
        });
        assert!(shared.render().await.is_err());
        assert_eq!(shared.render().await.unwrap(), "kage_up 1\n");
    }

    #[test]
    fn unknown_statuses_say_internal_error() {
        let response = Response::text(500, "x");
        assert!(
            String::from_utf8_lossy(&response.to_bytes())
                .starts_with("HTTP/1.1 500 Internal Server Error")
        );
    }
}
