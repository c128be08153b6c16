//! PostgreSQL's binary `COPY` format, read: a signature and header, then one tuple after another
//! (a field count, then each field as its length and bytes; `-1` for NULL), then a trailer
//! (a field count of `-1`). The daily reader takes its rows this way because each row of a
//! query result costs the driver far more than its bytes do (a row object, its column list,
//! a value decoded through the type system for each column); here a row is a few spans of the
//! bytes that came.
//!
//! The bytes come in pieces of any size (the server sends a message per tuple, but nothing
//! promises it); a tuple cut between two pieces waits for the rest.

use super::analytics::Columns;
use crate::{Result, StoreError};

/// What every binary `COPY` begins with.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// The signature, the flags and the header extension's length.
const HEADER: usize = SIGNATURE.len() + 8;
/// The most fields a tuple of ours has.
const MAX_FIELDS: usize = 16;

fn bad(what: &str) -> StoreError {
    StoreError::Database(format!("binary COPY data: {what}"))
}

/// Marks a NULL field's start.
const NULL: u32 = u32::MAX;

/// One tuple: its bytes and where each field lies in them (start and end; a start of [`NULL`]
/// for NULL). Offsets are `u32`, as a tuple comes in one message of at most 1 GB: the tuple is
/// small enough to be handed around by value.
#[derive(Debug)]
pub(super) struct Tuple<'a> {
    bytes: &'a [u8],
    fields: [(u32, u32); MAX_FIELDS],
    len: usize,
}

impl Tuple<'_> {
    fn field(&self, i: usize) -> Result<&[u8]> {
        match self.fields[..self.len].get(i) {
            Some((NULL, _)) => Err(bad(&format!("column {i} is NULL"))),
            Some((start, end)) => Ok(&self.bytes[*start as usize..*end as usize]),
            None => Err(bad(&format!("no column {i}"))),
        }
    }

    fn eight(&self, i: usize) -> Result<[u8; 8]> {
        self.field(i)?
            .try_into()
            .map_err(|_| bad(&format!("column {i} is not 8 bytes")))
    }
}

/// Texts are UTF-8 bytes, `BIGINT` eight bytes and `DOUBLE PRECISION` an IEEE 754 double, both
/// big-endian.
impl Columns for Tuple<'_> {
    fn text(&self, i: usize) -> Result<&[u8]> {
        self.field(i)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(i64::from_be_bytes(self.eight(i)?))
    }
    fn real(&self, i: usize) -> Result<f64> {
        Ok(f64::from_bits(u64::from_be_bytes(self.eight(i)?)))
    }
}

/// A big-endian integer of `N` bytes at `at`, if the bytes reach that far.
fn int_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// What the front of some bytes holds.
enum Next<'a> {
    /// Not enough bytes yet.
    More,
    /// The header, this many bytes long.
    Header(usize),
    /// A tuple, this many bytes long.
    Tuple(Tuple<'a>, usize),
    /// The trailer (two bytes).
    End,
}

fn header(bytes: &[u8]) -> Result<Next<'_>> {
    if bytes.len() < HEADER {
        return Ok(Next::More);
    }
    if !bytes.starts_with(SIGNATURE) {
        return Err(bad("no signature"));
    }
    let Some(ext) = int_at::<4>(bytes, SIGNATURE.len() + 4) else {
        return Ok(Next::More);
    };
    let ext = usize::try_from(u32::from_be_bytes(ext)).map_err(|_| bad("header too long"))?;
    let len = HEADER
        .checked_add(ext)
        .ok_or_else(|| bad("header too long"))?;
    Ok(if bytes.len() < len {
        Next::More
    } else {
        Next::Header(len)
    })
}

