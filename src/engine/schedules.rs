//! The schedules step (in finish): the scheduled tasks named in `schedules` (EventBridge Scheduler) and `rules`
//! (EventBridge rules' ECS targets) move to the revision each service runs once every service succeeded — a
//! release's or promotion's new revision, or, after the rollback action, the one it went back to. Only a target
//! that runs a family the action moved changes, and only its task definition; one of another family is left
//! alone, and the summary says so.
//!
//! Missing names are refused before anything changes ([`check`]). With report first, then change, the moves are
//! announced, made, and found made by the next job ([`verify`]).

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::Target as RuleTarget;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use futures_util::future::join_all;
use tracing::info;

use crate::aws::clients::Reach;
use crate::aws::schedules as aws;
use crate::config::before_deploy::{Kind, Schedules};
use crate::config::{Params, Target};
use crate::error::{Error, FailureKind};
use crate::text::{family_and_revision, short_arn};
use crate::token::{Moved, State, Tracker};

/// One name of `schedules` or `rules`, with its group or event bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: Kind,
    pub name: String,
    /// The schedule group, or the rule's event bus.
    pub scope: String,
}

impl Item {
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::Schedule if self.scope == "default" => format!("schedule {}", self.name),
            Kind::Schedule => format!("schedule {}/{}", self.scope, self.name),
            Kind::Rule if self.scope == "default" => format!("rule {}", self.name),
            Kind::Rule => format!("rule {} (event bus {})", self.name, self.scope),
        }
    }

    /// As the token writes it: `s:<group>/<name>`, `r:<bus>/<name>`.
    pub fn encode(&self) -> String {
        let kind = if self.kind == Kind::Schedule { "s" } else { "r" };
        format!("{kind}:{}/{}", self.scope, self.name)
    }

    fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        let (scope, name) = rest.rsplit_once('/')?;
        let kind = if kind == "s" { Kind::Schedule } else { Kind::Rule };
        Some(Self { kind, name: name.to_owned(), scope: scope.to_owned() })
    }
}

/// The items of UserParameters (or the deploy file).
pub fn items_of(s: &Schedules) -> Vec<Item> {
    s.items()
        .into_iter()
        .map(|(kind, name)| Item {
            scope: if kind == Kind::Schedule { s.group.clone() } else { s.bus.clone() },
            kind,
            name,
        })
        .collect()
}

/// The action's items: its own (UserParameters'), else the token's (a deploy file named them).
pub fn items(params: &Params, t: &Tracker) -> Vec<Item> {
    if t.sn.is_empty() { items_of(&params.schedules) } else { t.sn.iter().filter_map(|s| Item::decode(s)).collect() }
}

/// What an item runs now, as GetSchedule or ListTargetsByRule answered.
#[derive(Debug, Clone)]
pub enum Found {
    Schedule(Box<GetScheduleOutput>),
    Rule(Vec<RuleTarget>),
}

/// Every item as it is now; a name that does not exist is a configuration error naming it (before anything
/// changes). One GetSchedule or ListTargetsByRule per item, all at once.
pub async fn look(reach: &Reach, items: &[Item]) -> Result<Vec<Found>, Error> {
    let answers = join_all(items.iter().map(|item| async move {
        match item.kind {
            Kind::Schedule => {
                aws::get_schedule(reach, &item.scope, &item.name).await.map(|f| f.map(|f| Found::Schedule(Box::new(f))))
            }
            Kind::Rule => aws::rule_targets(reach, &item.scope, &item.name).await.map(|f| f.map(Found::Rule)),
        }
    }))
    .await;
    let mut found = Vec::new();
    for (item, answer) in items.iter().zip(answers) {
        match answer? {
            Some(f) => found.push(f),
            None => {
                return Err(Error::Control {
                    what: format!(
                        "{} does not exist{}",
                        item.describe(),
                        match item.kind {
                            Kind::Schedule => format!(" (EventBridge Scheduler, group {})", item.scope),
                            Kind::Rule => format!(" (EventBridge, event bus {})", item.scope),
                        }
                    ),
                    fix: "correct \"schedules\"/\"scheduleGroup\" or \"rules\"/\"eventBus\": each must name an existing \
                          schedule or rule in the function's account and region",
                });
            }
        }
    }
    Ok(found)
}

