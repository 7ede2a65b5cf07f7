//! Debian's `wrk` as the load generator: the Lua script of a scenario, one run, and the one
//! result line the script's `done` callback prints.
//!
//! A scenario with one request (one key, or none) leaves `request` undefined, so wrk sends
//! its prebuilt request without calling Lua; one with many keys formats every request once
//! per thread in `init` and only draws one per request (an integer draw and a binary search
//! of the Zipf table). No `response` callback: wrk counts statuses over 399 itself.

use crate::scenarios::Rendered;
use anyhow::{Context, bail};
use serde::Serialize;
use std::path::Path;
use std::process::Command;

/// The tag of the line the script's `done` prints.
const RESULT_TAG: &str = "BENCH-RESULT";
/// The load generator's command.
const WRK: &str = "wrk";

/// The result line: rps, p50 and p99 latency in µs, requests, socket errors (connect, read,
/// write, timeout) and statuses over 399.
const DONE: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH-RESULT %.1f %d %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.requests,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"#;

/// Draws one of the requests formatted in `init`, as the cumulative table says; each thread
/// seeds its own draws (1, 2, …: reproducible, and different between threads).
const DRAW: &str = r#"
local total = cumulative[#cumulative]
local requests = {}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  math.randomseed(seed)
  for i, v in ipairs(variants) do
    requests[i] = wrk.format(nil, nil, v.headers, v.body)
  end
end

function request()
  local r = math.random(total)
  local lo, hi = 1, #cumulative
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cumulative[mid] < r then lo = mid + 1 else hi = mid end
  end
  return requests[lo]
end
"#;

/// How many threads and keep-alive connections wrk runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// `-t`.
    pub threads: u32,
    /// `-c`.
    pub connections: u32,
}

/// Throughput: 16 connections on 2 threads.
pub const THROUGHPUT: Load = Load {
    threads: 2,
    connections: 16,
};
/// Latency of one request at a time.
pub const SINGLE: Load = Load {
    threads: 1,
    connections: 1,
};

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measure {
    /// Requests per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Requests completed.
    pub requests: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
    /// Answers with a status over 399.
    pub status_errors: u64,
}

/// A Lua string literal of `text`.
fn lua_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            0x20..=0x7e => out.push(char::from(byte)),
            // Decimal escapes keep the literal on one line and ASCII.
            _ => out.push_str(&format!("\\{byte:03}")),
        }
    }
    out.push('"');
    out
}

