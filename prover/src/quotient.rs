//! Compiles a chip's constraints into the quotient bytecode device kernels interpret
//! (`zkbox_accel::quotient`), and builds the host side of a quotient evaluation (selectors,
//! periodic table, weights) exactly as Plonky3's batch prover does.
//!
//! The constraints come from Plonky3's symbolic builder run over the chip's AIR together with
//! its LogUp lookups (`get_symbolic_constraints`), so the program is the AIR, never a hand
//! copy of it. Compilation:
//!
//! 1. walks every constraint's expression DAG once (shared `Arc` sub-trees are visited once)
//!    and interns each node by its operation and operands, so equal sub-expressions, and
//!    every column load, become one value (commutative operands are ordered first);
//! 2. types each value as base field or extension, so base arithmetic stays in base registers
//!    and mixed operations use the mixed opcodes;
//! 3. folds constant operations and multiplications by one;
//! 4. allocates registers by liveness (a register is reused once its last reader has run);
//!    a chip whose program would need more registers than the interpreters have (the
//!    field256 chip's 600 columns all feed its 64 product constraints) is compiled again
//!    with every leaf — column load, constant, challenge — emitted afresh right before each
//!    reader, so no load holds a register between uses; one that still does not fit (the
//!    keccak-f chip's θ and χ values are each shared by constraints far apart) is compiled
//!    once more sharing sub-expressions only within a constraint, so at most one
//!    constraint's values are live at a time.
//!
//! Constraint `j` (in Plonky3's global emission order) is accumulated with weight slot `j`;
//! [`weights`] gives the weights Plonky3 folds with, `α^{K−1−j}`.

use std::collections::{BTreeSet, HashMap};

use p3_air::symbolic::{
    AirLayout, BaseEntry, BaseLeaf, ExtEntry, ExtLeaf, SymbolicExpr, SymbolicExpression,
    SymbolicExpressionExt,
};
use p3_air::{Air, BaseAir};
use p3_batch_stark::prover::quotient_values;
use p3_batch_stark::symbolic::{get_constraint_layout, get_symbolic_constraints};
use p3_commit::{PolynomialSpace, UnivariateStarkPcs};
use p3_field::{BasedVectorSpace, ExtensionField, PrimeCharacteristicRing, PrimeField32};
use p3_lookup::logup::LogUpGadget;
use p3_lookup::{InteractionSymbolicBuilder, Lookup, LookupProtocol};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::util::reverse_matrix_index_bits;
use p3_uni_stark::StarkGenericConfig;
use zkbox_accel::quotient::{
    Instruction, MAX_BASE_REGISTERS, MAX_EXT_REGISTERS, Opcode, QuotientInputs, QuotientProgram,
    QuotientSelectors, QuotientShape,
};
use zkbox_accel::{AccelError, Backend, DeviceMatrix, RowOrder};

use crate::chips::Chip;
use crate::config::{Challenge, Challenger, Val, ZkboxConfig, stark_config};

/// The two-adic cosets traces and quotients live on.
pub type Domain = p3_field::coset::TwoAdicMultiplicativeCoset<Val>;

/// A compiled value: an SSA id and the register file it lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Value {
    Base(u32),
    Ext(u32),
}

impl Value {
    fn id(self) -> u32 {
        match self {
            Value::Base(id) | Value::Ext(id) => id,
        }
    }
}

/// An instruction over SSA ids, before register allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Node {
    op: Opcode,
    a: u32,
    b: u32,
}

impl Node {
    /// The SSA ids this node reads (register operands only).
    fn operands(&self) -> [Option<u32>; 2] {
        use Opcode::*;
        match self.op {
            Main | Preprocessed | Periodic | Public | Constant | Selector | Permutation
            | Challenge | PermutationValue | ExtConstant => [None, None],
            Neg | Lift | ExtNeg => [Some(self.a), None],
            AccumulateBase | AccumulateExt => [Some(self.a), None],
            _ => [Some(self.a), Some(self.b)],
        }
    }
}

