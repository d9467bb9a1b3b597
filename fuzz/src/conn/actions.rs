//! The `connection` target's input: a script of client actions, decoded with
//! `arbitrary` from a simple byte format (so seeds can be written by hand or by
//! fuzz/gen_seeds.py):
//!
//! ```text
//! script := action*            (the first MAX_ACTIONS are used)
//! action := op:u8 args         (op % 8 picks the action)
//!   0      Raw        len:u8 bytes[len]          send these bytes
//!   1, 7   Menu       item:u8 arg:u8 split:u8    send a request from menu.rs, in two
//!                                                writes cut at `split` (0 = one write)
//!   2      Pause      ms:u8                      sleep ms % 20; 255 = stall past the
//!                                                server's head/body timeout
//!   3      Read       ms:u8                      read for up to ms % 50 ms
//!   4      HalfClose                             shutdown(Write); if op / 8 is odd and the
//!                                                connection is TLS, a corrupt record first
//!   5      Repeat     len:u8 bytes[len % 64 + 1] count:u16le
//!                                                send the bytes count % 512 + 1 times
//!   6      Reconnect                             finish this connection, open another
//! ```
//!
//! Missing bytes at the end read as zero (that is how `arbitrary` fills integers).

use arbitrary::{Arbitrary, Result, Unstructured};

/// At most this many actions run per input, so each run stays short.
pub const MAX_ACTIONS: usize = 20;

/// One client action.
#[derive(Clone, Debug)]
pub enum Action {
    Raw(Vec<u8>),
    Menu {
        item: u8,
        arg: u8,
        split: u8,
    },
    Pause {
        ms: u8,
    },
    Read {
        ms: u8,
    },
    /// `tamper`: on a TLS connection, a record that cannot decrypt goes first.
    HalfClose {
        tamper: bool,
    },
    Repeat {
        unit: Vec<u8>,
        count: u16,
    },
    Reconnect,
}

/// The decoded script.
#[derive(Clone, Debug)]
pub struct Script(pub Vec<Action>);

impl<'a> Arbitrary<'a> for Action {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let op = u8::arbitrary(u)?;
        Ok(match op % 8 {
            0 => {
                let len = usize::from(u8::arbitrary(u)?).min(u.len());
                Action::Raw(u.bytes(len)?.to_vec())
            }
            1 | 7 => Action::Menu {
                item: u8::arbitrary(u)?,
                arg: u8::arbitrary(u)?,
                split: u8::arbitrary(u)?,
            },
            2 => Action::Pause {
                ms: u8::arbitrary(u)?,
            },
            3 => Action::Read {
                ms: u8::arbitrary(u)?,
            },
            4 => Action::HalfClose {
                tamper: (op / 8) % 2 == 1,
            },
            5 => {
                let len = (usize::from(u8::arbitrary(u)?) % 64 + 1).min(u.len());
                let unit = u.bytes(len)?.to_vec();
                let count = u16::arbitrary(u)?;
                Action::Repeat { unit, count }
            }
            _ => Action::Reconnect,
        })
    }
}

/// Decodes actions until the input ends or `max_actions` are read.
pub fn decode_actions<'a, A: Arbitrary<'a>>(
    u: &mut Unstructured<'a>,
    max_actions: usize,
) -> Result<Vec<A>> {
    let mut actions = Vec::new();
    while !u.is_empty() && actions.len() < max_actions {
        actions.push(A::arbitrary(u)?);
    }
    Ok(actions)
}

impl<'a> Arbitrary<'a> for Script {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Script(decode_actions(u, MAX_ACTIONS)?))
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        Self::arbitrary(&mut u)
    }
}

impl Action {
    /// The bytes a `Repeat` sends.
    pub fn repeated(unit: &[u8], count: u16) -> Vec<u8> {
        unit.repeat(usize::from(count % 512) + 1)
    }
}
