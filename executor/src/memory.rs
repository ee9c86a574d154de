//! Guest memory: a sparse, paged, word-addressed store covering the guest's address range.
//!
//! Memory map (docs/guest-abi.md): addresses below [`RAM_START`] are a guard page and
//! addresses from [`RAM_END`] up are out of range, so every valid address is smaller than the
//! BabyBear modulus and fits in one field element. Everything not loaded from the ELF or
//! written by the guest reads as zero. Pages are allocated on first write.
//!
//! Each page remembers whether it changed since its hash was last taken, so the digest of the
//! whole memory at a segment boundary rehashes only what the segment wrote.

use sha2::{Digest, Sha256};

/// Lowest valid guest address.
pub const RAM_START: u32 = 0x0000_1000;
/// One past the highest valid guest address (0x7800_0000 < BabyBear's modulus 0x7800_0001).
pub const RAM_END: u32 = 0x7800_0000;
/// Bytes per page.
pub const PAGE_BYTES: u32 = 4096;
const PAGE_WORDS: usize = (PAGE_BYTES / 4) as usize;
const PAGE_COUNT: usize = (RAM_END / PAGE_BYTES) as usize;

struct Page {
    words: [u32; PAGE_WORDS],
    /// Written since `hash` was computed.
    dirty: bool,
    /// SHA-256 of the page's bytes, or `None` when the page is all zeros.
    hash: Option<[u8; 32]>,
}

/// The guest's memory.
pub struct Memory {
    pages: Vec<Option<Box<Page>>>,
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl Memory {
    /// Empty memory: every address reads zero.
    pub fn new() -> Self {
        let mut pages = Vec::new();
        pages.resize_with(PAGE_COUNT, || None);
        Memory { pages }
    }

    /// Whether `[addr, addr + len)` lies inside guest memory.
    #[inline(always)]
    pub fn in_range(addr: u32, len: u32) -> bool {
        addr >= RAM_START && (addr as u64 + len as u64) <= RAM_END as u64
    }

    /// Reads the aligned word at `addr` (word-aligned, in range: checked by the caller).
    #[inline(always)]
    pub fn load_word(&self, addr: u32) -> u32 {
        debug_assert!(addr.is_multiple_of(4) && Self::in_range(addr, 4));
        match &self.pages[(addr / PAGE_BYTES) as usize] {
            Some(page) => page.words[((addr % PAGE_BYTES) / 4) as usize],
            None => 0,
        }
    }

    /// Writes the aligned word at `addr` (word-aligned, in range: checked by the caller).
    #[inline(always)]
    pub fn store_word(&mut self, addr: u32, value: u32) {
        debug_assert!(addr.is_multiple_of(4) && Self::in_range(addr, 4));
        let page = self.pages[(addr / PAGE_BYTES) as usize].get_or_insert_with(|| {
            Box::new(Page {
                words: [0; PAGE_WORDS],
                dirty: true,
                hash: None,
            })
        });
        page.words[((addr % PAGE_BYTES) / 4) as usize] = value;
        page.dirty = true;
    }

    /// Writes bytes starting at any in-range address (for loading segments and input).
    pub fn store_bytes(&mut self, addr: u32, bytes: &[u8]) {
        for (i, &byte) in bytes.iter().enumerate() {
            let a = addr + i as u32;
            let word_addr = a & !3;
            let shift = (a & 3) * 8;
            let old = self.load_word(word_addr);
            self.store_word(
                word_addr,
                (old & !(0xff << shift)) | (u32::from(byte) << shift),
            );
        }
    }

    /// Reads bytes starting at any in-range address.
    pub fn load_bytes(&self, addr: u32, len: u32) -> Vec<u8> {
        (0..len)
            .map(|i| {
                let a = addr + i;
                (self.load_word(a & !3) >> ((a & 3) * 8)) as u8
            })
            .collect()
    }

    /// SHA-256 commitment to the whole memory contents: the hash, over every page that is not
    /// all zeros in ascending order, of the page number (u32 LE) and the page's own SHA-256.
    /// Depends only on the contents, not on which pages happen to be allocated.
    pub fn digest(&mut self) -> [u8; 32] {
        let mut outer = Sha256::new();
        for (number, slot) in self.pages.iter_mut().enumerate() {
            let Some(page) = slot else { continue };
            if page.dirty {
                page.hash = if page.words.iter().all(|&w| w == 0) {
                    None
                } else {
                    let mut inner = Sha256::new();
                    for word in &page.words {
                        inner.update(word.to_le_bytes());
                    }
                    Some(inner.finalize().into())
                };
                page.dirty = false;
            }
            if let Some(hash) = page.hash {
                outer.update((number as u32).to_le_bytes());
                outer.update(hash);
            }
        }
        outer.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_memory_reads_zero_and_bytes_round_trip() {
        let mut mem = Memory::new();
        assert_eq!(mem.load_word(0x1000), 0);
        assert_eq!(mem.load_word(RAM_END - 4), 0);
        mem.store_bytes(0x2001, b"abcdef");
        assert_eq!(mem.load_bytes(0x2001, 6), b"abcdef");
        assert_eq!(
            mem.load_word(0x2000),
            u32::from_le_bytes([0, b'a', b'b', b'c'])
        );
    }

    #[test]
    fn range_checks_cover_both_ends() {
        assert!(!Memory::in_range(0, 4));
        assert!(!Memory::in_range(RAM_START - 4, 4));
        assert!(Memory::in_range(RAM_START, 4));
        assert!(Memory::in_range(RAM_END - 4, 4));
        assert!(!Memory::in_range(RAM_END - 2, 4));
        assert!(!Memory::in_range(u32::MAX, 4));
        assert!(!Memory::in_range(RAM_START, u32::MAX));
    }

    #[test]
    fn digest_depends_on_contents_only() {
        let mut a = Memory::new();
        let mut b = Memory::new();
        let empty = a.digest();
        b.store_word(0x5000, 7);
        assert_ne!(b.digest(), empty);
        b.store_word(0x5000, 0);
        assert_eq!(
            b.digest(),
            empty,
            "a page written back to zeros commits like an absent one"
        );
        a.store_word(0x9004, 1);
        b.store_word(0x9004, 1);
        assert_eq!(a.digest(), b.digest());
        b.store_word(0x9008, 1);
        assert_ne!(a.digest(), b.digest());
    }
}
