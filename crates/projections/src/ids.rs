//! Complaint id → slot, without a second copy of each id.
//!
//! Every event of the log looks its complaint's row up by id. A
//! `HashMap<String, u32>` keeps each id twice (once in the row, once as the
//! key: ~70 bytes a complaint with the allocation); this table keeps the
//! 4-byte slot and 32 bits of the id's hash, and compares through the row's
//! own id. Keeping the hash bits means growing the table never reads a row:
//! a rehash of a million entries that had to visit every row's id again
//! would miss the cache twice an entry.
//!
//! **Invariant:** every slot in the table is a row of the slab passed to
//! each call, and no two slots hold rows with the same id.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use crate::slab::Slab;

/// The slots of a slab of rows, found by their rows' ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    /// (slot, the id's 32-bit hash).
    table: HashTable<(u32, u32)>,
    hasher: RandomState,
}

/// The table's hash of an entry: its 32 bits spread over 64 by an odd
/// multiplier (a bijection), so both the bucket bits at the bottom and the
/// control bits at the top vary.
fn spread(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Ids {
    /// A table with room for `len` ids.
    pub(crate) fn with_capacity(len: usize) -> Ids {
        Ids {
            table: HashTable::with_capacity(len),
            hasher: RandomState::default(),
        }
    }

    fn hash32(&self, id: &str) -> u32 {
        (self.hasher.hash_one(id) >> 32) as u32
    }

    /// The slot of the row with this id.
    pub(crate) fn get(&self, id: &str, slots: &Slab) -> Option<u32> {
        let hash = self.hash32(id);
        self.table
            .find(spread(hash), |&(slot, other)| {
                other == hash && slots[slot as usize].id() == id
            })
            .map(|&(slot, _)| slot)
    }

    /// Enters `slot`, whose row (already in `slots`) has an id not yet
    /// entered.
    pub(crate) fn insert(&mut self, slot: u32, slots: &Slab) {
        let id = slots[slot as usize].id();
        debug_assert!(self.get(id, slots).is_none(), "{id} entered twice");
        let hash = self.hash32(id);
        self.table
            .insert_unique(spread(hash), (slot, hash), |&(_, other)| spread(other));
    }

    /// How many ids are entered.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}
