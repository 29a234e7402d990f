//! The HTML splitter: finds the quote where mail clients mark it in the HTML part's
//! structure, and cuts it off the tree.
//!
//! - Gmail: `div.gmail_quote` (its `gmail_attr` inside), `div.gmail_signature`.
//! - Apple Mail and Thunderbird: `blockquote type="cite"`, with Thunderbird's
//!   `div.moz-cite-prefix` (or any attribution-like block) just above it; `moz-signature`;
//!   `moz-forward-container` is a forward.
//! - Outlook: `div#divRplyFwdMsg` (and `x_…`), `#appendonsend`, `OutlookMessageHeader`,
//!   `OLK_SRC_BODY_SECTION`, the header `div` with `border-top:solid #E1E1E1` or `#B5C4DF`,
//!   an `<hr>` right above a "From:" block, and `#Signature`. What follows is the original,
//!   unmarked, so it is quoted to the end.
//! - Yahoo: `div.yahoo_quoted`; generic: a `<blockquote>` with nothing written after it.
//! - A `<blockquote>` the sender answers below (their own text after it, outside any other
//!   quote or signature) is not cut: it stays, marked `>` in the text, as inline answers do.
//!
//! The first marker in document order decides. A quote whose text opens with a forward
//! separator (or a header block whose subject is "Fwd:") is a forward: nothing is cut. The
//! document is parsed once with html5ever and walked with explicit stacks, so cost is linear
//! in its size and nesting depth costs no call stack.

use html5ever::serialize::{SerializeOpts, TraversalScope, serialize};
use markup5ever_rcdom::{Handle, NodeData, SerializableHandle};

use super::Reply;
use super::html_text::{to_text, to_text_marking_quotes};
use super::languages::forward_subject;
use super::patterns::{Separator, header_field, is_attribution, key, separator};
use crate::email::html::bounded;

/// How a marker cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The element (and an attribution just above it) is the quote; what follows stays.
    Subtree,
    /// The element and everything after it in document order is the original.
    ToEnd,
    /// The element holds a forwarded message: nothing is cut.
    Forward,
}

/// The readable text of an HTML body, as Braid converts the parts it splits (paragraphs and
/// `<div>`s on their own lines). Empty for a document too large or complex to parse within
/// [`bounded`]'s limits.
pub fn html_to_text(html: &str) -> String {
    match bounded::parse(html) {
        Ok(dom) => to_text(std::slice::from_ref(&dom.document)),
        Err(_) => String::new(),
    }
}

/// Splits an HTML body by its structure; `Ok(None)` when it has no recognisable quote
/// structure, `Err` when it is too large or complex to parse within [`bounded`]'s limits.
pub fn split(html: &str) -> Result<Option<Reply>, bounded::TooComplex> {
    let dom = bounded::parse(html)?;
    Ok(split_tree(&dom))
}

