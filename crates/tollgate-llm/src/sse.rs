//! An incremental parser of server-sent events. Bytes go in as they arrive, in chunks of any
//! size; complete events come out. Only the fields this gateway needs are kept: `event` and
//! `data` (multi-line data is joined with `\n`). Comments and `id`/`retry` are dropped.

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
            let mut p = Parser::new();
            let _ = p.feed(&bytes);
            let _ = p.finish();
        }
    }
}
