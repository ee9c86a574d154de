//! Every backend's NTT, inverse NTT and coset LDE equal Plonky3's `Radix2DitParallel`.
//!
//! Sizes straddle the OpenCL strategy change at 2^6 rows (the local-memory tile): below it
//! one tile kernel does every stage, at it exactly the tile, above it global stages join.

mod common;

use common::*;
use p3_baby_bear::BabyBear;
use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_matrix::Matrix;
use p3_matrix::bitrev::BitReversibleMatrix;
use zkbox_accel::{AccelError, Backend, DeviceDft, Direction, RowOrder};

const LOG_SIZES: [usize; 9] = [0, 1, 2, 5, 6, 7, 8, 9, 10];
const WIDTHS: [usize; 4] = [1, 3, 4, 9];
const ORDERS: [RowOrder; 2] = [RowOrder::Natural, RowOrder::BitReversed];

fn check_ntt<B: Backend>(backend: &B) {
    let reference = Radix2DitParallel::<BabyBear>::default();
    let mut rng = rng(1);
    for log_n in LOG_SIZES {
        for width in WIDTHS {
            let input = random_matrix(&mut rng, width, 1 << log_n);
            let forward = reference.dft_batch(input.clone()).to_row_major_matrix();
            let inverse = reference.idft_batch(input.clone());
            for direction in [Direction::Forward, Direction::Inverse] {
                let expected_natural = match direction {
                    Direction::Forward => &forward,
                    Direction::Inverse => &inverse,
                };
                for input_order in ORDERS {
                    for output_order in ORDERS {
                        let host = in_order(input.clone(), input_order);
                        let mut matrix = backend
                            .upload(&host.values, width)
                            .unwrap()
                            .assume_order(input_order);
                        backend.ntt(&mut matrix, direction, output_order).unwrap();
                        let expected = in_order(expected_natural.clone(), output_order);
                        assert_eq!(matrix.order(), output_order);
                        assert!(
                            backend.download(&matrix).unwrap() == expected.values,
                            "{}: {direction:?} NTT 2^{log_n} x {width}, {input_order:?} -> {output_order:?}",
                            backend.info().id
                        );
                    }
                }
            }
        }
    }
}

fn check_coset_lde<B: Backend>(backend: &B) {
    let reference = Radix2DitParallel::<BabyBear>::default();
    let mut rng = rng(2);
    let shifts = [BabyBear::GENERATOR, random_values(&mut rng, 1)[0]];
    for log_h in [0, 1, 3, 5, 6, 7, 8] {
        for added_bits in [0, 1, 3] {
            for width in [1, 3, 8] {
                let input = random_matrix(&mut rng, width, 1 << log_h);
                for shift in shifts {
                    let expected = reference
                        .coset_lde_batch(input.clone(), added_bits, shift)
                        .bit_reverse_rows();
                    let evaluations = backend.upload(&input.values, width).unwrap();
                    let lde = backend.coset_lde(&evaluations, added_bits, shift).unwrap();
                    assert_eq!(lde.order(), RowOrder::BitReversed);
                    assert_eq!(lde.height(), expected.height());
                    assert!(
                        backend.download(&lde).unwrap() == expected.values,
                        "{}: coset LDE 2^{log_h} x {width} +{added_bits} bits",
                        backend.info().id
                    );
                    // The same, the evaluations given up (the CPU backend extends them in
                    // their own memory) and the LDE taken back whole.
                    let evaluations = backend.upload_owned(input.values.clone(), width).unwrap();
                    let lde = backend
                        .coset_lde_owned(evaluations, added_bits, shift)
                        .unwrap();
                    assert_eq!(lde.order(), RowOrder::BitReversed);
                    assert!(
                        backend.download_owned(lde).unwrap() == expected.values,
                        "{}: owned coset LDE 2^{log_h} x {width} +{added_bits} bits",
                        backend.info().id
                    );
                }
            }
        }
    }
}

/// The `TwoAdicSubgroupDft` adapter returns what `Radix2DitParallel` returns, in the same
/// (bit-reversed storage) layout; its `Default` (no device) is Plonky3 on the host.
fn check_dft_adapter<B: Backend + 'static>(backend: std::sync::Arc<B>) {
    let reference = Radix2DitParallel::<BabyBear>::default();
    let adapter = DeviceDft::new(backend);
    let mut rng = rng(5);
    for (log_n, width) in [(0, 2), (4, 1), (7, 5)] {
        let input = random_matrix(&mut rng, width, 1 << log_n);
        let shift = BabyBear::GENERATOR;
        assert_eq!(
            adapter.dft_batch(input.clone()).bit_reverse_rows().values,
            reference.dft_batch(input.clone()).bit_reverse_rows().values
        );
        assert_eq!(
            adapter.idft_batch(input.clone()),
            reference.idft_batch(input.clone())
        );
        assert_eq!(
            adapter
                .coset_lde_batch(input.clone(), 2, shift)
                .bit_reverse_rows()
                .values,
            reference
                .coset_lde_batch(input.clone(), 2, shift)
                .bit_reverse_rows()
                .values
        );
    }
    assert_eq!(adapter.host_fallbacks(), 0, "nothing fell back to the host");
    let without_device = DeviceDft::<B>::default();
    let input = random_matrix(&mut rng, 3, 16);
    assert_eq!(
        without_device.idft_batch(input.clone()),
        reference.idft_batch(input)
    );
}

