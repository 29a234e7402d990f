//! Parsing HTML with a bound on the work, so one email cannot pin a core.
//!
//! html5ever checks scopes by walking its stack of open elements, so each level of nesting
//! costs a walk over every level above it: `"<div>" * n` takes time quadratic in `n`. Its
//! adoption agency also re-creates open formatting elements after each block, so a short
//! document can build a tree many times its size. Neither is visible in the byte count, so
//! the parser's own output is watched instead: the document is fed in small chunks to a
//! tree sink that counts the nodes it is asked to create and the depth of each one it
//! places, and the parse stops at the first chunk that crosses a limit. The sink also
//! counts the sibling scans the tree's own operations make (foster parenting puts each
//! misplaced element before its table, found by scanning the table's siblings), and follows
//! `<template>` contents to the template, whose depth they continue. Past a limit the caller
//! keeps the raw original and shows text instead (and says so).
//!
//! [`parse`] reads a document (what the reply splitter walks); [`parse_fragment`] reads it
//! as ammonia does, inside a `<div>`: the two differ (a leading `<frameset>` ends a
//! document's body but is ignored in a fragment), so each consumer is checked in its own
//! mode.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{Attribute, ExpandedName, ParseOpts, QualName, local_name, ns, parse_document};
use markup5ever_rcdom::{Handle, Node, RcDom};
use serde::Serialize;

/// The largest HTML body parsed at all (the raw original keeps any size).
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// The deepest nesting parsed; real mail rarely passes 60 (tables in tables in tables).
pub const MAX_DEPTH: usize = 400;
/// The most nodes a document may build, counting the copies the parser makes itself.
pub const MAX_NODES: usize = 200_000;
/// The most sibling steps the tree's own operations may take (placing before a sibling,
/// removing, moving children); ordinary mail takes a few per node.
pub const MAX_STEPS: usize = 5_000_000;
/// Input is fed in chunks this large, and the limits are checked between them, so the work
/// done past a limit is at most one chunk's.
const CHUNK: usize = 1024;

/// Why an HTML body was not parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TooComplex {
    /// Over [`MAX_BYTES`].
    Size,
    /// Elements nested deeper than [`MAX_DEPTH`].
    Depth,
    /// More than [`MAX_NODES`] nodes.
    Nodes,
    /// More than [`MAX_STEPS`] steps of tree surgery.
    Work,
}

impl TooComplex {
    pub fn as_str(self) -> &'static str {
        match self {
            TooComplex::Size => "size",
            TooComplex::Depth => "depth",
            TooComplex::Nodes => "nodes",
            TooComplex::Work => "work",
        }
    }
}

/// What a bounded parse did: how far it read and what it built, for the tests that check
/// the work stays linear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Work {
    /// Bytes of input handed to the parser.
    pub bytes_read: usize,
    pub nodes: usize,
    pub deepest: usize,
}

/// Parses `html` as a document, within the limits.
pub fn parse(html: &str) -> Result<RcDom, TooComplex> {
    parse_counting(html, Mode::Document).0
}

/// Parses `html` as a fragment inside a `<div>`, as ammonia does, within the limits.
pub fn parse_fragment(html: &str) -> Result<RcDom, TooComplex> {
    parse_counting(html, Mode::Fragment).0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Document,
    Fragment,
}

/// [`parse`] or [`parse_fragment`], also saying how much work was done.
pub fn parse_counting(html: &str, mode: Mode) -> (Result<RcDom, TooComplex>, Work) {
    if html.len() > MAX_BYTES {
        return (Err(TooComplex::Size), Work::default());
    }
    let counts = Rc::new(Counts::default());
    let sink = Counted { dom: RcDom::default(), counts: counts.clone() };
    let mut parser = match mode {
        Mode::Document => parse_document(sink, ParseOpts::default()),
        Mode::Fragment => html5ever::parse_fragment(
            sink,
            ParseOpts::default(),
            QualName::new(None, ns!(html), local_name!("div")),
            vec![],
            false,
        ),
    };
    let mut read = 0;
    while read < html.len() {
        let mut end = (read + CHUNK).min(html.len());
        while !html.is_char_boundary(end) {
            end += 1;
        }
        parser.process(StrTendril::from_slice(&html[read..end]));
        read = end;
        if let Some(exceeded) = counts.exceeded() {
            return (Err(exceeded), counts.work(read));
        }
    }
    let dom = parser.finish();
    match counts.exceeded() {
        Some(exceeded) => (Err(exceeded), counts.work(read)),
        None => (Ok(dom), counts.work(read)),
    }
}

#[derive(Debug, Default)]
struct Counts {
    nodes: Cell<usize>,
    deepest: Cell<usize>,
    steps: Cell<usize>,
    /// Each `<template>`'s contents (which has no parent) to its template.
    templates: RefCell<HashMap<*const Node, Weak<Node>>>,
}

