//! The scenarios grouped by `spin up` configuration: one `spin up` per group, the two
//! fixtures measured in each group that has a load scenario.

use crate::scenarios::{Config, Measure, NOOP, ONE_READ, SCENARIOS, Scenario, is_fixture};

/// The scenarios of one `spin up`: the fixtures when any is a load scenario, then the
/// selected others, in table order.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The configuration they share.
    pub config: Config,
    /// [`NOOP`], [`ONE_READ`], then the others (no fixtures for timed scenarios alone).
    pub scenarios: Vec<&'static Scenario>,
}

/// Groups `selected` by configuration, in the order each configuration first appears in
/// [`SCENARIOS`], each group's scenarios in table order.
pub fn by_config(selected: &[&'static Scenario]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for scenario in SCENARIOS.iter().filter(|s| selected.contains(s)) {
        match groups.iter_mut().find(|g| g.config == scenario.config) {
            Some(group) => group.scenarios.push(scenario),
            None => groups.push(Group {
                config: scenario.config,
                scenarios: vec![scenario],
            }),
        }
    }
    groups
}

/// Groups `selected` as [`by_config`] does; every group with a load scenario measures the two
/// fixtures first.
pub fn groups(selected: &[&'static Scenario]) -> Vec<Group> {
    by_config(selected)
        .into_iter()
        .map(|group| {
            if !group.scenarios.iter().any(|s| s.measure == Measure::Load) {
                return group;
            }
            let mut scenarios = vec![&NOOP, &ONE_READ];
            scenarios.extend(group.scenarios.into_iter().filter(|s| !is_fixture(s)));
            Group {
                config: group.config,
                scenarios,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::find;

    fn named(names: &[&str]) -> Vec<&'static Scenario> {
        names.iter().map(|n| find(n).expect("a scenario")).collect()
    }

    fn names(group: &Group) -> Vec<&str> {
        group.scenarios.iter().map(|s| s.name).collect()
    }

    #[test]
    fn scenarios_of_one_configuration_share_one_group_behind_the_fixtures() {
        let groups = groups(&named(&[
            "verify-malformed",
            "verify-valid",
            "authorize-valid",
        ]));
        assert_eq!(groups.len(), 1);
        assert_eq!(
            names(&groups[0]),
            [
                "noop",
                "one-read",
                "verify-valid",
                "verify-malformed",
                "authorize-valid"
            ]
        );
    }

    #[test]
    fn each_configuration_gets_its_own_group_with_its_own_fixtures() {
        let groups = groups(&named(&[
            "verify-valid-100k",
            "verify-valid-cache",
            "verify-valid",
        ]));
        let configs: Vec<Config> = groups.iter().map(|g| g.config).collect();
        let config = |name| find(name).unwrap().config;
        assert_eq!(
            configs,
            [
                config("verify-valid"),
                config("verify-valid-cache"),
                config("verify-valid-100k")
            ]
        );
        assert!(configs[0] != configs[1] && configs[1] != configs[2]);
        for group in &groups {
            assert_eq!(names(group)[..2], ["noop", "one-read"]);
            assert_eq!(group.scenarios.len(), 3);
        }
    }

    #[test]
    fn timed_scenarios_alone_run_without_the_fixtures() {
        let groups = groups(&named(&["rebuild-1k", "verify-valid"]));
        assert_eq!(groups.len(), 2);
        assert_eq!(names(&groups[0]), ["noop", "one-read", "verify-valid"]);
        assert_eq!(names(&groups[1]), ["rebuild-1k"]);
    }

    #[test]
    fn grouping_by_configuration_alone_adds_no_fixture() {
        let groups = by_config(&named(&["verify-limited", "verify-valid", "admin-get"]));
        let listed: Vec<Vec<&str>> = groups.iter().map(names).collect();
        assert_eq!(
            listed,
            [vec!["verify-valid", "verify-limited"], vec!["admin-get"]]
        );
    }

    #[test]
    fn selecting_only_the_fixtures_measures_them_once() {
        let groups = groups(&named(&["one-read", "noop"]));
        assert_eq!(groups.len(), 1);
        assert_eq!(names(&groups[0]), ["noop", "one-read"]);
    }
}
