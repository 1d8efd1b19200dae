//! The one table of key rules: every UserParameters key, the actions that take it, and where else it may be set
//! (the deploy file; a `services` entry, for that target alone). README's table "Where each key may be set" is
//! tested against it (`readme_shows_the_key_rules`); validation reads it, never a list of its own.

/// What the action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Release the build's images (or, with `taskDefinition`, promote an existing revision).
    Deploy,
    /// Continue a deployment waiting at a pause hook.
    Continue,
    /// Roll the service back.
    Rollback,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Continue => "continue",
            Self::Rollback => "rollback",
        }
    }
}

/// Where a key may be set, besides UserParameters itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub key: &'static str,
    /// The actions that take it.
    pub actions: &'static [Action],
    /// In the deploy file (read by a deploy from the artifact only), or why not.
    pub deploy_file: Result<(), &'static str>,
    /// In a `services` entry: that target alone gets it, over the top-level value.
    pub entry: bool,
}

use Action::{Continue, Deploy, Rollback};

const ALL: &[Action] = &[Deploy, Continue, Rollback];
const DEPLOY: &[Action] = &[Deploy];
const YES: Result<(), &str> = Ok(());
const WHERE: &str =
    "the pipeline says where a release goes (the account, by its role, and the region), never the build";

const fn rule(
    key: &'static str,
    actions: &'static [Action],
    deploy_file: Result<(), &'static str>,
    entry: bool,
) -> Rule {
    Rule { key, actions, deploy_file, entry }
}

/// Every key, in the order README lists them.
pub const RULES: [Rule; 33] = [
    rule("action", ALL, Err("the pipeline says what the action does"), false),
    rule("cluster", ALL, YES, true),
    rule("service", ALL, YES, true),
    rule("services", ALL, YES, false),
    rule("roleArn", ALL, Err(WHERE), true),
    rule("externalId", ALL, Err(WHERE), true),
    rule("region", ALL, Err(WHERE), true),
    rule("atomic", DEPLOY, YES, false),
    rule("taskDefinition", &[Deploy, Rollback], Err("a promotion reads no artifact, so no deploy file"), false),
    rule("serviceDeploymentArn", &[Continue], Err("a continue reads no artifact"), false),
    rule("hookId", &[Continue], Err("a continue reads no artifact"), false),
    rule("artifact", DEPLOY, Err("the deploy file is read from that artifact, so the pipeline names it"), false),
    rule("fileName", DEPLOY, YES, false),
    rule("containerName", DEPLOY, YES, false),
    rule("wait", ALL, YES, false),
    rule("timeoutMinutes", ALL, YES, false),
    rule("onTimeout", ALL, YES, false),
    rule("forceNewDeployment", DEPLOY, YES, false),
    rule("containers", DEPLOY, YES, true),
    rule("cpu", DEPLOY, YES, true),
    rule("memory", DEPLOY, YES, true),
    rule("taskRoleArn", DEPLOY, YES, true),
    rule("executionRoleArn", DEPLOY, YES, true),
    rule("taskDefinitionFile", DEPLOY, YES, true),
    rule("verifyImages", DEPLOY, YES, false),
    rule("keepRevisions", DEPLOY, YES, false),
    rule("beforeDeploy", DEPLOY, YES, false),
    rule("schedules", ALL, YES, false),
    rule("scheduleGroup", ALL, YES, false),
    rule("rules", ALL, YES, false),
    rule("eventBus", ALL, YES, false),
    rule("dryRun", DEPLOY, YES, false),
    rule("deployFile", DEPLOY, Err("a deploy file does not name another one"), false),
];

/// Every key the contract accepts, in the order README lists them (`readme_lists_every_key_in_order`).
pub const KEYS: [&str; 33] = [
    "action",
    "cluster",
    "service",
    "services",
    "roleArn",
    "externalId",
    "region",
    "atomic",
    "taskDefinition",
    "serviceDeploymentArn",
    "hookId",
    "artifact",
    "fileName",
    "containerName",
    "wait",
    "timeoutMinutes",
    "onTimeout",
    "forceNewDeployment",
    "containers",
    "cpu",
    "memory",
    "taskRoleArn",
    "executionRoleArn",
    "taskDefinitionFile",
    "verifyImages",
    "keepRevisions",
    "beforeDeploy",
    "schedules",
    "scheduleGroup",
    "rules",
    "eventBus",
    "dryRun",
    "deployFile",
];

/// Keys that read or change a release from the artifact: a promotion (`taskDefinition`) deploys an existing
/// revision as it is, so none of them goes with it.
pub const RELEASE_KEYS: [&str; 12] = [
    "fileName",
    "containerName",
    "artifact",
    "deployFile",
    "dryRun",
    "verifyImages",
    "containers",
    "cpu",
    "memory",
    "taskRoleArn",
    "executionRoleArn",
    "taskDefinitionFile",
];

/// The rule of `key`, when it is one.
pub fn rule_of(key: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.key == key)
}

/// The keys a `services` entry may hold.
pub fn entry_keys() -> impl Iterator<Item = &'static str> {
    RULES.iter().filter(|r| r.entry).map(|r| r.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_and_the_key_list_agree() {
        assert_eq!(RULES.map(|r| r.key), KEYS);
        for key in RELEASE_KEYS {
            assert_eq!(rule_of(key).unwrap().actions, DEPLOY, "{key}");
        }
        // A key for an action that reads no artifact cannot come from the deploy file.
        for rule in RULES {
            if !rule.actions.contains(&Deploy) {
                assert!(rule.deploy_file.is_err(), "{}", rule.key);
            }
        }
    }

    /// README's table "Where each key may be set" is this table.
    #[test]
    fn readme_shows_the_key_rules() {
        let readme = include_str!("../../README.md");
        let start = readme.find("| key | deploy | continue | rollback | deploy file | `services` entry |").unwrap();
        let table = &readme[start..];
        let table = &table[..table.find("\n\n").unwrap()];
        let rows: Vec<Vec<String>> = table
            .lines()
            .skip(2)
            .map(|row| row.trim_matches('|').split('|').map(|c| c.trim().to_owned()).collect())
            .collect();
        let mark = |yes: bool| if yes { "yes" } else { "—" }.to_owned();
        let expected: Vec<Vec<String>> = RULES
            .iter()
            .map(|r| {
                vec![
                    format!("`{}`", r.key),
                    mark(r.actions.contains(&Deploy)),
                    mark(r.actions.contains(&Continue)),
                    mark(r.actions.contains(&Rollback)),
                    mark(r.deploy_file.is_ok()),
                    mark(r.entry),
                ]
            })
            .collect();
        assert_eq!(rows, expected);
    }
}