impl Counts {
    fn exceeded(&self) -> Option<TooComplex> {
        if self.deepest.get() > MAX_DEPTH {
            Some(TooComplex::Depth)
        } else if self.nodes.get() > MAX_NODES {
            Some(TooComplex::Nodes)
        } else if self.steps.get() > MAX_STEPS {
            Some(TooComplex::Work)
        } else {
            None
        }
    }

    fn work(&self, bytes_read: usize) -> Work {
        Work { bytes_read, nodes: self.nodes.get(), deepest: self.deepest.get() }
    }

    fn created(&self, node: Handle) -> Handle {
        self.nodes.set(self.nodes.get() + 1);
        node
    }

    /// Records the depth of an element or comment just placed under `parent`: its
    /// ancestors are walked (through templates), never past the limit, so this costs at most
    /// [`MAX_DEPTH`] steps. Text is not walked: it never joins the stack of open elements.
    fn placed_under(&self, parent: &Handle) {
        let mut depth = 1;
        let mut at = self.up(parent);
        while let Some(node) = at {
            depth += 1;
            if depth > MAX_DEPTH {
                break;
            }
            at = self.up(&node);
        }
        self.deepest.set(self.deepest.get().max(depth));
    }

    /// A node's parent, or for a template's contents, the template.
    fn up(&self, node: &Handle) -> Option<Handle> {
        parent_of(node).or_else(|| self.templates.borrow().get(&Rc::as_ptr(node)).and_then(Weak::upgrade))
    }

    /// Tree surgery that scans `node`'s siblings (rcdom finds a node's index by a scan).
    fn scanned_siblings_of(&self, node: &Handle) {
        if let Some(parent) = parent_of(node) {
            self.steps.set(self.steps.get() + parent.children.borrow().len());
        }
    }
}

fn parent_of(node: &Handle) -> Option<Handle> {
    let weak = node.parent.take();
    let parent = weak.as_ref().and_then(Weak::upgrade);
    node.parent.set(weak);
    parent
}

/// An [`RcDom`] that counts what it builds. Parse errors are not kept (a hostile document
/// would grow that list without bound); `<selectedcontent>` cloning is left off, as in
/// ammonia's own tree.
struct Counted {
    dom: RcDom,
    counts: Rc<Counts>,
}

impl TreeSink for Counted {
    type Handle = Handle;
    type Output = RcDom;
    type ElemName<'a> = ExpandedName<'a>;

