//! The address of a scanner's public-key document, split as an outgoing request needs it.

/// An `http` or `https` URL: scheme, authority and path with query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchUrl {
    /// Whether the scheme is `https`.
    pub https: bool,
    /// `host` or `host:port`.
    pub authority: String,
    /// The path and query, `/` at least.
    pub path_with_query: String,
}

impl FetchUrl {
    /// Reads an absolute `http://` or `https://` URL without user information or fragment.
    pub fn parse(text: &str) -> Option<Self> {
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, text.strip_prefix("http://")?)
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        let valid_authority = !authority.is_empty()
            && authority.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        let valid_path = !path.contains('#') && path.bytes().all(|b| b.is_ascii_graphic());
        (valid_authority && valid_path).then(|| Self {
            https,
            authority: authority.to_owned(),
            path_with_query: path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_s_address_splits_into_authority_and_path() {
        let url =
            FetchUrl::parse("https://api.github.com/meta/public_keys/secret_scanning").unwrap();
        assert!(url.https);
        assert_eq!(url.authority, "api.github.com");
        assert_eq!(url.path_with_query, "/meta/public_keys/secret_scanning");
    }

    #[test]
    fn a_local_address_keeps_its_port_and_query() {
        let url = FetchUrl::parse("http://127.0.0.1:8080?v=1").unwrap();
        assert!(!url.https);
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.path_with_query, "/?v=1");
        assert_eq!(FetchUrl::parse("http://h").unwrap().path_with_query, "/");
    }

    #[test]
    fn other_schemes_credentials_and_fragments_are_refused() {
        for bad in [
            "ftp://h/x",
            "https://",
            "https://user@h/x",
            "https://h/x#f",
            "h/x",
            "",
        ] {
            assert!(FetchUrl::parse(bad).is_none(), "{bad}");
        }
    }
}
