//! Helpers shared by the backend conformance tests: seeded random matrices, the backends
//! under test, and Plonky3 reference results.

#![allow(dead_code)]

use std::sync::Arc;

use p3_baby_bear::BabyBear;
use p3_field::PrimeField32;
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::util::reverse_matrix_index_bits;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use zkbox_accel::{CpuBackend, RowOrder};

/// Word no kernel may leave behind: not a canonical BabyBear element.
pub const POISON: u32 = 0xFFFF_FFFF;

/// A deterministic generator for one test.
pub fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

/// Uniform non-zero field elements.
pub fn random_values(rng: &mut SmallRng, len: usize) -> Vec<BabyBear> {
    (0..len)
        .map(|_| BabyBear::new(rng.random_range(1..BabyBear::ORDER_U32)))
        .collect()
}

/// A random matrix.
pub fn random_matrix(rng: &mut SmallRng, width: usize, height: usize) -> RowMajorMatrix<BabyBear> {
    RowMajorMatrix::new(random_values(rng, width * height), width)
}

/// `matrix` with its rows put in `order` (from natural).
pub fn in_order(mut matrix: RowMajorMatrix<BabyBear>, order: RowOrder) -> RowMajorMatrix<BabyBear> {
    if order == RowOrder::BitReversed {
        reverse_matrix_index_bits(&mut matrix);
    }
    matrix
}

/// The CPU backend.
pub fn cpu() -> Arc<CpuBackend> {
    Arc::new(CpuBackend::new())
}

/// The first OpenCL device (PoCL in CI), every fresh buffer poisoned, shared by the tests
/// of one binary. Panics with a clear message when there is none, unless
/// `ZKBOX_SKIP_OPENCL=1` (then `None`).
#[cfg(feature = "opencl")]
pub fn opencl() -> Option<Arc<zkbox_accel::OpenClBackend>> {
    static SHARED: std::sync::OnceLock<Option<Arc<zkbox_accel::OpenClBackend>>> =
        std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| match zkbox_accel::OpenClBackend::open(0) {
            Ok(backend) => Some(Arc::new(backend.poison_new_buffers(POISON))),
            Err(err) if std::env::var("ZKBOX_SKIP_OPENCL").as_deref() == Ok("1") => {
                eprintln!("skipping OpenCL checks: {err}");
                None
            }
            Err(err) => panic!("no OpenCL device (install PoCL or set ZKBOX_SKIP_OPENCL=1): {err}"),
        })
        .clone()
}

