//! End-to-end tests of the test host with the fixture app in `tests/fixtures`.
//!
//! The fixtures must be built first:
//! `cargo build --target wasm32-wasip2 --release -p baseline -p probe`.

mod counters;
mod faults;
mod helpers;
mod instances;
mod key_value;
mod routing;
mod serving;
mod sqlite;
mod startup;
mod stub_server;
