//! PNML import and export: the bitwrap fixtures, ISO documents, malformed
//! input, and round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use proptest::prelude::*;
use tally_petri::pnml::{self, Dialect};
use tally_petri::{ArcKind, ArcSpec, Net, NetSpec, PetriError, PlaceSpec, Position, TransitionSpec, dot};

#[test]
fn every_fixture_net_loads_with_the_documented_counts() {
    let Some(fixtures) = common::all_fixtures("every_fixture_net_loads_with_the_documented_counts") else {
        return;
    };
    for ((name, text), &(_, places, transitions, arcs)) in fixtures.iter().zip(common::FIXTURE_COUNTS) {
        let net = pnml::read(text).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(net.place_count(), places, "{name} places");
        assert_eq!(net.transition_count(), transitions, "{name} transitions");
        assert_eq!(net.spec().arcs.len(), arcs, "{name} arcs");
        assert!(!net.has_self_loops(), "{name}: bitwrap's nets have no self-loops");
        assert!(!net.has_inhibitors(), "{name}: bitwrap's nets have no inhibitor arcs");
    }
}

#[test]
fn fixture_markings_capacities_and_weights_are_read() {
    let test = "fixture_markings_capacities_and_weights_are_read";
    let Some(battleship) = common::fixture(test, "battleship.xml") else {
        return;
    };
    let net = pnml::read(&battleship).unwrap();
    assert_eq!(net.initial()[net.place_index("moves").unwrap()], 200);

    let Some(option) = common::fixture(test, "option.xml") else {
        return;
    };
    let net = pnml::read(&option).unwrap();
    assert!((0..net.place_count()).all(|place| net.capacity(place) == Some(1)));
    assert_eq!(net.initial()[net.place_index("NEW").unwrap()], 1);

    let Some(factom) = common::fixture(test, "factom.xml") else {
        return;
    };
    let net = pnml::read(&factom).unwrap();
    let weights: Vec<u32> = net.spec().arcs.iter().map(|arc| arc.weight).collect();
    assert!(weights.contains(&1000) && weights.contains(&5));
    assert_eq!(net.initial()[net.place_index("coinbase_ticker").unwrap()], 5);
    let marker = net.transition_index("1k_marker").unwrap();
    assert_eq!(net.delta(marker).unwrap()[net.place_index("REVEAL").unwrap()], -1000);

    // The state vector is in document order of the places.
    let Some(counter) = common::fixture(test, "counter.xml") else {
        return;
    };
    let net = pnml::read(&counter).unwrap();
    assert_eq!(net.place_label(0), Some("p0"));
    assert_eq!(net.place_label(1), Some("p1"));
    assert_eq!(net.transition_label(0), Some("INC_0"));
}

#[test]
fn every_fixture_round_trips_through_both_dialects() {
    let Some(fixtures) = common::all_fixtures("every_fixture_round_trips_through_both_dialects") else {
        return;
    };
    for (name, text) in fixtures {
        let net = pnml::read(&text).unwrap();
        for dialect in [Dialect::Pipe, Dialect::Iso] {
            let again = pnml::read(&pnml::write(&net, dialect)).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert_eq!(again.spec(), net.spec(), "{name} {dialect:?}");
        }
        let graph = dot::write(&net, None).unwrap();
        assert!(
            graph.starts_with("digraph ") && graph.trim_end().ends_with('}'),
            "{name}"
        );
    }
}

#[test]
fn missing_graphics_names_markings_and_inscriptions_take_their_defaults() {
    let net = pnml::read(
        r#"<pnml><net>
            <place id="a"/>
            <place id="b"><initialMarking><value></value></initialMarking></place>
            <transition id="t"/>
            <arc id="x" source="a" target="t"/>
            <arc id="y" source="t" target="b"><inscription><value>Default,3</value></inscription></arc>
        </net></pnml>"#,
    )
    .unwrap();
    assert_eq!(net.initial(), &[0, 0]);
    assert_eq!(net.spec().places[0].position, None);
    assert_eq!(net.delta(0).unwrap(), vec![-1, 3]);
}

const ISO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<pnml xmlns="http://www.pnml.org/version-2009/grammar/pnml">
  <net id="vote" type="http://www.pnml.org/version-2009/grammar/ptnet">
    <name><text>A vote</text></name>
    <page id="top">
      <place id="open"><name><text>open</text></name><initialMarking><text>1</text></initialMarking>
        <graphics><position x="10" y="20.5"/></graphics></place>
      <page id="inner">
        <place id="yay"/>
        <transition id="YAY"><name><text>YAY</text></name></transition>
        <referencePlace id="open-ref" ref="open"/>
        <arc id="a1" source="open-ref" target="YAY"><inscription><text>1</text></inscription></arc>
      </page>
      <arc id="a2" source="YAY" target="yay"/>
    </page>
  </net>
