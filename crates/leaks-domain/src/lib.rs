//! Secret-scanning reports of leaked INGENEO keys, without any Spin dependency: the GitHub and
//! GitLab partner formats, what a report asks for, the feedback the scanners expect, the
//! scanners' public-key documents and the ECDSA signatures that prove a report comes from
//! them; the public report of leaked keys anyone may send. See docs/secret-scanning.md.
#![deny(missing_docs)]

pub mod public_keys;
pub mod public_report;
pub mod report;
