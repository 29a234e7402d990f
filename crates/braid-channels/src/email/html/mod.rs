//! HTML bodies made safe to show: no scripts, no event handlers, no styles that escape
//! their box, and no remote images (they report that the mail was opened, and from
//! where); inline `cid:` images stay.
//!
//! Every HTML parse goes through [`bounded`], so a body built to make the parser slow is
//! refused after a bounded amount of work instead of pinning a core.

pub mod bounded;

use std::sync::OnceLock;

pub use bounded::TooComplex;

/// The body made safe to show; `Err` when it is too large or too complex to parse within
/// [`bounded`]'s limits (the caller shows the text instead and keeps the original).
pub fn sanitise(html: &str) -> Result<String, TooComplex> {
    // ammonia's own parse has no bound, so the body is parsed first the way ammonia will
    // parse it (a fragment in a `<div>`), within the bounds: what fits here fits there.
    bounded::parse_fragment(html)?;
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    Ok(CLEANER
        .get_or_init(|| {
            let mut builder = ammonia::Builder::default();
            builder.add_url_schemes(["cid"]).attribute_filter(|element, attribute, value| {
                let remote_image = element == "img"
                    && attribute == "src"
                    && !value.trim_start().to_ascii_lowercase().starts_with("cid:");
                (!remote_image).then(|| value.into())
            });
            builder
        })
        .clean(html)
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_remote_images_go_and_inline_images_stay() {
        let html = r#"<p onclick="steal()">Hi<script>alert(1)</script></p>
<img src="https://tracker.example/pixel.gif"><img src="cid:logo"><a href="javascript:x()">x</a>"#;
        let clean = sanitise(html).expect("a small document");
        assert!(!clean.contains("script") && !clean.contains("onclick") && !clean.contains("javascript"), "{clean}");
        assert!(!clean.contains("tracker.example"), "{clean}");
        assert!(clean.contains(r#"src="cid:logo""#), "{clean}");
        assert!(clean.contains("<p>Hi</p>"), "{clean}");
    }

    #[test]
    fn a_document_nested_past_the_limit_is_refused() {
        let html = "<div>".repeat(bounded::MAX_DEPTH * 10);
        assert_eq!(sanitise(&html), Err(TooComplex::Depth));
    }
}