/// A Lua table of `headers`.
fn lua_headers(headers: &[(String, String)]) -> String {
    let fields: Vec<String> = headers
        .iter()
        .map(|(name, value)| format!("[{}] = {}", lua_string(name), lua_string(value)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// The wrk script sending `variants`: the one request, or a draw among them where rank `k`
/// (1-based) is drawn when a uniform integer is above `cumulative[k - 2]` and at most
/// `cumulative[k - 1]`. Every variant has the first one's method and path.
pub fn script(variants: &[Rendered], cumulative: &[u64]) -> anyhow::Result<String> {
    let Some(first) = variants.first() else {
        bail!("a wrk script needs a request");
    };
    let mut lua = format!(
        "wrk.method = {}\nwrk.path = {}\n",
        lua_string(first.method),
        lua_string(&first.path)
    );
    if variants.len() == 1 {
        for (name, value) in &first.headers {
            lua.push_str(&format!(
                "wrk.headers[{}] = {}\n",
                lua_string(name),
                lua_string(value)
            ));
        }
        if !first.body.is_empty() {
            lua.push_str(&format!("wrk.body = {}\n", lua_string(&first.body)));
        }
    } else {
        anyhow::ensure!(
            cumulative.len() == variants.len(),
            "{} requests but {} weights",
            variants.len(),
            cumulative.len()
        );
        lua.push_str("local variants = {\n");
        for variant in variants {
            // `nil` keeps wrk.format from sending an empty body with a Content-Length of 0.
            let body = match variant.body.as_str() {
                "" => "nil".to_owned(),
                body => lua_string(body),
            };
            let headers = lua_headers(&variant.headers);
            lua.push_str(&format!("  {{headers = {headers}, body = {body}}},\n"));
        }
        lua.push_str("}\n");
        let weights: Vec<String> = cumulative.iter().map(u64::to_string).collect();
        lua.push_str(&format!("local cumulative = {{{}}}\n", weights.join(", ")));
        lua.push_str(DRAW);
    }
    lua.push_str(DONE);
    Ok(lua)
}

/// The measure in wrk's output: the line tagged [`RESULT_TAG`].
pub fn parse_result(output: &str) -> anyhow::Result<Measure> {
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix(RESULT_TAG))
        .context("wrk printed no result line")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [rps, p50, p99, requests, socket, status] = fields[..] else {
        bail!("a wrk result line has six fields: {line:?}");
    };
    let int = |field: &str| -> anyhow::Result<u64> {
        field
            .parse()
            .with_context(|| format!("not a count: {field:?} in {line:?}"))
    };
    Ok(Measure {
        rps: rps
            .parse()
            .with_context(|| format!("not a rate: {rps:?} in {line:?}"))?,
        p50_us: int(p50)?,
        p99_us: int(p99)?,
        requests: int(requests)?,
        socket_errors: int(socket)?,
        status_errors: int(status)?,
    })
}

/// Runs wrk with `script` against `base_url` for `secs` seconds.
pub fn run(script: &Path, load: Load, secs: u32, base_url: &str) -> anyhow::Result<Measure> {
    let output = Command::new(WRK)
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{secs}s"))
        .arg("-s")
        .arg(script)
        .arg(base_url)
        .output()
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "wrk failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    parse_result(&stdout).with_context(|| format!("wrk's output: {stdout}"))
}

/// Installs Debian's wrk (`apt-get`) when it is not on `PATH`.
pub fn ensure_installed() -> anyhow::Result<()> {
    // `wrk -v` prints its version and exits with 1: only a failure to start means it is missing.
    if Command::new(WRK).arg("-v").output().is_ok() {
        return Ok(());
    }
    eprintln!("==> installing wrk (apt-get)");
    for args in [&["update", "-qq"][..], &["install", "-y", "-qq", WRK][..]] {
        let status = Command::new("apt-get")
            .args(args)
            .status()
            .context("cannot run apt-get to install wrk")?;
        anyhow::ensure!(status.success(), "apt-get {args:?} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(key: &str) -> Rendered {
        Rendered {
            method: "POST",
            path: "/api/v1/verify".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: format!(r#"{{"key":"{key}"}}"#),
        }
    }

    #[test]
    fn a_lua_string_escapes_quotes_backslashes_and_control_characters() {
        assert_eq!(lua_string(r#"{"a":"b\c"}"#), r#""{\"a\":\"b\\c\"}""#);
        assert_eq!(lua_string("a\nb"), r#""a\010b""#);
    }

    #[test]
    fn a_one_request_script_sets_wrks_static_request_and_defines_no_request_function() {
        let lua = script(&[rendered("k1")], &[]).unwrap();
        assert!(lua.contains("wrk.method = \"POST\"\n"));
        assert!(lua.contains("wrk.path = \"/api/v1/verify\"\n"));
        assert!(lua.contains("wrk.headers[\"content-type\"] = \"application/json\"\n"));
        assert!(lua.contains(r#"wrk.body = "{\"key\":\"k1\"}""#));
        assert!(!lua.contains("function request"));
        assert!(!lua.contains("function response"));
        assert!(lua.contains("function done"));
    }

    #[test]
    fn a_bodiless_request_sets_no_body() {
        let mut get = rendered("k1");
        get.method = "GET";
        get.body.clear();
        assert!(!script(&[get], &[]).unwrap().contains("wrk.body"));
    }

    #[test]
    fn a_many_request_script_formats_every_variant_and_draws_from_the_table() {
        let lua = script(&[rendered("k1"), rendered("k2")], &[3, 4]).unwrap();
        assert!(lua.contains(
            r#"{headers = {["content-type"] = "application/json"}, body = "{\"key\":\"k2\"}"},"#
        ));
        assert!(lua.contains("local cumulative = {3, 4}\n"));
        assert!(lua.contains("function request()"));
        assert!(lua.contains("wrk.format(nil, nil, v.headers, v.body)"));
    }

    #[test]
    fn a_many_request_script_needs_one_weight_per_request() {
        assert!(script(&[rendered("k1"), rendered("k2")], &[4]).is_err());
        assert!(script(&[], &[]).is_err());
    }

    #[test]
    fn the_result_line_is_found_among_wrks_own_output() {
        let output = "Running 1s test @ http://127.0.0.1:1\n  2 threads and 16 connections\n\
                      BENCH-RESULT 12345.6 812 2400 12400 0 3\n";
        let measure = parse_result(output).unwrap();
        assert_eq!(
            measure,
            Measure {
                rps: 12345.6,
                p50_us: 812,
                p99_us: 2400,
                requests: 12400,
                socket_errors: 0,
                status_errors: 3,
            }
        );
    }

    #[test]
    fn output_without_a_whole_result_line_is_an_error() {
        assert!(parse_result("Running 1s test\n").is_err());
        assert!(parse_result("BENCH-RESULT 1.0 2 3\n").is_err());
        assert!(parse_result("BENCH-RESULT x 2 3 4 5 6\n").is_err());
    }
}
