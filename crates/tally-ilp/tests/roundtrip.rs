//! Property tests: every packet type round-trips (encode → decode → encode
//! is the identity, and decode gives back the packet), and no input makes
//! a decoder panic or breaks the strict decode → encode identity.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use proptest::prelude::*;
use tally_ilp::bytes::Bytes;
#[cfg(feature = "fuzzing")]
use tally_ilp::fuzzing;
use tally_ilp::{
    Encode, ErrorCode, Mode, ProtocolData, ProtocolDataEntry, Timestamp, VarOctetsList, btp2, clp, ilp4, legacy,
};

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn text(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(|chars| Bytes::from(chars.into_iter().collect::<String>()))
}

fn ascii(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(0u8..0x80, 0..max).prop_map(Bytes::from)
}

fn address() -> impl Strategy<Value = Bytes> {
    let scheme = prop::sample::select(vec![
        "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local",
    ]);
    let segment = prop::collection::vec(prop::sample::select(b"abcXYZ0189_~-".to_vec()), 1..12);
    (scheme, prop::collection::vec(segment, 1..5)).prop_map(|(scheme, segments)| {
        let mut address = scheme.as_bytes().to_vec();
        for segment in segments {
            address.push(b'.');
            address.extend(segment);
        }
        Bytes::from(address)
    })
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (Timestamp::MIN.unix_ms()..=Timestamp::MAX.unix_ms()).prop_map(|ms| Timestamp::from_unix_ms(ms).unwrap())
}

fn code() -> impl Strategy<Value = ErrorCode> {
    prop::array::uniform3(0x21u8..0x7f).prop_map(ErrorCode)
}

fn protocol_data() -> impl Strategy<Value = ProtocolData> {
    prop::collection::vec((ascii(12), any::<u8>(), bytes(40)), 0..5).prop_map(|entries| {
        ProtocolData::from_entries(entries.iter().map(|(name, content_type, data)| ProtocolDataEntry {
            protocol_name: name,
            content_type: *content_type,
            data,
        }))
    })
}

fn ilp4_packet() -> impl Strategy<Value = ilp4::Packet> {
    let data = || bytes(300);
    prop_oneof![
        (any::<u64>(), timestamp(), any::<[u8; 32]>(), address(), data()).prop_map(
            |(amount, expires_at, execution_condition, destination, data)| {
                ilp4::Packet::Prepare(ilp4::Prepare {
                    amount,
                    expires_at,
                    execution_condition,
                    destination,
                    data,
                })
            }
        ),
        (any::<[u8; 32]>(), data())
            .prop_map(|(fulfillment, data)| ilp4::Packet::Fulfill(ilp4::Fulfill { fulfillment, data })),
        (code(), prop_oneof![Just(Bytes::new()), address()], text(40), data()).prop_map(
            |(code, triggered_by, message, data)| ilp4::Packet::Reject(ilp4::Reject {
                code,
                triggered_by,
                message,
                data
            })
        ),
    ]
}

