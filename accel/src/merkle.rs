//! Poseidon2 Merkle trees: Plonky3's reference configuration, and the pieces of an opening
//! that do not depend on the backend (shorter-matrix row indices, pruned multi-openings).

use p3_baby_bear::{BabyBear, Poseidon2BabyBear, default_babybear_poseidon2_16};
use p3_field::Field;
use p3_merkle_tree::{MerkleTreeMmcs, PrunedMerklePaths};
use p3_symmetric::{PaddingFreeSponge, TruncatedPermutation};

use crate::backend::Digest;

/// Plonky3's Poseidon2 permutation over BabyBear, width 16.
pub type Poseidon2Perm = Poseidon2BabyBear<16>;
/// The leaf hash: a padding-free sponge of rate 8 absorbing a row, squeezing 8 elements.
pub type LeafHasher = PaddingFreeSponge<Poseidon2Perm, 16, 8, 8>;
/// The 2-to-1 compression: permute `[left ‖ right]`, keep the first 8 elements.
pub type NodeCompressor = TruncatedPermutation<Poseidon2Perm, 2, 8, 16>;
/// The Merkle tree commitment every backend's trees are bit-exact with.
pub type ReferenceMmcs = MerkleTreeMmcs<
    <BabyBear as Field>::Packing,
    <BabyBear as Field>::Packing,
    LeafHasher,
    NodeCompressor,
    2,
    8,
>;

/// Plonky3's `MerkleTreeMmcs` with the default Poseidon2 constants and the given cap height.
pub fn reference_mmcs(cap_height: usize) -> ReferenceMmcs {
    let permutation = default_babybear_poseidon2_16();
    MerkleTreeMmcs::new(
        LeafHasher::new(permutation.clone()),
        NodeCompressor::new(permutation),
        cap_height,
    )
}

/// The row of a matrix of `height` rows that leaf `index` of a tree of `max_height` leaves
/// opens (shorter matrices are indexed by the leading bits of the leaf index).
pub(crate) fn reduced_row_index(index: usize, max_height: usize, height: usize) -> usize {
    let bits_reduced = max_height.trailing_zeros() - height.trailing_zeros();
    index >> bits_reduced
}

/// Plonky3's pruned multi-opening of a binary tree: the sibling digests a verifier cannot
/// recompute from the opened leaves, level by level, parents ascending, children ascending.
///
/// `path_of(leaf)` returns the full sibling path of a leaf; `proof_levels` is the tree depth
/// minus the cap height.
pub(crate) fn prune_binary_paths<E>(
    indices: &[usize],
    proof_levels: usize,
    mut path_of: impl FnMut(usize) -> Result<Vec<Digest>, E>,
) -> Result<PrunedMerklePaths<BabyBear, 8>, E> {
    let mut leaves: Vec<usize> = indices.to_vec();
    leaves.sort_unstable();
    leaves.dedup();
    // Each frontier node remembers the smallest queried leaf beneath it, whose path holds
    // that node's sibling at every level above.
    let mut lead_paths = Vec::with_capacity(leaves.len());
    for &leaf in &leaves {
        lead_paths.push(path_of(leaf)?);
    }
    let mut frontier: Vec<(usize, usize)> = leaves.iter().copied().zip(0..).collect();
    let mut sibling_hashes = Vec::new();
    (0..proof_levels).for_each(|level| {
        let mut parents = Vec::with_capacity(frontier.len());
        let mut i = 0;
        while i < frontier.len() {
            let (node, lead) = frontier[i];
            let parent = node / 2;
            let both_children_known = frontier
                .get(i + 1)
                .is_some_and(|&(next, _)| next / 2 == parent);
            if both_children_known {
                i += 2;
            } else {
                sibling_hashes.push(lead_paths[lead][level]);
                i += 1;
            }
            parents.push((parent, lead));
        }
        frontier = parents;
    });
    Ok(PrunedMerklePaths { sibling_hashes })
}