/// `DeviceMmcs::commit_lde` commits to what `TwoAdicFriPcs::commit` would, the coset LDEs
/// in bit-reversed row order, under the reference MMCS's cap; its prover data holds those
/// LDEs, opens like the reference's (one index or several at once), and (on a backend
/// whose trees keep their matrices) leaves each LDE on the device alone, in bit-reversed
/// order: the openings gather their rows there and no LDE comes back whole until the host
/// asks for all of it. Returns how many steps the device declined.
pub fn check_commit_lde<B: zkbox_accel::Backend + 'static>(backend: Arc<B>) -> usize {
    use p3_commit::Mmcs;
    use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
    use p3_field::Field;
    use p3_matrix::Matrix;
    use p3_matrix::bitrev::BitReversibleMatrix;

    let keeps_leaves = backend.keeps_tree_leaves();
    let mut rng = rng(41);
    let mmcs = zkbox_accel::DeviceMmcs::new(backend, 1);
    for added_bits in [1, 2] {
        let shapes = [(3, 16), (9, 8), (1, 16)];
        let evaluations: Vec<(RowMajorMatrix<BabyBear>, BabyBear)> = shapes
            .iter()
            .map(|&(width, height)| {
                let shift = BabyBear::GENERATOR * random_values(&mut rng, 1)[0];
                (random_matrix(&mut rng, width, height), shift)
            })
            .collect();
        let expected_ldes: Vec<RowMajorMatrix<BabyBear>> = evaluations
            .iter()
            .map(|(matrix, shift)| {
                Radix2DitParallel::default()
                    .coset_lde_batch(matrix.clone(), added_bits, *shift)
                    .bit_reverse_rows()
                    .to_row_major_matrix()
            })
            .collect();
        let reference = zkbox_accel::reference_mmcs(1);
        let (expected_cap, expected_data) = reference.commit(expected_ldes.clone());
        let (cap, data) = mmcs.commit_lde(evaluations, added_bits);
        assert_eq!(cap, expected_cap, "cap of LDEs by {added_bits} bits");
        // The openings read their rows where the LDEs are: on a backend whose trees keep
        // them, nothing comes back whole.
        let downloaded = mmcs.matrices_downloaded();
        let height = expected_ldes.iter().map(|m| m.height()).max().unwrap();
        for index in [0, height / 2 + 1, height - 1] {
            let opening = mmcs.open_batch(index, &data);
            let expected = reference.open_batch(index, &expected_data);
            assert_eq!(opening.opened_values, expected.opened_values);
            assert_eq!(opening.opening_proof, expected.opening_proof);
        }
        let indices = [3, 0, height - 1, 3];
        let (opened, proof) = mmcs.open_multi_batch(&indices, &data);
        let (expected_opened, expected_proof) =
            reference.open_multi_batch(&indices, &expected_data);
        assert_eq!(opened, expected_opened);
        assert_eq!(proof.sibling_hashes, expected_proof.sibling_hashes);
        if keeps_leaves && mmcs.host_fallbacks() == 0 {
            assert_eq!(
                mmcs.matrices_downloaded(),
                downloaded,
                "an LDE came back whole"
            );
        }
        let held: Vec<_> = mmcs.get_matrices(&data).into_iter().cloned().collect();
        assert_eq!(held, expected_ldes);
        assert_eq!(
            mmcs.get_matrix_heights(&data),
            expected_ldes.iter().map(|m| m.height()).collect::<Vec<_>>()
        );
        for (index, expected) in expected_ldes.iter().enumerate() {
            match mmcs.resident_matrix(&data, index) {
                Some(resident) => {
                    assert_eq!(resident.order(), RowOrder::BitReversed);
                    let values = mmcs.backend().download(resident).unwrap();
                    assert_eq!(values, expected.values, "device copy of LDE {index}");
                }
                None => assert!(
                    !keeps_leaves || mmcs.host_fallbacks() > 0,
                    "LDE {index} is not on the device"
                ),
            }
        }
    }
    mmcs.host_fallbacks()
}

