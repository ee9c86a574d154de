//! FRI's prover, run by zkbox so that its commit phase can keep the folded vector on a
//! device ([`FriRounds`]). It is Plonky3's `p3_fri::prover::prove_fri` step for step: the
//! same fold schedule and described transcript ([`FriShape`], [`ProverTranscript`]), the
//! same round commitments, final polynomial, query indices and openings, so the proof is
//! the same bytes (`opening`'s tests compare whole openings with Plonky3's).
//!
//! A round commits to the current vector as rows of `arity` elements, draws `β`, folds the
//! committed rows by `β` and adds the reduced opening of the folded height, if any, times
//! `β^arity`. [`FriRounds`] says where that happens; [`HostRounds`] is Plonky3's way.

use p3_challenger::{CanObserve, FieldChallenger, GrindingChallenger};
use p3_commit::{Mmcs, OpeningRequest};
use p3_dft::{Radix2DFTSmallBatch, TwoAdicSubgroupDft};
use p3_field::PrimeCharacteristicRing;
use p3_fri::{
    BatchMultiOpening, CommitPhaseMultiStep, FriFoldingStrategy, FriParameters, FriProof,
    FriProverError, FriShape, ProverTranscript,
};
use p3_matrix::dense::RowMajorMatrix;
use p3_util::{log2_strict_usize, reverse_slice_index_bits};
use tracing::{debug_span, info_span};

use crate::config::{Challenge, Val};

/// FRI's proof with the input openings of `InputMmcs`.
pub type Proof<FriMmcs, InputMmcs> =
    FriProof<Challenge, FriMmcs, Val, Vec<BatchMultiOpening<Val, InputMmcs>>>;

/// A reduced opening as FRI's rounds take it: its values on the host, or only its length,
/// its values left with the rounds' implementation where the opening computed them (on a
/// device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The values, bit-reversed.
    Host(Vec<Challenge>),
    /// How many values there are; the rounds have them.
    Kept(usize),
}

impl Input {
    /// How many values the reduced opening has.
    pub fn len(&self) -> usize {
        match self {
            Input::Host(values) => values.len(),
            Input::Kept(len) => *len,
        }
    }

    /// Whether it has no values (never, for a reduced opening of a committed matrix).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values of an input the host has; an input kept elsewhere is for the rounds
    /// that keep it, and the host's rounds are never given one.
    fn host_values(self) -> Vec<Challenge> {
        match self {
            Input::Host(values) => values,
            Input::Kept(len) => panic!("a reduced opening of {len} values kept off the host"),
        }
    }
}

/// Where FRI's commit phase keeps its vector between rounds and does each round's work.
/// Every implementation computes the values [`HostRounds`] computes.
pub trait FriRounds<M: Mmcs<Challenge>> {
    /// The vector between rounds.
    type Vector;

    /// Query-index bits beyond the tallest input's height (the folding scheme's).
    fn extra_query_index_bits(&self) -> usize;

    /// The first round's vector: the tallest reduced opening, bit-reversed.
    fn start(&self, input: Input) -> Self::Vector;

    /// Commits to `vector` as rows of `2^log_arity` elements, as `mmcs.commit_matrix`
    /// does.
    fn commit(
        &self,
        mmcs: &M,
        vector: Self::Vector,
        log_arity: usize,
    ) -> (M::Commitment, M::ProverData<RowMajorMatrix<Challenge>>);

    /// Folds the rows committed in `data` by `beta`, then adds `input` (the reduced
    /// opening of the folded height, if there is one) times `beta^arity`.
    fn fold(
        &self,
        mmcs: &M,
        data: &M::ProverData<RowMajorMatrix<Challenge>>,
        beta: Challenge,
        log_arity: usize,
        input: Option<Input>,
    ) -> Self::Vector;

    /// The vector's values on the host, for the final polynomial.
    fn finish(&self, vector: Self::Vector) -> Vec<Challenge>;
}

/// Every round on the host with a folding scheme: what Plonky3's commit phase does.
#[derive(Debug, Clone, Copy)]
pub struct HostRounds<'a, F>(pub &'a F);

