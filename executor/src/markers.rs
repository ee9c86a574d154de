//! Cycle markers: where a guest's cycles go, phase by phase, without new system calls.
//!
//! A guest marks the start of a phase by writing one line to the debug log (descriptor 2)
//! in a single `write` call: [`CYCLE_MARKER_PREFIX`], a tag, and `\n` (the guest SDK's
//! `cycle_marker!` does exactly that). The emulator records the cycle of that `ecall` and
//! the tag as a [`CycleMarker`] ([`crate::Executor::cycle_markers`]) instead of appending
//! the line to the debug log; the `ecall` itself is an ordinary write, so the ABI, the trace
//! and the proof are unchanged, and the guest pays only the few cycles of the call.
//!
//! A marker means "from here on, cycles belong to this tag": [`attribute_cycles`] charges
//! every cycle from one marker up to the next (or to the end of the run) to the first one's
//! tag, so tags may be re-entered (execution interleaved with state reads, say) and their
//! cycles add up. Cycles before the first marker go to [`BEFORE_FIRST_MARKER`]. The marker's
//! own `ecall` counts towards the tag it opens.

/// What a debug-log write starts with when it is a cycle marker.
pub const CYCLE_MARKER_PREFIX: &[u8] = b"cycle-marker: ";

/// The longest tag a marker may carry; longer lines stay ordinary log text.
pub const MAX_MARKER_TAG_BYTES: usize = 64;

/// The tag [`attribute_cycles`] gives the cycles before the first marker.
pub const BEFORE_FIRST_MARKER: &str = "(start)";

/// One cycle marker written by the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleMarker {
    /// Cycle of the marker's `ecall` (the number of cycles executed before it).
    pub cycle: u64,
    /// The tag: the bytes between the prefix and the newline.
    pub tag: String,
}

/// The cycles charged to one tag over a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCycles {
    /// The tag ([`BEFORE_FIRST_MARKER`] for the cycles before the first marker).
    pub tag: String,
    /// Cycles from each of its markers up to the next marker or the end of the run, summed.
    pub cycles: u64,
    /// How many markers opened it.
    pub entries: u64,
}

/// Parses one debug-log write: `Some(tag)` if it is exactly one marker line (prefix, a
/// UTF-8 tag of 1 to [`MAX_MARKER_TAG_BYTES`] bytes without control characters, `\n`).
pub fn parse_marker(bytes: &[u8]) -> Option<&str> {
    let tag = bytes
        .strip_prefix(CYCLE_MARKER_PREFIX)?
        .strip_suffix(b"\n")?;
    if tag.is_empty() || tag.len() > MAX_MARKER_TAG_BYTES {
        return None;
    }
    let tag = std::str::from_utf8(tag).ok()?;
    (!tag.chars().any(char::is_control)).then_some(tag)
}

/// Charges the cycles of a run that executed `end_cycle` cycles to the markers' tags (see
/// the module docs), in the order the tags first appear (the unmarked start first, when
/// there is one). Markers are taken in cycle order (the emulator records them so; others are
/// sorted first) and those past `end_cycle` charge nothing, so the entries' cycles always
/// sum to `end_cycle`.
pub fn attribute_cycles(markers: &[CycleMarker], end_cycle: u64) -> Vec<TagCycles> {
    let mut markers: Vec<&CycleMarker> = markers.iter().collect();
    markers.sort_by_key(|m| m.cycle);
    let mut out: Vec<TagCycles> = Vec::new();
    let mut charge = |tag: &str, cycles: u64, entry: bool| {
        let index = match out.iter().position(|t| t.tag == tag) {
            Some(index) => index,
            None => {
                out.push(TagCycles {
                    tag: tag.to_owned(),
                    cycles: 0,
                    entries: 0,
                });
                out.len() - 1
            }
        };
        out[index].cycles += cycles;
        out[index].entries += u64::from(entry);
    };
    let first = markers
        .first()
        .map_or(end_cycle, |m| m.cycle.min(end_cycle));
    if first > 0 {
        charge(BEFORE_FIRST_MARKER, first, false);
    }
    for (i, marker) in markers.iter().enumerate() {
        let from = marker.cycle.min(end_cycle);
        let until = markers
            .get(i + 1)
            .map_or(end_cycle, |next| next.cycle.min(end_cycle));
        charge(&marker.tag, until - from, true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(cycle: u64, tag: &str) -> CycleMarker {
        CycleMarker {
            cycle,
            tag: tag.to_owned(),
        }
    }

    #[test]
    fn only_whole_marker_lines_parse() {
        assert_eq!(parse_marker(b"cycle-marker: recover\n"), Some("recover"));
        assert_eq!(
            parse_marker(b"cycle-marker: state read\n"),
            Some("state read")
        );
        assert_eq!(parse_marker(b"cycle-marker: recover"), None, "no newline");
        assert_eq!(parse_marker(b"cycle-marker: \n"), None, "empty tag");
        assert_eq!(parse_marker(b"cycle-marker: a\nb\n"), None, "two lines");
        assert_eq!(parse_marker(b"log: cycle-marker: a\n"), None);
        assert_eq!(parse_marker(b"cycle-marker: \xff\n"), None, "not UTF-8");
        let long = [b"cycle-marker: ".as_slice(), &[b'x'; 65], b"\n"].concat();
        assert_eq!(parse_marker(&long), None, "tag too long");
    }

    #[test]
    fn cycles_go_to_the_last_marker_and_re_entered_tags_add_up() {
        let markers = [
            marker(10, "a"),
            marker(15, "b"),
            marker(40, "a"),
            marker(41, "c"),
        ];
        let split = attribute_cycles(&markers, 100);
        let expect = |tag: &str, cycles, entries| TagCycles {
            tag: tag.to_owned(),
            cycles,
            entries,
        };
        assert_eq!(
            split,
            [
                expect(BEFORE_FIRST_MARKER, 10, 0),
                expect("a", 5 + 1, 2),
                expect("b", 25, 1),
                expect("c", 59, 1),
            ]
        );
        assert_eq!(split.iter().map(|t| t.cycles).sum::<u64>(), 100);
    }

    #[test]
    fn no_markers_is_one_unmarked_span_and_a_marker_at_zero_has_no_start() {
        assert_eq!(
            attribute_cycles(&[], 7),
            [TagCycles {
                tag: BEFORE_FIRST_MARKER.to_owned(),
                cycles: 7,
                entries: 0
            }]
        );
        let split = attribute_cycles(&[marker(0, "x")], 7);
        assert_eq!(split.len(), 1);
        assert_eq!((split[0].tag.as_str(), split[0].cycles), ("x", 7));
        // Markers past the end (a caller's mistake) charge nothing rather than underflow.
        let split = attribute_cycles(&[marker(3, "x"), marker(9, "y")], 5);
        assert_eq!(
            split.iter().map(|t| t.cycles).collect::<Vec<_>>(),
            [3, 2, 0]
        );
        // Markers out of order are sorted first.
        let split = attribute_cycles(&[marker(9, "late"), marker(2, "early")], 12);
        let tags: Vec<_> = split.iter().map(|t| (t.tag.as_str(), t.cycles)).collect();
        assert_eq!(tags, [(BEFORE_FIRST_MARKER, 2), ("early", 7), ("late", 3)]);
    }
}
