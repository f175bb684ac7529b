//! The built-in task kinds, which call Lathe's services over gRPC.

use super::claims::{Claimed, Outcome};
use crate::definition::{Context, TaskKind};

/// Runs a built-in task.
pub async fn run(kind: &TaskKind, _context: &Context, _claimed: &Claimed) -> Outcome {
    let name = super::runs::kind_name(kind);
    Outcome::Failure(format!(
        "task kind '{name}' cannot run yet: this worker runs command tasks only"
    ))
}