fn tuple(bytes: &[u8]) -> Result<Next<'_>> {
    let Some(count) = int_at::<2>(bytes, 0) else {
        return Ok(Next::More);
    };
    let count = i16::from_be_bytes(count);
    if count == -1 {
        return Ok(Next::End);
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|n| *n <= MAX_FIELDS)
        .ok_or_else(|| bad(&format!("a tuple of {count} fields")))?;
    let mut t = Tuple {
        bytes,
        fields: [(NULL, 0); MAX_FIELDS],
        len: count,
    };
    let mut at = 2;
    for field in &mut t.fields[..count] {
        let Some(len) = int_at::<4>(bytes, at) else {
            return Ok(Next::More);
        };
        at += 4;
        let len = i32::from_be_bytes(len);
        if len == -1 {
            continue;
        }
        let len = usize::try_from(len).map_err(|_| bad("a negative length"))?;
        let end = at.checked_add(len).ok_or_else(|| bad("a field too long"))?;
        if end > bytes.len() {
            return Ok(Next::More);
        }
        let offset = |n: usize| u32::try_from(n).ok().filter(|n| *n != NULL);
        *field = match (offset(at), offset(end)) {
            (Some(start), Some(end)) => (start, end),
            _ => return Err(bad("a tuple longer than a message")),
        };
        at = end;
    }
    Ok(Next::Tuple(t, at))
}

/// Reads a binary `COPY` stream piece by piece.
#[derive(Debug, Default)]
pub(super) struct CopyReader {
    /// The start of a header or tuple whose end has not come yet.
    held: Vec<u8>,
    header_read: bool,
    ended: bool,
}