fn split_tree(dom: &markup5ever_rcdom::RcDom) -> Option<Reply> {
    let tree = Tree::new(&dom.document);
    let mut signatures = Vec::new();
    // Every quote up to the first that runs to the end: Apple Mail writes the attribution and
    // the original as two `cite` blockquotes, one after the other.
    let mut cuts: Vec<(Handle, Cut)> = Vec::new();
    let mut rules_checked = 0;
    let mut first_at = 0;
    let mut i = 0;
    while i < tree.order.len() && cuts.len() < MAX_CUTS {
        let node = &tree.order[i];
        // A quote the sender answers below (their own words follow it, outside any other
        // quote or signature) stays, as the text rules keep inline answers: its lines are
        // marked `>` in the text, and the text rules decide what is answered.
        if element_name(node) == Some("blockquote") && tree.own_text_from[tree.subtree_end[i]] {
            i = tree.subtree_end[i];
            continue;
        }
        if is_signature(node) {
            if signatures.len() < MAX_SIGNATURES {
                signatures.push(node.clone());
            }
            i = tree.subtree_end[i];
            continue;
        }
        match marker(node, &tree, i, &mut rules_checked) {
            Some(cut) => {
                if cuts.is_empty() {
                    first_at = i;
                }
                cuts.push((node.clone(), cut));
                if cut != Cut::Subtree {
                    break;
                }
                i = tree.subtree_end[i];
            }
            None => i += 1,
        }
    }
    let (first, first_cut) = cuts.first()?;
    // Outlook's header block (`divRplyFwdMsg`, a ruled "From:" block) with nothing above it is
    // how Outlook forwards when the sender adds no comment: the message is what they sent.
    let bare_header = *first_cut == Cut::ToEnd && tree.first_text >= first_at;
    let forward = cuts.iter().any(|(_, cut)| *cut == Cut::Forward) || forwards(first) || bare_header;
    if forward {
        return Some(Reply {
            text: to_text(std::slice::from_ref(&dom.document)),
            html: Some(serialise(&dom.document)),
            forwarded: true,
            ..Reply::default()
        });
    }
    let mut quoted = Vec::new();
    for (node, cut) in &cuts {
        if !attached(node, &dom.document) {
            continue;
        }
        if *cut == Cut::Subtree
            && let Some(attribution) = attribution_above(node)
        {
            quoted.extend(detach(&attribution, false));
        }
        quoted.extend(detach(node, *cut == Cut::ToEnd));
    }
    // Signatures inside the cut went with it; the ones above it are the sender's.
    let signatures: Vec<Handle> = signatures.into_iter().filter(|s| attached(s, &dom.document)).collect();
    for signature in &signatures {
        detach(signature, false);
    }
    let new_text = to_text_marking_quotes(std::slice::from_ref(&dom.document));
    // The text rules still catch what the structure does not mark: a phone's sign-off, a
    // quote pasted as text.
    let refined = super::split(&new_text);
    let quoted_text = join([refined.quoted, Some(to_text(&quoted))]);
    // A bare "-- " left in the text is the delimiter of the signature block the structure
    // took (Gmail writes it outside `.gmail_signature`): it heads that block.
    let bare_delimiter =
        refined.signature.as_deref().is_some_and(|s| s.trim().chars().all(|c| matches!(c, '-' | '_' | '—')));
    let structural = Some(to_text(&signatures));
    let signature =
        if bare_delimiter { join([refined.signature, structural]) } else { join([structural, refined.signature]) };
    let html = (!refined.text.is_empty()).then(|| serialise(&dom.document));
    Some(Reply {
        text: refined.text,
        html,
        quoted: quoted_text,
        signature,
        forwarded: refined.forwarded,
        html_too_complex: None,
    })
}

