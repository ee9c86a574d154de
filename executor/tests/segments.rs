//! Traces cut into segments: consecutive segments chain through their boundary states, no
//! cycle is lost or repeated, and each boundary equals the state of a plain run stopped at
//! the same cycle.

use zkbox_executor::asm::{self, addi, li};
use zkbox_executor::{ExecErrorKind, Executor, Program, TraceSegment};

const BASE: u32 = 0x1_0000;
const DATA: u32 = 0x8_0000;

/// Writes i*i to DATA + 4*i for i in 0..n, then exits with n.
fn squares_program(n: u32) -> Program {
    let mut words = li(9, DATA).to_vec(); // s1 = DATA
    words.extend(li(5, n)); // t0 = n
    words.extend([
        addi(6, 0, 0),               // t1 = i = 0
        asm::r(0x33, 0, 1, 7, 6, 6), // loop: t2 = i*i
        asm::s(2, 9, 7, 0),          // sw t2, 0(s1)
        addi(9, 9, 4),               // s1 += 4
        addi(6, 6, 1),               // i += 1
        asm::b(1, 6, 5, -16),        // bne i, n, loop
        addi(10, 5, 0),              // a0 = n
    ]);
    words.extend(asm::exit());
    Program::from_words(BASE, &words).unwrap()
}

#[test]
fn segments_chain_and_match_plain_runs() {
    let program = squares_program(1000);
    let mut plain = Executor::new(&program, Vec::new());
    assert_eq!(plain.run(1 << 20).unwrap(), 1000);
    let total = plain.cycles();

    for segment_cycles in [1u64, 7, 64, 1000, total - 1, total, total + 1] {
        let mut segments: Vec<TraceSegment> = Vec::new();
        let mut traced = Executor::new(&program, Vec::new());
        assert_eq!(
            traced
                .run_traced(1 << 20, segment_cycles, |s| segments.push(s.clone()))
                .unwrap(),
            1000
        );
        assert_eq!(
            segments.len() as u64,
            total.div_ceil(segment_cycles),
            "segment size {segment_cycles}"
        );
        for (i, seg) in segments.iter().enumerate() {
            assert_eq!(seg.index as usize, i);
            assert_eq!(seg.end.cycle - seg.start.cycle, seg.steps.len() as u64);
            if let Some(next) = segments.get(i + 1) {
                assert_eq!(
                    seg.end,
                    next.start,
                    "segment {i} must end where {} starts",
                    i + 1
                );
                assert_eq!(seg.steps.len() as u64, segment_cycles);
            }
            assert_eq!(seg.steps.first().map(|s| s.pc), Some(seg.start.pc));
        }
        assert_eq!(segments[0].start.cycle, 0);
        assert_eq!(segments.last().unwrap().end.cycle, total);
        assert_eq!(traced.registers(), plain.registers());
        let memory_ops: usize = segments.iter().map(|s| s.memory.len()).sum();
        assert_eq!(memory_ops, 1000, "one store per iteration");
    }

    // A boundary equals the state of a plain run stopped at that cycle.
    let mut segments = Vec::new();
    Executor::new(&program, Vec::new())
        .run_traced(1 << 20, 500, |s| segments.push(s.clone()))
        .unwrap();
    for seg in &segments[..segments.len() - 1] {
        let mut stopped = Executor::new(&program, Vec::new());
        let err = stopped.run(seg.end.cycle).unwrap_err();
        assert_eq!(
            err.kind,
            ExecErrorKind::CycleLimit {
                limit: seg.end.cycle
            }
        );
        assert_eq!(stopped.boundary(), seg.end);
    }
    // Different memory contents give different digests.
    assert_ne!(segments[0].end.memory_digest, segments[1].end.memory_digest);
}

#[test]
fn traced_runs_respect_the_cycle_limit() {
    let program = squares_program(1000);
    let mut segments = 0;
    let err = Executor::new(&program, Vec::new())
        .run_traced(1000, 100, |_| segments += 1)
        .unwrap_err();
    assert_eq!(err.kind, ExecErrorKind::CycleLimit { limit: 1000 });
    assert_eq!(
        segments, 9,
        "complete segments before the limit are handed over"
    );
}
