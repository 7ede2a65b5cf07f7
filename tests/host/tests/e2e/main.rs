//! End-to-end suite: the real `.wasm` components of the app, from the project's spin.toml,
//! served by the Spin CLI (`spin up`, the default; `E2E_TARGET=host` runs the same tests in
//! the in-process test host). Tests that inject store faults or count store calls always
//! use the test host; `spin` holds what only real Spin shows (keep-alive, instance reuse),
//! `topology` the multi-node deployment on a shared Redis (`redis-server`, which the tests
//! start themselves: scripts/ensure-redis.sh installs it).
//! Build the components first with `scripts/build-components.sh` (the test command does).

mod access_review;
mod audit_export;
mod authorize;
mod bad_input;
mod cache;
mod concurrency;
mod double_faults;
mod expiry_policy;
mod ext_authz;
mod faults;
mod hardening;
mod helpers;
mod identity;
mod introspection;
mod limits;
mod openapi;
mod permissions;
mod public_leaks;
mod scanners;
mod secret_scanning;
mod secrets;
mod spin;
mod sso;
mod story;
mod topology;
mod usage;
mod webhooks;