/// [`zkbox_accel::fri::fold`] on `backend` equals Plonky3's `TwoAdicFriFolding::fold_matrix`
/// element for element, on random vectors of every length from 2 to `2^max_log_len` and
/// every arity zkbox folds by (2, 4, 8) that fits, also read as the rows a round commits
/// (`reshape`); `fri_add_scaled` equals the host's sum; bad shapes are typed errors.
pub fn check_fri_fold<B: zkbox_accel::Backend>(backend: &B, max_log_len: usize) {
    use core::marker::PhantomData;
    use p3_field::{BasedVectorSpace, PrimeCharacteristicRing};
    use p3_fri::{FriFoldingStrategy, TwoAdicFriFolding};
    use zkbox_accel::fri::{fold, upload_vector};
    use zkbox_accel::quotient::{Ext, download_values};

    let plonky3 = TwoAdicFriFolding::<Vec<()>, ()>(PhantomData);
    let device = backend.info().id;
    let mut rng = rng(0xf01d);
    for log_len in 1..=max_log_len {
        for log_arity in 1..=log_len.min(3) {
            let words = random_values(&mut rng, 4 << log_len);
            let vector: Vec<Ext> = words
                .chunks_exact(4)
                .map(|c| Ext::from_basis_coefficients_slice(c).unwrap())
                .collect();
            let beta = Ext::from_basis_coefficients_slice(&random_values(&mut rng, 4)).unwrap();
            let expected = FriFoldingStrategy::<BabyBear, Ext>::fold_matrix(
                &plonky3,
                beta,
                log_arity,
                RowMajorMatrix::new(vector.clone(), 1 << log_arity),
            );
            let on_device = upload_vector(backend, &vector).unwrap();
            let folded = fold(backend, &on_device, beta, log_arity).unwrap();
            assert_eq!(folded.order(), RowOrder::BitReversed);
            let got = download_values(backend, &folded).unwrap();
            assert_eq!(
                got, expected,
                "{device}: 2^{log_len} elements folded by 2^{log_arity}"
            );
            // The same buffer as the rows a round commits (arity elements each) folds alike.
            let rows = backend.reshape(on_device, 4 << log_arity).unwrap();
            assert_eq!(
                (rows.width(), rows.height(), rows.order()),
                (
                    4 << log_arity,
                    1 << (log_len - log_arity),
                    RowOrder::BitReversed
                )
            );
            let folded_rows = fold(backend, &rows, beta, log_arity).unwrap();
            assert_eq!(download_values(backend, &folded_rows).unwrap(), expected);
            // A reduced opening joins the folded vector, times a factor.
            let addend: Vec<Ext> = random_values(&mut rng, 4 * expected.len())
                .chunks_exact(4)
                .map(|c| Ext::from_basis_coefficients_slice(c).unwrap())
                .collect();
            let factor = Ext::from_basis_coefficients_slice(&random_values(&mut rng, 4)).unwrap();
            let mut acc = folded;
            backend
                .fri_add_scaled(&mut acc, &upload_vector(backend, &addend).unwrap(), factor)
                .unwrap();
            let sums: Vec<Ext> = expected
                .iter()
                .zip(&addend)
                .map(|(&e, &a)| e + factor * a)
                .collect();
            assert_eq!(
                download_values(backend, &acc).unwrap(),
                sums,
                "{device}: a vector of 2^{} added",
                log_len - log_arity
            );
        }
    }
    let mut short = upload_vector(backend, &[Ext::ONE; 2]).unwrap();
    let long = upload_vector(backend, &[Ext::ONE; 4]).unwrap();
    shape_error(
        backend.fri_add_scaled(&mut short, &long, Ext::ONE),
        "an addend of another length",
    );
    shape_error(backend.reshape(long, 3), "rows of 3 out of 16 values");
    let vector = vec![Ext::ONE; 4];
    let on_device = upload_vector(backend, &vector).unwrap();
    shape_error(fold(backend, &on_device, Ext::ONE, 0), "arity 1");
    shape_error(
        fold(backend, &on_device, Ext::ONE, 3),
        "arity above the length",
    );
    let natural = backend.upload(&random_values(&mut rng, 16), 4).unwrap();
    shape_error(backend.fri_fold(&natural, Ext::ONE), "natural order");
    for (width, len, what) in [(6, 24, "6 columns"), (4, 12, "3 rows"), (4, 4, "1 row")] {
        let matrix = backend
            .upload(&random_values(&mut rng, len), width)
            .unwrap()
            .assume_order(RowOrder::BitReversed);
        shape_error(backend.fri_fold(&matrix, Ext::ONE), what);
    }
}

