//! Every specific reason an [`Error`](crate::Error) can carry, each written once here with
//! its [`ErrorCode`] and what it tells the caller. Code names a reason by its constant
//! (`Error::of(reasons::MODEL_NOT_FOUND, …)`), so a reason cannot be misspelt or given two
//! codes; the API documentation lists [`ALL`]. An error without a specific reason carries its
//! code's name (`invalid_argument`, `not_found`, …, [`ErrorCode::as_str`]).

use crate::error::ErrorCode;

pub use crate::error::Reason;

macro_rules! reasons {
    ($($id:ident = $name:literal, $code:ident, $meaning:literal;)+) => {
        $(pub const $id: Reason = Reason { name: $name, code: ErrorCode::$code, meaning: $meaning };)+

        /// Every reason, in the order of this file.
        pub const ALL: &[Reason] = &[$($id),+];
    };
}

reasons! {
    // Authentication and access.
    ROLE_TOO_LOW = "role_too_low", PermissionDenied, "The token's role is below what the action needs.";
    PROJECT_NOT_IN_TOKEN = "project_not_in_token", PermissionDenied, "The token does not grant access to the project.";
    CSRF_TOKEN_MISMATCH = "csrf_token_mismatch", PermissionDenied, "A request that changes state, authenticated by the session cookie, lacks the `X-CSRF-Token` header equal to the `lathe_csrf` cookie.";
    SIGN_IN_LINK_INVALID = "sign_in_link_invalid", Unauthenticated, "The sign-in link was used already, has expired or was never issued.";
    // Requests.
    ROUTE_NOT_FOUND = "route_not_found", NotFound, "No route has this method and path.";
    INVALID_BODY = "invalid_body", InvalidArgument, "The body is not the JSON the route expects.";
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type", InvalidArgument, "The body's content type is not the one the route takes.";
    INVALID_HEADER = "invalid_header", InvalidArgument, "A header's value is malformed.";
    INVALID_NAME = "invalid_name", InvalidArgument, "A name breaks the naming rules (characters, length).";
    INVALID_PATH = "invalid_path", InvalidArgument, "An artifact path is absolute, has `..` or is otherwise unsafe.";
    INVALID_PAGE_TOKEN = "invalid_page_token", InvalidArgument, "The page token is not one this server issued.";
    INVALID_LINEAGE_QUERY = "invalid_lineage_query", InvalidArgument, "A lineage lookup does not name exactly one of feature view, feature service, dataset or run.";
    // A transient conflict with a concurrent writer (a PostgreSQL serialization failure or
    // deadlock, SQLite still busy after its timeout): `db::retry_conflicts` runs the
    // transaction again; this reaches a caller only when the retries ran out.
    WRITE_CONFLICT = "write_conflict", Unavailable, "Concurrent writes kept conflicting; retry the request.";
    // Projects.
    PROJECT_NOT_FOUND = "project_not_found", NotFound, "The project does not exist.";
    PROJECT_ALREADY_EXISTS = "project_already_exists", AlreadyExists, "A project of that name exists.";
    PROJECT_BEING_DELETED = "project_being_deleted", AlreadyExists, "The name's previous project is still being purged from a service.";
    PROJECT_NOT_EMPTY = "project_not_empty", AlreadyExists, "The project holds data; delete it with `cascade=true`.";
    PROJECT_PURGE_INCOMPLETE = "project_purge_incomplete", Unavailable, "The project is deleted but a service could not purge its data yet; repeat the delete.";
    OBJECT_NOT_FOUND = "object_not_found", NotFound, "No object is stored under the key.";
    // Tracking.
    EXPERIMENT_NOT_FOUND = "experiment_not_found", NotFound, "The experiment does not exist in the project.";
    EXPERIMENT_ALREADY_EXISTS = "experiment_already_exists", AlreadyExists, "An experiment of that name exists in the project.";
    EXPERIMENT_DELETED = "experiment_deleted", FailedPrecondition, "The experiment is deleted; restore it first.";
    RUN_NOT_FOUND = "run_not_found", NotFound, "The run does not exist in the project.";
    RUN_DELETED = "run_deleted", FailedPrecondition, "The run is deleted.";
    RUN_TAG_NOT_FOUND = "run_tag_not_found", NotFound, "The run has no tag of that key.";
    PARAM_CHANGED = "param_changed", InvalidArgument, "A logged param cannot change its value.";
    INVALID_FILTER = "invalid_filter", InvalidArgument, "The search filter or order is malformed or over a limit.";
    ARTIFACT_NOT_FOUND = "artifact_not_found", NotFound, "The run has no artifact at that path.";
    CHECKSUM_MISMATCH = "checksum_mismatch", InvalidArgument, "The uploaded content does not match the expected sha256.";
    UPLOAD_INCOMPLETE = "upload_incomplete", InvalidArgument, "The upload ended before its commit; nothing was stored.";
    LOGGED_MODEL_NOT_FOUND = "logged_model_not_found", NotFound, "The logged model does not exist in the project.";
    // Models.
    MODEL_NOT_FOUND = "model_not_found", NotFound, "The registered model does not exist.";
    MODEL_ALREADY_EXISTS = "model_already_exists", AlreadyExists, "A model of that name is registered in the project.";
    MODEL_VERSION_NOT_FOUND = "model_version_not_found", NotFound, "The model has no such version.";
    ALIAS_NOT_FOUND = "alias_not_found", NotFound, "The model has no such alias.";
    MODEL_FILES_MISSING = "model_files_missing", FailedPrecondition, "The run has nothing at the new version's artifact path; upload the model files first.";
    PROMOTION_GATE_FAILED = "promotion_gate_failed", FailedPrecondition, "A promotion gate's condition does not hold; the message lists each unmet one.";
    // Feature store.
    INVALID_REPOSITORY = "invalid_repository", InvalidArgument, "A feature repository has errors; the message lists each with its file and path.";
    BREAKING_CHANGE = "breaking_change", FailedPrecondition, "Applying would break stored data.";
    ENTITY_NOT_FOUND = "entity_not_found", NotFound, "The entity does not exist.";
    JOIN_KEYS_CHANGED = "join_keys_changed", FailedPrecondition, "An entity's join keys cannot change while stored data uses them.";
    ENTITY_IN_USE = "entity_in_use", FailedPrecondition, "A feature view still uses the entity.";
    DATA_SOURCE_NOT_FOUND = "data_source_not_found", NotFound, "The data source does not exist.";
    FEATURE_VIEW_NOT_FOUND = "feature_view_not_found", NotFound, "The feature view does not exist.";
    FEATURE_SERVICE_NOT_FOUND = "feature_service_not_found", NotFound, "The feature service does not exist.";
    FEATURE_NOT_FOUND = "feature_not_found", NotFound, "The feature view has no such feature.";
    PUSH_SOURCE_NOT_FOUND = "push_source_not_found", NotFound, "The push source does not exist.";
    PUSH_SCHEMA_MISMATCH = "push_schema_mismatch", Unprocessable, "Pushed rows do not match the push source's schema.";
    INGEST_SCHEMA_MISMATCH = "ingest_schema_mismatch", Unprocessable, "An ingested file does not have the columns or types the feature views reading its source need.";
    SOURCE_NOT_FOUND = "source_not_found", NotFound, "A source's offline data is missing.";
    INCOMPATIBLE_SOURCE = "incompatible_source", InvalidArgument, "A source's data does not have the columns or types its definition declares.";
    INVALID_ENTITY_FRAME = "invalid_entity_frame", InvalidArgument, "The entity rows of a training-set request are malformed.";
    DUPLICATE_OUTPUT_COLUMN = "duplicate_output_column", InvalidArgument, "Two requested features would produce the same column name.";
    ONLINE_STORE_UNAVAILABLE = "online_store_unavailable", Unavailable, "The online store cannot be reached.";
    // Pipelines and monitors.
    PIPELINE_NOT_FOUND = "pipeline_not_found", NotFound, "The pipeline does not exist.";
    INVALID_PIPELINE = "invalid_pipeline", InvalidArgument, "A pipeline definition has problems; the message lists each with its file and path.";
    INVALID_RUN_PARAMS = "invalid_run_params", InvalidArgument, "A run parameter is unknown, missing or of the wrong type.";
    PIPELINE_RUN_NOT_FOUND = "pipeline_run_not_found", NotFound, "The pipeline run does not exist.";
    TASK_NOT_FOUND = "task_not_found", NotFound, "The run has no task of that id.";
    RUN_FINISHED = "run_finished", FailedPrecondition, "The run has finished; it cannot be cancelled.";
    RUN_NOT_RERUNNABLE = "run_not_rerunnable", FailedPrecondition, "Only a failed or cancelled run can be re-run.";
    MONITOR_NOT_FOUND = "monitor_not_found", NotFound, "The monitor does not exist.";
    REFERENCE_NOT_SET = "reference_not_set", FailedPrecondition, "The monitor has no reference sample yet; set one first.";
    LOG_SCHEMA_MISMATCH = "log_schema_mismatch", Unprocessable, "Logged rows lack a monitored column or carry values of the wrong kind; nothing was stored.";
    WINDOW_NOT_FOUND = "window_not_found", NotFound, "The monitor has no logged rows or no checked result in that window.";
    INVALID_DATASET = "invalid_dataset", InvalidArgument, "A dataset is not readable Parquet, or lacks a column the comparison needs.";
    DATASET_NOT_FOUND = "dataset_not_found", NotFound, "No dataset is stored under the path.";
}

/// The reason called `name`, if it is one of [`ALL`].
pub fn named(name: &str) -> Option<Reason> {
    ALL.iter().copied().find(|reason| reason.name == name)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_reason_is_named_once_and_never_as_a_bare_code() {
        let mut names = HashSet::new();
        for reason in ALL {
            assert!(names.insert(reason.name), "{} is in the table twice", reason.name);
            assert!(
                reason.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{} is not snake_case",
                reason.name
            );
            assert_ne!(
                reason.name,
                reason.code.as_str(),
                "{} repeats its code's name",
                reason.name
            );
            assert!(!reason.meaning.is_empty(), "{} has no meaning", reason.name);
        }
        assert_eq!(named("model_not_found"), Some(MODEL_NOT_FOUND));
        assert_eq!(named("no_such_reason"), None);
    }
}
