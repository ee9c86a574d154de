//! zkbox's batch-STARK prover loop.
//!
//! It runs Plonky3's batch-STARK protocol step for step — the same transcript (Plonky3's
//! own [`BatchProverTranscript`]), commitments, quotient chunks and openings — so
//! `p3_batch_stark::verify_batch` checks its proofs, and they are byte for byte the ones
//! `p3_batch_stark::prove_batch` writes (a test compares them). What differs is how the
//! LogUp lookups' messages are evaluated, both when the LogUp columns are built and in the
//! quotient:
//!
//! - Plonky3 evaluates a chip's lookups from their symbolic expressions, walking each
//!   message's expression tree again on every row, and combines the fields in the extension
//!   field (`acc · β + e`). The chip's own `eval` had already computed every message field
//!   natively, and Plonky3's folder drops them.
//! - Here the builders keep them ([`CaptureFolder`] in the quotient, [`MessageRecorder`] on
//!   the trace): the chip's `eval` is the only evaluation of the messages, each field enters
//!   its denominator as one extension-by-base product with a power of β computed once per
//!   proof, and the LogUp columns' fractions are inverted in batches of packed values.
//!
//! The columns and constraints are the same values and polynomials in the same order, so
//! the proof is the same. A [`LookupPlan`] ties each LogUp column to the interactions it
//! folds; it is built from Plonky3's own layout and checked against the chip's symbolic
//! interactions, and a batch with a chip whose layout it cannot match (none today) is
//! proven with Plonky3's `prove_batch` instead; a chip whose LogUp denominator vanishes on
//! some row gets its columns from Plonky3's `LogUpGadget`.

use p3_air::symbolic::{AirLayout, SymbolicExpressionExt};
use p3_air::{Air, AirBuilder, BaseAir, ExtensionBuilder, PermutationAirBuilder, RowWindow};
use p3_batch_stark::folder::ProverConstraintFolderWithLookups;
use p3_batch_stark::proof::OpenedValuesWithLookups;
use p3_batch_stark::symbolic::{get_constraint_layout, get_log_num_quotient_chunks_for_domain};
use p3_batch_stark::{
    BatchCommitments, BatchOpenedValues, BatchProof, BatchProverTranscript, BatchShape, ProverData,
};
use p3_challenger::GrindingChallenger;
use p3_commit::{
    OpenedValues as PcsOpenedValues, OpeningRequest, Pcs, PolynomialSpace, UnivariateStarkPcs,
};
use p3_field::{
    Algebra, BasedVectorSpace, ExtensionField, Field, PackedFieldExtension, PackedValue,
    PrimeCharacteristicRing, PrimeField64,
};
use p3_lookup::logup::LogUpGadget;
use p3_lookup::{
    Count, InteractionBuilder, InteractionSymbolicBuilder, Kind, Lookup, LookupProtocol,
    LookupTerminal, check_multiplicity_height_bound,
};
use p3_matrix::Matrix;
use p3_matrix::dense::{RowMajorMatrix, RowMajorMatrixView};
use p3_maybe_rayon::prelude::*;
use p3_uni_stark::{
    Com, Domain, OpenedValues, PackedChallenge, PackedVal, PcsProverError,
    PreprocessedOpenedValues, ProverConstraintFolder, StarkGenericConfig, StarkOpeningLayout, Val,
};
use tracing::info_span;

use crate::chips::Chip;
use crate::error::ProveError;

/// The PCS's proof of an opening.
pub type PcsProof<SC> = <<SC as StarkGenericConfig>::Pcs as Pcs<
    <SC as StarkGenericConfig>::Challenge,
    <SC as StarkGenericConfig>::Challenger,
>>::Proof;

/// An opening: the values at the points and the PCS's proof of them.
pub type PcsOpening<SC> = (
    PcsOpenedValues<<SC as StarkGenericConfig>::Challenge>,
    PcsProof<SC>,
);

/// What the PCS keeps of a commitment for opening it.
pub type PcsData<SC> = <<SC as StarkGenericConfig>::Pcs as Pcs<
    <SC as StarkGenericConfig>::Challenge,
    <SC as StarkGenericConfig>::Challenger,
>>::ProverData;

/// The steps of the prover loop an accelerator may take over. Each default is the host's
/// way (the PCS's own commit, [`quotient_values`] on the host), and an implementation must
/// compute the same values, so the proof does not depend on who computed them.
pub trait Offload<SC: StarkGenericConfig>: Sync {
    /// One quotient chunk's LDE as this offload keeps it until the quotient commitment.
    type QuotientLde: Send;

    /// Commits to the LDEs of `evaluations` (each a matrix on its trace domain), exactly as
    /// the PCS's `commit` does.
    fn commit(
        &self,
        pcs: &SC::Pcs,
        evaluations: Vec<(Domain<SC>, RowMajorMatrix<Val<SC>>)>,
    ) -> Result<(Com<SC>, PcsData<SC>), PcsProverError<SC>> {
        pcs.commit(evaluations)
    }

    /// The LDEs of one chip's `chunks` quotient chunks, as `get_quotient_ldes` computes
    /// them from the chip's quotient values (bit-reversed, on the LDE domain); `None`
    /// leaves the quotient to the host.
    fn quotient_ldes(
        &self,
        request: &QuotientRequest<'_, SC>,
        chunks: usize,
    ) -> Option<Vec<Self::QuotientLde>> {
        let _ = (request, chunks);
        None
    }

    /// A quotient chunk's LDE the host computed, as this offload keeps them.
    fn host_quotient_lde(&self, lde: RowMajorMatrix<Val<SC>>) -> Self::QuotientLde;

    /// Commits to the quotient chunks' LDEs of every chip, in order, exactly as the PCS's
    /// `commit_ldes` does.
    fn commit_quotient_ldes(
        &self,
        pcs: &SC::Pcs,
        ldes: Vec<Self::QuotientLde>,
    ) -> Result<(Com<SC>, PcsData<SC>), PcsProverError<SC>>;

    /// Opens the committed matrices at their points and proves the openings, exactly as
    /// the PCS's `open_with_preprocessing` does (`preprocessed`: the preprocessed
    /// commitment's index among `requests`).
    fn open(
        &self,
        pcs: &SC::Pcs,
        requests: Vec<OpeningRequest<'_, PcsData<SC>, SC::Challenge>>,
        challenger: &mut SC::Challenger,
        preprocessed: Option<usize>,
    ) -> Result<PcsOpening<SC>, PcsProverError<SC>> {
        pcs.open_with_preprocessing(requests, challenger, preprocessed)
    }
}

