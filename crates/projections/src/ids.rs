//! Complaint id → slot, without a second copy of each id.
//!
//! Every event of the log looks its complaint's row up by id. A
//! `HashMap<String, u32>` keeps each id twice (once in the row, once as the
//! key: ~70 bytes a complaint with the allocation); this table keeps only
//! the 4-byte slot and hashes and compares through the row's own id.
//!
//! **Invariant:** every slot in the table is a row of the slab passed to
//! each call, and no two slots hold rows with the same id.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use crate::row::LedgerRow;

/// The slots of a slab of rows, found by their rows' ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl Ids {
    /// The slot of the row with this id.
    pub(crate) fn get(&self, id: &str, slots: &[LedgerRow]) -> Option<u32> {
        self.table
            .find(self.hasher.hash_one(id), |&slot| {
                slots[slot as usize].id() == id
            })
            .copied()
    }

    /// Enters `slot`, whose row (already in `slots`) has an id not yet
    /// entered.
    pub(crate) fn insert(&mut self, slot: u32, slots: &[LedgerRow]) {
        let id = slots[slot as usize].id();
        debug_assert!(self.get(id, slots).is_none(), "{id} entered twice");
        let hasher = &self.hasher;
        self.table
            .insert_unique(hasher.hash_one(id), slot, |&other| {
                hasher.hash_one(slots[other as usize].id())
            });
    }

    /// How many ids are entered.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}
