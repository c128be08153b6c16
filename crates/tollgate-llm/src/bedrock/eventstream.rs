//! The binary `application/vnd.amazon.eventstream` framing that Bedrock streams in. Each message:
//!
//! ```text
//! total length (u32) | headers length (u32) | prelude CRC32 (u32)
//! headers (name length u8, name, type u8, value)* | payload | message CRC32 (u32)
//! ```
//!
//! All integers are big-endian; the prelude CRC covers the first 8 bytes, the message CRC every
//! byte before it. The [`Decoder`] takes bytes in chunks of any size and hands out whole
//! messages, checking both CRCs and every length before trusting it; after an error it stays
//! failed (framing cannot be recovered). [`Message::encode`] is the inverse, for test fakes.

use bytes::{Buf, Bytes, BytesMut};

use crate::LlmError;

const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC.
const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + 4;
const MAX_HEADERS_LEN: usize = 128 * 1024;
const MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;
const MAX_MESSAGE_LEN: usize = MIN_MESSAGE_LEN + MAX_HEADERS_LEN + MAX_PAYLOAD_LEN;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// A header value, one variant per wire type (the type byte is the variant's position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Bytes),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One message: its headers in wire order, and its payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Bytes,
}

impl Message {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The first header called `name`, when it is a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name)? {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The message in wire form. Fails when a name, string or byte array is longer than the
    /// format can say, or the message is over the size limits.
    pub fn encode(&self) -> Result<Vec<u8>, LlmError> {
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            let len = u8::try_from(name.len())
                .ok()
                .filter(|l| *l > 0)
                .ok_or_else(|| frame_error("header names are 1 to 255 bytes"))?;
            headers.push(len);
            headers.extend_from_slice(name.as_bytes());
            encode_value(value, &mut headers)?;
        }
        if headers.len() > MAX_HEADERS_LEN || self.payload.len() > MAX_PAYLOAD_LEN {
            return Err(frame_error("message over the size limit"));
        }
        let total = MIN_MESSAGE_LEN + headers.len() + self.payload.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&len_u32(total).to_be_bytes());
        out.extend_from_slice(&len_u32(headers.len()).to_be_bytes());
        out.extend_from_slice(&CRC32.checksum(&out).to_be_bytes());
        out.extend_from_slice(&headers);
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&CRC32.checksum(&out).to_be_bytes());
        Ok(out)
    }
}

