//! The access review of one key: which of its grants and companies its calls of a window
//! used, what its permissions refused, the narrowest permissions that would still have
//! allowed every call it made ([`Review::suggestion`]), and how that traffic would fare
//! under other permissions ([`simulate`]).

use super::{EVERY, NONE, OTHER, Shape};
use crate::error::Error;
use crate::permissions::{ALL_METHODS, CompanyScope, grant_covers};
use crate::time::{SECONDS_PER_DAY, Timestamp};
use crate::verify::VerifyCode;
use serde::Serialize;

/// Days a review covers when the request names none.
pub const DEFAULT_DAYS: i64 = 90;
/// Most days a review covers (the retention of the daily counts).
pub const MAX_DAYS: i64 = super::DAILY_RETENTION;
const SECONDS_PER_HOUR: i64 = 3600;

/// The days a review covers: the current UTC day and the `days - 1` before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// How many days.
    pub days: i64,
    /// The first day (days since the epoch).
    pub first_day: i64,
    /// When the review was asked for.
    pub now: Timestamp,
}

impl Window {
    /// Reads the `days` parameter: a whole number from 1 to [`MAX_DAYS`], [`DEFAULT_DAYS`]
    /// when absent.
    pub fn parse(days: Option<&str>, now: Timestamp) -> Result<Self, Error> {
        let days = match days {
            None => DEFAULT_DAYS,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=MAX_DAYS).contains(d) && !text.starts_with('+'))
                .ok_or_else(|| Error::bad_request(days_range()))?,
        };
        Self::new(days, now).map_err(|_| Error::bad_request(days_range()))
    }

    /// The window of the last `days` days (a body's `days`: 422 outside 1..=[`MAX_DAYS`]).
    pub fn new(days: i64, now: Timestamp) -> Result<Self, Error> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(Error::invalid(days_range()));
        }
        Ok(Self {
            days,
            first_day: now.unix().div_euclid(SECONDS_PER_DAY) - days + 1,
            now,
        })
    }

    /// The window's first instant.
    pub fn from(&self) -> Timestamp {
        Timestamp::from_unix(self.first_day * SECONDS_PER_DAY)
    }

    /// The hours the window covers, up to and including the current one.
    pub fn hours(&self) -> std::ops::Range<i64> {
        self.first_day * 24..self.now.unix().div_euclid(SECONDS_PER_HOUR) + 1
    }
}

fn days_range() -> String {
    format!("days must be a whole number from 1 to {MAX_DAYS}")
}

/// One shape's calls over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// What the calls named.
    pub shape: Shape,
    /// How many.
    pub calls: u64,
    /// The last hour (since the epoch) with one of them.
    pub last_hour: i64,
}

/// Adds up the counts of equal shapes (the folded days and the hours not folded yet), in
/// the order of shapes.
pub fn merge(counts: impl IntoIterator<Item = Counted>) -> Vec<Counted> {
    let mut all: Vec<Counted> = counts.into_iter().collect();
    all.sort_by(|a, b| a.shape.cmp(&b.shape));
    let mut merged: Vec<Counted> = Vec::with_capacity(all.len());
    for c in all {
        match merged.last_mut() {
            Some(last) if last.shape == c.shape => {
                last.calls += c.calls;
                last.last_hour = last.last_hour.max(c.last_hour);
            }
            _ => merged.push(c),
        }
    }
    merged
}

/// Whether one of `grants` matched none of `used`, the methods `VALID` calls named over a
/// window (the key list's `unused_grants` filter). A call counted past the bounds could have
/// used any grant, so it makes none unused.
pub fn has_unused_grant(grants: &[String], used: &[String]) -> bool {
    if used.iter().any(|m| m == OTHER) {
        return false;
    }
    grants.iter().any(|g| {
        !used.iter().any(|m| match m.as_str() {
            NONE => false,
            EVERY => g == ALL_METHODS,
            method => grant_covers(g, method),
        })
    })
}

