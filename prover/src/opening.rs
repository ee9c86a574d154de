//! The PCS opening of zkbox's prover loop: Plonky3's `TwoAdicFriPcs::open`, step for step
//! — the same claimed evaluations, transcript and FRI proof — with the passes over the
//! committed matrices done where the caller's [`OpeningArithmetic`] says and FRI's rounds
//! where its [`FriRounds`] says ([`crate::fri`]). Plonky3's `open` does both on the host;
//! this one lets the device path run them on the device
//! ([`crate::offload::DeviceOffload`]). With [`OnHost`] and [`HostRounds`] over Plonky3's
//! `TwoAdicFriFolding` it writes the proof `TwoAdicFriPcs::open` writes, byte for byte (a
//! test compares them).
//!
//! The opening, for matrices committed as LDEs on `gK` in bit-reversed order:
//!
//! 1. each column `f` is evaluated at each of its points `z` by barycentric interpolation
//!    over the first `|K| / blowup` rows (those are the points of a smaller coset `gH`, on
//!    which `f` is already determined);
//! 2. the claims are bound into the transcript, and a batching challenge `α` drawn;
//! 3. per LDE height, the DEEP quotients `(f(z) − f(x)) / (z − x)` of every column and point
//!    of that height are summed with powers of `α` (the "reduced openings");
//! 4. FRI proves the reduced openings low-degree, folding the tallest first and adding each
//!    shorter one when the folded vector reaches its height.

use p3_challenger::{CanObserve, FieldChallenger, GrindingChallenger};
use p3_commit::{Mmcs, OpenedValues, OpeningRequest};
use p3_field::coset::TwoAdicMultiplicativeCoset;
use p3_field::{
    ExtensionField, Field, PackedFieldExtension, PackedValue, PrimeCharacteristicRing,
    batch_multiplicative_inverse, dot_product,
};
use p3_fri::{FriParameters, FriProverError, PcsProverTranscript, PcsShape};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::interpolation::{Interpolate, compute_adjusted_weights};
use p3_matrix::{Dimensions, Matrix};
use p3_maybe_rayon::prelude::*;
use p3_util::{log2_strict_usize, reverse_slice_index_bits};
use tracing::debug_span;

use zkbox_accel::{Backend, DeviceMmcs};

use crate::config::{Challenge, Val, ValMmcs};
#[cfg(doc)]
use crate::fri::HostRounds;
use crate::fri::{FriRounds, Input};

/// The FRI proof of an opening whose inputs were committed with `InputMmcs`.
pub type OpeningProof<FriMmcs, InputMmcs> = crate::fri::Proof<FriMmcs, InputMmcs>;

/// The two passes of the opening over a committed matrix, which a device may take over
/// matrix by matrix (see the module documentation). Each returns `None` to leave the matrix
/// to the host, and must otherwise compute exactly what the host computes.
pub trait OpeningArithmetic<Data> {
    /// `Σ_{r < rows} weights[r] · M[r][c]` for every column `c` of matrix `index` of the
    /// commitment `data` (of shape `dimensions`). `weights` is the point's whole table, at
    /// least `rows` long, the same for every matrix opened at the point.
    fn column_sums(
        &self,
        committed: (&Data, usize),
        dimensions: Dimensions,
        rows: usize,
        point: Challenge,
        weights: &[Challenge],
    ) -> Option<Vec<Challenge>> {
        let _ = (committed, dimensions, rows, point, weights);
        None
    }

