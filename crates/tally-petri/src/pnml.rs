//! PNML: reading nets from, and writing them to, the Petri Net Markup Language.
//!
//! [`read`] takes both dialects in use:
//!
//! - **PIPE** (what bitwrap's nets were drawn with, PIPE v5):
//!   `<initialMarking><value>Default,1</value>`, `<inscription><value>Default,2</value>`,
//!   `<capacity><value>1</value>`, `<type value="normal|inhibitor"/>` on arcs;
//! - **ISO/IEC 15909-2 PNML** (P/T nets): the same elements with `<text>`
//!   children (`<initialMarking><text>1</text>`), nodes inside `<page>`s
//!   (nested pages too), namespaced or not, `referencePlace` /
//!   `referenceTransition` nodes resolved to what they refer to.
//!
//! Graphics are optional everywhere (bitwrap crashed without them), a
//! missing marking is 0, a missing inscription is weight 1, a missing arc
//! type is `normal`. Only the first `<net>` is read. Place order (the state
//! vector's order) is document order. A transition's role, which PNML has
//! no element for, is read from (and written to)
//! `<toolspecific tool="tally"><role>NAME</role></toolspecific>`; an ISO
//! place's capacity likewise from `<toolspecific tool="tally"><capacity>`.
//!
//! Every problem is a typed [`PetriError`] naming the element (or the line,
//! when the element has no id); nothing panics, whatever the input.
//! Documents over [`MAX_PNML_BYTES`] or [`MAX_XML_NODES`] nodes, and any DTD,
//! are refused before they can cost much.
//!
//! [`write()`] produces either dialect; reading what it wrote gives back the
//! same [`NetSpec`].
//!
//! ```
//! use tally_petri::pnml::{self, Dialect};
//!
//! let text = r#"<pnml><net>
//!   <place id="p0"><initialMarking><value>Default,1</value></initialMarking></place>
//!   <transition id="DEC"/>
//!   <arc id="a" source="p0" target="DEC"><inscription><value>Default,1</value></inscription></arc>
//! </net></pnml>"#;
//! let net = pnml::read(text)?;
//! assert_eq!(net.initial(), &[1]);
//! let again = pnml::read(&pnml::write(&net, Dialect::Iso))?;
//! assert_eq!(again.spec(), net.spec());
//! # Ok::<(), tally_petri::PetriError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use roxmltree::{Document, Node, ParsingOptions};

use crate::error::PetriError;
use crate::net::{ArcKind, ArcSpec, MAX_TOKENS, Net, NetSpec, PlaceSpec, Position, TransitionSpec};

/// The largest PNML document [`read`] accepts (16 MiB).
pub const MAX_PNML_BYTES: usize = 16 * 1024 * 1024;
/// The most XML nodes (elements, text, attributes' owners...) [`read`] parses.
pub const MAX_XML_NODES: u32 = 2_000_000;
/// The deepest nesting of `<page>` elements [`read`] follows.
pub const MAX_PAGE_DEPTH: usize = 64;

/// The tool name of this crate's `<toolspecific>` elements.
const TOOL: &str = "tally";

/// Which PNML flavour [`write()`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PIPE v5, as bitwrap's nets: `<value>Default,N</value>`, `<capacity>`.
    Pipe,
    /// ISO/IEC 15909-2 P/T net: namespace, one `<page>`, `<text>N</text>`.
    Iso,
}

/// Reads the first net of a PNML document and validates it.
///
/// # Errors
/// - [`PetriError::LimitExceeded`]: a document over [`MAX_PNML_BYTES`] or
///   [`MAX_XML_NODES`], or pages nested deeper than [`MAX_PAGE_DEPTH`];
/// - [`PetriError::Xml`]: malformed XML, or a DTD;
/// - [`PetriError::NotPnml`]: no `<pnml>` root or no `<net>`;
/// - [`PetriError::MissingAttribute`]: a node without `id`, an arc without
///   `source` or `target`, a reference without `ref`;
/// - [`PetriError::InvalidNumber`]: a marking, capacity or weight that is
///   negative, not a whole number, or too large (naming the element's id);
/// - [`PetriError::UnknownArcType`];
/// - [`PetriError::DuplicateId`], [`PetriError::DanglingArc`] (with the
///   arc's id) and everything else [`Net::new`] checks.
pub fn read(text: &str) -> Result<Net, PetriError> {
    Net::new(read_spec(text)?)
}