/// Every step on the host: the CPU path.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostOnly;

impl<SC: StarkGenericConfig> Offload<SC> for HostOnly {
    type QuotientLde = RowMajorMatrix<Val<SC>>;

    fn host_quotient_lde(&self, lde: RowMajorMatrix<Val<SC>>) -> Self::QuotientLde {
        lde
    }

    fn commit_quotient_ldes(
        &self,
        pcs: &SC::Pcs,
        ldes: Vec<Self::QuotientLde>,
    ) -> Result<(Com<SC>, PcsData<SC>), PcsProverError<SC>> {
        pcs.commit_ldes(ldes)
    }
}

/// Everything one chip's quotient is computed from: committed matrices are named by
/// their commitment's prover data and their index in it (LDEs in bit-reversed order).
pub struct QuotientRequest<'a, SC: StarkGenericConfig> {
    /// The chip.
    pub chip: &'a Chip,
    /// Its lookups as the prover lays them out.
    pub lookups: &'a [Lookup<Val<SC>>],
    /// Its public values.
    pub public_values: &'a [Val<SC>],
    /// Its trace domain.
    pub trace_domain: Domain<SC>,
    /// The domain the quotient is evaluated on.
    pub quotient_domain: Domain<SC>,
    /// The main trace's LDE.
    pub main: (&'a PcsData<SC>, usize),
    /// The preprocessed trace's LDE, if the chip has one.
    pub preprocessed: Option<(&'a PcsData<SC>, usize)>,
    /// The LogUp columns' LDE (4 base columns per extension column), if it has lookups.
    pub permutation: Option<(&'a PcsData<SC>, usize)>,
    /// The LogUp terminal value, if it has lookups.
    pub terminal: Option<SC::Challenge>,
    /// Its lookup challenges.
    pub challenges: &'a [SC::Challenge],
    /// The constraint-folding challenge.
    pub alpha: SC::Challenge,
}

/// Which of a chip's global interactions — numbered in the order its `eval` emits them —
/// each of its LogUp fraction columns folds, as Plonky3 laid the columns out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPlan {
    /// Per fraction column, the interactions it sums, in the column's tuple order.
    columns: Vec<Vec<usize>>,
}

impl LookupPlan {
    /// Matches `lookups` (Plonky3's packed layout of `chip`) to the chip's interactions:
    /// Plonky3 buckets global interactions by bus, in the order each bus first appears,
    /// and folds consecutive ones of a bus into a column. Each column's tuples are checked
    /// against the symbolic interaction they are taken to be (fields and count). `None`
    /// when the layout is not of that shape: local or exclusive lookups, a tuple that is
    /// not the next interaction of its bus, or an interaction left over.
    pub fn new<F, EF>(chip: &Chip, lookups: &[Lookup<F>]) -> Option<LookupPlan>
    where
        F: Field,
        EF: ExtensionField<F>,
        SymbolicExpressionExt<F, EF>: Algebra<EF>,
    {
        let mut builder = InteractionSymbolicBuilder::<F, EF>::new(AirLayout::from_air::<F>(chip));
        chip.eval(&mut builder);
        if !builder.local_interactions().is_empty() || !builder.exclusive_interactions().is_empty()
        {
            return None;
        }
        let interactions = builder.global_interactions();
        // Per bus, the next interaction not yet taken.
        let mut cursors: Vec<(&str, usize)> = Vec::new();
        let mut columns = Vec::with_capacity(lookups.len());
        for (index, lookup) in lookups.iter().enumerate() {
            let Kind::Global(bus) = &lookup.kind else {
                return None;
            };
            if lookup.column != index || lookup.flags.is_some() {
                return None;
            }
            let cursor = match cursors.iter().position(|(b, _)| b == bus) {
                Some(i) => i,
                None => {
                    cursors.push((bus.as_str(), 0));
                    cursors.len() - 1
                }
            };
            let mut column = Vec::with_capacity(lookup.elements.len());
            for (fields, count) in lookup.elements.iter().zip(&lookup.multiplicities) {
                let from = cursors[cursor].1;
                let k = (from..interactions.len()).find(|&k| interactions[k].bus_name == *bus)?;
                cursors[cursor].1 = k + 1;
                let interaction = &interactions[k];
                if format!("{:?}", interaction.fields) != format!("{fields:?}")
                    || format!("{:?}", interaction.count) != format!("{count:?}")
                {
                    return None;
                }
                column.push(k);
            }
            columns.push(column);
        }
        let used: usize = columns.iter().map(Vec::len).sum();
        (used == interactions.len()).then_some(LookupPlan { columns })
    }

    /// The plans of every chip, or `None` if any chip's layout does not match.
    pub fn for_chips<F, EF>(
        chips: &[Chip],
        lookups: &[impl AsRef<[Lookup<F>]>],
    ) -> Option<Vec<Self>>
    where
        F: Field,
        EF: ExtensionField<F>,
        SymbolicExpressionExt<F, EF>: Algebra<EF>,
    {
        chips
            .iter()
            .zip(lookups)
            .map(|(chip, lookups)| LookupPlan::new::<F, EF>(chip, lookups.as_ref()))
            .collect()
    }
}

/// The messages a chip's `eval` sent on one (packed) row, in the order it sent them.
#[derive(Debug, Default)]
struct Messages<P> {
    /// Every message's fields, one message after another.
    fields: Vec<P>,
    /// Per message: where its fields end in `fields`, and its signed multiplicity.
    ends: Vec<(usize, P)>,
}

impl<P: Copy> Messages<P> {
    fn clear(&mut self) {
        self.fields.clear();
        self.ends.clear();
    }

    fn push<E: Into<P>>(&mut self, fields: impl IntoIterator<Item = E>, count: Count<P>) {
        self.fields.extend(fields.into_iter().map(Into::into));
        let (multiplicity, _bound) = count.into_parts();
        self.ends.push((self.fields.len(), multiplicity));
    }

    /// Message `k`'s fields and multiplicity.
    fn get(&self, k: usize) -> (&[P], P) {
        let start = if k == 0 { 0 } else { self.ends[k - 1].0 };
        let (end, multiplicity) = self.ends[k];
        (&self.fields[start..end], multiplicity)
    }
}

/// Plonky3's prover folder, which also keeps the messages the chip's `eval` sends.
struct CaptureFolder<'a, SC: StarkGenericConfig> {
    inner: ProverConstraintFolderWithLookups<'a, SC>,
    messages: Messages<PackedVal<SC>>,
}

