//! What the edge itself adds to a head or takes from it: fields whose
//! values it wrote (no check of every byte), and sets of interned names
//! dropped or looked for in one pass.

use super::{Fields, Line, Name, is_value_byte};
use crate::head::names::{Known, KnownSet};

impl Fields {
    /// Adds a field the edge wrote itself, with a value it knows to be
    /// valid (digits, a token, a hex id, an address, a value it read from
    /// a parsed head): without [`Fields::append`]'s check of every byte.
    pub(crate) fn append_own(&mut self, name: Known, value: &[u8]) {
        debug_assert!(value.iter().all(|b| is_value_byte(*b)), "{value:?}");
        if self.added.len() + value.len() > u32::MAX as usize {
            return;
        }
        let value = self.add(value);
        self.push(Line {
            name: Name::Known(name as u8),
            value,
        });
    }

    /// Sets `name` to `value` alone, a value the edge knows to be valid
    /// (see [`Fields::append_own`]).
    pub(crate) fn insert_own(&mut self, name: Known, value: &[u8]) {
        self.remove(name);
        self.append_own(name, value);
    }

    /// Whether a field of one of `names` is present.
    pub(crate) fn has_any(&self, names: KnownSet) -> bool {
        self.known & names.0 != 0
    }

    /// Removes every field of `names`, in one pass (none when absent).
    pub(crate) fn remove_all(&mut self, names: KnownSet) {
        if !self.has_any(names) {
            return;
        }
        self.lines
            .retain(|line| !matches!(line.name, Name::Known(i) if names.has_index(i)));
        self.known &= !names.0;
    }
}
