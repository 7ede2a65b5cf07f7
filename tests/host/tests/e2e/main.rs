//! End-to-end suite: the real `.wasm` components of the app, run by the test host from the
//! project's spin.toml. Build them first with `scripts/build-components.sh` (the test
//! command does).

mod authorize;
mod bad_input;
mod concurrency;
mod faults;
mod helpers;
mod identity;
mod openapi;
mod permissions;
mod secrets;
mod story;
