//! `spin-test-host serve --manifest spin.toml --listen 127.0.0.1:3000 [--var name=value]...
//! [--state-dir DIR]`: serves the app over HTTP/1.1 until killed.

use std::io::Write as _;

use anyhow::{Context, bail};
use spin_test_host::{HostOptions, TestHost};

const USAGE: &str = "usage: spin-test-host serve --manifest spin.toml --listen 127.0.0.1:3000 \
                     [--var name=value]... [--state-dir DIR]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("serve") {
        bail!("{USAGE}");
    }
    let mut manifest = None;
    let mut listen = "127.0.0.1:3000".to_string();
    let mut variables = Vec::new();
    let mut state_dir = None;
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--manifest" => manifest = Some(value()?),
            "--listen" => listen = value()?,
            "--var" => variables.push(value()?),
            "--state-dir" => state_dir = Some(value()?),
            _ => bail!("unknown argument {flag:?}\n{USAGE}"),
        }
    }
    let mut options = HostOptions::new(manifest.context(USAGE)?);
    for variable in &variables {
        let (name, value) = variable
            .split_once('=')
            .with_context(|| format!("--var {variable:?} is not name=value"))?;
        options = options.variable(name, value);
    }
    if let Some(dir) = state_dir {
        options = options.state_dir(dir);
    }
    let host = TestHost::start(options)?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    host.serve(listener).await
}
