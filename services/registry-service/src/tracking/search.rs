//! Run search: one page of the runs a checked search selects, with their details.

use lathe_common::Result;
use lathe_contract::registry::v1 as pb;

use super::Tracking;
use crate::paging::encode_token;
use crate::store::project;
use crate::store::run_search::{self, RunSearch};

impl Tracking {
    /// The page of runs `search` selects; the next page's token is its offset.
    pub async fn search_runs(&self, search: RunSearch<'_>) -> Result<pb::SearchRunsResponse> {
        let mut rows = run_search::page(&self.db, &search).await?;
        let limit = search.limit;
        if rows.is_empty() {
            project::require(&self.db, search.project).await?;
        }
        let next_page_token = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            let offset = i64::try_from(search.offset).unwrap_or(i64::MAX);
            encode_token(offset.saturating_add(i64::try_from(limit).unwrap_or(i64::MAX)))
        } else {
            String::new()
        };
        Ok(pb::SearchRunsResponse {
            runs: self.hydrate(rows).await?,
            next_page_token,
        })
    }
}
