//! The CUDA backend's NTT, run on an OpenCL device: the shared `ntt_tile_strided` kernel
//! driven by exactly the launch schedule the CUDA backend uses
//! (`CudaProgram::strided_ntt_launches`), against Plonky3's `Radix2DitParallel`.
//!
//! The development machines have no GPU, but PoCL runs the same kernel text (after the OpenCL
//! prelude instead of the CUDA one, with the CUDA backend's tile sizes), so the kernel's index
//! arithmetic and the pass schedule are checked on every `make test`; `cuda_equality.rs`
//! checks the whole backend where a GPU exists. Outputs are poisoned before each run.

#![cfg(all(feature = "cuda", feature = "opencl"))]

mod common;

use common::*;
use ocl::{Buffer, Context, Device, Kernel, Platform, Program, Queue};
use p3_baby_bear::BabyBear;
use p3_dft::{Radix2DitParallel, TwoAdicSubgroupDft};
use p3_field::{Field, PrimeCharacteristicRing, PrimeField32, TwoAdicField};
use p3_matrix::Matrix;
use p3_matrix::bitrev::BitReversibleMatrix;
use p3_matrix::dense::RowMajorMatrix;
use zkbox_accel::{CudaProgram, RowOrder};

/// `x · 2^32 mod p`, the form kernel constants take.
fn montgomery(x: BabyBear) -> u32 {
    ((u64::from(x.as_canonical_u32()) << 32) % u64::from(BabyBear::ORDER_U32)) as u32
}

struct OpenCl {
    queue: Queue,
    program: Program,
}

fn opencl() -> Option<OpenCl> {
    let setup = || -> ocl::Result<OpenCl> {
        let platform = Platform::first()?;
        let device = Device::first(platform)?;
        let context = Context::builder()
            .platform(platform)
            .devices(device)
            .build()?;
        let queue = Queue::new(&context, device, None)?;
        let program = Program::builder()
            .src(CudaProgram::text_with_prelude(
                zkbox_kernels::PRELUDE_OPENCL.text,
            ))
            .devices(device)
            .build(&context)?;
        Ok(OpenCl { queue, program })
    };
    match setup() {
        Ok(cl) => Some(cl),
        Err(err) if std::env::var("ZKBOX_SKIP_OPENCL").as_deref() == Ok("1") => {
            eprintln!("skipping: no OpenCL device: {err}");
            None
        }
        Err(err) => panic!("no OpenCL device (install PoCL or set ZKBOX_SKIP_OPENCL=1): {err}"),
    }
}

/// The CUDA backend's NTT of every column of `input` (rows in `order`), on OpenCL: DIF
/// (natural in, bit-reversed out) or DIT (bit-reversed in, natural out); the inverse scales
/// by 1/n on its last pass. Returns the output rows.
fn strided_ntt(
    cl: &OpenCl,
    input: &RowMajorMatrix<BabyBear>,
    is_dif: bool,
    inverse: bool,
) -> Vec<BabyBear> {
    let width = input.width;
    let log_n = input.height().trailing_zeros() as usize;
    let root = BabyBear::two_adic_generator(log_n);
    let root = if inverse { root.inverse() } else { root };
    let twiddles: Vec<u32> = root
        .powers()
        .take((input.height() / 2).max(1))
        .map(montgomery)
        .collect();
    let words: Vec<u32> = input.values.iter().map(|v| v.as_canonical_u32()).collect();
    let buffer = |len: usize| {
        Buffer::<u32>::builder()
            .queue(cl.queue.clone())
            .len(len)
            .fill_val(POISON)
            .build()
            .unwrap()
    };
    let src = buffer(words.len());
    src.write(&words).enq().unwrap();
    let dst = buffer(words.len());
    let table = buffer(twiddles.len());
    table.write(&twiddles).enq().unwrap();
    let scale = montgomery(BabyBear::ONE.div_2exp_u64(log_n as u64));
    let launches = CudaProgram::strided_ntt_launches(width, log_n, is_dif);
    for (index, launch) in launches.iter().enumerate() {
        let source = if index == 0 { &src } else { &dst };
        let last = index + 1 == launches.len();
        let kernel = Kernel::builder()
            .program(&cl.program)
            .name("ntt_tile_strided")
            .queue(cl.queue.clone())
            .global_work_size([launch.groups.0 * launch.threads, launch.groups.1])
            .local_work_size([launch.threads, 1])
            .arg(source)
            .arg(&dst)
            .arg(width as u32)
            .arg(log_n as u32)
            .arg(launch.first_stage)
            .arg(launch.stages)
            .arg(u32::from(is_dif))
            .arg(&table)
            .arg(scale)
            .arg(u32::from(last && inverse))
            .build()
            .unwrap();
        // SAFETY: the kernel bounds-checks its work-items against the sizes passed, and the
        // buffers hold width * 2^log_n words and 2^log_n / 2 twiddles.
        unsafe { kernel.enq() }.unwrap();
    }
    let mut out = vec![0u32; words.len()];
    let result = if launches.is_empty() { &src } else { &dst };
    result.read(&mut out).enq().unwrap();
    assert!(
        out.iter().all(|&w| w < BabyBear::ORDER_U32),
        "2^{log_n} x {width}: a word no pass wrote"
    );
    out.into_iter().map(BabyBear::new).collect()
}

#[test]
fn the_cuda_ntt_schedule_matches_plonky3_on_opencl() {
    let Some(cl) = opencl() else { return };
    let reference = Radix2DitParallel::<BabyBear>::default();
    let mut rng = rng(31);
    // One pass (≤ 8 stages), exactly one tile, two and three passes; widths below, at and
    // above the 32-word lane count, and ones that do not divide it.
    let cases: &[(usize, &[usize])] = &[
        (1, &[1, 3]),
        (5, &[1, 9]),
        (8, &[1, 33]),
        (9, &[1, 3, 33]),
        (12, &[1, 5, 32]),
        (17, &[1, 2]),
    ];
    for &(log_n, widths) in cases {
        for &width in widths {
            let input = random_matrix(&mut rng, width, 1 << log_n);
            let forward = reference.dft_batch(input.clone()).to_row_major_matrix();
            let inverse = reference.idft_batch(input.clone());
            // DIF: natural in, bit-reversed out.
            assert!(
                strided_ntt(&cl, &input, true, false)
                    == in_order(forward.clone(), RowOrder::BitReversed).values,
                "forward DIF 2^{log_n} x {width}"
            );
            assert!(
                strided_ntt(&cl, &input, true, true)
                    == in_order(inverse.clone(), RowOrder::BitReversed).values,
                "inverse DIF 2^{log_n} x {width}"
            );
            // DIT: bit-reversed in, natural out.
            let bit_reversed = input.clone().bit_reverse_rows().to_row_major_matrix();
            assert!(
                strided_ntt(&cl, &bit_reversed, false, false) == forward.values,
                "forward DIT 2^{log_n} x {width}"
            );
            assert!(
                strided_ntt(&cl, &bit_reversed, false, true) == inverse.values,
                "inverse DIT 2^{log_n} x {width}"
            );
        }
    }
}