/// The opening's row kernels ([`zkbox_accel::deep`]) on `backend` equal the host's
/// arithmetic element for element: `combine_rows` a dot product per row, `column_dot`
/// Plonky3's `columnwise_dot_product` (over several chunks, the last one ragged), and
/// `deep_accumulate` added onto random sums with a longer denominator vector than the rows;
/// bad shapes are typed errors.
pub fn check_deep<B: zkbox_accel::Backend>(backend: &B) {
    use p3_field::{BasedVectorSpace, PrimeCharacteristicRing};
    use p3_matrix::Matrix;
    use zkbox_accel::quotient::{Ext, download_values};

    let device = backend.info().id;
    let mut rng = rng(0xdee9);
    let random_ext = |rng: &mut SmallRng, n: usize| -> Vec<Ext> {
        random_values(rng, 4 * n)
            .chunks_exact(4)
            .map(|c| Ext::from_basis_coefficients_slice(c).unwrap())
            .collect()
    };
    let upload_ext = |values: &[Ext]| {
        let words: Vec<BabyBear> = values
            .iter()
            .flat_map(|v| v.as_basis_coefficients_slice().to_vec())
            .collect();
        backend.upload(&words, 4).unwrap()
    };
    for (height, width) in [(1, 1), (5, 7), (1024, 33), (2500, 3)] {
        let matrix = random_matrix(&mut rng, width, height);
        let on_device = backend.upload(&matrix.values, width).unwrap();

        let powers = random_ext(&mut rng, width);
        let expected: Vec<Ext> = matrix
            .values
            .chunks_exact(width)
            .map(|row| row.iter().zip(&powers).map(|(&v, &p)| p * v).sum())
            .collect();
        let combined = backend.combine_rows(&on_device, &powers).unwrap();
        let got = download_values(backend, &combined).unwrap();
        assert_eq!(got, expected, "{device}: combine_rows {height}x{width}");

        let denominators = random_ext(&mut rng, height + 3);
        let start = random_ext(&mut rng, height);
        let (c, s) = (random_ext(&mut rng, 1)[0], random_ext(&mut rng, 1)[0]);
        let mut acc = upload_ext(&start);
        backend
            .deep_accumulate(&combined, &upload_ext(&denominators), c, s, &mut acc)
            .unwrap();
        let expected: Vec<Ext> = (0..height)
            .map(|x| start[x] + (c - s * got[x]) * denominators[x])
            .collect();
        let sums = download_values(backend, &acc).unwrap();
        assert_eq!(sums, expected, "{device}: deep_accumulate {height}x{width}");

        let weights = random_ext(&mut rng, height);
        let weights_on_device = upload_ext(&weights);
        for rows in [1, height.div_ceil(2), height] {
            let prefix = RowMajorMatrix::new(matrix.values[..rows * width].to_vec(), width);
            let expected: Vec<Ext> = prefix.columnwise_dot_product(&weights[..rows]);
            let got = backend
                .column_dot(&on_device, rows, &weights_on_device)
                .unwrap();
            assert_eq!(
                got, expected,
                "{device}: column_dot {rows} of {height}x{width}"
            );
        }
    }
    let matrix = backend.upload(&random_values(&mut rng, 12), 3).unwrap();
    let four = backend.upload(&random_values(&mut rng, 16), 4).unwrap();
    shape_error(
        backend.combine_rows(&matrix, &[Ext::ONE; 2]),
        "two powers for three columns",
    );
    shape_error(
        backend.column_dot(&matrix, 5, &four),
        "more rows than the matrix has",
    );
    shape_error(backend.column_dot(&matrix, 0, &four), "no rows");
    shape_error(
        backend.column_dot(&four, 4, &matrix),
        "weights of 3 columns",
    );
    let mut short = backend.upload(&random_values(&mut rng, 8), 4).unwrap();
    let short_copy = backend.upload(&random_values(&mut rng, 8), 4).unwrap();
    shape_error(
        backend.deep_accumulate(&four, &four, Ext::ONE, Ext::ONE, &mut short),
        "sums shorter than the rows",
    );
    let mut sums = backend.upload(&random_values(&mut rng, 16), 4).unwrap();
    shape_error(
        backend.deep_accumulate(&four, &short_copy, Ext::ONE, Ext::ONE, &mut sums),
        "fewer denominators than rows",
    );
}

/// Panics unless `result` is a shape error.
fn shape_error<T>(result: Result<T, zkbox_accel::AccelError>, what: &str) {
    match result {
        Err(zkbox_accel::AccelError::ShapeMismatch { .. }) => {}
        Err(err) => panic!("{what}: not a shape error: {err}"),
        Ok(_) => panic!("{what}: accepted"),
    }
}

