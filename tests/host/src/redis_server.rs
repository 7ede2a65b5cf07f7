//! A `redis-server` of the tests' own, on a free loopback port, without persistence: the
//! shared store of the multi-node tests, which stop, pause and restart it to play outages.
//! It runs in its own process group; dropping a [`RedisServer`] stops the process it started,
//! and nothing else.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Environment variable naming the `redis-server` binary (default: `redis-server` on `PATH`).
pub const REDIS_SERVER_VAR: &str = "REDIS_SERVER";
/// How long a starting server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped server may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running (or stopped, paused) `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    addr: SocketAddr,
    paused: bool,
    /// With TLS: the directory holding its certificate authority, certificate and key.
    tls: Option<tempfile::TempDir>,
}

/// The certificate authority of a TLS server, in its directory.
const CA_FILE: &str = "ca.crt";

fn binary() -> String {
    std::env::var(REDIS_SERVER_VAR).unwrap_or_else(|_| "redis-server".into())
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> anyhow::Result<RedisServer> {
        let addr: SocketAddr = ([127, 0, 0, 1], crate::spin_cli::free_port()?).into();
        let mut server = RedisServer {
            child: None,
            addr,
            paused: false,
            tls: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// Starts a server that speaks TLS only, with a certificate for `127.0.0.1` signed by an
    /// authority of its own ([`RedisServer::ca_file`]), made with the `openssl` command.
    pub fn start_tls() -> anyhow::Result<RedisServer> {
        let dir = tempfile::tempdir()?;
        let openssl = |args: &[&str]| -> anyhow::Result<()> {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .context("cannot run openssl")?;
            anyhow::ensure!(status.success(), "openssl {args:?} failed");
            Ok(())
        };
        std::fs::write(dir.path().join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n")?;
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-keyout",
                "ca.key",
                "-out",
                CA_FILE,
                "-subj",
                "/CN=Test authority",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                CA_FILE,
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
                "-out",
                "server.crt",
            ],
        ];
        for step in steps {
            openssl(step)?;
        }
        let addr: SocketAddr = ([127, 0, 0, 1], crate::spin_cli::free_port()?).into();
        let mut server = RedisServer {
            child: None,
            addr,
            paused: false,
            tls: Some(dir),
        };
        server.restart()?;
        Ok(server)
    }

    /// The certificate authority of a TLS server (PEM), to trust.
    pub fn ca_file(&self) -> Option<std::path::PathBuf> {
        self.tls.as_ref().map(|dir| dir.path().join(CA_FILE))
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `redis://host:port`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Starts the server again on the same port, empty (it keeps nothing on disk).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        self.stop();
        let port = self.addr.port().to_string();
        let mut command = Command::new(binary());
        command.args(["--bind", "127.0.0.1"]);
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(dir) => command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(dir.path().join("server.crt"))
                .arg("--tls-key-file")
                .arg(dir.path().join("server.key")),
        };
        let child = command
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {} (install it: scripts/ensure-redis.sh)",
                    binary()
                )
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.ping() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("redis-server exited with {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "redis-server did not answer on {} within {START_TIMEOUT:?}",
            self.addr
        )
    }

    /// Whether the server answers `PING` (with TLS: whether it takes connections).
    pub fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200))
        else {
            return false;
        };
        if self.tls.is_some() {
            return true;
        }
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }

    /// Freezes the server (SIGSTOP): connections open and requests are sent, but nothing
    /// answers, as in a network partition.
    pub fn pause(&mut self) {
        self.signal(libc::SIGSTOP);
        self.paused = true;
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&mut self) {
        self.signal(libc::SIGCONT);
        self.paused = false;
    }

    /// Stops the server (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]); connections are
    /// refused until [`RedisServer::restart`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.paused {
            self.resume();
        }
        let pid = child.id() as i32;
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: as in `stop`.
            unsafe { libc::kill(child.id() as i32, signal) };
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
