//! The `CodePipeline.job` event: parsing and validation only.
//!
//! The event carries the pipeline's temporary artifact credentials, so nothing here derives a `Debug` that
//! could print them, and parse errors never quote them.

use std::fmt;

use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
use serde_json::Value;

/// One CodePipeline job, as much as the deploy needs of it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub account_id: Option<String>,
    pub user_parameters: Option<String>,
    pub input_artifacts: Vec<InputArtifact>,
    pub credentials: ArtifactCredentials,
    pub continuation_token: Option<String>,
}

/// Where an input artifact (a zip file without `.zip` in its key) lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputArtifact {
    pub name: String,
    pub bucket: String,
    pub key: String,
}

impl fmt::Display for InputArtifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\" (s3://{}/{})", self.name, self.bucket, self.key)
    }
}

/// Temporary STS credentials of the pipeline's role for reading artifacts. `Debug` shows the key id only.
#[derive(Clone)]
pub struct ArtifactCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for ArtifactCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .finish()
    }
}

/// Why an event could not be turned into a [`Job`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// No job id to report to: the invocation itself must fail.
    #[error("not a CodePipeline job event: {0}")]
    NotAJob(String),
    /// The job can be answered, but its data is unusable.
    #[error("the CodePipeline job event is malformed: {problem}")]
    Malformed { job_id: String, problem: String },
}

