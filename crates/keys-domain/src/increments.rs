//! Counter increments sent to the `kv-proxy` component, and its answers.
//!
//! Spin's key-value API has no increment, and `wasi:keyvalue`'s is a synchronous call: while
//! the store does not answer it holds the whole instance that made it, every request routed
//! there included, and no deadline can interrupt it. So the components that count (verify-key)
//! never make it themselves: they send their increments to `kv-proxy` over Spin's local
//! service chaining, an asynchronous call they abandon at its deadline. Only `kv-proxy`'s own
//! instance can be held, and nothing waits on it but abandoned calls.
//!
//! The wire format is text, one increment per line (`<delta> <counter>\n`); the answer holds
//! the counters' new values, one per line, in the same order.

use std::fmt::Write as _;

/// Where `kv-proxy` answers (Spin's local service chaining).
pub const PROXY_AUTHORITY: &str = "kv-proxy.spin.internal";
/// The path of its increments.
pub const INCREMENT_PATH: &str = "/increment";
/// Most increments in one request: a request stays well under the request body limit.
pub const MAX_INCREMENTS: usize = 512;

/// One counter to increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    /// The counter's key in the store.
    pub counter: String,
    /// What to add (negative: give back).
    pub delta: i64,
}

/// Why a request or answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// The request body of `increments` (at most [`MAX_INCREMENTS`]); a counter name must be one
/// line of text without leading whitespace.
pub fn encode(increments: &[Increment]) -> Result<String, Malformed> {
    if increments.len() > MAX_INCREMENTS {
        return Err(Malformed("too many increments in one request"));
    }
    let mut body = String::with_capacity(increments.len() * 64);
    for increment in increments {
        check_counter(&increment.counter)?;
        let _ = writeln!(body, "{} {}", increment.delta, increment.counter);
    }
    Ok(body)
}

/// The increments of a request body: at least one, at most [`MAX_INCREMENTS`].
pub fn parse(body: &str) -> Result<Vec<Increment>, Malformed> {
    let body = body
        .strip_suffix('\n')
        .ok_or(Malformed("the body must end with a newline"))?;
    let mut increments = Vec::new();
    for line in body.split('\n') {
        let (delta, counter) = line
            .split_once(' ')
            .ok_or(Malformed("a line must be `<delta> <counter>`"))?;
        let delta = delta
            .parse::<i64>()
            .map_err(|_| Malformed("a delta must be an integer"))?;
        check_counter(counter)?;
        increments.push(Increment {
            counter: counter.to_owned(),
            delta,
        });
        if increments.len() > MAX_INCREMENTS {
            return Err(Malformed("too many increments in one request"));
        }
    }
    Ok(increments)
}

/// The answer body: each counter's new value, one per line.
pub fn encode_values(values: &[i64]) -> String {
    let mut body = String::with_capacity(values.len() * 8);
    for value in values {
        let _ = writeln!(body, "{value}");
    }
    body
}

/// The new values of an answer to `count` increments.
pub fn parse_values(body: &str, count: usize) -> Result<Vec<i64>, Malformed> {
    let values: Vec<i64> = body
        .lines()
        .map(|line| line.parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| Malformed("a value must be an integer"))?;
    if values.len() != count || !body.ends_with('\n') && count > 0 {
        return Err(Malformed(
            "the answer does not hold one value per increment",
        ));
    }
    Ok(values)
}

fn check_counter(counter: &str) -> Result<(), Malformed> {
    let fine = !counter.is_empty()
        && !counter.starts_with(char::is_whitespace)
        && !counter.chars().any(char::is_control);
    if fine {
        Ok(())
    } else {
        Err(Malformed("a counter must be a non-empty line of text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_read_back_as_they_were_written() {
        let increments = [
            Increment {
                counter: "ingk-usage/123/key_a/VALID".into(),
                delta: 3,
            },
            Increment {
                counter: "ingk-rate/key_a/60/9".into(),
                delta: -64,
            },
        ];
        let body = encode(&increments).unwrap();
        assert_eq!(
            body,
            "3 ingk-usage/123/key_a/VALID\n-64 ingk-rate/key_a/60/9\n"
        );
        assert_eq!(parse(&body).unwrap(), increments);
    }

    #[test]
    fn a_counter_name_may_hold_spaces_but_no_line_break() {
        let spaced = [Increment {
            counter: "a b".into(),
            delta: 1,
        }];
        assert_eq!(parse(&encode(&spaced).unwrap()).unwrap(), spaced);
        for counter in ["", " lead", "two\nlines", "tab\there"] {
            let increment = [Increment {
                counter: counter.into(),
                delta: 1,
            }];
            assert!(encode(&increment).is_err(), "{counter:?}");
        }
    }

    #[test]
    fn malformed_requests_are_refused() {
        for body in [
            "",
            "\n",
            "1 a",
            "x a\n",
            "1\n",
            "1 a\n\n",
            "99999999999999999999 a\n",
        ] {
            assert!(parse(body).is_err(), "{body:?}");
        }
        let many: String = (0..=MAX_INCREMENTS).map(|i| format!("1 c{i}\n")).collect();
        assert!(parse(&many).is_err());
        let most: String = (0..MAX_INCREMENTS).map(|i| format!("1 c{i}\n")).collect();
        assert_eq!(parse(&most).unwrap().len(), MAX_INCREMENTS);
    }

    #[test]
    fn an_answer_must_hold_one_value_per_increment() {
        assert_eq!(
            parse_values(&encode_values(&[5, -1, 0]), 3).unwrap(),
            [5, -1, 0]
        );
        assert!(parse_values("5\n", 2).is_err());
        assert!(parse_values("5\n6\n", 1).is_err());
        assert!(parse_values("5", 1).is_err());
        assert!(parse_values("five\n", 1).is_err());
        assert_eq!(parse_values("", 0).unwrap(), Vec::<i64>::new());
    }
}
