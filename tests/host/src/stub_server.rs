//! A small HTTP/1.1 server of the tests' own, on a free loopback port, playing a third party
//! the components fetch from (an identity provider's JWKS, a secret scanner's public keys).
//! Each path answers what the test last [`StubServer::set`] for it (404 otherwise); requests
//! are counted per path and kept with their headers and body ([`StubServer::received`]: a
//! webhook receiver). Dropping the server stops its thread and closes its socket, so a
//! dropped server is a provider that is down (connection refused).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest request head (request line and headers) the server reads, in bytes.
const MAX_HEAD_LEN: usize = 64 * 1024;
/// How long a connection may stay silent before the server drops it.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What one path answers.
#[derive(Clone)]
pub struct StubResponse {
    /// The status code.
    pub status: u16,
    /// Extra response headers (`content-length` and `connection` are set by the server).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Its headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
}

impl Received {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Routes {
    responses: HashMap<String, StubResponse>,
    hits: HashMap<String, usize>,
    received: HashMap<String, Vec<Received>>,
}

/// A running stub server.
pub struct StubServer {
    addr: SocketAddr,
    routes: Arc<Mutex<Routes>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StubServer {
    /// Binds a free loopback port and starts serving.
    pub fn start() -> anyhow::Result<StubServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let routes = Arc::new(Mutex::new(Routes::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let routes = Arc::clone(&routes);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let routes = Arc::clone(&routes);
                        std::thread::spawn(move || serve_connection(stream, &routes));
                    }
                }
            })
        };
        Ok(StubServer {
            addr,
            routes,
            stop,
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:port`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Makes `path` answer `status` with `headers` and `body` from now on.
    pub fn set(&self, path: &str, status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) {
        let response = StubResponse {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: body.into(),
        };
        let mut routes = self.routes.lock().unwrap();
        routes.responses.insert(path.to_owned(), response);
    }

    /// How many requests reached `path` (query strings are part of the path).
    pub fn hits(&self, path: &str) -> usize {
        let routes = self.routes.lock().unwrap();
        routes.hits.get(path).copied().unwrap_or(0)
    }

    /// The requests that reached `path`, oldest first.
    pub fn received(&self, path: &str) -> Vec<Received> {
        let routes = self.routes.lock().unwrap();
        routes.received.get(path).cloned().unwrap_or_default()
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers the requests of one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, routes: &Mutex<Routes>) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    while let Some((path, headers, body_len)) = read_head(&mut reader) {
        let mut body = Vec::with_capacity(body_len);
        if (&mut reader)
            .take(body_len as u64)
            .read_to_end(&mut body)
            .is_err()
        {
            return;
        }
        let response = {
            let mut routes = routes.lock().unwrap();
            *routes.hits.entry(path.clone()).or_default() += 1;
            let received = Received { headers, body };
            routes
                .received
                .entry(path.clone())
                .or_default()
                .push(received);
            routes.responses.get(&path).cloned()
        };
        let response = response.unwrap_or(StubResponse {
            status: 404,
            headers: Vec::new(),
            body: Vec::new(),
        });
        let mut head = format!(
            "HTTP/1.1 {} Stub\r\ncontent-length: {}\r\n",
            response.status,
            response.body.len()
        );
        for (name, value) in &response.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&response.body);
        if writer.write_all(&bytes).is_err() {
            return;
        }
    }
}

/// A request head: its path, headers and `content-length`.
type Head = (String, Vec<(String, String)>, usize);

/// Reads a request head, or `None` at the end of the connection or on a malformed head.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let path = request_line.split_whitespace().nth(1)?.to_owned();
    let mut body_len = 0;
    let mut headers = Vec::new();
    let mut head_len = request_line.len();
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line).ok()?;
        head_len += read;
        if read == 0 || head_len > MAX_HEAD_LEN {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some((path, headers, body_len));
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
            if name == "content-length" {
                body_len = value.parse().ok()?;
            }
            headers.push((name, value));
        }
    }
}