fn legacy_packet() -> impl Strategy<Value = legacy::Packet> {
    use legacy::*;
    let b = || bytes(200);
    prop_oneof![
        (any::<u64>(), b(), b()).prop_map(|(amount, account, data)| Packet::IlpPayment(IlpPayment {
            amount,
            account,
            data
        })),
        (b(), any::<u32>()).prop_map(|(destination_account, destination_hold_duration_ms)| {
            Packet::IlqpLiquidityRequest(IlqpLiquidityRequest {
                destination_account,
                destination_hold_duration_ms,
            })
        }),
        (
            prop::collection::vec(any::<(u64, u64)>(), 0..20),
            b(),
            any::<u32>(),
            timestamp()
        )
            .prop_map(|(points, applies_to_prefix, source_hold_duration_ms, expires_at)| {
                Packet::IlqpLiquidityResponse(IlqpLiquidityResponse {
                    liquidity_curve: LiquidityCurve::from_points(points),
                    applies_to_prefix,
                    source_hold_duration_ms,
                    expires_at,
                })
            }),
        (b(), any::<u64>(), any::<u32>()).prop_map(
            |(destination_account, source_amount, destination_hold_duration_ms)| {
                Packet::IlqpBySourceRequest(IlqpBySourceRequest {
                    destination_account,
                    source_amount,
                    destination_hold_duration_ms,
                })
            }
        ),
        (any::<u64>(), any::<u32>()).prop_map(|(destination_amount, source_hold_duration_ms)| {
            Packet::IlqpBySourceResponse(IlqpBySourceResponse {
                destination_amount,
                source_hold_duration_ms,
            })
        }),
        (b(), any::<u64>(), any::<u32>()).prop_map(
            |(destination_account, destination_amount, destination_hold_duration_ms)| {
                Packet::IlqpByDestinationRequest(IlqpByDestinationRequest {
                    destination_account,
                    destination_amount,
                    destination_hold_duration_ms,
                })
            }
        ),
        (any::<u64>(), any::<u32>()).prop_map(|(source_amount, source_hold_duration_ms)| {
            Packet::IlqpByDestinationResponse(IlqpByDestinationResponse {
                source_amount,
                source_hold_duration_ms,
            })
        }),
        (
            code(),
            b(),
            b(),
            prop::collection::vec(bytes(20), 0..4),
            timestamp(),
            b()
        )
            .prop_map(|(code, name, triggered_by, forwarded_by, triggered_at, data)| {
                Packet::IlpError(IlpError {
                    code,
                    name,
                    triggered_by,
                    forwarded_by: VarOctetsList::from_items(forwarded_by),
                    triggered_at,
                    data,
                })
            }),
        b().prop_map(|data| Packet::IlpFulfillment(IlpFulfillment { data })),
        (b(), b()).prop_map(|(account, data)| Packet::IlpForwardedPayment(IlpForwardedPayment { account, data })),
        (code(), b(), b(), b()).prop_map(|(code, triggered_by, message, data)| {
            Packet::IlpRejection(IlpRejection {
                code,
                triggered_by,
                message,
                data,
            })
        }),
    ]
}

fn ilp_error_bytes() -> impl Strategy<Value = Bytes> {
    legacy_packet().prop_filter_map("an IlpError", |p| match p {
        legacy::Packet::IlpError(e) => Some(e.encode().unwrap()),
        _ => None,
    })
}

fn clp_packet() -> impl Strategy<Value = clp::Packet> {
    use clp::*;
    prop_oneof![
        (any::<u32>(), protocol_data()).prop_map(|(request_id, protocol_data)| Packet::Ack(Ack {
            request_id,
            protocol_data
        })),
        (any::<u32>(), protocol_data()).prop_map(|(request_id, protocol_data)| Packet::Response(Response {
            request_id,
            protocol_data
        })),
        (any::<u32>(), ilp_error_bytes(), protocol_data()).prop_map(|(request_id, rejection_reason, protocol_data)| {
            Packet::Error(Error {
                request_id,
                rejection_reason,
                protocol_data,
            })
        }),
        (
            any::<u32>(),
            any::<[u8; 16]>(),
            any::<u64>(),
            any::<[u8; 32]>(),
            timestamp(),
            protocol_data()
        )
            .prop_map(
                |(request_id, transfer_id, amount, execution_condition, expires_at, protocol_data)| {
                    Packet::Prepare(Prepare {
                        request_id,
                        transfer_id,
                        amount,
                        execution_condition,
                        expires_at,
                        protocol_data,
                    })
                }
            ),
        (any::<u32>(), any::<[u8; 16]>(), any::<[u8; 32]>(), protocol_data()).prop_map(
            |(request_id, transfer_id, fulfillment, protocol_data)| {
                Packet::Fulfill(Fulfill {
                    request_id,
                    transfer_id,
                    fulfillment,
                    protocol_data,
                })
            }
        ),
        (any::<u32>(), any::<[u8; 16]>(), ilp_error_bytes(), protocol_data()).prop_map(
            |(request_id, transfer_id, rejection_reason, protocol_data)| {
                Packet::Reject(Reject {
                    request_id,
                    transfer_id,
                    rejection_reason,
                    protocol_data,
                })
            }
        ),
        (any::<u32>(), protocol_data()).prop_map(|(request_id, protocol_data)| Packet::Message(Message {
            request_id,
            protocol_data
        })),
    ]
}

fn btp2_packet() -> impl Strategy<Value = btp2::Packet> {
    use btp2::*;
    prop_oneof![
        (any::<u32>(), protocol_data()).prop_map(|(request_id, protocol_data)| Packet::Response(Response {
            request_id,
            protocol_data
        })),
        (
            any::<u32>(),
            code(),
            bytes(30),
            timestamp(),
            bytes(200),
            protocol_data()
        )
            .prop_map(|(request_id, code, name, triggered_at, data, protocol_data)| {
                Packet::Error(Error {
                    request_id,
                    code,
                    name,
                    triggered_at,
                    data,
                    protocol_data,
                })
            }),
        (any::<u32>(), protocol_data()).prop_map(|(request_id, protocol_data)| Packet::Message(Message {
            request_id,
            protocol_data
        })),
        (any::<u32>(), any::<u64>(), protocol_data()).prop_map(|(request_id, amount, protocol_data)| Packet::Transfer(
            Transfer {
                request_id,
                amount,
                protocol_data
            }
        )),
    ]
}

