//! Journal records on disk. A segment (`segment-<n>.tgj`) is a run of frames: the payload's
//! length and its CRC-32C (each a little-endian `u32`), then the payload, the spend event in
//! MessagePack with its field names (so that an event with fields added later still reads).
//! Encoding an event is a few copies of its strings; the JSON lines of earlier versions cost a
//! pass over every byte to escape it, which was a tenth of a call's work. Segments an earlier
//! version left (`segment-<n>.jsonl`, one JSON event per line) are still read on start.
//!
//! A frame cut short by a crash, or one whose checksum does not match, ends the segment's
//! reading: it and anything after it are counted as skipped.

use std::io;
use std::path::Path;

use tollgate_store::SpendEvent;

use super::Backlog;

/// The extension of segments in this format.
pub const EXTENSION: &str = "tgj";
/// The extension of JSON-lines segments written by earlier versions.
pub const LEGACY_EXTENSION: &str = "jsonl";

/// Length and checksum.
const HEADER: usize = 8;
/// The longest payload a reader believes (an event is well under a kilobyte).
const MAX_PAYLOAD: usize = 1 << 20;

/// Appends one event's frame to `out`.
pub fn encode(event: &SpendEvent, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    rmp_serde::encode::write_named(out, event)?;
    let payload = &out[start + HEADER..];
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let crc = checksum(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Reads one segment's events into `backlog`, in either format.
pub fn read(path: &Path, backlog: &mut Backlog) -> io::Result<()> {
    let bytes = std::fs::read(path)?;
    let legacy = path.extension().and_then(|e| e.to_str()) == Some(LEGACY_EXTENSION);
    let skipped = if legacy {
        read_lines(&bytes, &mut backlog.events)
    } else {
        read_frames(&bytes, &mut backlog.events)
    };
    if skipped > 0 {
        tracing::warn!(file = %path.display(), skipped, "skipping unreadable journal records");
    }
    backlog.skipped += skipped;
    Ok(())
}

/// Frames until the end or the first bad one; returns how many were skipped.
fn read_frames(bytes: &[u8], events: &mut Vec<SpendEvent>) -> usize {
    let mut at = 0;
    let mut skipped = 0;
    while at < bytes.len() {
        let Some(frame) = frame_at(bytes, at) else {
            return skipped + 1;
        };
        match rmp_serde::from_slice::<SpendEvent>(frame) {
            Ok(e) => events.push(e),
            Err(_) => skipped += 1,
        }
        at += HEADER + frame.len();
    }
    skipped
}

/// CRC-32C (Castagnoli), with the processor's own instruction where it has one (SSE 4.2, Arm
/// CRC): a table-driven CRC was 0.8 % of the gateway's CPU under load.
fn checksum(payload: &[u8]) -> u32 {
    crc32c::crc32c(payload)
}

/// The payload of the frame at `at`, if it is whole and its checksum matches.
fn frame_at(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if len == 0 || len > MAX_PAYLOAD {
        return None;
    }
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    (checksum(payload) == crc).then_some(payload)
}

/// JSON lines (earlier versions); returns how many lines were unreadable.
fn read_lines(bytes: &[u8], events: &mut Vec<SpendEvent>) -> usize {
    let mut skipped = 0;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<SpendEvent>(line) {
            Ok(e) => events.push(e),
            Err(_) => skipped += 1,
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A test event, its times whole microseconds (what the journal keeps).
    fn event(id: &str) -> SpendEvent {
        let mut e = super::super::tests::event(id);
        let micros = |t: chrono::DateTime<chrono::Utc>| {
            chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
        };
        e.start_time = micros(e.start_time);
        e.end_time = micros(e.end_time);
        e
    }

    #[test]
    fn the_checksum_is_crc32c() {
        assert_eq!(checksum(b"123456789"), 0xE306_9283);
        assert_eq!(checksum(&[0xAB; 1000]), 0x97CA_917B);
        assert_eq!(checksum(b""), 0);
    }

    proptest! {
        /// Segments written by earlier versions (a table-driven CRC-32C) still read.
        #[test]
        fn the_checksum_is_the_one_earlier_versions_wrote(payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let table = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
            prop_assert_eq!(checksum(&payload), table.checksum(&payload));
        }
    }

    #[test]
    fn frames_round_trip_and_a_damaged_one_ends_the_reading() {
        let mut bytes = Vec::new();
        let mut e = event("a");
        e.tags = vec!["x".into(), "é\"".into()];
        e.metadata.insert("error".into(), serde_json::json!("boom"));
        e.completion_start_time = Some(e.start_time);
        encode(&e, &mut bytes).unwrap();
        encode(&event("b"), &mut bytes).unwrap();
        let mut events = Vec::new();
        assert_eq!(read_frames(&bytes, &mut events), 0);
        assert_eq!(events, vec![e, event_like(&events[1], "b")]);

        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let mut events = Vec::new();
        assert_eq!(read_frames(&flipped, &mut events), 1);
        assert_eq!(events.len(), 1);

        let mut events = Vec::new();
        assert_eq!(read_frames(&bytes[..bytes.len() - 3], &mut events), 1);
        assert_eq!(events.len(), 1);
    }

    /// `event(id)` with the times of `seen` (they are taken when the event is made).
    fn event_like(seen: &SpendEvent, id: &str) -> SpendEvent {
        SpendEvent {
            start_time: seen.start_time,
            end_time: seen.end_time,
            ..event(id)
        }
    }

    #[test]
    fn json_lines_of_earlier_versions_are_read() {
        let mut text = serde_json::to_string(&event("old")).unwrap();
        text.push_str("\n{torn");
        let mut events = Vec::new();
        assert_eq!(read_lines(text.as_bytes(), &mut events), 1);
        assert_eq!(events[0].request_id, "old");
    }

    proptest! {
        /// Whatever bytes a segment holds (a crash, a disk gone bad), reading it never panics.
        #[test]
        fn any_bytes_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut events = Vec::new();
            let _ = read_frames(&bytes, &mut events);
            let _ = read_lines(&bytes, &mut events);
        }

        /// Any prefix of a run of frames reads the whole frames in it, and no others.
        #[test]
        fn a_cut_segment_reads_its_whole_frames(n in 1usize..5, cut in any::<prop::sample::Index>()) {
            let mut bytes = Vec::new();
            let mut ends = Vec::new();
            for i in 0..n {
                encode(&event(&format!("e{i}")), &mut bytes).unwrap();
                ends.push(bytes.len());
            }
            let at = cut.index(bytes.len() + 1);
            let mut events = Vec::new();
            read_frames(&bytes[..at], &mut events);
            prop_assert_eq!(events.len(), ends.iter().filter(|e| **e <= at).count());
        }
    }
}