    fn finish(self) -> RcDom {
        self.dom
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> Handle {
        self.dom.get_document()
    }

    fn elem_name<'a>(&'a self, target: &'a Handle) -> ExpandedName<'a> {
        self.dom.elem_name(target)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Handle {
        let template = flags.template;
        let element = self.counts.created(self.dom.create_element(name, attrs, flags));
        if template {
            let contents = self.dom.get_template_contents(&element);
            self.counts.templates.borrow_mut().insert(Rc::as_ptr(&contents), Rc::downgrade(&element));
        }
        element
    }

    fn create_comment(&self, text: StrTendril) -> Handle {
        self.counts.created(self.dom.create_comment(text))
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> Handle {
        self.counts.created(self.dom.create_pi(target, data))
    }

    fn append(&self, parent: &Handle, child: NodeOrText<Handle>) {
        if matches!(child, NodeOrText::AppendNode(_)) {
            self.counts.placed_under(parent);
        }
        self.dom.append(parent, child);
    }

    fn append_based_on_parent_node(&self, element: &Handle, prev_element: &Handle, child: NodeOrText<Handle>) {
        if matches!(child, NodeOrText::AppendNode(_)) {
            self.counts.placed_under(element);
            self.counts.placed_under(prev_element);
        }
        self.counts.scanned_siblings_of(element);
        self.dom.append_based_on_parent_node(element, prev_element, child);
    }

    fn append_doctype_to_document(&self, name: StrTendril, public_id: StrTendril, system_id: StrTendril) {
        self.dom.append_doctype_to_document(name, public_id, system_id);
    }

    fn append_before_sibling(&self, sibling: &Handle, new_node: NodeOrText<Handle>) {
        if let (Some(parent), NodeOrText::AppendNode(_)) = (parent_of(sibling), &new_node) {
            self.counts.placed_under(&parent);
        }
        self.counts.scanned_siblings_of(sibling);
        self.dom.append_before_sibling(sibling, new_node);
    }

    fn get_template_contents(&self, target: &Handle) -> Handle {
        self.dom.get_template_contents(target)
    }

    fn same_node(&self, x: &Handle, y: &Handle) -> bool {
        self.dom.same_node(x, y)
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.dom.set_quirks_mode(mode);
    }

    fn add_attrs_if_missing(&self, target: &Handle, attrs: Vec<Attribute>) {
        self.dom.add_attrs_if_missing(target, attrs);
    }

    fn remove_from_parent(&self, target: &Handle) {
        self.counts.scanned_siblings_of(target);
        self.dom.remove_from_parent(target);
    }

    fn reparent_children(&self, node: &Handle, new_parent: &Handle) {
        self.counts.placed_under(new_parent);
        let moved = node.children.borrow().len();
        self.counts.steps.set(self.counts.steps.get() + moved);
        self.dom.reparent_children(node, new_parent);
    }

    fn is_mathml_annotation_xml_integration_point(&self, handle: &Handle) -> bool {
        self.dom.is_mathml_annotation_xml_integration_point(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("<p>hi</p>{}x{}", "<div>".repeat(n), "</div>".repeat(n))
    }

    #[test]
    fn ordinary_mail_parses_whole() {
        let html = "<html><body><table><tr><td><p>Hello <b>there</b></p></td></tr></table></body></html>";
        let (dom, work) = parse_counting(html, Mode::Document);
        assert!(dom.is_ok());
        assert_eq!(work.bytes_read, html.len());
        assert!(work.deepest < 12, "{work:?}");
    }

    #[test]
    fn nesting_up_to_the_limit_parses_and_past_it_stops() {
        assert!(parse(&nested(MAX_DEPTH - 10)).is_ok());
        assert_eq!(parse(&nested(MAX_DEPTH + 10)).err(), Some(TooComplex::Depth));
    }

    /// The work done on a hostile document does not grow with its size: the parse stops
    /// within one chunk of the limit whether the document is 30 KB or 1.6 MB (larger ones are
    /// refused by size before any parsing) (here checked by
    /// how far it read, not by a clock).
    #[test]
    fn deep_nesting_stops_after_the_same_work_at_any_size() {
        let small = parse_counting(&nested(3_000), Mode::Document);
        let large = parse_counting(&nested(150_000), Mode::Document);
        assert_eq!(small.0.err(), Some(TooComplex::Depth));
        assert_eq!(large.0.err(), Some(TooComplex::Depth));
        assert_eq!(small.1, large.1, "both stop at the same point");
        assert!(small.1.bytes_read <= MAX_DEPTH * "<div>".len() + 2 * CHUNK, "{:?}", small.1);
    }

    /// Closing tags that close nothing do not hide depth from the count (a scan of the
    /// bytes would see `<div></span>` as balanced; the parser keeps every div open).
    #[test]
    fn unmatched_closing_tags_do_not_hide_depth() {
        let html = "<div></span>".repeat(MAX_DEPTH + 50);
        assert_eq!(parse(&html).err(), Some(TooComplex::Depth));
    }

    /// Formatting elements left open are re-created by the parser inside every later block:
    /// a small document that makes the parser build a huge tree is stopped by the node count.
    #[test]
    fn re_created_formatting_elements_are_counted() {
        let open: String = (0..300).map(|i| format!("<b id={i}>")).collect();
        let html = format!("<div>{open}</div>{}", "<div>x</div>".repeat(2_000));
        let (dom, work) = parse_counting(&html, Mode::Fragment);
        assert_eq!(dom.err(), Some(TooComplex::Nodes), "{work:?}");
        assert!(work.bytes_read < html.len(), "{work:?}");
    }

    #[test]
    fn a_body_over_the_size_limit_is_not_parsed() {
        let html = "<p>a</p>".repeat(MAX_BYTES / 8 + 1);
        let (dom, work) = parse_counting(&html, Mode::Fragment);
        assert_eq!(dom.err(), Some(TooComplex::Size));
        assert_eq!(work, Work::default(), "nothing was parsed");
    }

    /// Found in review: a leading `<frameset>` ends a document's body, so a document parse
    /// sees nothing after it, while ammonia's fragment parse builds all of it.
    #[test]
    fn a_frameset_hides_nothing_from_the_fragment_parse() {
        let html = format!("<frameset>{}", "<div>".repeat(MAX_DEPTH * 3));
        assert!(parse(&html).is_ok(), "a document stops reading at the frameset");
        assert_eq!(parse_fragment(&html).err(), Some(TooComplex::Depth));
    }

    /// Elements misplaced in a table are put before it, each found by a scan of the table's
    /// siblings: quadratic, with few nodes and no depth. The steps are counted.
    #[test]
    fn foster_parenting_is_counted_as_work() {
        let html = format!("<table>{}", "<img>".repeat(150_000));
        for mode in [Mode::Document, Mode::Fragment] {
            let (dom, work) = parse_counting(&html, mode);
            assert_eq!(dom.err(), Some(TooComplex::Work), "{mode:?}");
            assert!(work.bytes_read < html.len() / 2, "{mode:?} {work:?}");
        }
    }

    /// A template's contents have no parent: their depth continues the template's.
    #[test]
    fn nesting_through_templates_is_counted() {
        let html = "<template>".repeat(MAX_DEPTH + 10);
        assert_eq!(parse(&html).err(), Some(TooComplex::Depth));
        assert_eq!(parse_fragment(&html).err(), Some(TooComplex::Depth));
    }
}
