//! Wall time per proving stage, read from the `tracing` spans the proving library opens.
//!
//! Plonky3 names its heavy steps with spans, and zkbox's prover loop (`zkbox_prover::batch`)
//! opens the same names for the steps it does itself: `coset_lde_batch_*` (low-degree
//! extension), `build merkle tree` (commitments), `generate lookup permutation` (LogUp
//! columns), `compute quotient` (one per chip, in parallel), `evaluate matrix` and `reduce matrix
//! quotient` (the PCS opening: every committed column evaluated at the out-of-domain points,
//! then the DEEP quotients over every extended row; debug-level spans) and `FRI prover`
//! (folding, its Merkle layers and the query phase). [`StageLayer`] records when each such span opens and closes;
//! a span inside another recorded span counts towards its ancestor only, so the FRI prover's
//! own Merkle trees are FRI time, not commitment time. A stage's time is the union of its
//! intervals: per-chip quotient spans that run side by side on several cores count once.
//!
//! The layer is installed with the process's log subscriber (see `telemetry::init_logging`)
//! and records nothing until [`arm`] is called, so it costs one atomic load per span
//! otherwise.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;
use tracing::span;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// A proving stage timed from the library's spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProverStage {
    /// Coset low-degree extension of traces and quotient chunks.
    Lde,
    /// Merkle commitments of the extended traces.
    Merkle,
    /// LogUp permutation (lookup) columns.
    Logup,
    /// Constraint evaluation over the quotient domain.
    Quotient,
    /// The PCS opening before FRI: evaluations at the out-of-domain points and the DEEP
    /// quotient reduction.
    Open,
    /// FRI: folding rounds, their commitments and the query phase.
    Fri,
}

impl ProverStage {
    /// Every stage, in the order a proof goes through them.
    pub const ALL: [ProverStage; 6] = [
        ProverStage::Lde,
        ProverStage::Merkle,
        ProverStage::Logup,
        ProverStage::Quotient,
        ProverStage::Open,
        ProverStage::Fri,
    ];

    /// The stage a span of this name belongs to, if any.
    pub fn of_span(name: &str) -> Option<ProverStage> {
        match name {
            n if n.starts_with("coset_lde_batch") => Some(ProverStage::Lde),
            "build merkle tree" => Some(ProverStage::Merkle),
            "generate lookup permutation" => Some(ProverStage::Logup),
            "compute quotient" => Some(ProverStage::Quotient),
            "evaluate matrix" | "reduce matrix quotient" => Some(ProverStage::Open),
            "FRI prover" => Some(ProverStage::Fri),
            _ => None,
        }
    }

    /// Lower-case name, as in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ProverStage::Lde => "lde",
            ProverStage::Merkle => "merkle",
            ProverStage::Logup => "logup",
            ProverStage::Quotient => "quotient",
            ProverStage::Open => "open",
            ProverStage::Fri => "fri",
        }
    }
}

/// One recorded span: its stage, and when it opened and closed.
#[derive(Debug, Clone, Copy)]
pub struct Interval {
    /// The stage.
    pub stage: ProverStage,
    /// When the span was created.
    pub start: Instant,
    /// When it closed.
    pub end: Instant,
    /// The span's `air_idx` field (the chip a `compute quotient` span evaluates).
    pub air: Option<usize>,
}

static ARMED: AtomicBool = AtomicBool::new(false);
static INTERVALS: Mutex<Vec<Interval>> = Mutex::new(Vec::new());

/// Starts recording (dropping anything recorded before).
pub fn arm() {
    INTERVALS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    ARMED.store(true, Ordering::SeqCst);
}

/// Stops recording and returns the intervals recorded since [`arm`].
pub fn disarm() -> Vec<Interval> {
    ARMED.store(false, Ordering::SeqCst);
    std::mem::take(&mut *INTERVALS.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Whether spans are being recorded; the layer's filter.
pub fn armed() -> bool {
    ARMED.load(Ordering::Relaxed)
}

/// Seconds during which at least one interval of `stage` was open.
pub fn busy_seconds(intervals: &[Interval], stage: ProverStage) -> f64 {
    let mut spans: Vec<(Instant, Instant)> = intervals
        .iter()
        .filter(|i| i.stage == stage)
        .map(|i| (i.start, i.end))
        .collect();
    spans.sort_by_key(|s| s.0);
    let mut total = 0.0;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += (e - s).as_secs_f64();
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += (e - s).as_secs_f64();
    }
    total
}

/// Marks a span opened inside a recorded span: its time belongs to that ancestor.
struct Covered;

/// Marks a recorded span with its stage, opening time and chip.
struct Opened {
    stage: ProverStage,
    start: Instant,
    air: Option<usize>,
}

/// Reads a span's `air_idx` field.
#[derive(Default)]
struct AirIndex(Option<usize>);

impl tracing::field::Visit for AirIndex {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "air_idx" {
            self.0 = usize::try_from(value).ok();
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        if field.name() == "air_idx" {
            self.0 = usize::try_from(value).ok();
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

/// The `tracing` layer that records stage spans while [`armed`].
pub struct StageLayer;

impl<S> Layer<S> for StageLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let covered = span.parent().is_some_and(|parent| {
            let extensions = parent.extensions();
            extensions.get::<Opened>().is_some() || extensions.get::<Covered>().is_some()
        });
        if covered {
            span.extensions_mut().insert(Covered);
        } else if let Some(stage) = ProverStage::of_span(attrs.metadata().name()) {
            let mut air = AirIndex::default();
            attrs.record(&mut air);
            span.extensions_mut().insert(Opened {
                stage,
                start: Instant::now(),
                air: air.0,
            });
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        if let Some(opened) = span.extensions().get::<Opened>() {
            INTERVALS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Interval {
                    stage: opened.stage,
                    start: opened.start,
                    end: Instant::now(),
                    air: opened.air,
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn overlapping_intervals_count_once() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let interval = |stage, a, b| Interval {
            stage,
            start: at(a),
            end: at(b),
            air: None,
        };
        let intervals = [
            interval(ProverStage::Quotient, 0, 100),
            interval(ProverStage::Quotient, 50, 150),
            interval(ProverStage::Quotient, 300, 400),
            interval(ProverStage::Fri, 0, 1000),
        ];
        let quotient = busy_seconds(&intervals, ProverStage::Quotient);
        assert!((quotient - 0.25).abs() < 1e-9, "{quotient}");
        assert!((busy_seconds(&intervals, ProverStage::Fri) - 1.0).abs() < 1e-9);
        assert_eq!(busy_seconds(&intervals, ProverStage::Lde), 0.0);
    }

    #[test]
    fn plonky3_span_names_map_to_stages() {
        assert_eq!(
            ProverStage::of_span("coset_lde_batch_with_transform"),
            Some(ProverStage::Lde)
        );
        assert_eq!(ProverStage::of_span("FRI prover"), Some(ProverStage::Fri));
        assert_eq!(ProverStage::of_span("commit phase"), None);
    }
}
