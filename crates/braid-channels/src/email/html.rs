//! HTML bodies made safe to show: no scripts, no event handlers, no styles that escape
//! their box, and no remote images (they report that the mail was opened, and from
//! where); inline `cid:` images stay.

use std::sync::OnceLock;

pub fn sanitise(html: &str) -> String {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER
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
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_remote_images_go_and_inline_images_stay() {
        let html = r#"<p onclick="steal()">Hi<script>alert(1)</script></p>
<img src="https://tracker.example/pixel.gif"><img src="cid:logo"><a href="javascript:x()">x</a>"#;
        let clean = sanitise(html);
        assert!(!clean.contains("script") && !clean.contains("onclick") && !clean.contains("javascript"), "{clean}");
        assert!(!clean.contains("tracker.example"), "{clean}");
        assert!(clean.contains(r#"src="cid:logo""#), "{clean}");
        assert!(clean.contains("<p>Hi</p>"), "{clean}");
    }
}
