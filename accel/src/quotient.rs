//! Quotient evaluation on a device: a compact bytecode for an AIR's constraints
//! ([`QuotientProgram`]), what it reads ([`QuotientInputs`]), the reference interpreter the
//! CPU backend runs, and the lowering into the word tables the device kernels interpret.
//!
//! # The math
//!
//! For every point `xᵢ` of the quotient domain (a coset of height `n`), the program evaluates
//! the AIR's constraints `C₀ … C_{K−1}` on the current row `i` and the next row
//! `(i + next_step) mod n` of the main, preprocessed and permutation (LogUp) matrices, the
//! periodic columns, the selectors and the public/challenge values, and returns
//!
//! `q(xᵢ) = (Σⱼ wⱼ · Cⱼ(xᵢ)) · Z_H(xᵢ)⁻¹`
//!
//! where `wⱼ` are the weights the caller passes (for Plonky3, `α^{K−1−j}`). Values are in
//! BabyBear or its degree-4 binomial extension [`Ext`]; the extension's basis coefficients
//! are stored as four consecutive words.
//!
//! # The bytecode
//!
//! Straight-line code over two register files (base and extension). Programs are generated
//! from an AIR's symbolic constraints (the prover crate does it), never written by hand, and
//! one interpreter kernel per API runs every AIR. Every program is checked by
//! [`QuotientProgram::validate`] before it runs anywhere: registers in range and written
//! before read, columns and value indices within the shape.

use p3_baby_bear::BabyBear;
use p3_field::extension::BinomialExtensionField;
use p3_field::{BasedVectorSpace, PrimeCharacteristicRing, PrimeField32};
use p3_maybe_rayon::prelude::*;

use crate::AccelError;
use crate::backend::{Backend, DeviceMatrix, RowOrder};

/// BabyBear's degree-4 binomial extension (Plonky3's challenge field).
pub type Ext = BinomialExtensionField<BabyBear, 4>;

/// Base registers a device interpreter provides; programs needing more are refused.
pub const MAX_BASE_REGISTERS: u32 = 256;
/// Extension registers a device interpreter provides.
pub const MAX_EXT_REGISTERS: u32 = 64;
/// Instructions in one program, at most.
pub const MAX_INSTRUCTIONS: usize = 1 << 20;

/// One operation. Operands `a`/`b` are registers unless the opcode says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Opcode {
    /// `base[dst] = main[row + b·next_step][a]` (`b` is 0 for the current row, 1 for the next).
    Main = 0,
    /// `base[dst] = preprocessed[row + b·next_step][a]`.
    Preprocessed = 1,
    /// `base[dst]` = periodic column `a` at this row.
    Periodic = 2,
    /// `base[dst]` = public value `a`.
    Public = 3,
    /// `base[dst]` = the field element `a` (canonical).
    Constant = 4,
    /// `base[dst]` = selector `a` (0 first row, 1 last row, 2 transition).
    Selector = 5,
    /// `base[dst] = base[a] + base[b]`.
    Add = 6,
    /// `base[dst] = base[a] − base[b]`.
    Sub = 7,
    /// `base[dst] = base[a] · base[b]`.
    Mul = 8,
    /// `base[dst] = −base[a]`.
    Neg = 9,
    /// `ext[dst]` = permutation extension column `a` at `row + b·next_step`.
    Permutation = 10,
    /// `ext[dst]` = lookup challenge `a`.
    Challenge = 11,
    /// `ext[dst]` = permutation (LogUp terminal) value `a`.
    PermutationValue = 12,
    /// `ext[dst]` = extension constant `a` of the program's table.
    ExtConstant = 13,
    /// `ext[dst]` = `base[a]` lifted.
    Lift = 14,
    /// `ext[dst] = ext[a] + ext[b]`.
    ExtAdd = 15,
    /// `ext[dst] = ext[a] − ext[b]`.
    ExtSub = 16,
    /// `ext[dst] = ext[a] · ext[b]`.
    ExtMul = 17,
    /// `ext[dst] = −ext[a]`.
    ExtNeg = 18,
    /// `ext[dst] = ext[a] + base[b]`.
    ExtAddBase = 19,
    /// `ext[dst] = ext[a] − base[b]`.
    ExtSubBase = 20,
    /// `ext[dst] = base[a] − ext[b]`.
    BaseSubExt = 21,
    /// `ext[dst] = ext[a] · base[b]`.
    ExtMulBase = 22,
    /// `acc += weight[b] · base[a]` (`dst` unused).
    AccumulateBase = 23,
    /// `acc += weight[b] · ext[a]` (`dst` unused).
    AccumulateExt = 24,
}

impl Opcode {
    /// Every opcode, in numeric order.
    pub const ALL: [Opcode; 25] = [
        Opcode::Main,
        Opcode::Preprocessed,
        Opcode::Periodic,
        Opcode::Public,
        Opcode::Constant,
        Opcode::Selector,
        Opcode::Add,
        Opcode::Sub,
        Opcode::Mul,
        Opcode::Neg,
        Opcode::Permutation,
        Opcode::Challenge,
        Opcode::PermutationValue,
        Opcode::ExtConstant,
        Opcode::Lift,
        Opcode::ExtAdd,
        Opcode::ExtSub,
        Opcode::ExtMul,
        Opcode::ExtNeg,
        Opcode::ExtAddBase,
        Opcode::ExtSubBase,
        Opcode::BaseSubExt,
        Opcode::ExtMulBase,
        Opcode::AccumulateBase,
        Opcode::AccumulateExt,
    ];

    /// Whether the result goes to the extension register file.
    fn writes_ext(self) -> bool {
        matches!(self as u32, 10..=22)
    }
}

