//! Where a target is: `roleArn` (the role the function assumes in the target's account, with `externalId`) and
//! `region`. Top-level keys are every target's default; a `services` entry may set its own. Unset: the
//! function's own account and region. Only UserParameters sets them: the pipeline says where a release goes,
//! never the build.

use serde_json::{Map, Value};

use super::{ParamsError, invalid};
use crate::text::clip;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Access {
    /// `arn:<partition>:iam::<account>:role/<name>`.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub region: Option<String>,
}

/// The keys of [`Access`].
pub const KEYS: [&str; 3] = ["roleArn", "externalId", "region"];

impl Access {
    /// The function's own account and region.
    pub fn is_home(&self) -> bool {
        self.role_arn.is_none() && self.region.is_none()
    }

    /// The account of the role (`None`: the function's own).
    pub fn account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(|arn| arn.split(':').nth(4))
    }

    /// `account 210987654321, eu-west-1`, when not the function's own.
    pub fn describe(&self) -> Option<String> {
        match (self.account(), self.region.as_deref()) {
            (None, None) => None,
            (Some(a), None) => Some(format!("account {a}")),
            (None, Some(r)) => Some(r.to_owned()),
            (Some(a), Some(r)) => Some(format!("account {a}, {r}")),
        }
    }

    /// Reads the access keys of a UserParameters object or a `services` entry, over `default` (the top level's):
    /// an entry naming its own role takes its own external id.
    pub fn parse(map: &Map<String, Value>, default: &Access) -> Result<Access, ParamsError> {
        let text = |key: &'static str, ok: fn(&str) -> bool, what: &str| -> Result<Option<String>, ParamsError> {
            match map.get(key) {
                None => Ok(None),
                Some(Value::String(s)) if ok(s) => Ok(Some(s.clone())),
                Some(Value::String(s)) => Err(invalid(key, format!("must be {what}, not {:?}", clip(s, 100)))),
                Some(other) => Err(invalid(key, format!("must be {what}, not {}", crate::text::json_kind(other)))),
            }
        };
        let role = text("roleArn", is_role_arn, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)")?;
        let external = text("externalId", is_external_id, "2 to 1224 letters, digits or +=,.@:/-")?;
        let region = text("region", is_region, "an AWS region name such as eu-west-1")?;
        let mut access = default.clone();
        if role.is_some() {
            access.role_arn = role;
            access.external_id = external;
        } else if external.is_some() {
            access.external_id = external;
        }
        if region.is_some() {
            access.region = region;
        }
        if access.external_id.is_some() && access.role_arn.is_none() {
            return Err(invalid(
                "externalId",
                "goes with \"roleArn\": the external id the target role's trust policy asks for",
            ));
        }
        Ok(access)
    }
}

/// `arn:<partition>:iam::<12 digits>:role/<path and name>` (IAM role names: letters, digits and +=,.@_-).
pub fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[1].chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].strip_prefix("role/").is_some_and(|name| {
            !name.is_empty()
                && name.len() <= 512
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
        })
}

/// An AWS region name: `eu-west-1`, `us-gov-west-1`, `ap-southeast-5`, `cn-north-1`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 5
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok_and(|n| n >= 1)
}

fn is_external_id(s: &str) -> bool {
    (2..=1224).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, default: &Access) -> Result<Access, String> {
        Access::parse(&serde_json::from_str(json).unwrap(), default).map_err(|e| e.to_string())
    }

    const ROLE: &str = "arn:aws:iam::210987654321:role/ecs-deployer-target";

    #[test]
    fn roles_and_regions() {
        let top = parse(
            &format!(r#"{{"roleArn": "{ROLE}", "externalId": "pipeline-7", "region": "eu-west-1"}}"#),
            &Access::default(),
        )
        .unwrap();
        assert_eq!(top.account(), Some("210987654321"));
        assert_eq!(top.describe().as_deref(), Some("account 210987654321, eu-west-1"));
        // An entry's own role takes its own external id; a region alone keeps the role.
        let own = parse(r#"{"roleArn": "arn:aws:iam::111111111111:role/x"}"#, &top).unwrap();
        assert_eq!((own.external_id, own.region.as_deref()), (None, Some("eu-west-1")));
        let moved = parse(r#"{"region": "us-west-2"}"#, &top).unwrap();
        assert_eq!((moved.role_arn.as_deref(), moved.external_id.as_deref()), (Some(ROLE), Some("pipeline-7")));
        assert!(parse("{}", &Access::default()).unwrap().is_home());
        for region in ["us-east-1", "us-gov-west-1", "ap-southeast-5", "cn-north-1", "eu-central-2"] {
            assert!(is_region(region), "{region}");
        }
    }

    #[test]
    fn refusals() {
        for (json, words) in [
            (r#"{"roleArn": "arn:aws:iam::2109876543:role/x"}"#, "an IAM role ARN"),
            (r#"{"roleArn": "arn:aws:iam::210987654321:user/x"}"#, "an IAM role ARN"),
            (r#"{"roleArn": "arn:aws:sts::210987654321:role/x"}"#, "an IAM role ARN"),
            (r#"{"region": "eu-west"}"#, "an AWS region name"),
            (r#"{"region": "EU-WEST-1"}"#, "an AWS region name"),
            (r#"{"region": "https://attacker.example"}"#, "an AWS region name"),
            (r#"{"externalId": "x"}"#, "2 to 1224"),
            (r#"{"externalId": "pipeline-7"}"#, "goes with \"roleArn\""),
            (r#"{"roleArn": 5}"#, "not a number"),
        ] {
            let e = parse(json, &Access::default()).unwrap_err();
            assert!(e.contains(words), "{json}: {e}");
        }
    }
}
