//! Roots of ordered tries (a block's transactions and receipts) computed as items arrive.

use alloc::vec::Vec;

use alloy_primitives::B256;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles};

/// The root of the trie that maps each item's RLP-encoded index to its encoding — a block's
/// transactions root or receipts root — built one item at a time: each item's leaf goes into
/// the hash builder as soon as its key's turn comes, so most of the hashing is done by the
/// time the last item arrives. The root equals alloy's `ordered_trie_root_with_encoder` over
/// the same items.
///
/// The keys sort as 1..=127 (one byte 0x01..0x7f), then 0 (0x80, the RLP of zero), then 128
/// onwards (0x81.., 0x82.., each length in index order), so item 0 waits until item 128
/// arrives or the root is asked for.
#[derive(Debug, Default)]
pub(crate) struct OrderedRoot {
    builder: HashBuilder,
    first: Option<Vec<u8>>,
    count: usize,
    value: Vec<u8>,
}

impl OrderedRoot {
    /// Adds the next item, which `encode` writes into the buffer it is given.
    pub(crate) fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let index = self.count;
        self.count += 1;
        if index == 0 {
            let mut first = Vec::new();
            encode(&mut first);
            self.first = Some(first);
            return;
        }
        if index == 0x80 {
            self.add_first();
        }
        self.value.clear();
        encode(&mut self.value);
        self.builder.add_leaf(key(index), &self.value);
    }

    /// The root over every item pushed ([`EMPTY_ROOT_HASH`] for none).
    pub(crate) fn root(mut self) -> B256 {
        if self.count == 0 {
            return EMPTY_ROOT_HASH;
        }
        self.add_first();
        self.builder.root()
    }

    fn add_first(&mut self) {
        if let Some(first) = self.first.take() {
            self.builder.add_leaf(key(0), &first);
        }
    }
}

/// The trie key of item `index`: the nibbles of its RLP encoding.
fn key(index: usize) -> Nibbles {
    Nibbles::unpack(alloy_rlp::encode_fixed_size(&index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::root::ordered_trie_root_with_encoder;

    #[test]
    fn equals_alloys_ordered_root_at_every_count_around_the_key_boundaries() {
        // Items of varied lengths (short ones are stored inline in their parent node).
        let items: Vec<Vec<u8>> = (0..300u32)
            .map(|i| {
                let len = 1 + (i.wrapping_mul(2_654_435_761) % 90) as usize;
                (0..len)
                    .map(|j| (i as usize * 31 + j * 7) as u8 | 1)
                    .collect()
            })
            .collect();
        for count in [
            0, 1, 2, 3, 16, 17, 126, 127, 128, 129, 130, 255, 256, 257, 300,
        ] {
            let mut streamed = OrderedRoot::default();
            for item in &items[..count] {
                streamed.push(|buf| buf.extend_from_slice(item));
            }
            let expected = ordered_trie_root_with_encoder(&items[..count], |item, buf| {
                buf.extend_from_slice(item)
            });
            assert_eq!(streamed.root(), expected, "{count} items");
        }
    }
}