impl<'a, SC: StarkGenericConfig> AirBuilder for CaptureFolder<'a, SC> {
    type F = Val<SC>;
    type Expr = PackedVal<SC>;
    type Var = PackedVal<SC>;
    type PreprocessedWindow = RowWindow<'a, PackedVal<SC>>;
    type MainWindow = RowWindow<'a, PackedVal<SC>>;
    type PublicVar = Val<SC>;
    type PeriodicVar = PackedVal<SC>;

    #[inline]
    fn main(&self) -> Self::MainWindow {
        self.inner.main()
    }
    fn preprocessed(&self) -> &Self::PreprocessedWindow {
        self.inner.preprocessed()
    }
    #[inline]
    fn is_first_row(&self) -> Self::Expr {
        self.inner.is_first_row()
    }
    #[inline]
    fn is_last_row(&self) -> Self::Expr {
        self.inner.is_last_row()
    }
    #[inline]
    fn is_transition(&self) -> Self::Expr {
        self.inner.is_transition()
    }
    #[inline]
    fn assert_zero<I: Into<Self::Expr>>(&mut self, x: I) {
        self.inner.assert_zero(x);
    }
    #[inline]
    fn assert_zeros<const N: usize, I: Into<Self::Expr>>(&mut self, array: [I; N]) {
        self.inner.assert_zeros(array);
    }
    #[inline]
    fn public_values(&self) -> &[Self::PublicVar] {
        self.inner.public_values()
    }
    #[inline]
    fn periodic_values(&self) -> &[Self::PeriodicVar] {
        self.inner.periodic_values()
    }
}

impl<SC: StarkGenericConfig> ExtensionBuilder for CaptureFolder<'_, SC> {
    type EF = SC::Challenge;
    type ExprEF = PackedChallenge<SC>;
    type VarEF = PackedChallenge<SC>;

    fn assert_zero_ext<I: Into<Self::ExprEF>>(&mut self, x: I) {
        self.inner.assert_zero_ext(x);
    }
}

impl<'a, SC: StarkGenericConfig> PermutationAirBuilder for CaptureFolder<'a, SC> {
    type RandomVar = PackedChallenge<SC>;
    type MP = RowWindow<'a, PackedChallenge<SC>>;
    type PermutationVar = PackedChallenge<SC>;

    fn permutation(&self) -> Self::MP {
        self.inner.permutation()
    }
    fn permutation_randomness(&self) -> &[PackedChallenge<SC>] {
        self.inner.permutation_randomness()
    }
    fn permutation_values(&self) -> &[PackedChallenge<SC>] {
        self.inner.permutation_values()
    }
}

/// Implements `InteractionBuilder` for a builder whose `messages` field keeps every global
/// message it is sent. Local lookups are dropped: a plan is only made for chips without them.
macro_rules! keep_messages {
    ($builder:ident) => {
        impl<SC: StarkGenericConfig> InteractionBuilder for $builder<'_, SC> {
            fn push_interaction<E: Into<Self::Expr>>(
                &mut self,
                _bus_name: &str,
                fields: impl IntoIterator<Item = E>,
                count: impl Into<Count<Self::Expr>>,
            ) {
                self.messages.push(fields, count.into());
            }

            fn push_local_interaction(
                &mut self,
                tuples: impl IntoIterator<Item = (Vec<Self::Expr>, Count<Self::Expr>)>,
            ) {
                tuples.into_iter().for_each(drop);
            }
        }
    };
}

keep_messages!(CaptureFolder);

/// One fraction column's challenges, broadcast to packed values: α, and β^0, β^1, … up to
/// the widest message.
struct ColumnChallenges<SC: StarkGenericConfig> {
    alpha: PackedChallenge<SC>,
    beta_powers: Vec<PackedChallenge<SC>>,
}

impl<SC: StarkGenericConfig> ColumnChallenges<SC> {
    /// Each of `lookups`' columns' challenges, from the chip's challenges as the transcript
    /// lays them out (α and β of column c at 2c and 2c + 1, as the LogUp gadget reads them).
    fn of(lookups: &[Lookup<Val<SC>>], challenges: &[SC::Challenge]) -> Vec<Self> {
        let widest = lookups
            .iter()
            .flat_map(|l| l.elements.iter().map(Vec::len))
            .max()
            .unwrap_or(0);
        (0..lookups.len())
            .map(|c| ColumnChallenges {
                alpha: challenges[2 * c].into(),
                beta_powers: challenges[2 * c + 1]
                    .powers()
                    .take(widest)
                    .map(Into::into)
                    .collect(),
            })
            .collect()
    }
}

/// One fraction column's value on a packed row, Σ_j m_j / d_j with
/// d_j = α − Σ_i e_i β^(w−1−i) over the messages it folds, as one numerator and denominator.
fn column_fraction<SC: StarkGenericConfig>(
    messages: &Messages<PackedVal<SC>>,
    column: &[usize],
    challenges: &ColumnChallenges<SC>,
) -> (PackedChallenge<SC>, PackedChallenge<SC>) {
    let mut numerator = PackedChallenge::<SC>::ZERO;
    let mut denominator = PackedChallenge::<SC>::ONE;
    for (j, &k) in column.iter().enumerate() {
        let (fields, multiplicity) = messages.get(k);
        let mut d = challenges.alpha;
        let powers = challenges.beta_powers[..fields.len()].iter().rev();
        for (&field, &power) in fields.iter().zip(powers) {
            d -= power * field;
        }
        if j == 0 {
            numerator = multiplicity.into();
            denominator = d;
        } else {
            numerator = numerator * d + denominator * multiplicity;
            denominator *= d;
        }
    }
    (numerator, denominator)
}

