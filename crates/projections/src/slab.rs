//! The rows of a ledger view, addressed by slot, in blocks of
//! [`SLAB_BLOCK`] slots.
//!
//! One `Vec` of a million 400-byte rows would be one 400 MB allocation: it
//! grows by copying everything it holds, and a load that decodes rows on
//! several threads must copy each row into it. In blocks, growing copies at
//! most one block, and a load hands each decoded block over whole (a
//! pointer, not its rows).
//!
//! **Invariant:** every block but the last holds exactly [`SLAB_BLOCK`]
//! rows, so slot `s` is row `s % SLAB_BLOCK` of block `s / SLAB_BLOCK`.

use crate::row::LedgerRow;

/// Slots a block holds (smaller in unit tests, so they fill several).
pub(crate) const SLAB_BLOCK: usize = if cfg!(test) { 1_024 } else { 1 << 16 };

/// Rows by slot (see the module doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct Slab {
    blocks: Vec<Vec<LedgerRow>>,
    len: usize,
}

impl Slab {
    /// How many rows it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds the row of the next slot.
    pub(crate) fn push(&mut self, row: LedgerRow) {
        match self.blocks.last_mut() {
            Some(block) if block.len() < SLAB_BLOCK => block.push(row),
            _ => self.blocks.push(vec![row]),
        }
        self.len += 1;
    }

    /// Adds the rows of the next slots, taking `block` over whole when the
    /// slab ends at a block boundary and `block` is no longer than a block
    /// (as a load hands them over), else row by row.
    pub(crate) fn push_block(&mut self, block: Vec<LedgerRow>) {
        if self.len.is_multiple_of(SLAB_BLOCK) && block.len() <= SLAB_BLOCK {
            self.len += block.len();
            if !block.is_empty() {
                self.blocks.push(block);
            }
        } else {
            for row in block {
                self.push(row);
            }
        }
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&LedgerRow> {
        self.blocks.get(slot / SLAB_BLOCK)?.get(slot % SLAB_BLOCK)
    }

    /// The rows in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &LedgerRow> {
        self.blocks.iter().flatten()
    }
}

impl std::ops::Index<usize> for Slab {
    type Output = LedgerRow;

    fn index(&self, slot: usize) -> &LedgerRow {
        &self.blocks[slot / SLAB_BLOCK][slot % SLAB_BLOCK]
    }
}

impl std::ops::IndexMut<usize> for Slab {
    fn index_mut(&mut self, slot: usize) -> &mut LedgerRow {
        &mut self.blocks[slot / SLAB_BLOCK][slot % SLAB_BLOCK]
    }
}

impl<'a> IntoIterator for &'a Slab {
    type Item = &'a LedgerRow;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Vec<LedgerRow>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.blocks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::full_row_with_id;

    #[test]
    fn rows_keep_their_slots_however_they_arrive() {
        let rows: Vec<LedgerRow> = (0..SLAB_BLOCK * 3 + 5)
            .map(|i| full_row_with_id(&format!("RC-{i}")))
            .collect();
        let mut slab = Slab::default();
        // Whole blocks, a short one, then rows one by one, then a block
        // that no longer starts at a boundary.
        slab.push_block(rows[..SLAB_BLOCK].to_vec());
        slab.push_block(rows[SLAB_BLOCK..SLAB_BLOCK + 3].to_vec());
        for row in &rows[SLAB_BLOCK + 3..SLAB_BLOCK * 2 + 1] {
            slab.push(row.clone());
        }
        slab.push_block(rows[SLAB_BLOCK * 2 + 1..].to_vec());
        assert_eq!(slab.len(), rows.len());
        assert!(
            slab.blocks[..slab.blocks.len() - 1]
                .iter()
                .all(|block| block.len() == SLAB_BLOCK)
        );
        assert!(slab.iter().eq(rows.iter()));
        for (slot, row) in rows.iter().enumerate() {
            assert_eq!(&slab[slot], row);
            assert_eq!(slab.get(slot), Some(row));
        }
        assert_eq!(slab.get(rows.len()), None);
        slab[7].chase_count = 9;
        assert_eq!(slab[7].chase_count, 9);
    }
}
