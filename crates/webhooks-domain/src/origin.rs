//! Where webhooks may be sent: the deployment's `webhook_origin` (one Spin
//! `allowed_outbound_hosts` entry, `scheme://host[:port]` with Spin's wildcards) and the
//! URLs it admits.
//!
//! A URL is admitted when it is absolute `http(s)` without user information or fragment, at
//! most [`MAX_URL_CHARS`] long, and the origin admits its scheme, host and port (a missing
//! port being the scheme's default on both sides). HTTPS is required unless the origin's
//! scheme is `http` or `*`. An address that names this machine or a private network (an IP
//! literal that is loopback, private, link-local, unique-local, shared or unspecified, and
//! `localhost`) is refused unless the origin names that very host: a wildcard origin never
//! lets an administrator point the service at its own network. A host name that *resolves*
//! to such an address cannot be seen from here: pin the origin to the receivers in
//! production (docs/webhooks.md).

use keys_domain::Error;
use keys_domain::upstream::OutboundUrl;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest webhook URL, in characters.
pub const MAX_URL_CHARS: usize = 2_048;
/// The origin when `webhook_origin` is unset: any HTTPS host on port 443.
pub const DEFAULT_ORIGIN: &str = "https://*";

/// A scheme, host or port of the origin: a value, or Spin's `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Any,
    Exact(String),
}

/// The origin webhooks may be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: Part,
    /// `*`, `*.suffix` (kept as `.suffix` in [`Host::Suffix`]) or a host.
    host: Host,
    /// `None`: the scheme's default.
    port: Option<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Any,
    Suffix(String),
    Exact(String),
}

impl Origin {
    /// Reads `webhook_origin` (empty: [`DEFAULT_ORIGIN`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = match text.trim() {
            "" => DEFAULT_ORIGIN,
            t => t,
        };
        let refuse = || {
            format!(
                "webhook_origin must be one allowed_outbound_hosts entry, scheme://host[:port] \
                 (http, https or *; * or *.domain allowed as host; * as port), not {text:?}"
            )
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(refuse)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => Part::Any,
            s @ ("http" | "https") => Part::Exact(s.to_owned()),
            _ => return Err(refuse()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_port(rest).ok_or_else(refuse)?;
        let port = match port {
            None => None,
            Some("*") => Some(Part::Any),
            Some(p) if p.parse::<u16>().is_ok() && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(Part::Exact(p.trim_start_matches('0').to_owned()))
            }
            Some(_) => return Err(refuse()),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            Host::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if !valid_host(suffix) {
                return Err(refuse());
            }
            Host::Suffix(format!(".{suffix}"))
        } else if valid_host(&host) {
            Host::Exact(host)
        } else {
            return Err(refuse());
        };
        if scheme == Part::Any && port.is_none() && host != Host::Any {
            // Spin needs a port beside a wildcard scheme; so do we, for the default port.
            return Err(refuse());
        }
        Ok(Self { scheme, host, port })
    }

    /// The URL an endpoint gives, admitted by this origin (see the module's documentation),
    /// or a 422 `invalid_url` saying why not.
    pub fn admit(&self, url: &str) -> Result<OutboundUrl, Error> {
        let refuse = |why: &str| Error::Invalid {
            code: "invalid_url",
            detail: format!("url {why}"),
        };
        if url.chars().count() > MAX_URL_CHARS {
            return Err(refuse(&format!(
                "is longer than {MAX_URL_CHARS} characters"
            )));
        }
        if url.contains('@') {
            return Err(refuse("must not carry user information"));
        }
        let parsed = OutboundUrl::parse(url)
            .map_err(|_| refuse("must be an absolute http or https URL without fragment"))?;
        if url.trim() != url {
            return Err(refuse("must not start or end with white space"));
        }
        let (host, port) =
            split_port(&parsed.authority).ok_or_else(|| refuse("has an invalid host or port"))?;
        let host = host.to_ascii_lowercase();
        if !valid_host(&host) {
            return Err(refuse("has an invalid host"));
        }
        let default_port = if parsed.scheme == "https" {
            "443"
        } else {
            "80"
        };
        let port = match port {
            None => default_port.to_owned(),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .map(|p| p.to_string())
                .ok_or_else(|| refuse("has an invalid port"))?,
        };
        let scheme_ok = match &self.scheme {
            Part::Any => true,
            Part::Exact(s) => *s == parsed.scheme,
        };
        if parsed.scheme != "https" && !scheme_ok {
            return Err(refuse("must use https"));
        }
        if !scheme_ok {
            return Err(refuse(&format!("is outside webhook_origin ({self})")));
        }
        let port_ok = match &self.port {
            Some(Part::Any) => true,
            Some(Part::Exact(p)) => *p == port,
            None => port == default_port,
        };
        let host_ok = match &self.host {
            Host::Any => true,
            Host::Suffix(suffix) => host.ends_with(suffix.as_str()),
            Host::Exact(h) => *h == host,
        };
        if !port_ok || !host_ok {
            return Err(refuse(&format!("is outside webhook_origin ({self})")));
        }
        let named_exactly = self.host == Host::Exact(host.clone());
        if is_internal(&host) && !named_exactly {
            return Err(refuse(
                "names a loopback, private or link-local address, which only a webhook_origin \
                 naming it exactly allows",
            ));
        }
        Ok(parsed)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |p: &Part| match p {
            Part::Any => "*".to_owned(),
            Part::Exact(s) => s.clone(),
        };
        let host = match &self.host {
            Host::Any => "*".to_owned(),
            Host::Suffix(s) => format!("*{s}"),
            Host::Exact(h) => h.clone(),
        };
        write!(f, "{}://{host}", part(&self.scheme))?;
        match &self.port {
            Some(p) => write!(f, ":{}", part(p)),
            None => Ok(()),
        }
    }
}