/// One instruction: an opcode, its destination register and two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instruction {
    /// What to do.
    pub op: Opcode,
    /// Destination register (base or extension file, by opcode).
    pub dst: u32,
    /// First operand.
    pub a: u32,
    /// Second operand.
    pub b: u32,
}

/// The sizes of everything a program reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotientShape {
    /// Main trace columns.
    pub main_width: usize,
    /// Preprocessed columns (0 for none).
    pub preprocessed_width: usize,
    /// Permutation (LogUp) columns, counted in extension elements (4 base columns each).
    pub permutation_columns: usize,
    /// Periodic columns.
    pub periodic_width: usize,
    /// Public values.
    pub public_values: usize,
    /// Lookup challenges.
    pub challenges: usize,
    /// Permutation (terminal) values.
    pub permutation_values: usize,
    /// Constraints, i.e. weights the caller passes.
    pub weights: usize,
}

/// One AIR's constraints as bytecode (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotientProgram {
    /// The code, run once per quotient-domain point.
    pub instructions: Vec<Instruction>,
    /// Extension constants that [`Opcode::ExtConstant`] indexes.
    pub ext_constants: Vec<Ext>,
    /// Base registers used (`dst < base_registers`).
    pub base_registers: u32,
    /// Extension registers used.
    pub ext_registers: u32,
    /// What the program reads.
    pub shape: QuotientShape,
}

impl QuotientProgram {
    /// Checks the program against its shape and the interpreters' limits; every backend
    /// calls this before running it.
    pub fn validate(&self) -> Result<(), AccelError> {
        let fail = |at: usize, why: String| {
            Err(AccelError::InvalidProgram {
                reason: format!("instruction {at}: {why}"),
            })
        };
        if self.instructions.len() > MAX_INSTRUCTIONS {
            return Err(invalid(format!(
                "{} instructions, more than {MAX_INSTRUCTIONS}",
                self.instructions.len()
            )));
        }
        if self.base_registers > MAX_BASE_REGISTERS || self.ext_registers > MAX_EXT_REGISTERS {
            return Err(invalid(format!(
                "{} base and {} extension registers, more than the interpreters' {} and {}",
                self.base_registers, self.ext_registers, MAX_BASE_REGISTERS, MAX_EXT_REGISTERS
            )));
        }
        let shape = &self.shape;
        let mut base_written = vec![false; self.base_registers as usize];
        let mut ext_written = vec![false; self.ext_registers as usize];
        for (at, ins) in self.instructions.iter().enumerate() {
            let (a, b) = (ins.a as usize, ins.b as usize);
            let base_ok = |r: usize| base_written.get(r).copied().unwrap_or(false);
            let ext_ok = |r: usize| ext_written.get(r).copied().unwrap_or(false);
            let operands_ok = match ins.op {
                Opcode::Main => a < shape.main_width && b <= 1,
                Opcode::Preprocessed => a < shape.preprocessed_width && b <= 1,
                Opcode::Periodic => a < shape.periodic_width,
                Opcode::Public => a < shape.public_values,
                Opcode::Constant => ins.a < BabyBear::ORDER_U32,
                Opcode::Selector => a <= 2,
                Opcode::Add | Opcode::Sub | Opcode::Mul => base_ok(a) && base_ok(b),
                Opcode::Neg | Opcode::Lift => base_ok(a),
                Opcode::Permutation => a < shape.permutation_columns && b <= 1,
                Opcode::Challenge => a < shape.challenges,
                Opcode::PermutationValue => a < shape.permutation_values,
                Opcode::ExtConstant => a < self.ext_constants.len(),
                Opcode::ExtAdd | Opcode::ExtSub | Opcode::ExtMul => ext_ok(a) && ext_ok(b),
                Opcode::ExtNeg => ext_ok(a),
                Opcode::ExtAddBase | Opcode::ExtSubBase | Opcode::ExtMulBase => {
                    ext_ok(a) && base_ok(b)
                }
                Opcode::BaseSubExt => base_ok(a) && ext_ok(b),
                Opcode::AccumulateBase => base_ok(a) && b < shape.weights,
                Opcode::AccumulateExt => ext_ok(a) && b < shape.weights,
            };
            if !operands_ok {
                return fail(at, format!("{ins:?} reads outside the program's shape"));
            }
            match ins.op {
                Opcode::AccumulateBase | Opcode::AccumulateExt => {}
                op if op.writes_ext() => match ext_written.get_mut(ins.dst as usize) {
                    Some(slot) => *slot = true,
                    None => return fail(at, format!("{ins:?} writes past the extension file")),
                },
                _ => match base_written.get_mut(ins.dst as usize) {
                    Some(slot) => *slot = true,
                    None => return fail(at, format!("{ins:?} writes past the base file")),
                },
            }
        }
        Ok(())
    }
}

fn invalid(reason: String) -> AccelError {
    AccelError::InvalidProgram { reason }
}

/// The selectors of a trace domain evaluated on the quotient domain (natural order), as
/// Plonky3's `selectors_on_coset` computes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuotientSelectors {
    /// Non-zero only at the first trace row.
    pub is_first_row: Vec<BabyBear>,
    /// Non-zero only at the last trace row.
    pub is_last_row: Vec<BabyBear>,
    /// Zero only at the last trace row.
    pub is_transition: Vec<BabyBear>,
    /// `1 / Z_H(x)`.
    pub inv_vanishing: Vec<BabyBear>,
}

