//! Execution traces for the prover, cut into segments.
//!
//! A traced run records, per cycle, the pc, the instruction word and the register values the
//! instruction read and wrote ([`Step`]); every memory access with its cycle
//! ([`MemoryAccess`]); and every input/output system call ([`IoEvent`]). The run is cut every
//! `segment_cycles` cycles; each [`TraceSegment`] carries the machine state at both of its
//! ends ([`BoundaryState`]), so segments can be proven apart and chained by matching the end
//! of one to the start of the next. Only one segment is held in memory at a time.

/// One executed instruction. Its cycle is the segment's start cycle plus its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Address of the instruction.
    pub pc: u32,
    /// The instruction word.
    pub instruction: u32,
    /// Value of register rs1 before the instruction (as encoded; meaningless for U/J types).
    pub rs1: u32,
    /// Value of register rs2 before the instruction (as encoded; meaningless for I/U/J types).
    pub rs2: u32,
    /// Value of register rd after the instruction (0 when rd is x0).
    pub rd: u32,
}

/// One access to a word of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryAccess {
    /// Cycle of the instruction that made it.
    pub cycle: u64,
    /// Word-aligned address.
    pub addr: u32,
    /// The word read, or the whole word after a write.
    pub value: u32,
    /// Whether it was a write.
    pub write: bool,
}

/// One `ecall` that moved data or exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoEvent {
    /// Cycle of the `ecall`.
    pub cycle: u64,
    /// The ecall number (a7).
    pub ecall: u32,
    /// a0: the descriptor, or the exit code for exit.
    pub fd: u32,
    /// a1: the buffer.
    pub addr: u32,
    /// Bytes actually moved.
    pub len: u32,
}

/// The machine state between two cycles: what links one segment to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundaryState {
    /// Cycles executed before this point.
    pub cycle: u64,
    /// The pc of the next instruction.
    pub pc: u32,
    /// Registers x0..x31.
    pub registers: [u32; 32],
    /// [`crate::Memory::digest`] of all of memory.
    pub memory_digest: [u8; 32],
    /// Bytes of private input consumed so far.
    pub input_offset: u64,
    /// Bytes of public output written so far.
    pub public_output_len: u64,
}

/// The trace of one segment of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSegment {
    /// 0 for the first segment of the run.
    pub index: u32,
    /// State before the segment's first cycle.
    pub start: BoundaryState,
    /// State after its last cycle.
    pub end: BoundaryState,
    /// One entry per cycle.
    pub steps: Vec<Step>,
    /// Memory accesses in cycle order.
    pub memory: Vec<MemoryAccess>,
    /// System calls in cycle order.
    pub io: Vec<IoEvent>,
}

/// Accumulates one segment at a time (the tracer behind [`crate::Executor::run_traced`]),
/// reusing its buffers from one segment to the next.
pub(crate) struct SegmentRecorder {
    pub(crate) segment: TraceSegment,
}

impl SegmentRecorder {
    /// Starts recording from `start`.
    pub(crate) fn new(start: BoundaryState, segment_cycles: u64) -> Self {
        // Reserve up front (capped, so a huge segment size cannot allocate before running).
        let capacity = segment_cycles.min(1 << 22) as usize;
        SegmentRecorder {
            segment: TraceSegment {
                index: 0,
                end: start.clone(),
                start,
                steps: Vec::with_capacity(capacity),
                memory: Vec::with_capacity(capacity / 4),
                io: Vec::new(),
            },
        }
    }

    /// Ends the current segment at `end`; the segment stays readable until
    /// [`SegmentRecorder::start_next`].
    pub(crate) fn cut(&mut self, end: BoundaryState) -> &TraceSegment {
        self.segment.end = end;
        &self.segment
    }

    /// Starts the next segment where the last one ended, keeping the buffers.
    pub(crate) fn start_next(&mut self) {
        let segment = &mut self.segment;
        segment.index += 1;
        segment.start.clone_from(&segment.end);
        segment.steps.clear();
        segment.memory.clear();
        segment.io.clear();
    }
}