/// Pins a chip's LogUp columns on one packed row, exactly as
/// [`LogUpGadget::eval_all`](p3_lookup::LookupProtocol::eval_all) does — one fraction
/// constraint per column, then the accumulator's first-row, transition and last-row
/// constraints — from the messages the chip's `eval` left in `folder`.
fn eval_lookups<SC: StarkGenericConfig>(
    folder: &mut CaptureFolder<'_, SC>,
    plan: &LookupPlan,
    challenges: &[ColumnChallenges<SC>],
) {
    let permutation = folder.inner.permutation;
    let width = permutation.width();
    let (local, next) = (&permutation.values[..width], &permutation.values[width..]);
    for (c, (column, ch)) in plan.columns.iter().zip(challenges).enumerate() {
        let (numerator, denominator) = column_fraction(&folder.messages, column, ch);
        folder
            .inner
            .assert_zero_ext(denominator * local[c + 1] - numerator);
    }
    let row_sum = local[1..]
        .iter()
        .fold(PackedChallenge::<SC>::ZERO, |sum, &f| sum + f);
    let terminal = folder.inner.permutation_values[0];
    let (first, last, transition) = (
        folder.inner.inner.is_first_row,
        folder.inner.inner.is_last_row,
        folder.inner.inner.is_transition,
    );
    folder.inner.assert_zero_ext(local[0] * first);
    folder
        .inner
        .assert_zero_ext((next[0] - local[0] - row_sum) * transition);
    folder
        .inner
        .assert_zero_ext((terminal - local[0] - row_sum) * last);
}

/// The quotient `C(x) / Z_H(x)` of one chip on its quotient domain: Plonky3's
/// `quotient_values`, with the chip's LogUp constraints evaluated by [`eval_lookups`].
#[allow(clippy::too_many_arguments)]
fn quotient_values<SC, Mat>(
    pcs: &SC::Pcs,
    chip: &Chip,
    plan: &LookupPlan,
    lookups: &[Lookup<Val<SC>>],
    public_values: &[Val<SC>],
    layout: AirLayout,
    trace_domain: Domain<SC>,
    quotient_domain: Domain<SC>,
    main: &Mat,
    permutation: Option<&Mat>,
    preprocessed: Option<&Mat>,
    terminal: Option<SC::Challenge>,
    challenges: &[SC::Challenge],
    alpha: SC::Challenge,
) -> Vec<SC::Challenge>
where
    SC: StarkGenericConfig,
    Mat: Matrix<Val<SC>> + Sync,
    SymbolicExpressionExt<Val<SC>, SC::Challenge>: Algebra<SC::Challenge>,
{
    let size = quotient_domain.size();
    let pack = PackedVal::<SC>::WIDTH;
    let next_step = size / trace_domain.size();
    // Selectors, extended past the domain (wrapping) so the last packed load is whole.
    let mut selectors = trace_domain.selectors_on_coset(quotient_domain);
    for column in [
        &mut selectors.is_first_row,
        &mut selectors.is_last_row,
        &mut selectors.is_transition,
        &mut selectors.inv_vanishing,
    ] {
        for i in size..size.next_multiple_of(pack) {
            column.push(column[i % size]);
        }
    }
    let constraints = get_constraint_layout(chip, layout, lookups, &LogUpGadget::new());
    let (base_alpha_powers, ext_alpha_powers) = constraints.decompose_alpha(alpha);
    let constraint_count = constraints.total_constraints();

    let periodic =
        pcs.build_periodic_lde_table(&chip.periodic_columns(), trace_domain, quotient_domain);
    let periodic_width = periodic.width();
    let periodic_groups = periodic.packed_group_period(pack);
    let periodic_packed: Vec<PackedVal<SC>> = if periodic.is_empty() {
        Vec::new()
    } else {
        (0..periodic_groups)
            .flat_map(|group| {
                let periodic = &periodic;
                (0..periodic_width).map(move |col| {
                    PackedVal::<SC>::from_fn(|lane| *periodic.get(group * pack + lane, col))
                })
            })
            .collect()
    };

    let column_challenges = ColumnChallenges::<SC>::of(lookups, challenges);
    let packed_challenges: Vec<PackedChallenge<SC>> =
        challenges.iter().map(|&c| c.into()).collect();
    let packed_terminal: Vec<PackedChallenge<SC>> = terminal.into_iter().map(Into::into).collect();

    let main_width = main.width();
    let dim = <SC::Challenge as BasedVectorSpace<Val<SC>>>::DIMENSION;
    let mut result = SC::Challenge::zero_vec(size);
    result.par_chunks_mut(pack).enumerate().for_each_init(
        || {
            let rows = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            (rows, Vec::new(), Vec::new(), Messages::default())
        },
        |((main_rows, prep_rows, perm_base, perm_rows), base, ext, messages), (chunk, out)| {
            let start = chunk * pack;
            let load =
                |column: &[Val<SC>]| *PackedVal::<SC>::from_slice(&column[start..start + pack]);
            main_rows.clear();
            main_rows.extend(main.vertically_packed_row::<PackedVal<SC>>(start));
            main_rows.extend(main.vertically_packed_row::<PackedVal<SC>>(start + next_step));
            prep_rows.clear();
            let prep_width = preprocessed.map_or(0, |p| {
                prep_rows.extend(p.vertically_packed_row::<PackedVal<SC>>(start));
                prep_rows.extend(p.vertically_packed_row::<PackedVal<SC>>(start + next_step));
                p.width()
            });
            perm_rows.clear();
            let perm_columns = permutation.map_or(0, |p| {
                for row in [start, start + next_step] {
                    perm_base.clear();
                    perm_base.extend(p.vertically_packed_row::<PackedVal<SC>>(row));
                    perm_rows.extend(perm_base.chunks_exact(dim).map(|coefficients| {
                        PackedChallenge::<SC>::from_basis_coefficients_fn(|i| coefficients[i])
                    }));
                }
                p.width() / dim
            });
            let preprocessed_view = RowMajorMatrixView::new(prep_rows.as_slice(), prep_width);
            let periodic_values: &[PackedVal<SC>] = if periodic_packed.is_empty() {
                &[]
            } else {
                let group = chunk % periodic_groups;
                &periodic_packed[group * periodic_width..(group + 1) * periodic_width]
            };
            base.clear();
            ext.clear();
            messages.clear();
            let main_view = RowMajorMatrixView::new(main_rows.as_slice(), main_width);
            let inner = ProverConstraintFolder {
                main: main_view,
                preprocessed: preprocessed_view,
                preprocessed_window: RowWindow::from_view(&preprocessed_view),
                periodic_values,
                public_values,
                is_first_row: load(&selectors.is_first_row),
                is_last_row: load(&selectors.is_last_row),
                is_transition: load(&selectors.is_transition),
                base_alpha_powers: &base_alpha_powers,
                ext_alpha_powers: &ext_alpha_powers,
                base_constraints: std::mem::take(base),
                ext_constraints: std::mem::take(ext),
                constraint_index: 0,
                constraint_count,
            };
            let mut folder = CaptureFolder {
                inner: ProverConstraintFolderWithLookups {
                    inner,
                    permutation: RowMajorMatrixView::new(perm_rows.as_slice(), perm_columns),
                    permutation_challenges: &packed_challenges,
                    permutation_values: &packed_terminal,
                },
                messages: std::mem::take(messages),
            };
            chip.eval(&mut folder);
            if !lookups.is_empty() {
                eval_lookups(&mut folder, plan, &column_challenges);
            }
            let quotient =
                folder.inner.inner.finalize_constraints() * load(&selectors.inv_vanishing);
            *base = folder.inner.inner.base_constraints;
            *ext = folder.inner.inner.ext_constraints;
            *messages = folder.messages;
            for (lane, slot) in out.iter_mut().enumerate() {
                *slot = quotient.extract(lane);
            }
        },
    );
    result
}