/// Everything one quotient evaluation reads. Matrices live on the backend's device; the
/// small per-proof values come from the host.
pub struct QuotientInputs<'a, B: Backend + ?Sized> {
    /// Points of the quotient domain, `n`. Each matrix has `n` rows, or (in bit-reversed
    /// order) a power of two more: the first `n` rows of a bit-reversed LDE are its values
    /// on the coset of `n` points with the same shift, bit-reversed, so a chip whose
    /// quotient domain is smaller than its LDE reads that prefix where the LDE is.
    pub rows: usize,
    /// The main trace on the quotient domain (any row order).
    pub main: &'a DeviceMatrix<B>,
    /// The preprocessed trace on the quotient domain, if the AIR has one.
    pub preprocessed: Option<&'a DeviceMatrix<B>>,
    /// The permutation trace on the quotient domain, 4 base columns per extension column.
    pub permutation: Option<&'a DeviceMatrix<B>>,
    /// Rows between a point and its "next" point (the quotient domain's blowup).
    pub next_step: usize,
    /// The selectors, `n` values each.
    pub selectors: &'a QuotientSelectors,
    /// Periodic columns on the quotient domain, row-major, `periodic_rows` rows that repeat.
    pub periodic: &'a [BabyBear],
    /// Rows of `periodic` (0 when there are no periodic columns).
    pub periodic_rows: usize,
    /// Public values.
    pub public_values: &'a [BabyBear],
    /// Lookup challenges.
    pub challenges: &'a [Ext],
    /// Permutation (terminal) values.
    pub permutation_values: &'a [Ext],
    /// The weight of each constraint (`shape.weights` of them).
    pub weights: &'a [Ext],
}

impl<B: Backend + ?Sized> QuotientInputs<'_, B> {
    /// The buffers a device interpreter binds: main, preprocessed and permutation, the main
    /// trace standing in (unread) for a matrix the AIR does not have.
    pub(crate) fn buffers(&self) -> [&B::Buffer; 3] {
        let main = &self.main.buffer;
        [
            main,
            self.preprocessed.map_or(main, |m| &m.buffer),
            self.permutation.map_or(main, |m| &m.buffer),
        ]
    }

    /// Checks the inputs against `program` and returns the quotient domain's size `n`.
    pub fn check(&self, program: &QuotientProgram) -> Result<usize, AccelError> {
        program.validate()?;
        let shape = &program.shape;
        let n = self.rows;
        let mismatch = |detail: String| Err(AccelError::ShapeMismatch { detail });
        if !n.is_power_of_two() || n < 2 {
            return Err(AccelError::HeightNotPowerOfTwo { height: n });
        }
        // The domain's values: all rows, or the prefix of a taller bit-reversed LDE.
        let holds_domain = |m: &DeviceMatrix<B>| {
            m.height() == n
                || (m.height() > n
                    && m.height().is_power_of_two()
                    && m.order() == RowOrder::BitReversed)
        };
        if !holds_domain(self.main) {
            return mismatch(format!(
                "a main trace of {} rows in {:?} order does not hold a domain of {n}",
                self.main.height(),
                self.main.order()
            ));
        }
        if self.main.width() != shape.main_width {
            return mismatch(format!(
                "main trace has {} columns, the program reads {}",
                self.main.width(),
                shape.main_width
            ));
        }
        match (self.preprocessed, shape.preprocessed_width) {
            (None, 0) => {}
            (Some(m), w) if m.width() == w && holds_domain(m) => {}
            _ => return mismatch("preprocessed trace does not match the program".into()),
        }
        match (self.permutation, shape.permutation_columns) {
            (None, 0) => {}
            (Some(m), w) if m.width() == 4 * w && holds_domain(m) => {}
            _ => return mismatch("permutation trace does not match the program".into()),
        }
        if self.next_step == 0 || self.next_step >= n {
            return mismatch(format!("next step {} on a domain of {n}", self.next_step));
        }
        let s = self.selectors;
        if [
            &s.is_first_row,
            &s.is_last_row,
            &s.is_transition,
            &s.inv_vanishing,
        ]
        .iter()
        .any(|v| v.len() != n)
        {
            return mismatch(format!("selectors are not {n} values long"));
        }
        let periodic_ok = if shape.periodic_width == 0 {
            self.periodic_rows == 0 || self.periodic.is_empty()
        } else {
            self.periodic_rows > 0
                && n.is_multiple_of(self.periodic_rows)
                && self.periodic.len() == self.periodic_rows * shape.periodic_width
        };
        if !periodic_ok {
            return mismatch("periodic table does not match the program".into());
        }
        if self.public_values.len() != shape.public_values
            || self.challenges.len() != shape.challenges
            || self.permutation_values.len() != shape.permutation_values
            || self.weights.len() != shape.weights
        {
            return mismatch("public values, challenges or weights miscounted".into());
        }
        Ok(n)
    }
}

/// Physical row of logical row `row` in a matrix of height `2^log_n` stored in `order`.
fn physical_row(row: usize, order: RowOrder, log_n: u32) -> usize {
    match order {
        RowOrder::Natural => row,
        RowOrder::BitReversed => row.reverse_bits() >> (usize::BITS - log_n),
    }
}

/// A host view of one matrix for the reference interpreter.
struct HostMatrix<'a> {
    values: &'a [BabyBear],
    width: usize,
    order: RowOrder,
}

impl HostMatrix<'_> {
    fn get(&self, row: usize, col: usize, log_n: u32) -> BabyBear {
        self.values[physical_row(row, self.order, log_n) * self.width + col]
    }
}

