//! Graphviz DOT export, to look at a net.
//!
//! Places are circles labelled with their name and token count (and
//! capacity, when bounded), transitions are boxes (with their role, when
//! they have one), arcs are labelled with their weight when it is not 1;
//! inhibitor arcs end in a small circle. Render with
//! `dot -Tsvg net.dot > net.svg`.
//!
//! ```
//! use tally_petri::{dot, Net, NetSpec};
//!
//! let net = Net::new(NetSpec::new().place("p", 2).transition("t").arc("p", "t", 2))?;
//! let text = dot::write(&net, None)?;
//! assert!(text.contains(r#""p" [shape=circle, label="p\n2"]"#));
//! assert!(text.contains(r#""p" -> "t" [label="2"]"#));
//! # Ok::<(), tally_petri::PetriError>(())
//! ```

use std::fmt::Write as _;

use crate::error::PetriError;
use crate::net::{ArcKind, Net};

/// Quotes `text` as a DOT string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// Writes `net` as a DOT digraph, showing `marking` (default: the initial
/// state) in the places.
///
/// # Errors
/// [`PetriError::StateLength`] when `marking` does not have one entry per place.
pub fn write(net: &Net, marking: Option<&[u32]>) -> Result<String, PetriError> {
    let marking = marking.unwrap_or(net.initial());
    if marking.len() != net.place_count() {
        return Err(PetriError::StateLength {
            expected: net.place_count(),
            found: marking.len(),
        });
    }
    let spec = net.spec();
    let mut out = String::new();
    let name = spec.name.as_deref().unwrap_or("net");
    // Writing to a String cannot fail.
    let _ = writeln!(out, "digraph {} {{", quote(name));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [fontname=\"Helvetica\", fontsize=11];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=10];");
    for (place, &tokens) in spec.places.iter().zip(marking) {
        let label = if place.capacity > 0 {
            format!("{}\n{} / {}", place.label, tokens, place.capacity)
        } else {
            format!("{}\n{}", place.label, tokens)
        };
        let _ = writeln!(
            out,
            "  {} [shape=circle, label={}];",
            quote(&place.label),
            quote(&label)
        );
    }
    for transition in &spec.transitions {
        let label = match &transition.role {
            Some(role) => format!("{}\n[{}]", transition.label, role),
            None => transition.label.clone(),
        };
        let _ = writeln!(
            out,
            "  {} [shape=box, label={}];",
            quote(&transition.label),
            quote(&label)
        );
    }
    for arc in &spec.arcs {
        let mut attributes = Vec::new();
        if arc.weight != 1 {
            attributes.push(format!("label={}", quote(&arc.weight.to_string())));
        }
        if arc.kind == ArcKind::Inhibitor {
            attributes.push("arrowhead=odot".to_owned());
        }
        let attributes = if attributes.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attributes.join(", "))
        };
        let _ = writeln!(out, "  {} -> {}{};", quote(&arc.source), quote(&arc.target), attributes);
    }
    let _ = writeln!(out, "}}");
    Ok(out)
}
