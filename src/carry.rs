//! No task definition field is ever dropped, even one our SDK does not know yet.
//!
//! The SDK deserializes DescribeTaskDefinition into typed structs and silently skips members it does not
//! model (ECS's `trustedExecutionConfiguration` is in the ECS API and botocore's model but not in aws-sdk-ecs
//! 1.157): a typed copy would register a revision without them, on every release. So the raw answer is kept
//! (an interceptor reads the response body), and RegisterTaskDefinition's JSON body is amended before signing
//! with every member the typed copy did not carry, at every depth (containers included). ECS speaks JSON, so
//! nothing is lost in between.

use std::sync::{Arc, Mutex};

use crate::config::overrides::Overrides;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{Map, Value};

/// Members of DescribeTaskDefinition's `taskDefinition` that ECS sets itself and RegisterTaskDefinition
/// rejects (aws-actions/amazon-ecs-deploy-task-definition's list, and `deleteRequestedAt` from the API model).
pub const READ_ONLY: [&str; 9] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

/// Keeps the raw body of the answer it is attached to.
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl Capture {
    /// The answer's `taskDefinition` object. The SDK built its typed answer from this same body, so a body
    /// that is not a JSON object with one did not come from ECS (SDK test doubles answer without one): then
    /// there is nothing more to know, `None`.
    pub fn task_definition(&self) -> Option<Value> {
        let body = self.0.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        match serde_json::from_slice::<Value>(&body).ok()?.get_mut("taskDefinition")?.take() {
            td @ Value::Object(_) => Some(td),
            _ => None,
        }
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "CaptureTaskDefinitionJson"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let bytes = context.response().body().bytes().map(<[u8]>::to_vec);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = bytes;
        Ok(())
    }
}

/// Adds to the RegisterTaskDefinition request body what the typed copy of `raw` did not carry, then applies the
/// overrides (on the JSON, so that they reach members our SDK does not model too).
#[derive(Debug, Clone)]
pub struct Amend {
    raw: Option<Value>,
    overrides: Overrides,
    /// The paths of the members it added (for the log and the summary).
    pub carried: Arc<Mutex<Vec<String>>>,
}

impl Amend {
    pub fn new(raw: Option<Value>, overrides: Overrides) -> Self {
        Self { raw, overrides, carried: Arc::default() }
    }
}

impl Intercept for Amend {
    fn name(&self) -> &'static str {
        "CarryUnknownTaskDefinitionMembers"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let body = request.body().bytes().ok_or("the RegisterTaskDefinition body is not in memory")?;
        let mut value: Value = serde_json::from_slice(body)?;
        let carried = self.raw.as_ref().map(|raw| carry_over(&mut value, raw)).unwrap_or_default();
        if carried.is_empty() && self.overrides.is_empty() {
            return Ok(());
        }
        self.overrides.apply(&mut value);
        let amended = serde_json::to_vec(&value)?;
        request.headers_mut().insert("Content-Length", amended.len().to_string());
        *request.body_mut() = SdkBody::from(amended);
        *self.carried.lock().unwrap_or_else(|e| e.into_inner()) = carried;
        Ok(())
    }
}

/// Stops a request after its body is built and amended, before it is signed: nothing is sent. Used to learn
/// what a RegisterTaskDefinition would carry over before the registration itself.
#[derive(Debug, Clone, Copy)]
pub struct Preview;

impl Intercept for Preview {
    fn name(&self) -> &'static str {
        "PreviewRegisterTaskDefinition"
    }

    fn read_before_signing(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Err("a preview: not sent".into())
    }
}

/// Copies into `request` every member of the described task definition `raw` that `request` lacks (read-only
/// members and nulls aside), at every depth: objects member by member, lists element by element when both
/// have the same length (containers keep their order in the copy). Returns the paths added.
pub fn carry_over(request: &mut Value, raw: &Value) -> Vec<String> {
    let mut carried = Vec::new();
    if let (Value::Object(request), Value::Object(raw)) = (request, raw) {
        merge_object(request, raw, "", true, &mut carried);
    }
    carried
}

