//! A TCP proxy of the tests' own in front of a server (the multi-node tests' Redis) that can
//! hold back every reply for a while: a store that answers, but slowly (a congested link, an
//! overloaded server). It runs on a thread and a runtime of its own, on a free loopback port;
//! dropping a [`SlowProxy`] stops it and closes every connection it holds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy.
pub struct SlowProxy {
    addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowProxy {
    /// Starts a proxy to `upstream` on a free port, adding no delay yet.
    pub fn start(upstream: SocketAddr) -> anyhow::Result<SlowProxy> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("the proxy's runtime")?;
        let delay = delay_ms.clone();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                accept(listener, upstream, delay, stopped).await;
            });
        });
        Ok(SlowProxy {
            addr,
            delay_ms,
            stop,
            thread: Some(thread),
        })
    }

    /// `host:port` to connect to instead of the upstream's.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Holds back every later chunk of a reply for `delay` (zero: passes replies at once).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    delay: Arc<AtomicU64>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let client = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => continue,
            },
            _ = stopped.changed() => return,
        };
        let (delay, mut stopped) = (delay.clone(), stopped.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = relay(client, upstream, delay) => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

/// Copies bytes both ways; replies wait the current delay before they are passed on. A
/// failed side closes both (as a proxy whose upstream went away does).
async fn relay(client: TcpStream, upstream: SocketAddr, delay: Arc<AtomicU64>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    };
    let replies = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let wait = delay.load(Ordering::SeqCst);
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            if client_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = requests => {}
        () = replies => {}
    }
}