/// Refuses missing names before anything changes.
pub async fn check(reach: &Reach, s: &Schedules) -> Result<(), Error> {
    let items = items_of(s);
    if items.is_empty() {
        return Ok(());
    }
    look(reach, &items).await.map(|_| ())
}

/// One move: item `item` (its target `target`, for a rule) from `from` to `to` (task definition ARNs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub item: usize,
    pub target: Option<String>,
    pub from: String,
    pub to: String,
}

/// What the step does: the moves, and a line for each target left alone.
#[derive(Debug, Clone, Default)]
pub struct SchedulePlan {
    pub moves: Vec<Move>,
    pub left: Vec<String>,
}

/// The revision each family moved to: from the tracker's targets, each on the revision it runs at the end
/// (`family` → its revision number and family index).
pub fn families(t: &Tracker, targets: &[Target]) -> BTreeMap<String, (usize, u32)> {
    let mut out = BTreeMap::new();
    for slot in &t.t {
        let (fam, rev) = match slot.state() {
            State::Back => (slot.4, slot.5),
            State::Done => (slot.2, slot.3),
            _ => continue,
        };
        if rev != 0 {
            out.insert(t.family(fam, targets), (fam, rev));
        }
    }
    out
}

/// `arn:…:task-definition/web:7` with another revision number; `None` for an ARN without one (the family's
/// latest ACTIVE revision), which is left alone.
fn with_revision(arn: &str, rev: u32) -> Option<String> {
    let (family, number) = family_and_revision(arn);
    number.parse::<u32>().ok()?;
    let cut = arn.len() - short_arn(arn).len();
    Some(format!("{}{family}:{rev}", &arn[..cut]))
}

/// The moves (pure): every item's ECS target whose family moved goes to that family's revision.
pub fn plan(items: &[Item], found: &[Found], families: &BTreeMap<String, (usize, u32)>) -> SchedulePlan {
    let mut out = SchedulePlan::default();
    let mut consider = |i: usize, target: Option<&str>, arn: Option<&str>, what: String| {
        let Some(arn) = arn else {
            out.left.push(format!("{what}: left alone (it runs no ECS task)"));
            return;
        };
        let (family, _) = family_and_revision(arn);
        match families.get(&family) {
            None => out
                .left
                .push(format!("{what}: left alone (it runs {}, a family this action did not move)", short_arn(arn))),
            Some((_, rev)) => match with_revision(arn, *rev) {
                Some(to) if to == arn => out.left.push(format!("{what}: already runs {}", short_arn(arn))),
                Some(to) => {
                    out.moves.push(Move { item: i, target: target.map(str::to_owned), from: arn.to_owned(), to })
                }
                None => out.left.push(format!(
                    "{what}: left alone (it runs family {family} without a revision: the latest ACTIVE one)"
                )),
            },
        }
    };
    for (i, (item, found)) in items.iter().zip(found).enumerate() {
        match found {
            Found::Schedule(got) => consider(i, None, aws::schedule_task_definition(got), item.describe()),
            Found::Rule(targets) if targets.is_empty() => consider(i, None, None, item.describe()),
            Found::Rule(targets) => {
                for target in targets {
                    let what = format!("{} target {}", item.describe(), target.id());
                    consider(i, Some(target.id()), aws::rule_task_definition(target), what);
                }
            }
        }
    }
    out
}

/// What a dry run says of the scheduled tasks: which would move once the services succeeded (those running
/// one of `families`, the families the release gives a new revision), which stay. Pure.
pub fn preview(items: &[Item], found: &[Found], families: &[String]) -> Vec<String> {
    let marked: BTreeMap<String, (usize, u32)> = families.iter().map(|f| (f.clone(), (0, u32::MAX))).collect();
    let planned = plan(items, found, &marked);
    let mut lines: Vec<String> = planned
        .moves
        .iter()
        .map(|m| {
            let what = match &m.target {
                Some(id) => format!("{} target {id}", items[m.item].describe()),
                None => items[m.item].describe(),
            };
            format!(
                "{what}: would move from {} to the new revision of {}, once every service succeeded",
                short_arn(&m.from),
                family_and_revision(&m.from).0
            )
        })
        .collect();
    lines.extend(planned.left);
    lines
}