/// Reads the first net of a PNML document as a [`NetSpec`], checking
/// everything about the document, but not (yet) the net's own rules.
///
/// # Errors
/// As [`read`], less the checks of [`Net::new`].
pub fn read_spec(text: &str) -> Result<NetSpec, PetriError> {
    if text.len() > MAX_PNML_BYTES {
        return Err(PetriError::LimitExceeded {
            what: "PNML document size in bytes",
            value: text.len() as u64,
            max: MAX_PNML_BYTES as u64,
        });
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options).map_err(|error| {
        let position = error.pos();
        if matches!(error, roxmltree::Error::NodesLimitReached) {
            return PetriError::LimitExceeded {
                what: "XML node count",
                value: u64::from(MAX_XML_NODES) + 1,
                max: u64::from(MAX_XML_NODES),
            };
        }
        PetriError::Xml {
            line: position.row,
            column: position.col,
            message: error.to_string(),
        }
    })?;
    let root = document.root_element();
    if root.tag_name().name() != "pnml" {
        return Err(PetriError::NotPnml {
            reason: "the root element is not <pnml>",
        });
    }
    let net = child(root, "net").ok_or(PetriError::NotPnml {
        reason: "no <net> element under <pnml>",
    })?;
    let mut reader = Reader {
        document: &document,
        spec: NetSpec::new(),
        ids: HashSet::new(),
        references: HashMap::new(),
    };
    reader.spec.name = net.attribute("id").map(str::to_owned).filter(|name| !name.is_empty());
    reader.read_nodes(net, 0)?;
    reader.resolve_references()?;
    Ok(reader.spec)
}

/// Element children of `node` with local name `name` (any namespace).
fn children<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |child| child.is_element() && child.tag_name().name() == name)
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(node, name).next()
}

/// The text of a label element: its `<text>` (ISO) or `<value>` (PIPE) child.
fn label_text<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    child(node, "text")
        .or_else(|| child(node, "value"))
        .map(|text| text.text().unwrap_or(""))
}

/// The `<toolspecific tool="tally">` child's `name` child text.
fn tool_value<'a>(node: Node<'a, '_>, name: &'static str) -> Option<&'a str> {
    children(node, "toolspecific")
        .filter(|tool| tool.attribute("tool") == Some(TOOL))
        .find_map(|tool| child(tool, name))
        .map(|value| value.text().unwrap_or("").trim())
}

fn position(node: Node<'_, '_>) -> Option<Position> {
    let position = child(child(node, "graphics")?, "position")?;
    let coordinate = |name| {
        position
            .attribute(name)
            .and_then(|text: &str| text.trim().parse::<f64>().ok())
            .filter(|value| value.is_finite())
    };
    Some(Position {
        x: coordinate("x")?,
        y: coordinate("y")?,
    })
}

/// Parses a PIPE (`Default,3`) or ISO (`3`) count; empty = `default`.
fn parse_count(element: &str, field: &'static str, text: &str, default: u32) -> Result<u32, PetriError> {
    let invalid = |reason| PetriError::InvalidNumber {
        element: element.to_owned(),
        field,
        text: text.chars().take(64).collect(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(default);
    }
    let number = match trimmed.split_once(',') {
        None => trimmed,
        Some((_token_class, rest)) if !rest.contains(',') => rest.trim(),
        Some(_) => {
            return Err(invalid(
                "has more than one token class (coloured nets are not supported)",
            ));
        }
    };
    if number.starts_with('-') {
        return Err(invalid("is negative"));
    }
    if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid("is not a whole number"));
    }
    match number.parse::<u64>() {
        Ok(value) if value <= u64::from(MAX_TOKENS) => Ok(value as u32),
        _ => Err(invalid("is over the limit of 2^30")),
    }
}

struct Reader<'d, 'i> {
    document: &'d Document<'i>,
    spec: NetSpec,
    ids: HashSet<String>,
    /// Reference node id -> the id it refers to.
    references: HashMap<String, String>,
}

impl<'d, 'i> Reader<'d, 'i> {
    fn line(&self, node: Node<'_, '_>) -> u32 {
        self.document.text_pos_at(node.range().start).row
    }

    fn attribute(&self, node: Node<'_, '_>, element: &'static str, name: &'static str) -> Result<String, PetriError> {
        node.attribute(name)
            .map(str::to_owned)
            .ok_or(PetriError::MissingAttribute {
                element,
                attribute: name,
                line: self.line(node),
            })
    }

    fn claim_id(&mut self, id: &str) -> Result<(), PetriError> {
        if !self.ids.insert(id.to_owned()) {
            return Err(PetriError::DuplicateId { id: id.to_owned() });
        }
        Ok(())
    }

