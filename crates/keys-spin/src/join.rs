//! Running store calls side by side.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// A boxed call borrowing from its caller. Calls are passed boxed, rather than as generic
/// futures, so the joining code exists once per output type instead of once per caller (it
/// keeps the `.wasm` files small).
pub type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs every call of `calls` side by side and waits for all of them; their outputs, in the
/// order of `calls`. Polls each pending call on every wake-up, so keep `calls` short (a few
/// dozen).
pub async fn all<T>(calls: Vec<Boxed<'_, T>>) -> Vec<T> {
    let mut pending: Vec<Option<Boxed<'_, T>>> = calls.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut busy = false;
        for (slot, output) in pending.iter_mut().zip(&mut outputs) {
            if let Some(call) = slot {
                match call.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => busy = true,
                }
            }
        }
        if busy { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// [`all`] for calls that may fail: fails with the first error, in the order of `calls`.
pub async fn all_ok<T, E>(calls: Vec<Boxed<'_, Result<T, E>>>) -> Result<Vec<T>, E> {
    all(calls).await.into_iter().collect()
}
