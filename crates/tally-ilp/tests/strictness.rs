//! What strict mode refuses, what lenient mode lets through, and the typed
//! error (kind and byte offset) each refusal carries.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use tally_ilp::bytes::Bytes;
use tally_ilp::{DecodeErrorKind, Encode, EncodeError, ErrorCode, Mode, Timestamp, VarOctetsList, clp, ilp4, legacy};

fn t0() -> Timestamp {
    Timestamp::from_unix_ms(1_505_392_496_789).unwrap()
}

fn ilp_error(data: &[u8]) -> Bytes {
    legacy::IlpError {
        code: ErrorCode::F02_UNREACHABLE,
        name: Bytes::from_static(b"Unreachable"),
        triggered_by: Bytes::from_static(b"test.crypto.xrp."),
        forwarded_by: VarOctetsList::from_items([b"g.a.".as_slice()]),
        triggered_at: t0(),
        data: Bytes::copy_from_slice(data),
    }
    .encode()
    .unwrap()
}

#[test]
fn legacy_packets_need_their_extensibility_byte_in_strict_mode_only() {
    let wire = legacy::IlpFulfillment { data: &b"abc"[..] }.encode().unwrap().to_vec();
    assert_eq!(wire, [9, 5, 3, b'a', b'b', b'c', 0]);
    let missing = [9, 4, 3, b'a', b'b', b'c'];
    let err = legacy::Packet::decode(&missing, Mode::Strict).unwrap_err();
    assert_eq!((err.offset, err.kind), (6, DecodeErrorKind::MissingExtensibilityByte));
    assert!(legacy::Packet::decode(&missing, Mode::Lenient).is_ok());
    let nonzero = [9, 5, 3, b'a', b'b', b'c', 7];
    let err = legacy::Packet::decode(&nonzero, Mode::Strict).unwrap_err();
    assert_eq!(
        (err.offset, err.kind),
        (6, DecodeErrorKind::InvalidExtensibilityByte(7))
    );
}

#[test]
fn trailing_bytes_are_refused_strictly_with_their_offset() {
    let mut wire = ilp4::Fulfill {
        fulfillment: [1; 32],
        data: &b""[..],
    }
    .encode()
    .unwrap()
    .to_vec();
    let len = wire.len();
    wire.push(0xee);
    let err = ilp4::Packet::decode(&wire, Mode::Strict).unwrap_err();
    assert_eq!(
        (err.offset, err.kind),
        (len, DecodeErrorKind::TrailingBytes { count: 1 })
    );
    assert!(ilp4::Packet::decode(&wire, Mode::Lenient).is_ok());
}

#[test]
fn ilp4_data_over_the_rfc_limit_is_refused_strictly_and_never_encoded() {
    let data = vec![0u8; ilp4::MAX_DATA_BYTES + 1];
    let fulfill = ilp4::Fulfill {
        fulfillment: [0; 32],
        data: &data[..],
    };
    assert_eq!(
        fulfill.encode(),
        Err(EncodeError::DataTooLong {
            len: 32_768,
            max_bytes: 32_767
        })
    );
    let mut wire = vec![13, 0x82, 0x80, 0x23];
    wire.extend([0; 32]);
    wire.extend([0x82, 0x80, 0x00]);
    wire.extend(&data);
    let err = ilp4::Packet::decode(&wire, Mode::Strict).unwrap_err();
    assert_eq!(
        (err.offset, err.kind),
        (
            36,
            DecodeErrorKind::DataTooLong {
                len: 32_768,
                max_bytes: 32_767
            }
        )
    );
    assert!(ilp4::Packet::decode(&wire, Mode::Lenient).is_ok());
}

#[test]
fn reject_messages_must_be_utf8_and_codes_printable_in_strict_mode() {
    let reject = ilp4::Reject {
        code: ErrorCode(*b"F99"),
        triggered_by: &b""[..],
        message: &[0xff][..],
        data: &b""[..],
    };
    assert_eq!(reject.encode(), Err(EncodeError::InvalidUtf8 { field: "message" }));
    let wire = [14, 7, b'F', b'9', b'9', 0, 1, 0xff, 0];
    let err = ilp4::Packet::decode(&wire, Mode::Strict).unwrap_err();
    assert_eq!((err.offset, err.kind), (6, DecodeErrorKind::InvalidUtf8));
    assert!(ilp4::Packet::decode(&wire, Mode::Lenient).is_ok());
    let wire = [14, 6, b'F', 0, b'9', 0, 0, 0];
    let err = ilp4::Packet::decode(&wire, Mode::Strict).unwrap_err();
    assert_eq!((err.offset, err.kind), (2, DecodeErrorKind::InvalidErrorCode));
}

