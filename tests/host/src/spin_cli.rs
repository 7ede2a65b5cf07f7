//! The real Spin CLI as a test target: `spin up` on a free loopback port with a fresh state
//! directory, requests over HTTP/1.1, and the dumps and logs the tests compare, read from the
//! files Spin writes.
//!
//! Spin's default stores are SQLite files in the state directory (`sqlite_key_value.db`,
//! table `spin_key_value(store, key, value)`, and `sqlite_db.db` for the `default`
//! database), and component output goes to `logs/<component>_{stdout,stderr}.txt`, so "nothing
//! changed" and "never logged" checks run against real Spin too. What only the in-process host
//! can do (fault injection, call counters, memory figures) stays in [`crate::TestHost`].
//!
//! The server runs in its own process group (`spin up` starts a `spin trigger http` child);
//! dropping a [`SpinApp`] stops the group it started, and nothing else.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::BTreeMap;

/// Environment variable naming the Spin binary to run (default: `spin` on `PATH`).
pub const SPIN_BIN_VAR: &str = "SPIN_BIN";
/// How long `spin up` may take to answer its first request (it compiles the components on a
/// cold cache).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopped server may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Spin's own health route, answered without running a component.
const HEALTH_PATH: &str = "/.well-known/spin/health";
/// Spin's key-value file in the state directory, and its one table.
const KV_FILE: &str = "sqlite_key_value.db";
const SQL_KV_DUMP: &str = "SELECT key, value FROM spin_key_value WHERE store = ?1";
/// Spin's file for the `default` SQLite database.
const SQLITE_DEFAULT_FILE: &str = "sqlite_db.db";

/// What to run: the manifest, variables, an optional subset of components, runtime config and
/// the Spin binary.
#[derive(Debug, Clone)]
pub struct SpinOptions {
    /// The app's `spin.toml`.
    pub manifest: PathBuf,
    /// `--variable name=value` pairs.
    pub variables: Vec<(String, String)>,
    /// `-c <component>` for each entry (selective deployment); empty runs the whole app.
    pub components: Vec<String>,
    /// `--runtime-config-file`, if any.
    pub runtime_config: Option<PathBuf>,
    /// Where state lives; `None` for a fresh temporary directory removed on drop.
    pub state_dir: Option<PathBuf>,
    /// Environment variables of the `spin` process (e.g. `SSL_CERT_FILE`).
    pub environment: Vec<(String, String)>,
    /// The Spin binary; `None` for [`spin_binary`].
    pub binary: Option<PathBuf>,
    /// More `spin up` arguments (e.g. `--max-instance-reuse-count 1000000`).
    pub args: Vec<String>,
}