/// Reads the job out of a Lambda event payload.
pub fn parse(event: Value) -> Result<Job, EventError> {
    let Value::Object(mut top) = event else {
        return Err(EventError::NotAJob("the event is not a JSON object".into()));
    };
    let Some(job) = top.remove("CodePipeline.job") else {
        return Err(EventError::NotAJob("it has no \"CodePipeline.job\" key".into()));
    };
    let id = match job.get("id") {
        Some(Value::String(id)) if is_job_id(id) => id.clone(),
        Some(Value::String(_)) => {
            return Err(EventError::NotAJob("\"CodePipeline.job\".id is not a job id (a UUID)".into()));
        }
        _ => {
            return Err(EventError::NotAJob("\"CodePipeline.job\" has no string \"id\"".into()));
        }
    };
    let malformed = |problem: String| EventError::Malformed { job_id: id.clone(), problem };

    let job: CodePipelineJob = serde_path_to_error::deserialize(job).map_err(|e| malformed(describe(&e)))?;
    let data = job.data;
    let creds = data.artifact_credentials;
    let credentials = match (creds.access_key_id, creds.secret_access_key) {
        (Some(access_key_id), Some(secret_access_key))
            if !access_key_id.is_empty() && !secret_access_key.is_empty() =>
        {
            ArtifactCredentials { access_key_id, secret_access_key, session_token: creds.session_token }
        }
        _ => {
            return Err(malformed("artifactCredentials lacks accessKeyId or secretAccessKey".into()));
        }
    };
    let input_artifacts = data
        .input_artifacts
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let s3 = a.location.s3_location;
            match (a.name, s3.bucket_name, s3.object_key) {
                (Some(name), Some(bucket), Some(key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(InputArtifact { name, bucket, key })
                }
                _ => Err(malformed(format!("inputArtifacts[{i}] lacks a name, an S3 bucketName or an objectKey"))),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(Job {
        id,
        account_id: job.account_id,
        user_parameters: data.action_configuration.configuration.user_parameters,
        input_artifacts,
        credentials,
        continuation_token: data.continuation_token,
    })
}

/// CodePipeline job ids are lowercase UUIDs (the pattern PutJob*Result enforces).
pub fn is_job_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Where and how the job's JSON breaks its schema, in words taken from the schema alone: serde's own text
/// can quote the offending value, and the value may be a credential.
fn describe(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = error.inner().to_string();
    let what = if let Some(field) = inner.strip_prefix("missing field ") {
        format!("lacks the field {field}")
    } else if let Some((_, expected)) = inner.split_once(", expected ") {
        format!("has the wrong type (expected {expected})")
    } else {
        "is not valid".to_owned()
    };
    match error.path().to_string().as_str() {
        "." => format!("\"CodePipeline.job\" {what}"),
        path => format!("\"CodePipeline.job\".{path} {what}"),
    }
}

impl Job {
    /// The input artifact holding the image file: the named one, else the only one.
    pub fn artifact(&self, wanted: Option<&str>) -> Result<&InputArtifact, ArtifactChoiceError> {
        let names = || self.input_artifacts.iter().map(|a| format!("\"{}\"", a.name)).collect::<Vec<_>>().join(", ");
        match (wanted, self.input_artifacts.as_slice()) {
            (_, []) => Err(ArtifactChoiceError::None),
            (None, [only]) => Ok(only),
            (None, _) => Err(ArtifactChoiceError::Ambiguous(names())),
            (Some(name), all) => all
                .iter()
                .find(|a| a.name == name)
                .ok_or_else(|| ArtifactChoiceError::NotFound(name.to_owned(), names())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactChoiceError {
    #[error("the action has no input artifact; give it the build output that holds the image file")]
    None,
    #[error(
        "the action has several input artifacts ({0}); set \"artifact\" in UserParameters to the one holding the image file"
    )]
    Ambiguous(String),
    #[error("the action has no input artifact named \"{0}\" (it has {1}); fix \"artifact\" in UserParameters")]
    NotFound(String, String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "FwoGZXIvYXdzEXAMPLETOKEN";

    fn event() -> Value {
        json!({"CodePipeline.job": {
        "id": "11111111-abcd-1111-abcd-111111abcdef",
        "accountId": "111111111111",
        "data": {
            "actionConfiguration": {"configuration": {"FunctionName": "f", "UserParameters": "{}"}},
            "inputArtifacts": [{"name": "BuildOutput", "revision": null,
                "location": {"type": "S3", "s3Location": {"bucketName": "b", "objectKey": "p/BuildOutpu/abc"}}}],
            "outputArtifacts": [],
            "artifactCredentials": {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": SECRET, "sessionToken": TOKEN}
        }}})
    }

    #[test]
    fn parses_a_job() {
        let job = parse(event()).unwrap();
        assert_eq!(job.id, "11111111-abcd-1111-abcd-111111abcdef");
        assert_eq!(job.user_parameters.as_deref(), Some("{}"));
        assert_eq!(
            job.input_artifacts,
            vec![InputArtifact { name: "BuildOutput".into(), bucket: "b".into(), key: "p/BuildOutpu/abc".into() }]
        );
        assert_eq!(job.credentials.session_token.as_deref(), Some(TOKEN));
        assert!(job.continuation_token.is_none());
    }

    #[test]
    fn debug_redacts_credentials() {
        let text = format!("{:?} {:#?}", parse(event()).unwrap(), parse(event()).unwrap());
        assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");
        assert!(text.contains("AKIAEXAMPLE"));
    }

    #[test]
    fn not_a_job() {
        for (event, expected) in [
            (json!("hello"), "not a JSON object"),
            (json!({"Records": []}), "no \"CodePipeline.job\""),
            (json!({"CodePipeline.job": {"data": {}}}), "no string \"id\""),
            (json!({"CodePipeline.job": {"id": 5}}), "no string \"id\""),
            (json!({"CodePipeline.job": {"id": "not-a-uuid"}}), "not a job id"),
            (json!({"CodePipeline.job": {"id": "11111111-ABCD-1111-abcd-111111abcdef"}}), "not a job id"),
        ] {
            match parse(event) {
                Err(EventError::NotAJob(why)) => assert!(why.contains(expected), "{why}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn malformed_jobs_keep_their_id_and_never_quote_secrets() {
        let mut cases = Vec::new();
        let mut e = event();
        e["CodePipeline.job"]["data"].as_object_mut().unwrap().remove("inputArtifacts");
        cases.push((e, "inputArtifacts"));
        let mut e = event();
        e["CodePipeline.job"]["data"]["artifactCredentials"]["secretAccessKey"] = json!([SECRET]);
        cases.push((e, "has the wrong type"));
        let mut e = event();
        e["CodePipeline.job"]["data"]["artifactCredentials"] = json!(SECRET);
        cases.push((e, "has the wrong type"));
        let mut e = event();
        e["CodePipeline.job"]["data"]["artifactCredentials"] = json!({"accessKeyId": "AKIA"});
        cases.push((e, "lacks accessKeyId or secretAccessKey"));
        let mut e = event();
        e["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"] = json!({"bucketName": "b"});
        cases.push((e, "inputArtifacts[0] lacks"));
        let mut e = event();
        e["CodePipeline.job"]["data"]["inputArtifacts"] = json!("BuildOutput");
        cases.push((e, "has the wrong type"));
        for (event, expected) in cases {
            match parse(event) {
                Err(EventError::Malformed { job_id, problem }) => {
                    assert_eq!(job_id, "11111111-abcd-1111-abcd-111111abcdef");
                    assert!(problem.contains(expected), "{problem}");
                    assert!(!problem.contains(SECRET) && !problem.contains(TOKEN), "{problem}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn choosing_the_artifact() {
        let mut job = parse(event()).unwrap();
        assert_eq!(job.artifact(None).unwrap().name, "BuildOutput");
        assert_eq!(job.artifact(Some("BuildOutput")).unwrap().name, "BuildOutput");
        assert!(matches!(job.artifact(Some("Other")), Err(ArtifactChoiceError::NotFound(..))));
        let second = InputArtifact { name: "Other".into(), ..job.input_artifacts[0].clone() };
        job.input_artifacts.push(second);
        assert!(job.artifact(None).unwrap_err().to_string().contains("\"BuildOutput\", \"Other\""));
        assert_eq!(job.artifact(Some("Other")).unwrap().name, "Other");
        job.input_artifacts.clear();
        assert_eq!(job.artifact(None), Err(ArtifactChoiceError::None));
    }
}