</pnml>"#;

#[test]
fn iso_pnml_with_text_labels_nested_pages_and_references_loads() {
    let net = pnml::read(ISO).unwrap();
    assert_eq!(net.spec().name.as_deref(), Some("vote"));
    assert_eq!(net.initial(), &[1, 0]);
    assert_eq!(net.spec().places[0].position, Some(Position { x: 10.0, y: 20.5 }));
    // bitwrap's whitepaper example: [1,0] + YAY = [0,1]; again is invalid.
    let state = net.fire(net.initial(), 0, 1).unwrap();
    assert_eq!(state, vec![0, 1]);
    assert!(matches!(
        net.fire(&state, 0, 1),
        Err(PetriError::WouldGoNegative { .. })
    ));
}

fn read_error(text: &str) -> PetriError {
    pnml::read(text).expect_err("the document must be refused")
}

#[test]
fn malformed_documents_are_typed_errors_naming_the_element() {
    assert!(matches!(read_error("<pnml><net>"), PetriError::Xml { line: 1, .. }));
    assert!(matches!(read_error("not xml at all"), PetriError::Xml { .. }));
    assert!(matches!(read_error("<html/>"), PetriError::NotPnml { .. }));
    assert!(matches!(read_error("<pnml/>"), PetriError::NotPnml { .. }));
    let dtd = r#"<?xml version="1.0"?><!DOCTYPE pnml [<!ENTITY a "aaaa">]><pnml><net/></pnml>"#;
    assert!(matches!(read_error(dtd), PetriError::Xml { .. }));

    let net = |body: &str| format!("<pnml><net>{body}</net></pnml>");
    assert!(matches!(
        read_error(&net("\n<place/>")),
        PetriError::MissingAttribute {
            element: "place",
            attribute: "id",
            line: 2
        }
    ));
    assert!(matches!(
        read_error(&net(r#"<place id="p"/><arc id="a" target="p"/>"#)),
        PetriError::MissingAttribute {
            element: "arc",
            attribute: "source",
            ..
        }
    ));
    assert!(matches!(
        read_error(&net(r#"<place id="p"/><place id="p"/>"#)),
        PetriError::DuplicateId { id } if id == "p"
    ));
    assert!(matches!(
        read_error(&net(r#"<place id="p"/><transition id="t"/><arc id="a" source="t" target="p"/><arc id="a" source="p" target="t"/>"#)),
        PetriError::DuplicateId { id } if id == "a"
    ));
    assert!(matches!(
        read_error(&net(r#"<place id="p"/><arc id="a7" source="p" target="ghost"/>"#)),
        PetriError::DanglingArc { arc, end: "target", node } if arc == "a7" && node == "ghost"
    ));
    let weight = |text: &str| {
        net(&format!(
            r#"<place id="p"/><transition id="t"/><arc id="w" source="p" target="t"><inscription><value>{text}</value></inscription></arc>"#
        ))
    };
    for (text, reason) in [
        ("Default,-1", "is negative"),
        ("-3", "is negative"),
        ("Default,one", "is not a whole number"),
        ("1.5", "is not a whole number"),
        ("Default,0", "is below the minimum of 1"),
        ("Default,99999999999999999999", "is over the limit of 2^30"),
        (
            "Default,1,Red,2",
            "has more than one token class (coloured nets are not supported)",
        ),
    ] {
        let error = read_error(&weight(text));
        assert!(
            matches!(&error, PetriError::InvalidNumber { element, field: "weight", reason: r, .. }
                if element == "w" && *r == reason),
            "{text}: {error}"
        );
    }
    let marking = net(r#"<place id="m"><initialMarking><value>Default,x</value></initialMarking></place>"#);
    assert!(matches!(
        read_error(&marking),
        PetriError::InvalidNumber { element, field: "initial marking", .. } if element == "m"
    ));
    let kind =
        net(r#"<place id="p"/><transition id="t"/><arc id="k" source="p" target="t"><type value="reset"/></arc>"#);
    assert!(matches!(read_error(&kind), PetriError::UnknownArcType { arc, value } if arc == "k" && value == "reset"));
    let cycle = net(
        r#"<referencePlace id="r1" ref="r2"/><referencePlace id="r2" ref="r1"/><transition id="t"/><arc id="c" source="r1" target="t"/>"#,
    );
    assert!(matches!(read_error(&cycle), PetriError::DanglingArc { arc, .. } if arc == "c"));
    let huge = "x".repeat(pnml::MAX_PNML_BYTES + 1);
    assert!(matches!(read_error(&huge), PetriError::LimitExceeded { .. }));
    let deep = format!(
        "<pnml><net>{}{}</net></pnml>",
        "<page>".repeat(100),
        "</page>".repeat(100)
    );
    assert!(matches!(
        read_error(&deep),
        PetriError::LimitExceeded {
            what: "page nesting depth",
            ..
        }
    ));
}

#[test]
fn inhibitor_arcs_and_roles_round_trip() {
    let text = r#"<pnml><net>
        <place id="lock"/><place id="out"/>
        <transition id="go"><toolspecific tool="tally" version="1"><role>admin</role></toolspecific></transition>
        <arc id="i" source="lock" target="go"><type value="inhibitor"/></arc>
        <arc id="o" source="go" target="out"/>
    </net></pnml>"#;
    let net = pnml::read(text).unwrap();
    assert_eq!(net.role(0), Some("admin"));
    assert_eq!(net.spec().arcs[0].kind, ArcKind::Inhibitor);
    assert!(matches!(net.fire(&[1, 0], 0, 1), Err(PetriError::Inhibited { .. })));
    for dialect in [Dialect::Pipe, Dialect::Iso] {
        assert_eq!(pnml::read(&pnml::write(&net, dialect)).unwrap().spec(), net.spec());
    }
    let graph = dot::write(&net, Some(&[1, 0])).unwrap();
    assert!(graph.contains(r#""lock" -> "go" [arrowhead=odot];"#), "{graph}");
    assert!(graph.contains(r#"label="go\n[admin]""#), "{graph}");
    assert!(matches!(
        dot::write(&net, Some(&[1])),
        Err(PetriError::StateLength { .. })
    ));
}

#[test]
fn dot_quotes_awkward_labels() {
    let net = Net::new(NetSpec::new().place("say \"hi\"\\", 1)).unwrap();
    let graph = dot::write(&net, None).unwrap();
    assert!(
        graph.contains(r#""say \"hi\"\\" [shape=circle, label="say \"hi\"\\\n1"];"#),
        "{graph}"
    );
}

fn arb_label() -> impl Strategy<Value = String> {
    // Ids with XML's special characters, spaces and non-ASCII.
    "[a-zA-Z0-9_ <>&\"'?é-]{1,12}"
}

fn arb_spec() -> impl Strategy<Value = NetSpec> {
    (
        proptest::option::of(arb_label()),
        proptest::collection::hash_set(arb_label(), 1..10),
        proptest::collection::vec(
            (0u32..5, 0u32..3, proptest::option::of((-1e6f64..1e6, -1e6f64..1e6))),
            10,
        ),
        proptest::collection::vec(
            (
                any::<usize>(),
                any::<usize>(),
                any::<bool>(),
                1u32..2000,
                any::<bool>(),
                any::<bool>(),
            ),
            0..12,
        ),
        proptest::collection::vec(proptest::option::of("[a-z]{1,6}"), 10),
    )
        .prop_map(|(name, labels, places, arcs, roles)| {
            let labels: Vec<String> = labels.into_iter().collect();
            let split = labels.len().div_ceil(2);
            let mut spec = NetSpec {
                name,
                ..NetSpec::default()
            };
            for (label, &(initial, capacity, position)) in labels[..split].iter().zip(&places) {
                spec.places.push(PlaceSpec {
                    label: label.clone(),
                    initial: if capacity == 0 { initial } else { initial.min(capacity) },
                    capacity,
                    position: position.map(|(x, y)| Position { x, y }),
                });
            }
            for (label, role) in labels[split..].iter().zip(&roles) {
                spec.transitions.push(TransitionSpec {
                    label: label.clone(),
                    role: role.clone(),
                    position: None,
                });
            }
            if !spec.transitions.is_empty() {
                for (index, &(place, transition, outgoing, weight, inhibitor, with_id)) in arcs.iter().enumerate() {
                    let place = spec.places[place % spec.places.len()].label.clone();
                    let transition = spec.transitions[transition % spec.transitions.len()].label.clone();
                    let (source, target) = if outgoing {
                        (transition, place)
                    } else {
                        (place, transition)
                    };
                    spec.arcs.push(ArcSpec {
                        id: with_id.then(|| format!("arc#{index}")),
                        source,
                        target,
                        weight,
                        kind: if inhibitor { ArcKind::Inhibitor } else { ArcKind::Normal },
                    });
                }
            }
            spec
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn writing_then_reading_gives_back_the_same_net(spec in arb_spec()) {
        let net = Net::new(spec).unwrap();
        for dialect in [Dialect::Pipe, Dialect::Iso] {
            let text = pnml::write(&net, dialect);
            let again = pnml::read(&text).unwrap();
            prop_assert_eq!(again.spec(), net.spec(), "{}", text);
            prop_assert_eq!(again.fingerprint(), net.fingerprint());
        }
    }

    #[test]
    fn reading_arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = pnml::read(&text);
        let _ = pnml::read(&format!("<pnml><net>{text}</net></pnml>"));
    }
}