/// Proves `chips` on `traces` (with their public values) in one batch STARK, with the
/// lookups `prover_data` lays out and the `plans` that match them: Plonky3's
/// `prove_batch`, step for step (see the module documentation), with the commitments of
/// the traces and LogUp columns and the chips' quotients handed to `offload`. The configuration must
/// not be zero-knowledge (zkbox's is not: its proofs hide nothing).
#[allow(clippy::too_many_arguments)]
pub fn prove<SC>(
    config: &SC,
    chips: &[Chip],
    traces: &[RowMajorMatrix<Val<SC>>],
    publics: &[Vec<Val<SC>>],
    prover_data: &ProverData<SC>,
    plans: &[LookupPlan],
    offload: &impl Offload<SC>,
) -> Result<BatchProof<SC>, ProveError>
where
    SC: StarkGenericConfig,
    Val<SC>: PrimeField64,
    SymbolicExpressionExt<Val<SC>, SC::Challenge>: Algebra<SC::Challenge>,
    Domain<SC>: Send + Sync,
    SC::Pcs: Sync,
    PcsProverError<SC>: Send,
    SC::Challenger: GrindingChallenger<Witness = Val<SC>>,
    <SC::Pcs as Pcs<SC::Challenge, SC::Challenger>>::ProverData: Sync,
    <SC::Pcs as Pcs<SC::Challenge, SC::Challenger>>::Commitment: Sync,
{
    let pcs_error = |phase: &'static str| {
        move |e: PcsProverError<SC>| ProveError::Stark(format!("{phase}: {e:?}"))
    };
    if <SC::Pcs as UnivariateStarkPcs<SC::Challenge, SC::Challenger>>::ZK || config.is_zk() != 0 {
        return Err(ProveError::Stark(
            "zkbox's prover loop has no zero-knowledge mode".into(),
        ));
    }
    let n = chips.len();
    if traces.len() != n || publics.len() != n || plans.len() != n {
        return Err(ProveError::Stark(
            "one trace, public-value list and plan per chip".into(),
        ));
    }
    let common = &prover_data.common;
    let gadget = LogUpGadget::new();
    let pcs = config.pcs();
    let heights: Vec<usize> = traces.iter().map(Matrix::height).collect();
    let log_heights: Vec<usize> = heights
        .iter()
        .map(|h| h.trailing_zeros() as usize)
        .collect();
    check_multiplicity_height_bound(&common.lookups, &heights)
        .map_err(|e| ProveError::Stark(format!("LogUp multiplicities could wrap: {e:?}")))?;
    let lookups: Vec<&[Lookup<Val<SC>>]> = common.lookups.iter().map(|l| &**l).collect();
    let domains: Vec<Domain<SC>> = heights
        .iter()
        .map(|&h| pcs.natural_domain_for_degree(h))
        .collect();
    let preprocessed_widths: Vec<usize> = (0..n)
        .map(|i| {
            common
                .preprocessed
                .as_ref()
                .and_then(|p| p.instances[i].as_ref().map(|m| m.width))
                .unwrap_or(0)
        })
        .collect();
    let layouts: Vec<AirLayout> = chips
        .iter()
        .zip(&preprocessed_widths)
        .map(|(chip, &preprocessed_width)| AirLayout {
            preprocessed_width,
            main_width: BaseAir::<Val<SC>>::width(chip),
            num_public_values: BaseAir::<Val<SC>>::num_public_values(chip),
            num_periodic_columns: BaseAir::<Val<SC>>::num_periodic_columns(chip),
            ..Default::default()
        })
        .collect();
    let log_chunks: Vec<usize> = (0..n)
        .map(|i| {
            get_log_num_quotient_chunks_for_domain::<_, SC::Challenge, _, _>(
                &chips[i], layouts[i], domains[i], lookups[i], 0, &gadget,
            )
        })
        .collect();

    let shape = BatchShape {
        trace_widths: layouts.iter().map(|l| l.main_width).collect(),
        public_value_counts: publics.iter().map(Vec::len).collect(),
        preprocessed_widths,
        has_preprocessed_commitment: common.preprocessed.is_some(),
        num_lookup_instances: lookups.iter().filter(|l| !l.is_empty()).count(),
        lookup_pow_bits: config.lookup_proof_of_work_bits(),
        has_randomization_commitment: false,
        ood_pow_bits: config.ood_proof_of_work_bits(),
    };
    let mut challenger = config.initialise_challenger();
    let mut transcript = BatchProverTranscript::<
        SC::Challenger,
        Val<SC>,
        SC::Challenge,
        <SC::Pcs as Pcs<SC::Challenge, SC::Challenger>>::Commitment,
    >::new(&mut challenger, shape);
    transcript.instance_bindings(&log_heights);

    let (main_commit, main_data) = offload
        .commit(
            pcs,
            domains
                .iter()
                .copied()
                .zip(traces.iter().cloned())
                .collect(),
        )
        .map_err(pcs_error("trace commitment"))
        .inspect_err(|_| transcript.abort())?;
    transcript.main_phase(main_commit.clone(), publics);
    transcript.preprocessed_phase(common.preprocessed.as_ref().map(|p| p.commitment.clone()));
    let (challenges, lookup_pow_witness) = transcript.lookup_phase(&lookups, &gadget);

    let mut terminals: Vec<Option<LookupTerminal<SC::Challenge>>> = vec![None; n];
    let mut permutation_inputs = Vec::new();
    for i in 0..n {
        if lookups[i].is_empty() {
            continue;
        }
        let preprocessed = BaseAir::<Val<SC>>::preprocessed_trace(&chips[i]);
        let (permutation, terminal) = match generate_permutation::<SC>(
            &chips[i],
            &traces[i],
            preprocessed.as_ref(),
            &publics[i],
            &plans[i],
            lookups[i],
            &challenges[i],
        ) {
            Some((permutation, terminal)) => (permutation, Some(LookupTerminal(terminal))),
            None => gadget.generate_permutation::<Val<SC>, SC::Challenge>(
                &traces[i],
                &preprocessed,
                &publics[i],
                lookups[i],
                &challenges[i],
            ),
        };
        terminals[i] = terminal;
        permutation_inputs.push((domains[i], permutation.flatten_to_base()));
    }
    let permutation_commitment = if permutation_inputs.is_empty() {
        None
    } else {
        Some(
            offload
                .commit(pcs, permutation_inputs)
                .map_err(pcs_error("permutation commitment"))
                .inspect_err(|_| transcript.abort())?,
        )
    };
    let terminal_values: Vec<SC::Challenge> = terminals.iter().flatten().map(|t| t.0).collect();
    let alpha = transcript.permutation_phase(
        permutation_commitment.as_ref().map(|(c, _)| c.clone()),
        &terminal_values,
    );
    let permutation_data = permutation_commitment.as_ref().map(|(_, d)| d);
    // Index of each chip's matrix in the permutation commitment.
    let permutation_index: Vec<usize> = lookups
        .iter()
        .scan(0, |next, l| {
            let index = *next;
            *next += usize::from(!l.is_empty());
            Some(index)
        })
        .collect();

    let quotients: Result<Vec<_>, ProveError> = (0..n)
        .into_par_iter()
        .map(|i| {
            let _span = info_span!("compute quotient", air_idx = i).entered();
            let quotient_domain = domains[i].create_disjoint_domain(heights[i] << log_chunks[i]);
            let preprocessed_index = common
                .preprocessed
                .as_ref()
                .and_then(|p| p.instances[i].as_ref())
                .map(|meta| {
                    let data = prover_data
                        .prover_only
                        .preprocessed_prover_data
                        .as_ref()
                        .expect("preprocessed data exists with preprocessed columns");
                    (data, meta.matrix_index)
                });
            let permutation_index = permutation_data
                .filter(|_| !lookups[i].is_empty())
                .map(|d| (d, permutation_index[i]));
            let request = QuotientRequest::<SC> {
                chip: &chips[i],
                lookups: lookups[i],
                public_values: &publics[i],
                trace_domain: domains[i],
                quotient_domain,
                main: (&main_data, i),
                preprocessed: preprocessed_index,
                permutation: permutation_index,
                terminal: terminals[i].map(|t| t.0),
                challenges: &challenges[i],
                alpha,
            };
            let chunks = 1 << log_chunks[i];
            if let Some(ldes) = offload.quotient_ldes(&request, chunks) {
                return Ok((chunks, ldes));
            }
            let values = {
                let main = pcs.get_evaluations_on_domain(&main_data, i, quotient_domain);
                let permutation = permutation_index
                    .map(|(d, index)| pcs.get_evaluations_on_domain(d, index, quotient_domain));
                let preprocessed = preprocessed_index.map(|(data, index)| {
                    pcs.get_evaluations_on_domain_no_random(data, index, quotient_domain)
                });
                quotient_values::<SC, _>(
                    pcs,
                    &chips[i],
                    &plans[i],
                    lookups[i],
                    &publics[i],
                    layouts[i],
                    domains[i],
                    quotient_domain,
                    &main,
                    permutation.as_ref(),
                    preprocessed.as_ref(),
                    terminals[i].map(|t| t.0),
                    &challenges[i],
                    alpha,
                )
            };
            let flat = RowMajorMatrix::new_col(values).flatten_to_base();
            let chunk_domains = quotient_domain.split_domains(chunks);
            let evaluations = chunk_domains
                .iter()
                .copied()
                .zip(quotient_domain.split_evals(chunks, flat));
            let ldes = pcs
                .get_quotient_ldes(evaluations, chunks)
                .map_err(pcs_error("quotient evaluations"))?;
            Ok((
                chunk_domains.len(),
                ldes.into_iter()
                    .map(|lde| offload.host_quotient_lde(lde))
                    .collect(),
            ))
        })
        .collect();
    let mut chunk_counts = Vec::with_capacity(n);
    let mut quotient_ldes = Vec::new();
    for (count, ldes) in quotients.inspect_err(|_| transcript.abort())? {
        chunk_counts.push(count);
        quotient_ldes.extend(ldes);
    }
    let (quotient_commit, quotient_data) = offload
        .commit_quotient_ldes(pcs, quotient_ldes)
        .map_err(pcs_error("quotient commitment"))
        .inspect_err(|_| transcript.abort())?;
    transcript.quotient_phase(quotient_commit.clone(), None);
    let (zeta, ood_pow_witness) = transcript.ood_phase();

    // The opening rounds: main traces, quotient chunks, preprocessed columns, LogUp columns.
    let zeta_next = |i: usize| {
        domains[i]
            .next_point(zeta)
            .expect("two-adic domains have a next point")
    };
    let opening = StarkOpeningLayout::new(false);
    let mut rounds = Vec::new();
    let main_points = (0..n)
        .map(|i| {
            if BaseAir::<Val<SC>>::main_next_row_columns(&chips[i]).is_empty() {
                vec![zeta]
            } else {
                vec![zeta, zeta_next(i)]
            }
        })
        .collect();
    rounds.push((&main_data, main_points));
    let quotient_points = chunk_counts
        .iter()
        .flat_map(|&count| std::iter::repeat_n(vec![zeta], count))
        .collect();
    rounds.push((&quotient_data, quotient_points));
    if let Some(preprocessed) = &common.preprocessed {
        let data = prover_data
            .prover_only
            .preprocessed_prover_data
            .as_ref()
            .expect("preprocessed data exists with preprocessed columns");
        let points = preprocessed
            .matrix_to_instance
            .iter()
            .map(|&i| {
                if BaseAir::<Val<SC>>::preprocessed_next_row_columns(&chips[i]).is_empty() {
                    vec![zeta]
                } else {
                    vec![zeta, zeta_next(i)]
                }
            })
            .collect();
        rounds.push((data, points));
    }
    if let Some((_, data)) = &permutation_commitment {
        let points = (0..n)
            .filter(|&i| !lookups[i].is_empty())
            .map(|i| vec![zeta, zeta_next(i)])
            .collect();
        rounds.push((data, points));
    }
    let (opened, opening_proof) = transcript
        .delegate(|challenger| {
            offload.open(
                pcs,
                rounds.into_iter().map(Into::into).collect(),
                challenger,
                common.preprocessed.as_ref().map(|_| opening.preprocessed),
            )
        })
        .map_err(pcs_error("opening"))
        .inspect_err(|_| transcript.abort())?;
    transcript.finish();

    let permutation_round = opening.preprocessed + usize::from(common.preprocessed.is_some());
    let mut permutation_openings = permutation_commitment
        .as_ref()
        .map(|_| opened[permutation_round].iter())
        .into_iter()
        .flatten();
    let mut quotient_openings = opened[opening.quotient].iter();
    let mut instances = Vec::with_capacity(n);
    for i in 0..n {
        let main = &opened[opening.trace][i];
        let quotient_chunks = (0..chunk_counts[i])
            .map(|_| quotient_openings.next().expect("one opening per chunk")[0].clone())
            .collect();
        let preprocessed = common.preprocessed.as_ref().and_then(|p| {
            p.instances[i].as_ref().map(|meta| {
                let values = &opened[opening.preprocessed][meta.matrix_index];
                PreprocessedOpenedValues {
                    local: values[0].clone(),
                    next: values.get(1).cloned(),
                }
            })
        });
        let (permutation_local, permutation_next) = if lookups[i].is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let values = permutation_openings
                .next()
                .expect("one opening per chip with lookups");
            (values[0].clone(), values[1].clone())
        };
        instances.push(OpenedValuesWithLookups {
            base_opened_values: OpenedValues {
                trace_local: main[0].clone(),
                trace_next: main.get(1).cloned(),
                preprocessed,
                quotient_chunks,
                random: None,
            },
            permutation_local,
            permutation_next,
        });
    }
    Ok(BatchProof {
        commitments: BatchCommitments {
            main: main_commit,
            quotient_chunks: quotient_commit,
            random: None,
            permutation: permutation_commitment.map(|(c, _)| c),
        },
        opened_values: BatchOpenedValues { instances },
        opening_proof,
        lookup_terminals: terminals,
        degree_bits: log_heights,
        lookup_pow_witness,
        ood_pow_witness,
    })
}

