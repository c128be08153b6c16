//! Server-sent events. [`Parser`] turns bytes, in chunks of any size, into complete events,
//! keeping only the fields this gateway needs: `event` and `data` (multi-line data is joined
//! with `\n`); comments and `id`/`retry` are dropped. [`Cutter`] is for relaying: it cuts the
//! bytes into whole events without reading them, so that each can be passed on as it came
//! (slices of the chunks that arrived, copied only when an event spans two chunks), and
//! [`data`] reads an event's data when it is needed.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

impl Event {
    /// The event in wire form, ending with the blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 16);
        if let Some(e) = &self.event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        for line in self.data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out
    }
}

/// Parser state between chunks.
#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    /// A `\r` ended the last chunk: a `\n` starting the next one belongs to it.
    after_cr: bool,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut events);
                }
                _ => self.line.push(b),
            }
        }
        events
    }

    /// Ends the stream: a final event without its blank line is still delivered.
    pub fn finish(&mut self) -> Option<Event> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut events);
        }
        self.end_line(&mut events);
        events.pop()
    }

    fn end_line(&mut self, events: &mut Vec<Event>) {
        if self.line.is_empty() {
            if let Some(data) = self.data.take() {
                events.push(Event {
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            return;
        }
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
    }
}

/// Cuts a byte stream into whole events (each with the blank line that ends it).
#[derive(Debug, Default)]
pub struct Cutter {
    /// The start of an event whose end has not arrived yet.
    held: BytesMut,
    line: Lines,
}

/// Where the bytes so far left the current line.
#[derive(Debug, Default)]
struct Lines {
    /// Bytes on the current line so far, not counting line ends.
    len: usize,
    /// The last byte was a `\r`: a `\n` right after it ends the same line.
    after_cr: bool,
}

impl Lines {
    /// Whether the line end `b` ends an event (it ends a blank line).
    fn end(&mut self, b: u8) -> bool {
        if std::mem::take(&mut self.after_cr) && b == b'\n' {
            return false;
        }
        self.after_cr = b == b'\r';
        std::mem::take(&mut self.len) == 0
    }

    /// Runs `bytes` through; `ended(i)` for each byte that ends an event.
    fn scan(&mut self, bytes: &[u8], mut ended: impl FnMut(usize)) {
        let mut next = 0;
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            if i > next {
                self.len += i - next;
                self.after_cr = false;
            }
            if self.end(bytes[i]) {
                ended(i);
            }
            next = i + 1;
        }
        if next < bytes.len() {
            self.len += bytes.len() - next;
            self.after_cr = false;
        }
    }
}

impl Cutter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no event is partly read (the bytes so far ended with an event).
    pub fn is_idle(&self) -> bool {
        self.held.is_empty()
    }

    /// Feeds bytes; appends the events they complete to `out`.
    pub fn feed(&mut self, input: Bytes, out: &mut Vec<Bytes>) {
        let scanned = self.held.len();
        if scanned == 0 {
            let mut start = 0;
            self.line.scan(&input, |i| {
                out.push(input.slice(start..=i));
                start = i + 1;
            });
            self.held.extend_from_slice(&input[start..]);
            return;
        }
        let mut ends = Vec::new();
        self.held.extend_from_slice(&input);
        self.line
            .scan(&self.held[scanned..], |i| ends.push(scanned + i + 1));
        let mut taken = 0;
        for end in ends {
            out.push(self.held.split_to(end - taken).freeze());
            taken = end;
        }
    }

    /// The stream ended: whatever it left unterminated.
    pub fn finish(&mut self) -> Option<Bytes> {
        (!self.held.is_empty()).then(|| std::mem::take(&mut self.held).freeze())
    }
}