fn merge_object(
    request: &mut Map<String, Value>,
    raw: &Map<String, Value>,
    path: &str,
    top: bool,
    carried: &mut Vec<String>,
) {
    for (key, raw_value) in raw {
        let empty = match raw_value {
            Value::Null => true,
            Value::Array(items) => items.is_empty(),
            Value::Object(members) => members.is_empty(),
            _ => false,
        };
        if empty || (top && READ_ONLY.contains(&key.as_str())) {
            continue;
        }
        let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        match request.get_mut(key) {
            None => {
                request.insert(key.clone(), raw_value.clone());
                carried.push(here);
            }
            Some(Value::Object(inner)) => {
                if let Value::Object(raw_inner) = raw_value {
                    merge_object(inner, raw_inner, &here, false, carried);
                }
            }
            Some(Value::Array(items)) => {
                if let Value::Array(raw_items) = raw_value
                    && items.len() == raw_items.len()
                {
                    for (i, (item, raw_item)) in items.iter_mut().zip(raw_items).enumerate() {
                        if let (Value::Object(item), Value::Object(raw_item)) = (item, raw_item) {
                            merge_object(item, raw_item, &format!("{here}[{i}]"), false, carried);
                        }
                    }
                }
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_the_copy_lacks_are_carried_at_every_depth_and_changes_are_kept() {
        let raw = json!({
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:7", "revision": 7, "status": "ACTIVE",
            "registeredAt": 1.7e9, "deleteRequestedAt": null, "compatibilities": ["FARGATE"], "placementConstraints": [],
            "family": "web", "cpu": "256",
            "trustedExecutionConfiguration": {"isolationMode": "ISOLATED_SANDBOX"},
            "futureTopLevel": [1, 2],
            "containerDefinitions": [
                {"name": "web", "image": "old", "futureContainerMember": {"a": 1},
                 "linuxParameters": {"initProcessEnabled": true, "futureNested": "x"}},
                {"name": "sidecar", "image": "s"}
            ],
            "volumes": [{"name": "v"}, {"name": "w"}]
        });
        let mut request = json!({
            "family": "web", "cpu": "256", "tags": [{"key": "k", "value": "v"}],
            "containerDefinitions": [
                {"name": "web", "image": "new", "linuxParameters": {"initProcessEnabled": true}},
                {"name": "sidecar", "image": "s"}
            ],
            "volumes": [{"name": "v"}]
        });
        let mut carried = carry_over(&mut request, &raw);
        carried.sort();
        assert_eq!(
            carried,
            vec![
                "containerDefinitions[0].futureContainerMember",
                "containerDefinitions[0].linuxParameters.futureNested",
                "futureTopLevel",
                "trustedExecutionConfiguration",
            ]
        );
        assert_eq!(request["trustedExecutionConfiguration"], json!({"isolationMode": "ISOLATED_SANDBOX"}));
        assert_eq!(request["containerDefinitions"][0]["image"], "new", "the deploy's change stays");
        for read_only in READ_ONLY {
            assert!(request.get(read_only).is_none(), "{read_only}");
        }
        assert_eq!(request["volumes"], json!([{"name": "v"}]), "lists of another length are the copy's");
        assert!(carry_over(&mut request, &raw).is_empty(), "nothing left to carry");
    }

    #[test]
    fn only_a_json_answer_with_a_task_definition_is_taken() {
        let capture = Capture::default();
        for body in [&b""[..], b"<html>", br#"{"taskDefinition": "web"}"#, b"{}"] {
            *capture.0.lock().unwrap() = Some(body.to_vec());
            assert_eq!(capture.task_definition(), None, "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(capture.task_definition(), None, "nothing captured");
        *capture.0.lock().unwrap() = Some(br#"{"taskDefinition": {"family": "web"}}"#.to_vec());
        assert_eq!(capture.task_definition(), Some(json!({"family": "web"})));
    }
}