/// Builds the SSA program.
#[derive(Default)]
struct Compiler {
    /// Nodes in emission order; node `i` defines SSA id `i` (accumulations define nothing).
    nodes: Vec<Node>,
    /// The value each node defines, by SSA id.
    values: Vec<Value>,
    interned: HashMap<Node, Value>,
    base_seen: HashMap<*const SymbolicExpression<Val>, Value>,
    ext_seen: HashMap<*const SymbolicExpressionExt<Val, Challenge>, Value>,
    /// The base constant each constant node holds (for folding).
    constants: HashMap<u32, Val>,
    ext_constants: Vec<Challenge>,
}

impl Compiler {
    /// Emits `node` unless an equal one exists; returns its value.
    fn emit(&mut self, mut node: Node, ext: bool) -> Value {
        use Opcode::*;
        if matches!(node.op, Add | Mul | ExtAdd | ExtMul) && node.a > node.b {
            std::mem::swap(&mut node.a, &mut node.b);
        }
        if let Some(&value) = self.interned.get(&node) {
            return value;
        }
        let id = self.nodes.len() as u32;
        let value = if ext { Value::Ext(id) } else { Value::Base(id) };
        self.nodes.push(node);
        self.values.push(value);
        self.interned.insert(node, value);
        value
    }

    fn constant(&mut self, c: Val) -> Value {
        let value = self.emit(
            Node {
                op: Opcode::Constant,
                a: c.as_canonical_u32(),
                b: 0,
            },
            false,
        );
        self.constants.insert(value.id(), c);
        value
    }

    fn constant_of(&self, value: Value) -> Option<Val> {
        match value {
            Value::Base(id) => self.constants.get(&id).copied(),
            Value::Ext(_) => None,
        }
    }

    /// Forgets every interned value but the constants: what is compiled next shares nothing
    /// with what came before.
    fn forget_shared(&mut self) {
        self.interned.retain(|node, _| node.op == Opcode::Constant);
        self.base_seen.clear();
        self.ext_seen.clear();
    }

    fn accumulate(&mut self, value: Value, slot: usize) {
        let op = match value {
            Value::Base(_) => Opcode::AccumulateBase,
            Value::Ext(_) => Opcode::AccumulateExt,
        };
        // Accumulations are never shared: push directly (they define no value).
        self.nodes.push(Node {
            op,
            a: value.id(),
            b: slot as u32,
        });
        self.values.push(value);
    }

    fn base_leaf(&mut self, leaf: &BaseLeaf<Val>) -> Value {
        let node = |op, a: usize, b: usize| Node {
            op,
            a: a as u32,
            b: b as u32,
        };
        match leaf {
            BaseLeaf::Variable(v) => {
                let n = match v.entry {
                    BaseEntry::Main { offset } => node(Opcode::Main, v.index, offset),
                    BaseEntry::Preprocessed { offset } => {
                        node(Opcode::Preprocessed, v.index, offset)
                    }
                    BaseEntry::Periodic => node(Opcode::Periodic, v.index, 0),
                    BaseEntry::Public => node(Opcode::Public, v.index, 0),
                };
                self.emit(n, false)
            }
            BaseLeaf::IsFirstRow => self.emit(node(Opcode::Selector, 0, 0), false),
            BaseLeaf::IsLastRow => self.emit(node(Opcode::Selector, 1, 0), false),
            BaseLeaf::IsTransition => self.emit(node(Opcode::Selector, 2, 0), false),
            BaseLeaf::Constant(c) => self.constant(*c),
        }
    }

    fn ext_leaf(&mut self, leaf: &ExtLeaf<Val, Challenge>) -> Value {
        match leaf {
            ExtLeaf::Base(e) => self.base(e),
            ExtLeaf::ExtVariable(v) => {
                let (op, a, b) = match v.entry {
                    ExtEntry::Permutation { offset } => (Opcode::Permutation, v.index, offset),
                    ExtEntry::Challenge => (Opcode::Challenge, v.index, 0),
                    ExtEntry::PermutationValue => (Opcode::PermutationValue, v.index, 0),
                };
                let node = Node {
                    op,
                    a: a as u32,
                    b: b as u32,
                };
                self.emit(node, true)
            }
            ExtLeaf::ExtConstant(c) => {
                if ExtensionField::<Val>::is_in_basefield(c) {
                    return self.constant(c.as_basis_coefficients_slice()[0]);
                }
                let index = match self.ext_constants.iter().position(|k| k == c) {
                    Some(i) => i,
                    None => {
                        self.ext_constants.push(*c);
                        self.ext_constants.len() - 1
                    }
                };
                let node = Node {
                    op: Opcode::ExtConstant,
                    a: index as u32,
                    b: 0,
                };
                self.emit(node, true)
            }
        }
    }