/// The companies `VALID` calls named (what the review asks the registry about).
pub fn named_companies(counts: &[Counted]) -> Vec<&str> {
    let mut names: Vec<&str> = counts
        .iter()
        .filter(|c| c.shape.code == VerifyCode::Valid)
        .map(|c| c.shape.company.as_str())
        .filter(|c| !matches!(*c, NONE | EVERY | OTHER))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The review of a key (`GET /keys/{id}/access-review`).
#[derive(Debug, Serialize, PartialEq)]
pub struct Review {
    /// Days covered.
    pub days: i64,
    /// The window's first instant.
    pub from: Timestamp,
    /// When the review was made.
    pub to: Timestamp,
    /// `VALID` calls of the window.
    pub calls: u64,
    /// Each grant of the key, with the methods its `VALID` calls used under it.
    pub methods: Vec<GrantUse>,
    /// The key's companies and those its `VALID` calls named.
    pub companies: CompanyUse,
    /// What the key's permissions refused.
    pub refused: Vec<Refusal>,
    /// The narrowest permissions that would still have allowed every `VALID` call of the
    /// window, never wider than the key's; `None` when there was none.
    pub suggestion: Option<Permissions>,
    /// Methods and companies the calls used that the catalog no longer has (left out of the
    /// suggestion).
    pub left_out: LeftOut,
    /// `false` when calls past the counting bounds were counted without their method and
    /// company: the suggestion is then the key's permissions as they are.
    pub complete: bool,
}

/// A grant and the methods used under it (`used` empty: an unused grant).
#[derive(Debug, Serialize, PartialEq)]
pub struct GrantUse {
    /// The grant as the key holds it.
    pub grant: String,
    /// The methods its `VALID` calls named, busiest first (`*`: calls that named no method
    /// where every method had to be granted).
    #[serde(serialize_with = "as_methods")]
    pub used: Vec<Use>,
}

/// One method's or company's `VALID` calls.
#[derive(Debug, PartialEq)]
pub struct Use {
    /// The method (in [`GrantUse::used`]) or the company (in [`CompanyUse::used`]).
    pub name: String,
    /// How many calls.
    pub calls: u64,
    /// The start of the last UTC hour with one.
    pub last_used_at: Timestamp,
}

/// A [`Use`] as the answer shows it, its name under `method` or `company`.
#[derive(Serialize)]
struct UseEntry<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<&'a str>,
    calls: u64,
    last_used_at: Timestamp,
}

fn as_methods<S: serde::Serializer>(uses: &[Use], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(uses.iter().map(|u| UseEntry {
        method: Some(&u.name),
        company: None,
        calls: u.calls,
        last_used_at: u.last_used_at,
    }))
}

fn as_companies<S: serde::Serializer>(uses: &[Use], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(uses.iter().map(|u| UseEntry {
        method: None,
        company: Some(&u.name),
        calls: u.calls,
        last_used_at: u.last_used_at,
    }))
}

/// The key's company scope and the companies its calls named.
#[derive(Debug, Serialize, PartialEq)]
pub struct CompanyUse {
    /// `all` or the key's list.
    pub scope: CompanyScope,
    /// The companies `VALID` calls named, busiest first (`*`: calls that named none where
    /// every company had to be allowed).
    #[serde(serialize_with = "as_companies")]
    pub used: Vec<Use>,
}

/// Calls of one shape that the key's permissions refused.
#[derive(Debug, Serialize, PartialEq)]
pub struct Refusal {
    /// The method named (`null`: none; `(other)`: past the bounds or malformed).
    pub method: Option<String>,
    /// The company named (`null`: none; `(other)`: past the bounds or malformed).
    pub company: Option<String>,
    /// `METHOD_NOT_ALLOWED` or `COMPANY_NOT_ALLOWED`.
    pub code: VerifyCode,
    /// How many calls.
    pub calls: u64,
    /// The start of the last UTC hour with one.
    pub last_at: Timestamp,
}

/// Method grants and a company scope, as a key's permissions hold them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Permissions {
    /// Grants.
    pub methods: Vec<String>,
    /// Companies.
    pub companies: CompanyScope,
}

/// What the suggestion leaves out because the catalog no longer has it.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct LeftOut {
    /// Methods no longer in the catalog.
    pub methods: Vec<String>,
    /// Companies no longer registered.
    pub companies: Vec<String>,
}

/// What the review needs besides the counts: the key's permissions, the method catalog and
/// which companies are registered.
pub struct Context<'a> {
    /// The key's permissions now.
    pub current: &'a Permissions,
    /// Every method of the catalog.
    pub catalog: &'a [String],
    /// Whether a company is registered.
    pub registered: &'a dyn Fn(&str) -> bool,
}