    /// The reduced opening of one LDE height: with `R(x) = Σ_i powers[i] · M[x][i]` per
    /// matrix, the sum over `matrices` (every matrix of that height, in opening order) and
    /// their terms of `(c − s·R(x)) · d[x]`, `height` values, as FRI's rounds take it
    /// ([`Input::Kept`] if the values stay where FRI's rounds find them). `None` leaves the
    /// whole height to the host.
    fn reduce_height(&self, height: usize, matrices: &[MatrixTerms<'_, Data>]) -> Option<Input> {
        let _ = (height, matrices);
        None
    }
}

/// One matrix's share of a reduced opening.
pub struct MatrixTerms<'a, Data> {
    /// Matrix `index` of the commitment `data`.
    pub committed: (&'a Data, usize),
    /// Its shape.
    pub dimensions: Dimensions,
    /// The powers of `α` its rows are combined with, one per column.
    pub powers: Vec<Challenge>,
    /// One DEEP term per point it is opened at.
    pub terms: Vec<DeepTerm<'a>>,
}

/// One opening point's DEEP term of a matrix: `(c − s·R(x)) · denominators[x]`.
#[derive(Debug, Clone, Copy)]
pub struct DeepTerm<'a> {
    /// The point.
    pub point: Challenge,
    /// The claimed values at the point, combined as the rows are, times the term's power
    /// of `α`.
    pub c: Challenge,
    /// The power of `α` the combined row is scaled by.
    pub s: Challenge,
    /// `1/(z − x)` over the coset, bit-reversed: the point's whole table, of which the
    /// first `height` entries are the matrix's (the same table for every matrix opened at
    /// the point).
    pub denominators: &'a [Challenge],
}

/// Everything on the host, as Plonky3 does it.
#[derive(Debug, Clone, Copy, Default)]
pub struct OnHost;

impl<Data> OpeningArithmetic<Data> for OnHost {}

/// An MMCS that tells the shapes of a commitment's matrices without bringing them to the
/// host (a device MMCS keeps them on the device until a step on the host needs them).
pub trait CommittedShapes: Mmcs<Val> {
    /// Each committed matrix's shape, in commitment order.
    fn shapes(&self, data: &Self::ProverData<RowMajorMatrix<Val>>) -> Vec<Dimensions>;
}

impl CommittedShapes for ValMmcs {
    fn shapes(&self, data: &Self::ProverData<RowMajorMatrix<Val>>) -> Vec<Dimensions> {
        self.get_matrices(data)
            .iter()
            .map(|m| m.dimensions())
            .collect()
    }
}

impl<B: Backend + 'static> CommittedShapes for DeviceMmcs<B> {
    fn shapes(&self, data: &Self::ProverData<RowMajorMatrix<Val>>) -> Vec<Dimensions> {
        self.dimensions(data)
    }
}