    /// Compiles a base-field expression.
    fn base(&mut self, expr: &SymbolicExpression<Val>) -> Value {
        let key: *const SymbolicExpression<Val> = expr;
        if let Some(&v) = self.base_seen.get(&key) {
            return v;
        }
        let value = match expr {
            SymbolicExpr::Leaf(leaf) => self.base_leaf(leaf),
            SymbolicExpr::Add { x, y, .. } => {
                let (x, y) = (self.base(x), self.base(y));
                self.binary(Arith::Add, x, y)
            }
            SymbolicExpr::Sub { x, y, .. } => {
                let (x, y) = (self.base(x), self.base(y));
                self.binary(Arith::Sub, x, y)
            }
            SymbolicExpr::Mul { x, y, .. } => {
                let (x, y) = (self.base(x), self.base(y));
                self.binary(Arith::Mul, x, y)
            }
            SymbolicExpr::Neg { x, .. } => {
                let x = self.base(x);
                self.negate(x)
            }
        };
        self.base_seen.insert(key, value);
        value
    }

    /// Compiles an extension-field expression (its base sub-trees stay in base registers).
    fn ext(&mut self, expr: &SymbolicExpressionExt<Val, Challenge>) -> Value {
        let key: *const SymbolicExpressionExt<Val, Challenge> = expr;
        if let Some(&v) = self.ext_seen.get(&key) {
            return v;
        }
        let value = match expr {
            SymbolicExpr::Leaf(leaf) => self.ext_leaf(leaf),
            SymbolicExpr::Add { x, y, .. } => {
                let (x, y) = (self.ext(x), self.ext(y));
                self.binary(Arith::Add, x, y)
            }
            SymbolicExpr::Sub { x, y, .. } => {
                let (x, y) = (self.ext(x), self.ext(y));
                self.binary(Arith::Sub, x, y)
            }
            SymbolicExpr::Mul { x, y, .. } => {
                let (x, y) = (self.ext(x), self.ext(y));
                self.binary(Arith::Mul, x, y)
            }
            SymbolicExpr::Neg { x, .. } => {
                let x = self.ext(x);
                self.negate(x)
            }
        };
        self.ext_seen.insert(key, value);
        value
    }

    fn negate(&mut self, x: Value) -> Value {
        if let Some(c) = self.constant_of(x) {
            return self.constant(-c);
        }
        match x {
            Value::Base(a) => self.emit(
                Node {
                    op: Opcode::Neg,
                    a,
                    b: 0,
                },
                false,
            ),
            Value::Ext(a) => self.emit(
                Node {
                    op: Opcode::ExtNeg,
                    a,
                    b: 0,
                },
                true,
            ),
        }
    }

    /// `x op y` with the opcode the operand types call for, folding constants.
    fn binary(&mut self, arith: Arith, x: Value, y: Value) -> Value {
        use Opcode::*;
        if let (Some(cx), Some(cy)) = (self.constant_of(x), self.constant_of(y)) {
            return self.constant(match arith {
                Arith::Add => cx + cy,
                Arith::Sub => cx - cy,
                Arith::Mul => cx * cy,
            });
        }
        let (cx, cy) = (self.constant_of(x), self.constant_of(y));
        match arith {
            Arith::Add if cy == Some(Val::ZERO) => return x,
            Arith::Add if cx == Some(Val::ZERO) => return y,
            Arith::Sub if cy == Some(Val::ZERO) => return x,
            Arith::Mul if cy == Some(Val::ONE) => return x,
            Arith::Mul if cx == Some(Val::ONE) => return y,
            _ => {}
        }
        let node = |op, a, b| Node { op, a, b };
        match (arith, x, y) {
            (Arith::Add, Value::Base(a), Value::Base(b)) => self.emit(node(Add, a, b), false),
            (Arith::Sub, Value::Base(a), Value::Base(b)) => self.emit(node(Sub, a, b), false),
            (Arith::Mul, Value::Base(a), Value::Base(b)) => self.emit(node(Mul, a, b), false),
            (Arith::Add, Value::Ext(a), Value::Ext(b)) => self.emit(node(ExtAdd, a, b), true),
            (Arith::Sub, Value::Ext(a), Value::Ext(b)) => self.emit(node(ExtSub, a, b), true),
            (Arith::Mul, Value::Ext(a), Value::Ext(b)) => self.emit(node(ExtMul, a, b), true),
            (Arith::Add, Value::Ext(e), Value::Base(b))
            | (Arith::Add, Value::Base(b), Value::Ext(e)) => {
                self.emit(node(ExtAddBase, e, b), true)
            }
            (Arith::Sub, Value::Ext(e), Value::Base(b)) => self.emit(node(ExtSubBase, e, b), true),
            (Arith::Sub, Value::Base(b), Value::Ext(e)) => self.emit(node(BaseSubExt, b, e), true),
            (Arith::Mul, Value::Ext(e), Value::Base(b))
            | (Arith::Mul, Value::Base(b), Value::Ext(e)) => {
                self.emit(node(ExtMulBase, e, b), true)
            }
        }
    }