fn hour_start(hour: i64) -> Timestamp {
    Timestamp::from_unix(hour * SECONDS_PER_HOUR)
}

/// A field of a shape as an answer shows it: `None` for [`NONE`] and [`EVERY`].
fn named(field: &str) -> Option<String> {
    (field != NONE && field != EVERY).then(|| field.to_owned())
}

/// Adds a use of `name`, keeping one entry per name.
fn add_use(uses: &mut Vec<Use>, name: &str, c: &Counted) {
    match uses.iter_mut().find(|u| u.name == name) {
        Some(u) => {
            u.calls += c.calls;
            u.last_used_at = u.last_used_at.max(hour_start(c.last_hour));
        }
        None => uses.push(Use {
            name: name.to_owned(),
            calls: c.calls,
            last_used_at: hour_start(c.last_hour),
        }),
    }
}

fn busiest_first(uses: &mut [Use]) {
    uses.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
}

/// Reviews a key's counts (merged: one entry per shape) over `window`.
pub fn review(window: &Window, counts: &[Counted], ctx: &Context<'_>) -> Review {
    let valid: Vec<&Counted> = counts
        .iter()
        .filter(|c| c.shape.code == VerifyCode::Valid)
        .collect();
    let calls = valid.iter().map(|c| c.calls).sum();
    let mut methods: Vec<GrantUse> = ctx
        .current
        .methods
        .iter()
        .map(|grant| GrantUse {
            grant: grant.clone(),
            used: Vec::new(),
        })
        .collect();
    let mut companies = Vec::new();
    for c in &valid {
        for g in methods.iter_mut() {
            let covers = match c.shape.method.as_str() {
                NONE | OTHER => false,
                EVERY => g.grant == ALL_METHODS,
                method => grant_covers(&g.grant, method),
            };
            if covers {
                add_use(&mut g.used, &c.shape.method, c);
            }
        }
        if !matches!(c.shape.company.as_str(), NONE | OTHER) {
            add_use(&mut companies, &c.shape.company, c);
        }
    }
    methods.iter_mut().for_each(|g| busiest_first(&mut g.used));
    busiest_first(&mut companies);
    let mut refused: Vec<Refusal> = counts
        .iter()
        .filter(|c| c.shape.code != VerifyCode::Valid)
        .map(|c| Refusal {
            method: named(&c.shape.method),
            company: named(&c.shape.company),
            code: c.shape.code,
            calls: c.calls,
            last_at: hour_start(c.last_hour),
        })
        .collect();
    refused.sort_by(|a, b| {
        (b.calls, &a.method, &a.company, a.code).cmp(&(a.calls, &b.method, &b.company, b.code))
    });
    let complete = !valid.iter().any(|c| c.shape.is_other());
    let mut left_out = LeftOut::default();
    let suggestion = match (calls, complete) {
        (0, _) => None,
        (_, false) => Some(ctx.current.clone()),
        _ => Some(suggest(&valid, ctx, &mut left_out)),
    };
    Review {
        days: window.days,
        from: window.from(),
        to: window.now,
        calls,
        methods,
        companies: CompanyUse {
            scope: ctx.current.companies.clone(),
            used: companies,
        },
        refused,
        suggestion,
        left_out,
        complete,
    }
}

