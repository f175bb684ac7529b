//! The root span of every HTTP request.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::{Level, Span};
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// The root span of every HTTP request: tracing-actix-web's, built only when a layer records
/// it. Its fields take the matched route, which before routing costs a regex match against
/// every dynamic route, plus the connection info and a request id: about a tenth of a small
/// read's CPU, spent for nothing when neither logs nor traces keep info-level spans.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        if tracing::enabled!(Level::INFO) {
            tracing_actix_web::root_span!(request)
        } else {
            Span::none()
        }
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