/// Makes the moves (one UpdateSchedule per schedule; one PutTargets per rule, its moved targets together).
/// Returns, per move, whether it was made and ECS's words when not.
pub async fn apply(reach: &Reach, plan: &SchedulePlan, items: &[Item], found: &[Found]) -> Vec<Result<(), String>> {
    let mut per_item: BTreeMap<usize, Vec<&Move>> = BTreeMap::new();
    for m in &plan.moves {
        per_item.entry(m.item).or_default().push(m);
    }
    let done = join_all(per_item.into_iter().map(|(i, moves)| async move {
        let result = match &found[i] {
            Found::Schedule(got) => aws::move_schedule(reach, got, &moves[0].to).await,
            Found::Rule(targets) => {
                let changed: Vec<RuleTarget> = targets
                    .iter()
                    .filter_map(|t| {
                        moves.iter().find(|m| m.target.as_deref() == Some(t.id())).map(|m| aws::retargeted(t, &m.to))
                    })
                    .collect();
                aws::put_targets(reach, &items[i].scope, &items[i].name, changed).await
            }
        };
        if result.is_ok() {
            info!(item = %items[i].describe(), "moved the scheduled task to the new revision");
        }
        (i, result.map_err(|e| e.message()))
    }))
    .await;
    plan.moves
        .iter()
        .map(|m| done.iter().find(|(i, _)| *i == m.item).map(|(_, r)| r.clone()).unwrap_or(Ok(())))
        .collect()
}

/// The token's record of the moves announced.
pub fn announced(plan: &SchedulePlan, t: &mut Tracker, targets: &[Target]) -> Vec<Moved> {
    plan.moves
        .iter()
        .map(|m| {
            let (family, from) = family_and_revision(&m.from);
            let to = family_and_revision(&m.to).1;
            Moved(
                m.item,
                Tracker::family_index(&mut t.fams, &family, targets),
                from.parse().unwrap_or(0),
                to.parse().unwrap_or(0),
            )
        })
        .collect()
}

/// The announced moves as they stand now: each seen made (its item's ECS targets of that family run the new
/// revision), or not.
pub fn seen(moved: &[Moved], found: &[Found], t: &Tracker, targets: &[Target]) -> Vec<bool> {
    moved
        .iter()
        .map(|m| {
            let family = t.family(m.1, targets);
            let runs = |arn: &str| {
                let (f, r) = family_and_revision(arn);
                f == family && r.parse::<u32>().ok() == Some(m.3)
            };
            let of_family = |arn: &&str| family_and_revision(arn).0 == family;
            match found.get(m.0) {
                Some(Found::Schedule(got)) => aws::schedule_task_definition(got).is_some_and(runs),
                Some(Found::Rule(rts)) => {
                    let arns: Vec<&str> = rts.iter().filter_map(aws::rule_task_definition).filter(of_family).collect();
                    !arns.is_empty() && arns.into_iter().all(runs)
                }
                None => false,
            }
        })
        .collect()
}

/// The summary lines and the `SchedulesMoved` variable of the moves made; and the failure, when some were not:
/// the services are released, these scheduled tasks are not.
pub fn outcome(
    moved: &[Moved],
    made: &[Result<(), String>],
    items: &[Item],
    t: &Tracker,
    targets: &[Target],
    left: &[String],
) -> (Vec<String>, Option<(String, String)>, Option<Error>) {
    let mut lines = Vec::new();
    let mut variable = Vec::new();
    let mut failed = Vec::new();
    for (m, result) in moved.iter().zip(made) {
        let family = t.family(m.1, targets);
        let what = items.get(m.0).map(Item::describe).unwrap_or_default();
        match result {
            Ok(()) => {
                lines.push(format!("{what}: moved from {family}:{} to {family}:{}", m.2, m.3));
                variable.push(format!("{}={family}:{}", items.get(m.0).map(|i| i.name.as_str()).unwrap_or("?"), m.3));
            }
            Err(why) => failed.push(format!("{what} (still on {family}:{}): {why}", m.2)),
        }
    }
    variable.dedup();
    lines.extend(left.iter().cloned());
    let error = (!failed.is_empty()).then(|| Error::Ended {
        kind: FailureKind::JobFailed,
        text: format!(
            "The services are released, but these scheduled tasks were not moved to the new revision: {}. Move them \
             by hand, or run the action again.",
            failed.join("; ")
        ),
    });
    let variable =
        (!variable.is_empty()).then(|| ("SchedulesMoved".to_owned(), crate::text::clip(&variable.join(","), 900)));
    (lines, variable, error)
}