/// Runs a chip's `eval` on packed rows of its trace (not the quotient domain's) and keeps
/// only the messages it sends: the inputs of its LogUp columns. Constraints are dropped.
struct MessageRecorder<'a, SC: StarkGenericConfig> {
    main: RowWindow<'a, PackedVal<SC>>,
    preprocessed: RowWindow<'a, PackedVal<SC>>,
    public_values: &'a [Val<SC>],
    periodic_values: &'a [PackedVal<SC>],
    is_first_row: PackedVal<SC>,
    is_last_row: PackedVal<SC>,
    is_transition: PackedVal<SC>,
    messages: &'a mut Messages<PackedVal<SC>>,
}

impl<'a, SC: StarkGenericConfig> AirBuilder for MessageRecorder<'a, SC> {
    type F = Val<SC>;
    type Expr = PackedVal<SC>;
    type Var = PackedVal<SC>;
    type PreprocessedWindow = RowWindow<'a, PackedVal<SC>>;
    type MainWindow = RowWindow<'a, PackedVal<SC>>;
    type PublicVar = Val<SC>;
    type PeriodicVar = PackedVal<SC>;

    #[inline]
    fn main(&self) -> Self::MainWindow {
        self.main
    }
    fn preprocessed(&self) -> &Self::PreprocessedWindow {
        &self.preprocessed
    }
    #[inline]
    fn is_first_row(&self) -> Self::Expr {
        self.is_first_row
    }
    #[inline]
    fn is_last_row(&self) -> Self::Expr {
        self.is_last_row
    }
    #[inline]
    fn is_transition(&self) -> Self::Expr {
        self.is_transition
    }
    #[inline]
    fn assert_zero<I: Into<Self::Expr>>(&mut self, _x: I) {}
    #[inline]
    fn public_values(&self) -> &[Self::PublicVar] {
        self.public_values
    }
    #[inline]
    fn periodic_values(&self) -> &[Self::PeriodicVar] {
        self.periodic_values
    }
}

