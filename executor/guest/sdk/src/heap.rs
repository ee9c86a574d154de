//! The global allocator: a bump allocator over `[__zkbox_heap_start, __zkbox_heap_end)`,
//! which the linker script sets to `[_end, 0x7000_0000)`.
//!
//! Guests are short-lived and single-threaded, so memory is never reused except that freeing
//! or growing the most recent allocation works in place (which makes a growing `Vec` cheap).
//! Memory the allocator has never handed out is still zero (the machine starts with all
//! memory zero), so `alloc_zeroed` clears only memory that was handed out and given back.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr;

unsafe extern "C" {
    /// First byte of the heap (the linker script's `_end`).
    static __zkbox_heap_start: u8;
    /// One past the last byte of the heap (`0x7000_0000`).
    static __zkbox_heap_end: u8;
}

/// A bump allocator for a single-threaded guest; the SDK installs one as the global allocator.
///
/// Out of memory: `alloc` returns null, which `alloc`'s default error handler turns into a
/// panic ("memory allocation of N bytes failed"), so the guest exits with code 101.
pub struct BumpAllocator {
    /// Next free address; 0 until the first allocation.
    next: Cell<usize>,
    /// Highest address ever handed out: memory at or above it is still zero.
    high: Cell<usize>,
}

// SAFETY: guests are single-threaded (the target has no threads), so the cells are never
// accessed concurrently.
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    /// An allocator that has handed out nothing yet.
    pub const fn new() -> Self {
        Self {
            next: Cell::new(0),
            high: Cell::new(0),
        }
    }

    fn bounds() -> (usize, usize) {
        (
            ptr::addr_of!(__zkbox_heap_start) as usize,
            ptr::addr_of!(__zkbox_heap_end) as usize,
        )
    }

    /// Bytes handed out so far (including those given back), for diagnostics.
    pub fn used(&self) -> usize {
        let (start, _) = Self::bounds();
        self.high.get().saturating_sub(start)
    }

    /// Reserves `layout`; returns the address, or `None` when the heap is exhausted.
    fn bump(&self, layout: Layout) -> Option<usize> {
        let (start, end) = Self::bounds();
        let next = match self.next.get() {
            0 => start,
            next => next,
        };
        let addr = next.checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let new_next = addr.checked_add(layout.size())?;
        if new_next > end {
            return None;
        }
        self.next.set(new_next);
        if new_next > self.high.get() {
            self.high.set(new_next);
        }
        Some(addr)
    }
}

impl Default for BumpAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `bump` returns disjoint, suitably aligned blocks inside the heap; blocks are reused
// only after they are deallocated (the most recent one) or grown in place when nothing follows.
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(addr) => addr as *mut u8,
            None => ptr::null_mut(),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let high = self.high.get();
        let Some(addr) = self.bump(layout) else {
            return ptr::null_mut();
        };
        // Only the part below the old high-water mark can hold old data.
        if addr < high {
            let dirty = (high - addr).min(layout.size());
            // SAFETY: `[addr, addr + size)` was just reserved for this allocation.
            unsafe { ptr::write_bytes(addr as *mut u8, 0, dirty) };
        }
        addr as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Give back the most recent allocation; everything else is leaked.
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let addr = ptr as usize;
        let (_, end) = Self::bounds();
        // The most recent allocation grows or shrinks in place.
        if addr + layout.size() == self.next.get() {
            if let Some(new_next) = addr.checked_add(new_size).filter(|&n| n <= end) {
                self.next.set(new_next);
                if new_next > self.high.get() {
                    self.high.set(new_next);
                }
                return ptr;
            }
            return ptr::null_mut();
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `layout`'s alignment is valid and `new_size` is non-zero and does not
        // overflow when rounded (the caller's contract for `realloc`).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarded from the caller.
        let new_ptr = unsafe { self.alloc(new_layout) };
        if !new_ptr.is_null() {
            // SAFETY: both blocks are live, distinct, and at least `layout.size()` long.
            unsafe { ptr::copy_nonoverlapping(ptr, new_ptr, layout.size()) };
        }
        new_ptr
    }
}

#[cfg(target_arch = "riscv32")]
#[global_allocator]
static HEAP: BumpAllocator = BumpAllocator::new();