impl<M, F> FriRounds<M> for HostRounds<'_, F>
where
    M: Mmcs<Challenge>,
    F: FriFoldingStrategy<Val, Challenge>,
{
    type Vector = Vec<Challenge>;

    fn extra_query_index_bits(&self) -> usize {
        self.0.extra_query_index_bits()
    }

    fn start(&self, input: Input) -> Vec<Challenge> {
        input.host_values()
    }

    fn commit(
        &self,
        mmcs: &M,
        vector: Vec<Challenge>,
        log_arity: usize,
    ) -> (M::Commitment, M::ProverData<RowMajorMatrix<Challenge>>) {
        mmcs.commit_matrix(RowMajorMatrix::new(vector, 1 << log_arity))
    }

    fn fold(
        &self,
        mmcs: &M,
        data: &M::ProverData<RowMajorMatrix<Challenge>>,
        beta: Challenge,
        log_arity: usize,
        input: Option<Input>,
    ) -> Vec<Challenge> {
        let input = input.map(Input::host_values);
        fold_on_host(self.0, mmcs, data, beta, log_arity, input.as_deref())
    }

    fn finish(&self, vector: Vec<Challenge>) -> Vec<Challenge> {
        vector
    }
}

/// Folds the rows committed in `data` by `beta` with `folding` on the host, then adds
/// `input` times `beta^arity`.
pub fn fold_on_host<M: Mmcs<Challenge>>(
    folding: &impl FriFoldingStrategy<Val, Challenge>,
    mmcs: &M,
    data: &M::ProverData<RowMajorMatrix<Challenge>>,
    beta: Challenge,
    log_arity: usize,
    input: Option<&[Challenge]>,
) -> Vec<Challenge> {
    let leaves = committed_rows(mmcs, data);
    let mut folded = folding.fold_matrix(beta, log_arity, leaves.as_view());
    if let Some(input) = input {
        add_scaled(&mut folded, input, beta.exp_power_of_2(log_arity));
    }
    folded
}

/// The rows a FRI round committed (its only matrix).
pub fn committed_rows<'a, M: Mmcs<Challenge>>(
    mmcs: &M,
    data: &'a M::ProverData<RowMajorMatrix<Challenge>>,
) -> &'a RowMajorMatrix<Challenge> {
    mmcs.get_matrices(data)
        .pop()
        .expect("a FRI round commits one matrix")
}

/// `acc[x] += factor · addend[x]`: a reduced opening joins the folded vector.
pub fn add_scaled(acc: &mut [Challenge], addend: &[Challenge], factor: Challenge) {
    assert_eq!(acc.len(), addend.len(), "an input of the folded height");
    for (a, &x) in acc.iter_mut().zip(addend) {
        *a += factor * x;
    }
}