/// `host[:port]` split; a bracketed IPv6 literal keeps its brackets.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => rest.strip_prefix(':').map(|p| (host, Some(p))),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port))),
        Some(_) => None,
        None => Some((authority, None)),
    }
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `host` names this machine or a private network.
fn is_internal(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().map(IpAddr::V6),
        None => host.parse::<Ipv4Addr>().map(IpAddr::V4),
    };
    match ip {
        Ok(IpAddr::V4(v4)) => internal_v4(v4),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || first & 0xfe00 == 0xfc00
                    || first & 0xffc0 == 0xfe80
            }
        },
        // A name of digits and dots that is not an address (`127.1`) is refused as internal:
        // resolvers read such forms as addresses.
        Err(_) => host.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admits(origin: &str, url: &str) -> bool {
        Origin::parse(origin).unwrap().admit(url).is_ok()
    }

    #[test]
    fn the_default_origin_admits_any_public_https_host_on_443() {
        assert!(admits("", "https://hooks.example.com/ingeneo?x=1"));
        assert!(admits("", "https://hooks.example.com:443/"));
        assert!(!admits("", "https://hooks.example.com:8443/"));
        assert!(!admits("", "http://hooks.example.com/"));
    }

    #[test]
    fn plain_http_needs_an_origin_that_allows_it() {
        let err = Origin::parse("https://*")
            .unwrap()
            .admit("http://hooks.example.com/")
            .unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "invalid_url"));
        assert!(err.to_string().contains("https"));
        assert!(admits(
            "http://hooks.example.com",
            "http://hooks.example.com/a"
        ));
        assert!(admits(
            "*://hooks.example.com:*",
            "http://hooks.example.com:81/"
        ));
    }

    #[test]
    fn hosts_and_ports_must_match_the_origin() {
        assert!(admits("https://*.example.com", "https://a.b.example.com/"));
        assert!(!admits(
            "https://*.example.com",
            "https://example.com.evil.io/"
        ));
        assert!(!admits("https://*.example.com", "https://badexample.com/"));
        assert!(admits(
            "https://hooks.example.com:8443",
            "https://HOOKS.example.com:8443/"
        ));
        assert!(!admits(
            "https://hooks.example.com:8443",
            "https://hooks.example.com/"
        ));
        assert!(admits("https://*:*", "https://hooks.example.com:9000/"));
    }

    #[test]
    fn internal_addresses_need_an_origin_naming_them_exactly() {
        for url in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://localhost/",
            "https://api.localhost/",
            "https://127.1/",
        ] {
            let err = Origin::parse("https://*").unwrap().admit(url).unwrap_err();
            assert_eq!(err.code(), "invalid_url", "{url}");
            assert!(!admits("https://*:*", url), "{url}");
        }
        assert!(admits(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/hook"
        ));
        assert!(admits("https://[::1]", "https://[::1]/hook"));
        assert!(admits("https://*", "https://93.184.216.34/"));
    }

    #[test]
    fn malformed_urls_are_refused_with_a_reason() {
        for url in [
            "hooks.example.com/x",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#frag",
            " https://hooks.example.com/",
            "https://hooks.example.com:0/",
            "https://hooks.example.com:99999/",
            "https://-bad-.example.com/",
            "https://hooks..example.com/",
        ] {
            let err = Origin::parse("").unwrap().admit(url).unwrap_err();
            assert_eq!(err.code(), "invalid_url", "{url}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(Origin::parse("").unwrap().admit(&long).is_err());
    }

    #[test]
    fn malformed_origins_are_refused_naming_the_variable() {
        for bad in [
            "hooks.example.com",
            "ftp://x",
            "https://*.",
            "https://x:port",
            "*://x",
        ] {
            let err = Origin::parse(bad).unwrap_err();
            assert!(err.contains("webhook_origin"), "{bad}: {err}");
        }
        assert_eq!(
            Origin::parse("https://*.Example.com:8443/")
                .unwrap()
                .to_string(),
            "https://*.example.com:8443"
        );
    }
}