#[test]
fn error_codes_know_their_class_and_name() {
    assert_eq!(
        ErrorCode::T04_INSUFFICIENT_LIQUIDITY.name(),
        Some("Insufficient Liquidity")
    );
    assert_eq!(
        ErrorCode::R00_TRANSFER_TIMED_OUT.class(),
        Some(tally_ilp::ErrorClass::Relative)
    );
    assert_eq!(ErrorCode(*b"L01").name(), None);
    assert_eq!(ErrorCode(*b"L01").to_string(), "L01");
}

#[test]
fn clp_rejection_reasons_over_127_bytes_are_sliced_whole() {
    let reason = ilp_error(&[b'z'; 200]);
    assert!(reason.len() > 200 && reason[1] & 0x80 != 0, "long-form length prefix");
    let reject = clp::Reject {
        request_id: 5,
        transfer_id: [9; 16],
        rejection_reason: reason.clone(),
        protocol_data: tally_ilp::ProtocolData::empty(),
    };
    let wire = reject.encode().unwrap();
    let clp::Packet::Reject(view) = clp::Packet::decode(&wire, Mode::Strict).unwrap() else {
        panic!("not a reject")
    };
    assert_eq!(view.rejection_reason, &reason[..]);
    let error = view.rejection_reason().unwrap();
    assert_eq!(error.data, &[b'z'; 200][..]);
    assert_eq!(error.forwarded_by.iter().collect::<Vec<_>>(), [b"g.a.".as_slice()]);
}

#[test]
fn clp_rejection_reasons_must_be_ilp_errors() {
    let payment = legacy::IlpFulfillment { data: &b""[..] }.encode().unwrap();
    let error = clp::Error {
        request_id: 1,
        rejection_reason: payment.clone(),
        protocol_data: tally_ilp::ProtocolData::empty(),
    };
    assert!(matches!(error.encode(), Err(EncodeError::InvalidRejectionReason(_))));
    let mut wire = vec![3, 0, 0, 0, 1, (payment.len() + 2) as u8];
    wire.extend(&payment[..]);
    wire.extend([1, 0]);
    let err = clp::Packet::decode(&wire, Mode::Strict).unwrap_err();
    assert_eq!((err.offset, err.kind), (6, DecodeErrorKind::NotAnIlpError(9)));
    assert!(clp::Packet::decode(&wire, Mode::Lenient).is_ok());
}

#[test]
fn fulfillments_are_checked_against_conditions_with_sha256() {
    let fulfillment = [42u8; 32];
    let prepare = ilp4::Prepare {
        amount: 1,
        expires_at: t0(),
        execution_condition: ilp4::fulfillment_to_condition(&fulfillment),
        destination: &b"g.bob"[..],
        data: &b""[..],
    };
    assert!(prepare.is_fulfilled_by(&fulfillment));
    assert!(!prepare.is_fulfilled_by(&[43; 32]));
    assert_eq!(
        ilp4::Fulfill {
            fulfillment,
            data: &b""[..]
        }
        .condition(),
        prepare.execution_condition
    );
}

#[test]
fn decode_bytes_shares_the_input_buffer() {
    let wire = ilp4::Fulfill {
        fulfillment: [3; 32],
        data: &b"payload"[..],
    }
    .encode()
    .unwrap();
    let fulfill = ilp4::Fulfill::decode_bytes(&wire, Mode::Strict).unwrap();
    let data_start = wire.len() - 7;
    assert_eq!(fulfill.data.as_ptr(), wire[data_start..].as_ptr(), "no copy");
}

#[test]
fn counts_that_the_input_cannot_hold_are_refused_before_any_loop() {
    // forwardedBy claims 2^56 entries in a 40-byte packet.
    let mut content = vec![b'F', b'0', b'2', 0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0];
    content.extend([19]);
    content.extend(b"20170914123456.789Z");
    content.extend([0, 0]);
    let mut wire = vec![8, content.len() as u8];
    wire.extend(&content);
    let err = legacy::Packet::decode(&wire, Mode::Lenient).unwrap_err();
    assert_eq!(err.offset, 7);
    assert!(matches!(
        err.kind,
        DecodeErrorKind::CountTooLarge {
            count: 72_057_594_037_927_936,
            ..
        }
    ));
}