/// Proves the low degree of `inputs` (the reduced openings, one per LDE height, tallest
/// first, bit-reversed) with FRI under `params`, its rounds where `rounds` says, and opens
/// the committed inputs of `requests` at the query indices: Plonky3's `prove_fri`.
/// `params` must have a constant final polynomial.
#[allow(clippy::too_many_arguments)]
pub fn prove<InputMmcs, FriMmcs, Challenger, Rounds>(
    rounds: &Rounds,
    params: &FriParameters<FriMmcs>,
    inputs: Vec<Input>,
    challenger: &mut Challenger,
    log_global_max_height: usize,
    requests: &[OpeningRequest<'_, InputMmcs::ProverData<RowMajorMatrix<Val>>, Challenge>],
    input_mmcs: &InputMmcs,
    batch_pow_witness: Val,
) -> Result<Proof<FriMmcs, InputMmcs>, FriProverError>
where
    InputMmcs: Mmcs<Val>,
    FriMmcs: Mmcs<Challenge>,
    Challenger:
        FieldChallenger<Val> + GrindingChallenger<Witness = Val> + CanObserve<FriMmcs::Commitment>,
    Rounds: FriRounds<FriMmcs>,
{
    let _span = info_span!("FRI prover").entered();
    assert_eq!(params.log_final_poly_len, 0, "a constant final polynomial");
    assert!(params.num_queries > 0 && params.log_blowup > 0 && params.max_log_arity > 0);
    let log_heights: Vec<usize> = inputs.iter().map(|v| log2_strict_usize(v.len())).collect();
    assert!(
        log_heights.windows(2).all(|w| w[0] > w[1]),
        "one reduced opening per height, tallest first"
    );
    assert_eq!(log_heights.first(), Some(&log_global_max_height));
    let index_bits = log_global_max_height + rounds.extra_query_index_bits();
    let shape = FriShape::new(params, &log_heights, index_bits);
    let log_arities = shape.log_arities.clone();
    let mut transcript = ProverTranscript::<Challenger, Val, Challenge>::new(challenger, shape);

    // The commit phase.
    let commit_span = debug_span!("commit phase").entered();
    let mut inputs = inputs.into_iter().peekable();
    let mut vector = rounds.start(inputs.next().expect("at least one input"));
    let mut commits = Vec::with_capacity(log_arities.len());
    let mut data = Vec::with_capacity(log_arities.len());
    let mut pow_witnesses = Vec::with_capacity(log_arities.len());
    let mut height = 1usize << log_global_max_height;
    for &log_arity in &log_arities {
        let (commit, round_data) = rounds.commit(&params.mmcs, vector, log_arity);
        let (beta, witness) = transcript.commit_round(commit.clone());
        commits.push(commit);
        pow_witnesses.push(witness.unwrap_or(Val::ZERO));
        height >>= log_arity;
        let input = inputs.next_if(|v| v.len() == height);
        vector = rounds.fold(&params.mmcs, &round_data, beta, log_arity, input);
        data.push(round_data);
    }
    // The vector now has the final polynomial's degree: its first `final_poly_len` values,
    // in natural order, interpolate it.
    let mut last = rounds.finish(vector);
    last.truncate(params.final_poly_len());
    reverse_slice_index_bits(&mut last);
    let final_poly = Radix2DFTSmallBatch::<Val>::default().idft_algebra(last);
    drop(commit_span);

    let (indices, query_pow_witness) = transcript.query_phase(&final_poly);
    transcript.finish();

    let (input_openings, commit_phase_openings) = info_span!("query phase").in_scope(|| {
        let input_openings = requests
            .iter()
            .map(|request| {
                let log_height = log2_strict_usize(input_mmcs.get_max_height(request.prover_data));
                let shift = log_global_max_height - log_height;
                let rows: Vec<usize> = indices.iter().map(|&i| i >> shift).collect();
                let (opened_values, opening_proof) =
                    input_mmcs.open_multi_batch(&rows, request.prover_data);
                BatchMultiOpening {
                    opened_values,
                    opening_proof,
                }
            })
            .collect();
        let extra = rounds.extra_query_index_bits();
        let mut positions: Vec<usize> = indices.iter().map(|&i| i >> extra).collect();
        let commit_phase_openings = log_arities
            .iter()
            .zip(&data)
            .map(|(&log_arity, round_data)| {
                let groups: Vec<usize> = positions.iter().map(|&p| p >> log_arity).collect();
                let (rows, opening_proof) = params.mmcs.open_multi_batch(&groups, round_data);
                let sibling_values = positions
                    .iter()
                    .zip(rows)
                    .map(|(&position, mut rows)| {
                        let row = rows.pop().expect("one committed matrix per round");
                        assert_eq!(row.len(), 1 << log_arity, "a row holds a coset");
                        let own = position & ((1 << log_arity) - 1);
                        row.into_iter()
                            .enumerate()
                            .filter_map(|(j, v)| (j != own).then_some(v))
                            .collect()
                    })
                    .collect();
                positions = groups;
                CommitPhaseMultiStep {
                    sibling_values,
                    opening_proof,
                }
            })
            .collect();
        (input_openings, commit_phase_openings)
    });

    Ok(FriProof {
        batch_pow_witness,
        commit_phase_commits: commits,
        commit_pow_witnesses: pow_witnesses,
        input_openings,
        commit_phase_openings,
        final_poly,
        query_pow_witness: query_pow_witness.unwrap_or(Val::ZERO),
    })
}
