"""The foundation: errors, numeric primitives, what typed specs share, keyed random numbers,
the batch-invariant forward, observation / reward normalizers."""