/// Runs `program` on host matrices (the CPU backend's quotient, and the reference the device
/// interpreters are tested against). Inputs must have passed [`QuotientInputs::check`].
pub(crate) fn evaluate_on_host(
    program: &QuotientProgram,
    inputs: &QuotientInputs<'_, crate::CpuBackend>,
) -> Vec<Ext> {
    let n = inputs.rows;
    let log_n = n.trailing_zeros();
    fn view(m: &DeviceMatrix<crate::CpuBackend>) -> HostMatrix<'_> {
        HostMatrix {
            values: &m.buffer,
            width: m.width(),
            order: m.order(),
        }
    }
    let main = view(inputs.main);
    let pre = inputs.preprocessed.map(view);
    let perm = inputs.permutation.map(view);
    let periodic_width = program.shape.periodic_width;
    let sels = inputs.selectors;
    (0..n)
        .into_par_iter()
        .map_init(
            || {
                (
                    vec![BabyBear::ZERO; program.base_registers as usize],
                    vec![Ext::ZERO; program.ext_registers as usize],
                )
            },
            |(base, ext), i| {
                let rows = [i, (i + inputs.next_step) % n];
                let mut acc = Ext::ZERO;
                for ins in &program.instructions {
                    let (a, b, d) = (ins.a as usize, ins.b as usize, ins.dst as usize);
                    match ins.op {
                        Opcode::Main => base[d] = main.get(rows[b], a, log_n),
                        Opcode::Preprocessed => {
                            base[d] = pre
                                .as_ref()
                                .map_or(BabyBear::ZERO, |m| m.get(rows[b], a, log_n))
                        }
                        Opcode::Periodic => {
                            base[d] =
                                inputs.periodic[(i % inputs.periodic_rows) * periodic_width + a]
                        }
                        Opcode::Public => base[d] = inputs.public_values[a],
                        Opcode::Constant => base[d] = BabyBear::new(ins.a),
                        Opcode::Selector => {
                            base[d] =
                                [&sels.is_first_row, &sels.is_last_row, &sels.is_transition][a][i]
                        }
                        Opcode::Add => base[d] = base[a] + base[b],
                        Opcode::Sub => base[d] = base[a] - base[b],
                        Opcode::Mul => base[d] = base[a] * base[b],
                        Opcode::Neg => base[d] = -base[a],
                        Opcode::Permutation => {
                            let m = perm
                                .as_ref()
                                .expect("checked: the program reads a permutation");
                            ext[d] = Ext::from_basis_coefficients_fn(|k| {
                                m.get(rows[b], 4 * a + k, log_n)
                            });
                        }
                        Opcode::Challenge => ext[d] = inputs.challenges[a],
                        Opcode::PermutationValue => ext[d] = inputs.permutation_values[a],
                        Opcode::ExtConstant => ext[d] = program.ext_constants[a],
                        Opcode::Lift => ext[d] = Ext::from(base[a]),
                        Opcode::ExtAdd => ext[d] = ext[a] + ext[b],
                        Opcode::ExtSub => ext[d] = ext[a] - ext[b],
                        Opcode::ExtMul => ext[d] = ext[a] * ext[b],
                        Opcode::ExtNeg => ext[d] = -ext[a],
                        Opcode::ExtAddBase => ext[d] = ext[a] + base[b],
                        Opcode::ExtSubBase => ext[d] = ext[a] - base[b],
                        Opcode::BaseSubExt => ext[d] = Ext::from(base[a]) - ext[b],
                        Opcode::ExtMulBase => ext[d] = ext[a] * base[b],
                        Opcode::AccumulateBase => acc += inputs.weights[b] * base[a],
                        Opcode::AccumulateExt => acc += inputs.weights[b] * ext[a],
                    }
                }
                acc * sels.inv_vanishing[i]
            },
        )
        .collect()
}

/// Words of the header at the start of a device table (see [`DeviceTables`]).
pub(crate) const HEADER_WORDS: usize = 16;

/// The single host-built buffer a device interpreter reads besides the matrices: a header,
/// the lowered code, the values in Montgomery form, the periodic table and the selectors.
///
/// Lowering rewrites every "value" opcode (public, challenge, permutation value, extension
/// constant, and the weights of the accumulations) into an absolute word offset in this
/// table, so the kernels need one load opcode per register file; constants become
/// Montgomery words.
///
/// Header words: 0 `n`, 1 `log n`, 2 `next_step`, 3 instruction count, 4 main width,
/// 5 main bit-reversed (0/1), 6 preprocessed width, 7 preprocessed bit-reversed,
/// 8 permutation width in base columns, 9 permutation bit-reversed, 10 periodic width,
/// 11 periodic rows, 12 code offset, 13 periodic offset, 14 selectors offset
/// (4 Montgomery words per row: first, last, transition, 1/Z_H), 15 output offset (the
/// Vulkan interpreter writes its output there; others leave it unused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceTables {
    /// The words.
    pub words: Vec<u32>,
    /// Quotient domain size.
    pub n: usize,
}

/// Opcodes of the lowered code (the device kernels' `Q_*` constants).
pub(crate) mod lowered {
    /// base[dst] = table[a] (a Montgomery word).
    pub const BASE_TABLE: u32 = 3;
    /// base[dst] = a (a Montgomery word).
    pub const BASE_IMMEDIATE: u32 = 4;
    /// ext[dst] = table[a..a+4].
    pub const EXT_TABLE: u32 = 11;
}

