//! Fuzzing entry points, one per packet family, shared by the `fuzz/`
//! targets and the seed-corpus replay in `cargo test` (feature `fuzzing`).
//!
//! Not a stable API: it exists for the fuzz workspace and may change in any
//! release, semver notwithstanding.
//!
//! Each function decodes `input` in both modes (which must not panic) and,
//! when strict decoding succeeds, checks that re-encoding gives back the
//! input byte for byte and that `decode_bytes` agrees with the view.

use bytes::Bytes;

use crate::{Encode, Mode, btp2, clp, ilp4, legacy};

macro_rules! family_check {
    ($name:ident, $family:ident) => {
        #[doc = concat!("Checks one input against the `", stringify!($family), "` codec; panics on a violation.")]
        pub fn $name(input: &[u8]) {
            let _ = $family::Packet::decode(input, Mode::Lenient);
            if let Ok(packet) = $family::Packet::decode(input, Mode::Strict) {
                assert_eq!(
                    packet.encoded_len(),
                    input.len(),
                    "encoded_len of a strictly decoded packet"
                );
                let encoded = match packet.encode() {
                    Ok(encoded) => encoded,
                    Err(e) => panic!("strictly decoded packet does not encode: {e}"),
                };
                assert_eq!(&encoded[..], input, "strict decode -> encode is not the identity");
                let lenient = $family::Packet::decode(input, Mode::Lenient);
                assert!(lenient.is_ok(), "lenient mode rejects what strict mode accepts");
                let shared = $family::Packet::decode_bytes(&Bytes::copy_from_slice(input), Mode::Strict);
                assert!(shared.is_ok_and(
                    |p| p.map_bytes(&mut |b: Bytes| b.to_vec()) == packet.map_bytes(&mut |b: &[u8]| b.to_vec())
                ));
            }
        }
    };
}

family_check!(ilp4, ilp4);
family_check!(legacy, legacy);
family_check!(clp, clp);
family_check!(btp2, btp2);