/// Opens the matrices of `requests` at their points and proves the openings with FRI under
/// `fri`, its rounds where `fri_rounds` says and the row arithmetic where `arithmetic` says:
/// what `TwoAdicFriPcs::open` does with the same parameters and input MMCS (see the module
/// documentation). `fri` must have a constant final polynomial (zkbox's has), for which
/// every committed height is valid.
pub fn open<InputMmcs, FriMmcs, Challenger>(
    fri: &FriParameters<FriMmcs>,
    mmcs: &InputMmcs,
    requests: Vec<OpeningRequest<'_, InputMmcs::ProverData<RowMajorMatrix<Val>>, Challenge>>,
    challenger: &mut Challenger,
    fri_rounds: &impl FriRounds<FriMmcs>,
    arithmetic: &impl OpeningArithmetic<Data<InputMmcs>>,
) -> Result<(OpenedValues<Challenge>, OpeningProof<FriMmcs, InputMmcs>), FriProverError>
where
    InputMmcs: CommittedShapes,
    FriMmcs: Mmcs<Challenge>,
    Challenger:
        FieldChallenger<Val> + GrindingChallenger<Witness = Val> + CanObserve<FriMmcs::Commitment>,
{
    assert_eq!(
        fri.log_final_poly_len, 0,
        "zkbox's opening assumes a constant final polynomial"
    );
    let rounds: Vec<Vec<Committed<'_, _>>> = requests
        .iter()
        .map(|request| {
            mmcs.shapes(request.prover_data)
                .into_iter()
                .zip(&request.points)
                .enumerate()
                .map(|(index, (dimensions, points))| Committed {
                    data: request.prover_data,
                    index,
                    dimensions,
                    points,
                })
                .collect()
        })
        .collect();
    let log_max_height = rounds
        .iter()
        .flatten()
        .map(|c| log2_strict_usize(c.dimensions.height))
        .max()
        .expect("an opening of at least one matrix");

    let inverse_denominators = inverse_denominators(&rounds, log_max_height);
    // The span names are Plonky3's, which `zkbox bench prove` times as the opening stage.
    let opened = debug_span!("evaluate matrix").in_scope(|| {
        evaluate_at_points(
            mmcs,
            &rounds,
            &inverse_denominators,
            fri.log_blowup,
            arithmetic,
        )
    });

    let mut transcript = PcsProverTranscript::<Challenger, Val, Challenge>::new(
        challenger,
        PcsShape::from_opened_values(fri, &opened),
    );
    transcript.claimed_openings(&opened);
    let (alpha, batch_pow_witness) = transcript.batch_phase();
    let batch_pow_witness = batch_pow_witness.unwrap_or(Val::ZERO);

    let reduced = debug_span!("reduce matrix quotient").in_scope(|| {
        reduce_openings(
            mmcs,
            &rounds,
            &opened,
            &inverse_denominators,
            alpha,
            arithmetic,
        )
    });
    let proof = transcript.delegate(|challenger| {
        crate::fri::prove(
            fri_rounds,
            fri,
            reduced,
            challenger,
            log_max_height,
            &requests,
            mmcs,
            batch_pow_witness,
        )
    });
    match proof {
        Ok(proof) => {
            transcript.finish();
            Ok((opened, proof))
        }
        Err(err) => {
            transcript.abort();
            Err(err)
        }
    }
}

/// The prover data of a commitment of `InputMmcs`.
type Data<InputMmcs> = <InputMmcs as Mmcs<Val>>::ProverData<RowMajorMatrix<Val>>;

/// One committed matrix to open: matrix `index` of the commitment `data`, its shape, and
/// its points.
struct Committed<'a, Data> {
    data: &'a Data,
    index: usize,
    dimensions: Dimensions,
    points: &'a [Challenge],
}

/// The host's copy of `committed` (brought back from where the MMCS keeps it, if that is
/// not the host), for a step the host takes.
fn host_copy<'a, InputMmcs: Mmcs<Val>>(
    mmcs: &InputMmcs,
    data: &'a Data<InputMmcs>,
    index: usize,
) -> &'a RowMajorMatrix<Val> {
    mmcs.get_matrices(data)[index]
}

/// Per opening point `z`: `1/(z − x)` for `x` in the coset `gK` of the tallest matrix
/// opened at `z`, in bit-reversed order, so a shorter matrix's coset is a prefix.
type InverseDenominators = Vec<(Challenge, Vec<Challenge>)>;

