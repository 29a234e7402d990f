//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes,
//! served at `/openapi.json` with an offline Swagger UI at `/docs`.

use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;
use utoipa_swagger_ui::{Config, SwaggerUi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Braid",
        description = "Omnichannel support ticketing: email, chat, web forms and connectors in one \
                       conversation thread per customer.\n\nErrors are `application/problem+json` \
                       (RFC 9457) with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(crate::error::Problem, crate::error::ErrorCode)),
    tags(
        (name = "operations", description = "Health, readiness and metrics."),
    ),
)]
struct Base;

/// The document's fixed parts; routes add their paths.
pub(crate) fn base() -> Document {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The complete document, as the running server serves it.
pub fn openapi() -> Document {
    use utoipa_actix_web::AppExt;
    let (_, doc) = actix_web::App::new().into_utoipa_app().openapi(base()).configure(crate::routes).split_for_parts();
    doc
}

/// `/openapi.json` and `/docs`. The UI's assets are compiled in and it never calls out
/// (no CDN, no online validator).
pub(crate) fn docs(doc: Document) -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc).config(Config::default().validator_url("none"))
}
