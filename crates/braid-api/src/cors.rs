//! CORS for the public browser surfaces (the chat widget, web forms): each handler checks
//! the page's `Origin` against what its site or form allows, and only then does the answer
//! name it.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpResponse};

/// The origin a CORS answer names, once a handler checked it.
#[derive(Debug, Clone)]
pub struct AllowedOrigin(pub String);

/// Adds CORS headers to the public browser surfaces' answers (`/widget/`, `/forms/`):
/// preflights are answered for any origin (they carry no key to check against), and a
/// real answer names the origin only when its handler checked it against the site's or
/// the form's allowed origins.
pub async fn cors(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let public = request.path().starts_with("/widget/") || request.path().starts_with("/forms/");
    if public && request.method() == actix_web::http::Method::OPTIONS {
        let origin = request.headers().get(header::ORIGIN).cloned();
        let mut response = HttpResponse::NoContent();
        if let Some(origin) = origin {
            response.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin));
        }
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "authorization, content-type"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
            .insert_header((header::VARY, "Origin"));
        return Ok(request.into_response(response.finish()));
    }
    let mut response = next.call(request).await?.map_into_boxed_body();
    if public {
        let allowed = response.request().extensions().get::<AllowedOrigin>().cloned();
        if let Some(AllowedOrigin(origin)) = allowed
            && let Ok(value) = HeaderValue::from_str(&origin)
        {
            response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            response.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    Ok(response)
}