    /// Allocates registers by liveness and returns the finished program; rematerializes the
    /// leaves if the program would not fit the interpreters' register files otherwise.
    fn finish(self, shape: QuotientShape) -> QuotientProgram {
        let program = allocate(&self.nodes, &self.values, &self.ext_constants, shape);
        if fits(&program) {
            return program;
        }
        let (nodes, values) = self.rematerialized_leaves();
        allocate(&nodes, &values, &self.ext_constants, program.shape)
    }

    /// The program with every leaf (a node reading no value) emitted again right before each
    /// node that reads it, instead of once before its first reader: more instructions, but a
    /// leaf occupies a register only from its copy to the one reader.
    fn rematerialized_leaves(&self) -> (Vec<Node>, Vec<Value>) {
        let is_leaf = |node: &Node| node.operands() == [None, None] && defines(node);
        let mut nodes = Vec::with_capacity(self.nodes.len() * 2);
        let mut values = Vec::with_capacity(self.nodes.len() * 2);
        let mut renamed = vec![0u32; self.nodes.len()];
        let rename = |value: Value, id: u32| match value {
            Value::Base(_) => Value::Base(id),
            Value::Ext(_) => Value::Ext(id),
        };
        for (at, node) in self.nodes.iter().enumerate() {
            if is_leaf(node) {
                continue;
            }
            let mut copy = *node;
            let operands = node.operands();
            for (slot, operand) in operands.into_iter().enumerate() {
                let Some(id) = operand else { continue };
                let source = &self.nodes[id as usize];
                let new_id = if is_leaf(source) {
                    let new_id = nodes.len() as u32;
                    nodes.push(*source);
                    values.push(rename(self.values[id as usize], new_id));
                    new_id
                } else {
                    renamed[id as usize]
                };
                if slot == 0 {
                    copy.a = new_id;
                } else {
                    copy.b = new_id;
                }
            }
            let new_id = nodes.len() as u32;
            nodes.push(copy);
            values.push(if defines(node) {
                rename(self.values[at], new_id)
            } else {
                // An accumulation records the value it reads.
                values[copy.a as usize]
            });
            renamed[at] = new_id;
        }
        (nodes, values)
    }
}

/// Whether `program` fits the interpreters' register files.
fn fits(program: &QuotientProgram) -> bool {
    program.base_registers <= MAX_BASE_REGISTERS && program.ext_registers <= MAX_EXT_REGISTERS
}

/// Whether `node` defines a value (everything but the accumulations).
fn defines(node: &Node) -> bool {
    !matches!(node.op, Opcode::AccumulateBase | Opcode::AccumulateExt)
}

