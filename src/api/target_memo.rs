//! A one-entry memo of a read's query: the last query that resolved (it parsed, and
//! its `tz`, if any, named a known zone), and what it resolved to. A refused query
//! leaves the memo as it was.
//!
//! The head memo (`http::memo`) spares a polling client's repeated head its parse; this
//! spares its query the parse, the percent-decoding and the zone-table lookup (about a
//! fifth of a slot request's user-space instructions). Both are pure functions of the
//! query's bytes, so equal bytes give the equal answer (debug builds check every hit).

use crate::http::query::{MAX_TZ_LEN_BYTES, QueryError, ReadParams, parse_read_params};
use crate::week::zones::{self, ZoneId};

/// Longest query remembered; longer ones are parsed every time.
const MEMO_MAX_QUERY_BYTES: usize = 256;

/// What a read's query resolves to: its parameters, without `tz`, and `tz`'s zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Target {
    /// The parameters, with `tz` cleared: it is `zone` now.
    pub params: ReadParams<'static>,
    /// `None` when the query names no zone (the home zone applies).
    pub zone: Option<ZoneId>,
}

/// Why a query resolves to no target (answered 400).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TargetError<'b> {
    Query(QueryError),
    /// The decoded `tz` names no zone.
    UnknownZone(&'b [u8]),
}

/// See the module documentation.
pub(super) struct TargetMemo {
    /// The remembered query's length (0: no query) and target; its bytes are
    /// `bytes[..length]`.
    remembered: Option<(usize, Target)>,
    bytes: [u8; MEMO_MAX_QUERY_BYTES],
}

impl Default for TargetMemo {
    fn default() -> Self {
        TargetMemo {
            remembered: None,
            bytes: [0; MEMO_MAX_QUERY_BYTES],
        }
    }
}

impl TargetMemo {
    /// Exactly [`resolve`]`(query, tz_buf)`.
    pub fn resolve<'b>(
        &mut self,
        query: &[u8],
        tz_buf: &'b mut [u8; MAX_TZ_LEN_BYTES],
    ) -> Result<Target, TargetError<'b>> {
        if let Some((len, target)) = self.remembered
            && len == query.len()
            && self.bytes[..len] == *query
        {
            debug_assert_eq!(resolve(query, &mut [0; MAX_TZ_LEN_BYTES]), Ok(target));
            return Ok(target);
        }
        let target = resolve(query, tz_buf)?;
        if query.len() <= MEMO_MAX_QUERY_BYTES {
            self.bytes[..query.len()].copy_from_slice(query);
            self.remembered = Some((query.len(), target));
        }
        Ok(target)
    }
}

/// Parses a read's query and looks up its zone.
pub(super) fn resolve<'b>(
    query: &[u8],
    tz_buf: &'b mut [u8; MAX_TZ_LEN_BYTES],
) -> Result<Target, TargetError<'b>> {
    let params = parse_read_params(query, tz_buf).map_err(TargetError::Query)?;
    let zone = match params.tz {
        None => None,
        Some(name) => Some(zones::lookup(name).ok_or(TargetError::UnknownZone(name))?),
    };
    Ok(Target {
        params: ReadParams { tz: None, ..params },
        zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(query: &[u8]) -> Result<Target, String> {
        resolve(query, &mut [0; MAX_TZ_LEN_BYTES]).map_err(|e| format!("{e:?}"))
    }

    fn memo(memo: &mut TargetMemo, query: &[u8]) -> Result<Target, String> {
        memo.resolve(query, &mut [0; MAX_TZ_LEN_BYTES])
            .map_err(|e| format!("{e:?}"))
    }

    fn remembers(memo: &TargetMemo, query: &[u8]) -> bool {
        memo.remembered
            .is_some_and(|(n, _)| memo.bytes[..n] == *query)
    }

    #[test]
    fn a_query_is_resolved_once_and_remembered() {
        zones::init();
        let mut m = TargetMemo::default();
        let query = b"tz=asia%2Fkolkata&day=2&time=14:00";
        let first = memo(&mut m, query).expect("resolves");
        assert_eq!(first.zone, zones::lookup(b"Asia/Kolkata"));
        assert_eq!(
            (first.params.day, first.params.time_slot),
            (Some(2), Some(28))
        );
        assert_eq!(first.params.tz, None, "the zone stands for tz");
        assert!(remembers(&m, query));
        // The second time is a hit: nothing is decoded, so the zone buffer stays unused
        // (a miss decodes "asia%2Fkolkata" into it).
        let mut unused = [0; MAX_TZ_LEN_BYTES];
        assert_eq!(m.resolve(query, &mut unused), Ok(first));
        assert_eq!(unused, [0; MAX_TZ_LEN_BYTES], "a hit parses nothing");
        // Another query (here only the case of the zone differs) is its own entry.
        let other = b"tz=Asia/Kolkata&day=2&time=14:00";
        assert_eq!(memo(&mut m, other), fresh(other));
        assert!(remembers(&m, other) && !remembers(&m, query));
        // No query: the home zone (None), remembered too.
        assert_eq!(memo(&mut m, b""), fresh(b""));
        assert!(remembers(&m, b""));
        assert_eq!(memo(&mut m, b"").map(|t| t.zone), Ok(None));
    }

    #[test]
    fn refusals_are_not_remembered() {
        zones::init();
        let mut m = TargetMemo::default();
        memo(&mut m, b"tz=UTC").expect("resolves");
        for query in [
            &b"tz=Mars/Olympus"[..],
            b"day=9",
            b"tz=UTC&tz=UTC",
            b"tz=%zz",
        ] {
            let refused = memo(&mut m, query);
            assert!(refused.is_err(), "{query:?}");
            assert_eq!(refused, fresh(query));
            assert_eq!(memo(&mut m, query), refused, "and again");
            assert!(remembers(&m, b"tz=UTC"), "{query:?} replaced the memo");
        }
        let mut tz_buf = [0; MAX_TZ_LEN_BYTES];
        assert_eq!(
            m.resolve(b"tz=Mars%2FOlympus", &mut tz_buf),
            Err(TargetError::UnknownZone(b"Mars/Olympus")),
            "the refusal names the decoded zone"
        );
    }

    #[test]
    fn a_long_query_is_resolved_every_time() {
        zones::init();
        let mut m = TargetMemo::default();
        memo(&mut m, b"tz=UTC").expect("resolves");
        let long = [&b"tz=UTC&_="[..], &[b'1'; MEMO_MAX_QUERY_BYTES]].concat();
        assert_eq!(memo(&mut m, &long), fresh(&long));
        assert!(fresh(&long).is_ok());
        assert!(remembers(&m, b"tz=UTC"));
    }
}
