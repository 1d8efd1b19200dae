//! The continuation token: what a later invocation needs to judge the rollout this job started.
//!
//! Versioned JSON, at most 2048 characters (CodePipeline's limit). CodePipeline hands it back verbatim in the
//! next job's `data.continuationToken`.

use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;
/// CodePipeline's limit for `continuationToken`.
pub const MAX_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Token {
    /// Format version; a token of another version is refused.
    pub v: u32,
    pub cluster: String,
    pub service: String,
    /// The ECS deployment UpdateService started (`ecs-svc/…`).
    pub deployment_id: String,
    pub task_definition_arn: String,
    /// Seconds since the Unix epoch.
    pub started_at: i64,
    pub deadline: i64,
    pub timeout_minutes: u32,
    /// Continuation invocations so far.
    pub polls: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the continuation token is not one this function wrote ({0}); start a new pipeline execution")]
    Unreadable(String),
    #[error(
        "the continuation token has format version {0} but this function reads version {VERSION} (was the \
         function replaced during a deployment?); start a new pipeline execution"
    )]
    Version(u64),
    #[error(
        "the continuation token would be {0} characters; CodePipeline allows {MAX_LEN} (shorten the cluster or service name)"
    )]
    TooLong(usize),
}

impl Token {
    pub fn encode(&self) -> Result<String, TokenError> {
        let text = serde_json::to_string(self).expect("a token always serializes");
        if text.len() > MAX_LEN {
            return Err(TokenError::TooLong(text.len()));
        }
        Ok(text)
    }

    pub fn decode(text: &str) -> Result<Self, TokenError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| TokenError::Unreadable("not JSON".into()))?;
        match value.get("v").map(|v| v.as_u64()) {
            Some(Some(v)) if v == u64::from(VERSION) => {}
            Some(Some(v)) => return Err(TokenError::Version(v)),
            _ => return Err(TokenError::Unreadable("no version".into())),
        }
        let token: Token = serde_json::from_value(value).map_err(|e| TokenError::Unreadable(e.to_string()))?;
        if token.deployment_id.is_empty() || token.cluster.is_empty() || token.service.is_empty() {
            return Err(TokenError::Unreadable("empty cluster, service or deployment".into()));
        }
        Ok(token)
    }

    /// The token for the next poll.
    pub fn next(&self) -> Self {
        Self { polls: self.polls.saturating_add(1), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Token {
        Token {
            v: VERSION,
            cluster: "arn:aws:ecs:eu-west-1:111111111111:cluster/prod".into(),
            service: "arn:aws:ecs:eu-west-1:111111111111:service/prod/web".into(),
            deployment_id: "ecs-svc/1234567890123456789".into(),
            task_definition_arn: "arn:aws:ecs:eu-west-1:111111111111:task-definition/web:43".into(),
            started_at: 1_800_000_000,
            deadline: 1_800_003_600,
            timeout_minutes: 60,
            polls: 0,
        }
    }

    #[test]
    fn round_trip() {
        let token = sample();
        let text = token.encode().unwrap();
        assert!(text.starts_with(r#"{"v":1,"#), "{text}");
        assert_eq!(Token::decode(&text).unwrap(), token);
        assert_eq!(token.next().polls, 1);
    }

    #[test]
    fn longest_names_fit() {
        let long = "x".repeat(255);
        let token = Token {
            cluster: format!("arn:aws-us-gov:ecs:us-gov-west-1:111111111111:cluster/{long}"),
            service: format!("arn:aws-us-gov:ecs:us-gov-west-1:111111111111:service/{long}/{long}"),
            task_definition_arn: format!("arn:aws-us-gov:ecs:us-gov-west-1:111111111111:task-definition/{long}:99999"),
            ..sample()
        };
        assert!(token.encode().unwrap().len() <= MAX_LEN);
        let too_long = Token { cluster: "c".repeat(MAX_LEN), ..sample() };
        assert!(matches!(too_long.encode(), Err(TokenError::TooLong(_))));
    }

    #[test]
    fn refusals() {
        let good = sample().encode().unwrap();
        for (text, expected) in [
            ("", "not JSON"),
            ("A continuation token if continuing job", "not JSON"),
            ("{}", "no version"),
            (r#"{"v":"1"}"#, "no version"),
            (r#"{"v":2,"cluster":"c"}"#, "format version 2"),
            (r#"{"v":1,"cluster":"c"}"#, "missing field"),
            (&good.replace(r#""polls":0"#, r#""polls":0,"extra":1"#), "unknown field"),
            (&good.replace("ecs-svc/1234567890123456789", ""), "empty"),
        ] {
            let message = Token::decode(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