/// Allocates registers by liveness over `nodes` (SSA id = index) and builds the program.
fn allocate(
    nodes: &[Node],
    values: &[Value],
    ext_constants: &[Challenge],
    shape: QuotientShape,
) -> QuotientProgram {
    let count = nodes.len();
    let mut last_use = vec![None::<usize>; count];
    for (at, node) in nodes.iter().enumerate() {
        for id in node.operands().into_iter().flatten() {
            last_use[id as usize] = Some(at);
        }
    }
    let mut register = vec![0u32; count];
    let mut free = [BTreeSet::new(), BTreeSet::new()];
    let mut used = [0u32; 2];
    let mut instructions = Vec::with_capacity(count);
    for (at, node) in nodes.iter().enumerate() {
        let operands = node.operands();
        let reg_of = |id: Option<u32>, fallback: u32| id.map_or(fallback, |i| register[i as usize]);
        let (a, b) = (reg_of(operands[0], node.a), reg_of(operands[1], node.b));
        // Operands whose last reader is this instruction free their registers first, so
        // the result may reuse one (interpreters read operands before writing).
        for id in operands.into_iter().flatten() {
            if last_use[id as usize] == Some(at) {
                let file = usize::from(matches!(values[id as usize], Value::Ext(_)));
                free[file].insert(register[id as usize]);
            }
        }
        let dst = if defines(node) {
            let file = usize::from(matches!(values[at], Value::Ext(_)));
            let reg = free[file].pop_first().unwrap_or_else(|| {
                used[file] += 1;
                used[file] - 1
            });
            register[at] = reg;
            if last_use[at].is_none() {
                free[file].insert(reg);
            }
            reg
        } else {
            0
        };
        instructions.push(Instruction {
            op: node.op,
            dst,
            a,
            b,
        });
    }
    QuotientProgram {
        instructions,
        ext_constants: ext_constants.to_vec(),
        base_registers: used[0],
        ext_registers: used[1],
        shape,
    }
}

#[derive(Debug, Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
}

/// The layout Plonky3's batch prover evaluates `air` with.
pub fn air_layout<A: BaseAir<Val>>(air: &A) -> AirLayout {
    AirLayout {
        preprocessed_width: air.preprocessed_width(),
        main_width: air.width(),
        num_public_values: air.num_public_values(),
        num_periodic_columns: air.num_periodic_columns(),
        ..Default::default()
    }
}

/// Compiles `air`'s constraints, with its `lookups` as the prover lays them out, into a
/// program for `zkbox_accel`'s quotient interpreters.
pub fn compile<A>(air: &A, lookups: &[Lookup<Val>]) -> QuotientProgram
where
    A: Air<InteractionSymbolicBuilder<Val, Challenge>> + BaseAir<Val>,
{
    let gadget = LogUpGadget::new();
    let layout = air_layout(air);
    let (base, ext) =
        get_symbolic_constraints::<Val, Challenge, _, _>(air, layout, lookups, &gadget);
    let order = get_constraint_layout::<Val, Challenge, _, _>(air, layout, lookups, &gadget);
    let build = |share_across_constraints: bool| {
        let mut compiler = Compiler::default();
        for (constraint, &slot) in base.iter().zip(&order.base_indices) {
            if !share_across_constraints {
                compiler.forget_shared();
            }
            let value = compiler.base(constraint);
            compiler.accumulate(value, slot);
        }
        for (constraint, &slot) in ext.iter().zip(&order.ext_indices) {
            if !share_across_constraints {
                compiler.forget_shared();
            }
            let value = compiler.ext(constraint);
            compiler.accumulate(value, slot);
        }
        compiler
    };
    let has_lookups = !lookups.is_empty();
    let shape = QuotientShape {
        main_width: layout.main_width,
        preprocessed_width: layout.preprocessed_width,
        permutation_columns: if has_lookups { lookups.len() + 1 } else { 0 },
        periodic_width: layout.num_periodic_columns,
        public_values: layout.num_public_values,
        challenges: lookups.len() * gadget.num_challenges(),
        permutation_values: usize::from(has_lookups),
        weights: order.total_constraints(),
    };
    let program = build(true).finish(shape);
    if fits(&program) {
        return program;
    }
    build(false).finish(shape)
}

/// The weight of constraint `j` of `count`: `α^{count−1−j}`, as Plonky3 folds them.
pub fn weights(alpha: Challenge, count: usize) -> Vec<Challenge> {
    let mut powers: Vec<Challenge> = alpha.powers().take(count).collect();
    powers.reverse();
    powers
}