    fn read_nodes(&mut self, container: Node<'d, 'i>, depth: usize) -> Result<(), PetriError> {
        if depth > MAX_PAGE_DEPTH {
            return Err(PetriError::LimitExceeded {
                what: "page nesting depth",
                value: depth as u64,
                max: MAX_PAGE_DEPTH as u64,
            });
        }
        for node in container.children().filter(Node::is_element) {
            match node.tag_name().name() {
                "place" => self.read_place(node)?,
                "transition" => self.read_transition(node)?,
                "arc" => self.read_arc(node)?,
                "page" => self.read_nodes(node, depth + 1)?,
                "referencePlace" | "referenceTransition" => {
                    let element = if node.tag_name().name() == "referencePlace" {
                        "referencePlace"
                    } else {
                        "referenceTransition"
                    };
                    let id = self.attribute(node, element, "id")?;
                    let target = self.attribute(node, element, "ref")?;
                    self.claim_id(&id)?;
                    self.references.insert(id, target);
                }
                // <name>, <graphics>, <token>, <toolspecific>, ...: cosmetic.
                _ => {}
            }
        }
        Ok(())
    }

    fn read_place(&mut self, node: Node<'_, '_>) -> Result<(), PetriError> {
        let label = self.attribute(node, "place", "id")?;
        self.claim_id(&label)?;
        let initial = match child(node, "initialMarking").and_then(label_text) {
            Some(text) => parse_count(&label, "initial marking", text, 0)?,
            None => 0,
        };
        let capacity_text = child(node, "capacity")
            .and_then(label_text)
            .or_else(|| tool_value(node, "capacity"));
        let capacity = match capacity_text {
            Some(text) => parse_count(&label, "capacity", text, 0)?,
            None => 0,
        };
        self.spec.places.push(PlaceSpec {
            label,
            initial,
            capacity,
            position: position(node),
        });
        Ok(())
    }

    fn read_transition(&mut self, node: Node<'_, '_>) -> Result<(), PetriError> {
        let label = self.attribute(node, "transition", "id")?;
        self.claim_id(&label)?;
        let role = tool_value(node, "role").map(str::to_owned);
        self.spec.transitions.push(TransitionSpec {
            label,
            role,
            position: position(node),
        });
        Ok(())
    }

    fn read_arc(&mut self, node: Node<'_, '_>) -> Result<(), PetriError> {
        let id = node.attribute("id").map(str::to_owned);
        let source = self.attribute(node, "arc", "source")?;
        let target = self.attribute(node, "arc", "target")?;
        let name = id.clone().unwrap_or_else(|| format!("{source} -> {target}"));
        if let Some(id) = &id {
            self.claim_id(id)?;
        }
        let weight = match child(node, "inscription").and_then(label_text) {
            Some(text) => parse_count(&name, "weight", text, 1)?,
            None => 1,
        };
        if weight == 0 {
            return Err(PetriError::InvalidNumber {
                element: name,
                field: "weight",
                text: "0".to_owned(),
                reason: "is below the minimum of 1",
            });
        }
        let kind = match child(node, "type").and_then(|kind| kind.attribute("value")) {
            None | Some("normal") => ArcKind::Normal,
            Some("inhibitor") => ArcKind::Inhibitor,
            Some(other) => {
                return Err(PetriError::UnknownArcType {
                    arc: name,
                    value: other.chars().take(64).collect(),
                });
            }
        };
        self.spec.arcs.push(ArcSpec {
            id,
            source,
            target,
            weight,
            kind,
        });
        Ok(())
    }

    /// Points arcs at the nodes their reference nodes refer to.
    fn resolve_references(&mut self) -> Result<(), PetriError> {
        if self.references.is_empty() {
            return Ok(());
        }
        let references = &self.references;
        let resolve = |arc: &str, end: &'static str, id: &str| -> Result<String, PetriError> {
            let mut current = id;
            // A chain longer than the number of references has a cycle.
            for _ in 0..=references.len() {
                match references.get(current) {
                    Some(next) => current = next,
                    None => return Ok(current.to_owned()),
                }
            }
            Err(PetriError::DanglingArc {
                arc: arc.to_owned(),
                end,
                node: id.to_owned(),
            })
        };
        for arc in &mut self.spec.arcs {
            let name = arc.name();
            arc.source = resolve(&name, "source", &arc.source)?;
            arc.target = resolve(&name, "target", &arc.target)?;
        }
        Ok(())
    }
}

/// Escapes text for an XML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            other => out.push(other),
        }
    }
    out
}

/// Writes `net` as a PNML document in `dialect`; [`read`] gives back the
/// same [`NetSpec`].
pub fn write(net: &Net, dialect: Dialect) -> String {
    let spec = net.spec();
    let mut out = String::with_capacity(256 + 256 * (spec.places.len() + spec.transitions.len() + spec.arcs.len()));
    // Writing to a String cannot fail.
    let _ = write_to(&mut out, spec, dialect);
    out
}