/// Lengths here are bounded by the limits above, far below `u32::MAX`.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn encode_value(value: &HeaderValue, out: &mut Vec<u8>) -> Result<(), LlmError> {
    match value {
        HeaderValue::Bool(true) => out.push(0),
        HeaderValue::Bool(false) => out.push(1),
        HeaderValue::Byte(v) => {
            out.push(2);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Short(v) => {
            out.push(3);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Int(v) => {
            out.push(4);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Long(v) => {
            out.push(5);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Bytes(v) => encode_sized(6, v, out)?,
        HeaderValue::String(v) => encode_sized(7, v.as_bytes(), out)?,
        HeaderValue::Timestamp(v) => {
            out.push(8);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Uuid(v) => {
            out.push(9);
            out.extend_from_slice(v);
        }
    }
    Ok(())
}

fn encode_sized(kind: u8, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), LlmError> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| frame_error("header values are at most 65535 bytes"))?;
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

fn frame_error(what: &str) -> LlmError {
    LlmError::Protocol(format!("event stream: {what}"))
}

/// Incremental decoder: push bytes as they arrive, take whole messages out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    failed: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Adds `bytes` and returns every message now complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Message>, LlmError> {
        self.push(bytes);
        let mut out = Vec::new();
        while let Some(m) = self.next_message()? {
            out.push(m);
        }
        Ok(out)
    }

    /// The next complete message, `None` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, LlmError> {
        if self.failed {
            return Err(frame_error("stream is unreadable after an earlier error"));
        }
        let result = self.try_next();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Call at the end of the input: an error when a message was cut short.
    pub fn finish(&self) -> Result<(), LlmError> {
        if self.failed {
            return Err(frame_error("stream is unreadable after an earlier error"));
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(frame_error(&format!(
                "stream ended inside a message ({} bytes left over)",
                self.buf.len()
            )))
        }
    }

    fn try_next(&mut self) -> Result<Option<Message>, LlmError> {
        let Some(prelude) = self.buf.get(..PRELUDE_LEN) else {
            return Ok(None);
        };
        let total = be_u32(&prelude[0..4]) as usize;
        let headers_len = be_u32(&prelude[4..8]) as usize;
        if CRC32.checksum(&prelude[..8]) != be_u32(&prelude[8..12]) {
            return Err(frame_error("prelude CRC mismatch"));
        }
        if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&total) {
            return Err(frame_error(&format!("bad message length {total}")));
        }
        if headers_len > MAX_HEADERS_LEN || headers_len > total - MIN_MESSAGE_LEN {
            return Err(frame_error(&format!("bad headers length {headers_len}")));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let frame = self.buf.split_to(total).freeze();
        let body_end = total - 4;
        if CRC32.checksum(&frame[..body_end]) != be_u32(&frame[body_end..]) {
            return Err(frame_error("message CRC mismatch"));
        }
        let headers_end = PRELUDE_LEN + headers_len;
        let headers = decode_headers(&frame[PRELUDE_LEN..headers_end])?;
        Ok(Some(Message {
            headers,
            payload: frame.slice(headers_end..body_end),
        }))
    }
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn decode_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, LlmError> {
    let mut out = Vec::new();
    while b.has_remaining() {
        let name_len = usize::from(b.get_u8());
        if name_len == 0 {
            return Err(frame_error("empty header name"));
        }
        let name = take(&mut b, name_len)?;
        let name = std::str::from_utf8(name)
            .map_err(|_| frame_error("header name is not UTF-8"))?
            .to_owned();
        let value = decode_value(&mut b)?;
        out.push((name, value));
    }
    Ok(out)
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], LlmError> {
    if b.len() < n {
        return Err(frame_error("header runs past the headers section"));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn fixed<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], LlmError> {
    let mut a = [0u8; N];
    a.copy_from_slice(take(b, N)?);
    Ok(a)
}

fn decode_value(b: &mut &[u8]) -> Result<HeaderValue, LlmError> {
    let [kind] = fixed::<1>(b)?;
    Ok(match kind {
        0 => HeaderValue::Bool(true),
        1 => HeaderValue::Bool(false),
        2 => HeaderValue::Byte(i8::from_be_bytes(fixed(b)?)),
        3 => HeaderValue::Short(i16::from_be_bytes(fixed(b)?)),
        4 => HeaderValue::Int(i32::from_be_bytes(fixed(b)?)),
        5 => HeaderValue::Long(i64::from_be_bytes(fixed(b)?)),
        6 | 7 => {
            let len = usize::from(u16::from_be_bytes(fixed(b)?));
            let bytes = take(b, len)?;
            if kind == 6 {
                HeaderValue::Bytes(Bytes::copy_from_slice(bytes))
            } else {
                let s = std::str::from_utf8(bytes)
                    .map_err(|_| frame_error("string header is not UTF-8"))?;
                HeaderValue::String(s.to_owned())
            }
        }
        8 => HeaderValue::Timestamp(i64::from_be_bytes(fixed(b)?)),
        9 => HeaderValue::Uuid(fixed(b)?),
        other => return Err(frame_error(&format!("unknown header type {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // AWS's published event-stream test vectors (encoded/positive).
    const EMPTY_MESSAGE: &[u8] = &[0, 0, 0, 16, 0, 0, 0, 0, 5, 194, 72, 235, 125, 152, 200, 255];
    const INT32_HEADER: &[u8] = &[
        0, 0, 0, 45, 0, 0, 0, 16, 65, 196, 36, 184, 10, 101, 118, 101, 110, 116, 45, 116, 121, 112,
        101, 4, 0, 0, 160, 12, 123, 39, 102, 111, 111, 39, 58, 39, 98, 97, 114, 39, 125, 54, 244,
        128, 160,
    ];
    const PAYLOAD_NO_HEADERS: &[u8] = &[
        0, 0, 0, 29, 0, 0, 0, 0, 253, 82, 140, 90, 123, 39, 102, 111, 111, 39, 58, 39, 98, 97, 114,
        39, 125, 195, 101, 57, 54,
    ];
    const PAYLOAD_ONE_STR_HEADER: &[u8] = &[
        0, 0, 0, 61, 0, 0, 0, 32, 7, 253, 131, 150, 12, 99, 111, 110, 116, 101, 110, 116, 45, 116,
        121, 112, 101, 7, 0, 16, 97, 112, 112, 108, 105, 99, 97, 116, 105, 111, 110, 47, 106, 115,
        111, 110, 123, 39, 102, 111, 111, 39, 58, 39, 98, 97, 114, 39, 125, 141, 156, 8, 177,
    ];
    const FOO_BAR: &[u8] = b"{'foo':'bar'}";

    fn decode_all(bytes: &[u8]) -> Result<Vec<Message>, LlmError> {
        let mut d = Decoder::new();
        let out = d.feed(bytes)?;
        d.finish()?;
        Ok(out)
    }

    fn msg(headers: Vec<(&str, HeaderValue)>, payload: &[u8]) -> Message {
        Message {
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
            payload: Bytes::copy_from_slice(payload),
        }
    }

    #[test]
    fn published_vectors_decode_and_encode_exactly() {
        let cases = [
            (EMPTY_MESSAGE, msg(vec![], b"")),
            (
                INT32_HEADER,
                msg(vec![("event-type", HeaderValue::Int(40972))], FOO_BAR),
            ),
            (PAYLOAD_NO_HEADERS, msg(vec![], FOO_BAR)),
            (
                PAYLOAD_ONE_STR_HEADER,
                msg(
                    vec![(
                        "content-type",
                        HeaderValue::String("application/json".into()),
                    )],
                    FOO_BAR,
                ),
            ),
        ];
        for (wire, want) in cases {
            assert_eq!(decode_all(wire).unwrap(), vec![want.clone()]);
            assert_eq!(want.encode().unwrap(), wire);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let mut bad = PAYLOAD_NO_HEADERS.to_vec();
        bad[8] ^= 1;
        assert!(decode_all(&bad)
            .unwrap_err()
            .to_string()
            .contains("prelude CRC"));
        let mut bad = PAYLOAD_NO_HEADERS.to_vec();
        bad[14] ^= 1;
        assert!(decode_all(&bad)
            .unwrap_err()
            .to_string()
            .contains("message CRC"));
        let err = decode_all(&PAYLOAD_NO_HEADERS[..20]).unwrap_err();
        assert!(err.to_string().contains("ended inside a message"), "{err}");
        // A valid frame whose headers hold an unknown type.
        let mut frame = msg(vec![("x", HeaderValue::Bool(true))], b"")
            .encode()
            .unwrap();
        frame[14] = 42;
        let n = frame.len() - 4;
        let crc = CRC32.checksum(&frame[..n]).to_be_bytes();
        frame[n..].copy_from_slice(&crc);
        assert!(decode_all(&frame)
            .unwrap_err()
            .to_string()
            .contains("unknown header type 42"));
    }

    #[test]
    fn a_decoder_stays_failed_after_an_error() {
        let mut d = Decoder::new();
        let mut bad = EMPTY_MESSAGE.to_vec();
        bad[0] = 9;
        assert!(d.feed(&bad).is_err());
        assert!(d.feed(EMPTY_MESSAGE).is_err());
        assert!(d.finish().is_err());
    }

    #[test]
    fn oversized_lengths_are_refused_before_buffering() {
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&u32::MAX.to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = CRC32.checksum(&prelude).to_be_bytes();
        prelude.extend_from_slice(&crc);
        let err = Decoder::new().feed(&prelude).unwrap_err();
        assert!(err.to_string().contains("bad message length"), "{err}");
    }

    #[test]
    fn encode_refuses_what_the_format_cannot_hold() {
        assert!(msg(vec![("", HeaderValue::Bool(true))], b"")
            .encode()
            .is_err());
        let long = "n".repeat(256);
        assert!(msg(vec![(&long, HeaderValue::Bool(true))], b"")
            .encode()
            .is_err());
        let big = HeaderValue::String("s".repeat(70_000));
        assert!(msg(vec![("a", big)], b"").encode().is_err());
    }

    fn value_strategy() -> impl Strategy<Value = HeaderValue> {
        prop_oneof![
            any::<bool>().prop_map(HeaderValue::Bool),
            any::<i8>().prop_map(HeaderValue::Byte),
            any::<i16>().prop_map(HeaderValue::Short),
            any::<i32>().prop_map(HeaderValue::Int),
            any::<i64>().prop_map(HeaderValue::Long),
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|v| HeaderValue::Bytes(v.into())),
            ".{0,20}".prop_map(HeaderValue::String),
            any::<i64>().prop_map(HeaderValue::Timestamp),
            any::<[u8; 16]>().prop_map(HeaderValue::Uuid),
        ]
    }

    fn message_strategy() -> impl Strategy<Value = Message> {
        let header = ("[:a-zA-Z0-9-]{1,16}", value_strategy());
        (
            proptest::collection::vec(header, 0..6),
            proptest::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(headers, payload)| Message {
                headers,
                payload: payload.into(),
            })
    }

    fn wire(messages: &[Message]) -> Vec<u8> {
        messages.iter().flat_map(|m| m.encode().unwrap()).collect()
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(messages in proptest::collection::vec(message_strategy(), 0..5)) {
            prop_assert_eq!(decode_all(&wire(&messages)).unwrap(), messages);
        }

        #[test]
        fn any_chunking_gives_the_same_messages(
            messages in proptest::collection::vec(message_strategy(), 1..5),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let bytes = wire(&messages);
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut d = Decoder::new();
            let mut got = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                got.extend(d.feed(&bytes[at..cut]).unwrap());
                at = cut;
            }
            d.finish().unwrap();
            prop_assert_eq!(got, messages);
        }

        #[test]
        fn any_single_byte_corruption_is_detected(
            messages in proptest::collection::vec(message_strategy(), 1..4),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut bytes = wire(&messages);
            let at = at.index(bytes.len());
            bytes[at] ^= flip;
            prop_assert!(decode_all(&bytes).is_err());
        }

        #[test]
        fn truncated_input_yields_only_whole_messages_and_never_panics(
            messages in proptest::collection::vec(message_strategy(), 1..4),
            keep in any::<prop::sample::Index>(),
        ) {
            let bytes = wire(&messages);
            let keep = keep.index(bytes.len());
            let mut d = Decoder::new();
            let got = d.feed(&bytes[..keep]).unwrap();
            // Exactly the messages wholly inside the prefix come out; a partial one is an
            // error at the end of the input.
            let mut done = 0;
            let mut whole = 0;
            for m in &messages {
                let len = m.encode().unwrap().len();
                if done + len > keep { break; }
                done += len;
                whole += 1;
            }
            prop_assert_eq!(&got[..], &messages[..whole]);
            prop_assert_eq!(d.finish().is_err(), keep != done);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut d = Decoder::new();
            let _ = d.feed(&bytes);
            let _ = d.finish();
        }
    }
}