/// The selectors of `trace_domain` on `quotient_domain`, as the prover computes them.
pub fn selectors<D>(trace_domain: D, quotient_domain: D) -> QuotientSelectors
where
    D: PolynomialSpace<Val = Val>,
{
    let s = trace_domain.selectors_on_coset(quotient_domain);
    QuotientSelectors {
        is_first_row: s.is_first_row,
        is_last_row: s.is_last_row,
        is_transition: s.is_transition,
        inv_vanishing: s.inv_vanishing,
    }
}

/// `air`'s periodic columns on the quotient domain as `(row-major values, rows)`, from the
/// PCS's own table builder; `(empty, 0)` for an AIR without periodic columns.
pub fn periodic_table<A, P>(
    pcs: &P,
    air: &A,
    trace_domain: P::Domain,
    quotient_domain: P::Domain,
) -> (Vec<Val>, usize)
where
    A: BaseAir<Val>,
    P: UnivariateStarkPcs<Challenge, crate::config::Challenger>,
    P::Domain: PolynomialSpace<Val = Val> + Clone,
{
    let columns = air.periodic_columns();
    if columns.is_empty() {
        return (Vec::new(), 0);
    }
    let table = pcs.build_periodic_lde_table(&columns, trace_domain, quotient_domain);
    let rows = table.height();
    let values = (0..rows)
        .flat_map(|r| (0..table.width()).map(move |c| (r, c)))
        .map(|(r, c)| *table.get(r, c))
        .collect();
    (values, rows)
}

/// One chip's quotient evaluation on random non-zero inputs: its program, and main,
/// preprocessed and permutation matrices on the quotient domain (twice the trace height),
/// public values, challenges and α drawn from a seed. What the kernel equality tests compare
/// backends on and `zkbox bench quotient` times.
#[derive(Debug, Clone)]
pub struct QuotientCase {
    /// A name for messages and reports.
    pub name: String,
    /// The chip.
    pub chip: Chip,
    /// Its lookups as the prover lays them out.
    pub lookups: Vec<Lookup<Val>>,
    /// Its compiled constraints.
    pub program: QuotientProgram,
    /// log2 of the trace height.
    pub log_height: usize,
    /// The main trace on the quotient domain (natural order).
    pub main: RowMajorMatrix<Val>,
    /// The preprocessed trace on the quotient domain, if the chip has one.
    pub preprocessed: Option<RowMajorMatrix<Val>>,
    /// The permutation trace on the quotient domain, if the chip has lookups.
    pub permutation: Option<RowMajorMatrix<Val>>,
    /// Public values.
    pub public_values: Vec<Val>,
    /// Lookup challenges.
    pub challenges: Vec<Challenge>,
    /// Permutation (terminal) values.
    pub permutation_values: Vec<Challenge>,
    /// The folding challenge.
    pub alpha: Challenge,
}

/// A chip and its case's host-side inputs uploaded to a backend.
pub struct UploadedCase<B: Backend> {
    main: DeviceMatrix<B>,
    preprocessed: Option<DeviceMatrix<B>>,
    permutation: Option<DeviceMatrix<B>>,
    selectors: QuotientSelectors,
    periodic: (Vec<Val>, usize),
    weights: Vec<Challenge>,
}

impl<B: Backend> UploadedCase<B> {
    /// Bytes of trace the evaluation reads once per point: main, preprocessed, permutation.
    pub fn trace_bytes(&self) -> u64 {
        [
            Some(&self.main),
            self.preprocessed.as_ref(),
            self.permutation.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(DeviceMatrix::size_bytes)
        .sum()
    }

    /// The main trace on the device.
    pub fn main(&self) -> &DeviceMatrix<B> {
        &self.main
    }
}

/// A tiny deterministic generator (SplitMix64) for the cases' random field elements, so the
/// prover needs no random-number dependency.
struct SplitMix(u64);

impl SplitMix {
    fn field(&mut self) -> Val {
        loop {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let candidate = ((z ^ (z >> 31)) >> 33) as u32;
            if candidate != 0 && candidate < Val::ORDER_U32 {
                return Val::new(candidate);
            }
        }
    }

    fn ext(&mut self) -> Challenge {
        Challenge::from_basis_coefficients_fn(|_| self.field())
    }