impl<SC: StarkGenericConfig> ExtensionBuilder for MessageRecorder<'_, SC> {
    type EF = SC::Challenge;
    type ExprEF = PackedChallenge<SC>;
    type VarEF = PackedChallenge<SC>;

    fn assert_zero_ext<I: Into<Self::ExprEF>>(&mut self, _x: I) {}
}

impl<'a, SC: StarkGenericConfig> PermutationAirBuilder for MessageRecorder<'a, SC> {
    type RandomVar = PackedChallenge<SC>;
    type MP = RowWindow<'a, PackedChallenge<SC>>;
    type PermutationVar = PackedChallenge<SC>;

    /// The LogUp columns are what is being built: a chip's `eval` never reads them.
    fn permutation(&self) -> Self::MP {
        RowWindow::from_two_rows(&[], &[])
    }
    fn permutation_randomness(&self) -> &[PackedChallenge<SC>] {
        &[]
    }
    fn permutation_values(&self) -> &[PackedChallenge<SC>] {
        &[]
    }
}

keep_messages!(MessageRecorder);

/// Replaces every element of `values` by its inverse with one inversion per lane
/// (Montgomery's trick on packed values), using `prefix` as scratch space; `false` if one
/// is zero.
fn invert_all<SC: StarkGenericConfig>(
    values: &mut [PackedChallenge<SC>],
    prefix: &mut Vec<PackedChallenge<SC>>,
) -> bool {
    prefix.clear();
    let mut product = PackedChallenge::<SC>::ONE;
    for &v in values.iter() {
        prefix.push(product);
        product *= v;
    }
    let lanes: Option<Vec<SC::Challenge>> = (0..PackedVal::<SC>::WIDTH)
        .map(|lane| product.extract(lane).try_inverse())
        .collect();
    let Some(lanes) = lanes else {
        return false;
    };
    let mut inverse = PackedChallenge::<SC>::from_ext_slice(&lanes);
    for (value, &before) in values.iter_mut().zip(prefix.iter()).rev() {
        let v = *value;
        *value = inverse * before;
        inverse *= v;
    }
    true
}

