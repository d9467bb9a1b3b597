//! The `connection_cap` target's input: a script of actions by up to `CLIENTS`
//! clients, decoded with `arbitrary` from a simple byte format (so seeds can be
//! written by hand or by fuzz/gen_seeds.py):
//!
//! ```text
//! script := action*            (the first MAX_ACTIONS are used)
//! action := op:u8 args         (op % 8 picks the action, op / 8 % CLIENTS the client)
//!   0      Connect                        open a connection (as the listener would
//!                                         accept it: at the cap, maybe refused); over
//!                                         TLS if op / 8 / CLIENTS is odd (op 40-79,
//!                                         120-159, 200-239)
//!   1, 2   Send    item:u8 arg:u8 cut:u8  queue menu request item % 13 (conn::menu)
//!                                         and let go of its first `cut` bytes
//!                                         (0 = all); earlier held bytes go first
//!   3      Trickle n:u8                   let go of n % 32 + 1 more held bytes
//!   4      Read    n:u8                   n >= 128: read all and tell the server;
//!                                         else take n * 16 bytes without telling it
//!   5      Advance ms:u8                  move the clock (see `advance_ms`)
//!   6      Close                          send our FIN
//!   7      Settle                         take the writer thread's replies
//! ```
//!
//! Missing bytes at the end read as zero (that is how `arbitrary` fills integers).
//! Over TLS the other steps act on the plaintext: sent bytes go out as records of the
//! bytes let go (so a trickle is a record per trickle), and reads decrypt.

use arbitrary::{Arbitrary, Result, Unstructured};

/// At most this many actions run per input.
pub const MAX_ACTIONS: usize = 40;
/// Clients a script can name: more than the server's slots, so newcomers contend.
pub const CLIENTS: usize = 5;
/// Menu items used (conn::menu): those whose connection stays open, plus 12,
/// which asks for `Connection: close`.
pub const MENU_ITEMS: u8 = 13;

/// What one client does.
#[derive(Clone, Debug)]
pub enum Step {
    Connect { tls: bool },
    Send { item: u8, arg: u8, cut: u8 },
    Trickle { bytes: usize },
    Read { all: bool, max_bytes: usize },
    Advance { ms: u64 },
    Close,
    Settle,
}

/// One action: a step by client `client`.
#[derive(Clone, Debug)]
pub struct Action {
    pub client: usize,
    pub step: Step,
}

/// The decoded script.
#[derive(Clone, Debug)]
pub struct Script(pub Vec<Action>);

/// Clock moves: most are short; from 200 up, the lengths around the server's
/// 1 s thresholds (quiet for a newcomer, stalled for a buffer or a newcomer).
pub fn advance_ms(code: u8) -> u64 {
    const LONG_MS: [u64; 8] = [300, 500, 999, 1_000, 1_001, 1_100, 2_000, 3_000];
    if code < 200 {
        u64::from(code)
    } else {
        LONG_MS[usize::from(code) % LONG_MS.len()]
    }
}

impl<'a> Arbitrary<'a> for Action {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let op = u8::arbitrary(u)?;
        let client = usize::from(op / 8) % CLIENTS;
        let step = match op % 8 {
            0 => Step::Connect {
                tls: (op / 8 / CLIENTS as u8) % 2 == 1,
            },
            1 | 2 => Step::Send {
                item: u8::arbitrary(u)? % MENU_ITEMS,
                arg: u8::arbitrary(u)?,
                cut: u8::arbitrary(u)?,
            },
            3 => Step::Trickle {
                bytes: usize::from(u8::arbitrary(u)? % 32) + 1,
            },
            4 => {
                let n = u8::arbitrary(u)?;
                Step::Read {
                    all: n >= 128,
                    max_bytes: usize::from(n) * 16,
                }
            }
            5 => Step::Advance {
                ms: advance_ms(u8::arbitrary(u)?),
            },
            6 => Step::Close,
            _ => Step::Settle,
        };
        Ok(Action { client, step })
    }
}

impl<'a> Arbitrary<'a> for Script {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Script(crate::conn::actions::decode_actions(
            u,
            MAX_ACTIONS,
        )?))
    }

    fn arbitrary_take_rest(mut u: Unstructured<'a>) -> Result<Self> {
        Self::arbitrary(&mut u)
    }
}