fn check_bad_input<B: Backend>(backend: &B) {
    let mut rng = rng(3);
    let values = random_values(&mut rng, 12 * 3);
    let mut twelve_rows = backend.upload(&values, 3).unwrap();
    assert!(matches!(
        backend.ntt(&mut twelve_rows, Direction::Forward, RowOrder::Natural),
        Err(AccelError::HeightNotPowerOfTwo { height: 12 })
    ));
    assert!(matches!(
        backend.coset_lde(&twelve_rows, 1, BabyBear::ONE),
        Err(AccelError::HeightNotPowerOfTwo { height: 12 })
    ));
    let twelve_rows_again = backend.upload_owned(values.clone(), 3).unwrap();
    assert!(matches!(
        backend.coset_lde_owned(twelve_rows_again, 1, BabyBear::ONE),
        Err(AccelError::HeightNotPowerOfTwo { height: 12 })
    ));
    assert!(matches!(
        backend.upload_owned(values.clone(), 5),
        Err(AccelError::RaggedMatrix { .. })
    ));
    assert!(matches!(
        backend.upload(&[], 0),
        Err(AccelError::EmptyMatrix { .. })
    ));
    assert!(matches!(
        backend.upload(&values, 0),
        Err(AccelError::EmptyMatrix { .. })
    ));
    assert!(matches!(
        backend.upload(&values, 5),
        Err(AccelError::RaggedMatrix { .. })
    ));
    let mut small = backend.upload(&values[..8], 1).unwrap();
    assert!(matches!(
        backend.copy_into(&twelve_rows, &mut small),
        Err(AccelError::ShapeMismatch { .. })
    ));
    let bit_reversed_copy = backend
        .upload(&values[8..16], 1)
        .unwrap()
        .assume_order(RowOrder::BitReversed);
    backend.copy_into(&bit_reversed_copy, &mut small).unwrap();
    assert_eq!(backend.download(&small).unwrap(), values[8..16]);
    assert_eq!(small.order(), RowOrder::BitReversed);
    let small = small.assume_order(RowOrder::Natural);
    assert!(matches!(
        backend.coset_lde(&small, 25, BabyBear::ONE),
        Err(AccelError::SizeBeyondTwoAdicity {
            log_size: 28,
            max_log_size: 27
        })
    ));
    let bit_reversed = backend
        .upload(&values[..8], 1)
        .unwrap()
        .assume_order(RowOrder::BitReversed);
    assert!(matches!(
        backend.coset_lde(&bit_reversed, 1, BabyBear::ONE),
        Err(AccelError::WrongRowOrder { .. })
    ));
}

#[test]
fn cpu_ntt_matches_plonky3() {
    check_ntt(&*cpu());
}

#[test]
fn cpu_coset_lde_matches_plonky3() {
    check_coset_lde(&*cpu());
}

#[test]
fn cpu_dft_adapter_matches_plonky3() {
    check_dft_adapter(cpu());
}

#[test]
fn cpu_rejects_bad_shapes() {
    check_bad_input(&*cpu());
}

#[cfg(feature = "opencl")]
mod opencl {
    use super::*;

    #[test]
    fn opencl_ntt_matches_plonky3() {
        if let Some(backend) = opencl() {
            check_ntt(&*backend);
        }
    }

    #[test]
    fn opencl_coset_lde_matches_plonky3() {
        if let Some(backend) = opencl() {
            check_coset_lde(&*backend);
        }
    }

    #[test]
    fn opencl_dft_adapter_matches_plonky3() {
        if let Some(backend) = opencl() {
            check_dft_adapter(backend);
        }
    }

    #[test]
    fn opencl_rejects_bad_shapes() {
        if let Some(backend) = opencl() {
            check_bad_input(&*backend);
        }
    }

    #[test]
    fn opencl_reports_exhausted_memory() {
        let Some(backend) = opencl() else { return };
        let mut rng = rng(4);
        // One row of 1024 columns extended by 2^27: 512 GiB, more than any device allocates.
        let wide_row = backend
            .upload(&random_values(&mut rng, 1024), 1024)
            .unwrap();
        assert!(matches!(
            backend.coset_lde(&wide_row, 27, BabyBear::ONE),
            Err(AccelError::OutOfDeviceMemory { .. })
        ));
    }
}
