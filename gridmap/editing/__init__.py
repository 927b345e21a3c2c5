"""Plan edits as data: move, split, merge, rebalance, lock/unlock, undo/redo, their inverses, incremental re-validation and diffs (pure rules; storage and services do the I/O)."""