macro_rules! round_trip {
    ($name:ident, $strategy:expr, $family:ident) => {
        proptest! {
            #[test]
            fn $name(packet in $strategy) {
                let wire = packet.encode().unwrap();
                prop_assert_eq!(wire.len(), packet.encoded_len());
                let view = $family::Packet::decode(&wire, Mode::Strict).unwrap();
                prop_assert_eq!(view.encode().unwrap(), wire.clone());
                prop_assert_eq!(view.map_bytes(&mut Bytes::copy_from_slice), packet.clone());
                prop_assert_eq!($family::Packet::decode_bytes(&wire, Mode::Strict).unwrap(), packet);
                #[cfg(feature = "fuzzing")]
                fuzzing::$family(&wire);
            }
        }
    };
}

round_trip!(every_ilp4_packet_round_trips, ilp4_packet(), ilp4);
round_trip!(every_legacy_packet_round_trips, legacy_packet(), legacy);
round_trip!(every_clp_packet_round_trips, clp_packet(), clp);
round_trip!(every_btp2_packet_round_trips, btp2_packet(), btp2);

// The never-panic checks are the fuzz targets' own (`tally_ilp::fuzzing`,
// feature `fuzzing`; CI tests with `--all-features`).
#[cfg(feature = "fuzzing")]
proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_strict_decodes_reencode_exactly(input in prop::collection::vec(any::<u8>(), 0..200)) {
        fuzzing::ilp4(&input);
        fuzzing::legacy(&input);
        fuzzing::clp(&input);
        fuzzing::btp2(&input);
    }

    #[test]
    fn mutated_packets_never_panic_and_strict_decodes_reencode_exactly(
        packet in clp_packet(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = packet.encode().unwrap().to_vec();
        for (index, byte) in flips {
            let i = index.index(wire.len());
            wire[i] = byte;
        }
        for input in [&wire[..], &wire[..cut.index(wire.len() + 1)]] {
            fuzzing::ilp4(input);
            fuzzing::legacy(input);
            fuzzing::clp(input);
            fuzzing::btp2(input);
        }
    }
}

proptest! {
    #[test]
    fn encoding_refuses_what_strict_decoding_would_refuse(destination in bytes(20), data_len in 32_700usize..32_800) {
        let prepare = ilp4::Prepare {
            amount: 1,
            expires_at: Timestamp::from_unix_ms(0).unwrap(),
            execution_condition: [0; 32],
            destination: destination.clone(),
            data: Bytes::from(vec![0; data_len]),
        };
        let valid = tally_ilp::address::is_valid_address(&destination) && data_len <= ilp4::MAX_DATA_BYTES;
        prop_assert_eq!(prepare.encode().is_ok(), valid);
    }
}

/// The address rule as plainly as it can be written: the RFC 15 regex
/// `^(g|private|example|peer|self|test[1-3]?|local)([.][a-zA-Z0-9_~-]+)+$`, at most 1023 bytes.
fn address_model(address: &[u8]) -> bool {
    let schemes: [&[u8]; 10] = [
        b"g", b"private", b"example", b"peer", b"self", b"test", b"test1", b"test2", b"test3", b"local",
    ];
    let mut parts = address.split(|&b| b == b'.');
    let scheme_ok = parts.next().is_some_and(|scheme| schemes.contains(&scheme));
    let segments: Vec<&[u8]> = parts.collect();
    address.len() <= 1023
        && scheme_ok
        && !segments.is_empty()
        && segments.iter().all(|segment| {
            !segment.is_empty()
                && segment
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"_~-".contains(&b))
        })
}

proptest! {
    #[test]
    fn address_validation_agrees_with_the_plain_rule(
        scheme in prop::sample::select(vec!["", "g", "test", "test3", "test4", "local", "private", "peers"]),
        rest in prop::collection::vec(prop::sample::select(b"aZ9..._~- \xff".to_vec()), 0..12),
    ) {
        let address = [scheme.as_bytes(), &rest].concat();
        prop_assert_eq!(tally_ilp::address::validate_address(&address).is_ok(), address_model(&address));
    }
}