impl SpinOptions {
    /// The whole app of `manifest`, no variables, fresh state.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            variables: Vec::new(),
            components: Vec::new(),
            runtime_config: None,
            state_dir: None,
            environment: Vec::new(),
            binary: None,
            args: Vec::new(),
        }
    }

    /// Runs the Spin binary at `path` instead of [`spin_binary`].
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Sets an application variable.
    pub fn variable(mut self, name: &str, value: &str) -> Self {
        self.variables.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A running `spin up`.
pub struct SpinApp {
    child: Child,
    addr: SocketAddr,
    state_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// The Spin binary the tests run.
pub fn spin_binary() -> PathBuf {
    std::env::var_os(SPIN_BIN_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("spin"))
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl SpinApp {
    /// Starts `spin up` and waits until it serves requests. Blocking: call it before entering
    /// an async runtime or from a blocking context.
    pub fn start(options: SpinOptions) -> anyhow::Result<SpinApp> {
        let (temp, state_dir) = match &options.state_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new().prefix("spin-state-").tempdir()?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        // A port taken between `free_port` and Spin's bind makes Spin exit: try another one.
        let mut last_error = None;
        for _ in 0..3 {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
            match Self::spawn(&options, addr, &state_dir) {
                Ok(child) => {
                    let mut app = SpinApp {
                        child,
                        addr,
                        state_dir: state_dir.clone(),
                        _temp: None,
                    };
                    match app.wait_ready() {
                        Ok(()) => {
                            app._temp = temp;
                            return Ok(app);
                        }
                        Err(err) => last_error = Some(err),
                    }
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("spin up did not start")))
    }

    fn spawn(options: &SpinOptions, addr: SocketAddr, state_dir: &Path) -> anyhow::Result<Child> {
        use std::os::unix::process::CommandExt;
        let binary = options.binary.clone().unwrap_or_else(spin_binary);
        let mut cmd = Command::new(&binary);
        cmd.arg("up")
            .arg("--from")
            .arg(&options.manifest)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--state-dir")
            .arg(state_dir);
        for component in &options.components {
            cmd.arg("-c").arg(component);
        }
        if let Some(config) = &options.runtime_config {
            cmd.arg("--runtime-config-file").arg(config);
        }
        cmd.args(&options.args);
        cmd.envs(options.environment.iter().map(|(k, v)| (k, v)));
        for (name, value) in &options.variables {
            cmd.arg("--variable").arg(format!("{name}={value}"));
        }
        let log = std::fs::File::create(state_dir.join("spin-up.log"))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        cmd.spawn().with_context(|| {
            format!(
                "cannot run {} (install Spin 4.1+: scripts/ensure-spin.sh)",
                binary.display()
            )
        })
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "spin up exited with {status}:\n{}",
                    std::fs::read_to_string(self.state_dir.join("spin-up.log")).unwrap_or_default()
                );
            }
            if health_check(self.addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "spin up did not answer on {} within {START_TIMEOUT:?}",
            self.addr
        )
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id of `spin up` (also the id of its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The state directory (stores and logs).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Sends one request on a new connection and collects the response.
    pub async fn request(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> anyhow::Result<http::Response<Vec<u8>>> {
        let mut connection = Connection::open(self.addr).await?;
        connection.send(req).await
    }

    /// Opens a keep-alive connection for several requests in a row.
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        Connection::open(self.addr).await
    }

    /// Every key and value of the key-value store `label`.
    pub fn kv_dump(&self, label: &str) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
        let path = self.state_dir.join(KV_FILE);
        if !path.exists() {
            return Ok(BTreeMap::new());
        }
        let conn = crate::stores::open_reader(&path)?;
        let mut stmt = conn.prepare(SQL_KV_DUMP)?;
        let rows = stmt.query_map([label], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A deterministic text of every user table and row of the `default` database.
    pub fn sqlite_dump(&self, label: &str) -> anyhow::Result<String> {
        anyhow::ensure!(
            label == "default",
            "Spin's files are known for the default database only"
        );
        let path = self.state_dir.join(SQLITE_DEFAULT_FILE);
        if !path.exists() {
            return Ok(String::new());
        }
        crate::stores::dump_database(&crate::stores::open_reader(&path)?)
    }

    /// Runs one statement on the `default` database while Spin serves it (SQLite's locking
    /// orders it with the components' writes); returns the rows it changed. For tests that
    /// stand in for time passing, e.g. a scheduled retry made due now instead of waited for.
    pub fn sqlite_execute(&self, sql: &str) -> anyhow::Result<usize> {
        let path = self.state_dir.join(SQLITE_DEFAULT_FILE);
        Ok(crate::stores::open_reader(&path)?.execute(sql, [])?)
    }

    /// Everything the components wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.state_dir.join("logs")) else {
            return out;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            out.push_str(&std::fs::read_to_string(&file).unwrap_or_default());
        }
        out
    }

    /// Stops the server: SIGTERM to its process group, SIGKILL after [`STOP_TIMEOUT`].
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let group = -(self.child.id() as i32);
        // SAFETY: `kill` has no memory-safety preconditions; the group is the one we started.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                // The trigger child may outlive `spin up` by a moment: make sure it goes too.
                unsafe { libc::kill(group, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for SpinApp {
    fn drop(&mut self) {
        self.stop();
    }
}

fn health_check(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET {HEALTH_PATH} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}

/// One HTTP/1.1 connection to the server, kept alive across requests.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl Connection {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Connection {
            sender,
            authority: addr.to_string(),
        })
    }

    /// Sends a request (absolute-path URI) and collects the response.
    pub async fn send(
        &mut self,
        req: http::Request<Vec<u8>>,
    ) -> anyhow::Result<http::Response<Vec<u8>>> {
        let (mut parts, body) = req.into_parts();
        if !parts.headers.contains_key(http::header::HOST) {
            parts
                .headers
                .insert(http::header::HOST, self.authority.parse()?);
        }
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(http::Request::from_parts(
                parts,
                Full::new(Bytes::from(body)),
            ))
            .await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes().to_vec();
        Ok(http::Response::from_parts(parts, body))
    }
}