/// Rows of LogUp columns one task builds: whole packed rows, few enough that the task's
/// fractions stay in cache.
const LOGUP_ROWS_PER_TASK: usize = 1024;

/// A chip's LogUp columns and terminal — what Plonky3's `LogUpGadget::generate_permutation`
/// returns, the same values — from the messages its `eval` computes natively on packed rows,
/// each column's fraction found with one inversion per row and column (batched). `None` when
/// a column's denominator vanishes on some row (with random challenges, about never): the
/// caller then falls back to Plonky3, which skips tuples of multiplicity zero.
fn generate_permutation<SC: StarkGenericConfig>(
    chip: &Chip,
    trace: &RowMajorMatrix<Val<SC>>,
    preprocessed: Option<&RowMajorMatrix<Val<SC>>>,
    public_values: &[Val<SC>],
    plan: &LookupPlan,
    lookups: &[Lookup<Val<SC>>],
    challenges: &[SC::Challenge],
) -> Option<(RowMajorMatrix<SC::Challenge>, SC::Challenge)> {
    let _span = info_span!("generate lookup permutation").entered();
    let height = trace.height();
    let pack = PackedVal::<SC>::WIDTH;
    let columns = plan.columns.len();
    let width = columns + 1;
    let column_challenges = ColumnChallenges::<SC>::of(lookups, challenges);
    let periodic = BaseAir::<Val<SC>>::periodic_columns(chip);
    let rows_per_task = LOGUP_ROWS_PER_TASK.next_multiple_of(pack);
    let mut aux = SC::Challenge::zero_vec(height * width);
    let mut totals = SC::Challenge::zero_vec(height);
    let all_invertible = aux
        .par_chunks_mut(rows_per_task * width)
        .zip(totals.par_chunks_mut(rows_per_task))
        .enumerate()
        .map(|(task, (aux, totals))| {
            let first = task * rows_per_task;
            let rows = totals.len();
            // Per packed row, per column: Σ m/d as a numerator and a denominator.
            let packed_rows = rows.div_ceil(pack);
            let mut numerators = Vec::with_capacity(packed_rows * columns);
            let mut denominators = Vec::with_capacity(packed_rows * columns);
            let (mut main_rows, mut prep_rows, mut periodic_values) =
                (Vec::new(), Vec::new(), Vec::new());
            let mut messages = Messages::default();
            for offset in (0..rows).step_by(pack) {
                let start = first + offset;
                main_rows.clear();
                main_rows.extend(trace.vertically_packed_row::<PackedVal<SC>>(start));
                main_rows.extend(trace.vertically_packed_row::<PackedVal<SC>>(start + 1));
                prep_rows.clear();
                if let Some(p) = preprocessed {
                    prep_rows.extend(p.vertically_packed_row::<PackedVal<SC>>(start));
                    prep_rows.extend(p.vertically_packed_row::<PackedVal<SC>>(start + 1));
                }
                periodic_values.clear();
                periodic_values.extend(periodic.iter().map(|column| {
                    PackedVal::<SC>::from_fn(|lane| column[(start + lane) % height % column.len()])
                }));
                let row = |lane: usize| (start + lane) % height;
                let (main_width, prep_width) = (trace.width(), prep_rows.len() / 2);
                messages.clear();
                let mut recorder = MessageRecorder::<SC> {
                    main: RowWindow::from_two_rows(
                        &main_rows[..main_width],
                        &main_rows[main_width..],
                    ),
                    preprocessed: RowWindow::from_two_rows(
                        &prep_rows[..prep_width],
                        &prep_rows[prep_width..],
                    ),
                    public_values,
                    periodic_values: &periodic_values,
                    is_first_row: PackedVal::<SC>::from_fn(|l| Val::<SC>::from_bool(row(l) == 0)),
                    is_last_row: PackedVal::<SC>::from_fn(|l| {
                        Val::<SC>::from_bool(row(l) == height - 1)
                    }),
                    is_transition: PackedVal::<SC>::from_fn(|l| {
                        Val::<SC>::from_bool(row(l) != height - 1)
                    }),
                    messages: &mut messages,
                };
                chip.eval(&mut recorder);
                for (column, ch) in plan.columns.iter().zip(&column_challenges) {
                    let (numerator, denominator) = column_fraction(&messages, column, ch);
                    numerators.push(numerator);
                    denominators.push(denominator);
                }
            }
            if !invert_all::<SC>(
                &mut denominators,
                &mut Vec::with_capacity(packed_rows * columns),
            ) {
                return false;
            }
            for (p, (numerators, inverses)) in numerators
                .chunks_exact(columns)
                .zip(denominators.chunks_exact(columns))
                .enumerate()
            {
                let mut sum = PackedChallenge::<SC>::ZERO;
                let lanes = (rows - p * pack).min(pack);
                for (c, (&numerator, &inverse)) in numerators.iter().zip(inverses).enumerate() {
                    let fraction = numerator * inverse;
                    sum += fraction;
                    for lane in 0..lanes {
                        aux[(p * pack + lane) * width + 1 + c] = fraction.extract(lane);
                    }
                }
                for lane in 0..lanes {
                    totals[p * pack + lane] = sum.extract(lane);
                }
            }
            true
        })
        .collect::<Vec<bool>>()
        .into_iter()
        .all(|ok| ok);
    if !all_invertible {
        return None;
    }
    // The accumulator (column 0) before each row, and after the last: the terminal.
    let mut accumulator = SC::Challenge::ZERO;
    for (row, total) in aux.chunks_exact_mut(width).zip(&totals) {
        row[0] = accumulator;
        accumulator += *total;
    }
    Some((RowMajorMatrix::new(aux, width), accumulator))
}
