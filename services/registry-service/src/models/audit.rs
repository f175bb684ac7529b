//! The audit log of a model: who moved which version or alias, from where, to where, and why.

use lathe_common::Result;
use lathe_contract::registry::v1 as pb;

use super::Models;
use crate::paging::{decode_token, finish_page, page_size};
use crate::proto;
use crate::store::audit;

impl Models {
    /// A page of the model's audit log, newest first.
    pub async fn list_audit_events(
        &self,
        request: pb::ListAuditEventsRequest,
    ) -> Result<pb::ListAuditEventsResponse> {
        let m = self.model(self.db(), &request.project, &request.model).await?;
        let limit = page_size(request.page_size)?;
        let before = decode_token(&request.page_token)?;
        let mut rows = audit::page(self.db(), m.id, before, limit).await?;
        let next_page_token = finish_page(&mut rows, limit, |e| e.id);
        Ok(pb::ListAuditEventsResponse {
            events: rows.into_iter().map(|e| proto::audit_event(e, &m.name)).collect(),
            next_page_token,
        })
    }
}
