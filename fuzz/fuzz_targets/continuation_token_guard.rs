#![no_main]
//! A continuation token is input: whatever its bytes, a token the function accepts can never do more than the
//! same event's UserParameters could. It names only the action's services (its deployments are theirs), only
//! revisions within ECS's range and families by ECS's rules, a clean-up of at most 25 revisions of families it
//! lists with `keepRevisions` 1–100, a timeout of 1–1440 minutes, a beforeDeploy task only where UserParameters
//! (or its deploy file) runs one and in its cluster, and schedules only where a deploy file named them. The
//! first byte picks the UserParameters (one service, two services, a deploy file that names them, a task, a
//! task in another cluster, schedules).
use ecs_deployer::config::{self, Target};
use ecs_deployer::token::{MAX_REVISION, Tracker, is_family, same_services};
use libfuzzer_sys::fuzz_target;

const PARAMS: [&str; 6] = [
    r#"{"cluster":"prod","service":"web"}"#,
    r#"{"cluster":"prod","services":["web",{"cluster":"batch","service":"jobs"}]}"#,
    r#"{"deployFile":"deploy.json"}"#,
    r#"{"cluster":"prod","service":"web","beforeDeploy":{}}"#,
    r#"{"cluster":"prod","service":"web","beforeDeploy":{"cluster":"batch"}}"#,
    r#"{"cluster":"prod","service":"web","schedules":["nightly"],"rules":["cron"]}"#,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let params = config::parse(Some(PARAMS[pick as usize % PARAMS.len()])).unwrap();
    let from_params: Vec<Target> = params.targets.clone();
    let Ok(tracker) = Tracker::decode_for(text, &params) else { return };
    let targets = tracker.targets(&from_params);
    // The services: UserParameters', or, only when a deploy file named them, the token's own.
    if from_params.iter().all(|t| !t.service.is_empty()) {
        assert!(same_services(&targets, &from_params), "{targets:?}");
    }
    assert_eq!(tracker.t.len(), targets.len());
    for (i, target) in targets.iter().enumerate() {
        if let Some(arn) = tracker.deployment_arn(i, &targets) {
            let path = format!(":service-deployment/{}/{}/", target.cluster.rsplit('/').next().unwrap_or_default(),
                               target.service.rsplit('/').next().unwrap_or_default());
            assert!(arn.starts_with(&tracker.arn) && arn.contains(&path), "{arn}");
            let id = arn.rsplit('/').next().unwrap_or_default();
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        }
        for prev in [false, true] {
            if let Some(revision) = tracker.revision(i, prev, &targets) {
                let (family, number) = revision.rsplit_once(':').unwrap();
                assert!(is_family(family), "{revision}");
                assert!(number.parse::<u32>().is_ok_and(|n| n <= MAX_REVISION));
            }
        }
    }
    assert!(tracker.keep.is_none_or(|k| (1..=100).contains(&k)));
    assert!(tracker.clean.iter().map(|(_, r)| r.len()).sum::<usize>() <= 25);
    assert!(tracker.clean.is_empty() || tracker.keep.is_some());
    assert!((1..=1440).contains(&tracker.timeout));
    let file = params.deploy_file.is_some();
    if let Some(task) = &tracker.task {
        assert!(params.before_deploy.is_some() || file);
        if let Some(before) = &params.before_deploy {
            assert_eq!(task.cluster, before.cluster.clone().unwrap_or_default());
        }
        assert!(task.ids.len() <= task.count as usize && task.count <= 10 && task.minutes <= 120);
    }
    assert!(tracker.sn.is_empty() || (file && params.schedules.is_empty()));
    let items = if tracker.sn.is_empty() { params.schedules.items().len() } else { tracker.sn.len() };
    assert!(tracker.mv.iter().flatten().all(|m| m.0 < items && m.3 != 0));
});
