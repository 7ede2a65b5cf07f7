//! The public leaked-key report, `POST /api/v1/leaks`: its rate limits counted with the
//! key-value store's atomic increment (fixed windows, as keys' rate limits:
//! `keys_domain::limits`), per client address and overall (`leaks_domain::public_report`).

use keys_domain::Error;
use keys_domain::limits::sweep;
use keys_domain::time::Timestamp;
use keys_spin::http::ApiRequest;
use keys_spin::kv::Kv;
use leaks_domain::public_report::{Budget, Client};

/// The client a report is counted against, from the address header (see
/// [`Client::of_header`]).
pub async fn client(req: &ApiRequest) -> Client {
    let name = keys_spin::config::client_ip_header().await;
    Client::of_header(req.last_header_line(&name))
}

/// Counts a report against its client's budget, then everyone's; 429 when either is used
/// up (the overall one is not counted when the client's refuses).
pub async fn admit(kv: &Kv, client: Client, now: Timestamp) -> Result<(), Error> {
    for budget in Budget::of(client) {
        let window = budget.window(now);
        let count = kv.increment(&budget.counter_key(window.index), 1).await?;
        if count == 1 {
            forget_old_windows(kv, budget, window.index).await;
        }
        budget.admit(count, &window)?;
    }
    Ok(())
}

/// The first report of a window deletes the counters of past windows
/// (`keys_domain::limits::sweep`). Housekeeping only: a failure is logged.
async fn forget_old_windows(kv: &Kv, budget: Budget, index: i64) {
    let pointer_key = budget.pointer_key();
    let result = async {
        let pointer = kv.get(&pointer_key).await?;
        let (old, pointer) = sweep(pointer.as_deref(), index);
        kv.set(&pointer_key, pointer.as_bytes()).await?;
        let old: Vec<String> = old.into_iter().map(|i| budget.counter_key(i)).collect();
        kv.delete_many(&old).await
    };
    if let Err(err) = result.await {
        eprintln!("warning: could not delete past leak-report counters: {err:#}");
    }
}
