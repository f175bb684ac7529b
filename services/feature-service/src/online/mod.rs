//! Online stores: the latest feature values per entity, served in milliseconds.