/// The narrowest permissions allowing every call of `valid` (none past the bounds), within
/// the key's: the methods used (a group or `*` kept when every catalog method under it was
/// used, or `*` when calls needed it), the companies used (`all` kept when calls needed it).
fn suggest(valid: &[&Counted], ctx: &Context<'_>, left_out: &mut LeftOut) -> Permissions {
    let current = ctx.current;
    let in_catalog = |m: &str| ctx.catalog.iter().any(|c| c == m);
    let used: Vec<&str> = valid
        .iter()
        .map(|c| c.shape.method.as_str())
        .filter(|m| *m != NONE)
        .collect();
    let mut methods: Vec<String> = Vec::new();
    if used.contains(&EVERY) && current.methods.iter().any(|g| g == ALL_METHODS) {
        methods.push(ALL_METHODS.to_owned());
    } else {
        for grant in &current.methods {
            let under: Vec<&String> = ctx
                .catalog
                .iter()
                .filter(|m| grant_covers(grant, m))
                .collect();
            let wildcard = grant.ends_with('*');
            if wildcard && !under.is_empty() && under.iter().all(|m| used.contains(&m.as_str())) {
                methods.push(grant.clone());
                continue;
            }
            for method in used
                .iter()
                .filter(|m| **m != EVERY && grant_covers(grant, m))
            {
                let list = if in_catalog(method) {
                    &mut methods
                } else {
                    &mut left_out.methods
                };
                list.push((*method).to_owned());
            }
        }
    }
    methods.sort();
    methods.dedup();
    let kept: Vec<String> = methods
        .iter()
        .filter(|m| m.ends_with('*'))
        .cloned()
        .collect();
    methods.retain(|m| m.ends_with('*') || !kept.iter().any(|g| grant_covers(g, m)));
    left_out.methods.sort();
    left_out.methods.dedup();
    let needs_every = valid.iter().any(|c| c.shape.company == EVERY);
    let companies = match &current.companies {
        CompanyScope::All if needs_every => CompanyScope::All,
        scope => {
            let mut list = Vec::new();
            for c in valid {
                let company = c.shape.company.as_str();
                if matches!(company, NONE | EVERY) || !allows(scope, company) {
                    continue;
                }
                if (ctx.registered)(company) {
                    list.push(company.to_owned());
                } else {
                    left_out.companies.push(company.to_owned());
                }
            }
            left_out.companies.sort();
            left_out.companies.dedup();
            let ids = list
                .iter()
                .filter_map(|c| crate::permissions::CompanyId::parse(c));
            CompanyScope::Only(ids.collect()).normalized()
        }
    };
    Permissions { methods, companies }
}

fn allows(scope: &CompanyScope, company: &str) -> bool {
    match scope {
        CompanyScope::All => true,
        CompanyScope::Only(list) => list.iter().any(|c| c.as_str() == company),
    }
}

/// How a window's `VALID` calls would fare under other permissions
/// (`POST /keys/{id}/access-review/simulate`).
#[derive(Debug, Serialize, PartialEq)]
pub struct Simulation {
    /// `VALID` calls of the window.
    pub calls: u64,
    /// How many of them the proposed permissions would refuse.
    pub would_be_refused: u64,
    /// Those calls by method and company, busiest first.
    pub refused: Vec<SimulatedRefusal>,
}

/// Calls of one method and company that proposed permissions would refuse.
#[derive(Debug, Serialize, PartialEq)]
pub struct SimulatedRefusal {
    /// The method named (`null`: none, where every method had to be granted).
    pub method: Option<String>,
    /// The company named (`null`: none, where every company had to be allowed).
    pub company: Option<String>,
    /// How many calls.
    pub calls: u64,
}

/// Replays the `VALID` calls of `counts` against `proposed`. A call counted past the bounds
/// (`(other)`) is allowed only by `*` for its method and `all` for its company.
pub fn simulate(counts: &[Counted], proposed: &Permissions) -> Simulation {
    let every_method = proposed.methods.iter().any(|g| g == ALL_METHODS);
    let every_company = proposed.companies == CompanyScope::All;
    let mut sim = Simulation {
        calls: 0,
        would_be_refused: 0,
        refused: Vec::new(),
    };
    for c in counts.iter().filter(|c| c.shape.code == VerifyCode::Valid) {
        sim.calls += c.calls;
        let method_ok = match c.shape.method.as_str() {
            NONE => true,
            EVERY | OTHER => every_method,
            m => proposed.methods.iter().any(|g| grant_covers(g, m)),
        };
        let company_ok = match c.shape.company.as_str() {
            NONE => true,
            EVERY | OTHER => every_company,
            company => allows(&proposed.companies, company),
        };
        if method_ok && company_ok {
            continue;
        }
        sim.would_be_refused += c.calls;
        let (method, company) = (named(&c.shape.method), named(&c.shape.company));
        match sim
            .refused
            .iter_mut()
            .find(|r| r.method == method && r.company == company)
        {
            Some(r) => r.calls += c.calls,
            None => sim.refused.push(SimulatedRefusal {
                method,
                company,
                calls: c.calls,
            }),
        }
    }
    sim.refused
        .sort_by(|a, b| (b.calls, &a.method, &a.company).cmp(&(a.calls, &b.method, &b.company)));
    sim
}
