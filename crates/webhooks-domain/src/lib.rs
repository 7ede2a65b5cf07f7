//! Domain of the webhooks that notify INGENEO administrators' systems of key events, free of
//! any Spin dependency: the event types and what an endpoint subscribes to ([`events`]), the
//! URLs an endpoint may have ([`origin`]), the endpoint itself and its edits ([`webhook`]),
//! Standard Webhooks 1.0 signing ([`signing`]), signing secrets sealed at rest ([`sealing`]),
//! the messages, their attempts and the retry schedule ([`delivery`]), and the time-based
//! events found by the dispatcher ([`alerts`]).
#![deny(missing_docs)]

pub mod alerts;
pub mod delivery;
pub mod events;
pub mod origin;
pub mod sealing;
pub mod signing;
pub mod webhook;