/// The data of an event in wire form: its `data` lines joined with `\n`; `None` without any.
/// Every event of a relayed stream is read here, so lines are found with `memchr` and valid
/// UTF-8 (all of it, in practice) is borrowed after the standard library's fast check.
pub fn data(event: &[u8]) -> Option<Cow<'_, str>> {
    let mut out: Option<Cow<'_, str>> = None;
    let mut start = 0;
    let ends = memchr::memchr2_iter(b'\n', b'\r', event).chain(std::iter::once(event.len()));
    for end in ends {
        let line = &event[start..end];
        start = end + 1;
        let Some(value) = line.strip_prefix(b"data:") else {
            continue;
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let value = match std::str::from_utf8(value) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        out = Some(match out {
            None => value,
            Some(prev) => Cow::Owned(format!("{prev}\n{value}")),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cut_all(chunks: &[&[u8]]) -> (Vec<Bytes>, Option<Bytes>) {
        let mut c = Cutter::new();
        let mut out = Vec::new();
        for chunk in chunks {
            c.feed(Bytes::copy_from_slice(chunk), &mut out);
        }
        (out, c.finish())
    }

    #[test]
    fn events_are_cut_where_they_end() {
        let (events, tail) = cut_all(&[
            b"data: {\"a\":1}\n\nda",
            b"ta: 2\r\n\r\nevent: x\ndata: 3\n\n: c\n\ndata: 4",
        ]);
        let texts: Vec<&[u8]> = events.iter().map(|e| e.as_ref()).collect();
        assert_eq!(
            texts,
            vec![
                b"data: {\"a\":1}\n\n".as_slice(),
                b"data: 2\r\n\r",
                b"\nevent: x\ndata: 3\n\n",
                b": c\n\n",
            ]
        );
        assert_eq!(tail.as_deref(), Some(b"data: 4".as_slice()));
        assert_eq!(data(&events[0]).as_deref(), Some("{\"a\":1}"));
        assert_eq!(data(&events[1]).as_deref(), Some("2"));
        assert_eq!(data(&events[2]).as_deref(), Some("3"));
        assert_eq!(data(&events[3]), None);
        assert_eq!(data(b"data:x\ndata: y\n\n").as_deref(), Some("x\ny"));
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new();
        let mut out: Vec<Event> = chunks.iter().flat_map(|c| p.feed(c)).collect();
        out.extend(p.finish());
        out
    }

    #[test]
    fn openai_stream() {
        let raw = b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n";
        let ev = parse_all(&[raw]);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].data, "{\"a\":1}");
        assert_eq!(ev[2].data, "[DONE]");
    }

    #[test]
    fn named_events_comments_and_crlf() {
        let raw = b": keepalive\r\nevent: message_start\r\ndata: {}\r\n\r\nevent: ping\ndata:x\ndata: y\n\n";
        let ev = parse_all(&[raw]);
        assert_eq!(ev[0].event.as_deref(), Some("message_start"));
        assert_eq!(ev[1].data, "x\ny");
    }

    #[test]
    fn unterminated_last_event_is_delivered() {
        let ev = parse_all(&[b"data: tail"]);
        assert_eq!(
            ev,
            vec![Event {
                event: None,
                data: "tail".into()
            }]
        );
    }

    #[test]
    fn wire_form_round_trips() {
        let e = Event {
            event: Some("x".into()),
            data: "a\nb".into(),
        };
        assert_eq!(parse_all(&[&e.to_bytes()]), vec![e]);
    }

    fn stream_strategy() -> impl Strategy<Value = Vec<Event>> {
        let data = "[ -~]{0,40}".prop_map(|s: String| s.replace(['\r', '\n'], ""));
        let ev = (proptest::option::of("[a-z_]{1,12}"), data)
            .prop_map(|(event, data)| Event { event, data });
        proptest::collection::vec(ev, 0..20)
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(events in stream_strategy(), cuts in proptest::collection::vec(0usize..2000, 0..30)) {
            let bytes: Vec<u8> = events.iter().flat_map(Event::to_bytes).collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for c in cuts {
                chunks.push(&bytes[start..c.max(start)]);
                start = c.max(start);
            }
            chunks.push(&bytes[start..]);
            prop_assert_eq!(parse_all(&chunks), events);
        }

        /// Cut and relayed, the bytes are the same bytes, and each event's data is what the
        /// parser reads, however the stream was chunked.
        #[test]
        fn cutting_keeps_every_byte_and_event(events in stream_strategy(), cuts in proptest::collection::vec(0usize..2000, 0..30), crlf in any::<bool>()) {
            let mut bytes: Vec<u8> = events.iter().flat_map(Event::to_bytes).collect();
            if crlf {
                bytes = String::from_utf8_lossy(&bytes).replace('\n', "\r\n").into_bytes();
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for c in cuts {
                chunks.push(&bytes[start..c.max(start)]);
                start = c.max(start);
            }
            chunks.push(&bytes[start..]);
            let (cut, tail) = cut_all(&chunks);
            let joined: Vec<u8> = cut.iter().flat_map(|b| b.to_vec()).chain(tail.iter().flat_map(|b| b.to_vec())).collect();
            prop_assert_eq!(&joined, &bytes);
            let datas: Vec<String> = cut.iter().filter_map(|e| data(e)).map(|d| d.into_owned()).collect();
            let expected: Vec<String> = events.iter().map(|e| e.data.clone()).collect();
            prop_assert_eq!(datas, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
            let mut p = Parser::new();
            let _ = p.feed(&bytes);
            let _ = p.finish();
            let mut c = Cutter::new();
            let mut out = Vec::new();
            c.feed(Bytes::from(bytes), &mut out);
            for e in out.iter().chain(c.finish().as_ref()) {
                let _ = data(e);
            }
        }

        /// `data` reads what a plain reading of the lines reads: split at every `\n` and
        /// `\r`, invalid UTF-8 replaced.
        #[test]
        fn data_reads_every_data_line(
            lines in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40), 0usize..4),
                0..8,
            )
        ) {
            let mut event = Vec::new();
            for (is_data, bytes, end) in &lines {
                if *is_data {
                    event.extend_from_slice(b"data:");
                }
                event.extend_from_slice(bytes);
                event.extend_from_slice([&b"\n"[..], b"\r", b"\r\n", b""][*end]);
            }
            let plain: Vec<String> = event
                .split(|b| *b == b'\n' || *b == b'\r')
                .filter_map(|l| l.strip_prefix(b"data:"))
                .map(|v| String::from_utf8_lossy(v.strip_prefix(b" ").unwrap_or(v)).into_owned())
                .collect();
            let expected = (!plain.is_empty()).then(|| plain.join("\n"));
            prop_assert_eq!(data(&event).map(Cow::into_owned), expected);
        }
    }
}
