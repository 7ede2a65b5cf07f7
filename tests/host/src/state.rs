//! The data of one instance's store: WASI, `wasi:http` and Spin contexts, the captured
//! stdout/stderr and the memory tracker.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

use crate::interfaces::{self, Grants, SpinState, SpinView};
use crate::stores::{Stores, lock};

/// Everything one instance's store holds.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    /// The `wasi:http` hooks: service chaining, every other outbound request denied.
    pub hooks: OutboundHttp,
    spin: SpinState,
    /// Records the instance's linear memory.
    pub memory: MemoryTracker,
}

impl InstanceState {
    /// A fresh state for one request to the component with `grants`.
    pub fn new(
        grants: Arc<Grants>,
        stores: Arc<Stores>,
        logs: &LogSink,
        environment: &[(String, String)],
        chain: Chain,
    ) -> Self {
        let wasi = WasiCtxBuilder::new()
            .stdout(logs.clone())
            .stderr(logs.clone())
            .envs(environment)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        InstanceState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundHttp {
                chain,
                grants: grants.clone(),
            },
            spin: SpinState { grants, stores },
            memory: MemoryTracker::default(),
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

fn spin_view(state: &mut InstanceState) -> SpinView<'_> {
    SpinView {
        table: &mut state.table,
        state: &state.spin,
    }
}

/// Adds WASI 0.2 and 0.3, `wasi:http@0.3`, the Spin interfaces and `wasi:keyvalue` to `linker`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)?;
    interfaces::add_to_linker(linker, spin_view)?;
    Ok(())
}

/// Hands a chained request to the component it names, as Spin's local service chaining does.
pub type ChainFn = dyn Fn(String, http::Request<Vec<u8>>) -> ChainedResponse + Send + Sync;

/// A [`ChainFn`] held weakly: a host's instances must not keep the host alive.
pub type Chain = std::sync::Weak<ChainFn>;

/// The response of a chained request.
pub type ChainedResponse =
    Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Vec<u8>>>> + Send>>;

/// `wasi:http` hooks: a request to `http://<component>.spin.internal` goes to that component
/// when the caller's `allowed_outbound_hosts` names it (Spin's local service chaining); every
/// other outbound request is refused, as no component here may make one.
pub struct OutboundHttp {
    chain: Chain,
    grants: Arc<Grants>,
}

type Sent = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Sent,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, Sent), HttpError>> + Send> {
        let target = request
            .uri()
            .host()
            .and_then(|host| host.strip_suffix(".spin.internal"))
            .filter(|id| self.grants.chained.contains(*id))
            .map(str::to_owned);
        let chain = self.chain.upgrade();
        Box::new(async move {
            let (Some(target), Some(chain)) = (target, chain) else {
                return Err(HttpError::HttpRequestDenied);
            };
            let (parts, body) = request.into_parts();
            let body = http_body_util::BodyExt::collect(body)
                .await
                .map_err(|_| HttpError::HttpRequestBodySize(None))?
                .to_bytes();
            // On a task of its own: the callee runs its own store, which cannot be driven from
            // within the caller's.
            let chained = chain(target, http::Request::from_parts(parts, body.to_vec()));
            let response = tokio::spawn(chained)
                .await
                .map_err(|_| HttpError::DestinationUnavailable)?
                .map_err(|_| HttpError::DestinationUnavailable)?;
            let response = response.map(|body| {
                http_body_util::BodyExt::boxed_unsync(http_body_util::BodyExt::map_err(
                    http_body_util::Full::new(Bytes::from(body)),
                    |never| match never {},
                ))
            });
            Ok((response, Box::new(async { Ok(()) }) as Sent))
        })
    }
}

/// Sums the linear memories of an instance and remembers the largest sum.
#[derive(Debug, Default)]
pub struct MemoryTracker {
    current: usize,
    peak: usize,
}

impl MemoryTracker {
    /// The largest total linear memory seen, in bytes.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

impl wasmtime::ResourceLimiter for MemoryTracker {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.current += desired.saturating_sub(current);
        self.peak = self.peak.max(self.current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// The shared buffer receiving every component's stdout and stderr.
#[derive(Clone)]
pub struct LogSink {
    buffer: Arc<Mutex<Vec<u8>>>,
    echo: bool,
}

impl LogSink {
    /// An empty sink; `echo` also copies everything to the host's stderr.
    pub fn new(echo: bool) -> Self {
        LogSink {
            buffer: Arc::default(),
            echo,
        }
    }

    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&lock(&self.buffer)).into_owned()
    }

    fn append(&self, bytes: &[u8]) {
        lock(&self.buffer).extend_from_slice(bytes);
        if self.echo {
            let _ = std::io::stderr().write_all(bytes);
        }
    }
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for LogSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl OutputStream for LogSink {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogSink {
    async fn ready(&mut self) {}
}