fn inverse_denominators<Data>(
    rounds: &[Vec<Committed<'_, Data>>],
    log_max_height: usize,
) -> InverseDenominators {
    let mut coset: Vec<Val> = TwoAdicMultiplicativeCoset::new(Val::GENERATOR, log_max_height)
        .expect("a coset of a two-adic size")
        .iter()
        .collect();
    reverse_slice_index_bits(&mut coset);
    let mut tallest: Vec<(Challenge, usize)> = Vec::new();
    for committed in rounds.iter().flatten() {
        for &z in committed.points {
            let height = committed.dimensions.height;
            match tallest.iter_mut().find(|(point, _)| *point == z) {
                Some((_, tallest)) => *tallest = (*tallest).max(height),
                None => tallest.push((z, height)),
            }
        }
    }
    tallest
        .into_iter()
        .map(|(z, height)| {
            let differences: Vec<Challenge> = coset[..height].iter().map(|&x| z - x).collect();
            (z, batch_multiplicative_inverse(&differences))
        })
        .collect()
}

/// The entry of `z` in `table`.
fn entry_of(table: &InverseDenominators, z: Challenge) -> &[Challenge] {
    &table
        .iter()
        .find(|(point, _)| *point == z)
        .expect("every opening point has its denominators")
        .1
}

/// Every column of every matrix at each of its points, by barycentric interpolation over
/// the matrix's first `height / blowup` rows: `scale(z) · Σ_r w_r(z) · M[r][c]`.
fn evaluate_at_points<InputMmcs: Mmcs<Val>>(
    mmcs: &InputMmcs,
    rounds: &[Vec<Committed<'_, Data<InputMmcs>>>],
    inverse_denominators: &InverseDenominators,
    log_blowup: usize,
    arithmetic: &impl OpeningArithmetic<Data<InputMmcs>>,
) -> OpenedValues<Challenge> {
    // The weights 1/(z − x) − 1/z, once per point over the longest prefix any matrix uses.
    let weights: InverseDenominators = inverse_denominators
        .iter()
        .map(|(z, denominators)| {
            let used = denominators.len() >> log_blowup;
            (*z, compute_adjusted_weights(*z, &denominators[..used]))
        })
        .collect();
    rounds
        .iter()
        .map(|round| {
            round
                .iter()
                .map(|committed| {
                    let rows = committed.dimensions.height >> log_blowup;
                    committed
                        .points
                        .iter()
                        .map(|&z| {
                            let weights = entry_of(&weights, z);
                            let on_device = arithmetic.column_sums(
                                (committed.data, committed.index),
                                committed.dimensions,
                                rows,
                                z,
                                weights,
                            );
                            match on_device {
                                Some(sums) => {
                                    let scale = barycentric_scale(z, rows);
                                    sums.into_iter().map(|sum| sum * scale).collect()
                                }
                                None => host_copy(mmcs, committed.data, committed.index)
                                    .split_rows(rows)
                                    .0
                                    .interpolate_coset_with_precomputation(
                                        Val::GENERATOR,
                                        z,
                                        &weights[..rows],
                                    ),
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The factor `z · (z^N − g^N) / (N · g^N)` that turns the weighted column sums over the
/// `N = rows` points of the coset `gH` into the columns' values at `z`.
fn barycentric_scale(z: Challenge, rows: usize) -> Challenge {
    let log_rows = log2_strict_usize(rows);
    let g_pow = Val::GENERATOR.exp_power_of_2(log_rows);
    z * (z.exp_power_of_2(log_rows) - g_pow) * g_pow.mul_2exp_u64(log_rows as u64).inverse()
}

/// The reduced openings FRI proves low-degree, tallest first: per LDE height, the sum over
/// that height's columns `f` and their points `z`, in opening order, of
/// `α^k · (f(z) − f(x)) / (z − x)` with `k` counting the (column, point) pairs of that
/// height before it.
fn reduce_openings<InputMmcs: Mmcs<Val>>(
    mmcs: &InputMmcs,
    rounds: &[Vec<Committed<'_, Data<InputMmcs>>>],
    opened: &OpenedValues<Challenge>,
    inverse_denominators: &InverseDenominators,
    alpha: Challenge,
    arithmetic: &impl OpeningArithmetic<Data<InputMmcs>>,
) -> Vec<Input> {
    let max_width = rounds
        .iter()
        .flatten()
        .map(|c| c.dimensions.width)
        .max()
        .unwrap_or(0);
    let alpha_powers: Vec<Challenge> = alpha.powers().take(max_width).collect();
    // Per log height: the pairs reduced so far, and the matrices with their terms.
    let mut reduced_so_far = [0usize; 33];
    let mut by_height: [Vec<MatrixTerms<'_, _>>; 33] = core::array::from_fn(|_| Vec::new());
    for (round, round_opened) in rounds.iter().zip(opened) {
        for (committed, matrix_opened) in round.iter().zip(round_opened) {
            let Dimensions { width, height } = committed.dimensions;
            let log_height = log2_strict_usize(height);
            // The rows are combined with α^0, α^1, … times the first point's offset α^k; a
            // later point's offset is α^(width · index) times that.
            let offset = alpha.exp_u64(reduced_so_far[log_height] as u64);
            let powers: Vec<Challenge> =
                alpha_powers[..width].iter().map(|&p| p * offset).collect();
            let terms: Vec<DeepTerm<'_>> = committed
                .points
                .iter()
                .zip(matrix_opened)
                .enumerate()
                .map(|(index, (&point, values))| {
                    let at_point =
                        dot_product::<Challenge, _, _>(alpha.powers(), values.iter().copied());
                    let shift = alpha.exp_u64((index * width) as u64);
                    DeepTerm {
                        point,
                        c: offset * shift * at_point,
                        s: shift,
                        denominators: entry_of(inverse_denominators, point),
                    }
                })
                .collect();
            reduced_so_far[log_height] += width * terms.len();
            by_height[log_height].push(MatrixTerms {
                committed: (committed.data, committed.index),
                dimensions: committed.dimensions,
                powers,
                terms,
            });
        }
    }
    by_height
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, matrices)| !matrices.is_empty())
        .map(|(log_height, matrices)| {
            let height = 1 << log_height;
            arithmetic
                .reduce_height(height, matrices)
                .unwrap_or_else(|| {
                    let mut sums = Challenge::zero_vec(height);
                    for m in matrices {
                        let (data, index) = m.committed;
                        let matrix = host_copy(mmcs, data, index);
                        reduce_on_host(matrix, &m.powers, &m.terms, &mut sums);
                    }
                    Input::Host(sums)
                })
        })
        .collect()
}

/// One matrix's DEEP terms added into `sums` on the host, with Plonky3's packed row
/// combination.
fn reduce_on_host(
    matrix: &RowMajorMatrix<Val>,
    powers: &[Challenge],
    terms: &[DeepTerm<'_>],
    sums: &mut [Challenge],
) {
    type Packed = <Challenge as ExtensionField<Val>>::ExtensionPacking;
    let lanes = <Val as Field>::Packing::WIDTH;
    let packed_powers: Vec<Packed> = powers
        .chunks(lanes)
        .map(|chunk| {
            Packed::from_ext_fn(|lane| chunk.get(lane).copied().unwrap_or(Challenge::ZERO))
        })
        .collect();
    let combined: Vec<Challenge> = matrix
        .rowwise_packed_dot_product::<Challenge>(&packed_powers)
        .collect();
    for term in terms {
        let rows = sums
            .par_iter_mut()
            .zip(combined.par_iter())
            .zip(term.denominators.par_iter());
        if term.s == Challenge::ONE {
            // A matrix's first point scales nothing: one extension product per row fewer.
            rows.for_each(|((sum, &row), &denominator)| {
                *sum += (term.c - row) * denominator;
            });
        } else {
            rows.for_each(|((sum, &row), &denominator)| {
                *sum += (term.c - term.s * row) * denominator;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use core::marker::PhantomData;

    use p3_challenger::CanSample;
    use p3_commit::Pcs;
    use p3_field::BasedVectorSpace;
    use p3_fri::{BatchMultiOpening, TwoAdicFriFolding};
    use p3_uni_stark::StarkGenericConfig;
    use rand::rngs::SmallRng;
    use rand::{RngExt, SeedableRng};

    use super::*;
    use crate::config::{Challenger, ValMmcs, fri_parameters, host_mmcs, stark_config};

    fn random_matrix(rng: &mut SmallRng, width: usize, height: usize) -> RowMajorMatrix<Val> {
        let values = (0..width * height)
            .map(|_| Val::new(rng.random_range(1..0x7800_0001)))
            .collect();
        RowMajorMatrix::new(values, width)
    }

    fn random_point(rng: &mut SmallRng) -> Challenge {
        Challenge::from_basis_coefficients_fn(|_| Val::new(rng.random_range(1..0x7800_0001)))
    }

    /// Matrices of three heights in two commitments (one height in both), opened at one to
    /// three points each (points shared across commitments): the same opened values, the
    /// same proof bytes and the same transcript state after as Plonky3's
    /// `TwoAdicFriPcs::open`, and the proof verifies; a changed opened value does not.
    #[test]
    fn opens_exactly_as_plonky3() {
        let config = stark_config();
        let pcs = config.pcs();
        let mut rng = SmallRng::seed_from_u64(0x0be4);
        let domain = |height: usize| {
            <_ as Pcs<Challenge, Challenger>>::natural_domain_for_degree(pcs, height)
        };
        let first = vec![
            (domain(8), random_matrix(&mut rng, 3, 8)),
            (domain(64), random_matrix(&mut rng, 9, 64)),
        ];
        let second = vec![
            (domain(32), random_matrix(&mut rng, 17, 32)),
            (domain(64), random_matrix(&mut rng, 5, 64)),
        ];
        let (first_commitment, first_data) =
            <_ as Pcs<Challenge, Challenger>>::commit(pcs, first.clone()).unwrap();
        let (second_commitment, second_data) =
            <_ as Pcs<Challenge, Challenger>>::commit(pcs, second.clone()).unwrap();
        let (zeta, other, third) = (
            random_point(&mut rng),
            random_point(&mut rng),
            random_point(&mut rng),
        );
        let points = [
            vec![vec![zeta], vec![zeta, other]],
            vec![vec![other], vec![third, zeta, other]],
        ];
        let requests = vec![
            OpeningRequest {
                prover_data: &first_data,
                points: points[0].clone(),
            },
            OpeningRequest {
                prover_data: &second_data,
                points: points[1].clone(),
            },
        ];
        let start = || {
            let mut challenger = config.initialise_challenger();
            challenger.observe(first_commitment.clone());
            challenger.observe(second_commitment.clone());
            challenger
        };

        let mut theirs = start();
        let (their_values, their_proof) = pcs.open(requests.clone(), &mut theirs).unwrap();
        let mut ours = start();
        let folding = TwoAdicFriFolding::<Vec<BatchMultiOpening<Val, ValMmcs>>, ()>(PhantomData);
        let (our_values, our_proof) = open(
            &fri_parameters(host_mmcs()),
            &host_mmcs(),
            requests,
            &mut ours,
            &crate::fri::HostRounds(&folding),
            &OnHost,
        )
        .unwrap();
        assert_eq!(our_values, their_values);
        assert_eq!(
            postcard::to_allocvec(&our_proof).unwrap(),
            postcard::to_allocvec(&their_proof).unwrap()
        );
        let next: Challenge = ours.sample();
        assert_eq!(next, theirs.sample());

        let claims = |values: &OpenedValues<Challenge>| {
            let rounds = [(&first_commitment, &first), (&second_commitment, &second)];
            rounds
                .iter()
                .zip(values)
                .zip(&points)
                .map(|(((commitment, matrices), opened), points)| {
                    let per_matrix = matrices
                        .iter()
                        .zip(opened)
                        .zip(points)
                        .map(|(((domain, _), opened), points)| {
                            (
                                *domain,
                                points.iter().copied().zip(opened.clone()).collect(),
                            )
                        })
                        .collect();
                    ((*commitment).clone(), per_matrix)
                })
                .collect::<Vec<_>>()
        };
        let mut verifier = start();
        pcs.verify(
            claims(&our_values).into_iter().map(Into::into).collect(),
            &our_proof,
            &mut verifier,
        )
        .unwrap();
        let mut wrong = our_values.clone();
        wrong[1][0][0][5] += Challenge::ONE;
        let mut verifier = start();
        assert!(
            pcs.verify(
                claims(&wrong).into_iter().map(Into::into).collect(),
                &our_proof,
                &mut verifier
            )
            .is_err(),
            "a changed opened value verified"
        );
    }
}
