//! The Redis wire format (RESP2) as the shared limits speak it: a command is an array of bulk
//! strings, encoded as its arguments are added; replies are read off a buffer as the bytes
//! arrive ([`parse`] says how many bytes a complete reply took, or that more are needed).

/// Deepest nesting of arrays a reply may have (the scripts answer two levels deep).
const MAX_DEPTH: usize = 16;

/// One command, its arguments encoded as they are added.
#[derive(Debug, Clone)]
pub struct Command {
    count: usize,
    body: Vec<u8>,
}

impl Command {
    pub fn new(name: &str) -> Self {
        let mut c = Self {
            count: 0,
            body: Vec::with_capacity(256),
        };
        c.arg(name);
        c
    }

    /// An empty list of arguments (keys or arguments of a script call), for [`Command::append`].
    pub fn list() -> Self {
        Self {
            count: 0,
            body: Vec::with_capacity(128),
        }
    }

    /// How many arguments there are.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds the arguments of `list`.
    pub fn append(&mut self, list: &Command) -> &mut Self {
        self.count += list.count;
        self.body.extend_from_slice(&list.body);
        self
    }

    /// Adds one argument: text or a number.
    pub fn arg(&mut self, a: impl Arg) -> &mut Self {
        self.count += 1;
        a.encode(&mut self.body);
        self
    }

    /// Appends the command as Redis reads it to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.push(b'*');
        out.extend_from_slice(itoa::Buffer::new().format(self.count).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }
}

/// Something a command can carry as an argument (a bulk string on the wire).
pub trait Arg {
    fn encode(&self, out: &mut Vec<u8>);
}

fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(bytes.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

impl Arg for &str {
    fn encode(&self, out: &mut Vec<u8>) {
        bulk(out, self.as_bytes());
    }
}

impl Arg for &String {
    fn encode(&self, out: &mut Vec<u8>) {
        bulk(out, self.as_bytes());
    }
}

impl Arg for String {
    fn encode(&self, out: &mut Vec<u8>) {
        bulk(out, self.as_bytes());
    }
}

macro_rules! integer_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                bulk(out, itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}
integer_arg!(i64, u64, u32, usize);

impl Arg for f64 {
    /// In its shortest form that reads back to the same value (`1e-7`, `0.25`): `INCRBYFLOAT`,
    /// `SET` values read back by either and Lua's `tonumber` all take exponents.
    fn encode(&self, out: &mut Vec<u8>) {
        bulk(out, ryu::Buffer::new().format(*self).as_bytes());
    }
}

/// One reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `$-1` or `*-1`: no value.
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    /// `+OK` and the like.
    Simple(String),
    /// `-ERR ...`: the command failed (the connection is fine).
    Error(String),
    Array(Vec<Reply>),
}

/// Bytes that are not a reply: the connection cannot be trusted any more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply from Redis: {0}")]
pub struct Malformed(pub &'static str);

/// The first reply in `buf` and how many bytes it took, or `None` when it is not complete yet.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, Malformed> {
    let mut at = 0;
    Ok(value(buf, &mut at, 0)?.map(|r| (r, at)))
}

/// The line starting at `*at` (without its CRLF), moving `*at` past it.
fn line<'b>(buf: &'b [u8], at: &mut usize) -> Option<&'b [u8]> {
    let rest = buf.get(*at..)?;
    let end = memchr::memchr(b'\n', rest)?;
    let text = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
    *at += end + 1;
    Some(text)
}

fn number(text: &[u8]) -> Result<i64, Malformed> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(Malformed("a length or an integer is not a number"))
}

fn value(buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Reply>, Malformed> {
    let Some(&kind) = buf.get(*at) else {
        return Ok(None);
    };
    let start = *at;
    *at += 1;
    let Some(head) = line(buf, at) else {
        *at = start;
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(head).into_owned();
    let reply = match kind {
        b'+' => Reply::Simple(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Int(number(head)?),
        b'$' => match usize::try_from(number(head)?) {
            Err(_) => Reply::Nil,
            Ok(len) => {
                let end = at.checked_add(len).ok_or(Malformed("bulk too long"))?;
                if buf.len() < end + 2 {
                    *at = start;
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(Malformed(
                        "a bulk string does not end where its length says",
                    ));
                }
                let bytes = buf[*at..end].to_vec();
                *at = end + 2;
                Reply::Bulk(bytes)
            }
        },
        b'*' => match usize::try_from(number(head)?) {
            Err(_) => Reply::Nil,
            Ok(_) if depth >= MAX_DEPTH => return Err(Malformed("arrays nested too deep")),
            Ok(n) => {
                let mut items = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    match value(buf, at, depth + 1)? {
                        Some(item) => items.push(item),
                        None => {
                            *at = start;
                            return Ok(None);
                        }
                    }
                }
                Reply::Array(items)
            }
        },
        _ => return Err(Malformed("unknown reply type")),
    };
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `reply` as Redis sends it.
    fn encode(reply: &Reply, out: &mut Vec<u8>) {
        match reply {
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Int(i) => out.extend_from_slice(format!(":{i}\r\n").as_bytes()),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Simple(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
            Reply::Error(s) => out.extend_from_slice(format!("-{s}\r\n").as_bytes()),
            Reply::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for i in items {
                    encode(i, out);
                }
            }
        }
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let text = "[a-zA-Z0-9 :._-]{0,12}";
        let leaf = prop_oneof![
            Just(Reply::Nil),
            any::<i64>().prop_map(Reply::Int),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Reply::Bulk),
            text.prop_map(Reply::Simple),
            text.prop_map(Reply::Error),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(Reply::Array)
        })
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut c = Command::new("SET");
        c.arg("k").arg(12_u64).arg(-3_i64).arg(0.000_000_1_f64);
        let mut out = Vec::new();
        c.write_to(&mut out);
        assert_eq!(
            out,
            b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$2\r\n-3\r\n$4\r\n1e-7\r\n"
        );
    }

    #[test]
    fn reads_what_redis_sends() {
        let wire = b"*2\r\n*2\r\n$4\r\n0.25\r\n$-1\r\n*3\r\n:1\r\n:-9\r\n+OK\r\n-NOSCRIPT x\r\n";
        let (first, used) = parse(wire).unwrap().unwrap();
        assert_eq!(
            first,
            Reply::Array(vec![
                Reply::Array(vec![Reply::Bulk(b"0.25".to_vec()), Reply::Nil]),
                Reply::Array(vec![
                    Reply::Int(1),
                    Reply::Int(-9),
                    Reply::Simple("OK".into())
                ]),
            ])
        );
        let (second, rest) = parse(&wire[used..]).unwrap().unwrap();
        assert_eq!(second, Reply::Error("NOSCRIPT x".into()));
        assert_eq!(used + rest, wire.len());
    }

    #[test]
    fn rejects_what_is_not_a_reply() {
        assert!(parse(b"?what\r\n").is_err());
        assert!(parse(b":12a\r\n").is_err());
        assert!(parse(b"$3\r\nabcd\r\n").is_err());
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(parse(deep.as_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn every_reply_reads_back_whole_and_no_prefix_reads_as_one(r in reply()) {
            let mut wire = Vec::new();
            encode(&r, &mut wire);
            wire.extend_from_slice(b":7\r\n");
            let whole = wire.len() - 4;
            prop_assert_eq!(parse(&wire).unwrap(), Some((r, whole)));
            for cut in 0..whole {
                prop_assert_eq!(parse(&wire[..cut]).unwrap(), None);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(Some((_, used))) = parse(&bytes) {
                prop_assert!(used <= bytes.len());
            }
        }
    }
}
