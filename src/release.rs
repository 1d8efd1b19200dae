//! Read the release: the deploy file, the image file and every task definition file, out of the input artifact
//! in one pass (one opened archive, so that one tail GET serves every file in it), with the job's artifact
//! credentials, from an allowed bucket.

use std::collections::BTreeMap;

use tracing::info;

use crate::artifact::{Archive, S3Object, TAIL_BYTES};
use crate::aws::clients::Clients;
use crate::checkpoint::Checkpoint;
use crate::config::{self, Params};
use crate::error::Error;
use crate::event::Job;
use crate::guard::Guard;
use crate::images::{self, ImageUpdate};
use crate::taskdef_file::{self, FileTaskDefinition};

/// What a release holds.
pub struct Release {
    /// UserParameters with the deploy file merged in.
    pub params: Params,
    pub updates: Vec<ImageUpdate>,
    /// The task definition files the targets name, by name.
    pub files: BTreeMap<String, FileTaskDefinition>,
}

pub async fn read(
    clients: &Clients,
    guard: &Guard,
    job: &Job,
    params: &Params,
    checkpoint: &Checkpoint,
) -> Result<Release, Error> {
    let artifact = job.artifact(params.artifact.as_deref())?;
    guard.check_bucket(&artifact.bucket)?;
    let s3 = clients.artifact_s3(&job.credentials);
    let mut object = S3Object::new(&s3, &artifact.bucket, &artifact.key);
    let first = params.deploy_file.as_deref().unwrap_or(&params.file_name);
    checkpoint.step(format!("reading {first} from input artifact {artifact}"));
    let failed = |file: &str| {
        let file = file.to_owned();
        move |source| Error::Artifact { artifact: Box::new(artifact.clone()), file, source: Box::new(source) }
    };
    let mut archive = Archive::open(&mut object, TAIL_BYTES).await.map_err(failed(first))?;
    let params = match &params.deploy_file {
        Some(file) => {
            let content = archive.read(file).await.map_err(failed(file))?;
            let merged = config::with_deploy_file(job.user_parameters.as_deref(), file, &content)?;
            info!(deploy_file = %file, "merged the deploy file into UserParameters");
            merged
        }
        None => params.clone(),
    };
    checkpoint.step(format!("reading {} from input artifact {artifact}", params.file_name));
    let bytes = archive.read(&params.file_name).await.map_err(failed(&params.file_name))?;
    let updates = images::parse(&bytes, params.container_name.as_deref()).map_err(|source| Error::ImageFile {
        artifact: artifact.name.clone(),
        file: params.file_name.clone(),
        source,
    })?;
    let mut files = BTreeMap::new();
    for name in params.task_definition_files() {
        checkpoint.step(format!("reading {name} from input artifact {artifact}"));
        let content = archive.read(name).await.map_err(failed(name))?;
        let parsed = taskdef_file::parse(&content)
            .map_err(|e| Error::TaskDefinitionFile { file: name.to_owned(), problem: e.problem })?;
        files.insert(name.to_owned(), parsed);
    }
    Ok(Release { params, updates, files })
}