impl CopyReader {
    /// Reads the tuples `piece` completes, handing each to `row`.
    pub fn feed(
        &mut self,
        piece: &[u8],
        mut row: impl FnMut(&Tuple<'_>) -> Result<()>,
    ) -> Result<()> {
        if self.held.is_empty() {
            let used = self.read(piece, &mut row)?;
            self.held.extend_from_slice(&piece[used..]);
            return Ok(());
        }
        self.held.extend_from_slice(piece);
        let held = std::mem::take(&mut self.held);
        let used = self.read(&held, &mut row)?;
        self.held = held;
        self.held.drain(..used);
        Ok(())
    }

    /// Reads what it can of `bytes`; returns how many bytes that was.
    fn read(
        &mut self,
        bytes: &[u8],
        row: &mut impl FnMut(&Tuple<'_>) -> Result<()>,
    ) -> Result<usize> {
        let mut at = 0;
        loop {
            let rest = &bytes[at..];
            if self.ended {
                if rest.is_empty() {
                    return Ok(at);
                }
                return Err(bad("bytes after the trailer"));
            }
            let next = if self.header_read {
                tuple(rest)?
            } else {
                header(rest)?
            };
            match next {
                Next::More => return Ok(at),
                Next::Header(len) => {
                    self.header_read = true;
                    at += len;
                }
                Next::Tuple(t, len) => {
                    row(&t)?;
                    at += len;
                }
                Next::End => {
                    self.ended = true;
                    at += 2;
                }
            }
        }
    }

    /// The stream is over: it must have ended with its trailer.
    pub fn finish(self) -> Result<()> {
        if self.ended && self.held.is_empty() {
            Ok(())
        } else {
            Err(bad("cut short"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Field {
        Null,
        Text(String),
        Int(i64),
        Real(f64),
    }

    fn encode(rows: &[Vec<Field>], extension: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&u32::try_from(extension.len()).unwrap().to_be_bytes());
        out.extend_from_slice(extension);
        for r in rows {
            out.extend_from_slice(&i16::try_from(r.len()).unwrap().to_be_bytes());
            for f in r {
                let bytes = match f {
                    Field::Null => {
                        out.extend_from_slice(&(-1i32).to_be_bytes());
                        continue;
                    }
                    Field::Text(s) => s.as_bytes().to_vec(),
                    Field::Int(i) => i.to_be_bytes().to_vec(),
                    Field::Real(x) => x.to_bits().to_be_bytes().to_vec(),
                };
                out.extend_from_slice(&i32::try_from(bytes.len()).unwrap().to_be_bytes());
                out.extend_from_slice(&bytes);
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// Reads `bytes` cut at `cuts`, each tuple's fields read back as the types `like` has.
    fn read(bytes: &[u8], cuts: &[usize], like: &[Vec<Field>]) -> Result<Vec<Vec<Field>>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(bytes.len());
        let mut reader = CopyReader::default();
        let mut out = Vec::new();
        let mut start = 0;
        for c in cuts {
            reader.feed(&bytes[start..c.max(start)], |t| {
                let shape = &like[out.len()];
                let mut fields = Vec::new();
                for (i, f) in shape.iter().enumerate() {
                    fields.push(match f {
                        Field::Null => {
                            assert!(t.text(i).is_err());
                            Field::Null
                        }
                        Field::Text(_) => {
                            Field::Text(String::from_utf8(t.text(i)?.to_vec()).unwrap())
                        }
                        Field::Int(_) => Field::Int(t.int(i)?),
                        Field::Real(_) => Field::Real(t.real(i)?),
                    });
                }
                out.push(fields);
                Ok(())
            })?;
            start = c.max(start);
        }
        reader.finish()?;
        Ok(out)
    }

    fn field() -> impl Strategy<Value = Field> {
        prop_oneof![
            Just(Field::Null),
            ".{0,20}".prop_map(Field::Text),
            any::<i64>().prop_map(Field::Int),
            any::<f64>()
                .prop_filter("comparable", |x| !x.is_nan())
                .prop_map(Field::Real),
        ]
    }

    proptest! {
        #[test]
        fn any_cutting_reads_every_tuple(
            rows in proptest::collection::vec(proptest::collection::vec(field(), 0..MAX_FIELDS), 0..20),
            extension in proptest::collection::vec(any::<u8>(), 0..8),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let bytes = encode(&rows, &extension);
            prop_assert_eq!(read(&bytes, &cuts, &rows).unwrap(), rows);
        }

        #[test]
        fn a_stream_cut_short_is_an_error(
            rows in proptest::collection::vec(proptest::collection::vec(field(), 1..4), 1..5),
            cut in any::<usize>(),
        ) {
            let bytes = encode(&rows, &[]);
            let end = cut % bytes.len();
            prop_assert!(read(&bytes[..end], &[], &rows).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
            signed in any::<bool>(),
        ) {
            let mut all = if signed { encode(&[], &[])[..HEADER].to_vec() } else { Vec::new() };
            all.extend_from_slice(&bytes);
            let mut reader = CopyReader::default();
            let mut start = 0;
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (all.len() + 1)).collect();
            cuts.sort_unstable();
            for c in cuts {
                let _ = reader.feed(&all[start..c.max(start)], |t| {
                    for i in 0..MAX_FIELDS + 1 {
                        let _ = (t.text(i), t.int(i), t.real(i));
                    }
                    Ok(())
                });
                start = c.max(start);
            }
        }
    }

    #[test]
    fn bad_input_names_the_problem() {
        let err = |bytes: &[u8]| {
            let mut r = CopyReader::default();
            r.feed(bytes, |_| Ok(()))
                .and_then(|()| r.finish())
                .unwrap_err()
                .to_string()
        };
        assert!(err(b"PGCOPY\n\xff\r\n\x01xxxxxxxxxx").contains("no signature"));
        let mut tail = encode(&[], &[]);
        tail.push(0);
        assert!(err(&tail).contains("after the trailer"));
        let mut wide = encode(&[], &[]);
        wide.truncate(HEADER);
        wide.extend_from_slice(&100i16.to_be_bytes());
        assert!(err(&wide).contains("100 fields"));
        let one = encode(&[vec![Field::Int(1), Field::Text("ab".into())]], &[]);
        let mut r = CopyReader::default();
        r.feed(&one, |t| {
            assert_eq!(t.int(0)?, 1);
            assert!(t.int(1).unwrap_err().to_string().contains("not 8 bytes"));
            assert!(t.text(2).unwrap_err().to_string().contains("no column 2"));
            Ok(())
        })
        .unwrap();
        r.finish().unwrap();
    }
}