/// `strided_rows` on `backend` takes the rows Plonky3's `split_evals` gives each chunk, on
/// random matrices of several widths, and [`zkbox_accel::quotient::chunk_ldes`] equals
/// `split_evals` followed by `TwoAdicFriPcs::get_quotient_ldes`'s coset LDE (the chunk's
/// shift taken back to `g`), bit-reversed, element for element; bad selections are typed
/// errors.
pub fn check_quotient_chunks<B: zkbox_accel::Backend>(backend: &B) {
    use p3_commit::PolynomialSpace;
    use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
    use p3_field::Field;
    use p3_field::coset::TwoAdicMultiplicativeCoset;
    use p3_matrix::Matrix;
    use p3_matrix::bitrev::BitReversibleMatrix;
    use zkbox_accel::quotient::chunk_ldes;

    let device = backend.info().id;
    let mut rng = rng(0xc4);
    for (log_height, log_chunks, width) in [(4, 1, 4), (6, 2, 4), (9, 3, 4), (5, 2, 3), (3, 3, 1)] {
        let height = 1 << log_height;
        let chunks = 1 << log_chunks;
        let domain = TwoAdicMultiplicativeCoset::new(BabyBear::GENERATOR, log_height).unwrap();
        let values = random_matrix(&mut rng, width, height);
        let expected = domain.split_evals(chunks, values.clone());
        let on_device = backend.upload(&values.values, width).unwrap();
        for (j, expected) in expected.iter().enumerate() {
            let rows = backend.strided_rows(&on_device, j, chunks).unwrap();
            assert_eq!((rows.width(), rows.order()), (width, RowOrder::Natural));
            assert_eq!(
                backend.download(&rows).unwrap(),
                expected.values,
                "{device}: chunk {j} of {chunks}, {height}x{width}"
            );
        }
        if width != 4 || log_height == log_chunks {
            continue;
        }
        let shifts: Vec<BabyBear> = domain
            .split_domains(chunks)
            .iter()
            .map(|d| BabyBear::GENERATOR / d.shift())
            .collect();
        for added_bits in [1, 2] {
            let ldes = chunk_ldes(backend, &on_device, &shifts, added_bits).unwrap();
            assert_eq!(ldes.len(), chunks);
            for (j, (lde, (chunk, &shift))) in
                ldes.iter().zip(expected.iter().zip(&shifts)).enumerate()
            {
                let want = Radix2DitParallel::default()
                    .coset_lde_batch(chunk.clone(), added_bits, shift)
                    .bit_reverse_rows()
                    .to_row_major_matrix();
                assert_eq!(lde.order(), RowOrder::BitReversed);
                assert_eq!((lde.width(), lde.height()), (4, want.height()));
                assert_eq!(
                    backend.download(lde).unwrap(),
                    want.values,
                    "{device}: LDE of chunk {j} of {chunks}, 2^{log_height} rows, +{added_bits} bits"
                );
            }
        }
    }
    let matrix = backend.upload(&random_values(&mut rng, 24), 2).unwrap();
    for (first, step, what) in [
        (0, 0, "step 0"),
        (2, 2, "first row past the step"),
        (0, 5, "a step that does not divide the height"),
    ] {
        shape_error(backend.strided_rows(&matrix, first, step), what);
    }
    let reversed = backend
        .upload(&random_values(&mut rng, 16), 4)
        .unwrap()
        .assume_order(RowOrder::BitReversed);
    shape_error(backend.strided_rows(&reversed, 0, 2), "bit-reversed rows");
}

/// `gather_rows` on `backend` brings back exactly the listed rows (any order, repeats, the
/// first and the last) of random matrices of several widths, whatever row order the matrix
/// declares; no rows is no values, and a row past the end is a typed error.
pub fn check_gathered_rows<B: zkbox_accel::Backend>(backend: &B) {
    let device = backend.info().id;
    let mut rng = rng(0x9a7);
    for (width, height) in [(1, 8), (3, 64), (4, 256), (17, 32)] {
        let values = random_values(&mut rng, width * height);
        for order in [RowOrder::Natural, RowOrder::BitReversed] {
            let on_device = backend.upload(&values, width).unwrap().assume_order(order);
            let mut rows: Vec<usize> = (0..40).map(|_| rng.random_range(0..height)).collect();
            rows.extend([0, height - 1, rows[0]]);
            let expected: Vec<BabyBear> = rows
                .iter()
                .flat_map(|&r| values[r * width..(r + 1) * width].iter().copied())
                .collect();
            assert_eq!(
                backend.gather_rows(&on_device, &rows).unwrap(),
                expected,
                "{device}: {} rows of a {height}x{width} matrix ({order:?})",
                rows.len()
            );
            assert!(backend.gather_rows(&on_device, &[]).unwrap().is_empty());
            shape_error(
                backend.gather_rows(&on_device, &[1, height]),
                "a row past the end",
            );
        }
    }
}