#[cfg(test)]
mod tests {
    use aws_sdk_eventbridge::types::EcsParameters as RuleEcs;
    use aws_sdk_scheduler::types::{EcsParameters, Target as ScheduleTarget};

    use super::*;

    fn schedule(arn: &str) -> Found {
        let target = ScheduleTarget::builder()
            .arn("arn:aws:ecs:us-east-1:123456789012:cluster/batch")
            .role_arn("arn:aws:iam::123456789012:role/scheduler")
            .ecs_parameters(EcsParameters::builder().task_definition_arn(arn).build().unwrap())
            .build()
            .unwrap();
        Found::Schedule(Box::new(GetScheduleOutput::builder().name("s").target(target).build()))
    }

    fn rule(targets: &[(&str, Option<&str>)]) -> Found {
        Found::Rule(
            targets
                .iter()
                .map(|(id, arn)| {
                    RuleTarget::builder()
                        .id(*id)
                        .arn("arn:aws:ecs:us-east-1:123456789012:cluster/batch")
                        .set_ecs_parameters(arn.map(|a| RuleEcs::builder().task_definition_arn(a).build().unwrap()))
                        .build()
                        .unwrap()
                })
                .collect(),
        )
    }

    #[test]
    fn only_targets_of_the_moved_families_move() {
        let td = |f: &str| format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{f}");
        let items: Vec<Item> = ["nightly", "other", "latest", "cron"]
            .iter()
            .enumerate()
            .map(|(i, n)| Item {
                kind: if i < 3 { Kind::Schedule } else { Kind::Rule },
                name: (*n).into(),
                scope: "default".into(),
            })
            .collect();
        let found = vec![
            schedule(&td("web:7")),
            schedule(&td("batch:3")),
            schedule(&td("web")),
            rule(&[("1", Some(&td("web:6"))), ("2", Some(&td("report:1"))), ("3", None)]),
        ];
        let families: BTreeMap<String, (usize, u32)> = [("web".to_owned(), (0, 8))].into();
        let plan = plan(&items, &found, &families);
        assert_eq!(
            plan.moves,
            vec![
                Move { item: 0, target: None, from: td("web:7"), to: td("web:8") },
                Move { item: 3, target: Some("1".into()), from: td("web:6"), to: td("web:8") },
            ]
        );
        assert_eq!(
            plan.left,
            vec![
                "schedule other: left alone (it runs batch:3, a family this action did not move)",
                "schedule latest: left alone (it runs family web without a revision: the latest ACTIVE one)",
                "rule cron target 2: left alone (it runs report:1, a family this action did not move)",
                "rule cron target 3: left alone (it runs no ECS task)",
            ]
        );
        let again = plan_of_moved(&found, &families, &items);
        assert!(again.is_empty(), "{again:?}");
    }

    fn plan_of_moved(found: &[Found], families: &BTreeMap<String, (usize, u32)>, items: &[Item]) -> Vec<Move> {
        let moved: Vec<Found> = found
            .iter()
            .map(|f| match f {
                Found::Schedule(got) => {
                    schedule(&aws::schedule_task_definition(got).unwrap().replace("web:7", "web:8"))
                }
                other => other.clone(),
            })
            .collect();
        plan(&items[..1], &moved[..1], families).moves
    }

    #[test]
    fn items_round_trip_through_the_token() {
        for item in [
            Item { kind: Kind::Schedule, name: "nightly".into(), scope: "batch".into() },
            Item { kind: Kind::Rule, name: "cron".into(), scope: "arn:aws:events:us-east-1:1:event-bus/ops".into() },
        ] {
            assert_eq!(Item::decode(&item.encode()), Some(item));
        }
    }
}
