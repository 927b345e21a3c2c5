"""Events (事件): the dispatch catalogue, the lifecycle state table, working-day time limits, routing and duplicates (pure rules; storage and services do the I/O)."""