fn write_to(out: &mut String, spec: &NetSpec, dialect: Dialect) -> std::fmt::Result {
    let iso = dialect == Dialect::Iso;
    // In PIPE a count is "Default,N" in a <value>; in ISO a plain <text>.
    let count = |value: u32| {
        if iso {
            format!("<text>{value}</text>")
        } else {
            format!("<value>Default,{value}</value>")
        }
    };
    let text = |value: &str| {
        if iso {
            format!("<text>{}</text>", escape(value))
        } else {
            format!("<value>{}</value>", escape(value))
        }
    };
    let graphics = |position: Option<Position>| match position {
        Some(Position { x, y }) => format!("<graphics><position x=\"{x:?}\" y=\"{y:?}\"/></graphics>"),
        None => String::new(),
    };
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    let indent;
    if iso {
        writeln!(out, r#"<pnml xmlns="http://www.pnml.org/version-2009/grammar/pnml">"#)?;
        let net_id = spec.name.as_deref().unwrap_or("net");
        let mut page_id = String::from("page");
        let taken = |id: &str| {
            id == net_id
                || spec.places.iter().any(|p| p.label == id)
                || spec.transitions.iter().any(|t| t.label == id)
                || spec.arcs.iter().any(|a| a.id.as_deref() == Some(id))
        };
        let mut suffix = 1;
        while taken(&page_id) {
            page_id = format!("page-{suffix}");
            suffix += 1;
        }
        if spec.name.is_some() {
            writeln!(
                out,
                r#"  <net id="{}" type="http://www.pnml.org/version-2009/grammar/ptnet">"#,
                escape(net_id)
            )?;
        } else {
            // ISO wants an id here, but one written now would come back as
            // a name the net never had: a nameless net is written without.
            writeln!(out, r#"  <net type="http://www.pnml.org/version-2009/grammar/ptnet">"#)?;
        }
        writeln!(out, r#"    <page id="{}">"#, escape(&page_id))?;
        indent = "      ";
    } else {
        writeln!(out, "<pnml>")?;
        match &spec.name {
            Some(name) => writeln!(out, r#"  <net id="{}" type="P/T net">"#, escape(name))?,
            None => writeln!(out, r#"  <net type="P/T net">"#)?,
        }
        writeln!(out, r#"    <token id="Default" red="0" green="0" blue="0"/>"#)?;
        indent = "    ";
    }
    for place in &spec.places {
        writeln!(out, r#"{indent}<place id="{}">"#, escape(&place.label))?;
        writeln!(
            out,
            "{indent}  {}<name>{}</name>",
            graphics(place.position),
            text(&place.label)
        )?;
        if iso {
            if place.capacity > 0 {
                writeln!(
                    out,
                    r#"{indent}  <toolspecific tool="{TOOL}" version="1"><capacity>{}</capacity></toolspecific>"#,
                    place.capacity
                )?;
            }
        } else {
            writeln!(out, "{indent}  <capacity><value>{}</value></capacity>", place.capacity)?;
        }
        writeln!(
            out,
            "{indent}  <initialMarking>{}</initialMarking>",
            count(place.initial)
        )?;
        writeln!(out, "{indent}</place>")?;
    }
    for transition in &spec.transitions {
        writeln!(out, r#"{indent}<transition id="{}">"#, escape(&transition.label))?;
        writeln!(
            out,
            "{indent}  {}<name>{}</name>",
            graphics(transition.position),
            text(&transition.label)
        )?;
        if let Some(role) = &transition.role {
            writeln!(
                out,
                r#"{indent}  <toolspecific tool="{TOOL}" version="1"><role>{}</role></toolspecific>"#,
                escape(role)
            )?;
        }
        writeln!(out, "{indent}</transition>")?;
    }
    for arc in &spec.arcs {
        let id = match &arc.id {
            Some(id) => format!(r#" id="{}""#, escape(id)),
            None => String::new(),
        };
        writeln!(
            out,
            r#"{indent}<arc{id} source="{}" target="{}">"#,
            escape(&arc.source),
            escape(&arc.target)
        )?;
        let kind = match arc.kind {
            ArcKind::Normal => "normal",
            ArcKind::Inhibitor => "inhibitor",
        };
        writeln!(out, r#"{indent}  <type value="{kind}"/>"#)?;
        writeln!(out, "{indent}  <inscription>{}</inscription>", count(arc.weight))?;
        writeln!(out, "{indent}</arc>")?;
    }
    if iso {
        writeln!(out, "    </page>")?;
    }
    writeln!(out, "  </net>")?;
    writeln!(out, "</pnml>")
}