fn join<const N: usize>(parts: [Option<String>; N]) -> Option<String> {
    let parts: Vec<String> = parts.into_iter().flatten().filter(|p| !p.trim().is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// At most this many signature blocks are taken apart, and this many `<hr>`s looked under,
/// so a hostile document costs no more than a fixed number of short scans.
const MAX_SIGNATURES: usize = 16;
const MAX_RULES: usize = 16;
const MAX_CUTS: usize = 64;

/// The document's nodes in order, walked without recursion, with where each subtree ends
/// and whether any text comes at or after each position.
struct Tree {
    order: Vec<Handle>,
    /// `subtree_end[i]`: the index just past node `i`'s descendants.
    subtree_end: Vec<usize>,
    /// `text_from[i]`: some non-blank text node is at index `i` or later.
    text_from: Vec<bool>,
    /// `own_text_from[i]`: the same, counting only text outside quotes and signatures: the
    /// sender's own words.
    own_text_from: Vec<bool>,
    /// The index of the first visible non-blank text node (`order.len()` when there is none).
    first_text: usize,
}

impl Tree {
    fn new(root: &Handle) -> Self {
        enum Step {
            Enter(Handle),
            Exit(usize),
        }
        let (mut order, mut subtree_end) = (Vec::new(), Vec::new());
        let mut stack = vec![Step::Enter(root.clone())];
        while let Some(step) = stack.pop() {
            match step {
                Step::Enter(node) => {
                    let at = order.len();
                    stack.push(Step::Exit(at));
                    stack.extend(node.children.borrow().iter().rev().cloned().map(Step::Enter));
                    order.push(node);
                    subtree_end.push(at + 1);
                }
                Step::Exit(at) => subtree_end[at] = order.len(),
            }
        }
        let is_text =
            |node: &Handle| matches!(&node.data, NodeData::Text { contents } if !key(&contents.borrow()).is_empty());
        // Nodes inside a quote or signature (one forward pass: a subtree is a range).
        let mut outside = vec![true; order.len()];
        let mut inside_until = 0;
        for (i, node) in order.iter().enumerate() {
            if i < inside_until {
                outside[i] = false;
            } else if is_quote_or_signature(node) {
                outside[i] = false;
                inside_until = subtree_end[i];
            }
        }
        let mut text_from = vec![false; order.len() + 1];
        let mut own_text_from = vec![false; order.len() + 1];
        for i in (0..order.len()).rev() {
            let text = is_text(&order[i]);
            text_from[i] = text || text_from[i + 1];
            own_text_from[i] = (text && outside[i]) || own_text_from[i + 1];
        }
        // The first text a reader sees: what is in `head`, `style`, `script` or `title` is not.
        let mut first_text = order.len();
        let mut i = 0;
        while i < order.len() {
            if matches!(element_name(&order[i]), Some("head" | "style" | "script" | "title" | "template")) {
                i = subtree_end[i];
            } else if is_text(&order[i]) {
                first_text = i;
                break;
            } else {
                i += 1;
            }
        }
        Tree { order, subtree_end, text_from, own_text_from, first_text }
    }
}

/// Every node under `root` in document order, without recursion.
fn preorder(root: &Handle) -> Vec<Handle> {
    let mut order = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(node) = stack.pop() {
        stack.extend(node.children.borrow().iter().rev().cloned());
        order.push(node);
    }
    order
}

fn element_name(node: &Handle) -> Option<&str> {
    match &node.data {
        NodeData::Element { name, .. } => Some(&name.local),
        _ => None,
    }
}

fn attribute(node: &Handle, wanted: &str) -> Option<String> {
    let NodeData::Element { attrs, .. } = &node.data else { return None };
    attrs.borrow().iter().find(|a| &*a.name.local == wanted).map(|a| a.value.to_string())
}

fn has_class(node: &Handle, wanted: &str) -> bool {
    attribute(node, "class").is_some_and(|c| c.split_whitespace().any(|c| c.eq_ignore_ascii_case(wanted)))
}

fn id_is(node: &Handle, wanted: &[&str]) -> bool {
    attribute(node, "id").is_some_and(|id| wanted.iter().any(|w| id.eq_ignore_ascii_case(w)))
}

fn is_signature(node: &Handle) -> bool {
    element_name(node).is_some()
        && (has_class(node, "gmail_signature")
            || has_class(node, "moz-signature")
            || id_is(node, &["Signature", "x_Signature"]))
}

/// A quote of any kind, its attribution, or a signature: text in it is not the sender's
/// answer to a quote above.
fn is_quote_or_signature(node: &Handle) -> bool {
    element_name(node) == Some("blockquote")
        || has_class(node, "gmail_quote")
        || has_class(node, "gmail_quote_container")
        || has_class(node, "moz-cite-prefix")
        || attribute(node, "class").is_some_and(|c| c.to_ascii_lowercase().contains("yahoo_quoted"))
        || is_signature(node)
}

/// The quote marker at `node` (index `i` of `tree`), if it is one.
fn marker(node: &Handle, tree: &Tree, i: usize, rules_checked: &mut usize) -> Option<Cut> {
    let name = element_name(node)?;
    if has_class(node, "moz-forward-container") {
        return Some(Cut::Forward);
    }
    if has_class(node, "gmail_quote") || has_class(node, "gmail_quote_container") {
        return Some(Cut::Subtree);
    }
    if attribute(node, "class").is_some_and(|c| c.to_ascii_lowercase().contains("yahoo_quoted")) {
        return Some(Cut::Subtree);
    }
    if name == "blockquote" {
        let cite = attribute(node, "type").is_some_and(|t| t.eq_ignore_ascii_case("cite"));
        // A plain blockquote is a quote only when nothing is written after it.
        return (cite || !tree.text_from[tree.subtree_end[i]]).then_some(Cut::Subtree);
    }
    if has_class(node, "moz-cite-prefix") {
        return None; // taken with the blockquote under it
    }
    if id_is(node, &["divRplyFwdMsg", "x_divRplyFwdMsg", "appendonsend", "x_appendonsend", "OLK_SRC_BODY_SECTION"])
        || has_class(node, "OutlookMessageHeader")
        || id_is(node, &["OutlookMessageHeader"])
    {
        return Some(Cut::ToEnd);
    }
    if name == "div" && attribute(node, "style").is_some_and(|s| outlook_header_style(&s)) {
        return Some(Cut::ToEnd);
    }
    // An `<hr>`, or a `div` drawn with a solid top border (Windows Mail and other webmails
    // write `border-top-style: solid` in any colour), right above a header block.
    let ruled = name == "hr" || (name == "div" && attribute(node, "style").is_some_and(|s| top_border(&s)));
    if ruled && *rules_checked < MAX_RULES {
        *rules_checked += 1;
        if header_block_follows(&tree.order[i + 1..]) {
            return Some(Cut::ToEnd);
        }
    }
    None
}

/// A solid top border, in either CSS spelling.
fn top_border(style: &str) -> bool {
    let style: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    style.contains("border-top-style:solid")
        || style.split(';').any(|d| d.strip_prefix("border-top:").is_some_and(|v| v.contains("solid")))
}

/// Outlook's rule above the original's header: `border-top:solid #E1E1E1 1.0pt` (and the
/// older `#B5C4DF`).
fn outlook_header_style(style: &str) -> bool {
    let style: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    style.contains("border-top:solid#e1e1e1") || style.contains("border-top:solid#b5c4df")
}

/// Whether the first lines of text after an `<hr>` are a "From:" header block.
fn header_block_follows(after: &[Handle]) -> bool {
    let text = leading_text(after, 600);
    let mut fields = text.lines().map(|l| key(l).into_owned()).filter(|l| !l.is_empty()).take(2);
    fields.next().is_some_and(|l| header_field(&l).is_some())
        && fields.next().is_some_and(|l| header_field(&l).is_some())
}

/// Up to `limit` bytes of the text in `nodes`, a line per block element.
fn leading_text(nodes: &[Handle], limit: usize) -> String {
    let mut text = String::new();
    for node in nodes.iter().take(limit) {
        if text.len() >= limit {
            break;
        }
        match &node.data {
            NodeData::Text { contents } => text.push_str(&contents.borrow()),
            NodeData::Element { name, .. } if matches!(&*name.local, "div" | "p" | "br" | "tr" | "li" | "hr") => {
                text.push('\n');
            }
            _ => {}
        }
    }
    text
}

fn is_inside(node: &Handle, ancestor: &Handle) -> bool {
    let mut current = parent(node);
    while let Some(p) = current {
        if std::rc::Rc::ptr_eq(&p, ancestor) {
            return true;
        }
        current = parent(&p);
    }
    false
}

fn parent(node: &Handle) -> Option<Handle> {
    let weak = node.parent.take();
    let parent = weak.as_ref().and_then(std::rc::Weak::upgrade);
    node.parent.set(weak);
    parent
}

/// Whether `node` is still in the tree under `root`.
fn attached(node: &Handle, root: &Handle) -> bool {
    is_inside(node, root)
}

/// The attribution just above a quote: the previous element sibling when it is Thunderbird's
/// `moz-cite-prefix`, Gmail's `gmail_attr`, or reads like an attribution.
fn attribution_above(node: &Handle) -> Option<Handle> {
    let parent = parent(node)?;
    let siblings = parent.children.borrow();
    let at = siblings.iter().position(|s| std::rc::Rc::ptr_eq(s, node))?;
    let previous = siblings[..at].iter().rev().find(|s| match &s.data {
        NodeData::Text { contents } => !key(&contents.borrow()).is_empty(),
        NodeData::Element { name, .. } => &*name.local != "br",
        _ => false,
    })?;
    if has_class(previous, "moz-cite-prefix") || has_class(previous, "gmail_attr") {
        return Some(previous.clone());
    }
    let text = to_text(std::slice::from_ref(previous));
    let keyed = key(&text).replace('\n', " ");
    (keyed.len() < 400 && is_attribution(&keyed, true)).then(|| previous.clone())
}

/// Whether a quote's text opens with a forward separator or a "Subject: Fwd: …" header.
fn forwards(node: &Handle) -> bool {
    let text = leading_text(&preorder(node), 2000);
    let mut lines = text.lines().map(|l| key(l).into_owned()).filter(|l| !l.is_empty());
    let Some(first) = lines.next() else { return false };
    if separator(&first) == Some(Separator::Forward) {
        return true;
    }
    header_field(&first).is_some()
        && lines
            .take(8)
            .any(|l| header_field(&l).is_some_and(|(f, v)| f == super::languages::Field::Subject && forward_subject(v)))
}

/// Removes `node` from its parent (and, with `to_end`, everything after it in document
/// order); returns what was removed, in document order.
fn detach(node: &Handle, to_end: bool) -> Vec<Handle> {
    let mut removed = Vec::new();
    let mut current = node.clone();
    let mut first = true;
    while let Some(parent) = parent(&current) {
        let mut children = parent.children.borrow_mut();
        if let Some(at) = children.iter().position(|c| std::rc::Rc::ptr_eq(c, &current)) {
            let from = if first { at } else { at + 1 };
            let to = if to_end || !first { children.len() } else { at + 1 };
            if first || to_end {
                for child in children.drain(from..to) {
                    child.parent.set(None);
                    removed.push(child);
                }
            }
        }
        drop(children);
        if !to_end {
            break;
        }
        first = false;
        current = parent;
    }
    removed
}

fn serialise(document: &Handle) -> String {
    let mut bytes = Vec::new();
    let handle: SerializableHandle = document.clone().into();
    let opts = SerializeOpts { traversal_scope: TraversalScope::ChildrenOnly(None), ..SerializeOpts::default() };
    if serialize(&mut bytes, &handle, opts).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