impl DeviceTables {
    /// Lays out the tables for `program` (lowered by [`lower`]) and `inputs` (already checked).
    pub(crate) fn build<B: Backend + ?Sized>(
        program: &QuotientProgram,
        inputs: &QuotientInputs<'_, B>,
        with_output: bool,
    ) -> Self {
        use crate::field::montgomery;
        let n = inputs.rows;
        // Values region, in the order `lower` assumes: publics, then the extension values
        // 4 Montgomery words each.
        let mut values: Vec<u32> = inputs
            .public_values
            .iter()
            .map(|&v| montgomery(v))
            .collect();
        for list in [
            inputs.challenges,
            inputs.permutation_values,
            inputs.weights,
            &program.ext_constants,
        ] {
            for e in list {
                values.extend(
                    e.as_basis_coefficients_slice()
                        .iter()
                        .map(|&c| montgomery(c)),
                );
            }
        }
        let code = lower(program);
        let code_at = HEADER_WORDS + values.len();
        let periodic_at = code_at + code.len();
        let selectors_at = periodic_at + inputs.periodic.len();
        let output_at = selectors_at + 4 * n;
        let total = output_at + if with_output { 4 * n } else { 0 };

        let mut words = Vec::with_capacity(total);
        let order_flag = |m: Option<&DeviceMatrix<B>>| {
            u32::from(m.is_some_and(|m| m.order() == RowOrder::BitReversed))
        };
        let shape = &program.shape;
        words.extend_from_slice(&[
            n as u32,
            n.trailing_zeros(),
            inputs.next_step as u32,
            program.instructions.len() as u32,
            shape.main_width as u32,
            order_flag(Some(inputs.main)),
            shape.preprocessed_width as u32,
            order_flag(inputs.preprocessed),
            4 * shape.permutation_columns as u32,
            order_flag(inputs.permutation),
            shape.periodic_width as u32,
            inputs.periodic_rows as u32,
            code_at as u32,
            periodic_at as u32,
            selectors_at as u32,
            output_at as u32,
        ]);
        words.extend_from_slice(&values);
        words.extend_from_slice(&code);
        words.extend(inputs.periodic.iter().map(|&v| montgomery(v)));
        let s = inputs.selectors;
        for i in 0..n {
            words.extend_from_slice(&[
                montgomery(s.is_first_row[i]),
                montgomery(s.is_last_row[i]),
                montgomery(s.is_transition[i]),
                montgomery(s.inv_vanishing[i]),
            ]);
        }
        words.resize(total, 0);
        DeviceTables { words, n }
    }
}

/// The lowered code of `program` (4 words per instruction: opcode, dst, a, b): value
/// opcodes become absolute offsets into the tables' values region, whose layout depends on
/// the program's shape only (publics, challenges, permutation values, weights, extension
/// constants), and constants become Montgomery words.
pub(crate) fn lower(program: &QuotientProgram) -> Vec<u32> {
    use crate::field::montgomery;
    let shape = &program.shape;
    let challenges_at = shape.public_values;
    let perm_values_at = challenges_at + 4 * shape.challenges;
    let weights_at = perm_values_at + 4 * shape.permutation_values;
    let constants_at = weights_at + 4 * shape.weights;
    let at = |offset: usize, index: u32, stride: usize| {
        (HEADER_WORDS + offset + stride * index as usize) as u32
    };
    let mut code = Vec::with_capacity(4 * program.instructions.len());
    for ins in &program.instructions {
        let (op, a, b) = match ins.op {
            Opcode::Public => (lowered::BASE_TABLE, at(0, ins.a, 1), 0),
            Opcode::Constant => (lowered::BASE_IMMEDIATE, montgomery(BabyBear::new(ins.a)), 0),
            Opcode::Challenge => (lowered::EXT_TABLE, at(challenges_at, ins.a, 4), 0),
            Opcode::PermutationValue => (lowered::EXT_TABLE, at(perm_values_at, ins.a, 4), 0),
            Opcode::ExtConstant => (lowered::EXT_TABLE, at(constants_at, ins.a, 4), 0),
            Opcode::AccumulateBase | Opcode::AccumulateExt => {
                (ins.op as u32, ins.a, at(weights_at, ins.b, 4))
            }
            op => (op as u32, ins.a, ins.b),
        };
        code.extend_from_slice(&[op, ins.dst, a, b]);
    }
    code
}

/// The n × 4 matrix of quotient values an interpreter wrote into `buffer` (natural order).
pub(crate) fn values_matrix<B: Backend>(buffer: B::Buffer, n: usize) -> DeviceMatrix<B> {
    DeviceMatrix {
        buffer,
        width: 4,
        height: n,
        order: RowOrder::Natural,
    }
}

/// What a specialized kernel is built from, and so the key its build is cached under: the
/// lowered code and the register counts (extension constants travel in the tables).
pub(crate) fn specialization_key(program: &QuotientProgram) -> Vec<u32> {
    let mut key = lower(program);
    key.extend_from_slice(&[program.base_registers, program.ext_registers]);
    key
}

/// The name of every specialized kernel (each is compiled into a program of its own).
pub(crate) const SPECIALIZED_KERNEL: &str = "quotient_specialized";

