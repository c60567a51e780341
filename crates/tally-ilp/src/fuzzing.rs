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

/// Lines in the input format of the `ilp-codec` example (`FAMILY HEX` to
/// decode, `FAMILY JSON` to encode), through the `json` module it wraps
/// (features `fuzzing` and `json`). The first byte picks the command as the
/// tool's arguments do: `0` decode (strict), `1` decode `--lenient`, else
/// encode. Nothing may panic, and:
///
/// - a line that decodes strictly has a JSON shape that encodes back to
///   the same bytes (unless the JSON shows bytes that are not UTF-8 as
///   U+FFFD, which is lossy by design);
/// - JSON that encodes gives bytes that decode strictly, whose JSON shape
///   encodes to the same bytes again.
///
/// # Panics
/// On a violation (that is the point).
#[cfg(feature = "json")]
pub fn ilp_codec_lines(input: &[u8]) {
    use crate::json::{self, Family};

    let Some((&command, rest)) = input.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    for line in text.lines().take(64) {
        let line = line.trim();
        let (family, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let Ok(family) = family.parse::<Family>() else {
            continue;
        };
        let bytes = match command % 3 {
            0 | 1 => {
                let Ok(bytes) = hex::decode(rest.trim()) else {
                    continue;
                };
                let mode = if command % 3 == 0 { Mode::Strict } else { Mode::Lenient };
                let _ = json::decode_to_json(family, &bytes, mode);
                bytes
            }
            _ => {
                let Ok(value) = serde_json::from_str::<serde_json::Value>(rest) else {
                    continue;
                };
                match json::encode_from_json(family, &value) {
                    Ok(bytes) => {
                        let decoded = json::decode_to_json(family, &bytes, Mode::Strict);
                        assert!(
                            decoded.is_ok(),
                            "{family}: encoded JSON does not decode strictly: {decoded:?}"
                        );
                        bytes.to_vec()
                    }
                    Err(_) => continue,
                }
            }
        };
        if let Ok(value) = json::decode_to_json(family, &bytes, Mode::Strict) {
            // Bytes that are not UTF-8 show as U+FFFD in JSON (by design,
            // lossy); strict legacy decoding lets some through in addresses.
            if value.to_string().contains('\u{fffd}') {
                continue;
            }
            match json::encode_from_json(family, &value) {
                Ok(again) => assert_eq!(
                    &again[..],
                    &bytes[..],
                    "{family}: decode -> JSON -> encode changed {value}"
                ),
                Err(e) => panic!("{family}: the JSON of a strictly decoded packet does not encode: {e} ({value})"),
            }
        }
    }
}