    fn matrix(&mut self, width: usize, height: usize) -> RowMajorMatrix<Val> {
        RowMajorMatrix::new((0..width * height).map(|_| self.field()).collect(), width)
    }
}

impl QuotientCase {
    /// Compiles `chip` and draws its inputs for a trace of `2^log_height` rows from `seed`.
    pub fn random(
        name: String,
        chip: Chip,
        lookups: Vec<Lookup<Val>>,
        log_height: usize,
        seed: u64,
    ) -> Self {
        let program = compile(&chip, &lookups);
        let shape = program.shape;
        let n = 2usize << log_height;
        let mut rng = SplitMix(seed);
        QuotientCase {
            main: rng.matrix(shape.main_width, n),
            preprocessed: (shape.preprocessed_width > 0)
                .then(|| rng.matrix(shape.preprocessed_width, n)),
            permutation: (shape.permutation_columns > 0)
                .then(|| rng.matrix(4 * shape.permutation_columns, n)),
            public_values: (0..shape.public_values).map(|_| rng.field()).collect(),
            challenges: (0..shape.challenges).map(|_| rng.ext()).collect(),
            permutation_values: (0..shape.permutation_values).map(|_| rng.ext()).collect(),
            alpha: rng.ext(),
            name,
            chip,
            lookups,
            program,
            log_height,
        }
    }

    /// The trace domain and the quotient domain (twice as large, disjoint from it), as
    /// `config`'s PCS makes them.
    pub fn domains(&self, config: &ZkboxConfig) -> (Domain, Domain) {
        let trace = <_ as p3_commit::Pcs<Challenge, Challenger>>::natural_domain_for_degree(
            config.pcs(),
            1 << self.log_height,
        );
        (trace, trace.create_disjoint_domain(2 << self.log_height))
    }

    /// Plonky3's quotient values on these inputs (`p3_batch_stark::prover::quotient_values`).
    pub fn reference(&self) -> Vec<Challenge> {
        let config = stark_config();
        let (trace_domain, quotient_domain) = self.domains(&config);
        quotient_values::<ZkboxConfig, Chip, RowMajorMatrix<Val>, LogUpGadget>(
            config.pcs(),
            &self.chip,
            &self.public_values,
            air_layout(&self.chip),
            trace_domain,
            quotient_domain,
            &self.main,
            self.permutation.as_ref(),
            &self.lookups,
            &self.permutation_values,
            &LogUpGadget::new(),
            &self.challenges,
            self.preprocessed.as_ref(),
            self.alpha,
        )
    }

    /// Uploads the matrices to `backend`, stored in `order`, and builds the host tables.
    pub fn upload<B: Backend>(
        &self,
        backend: &B,
        order: RowOrder,
    ) -> Result<UploadedCase<B>, AccelError> {
        let upload = |m: &RowMajorMatrix<Val>| {
            let mut stored = m.clone();
            if order == RowOrder::BitReversed {
                reverse_matrix_index_bits(&mut stored);
            }
            Ok::<_, AccelError>(
                backend
                    .upload(&stored.values, stored.width)?
                    .assume_order(order),
            )
        };
        let config = stark_config();
        let (trace_domain, quotient_domain) = self.domains(&config);
        Ok(UploadedCase {
            main: upload(&self.main)?,
            preprocessed: self.preprocessed.as_ref().map(upload).transpose()?,
            permutation: self.permutation.as_ref().map(upload).transpose()?,
            selectors: selectors(trace_domain, quotient_domain),
            periodic: periodic_table(config.pcs(), &self.chip, trace_domain, quotient_domain),
            weights: weights(self.alpha, self.program.shape.weights),
        })
    }

    /// Runs the program on `backend` over `uploaded`; the values stay on the device.
    pub fn evaluate<B: Backend>(
        &self,
        backend: &B,
        uploaded: &UploadedCase<B>,
    ) -> Result<DeviceMatrix<B>, AccelError> {
        backend.evaluate_quotient(
            &self.program,
            &QuotientInputs {
                rows: uploaded.main.height(),
                main: &uploaded.main,
                preprocessed: uploaded.preprocessed.as_ref(),
                permutation: uploaded.permutation.as_ref(),
                next_step: 2,
                selectors: &uploaded.selectors,
                periodic: &uploaded.periodic.0,
                periodic_rows: uploaded.periodic.1,
                public_values: &self.public_values,
                challenges: &self.challenges,
                permutation_values: &self.permutation_values,
                weights: &uploaded.weights,
            },
        )
    }
}