/// `program` as a kernel of its own: the interpreter's loop unrolled into straight-line C
/// (the shared kernel vocabulary, so OpenCL and CUDA compile the same text), registers as
/// local variables the device compiler keeps in hardware registers. Same arguments and tables
/// as `quotient_eval`; needs `babybear.h` and `quotient.h` before it.
pub(crate) fn specialized_source(program: &QuotientProgram) -> String {
    let code = lower(program);
    let mut body = String::new();
    let ext = |r: u32, k: usize| format!("e{r}_{k}");
    for word in code.chunks_exact(4) {
        let (op, d, a, b) = (word[0], word[1], word[2], word[3]);
        let line = match op {
            0 => format!("b{d} = bb_to_monty(main_lde[m{b} + {a}u]);"),
            1 => format!("b{d} = bb_to_monty(preprocessed_lde[p{b} + {a}u]);"),
            2 => format!("b{d} = periodic[{a}u];"),
            3 => format!("b{d} = tables[{a}u];"),
            4 => format!("b{d} = {a}u;"),
            5 => format!("b{d} = sels[{a}u];"),
            6 => format!("b{d} = bb_add(b{a}, b{b});"),
            7 => format!("b{d} = bb_sub(b{a}, b{b});"),
            8 => format!("b{d} = bb_mul(b{a}, b{b});"),
            9 => format!("b{d} = q_neg(b{a});"),
            10 => (0..4)
                .map(|k| {
                    format!(
                        "{} = bb_to_monty(permutation_lde[q{b} + {}u]);",
                        ext(d, k),
                        4 * a as usize + k
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
            11 => (0..4)
                .map(|k| format!("{} = tables[{}u];", ext(d, k), a as usize + k))
                .collect::<Vec<_>>()
                .join(" "),
            14 => format!(
                "{} = b{a}; {} = 0u; {} = 0u; {} = 0u;",
                ext(d, 0),
                ext(d, 1),
                ext(d, 2),
                ext(d, 3)
            ),
            15 | 16 => {
                let f = if op == 15 { "bb_add" } else { "bb_sub" };
                (0..4)
                    .map(|k| format!("{} = {f}({}, {});", ext(d, k), ext(a, k), ext(b, k)))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            17 => format!(
                "q_ext_mul({}, {}, {}, {}, {}, {}, {}, {}, c); {} = c[0]; {} = c[1]; {} = c[2]; {} = c[3];",
                ext(a, 0),
                ext(a, 1),
                ext(a, 2),
                ext(a, 3),
                ext(b, 0),
                ext(b, 1),
                ext(b, 2),
                ext(b, 3),
                ext(d, 0),
                ext(d, 1),
                ext(d, 2),
                ext(d, 3)
            ),
            18 => (0..4)
                .map(|k| format!("{} = q_neg({});", ext(d, k), ext(a, k)))
                .collect::<Vec<_>>()
                .join(" "),
            19 | 20 => {
                let f = if op == 19 { "bb_add" } else { "bb_sub" };
                format!(
                    "{} = {f}({}, b{b}); {} = {}; {} = {}; {} = {};",
                    ext(d, 0),
                    ext(a, 0),
                    ext(d, 1),
                    ext(a, 1),
                    ext(d, 2),
                    ext(a, 2),
                    ext(d, 3),
                    ext(a, 3)
                )
            }
            21 => format!(
                "{} = bb_sub(b{a}, {}); {} = q_neg({}); {} = q_neg({}); {} = q_neg({});",
                ext(d, 0),
                ext(b, 0),
                ext(d, 1),
                ext(b, 1),
                ext(d, 2),
                ext(b, 2),
                ext(d, 3),
                ext(b, 3)
            ),
            22 => (0..4)
                .map(|k| format!("{} = bb_mul({}, b{b});", ext(d, k), ext(a, k)))
                .collect::<Vec<_>>()
                .join(" "),
            23 => (0..4)
                .map(|k| {
                    format!(
                        "acc{k} = bb_add(acc{k}, bb_mul(tables[{}u], b{a}));",
                        b as usize + k
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
            24 => format!(
                "q_ext_mul({}, {}, {}, {}, tables[{b}u], tables[{}u], tables[{}u], tables[{}u], c); \
                 acc0 = bb_add(acc0, c[0]); acc1 = bb_add(acc1, c[1]); acc2 = bb_add(acc2, c[2]); acc3 = bb_add(acc3, c[3]);",
                ext(a, 0),
                ext(a, 1),
                ext(a, 2),
                ext(a, 3),
                b + 1,
                b + 2,
                b + 3
            ),
            _ => unreachable!("lower emits only known opcodes"),
        };
        body.push_str("    ");
        body.push_str(&line);
        body.push('\n');
    }
    let base_decls: Vec<String> = (0..program.base_registers)
        .map(|r| format!("b{r}"))
        .collect();
    let ext_decls: Vec<String> = (0..program.ext_registers)
        .flat_map(|r| (0..4).map(move |k| format!("e{r}_{k}")))
        .collect();
    let declare = |names: &[String]| {
        if names.is_empty() {
            String::new()
        } else {
            format!("    u32 {};\n", names.join(", "))
        }
    };
    format!(
        "KERNEL void {SPECIALIZED_KERNEL}(GLOBAL const u32* tables, GLOBAL const u32* main_lde,\n\
         \x20                         GLOBAL const u32* preprocessed_lde,\n\
         \x20                         GLOBAL const u32* permutation_lde, GLOBAL u32* out) {{\n\
         \x20   u32 i = GLOBAL_ID(0);\n\
         \x20   u32 n = tables[0];\n\
         \x20   if (i >= n) return;\n\
         \x20   u32 log_n = tables[1];\n\
         \x20   u32 r0 = i;\n\
         \x20   u32 r1 = (i + tables[2]) & (n - 1u);\n\
         \x20   u64 m0 = (u64)q_row(r0, tables[5], log_n) * tables[4];\n\
         \x20   u64 m1 = (u64)q_row(r1, tables[5], log_n) * tables[4];\n\
         \x20   u64 p0 = (u64)q_row(r0, tables[7], log_n) * tables[6];\n\
         \x20   u64 p1 = (u64)q_row(r1, tables[7], log_n) * tables[6];\n\
         \x20   u64 q0 = (u64)q_row(r0, tables[9], log_n) * tables[8];\n\
         \x20   u64 q1 = (u64)q_row(r1, tables[9], log_n) * tables[8];\n\
         \x20   u32 periodic_row = tables[11] == 0u ? 0u : i % tables[11];\n\
         \x20   GLOBAL const u32* periodic = tables + tables[13] + periodic_row * tables[10];\n\
         \x20   GLOBAL const u32* sels = tables + tables[14] + 4u * i;\n\
         \x20   u32 acc0 = 0u, acc1 = 0u, acc2 = 0u, acc3 = 0u;\n\
         \x20   u32 c[4];\n\
         {}{}{body}\
         \x20   u32 inv_z = sels[3];\n\
         \x20   out[4u * i] = bb_from_monty(bb_mul(acc0, inv_z));\n\
         \x20   out[4u * i + 1u] = bb_from_monty(bb_mul(acc1, inv_z));\n\
         \x20   out[4u * i + 2u] = bb_from_monty(bb_mul(acc2, inv_z));\n\
         \x20   out[4u * i + 3u] = bb_from_monty(bb_mul(acc3, inv_z));\n\
         \x20   (void)m0; (void)m1; (void)p0; (void)p1; (void)q0; (void)q1; (void)periodic; (void)c;\n\
         }}\n",
        declare(&base_decls),
        declare(&ext_decls),
    )
}

/// The text of a specialized program: `prelude`, the field's and the interpreter's defines,
/// `babybear.h`, `quotient.h` (its helpers), then [`specialized_source`].
pub(crate) fn specialized_program_text(prelude: &str, program: &QuotientProgram) -> String {
    let mut text = String::from(prelude);
    text.push_str(&crate::field::field_defines());
    text.push_str(&kernel_defines());
    for file in zkbox_kernels::SOURCES
        .iter()
        .filter(|f| matches!(f.path, "device/babybear.h" | "device/quotient.h"))
    {
        text.push_str(file.text);
    }
    text.push_str(&specialized_source(program));
    text
}

/// Downloads extension values left on the device as an `n × 4` matrix of coefficients:
/// the quotient values of [`Backend::evaluate_quotient`], a folded FRI vector, DEEP sums.
pub fn download_values<B: Backend>(
    backend: &B,
    quotient: &DeviceMatrix<B>,
) -> Result<Vec<Ext>, AccelError> {
    if quotient.width() != 4 {
        return Err(AccelError::ShapeMismatch {
            detail: format!(
                "extension values have 4 columns (one per coefficient), not {}",
                quotient.width()
            ),
        });
    }
    let values = backend.download(quotient)?;
    Ok(values
        .chunks_exact(4)
        .map(|c| Ext::from_basis_coefficients_fn(|k| c[k]))
        .collect())
}

/// The coset LDEs of a quotient's chunks, left on the device: `values` (the `n × 4`
/// natural-order matrix of [`Backend::evaluate_quotient`]) splits into `shifts.len()`
/// chunks, chunk `j` every `shifts.len()`-th row from row `j` (Plonky3's `split_evals`),
/// and chunk `j` extends by `added_bits` onto its coset `shifts[j]·K`, bit-reversed (what
/// `TwoAdicFriPcs::get_quotient_ldes` computes for it).
pub fn chunk_ldes<B: Backend>(
    backend: &B,
    values: &DeviceMatrix<B>,
    shifts: &[BabyBear],
    added_bits: usize,
) -> Result<Vec<DeviceMatrix<B>>, AccelError> {
    shifts
        .iter()
        .enumerate()
        .map(|(j, &shift)| {
            let chunk = backend.strided_rows(values, j, shifts.len())?;
            backend.coset_lde(&chunk, added_bits, shift)
        })
        .collect()
}

/// The extension's `W` (x⁴ = W) in Montgomery form, taken from Plonky3.
pub(crate) fn ext_w_montgomery() -> u32 {
    use p3_field::extension::BinomiallyExtendable;
    crate::field::montgomery(<BabyBear as BinomiallyExtendable<4>>::W)
}

/// The `#define`s the C interpreter needs besides the field's: its register files and the
/// extension's `W` in Montgomery form.
pub(crate) fn kernel_defines() -> String {
    let w = ext_w_montgomery();
    format!(
        "#define Q_MAX_BASE {MAX_BASE_REGISTERS}u\n#define Q_MAX_EXT {MAX_EXT_REGISTERS}u\n#define Q_EXT_W {w}u\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuBackend;

    fn ins(op: Opcode, dst: u32, a: u32, b: u32) -> Instruction {
        Instruction { op, dst, a, b }
    }

    /// `(main[0] · main[1]) − 3`, weighted by slot 0.
    fn program() -> QuotientProgram {
        QuotientProgram {
            instructions: vec![
                ins(Opcode::Main, 0, 0, 0),
                ins(Opcode::Main, 1, 1, 1),
                ins(Opcode::Mul, 0, 0, 1),
                ins(Opcode::Constant, 1, 3, 0),
                ins(Opcode::Sub, 0, 0, 1),
                ins(Opcode::AccumulateBase, 0, 0, 0),
            ],
            ext_constants: vec![],
            base_registers: 2,
            ext_registers: 0,
            shape: QuotientShape {
                main_width: 2,
                weights: 1,
                ..Default::default()
            },
        }
    }

    /// Selectors of ones, with the given `1 / Z_H` values.
    fn selectors(n: usize, inv_vanishing: Vec<BabyBear>) -> QuotientSelectors {
        QuotientSelectors {
            is_first_row: vec![BabyBear::ONE; n],
            is_last_row: vec![BabyBear::ONE; n],
            is_transition: vec![BabyBear::ONE; n],
            inv_vanishing,
        }
    }

    /// Inputs with a main trace only, the next row one row on.
    fn main_only<'a>(
        main: &'a DeviceMatrix<CpuBackend>,
        selectors: &'a QuotientSelectors,
        weights: &'a [Ext],
    ) -> QuotientInputs<'a, CpuBackend> {
        QuotientInputs {
            rows: main.height(),
            main,
            preprocessed: None,
            permutation: None,
            next_step: 1,
            selectors,
            periodic: &[],
            periodic_rows: 0,
            public_values: &[],
            challenges: &[],
            permutation_values: &[],
            weights,
        }
    }

    /// A bit-reversed LDE taller than the quotient domain is read by its prefix: the same
    /// values as the prefix alone, which is the domain's own bit-reversed matrix. A taller
    /// matrix in natural order holds no such domain and is refused.
    #[test]
    fn a_taller_bit_reversed_lde_is_read_by_its_prefix() {
        let backend = CpuBackend::new();
        let n = 8;
        let values: Vec<BabyBear> = (0..4 * n as u32)
            .map(|i| BabyBear::new(7 * i * i + 3 * i + 1))
            .collect();
        let tall = backend
            .upload(&values, 2)
            .unwrap()
            .assume_order(RowOrder::BitReversed);
        let prefix = backend
            .upload(&values[..2 * n], 2)
            .unwrap()
            .assume_order(RowOrder::BitReversed);
        let selectors = selectors(n, (1..=n as u32).map(BabyBear::new).collect());
        let weights = [Ext::from(BabyBear::new(5))];
        let expected = backend
            .evaluate_quotient(&program(), &main_only(&prefix, &selectors, &weights))
            .unwrap();
        let inputs = QuotientInputs {
            rows: n,
            ..main_only(&tall, &selectors, &weights)
        };
        let got = backend.evaluate_quotient(&program(), &inputs).unwrap();
        assert_eq!(got.height(), n);
        assert_eq!(got.buffer, expected.buffer);
        let natural = backend.upload(&values, 2).unwrap();
        let inputs = QuotientInputs {
            rows: n,
            ..main_only(&natural, &selectors, &weights)
        };
        assert!(matches!(
            backend.evaluate_quotient(&program(), &inputs),
            Err(AccelError::ShapeMismatch { .. })
        ));
    }

    fn rejects(program: &QuotientProgram, what: &str) {
        match program.validate() {
            Err(AccelError::InvalidProgram { reason }) => assert!(!reason.is_empty()),
            other => panic!("{what}: expected an invalid-program error, got {other:?}"),
        }
    }

    #[test]
    fn validation_refuses_programs_that_read_or_write_outside_their_shape() {
        program().validate().unwrap();
        let mut p = program();
        p.instructions[2].b = 1;
        p.instructions.swap(1, 2); // reads register 1 before it is written
        rejects(&p, "read before write");
        let mut p = program();
        p.instructions[0].a = 2;
        rejects(&p, "main column past the width");
        let mut p = program();
        p.instructions[1].b = 2;
        rejects(&p, "a row offset other than current/next");
        let mut p = program();
        p.instructions[5].b = 1;
        rejects(&p, "a weight slot past the constraint count");
        let mut p = program();
        p.instructions[3].dst = 2;
        rejects(&p, "a write past the register file");
        let mut p = program();
        p.instructions[3].a = BabyBear::ORDER_U32;
        rejects(&p, "a constant that is not a field element");
        let mut p = program();
        p.base_registers = MAX_BASE_REGISTERS + 1;
        rejects(&p, "more registers than the interpreters have");
        let mut p = program();
        p.instructions[0].op = Opcode::Challenge;
        rejects(&p, "a challenge the shape does not have");
    }

    #[test]
    fn the_reference_interpreter_evaluates_and_divides_by_the_vanishing_polynomial() {
        let backend = CpuBackend::new();
        let n = 4;
        let main: Vec<BabyBear> = (1..=2 * n as u32).map(BabyBear::new).collect();
        let main = backend.upload(&main, 2).unwrap();
        let selectors = selectors(n, (1..=n as u32).map(BabyBear::new).collect());
        let weight = Ext::from_basis_coefficients_fn(|k| BabyBear::new(k as u32 + 2));
        let weights = [weight];
        let inputs = main_only(&main, &selectors, &weights);
        let quotient = backend.evaluate_quotient(&program(), &inputs).unwrap();
        let got = download_values(&backend, &quotient).unwrap();
        for (i, value) in got.iter().enumerate() {
            // Row i is (2i+1, 2i+2); the next row's column 1 is 2((i+1) mod n) + 2.
            let current = BabyBear::new(2 * i as u32 + 1);
            let next = BabyBear::new(2 * ((i + 1) % n) as u32 + 2);
            let expected =
                weight * (current * next - BabyBear::new(3)) * BabyBear::new(i as u32 + 1);
            assert_eq!(*value, expected, "point {i}");
        }
    }

    #[test]
    fn inputs_that_do_not_fit_the_program_are_refused_before_running() {
        let backend = CpuBackend::new();
        let n = 4;
        let main = backend.upload(&vec![BabyBear::ONE; 3 * n], 3).unwrap();
        let selectors = selectors(n, vec![BabyBear::ONE; n]);
        let weights = [Ext::ONE];
        let inputs = main_only(&main, &selectors, &weights);
        assert!(matches!(
            backend.evaluate_quotient(&program(), &inputs),
            Err(AccelError::ShapeMismatch { .. })
        ));
        let two_columns = backend.upload(&vec![BabyBear::ONE; 2 * n], 2).unwrap();
        let short = QuotientSelectors {
            inv_vanishing: vec![BabyBear::ONE; n - 1],
            ..selectors.clone()
        };
        let inputs = QuotientInputs {
            main: &two_columns,
            selectors: &short,
            ..inputs
        };
        assert!(matches!(
            backend.evaluate_quotient(&program(), &inputs),
            Err(AccelError::ShapeMismatch { .. })
        ));
    }
}
